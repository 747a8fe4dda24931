#pragma once
// The exporter's own process figures, as every Prometheus client library exports them
// (process_cpu_seconds_total, process_resident_memory_bytes, ...), plus malloc's view of the
// heap, and the return of free heap memory that malloc keeps (issue 7: RSS stays flat).
//
// Why the return is needed: main() tells glibc never to trim below 512 MiB, so that a poll does
// not fault in again, page by page, the memory the previous poll freed (13-15 us per page here;
// docs/performance.md). Over hours of pod churn the free memory malloc keeps creeps up (a soak:
// +25 MiB/h with a flat live heap). ReturnRetainedHeap() gives it back, but only when the
// retained memory has grown past what a poll reuses, and at most once a minute.

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
  // malloc (glibc mallinfo2): bytes handed out, and bytes free inside malloc's arenas (some of
  // them already returned to the kernel).
  double heap_in_use_bytes = 0;
  double heap_free_bytes = 0;
  // ReturnRetainedHeap(): how often it trimmed, and the resident bytes that gave back.
  uint64_t heap_trims_total = 0;
  double heap_released_bytes_total = 0;
};

// Reads /proc/self and malloc's statistics; fields it cannot read stay 0.
ProcessStats ReadProcessStats();

// Called by the poll loop after each poll, once the previous snapshot is released. Measures the
// resident memory above the live heap ("retained"; negative while allocated capacity is not yet
// touched). The largest retained value over a window after start (and after each trim) is the
// baseline: what polls reuse, churn and fault steps included. When retained exceeds the
// baseline by more than max(8 MiB, live heap / 16), and the last trim is at least `min_gap`
// old, it calls malloc_trim(0) and measures a new baseline. A baseline taken right after a trim
// would be too low: the next polls fault the memory they reuse in again, and trimming that
// every minute costs a refault of tens of MB each time (13-15 us a page here).
// Not thread-safe: one caller (the poll loop).
class HeapTrimmer {
 public:
  struct Options {
    uint64_t min_slack_bytes = 8ull << 20;
    std::chrono::steady_clock::duration baseline_window = std::chrono::minutes(5);
    std::chrono::steady_clock::duration min_gap = std::chrono::minutes(1);
  };
  HeapTrimmer() = default;
  explicit HeapTrimmer(Options options) : options_(options) {}

  // Returns true when it trimmed.
  bool AfterPoll();

 private:
  Options options_;
  bool have_baseline_ = false;
  int64_t baseline_retained_ = 0;
  bool window_open_ = false;
  std::chrono::steady_clock::time_point window_start_{};
  int64_t window_max_ = 0;
  std::chrono::steady_clock::time_point last_trim_{};
};

}  // namespace kmb
