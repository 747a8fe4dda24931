#pragma once
// Names the calling thread as `top -H`, `ps -L`, `perf --sort comm` and /proc/<pid>/task/*/comm
// show it, so that an SRE can tell the poll thread from the Summary workers and the watches
// (docs/troubleshooting.md, "Which thread uses the CPU").

#include <string>
#include <string_view>

namespace kmb {

// Linux keeps 15 bytes of a thread's name: longer names are cut there. Never fails loudly (a
// thread without a name works the same).
void SetThreadName(std::string_view name);
std::string ThreadName();  // the calling thread's name

}  // namespace kmb
