#pragma once
// The exporter's own process figures, as every Prometheus client library exports them
// (process_cpu_seconds_total, process_resident_memory_bytes, ...), plus malloc's view of the
// heap, and the return of free heap memory that malloc keeps (issue 7: RSS stays flat).
//
// Why the return is needed: glibc's malloc is told never to trim below 512 MiB (main()), so
// that a poll does not fault in again, page by page, the memory the previous poll freed (13-15 us
// per page here; docs/performance.md); tcmalloc gives free pages back slowly on its own. Either
// way HeapTrimmer gives the free memory back once per period.

#include <chrono>
#include <cstdint>

namespace kmb {

struct ProcessStats {
  double cpu_seconds = 0;         // user + system
  double resident_bytes = 0;
  double virtual_bytes = 0;
  double start_time_seconds = 0;  // Unix time
  double open_fds = 0;
  double max_fds = 0;
  // malloc's heap: bytes handed out, and bytes kept for reuse (glibc: free bytes in its arenas,
  // some of them already returned to the kernel; tcmalloc: its heap's pages not given back,
  // beyond the bytes handed out).
  double heap_in_use_bytes = 0;
  double heap_free_bytes = 0;
  // HeapTrimmer: how often it gave memory back, and the resident bytes that gave back.
  uint64_t heap_trims_total = 0;
  double heap_released_bytes_total = 0;
};

// Reads /proc/self and malloc's statistics; fields it cannot read stay 0.
ProcessStats ReadProcessStats();

// The malloc the process runs on: "tcmalloc" (gperftools; the exporter links it, see
// docs/architecture.md) or "glibc" (tests, sanitizer builds, a build with -DKMB_TCMALLOC=OFF).
// The heap figures and the trimmer below use its own statistics and its own way of giving
// memory back.
const char* HeapAllocator();

// Gives the free memory malloc keeps back to the kernel now (HeapTrimmer does, once a period).
void ReturnFreeHeap();

// At start: on tcmalloc, every run of pages freed is returned to the kernel at once
// ("aggressive decommit") instead of kept until a release. The exporter's large buffers are
// pooled and stay; what is freed is the garbage of a poll's transient peak, which tcmalloc
// otherwise keeps resident: side by side at 1,000 nodes, RSS 601 -> 547 and 598 -> 547 MB, its
// peak 698 -> 551 MB, CPU unchanged (docs/performance.md, "Changes", 2026-12-01).
// TCMALLOC_AGGRESSIVE_DECOMMIT in the environment (t or f) wins over `on`. Returns whether it
// is on; false on glibc's malloc, which returns memory on its own terms (M_TRIM_THRESHOLD) and
// HeapTrimmer's malloc_trim.
bool ReturnFreedPagesAtOnce(bool on = true);

// Called by the poll loop after each poll, once the previous snapshot is released. Once at the
// settle poll, then once per `period`, it returns to the kernel the free memory malloc kept
// since the last return, when that grew by more than `min_growth_bytes`: "retained" = the free
// pages of tcmalloc's page heap (what a return gives back), or with glibc resident memory minus
// malloc's in-use bytes, measured right after each return (the floor) and compared with it.
//
// Why periodic: malloc's resident memory follows the running maximum of the heap's peaks (two
// snapshots alive, a relist beside the old pod map, a restart's churn), and the running maximum
// of such peaks keeps creeping up over hours (a soak: +25 MiB/h with a flat live heap). The
// maximum over a fixed period does not: with a return every period, RSS is a sawtooth whose top
// stays put. What a return costs is faulting the reused memory in again once per period (13-15 us
// a page here: ~0.15 s per 10 minutes at 20 nodes), not every poll.
// On tcmalloc the exporter also returns freed pages at once (ReturnFreedPagesAtOnce), and the
// trimmer then finds little to return (side by side at 1,000 nodes: nothing in 10 polls); it
// stays for glibc's malloc (a -DKMB_TCMALLOC=OFF build) and for TCMALLOC_AGGRESSIVE_DECOMMIT=f.
// Not thread-safe: one caller (the poll loop).
class HeapTrimmer {
 public:
  struct Options {
    uint64_t min_growth_bytes = 8ull << 20;
    std::chrono::steady_clock::duration period = std::chrono::minutes(10);
    // Also once at this poll (0: never), whatever the period: by then the pooled buffers have
    // grown to their sizes, and what malloc kept of their growth (a buffer that doubles
    // leaves its old block free: at 1,000 nodes, tens of MB) goes back to the kernel a minute
    // after the start instead of ten. This return measures the growth from nothing, not from
    // the floor of the first poll, which already holds the first poll's garbage (the watch
    // cache's first list, the first decodes: ~100 MB at 1,000 nodes).
    int settle_poll = 4;
  };
  HeapTrimmer() = default;
  explicit HeapTrimmer(Options options) : options_(options) {}

  // Returns true when it returned memory. Once a period is over it measures the heap, and when
  // the growth is still too small, again a tenth of a period later.
  bool AfterPoll();

 private:
  Options options_;
  bool started_ = false;
  int polls_ = 0;
  int64_t floor_retained_ = 0;
  std::chrono::steady_clock::time_point last_trim_{};
  std::chrono::steady_clock::time_point next_check_{};  // after a look that found too little
};

}  // namespace kmb
