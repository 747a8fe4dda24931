#include "kmb/util/process_stats.h"

#include <dirent.h>
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "kmb/util/log.h"

// gperftools' tcmalloc, when the process runs on it (the exporter links it; tests and sanitizer
// builds run on glibc's malloc): its statistics and its release of free pages. Declared weak
// here, so that a binary without tcmalloc sees null pointers.
extern "C" int MallocExtension_GetNumericProperty(const char* property, size_t* value)
    __attribute__((weak));
extern "C" void MallocExtension_ReleaseFreeMemory() __attribute__((weak));
extern "C" int MallocExtension_SetNumericProperty(const char* property, size_t value)
    __attribute__((weak));

namespace kmb {
namespace {

// Process-wide, like malloc itself.
std::atomic<uint64_t> g_trims{0};
std::atomic<uint64_t> g_released{0};

uint64_t ResidentBytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long long size = 0, resident = 0;
  int n = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

// malloc's own figures, from whichever malloc the process runs on.
struct HeapFigures {
  uint64_t in_use = 0;  // handed out
  uint64_t free = 0;    // kept for reuse (glibc: part of it may already be returned)
};

bool Tcmalloc() { return MallocExtension_GetNumericProperty != nullptr; }

uint64_t TcmallocProperty(const char* name) {
  size_t value = 0;
  return MallocExtension_GetNumericProperty(name, &value) ? value : 0;
}

HeapFigures ReadHeap() {
  if (Tcmalloc()) {
    const uint64_t allocated = TcmallocProperty("generic.current_allocated_bytes");
    // The heap's pages, less those already given back: what tcmalloc holds resident.
    const uint64_t heap = TcmallocProperty("generic.heap_size");
    const uint64_t unmapped = TcmallocProperty("tcmalloc.pageheap_unmapped_bytes");
    const uint64_t held = heap > unmapped ? heap - unmapped : 0;
    return {allocated, held > allocated ? held - allocated : 0};
  }
  struct mallinfo2 mi = mallinfo2();
  return {mi.uordblks + mi.hblkhd, mi.fordblks};
}

// The free memory malloc keeps resident: what a return would give back, give or take.
// glibc: resident memory above malloc's in-use bytes (negative while allocated capacity is
// untouched; only its growth counts). tcmalloc: the free, mapped pages of its page heap, which
// is what MallocExtension_ReleaseFreeMemory returns. Resident minus in-use does not measure
// that with tcmalloc: its in-use bytes count the untouched capacity of large buffers (the gzip
// bodies' spare room, the simdjson tape sized for the worst case), hundreds of MB at 1,000
// nodes that hid 250 MB of free pages, so that no return ever happened.
struct HeapMeasure {
  uint64_t resident = 0;
  uint64_t in_use = 0;
  int64_t retained = 0;
};
HeapMeasure MeasureHeap() {
  const uint64_t resident = ResidentBytes();
  const uint64_t in_use = ReadHeap().in_use;
  if (Tcmalloc()) {
    const uint64_t free_pages = TcmallocProperty("tcmalloc.pageheap_free_bytes");
    return {resident, in_use, static_cast<int64_t>(free_pages)};
  }
  return {resident, in_use, static_cast<int64_t>(resident) - static_cast<int64_t>(in_use)};
}

// Unix time the system booted (`btime` of /proc/stat, whole seconds, as Prometheus' client
// libraries read it): the base of /proc/self/stat's starttime.
double BootTimeUnix() {
  static const double btime = [] {
    double t = 0;
    if (std::FILE* f = std::fopen("/proc/stat", "r")) {
      char line[256];
      while (std::fgets(line, sizeof line, f)) {
        unsigned long long v = 0;
        if (std::sscanf(line, "btime %llu", &v) == 1) {
          t = static_cast<double>(v);
          break;
        }
      }
      std::fclose(f);
    }
    return t;
  }();
  return btime;
}

}  // namespace

void ReturnFreeHeap() {
  if (Tcmalloc()) {
    MallocExtension_ReleaseFreeMemory();
  } else {
    malloc_trim(0);
  }
}

const char* HeapAllocator() { return Tcmalloc() ? "tcmalloc" : "glibc"; }

bool ReturnFreedPagesAtOnce(bool on) {
  if (!Tcmalloc() || MallocExtension_SetNumericProperty == nullptr) return false;
  constexpr const char* kProperty = "tcmalloc.aggressive_memory_decommit";
  if (std::getenv("TCMALLOC_AGGRESSIVE_DECOMMIT") == nullptr) {
    MallocExtension_SetNumericProperty(kProperty, on ? 1 : 0);
  }
  return TcmallocProperty(kProperty) != 0;
}

ProcessStats ReadProcessStats() {
  ProcessStats s;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  if (std::FILE* f = std::fopen("/proc/self/stat", "r")) {
    char buf[1024];
    size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[n] = '\0';
    // The command name (field 2) may hold spaces and ')': parse after its last ')'.
    if (const char* p = std::strrchr(buf, ')')) {
      unsigned long long utime = 0, stime = 0, starttime = 0, vsize = 0;
      // Fields 3.. : state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
      // utime stime cutime cstime priority nice threads itrealvalue starttime vsize.
      if (std::sscanf(p + 2,
                      "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
                      "%*d %*d %llu %llu",
                      &utime, &stime, &starttime, &vsize) == 4 &&
          ticks > 0) {
        s.cpu_seconds = static_cast<double>(utime + stime) / ticks;
        s.start_time_seconds = BootTimeUnix() + static_cast<double>(starttime) / ticks;
        s.virtual_bytes = static_cast<double>(vsize);
      }
    }
  }
  if (DIR* d = opendir("/proc/self/fd")) {
    int count = 0;
    while (const dirent* e = readdir(d)) count += e->d_name[0] != '.';
    closedir(d);
    s.open_fds = std::max(0, count - 1);  // not the descriptor of this listing
  }
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY) {
    s.max_fds = static_cast<double>(lim.rlim_cur);
  }
  s.resident_bytes = static_cast<double>(ResidentBytes());
  const HeapFigures heap = ReadHeap();
  s.heap_in_use_bytes = static_cast<double>(heap.in_use);
  s.heap_free_bytes = static_cast<double>(heap.free);
  s.heap_trims_total = g_trims.load(std::memory_order_relaxed);
  s.heap_released_bytes_total = static_cast<double>(g_released.load(std::memory_order_relaxed));
  return s;
}

bool HeapTrimmer::AfterPoll() {
  const auto now = std::chrono::steady_clock::now();
  const bool settle = ++polls_ == options_.settle_poll;
  if (!started_) {
    started_ = true;
    floor_retained_ = MeasureHeap().retained;
    last_trim_ = now;
    return false;
  }
  if (!settle && (now - last_trim_ < options_.period || now < next_check_)) return false;
  const HeapMeasure before = MeasureHeap();
  const int64_t floor = settle ? 0 : floor_retained_;
  if (before.retained - floor <= static_cast<int64_t>(options_.min_growth_bytes)) {
    // glibc's mallinfo2 walks every free bin (1.4% of the CPU at 1,000 nodes when it ran every
    // poll): once the period is over, look again a tenth of a period later, not at the next poll.
    next_check_ = now + options_.period / 10;
    return false;
  }
  ReturnFreeHeap();
  const HeapMeasure after = MeasureHeap();
  const uint64_t released = before.resident > after.resident ? before.resident - after.resident : 0;
  g_trims.fetch_add(1, std::memory_order_relaxed);
  g_released.fetch_add(released, std::memory_order_relaxed);
  log::Debug("returned free heap memory to the kernel",
             {{"resident_before_bytes", std::to_string(before.resident)},
              {"resident_after_bytes", std::to_string(after.resident)},
              {"heap_in_use_bytes", std::to_string(before.in_use)},
              {"floor_retained_bytes", std::to_string(floor_retained_)}});
  floor_retained_ = after.retained;
  last_trim_ = now;
  return true;
}

}  // namespace kmb
