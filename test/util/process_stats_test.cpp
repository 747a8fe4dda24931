// The exporter's own process figures (process_* metrics) and the return of the free heap
// memory malloc retains (issue 7: RSS stays flat over a long soak).

#include "kmb/util/process_stats.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <ctime>
#include <vector>

#include "kmb/util/sanitizers.h"

namespace kmb {
namespace {

TEST(ProcessStats, ReadsThisProcess) {
  ProcessStats before = ReadProcessStats();
  const double now = static_cast<double>(std::time(nullptr));
  EXPECT_GT(before.start_time_seconds, now - 3600) << "the test started within the hour";
  EXPECT_LE(before.start_time_seconds, now + 1);
  EXPECT_GT(before.resident_bytes, 1 << 20);
  EXPECT_GE(before.virtual_bytes, before.resident_bytes);
  EXPECT_GT(before.max_fds, 0);

  // CPU time moves with work; the descriptor count with an open file.
  volatile uint64_t sink = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(60);
  while (std::chrono::steady_clock::now() < until) sink = sink + 1;
  int fd = open("/proc/self/stat", O_RDONLY);
  ASSERT_GE(fd, 0);
  ProcessStats after = ReadProcessStats();
  close(fd);
  EXPECT_GT(after.cpu_seconds, before.cpu_seconds);
  EXPECT_EQ(after.open_fds, before.open_fds + 1);
  EXPECT_EQ(after.start_time_seconds, before.start_time_seconds);
}

#ifndef KMB_TEST_TCMALLOC
#define KMB_TEST_TCMALLOC 0
#endif

#if KMB_ASAN
// AddressSanitizer replaces malloc: glibc's statistics and trim do not see its heap.
TEST(HeapTrimmer, NeedsGlibcMalloc) { GTEST_SKIP() << "glibc malloc is replaced by ASan"; }
#else

// This binary runs on the malloc it was linked with (kmb_util_tcmalloc_test: tcmalloc, as the
// exporter), and the heap figures are that malloc's: 40 MiB allocated show as 40 MiB in use.
TEST(Heap, FiguresComeFromTheMallocInUse) {
  EXPECT_STREQ(HeapAllocator(), KMB_TEST_TCMALLOC ? "tcmalloc" : "glibc");
  const double before = ReadProcessStats().heap_in_use_bytes;
  std::vector<void*> blocks;
  for (int i = 0; i < 40; ++i) {
    blocks.push_back(std::malloc(1 << 20));
    std::memset(blocks.back(), 0x5a, 1 << 20);
  }
  const ProcessStats with = ReadProcessStats();
  EXPECT_GT(with.heap_in_use_bytes, before + (38 << 20));
  for (void* p : blocks) std::free(p);
  EXPECT_LT(ReadProcessStats().heap_in_use_bytes, with.heap_in_use_bytes - (38 << 20));
}

#if KMB_TEST_TCMALLOC
// As the exporter sets it at start: pages tcmalloc frees go back to the kernel at once, so that
// a poll's transient garbage does not stay resident until the next return.
TEST(Heap, FreedPagesGoBackAtOnce) {
  ASSERT_TRUE(ReturnFreedPagesAtOnce());
  std::vector<void*> blocks;
  for (int i = 0; i < 40; ++i) {
    blocks.push_back(std::malloc(1 << 20));  // past tcmalloc's size classes: its page heap
    std::memset(blocks.back(), 0x5a, 1 << 20);
  }
  const double rss = ReadProcessStats().resident_bytes;
  for (void* p : blocks) std::free(p);
  const ProcessStats after = ReadProcessStats();
  ReturnFreedPagesAtOnce(false);  // as the other tests expect tcmalloc
  EXPECT_LT(after.heap_free_bytes, 4 << 20);
  EXPECT_LT(after.resident_bytes, rss - (32 << 20));
}

#else
TEST(Heap, FreedPagesGoBackAtOnceOnlyOnTcmalloc) { EXPECT_FALSE(ReturnFreedPagesAtOnce()); }
#endif

// Frees `bytes` of touched memory in the middle of the heap: small live chunks between the
// freed ones keep them from merging into the top, so malloc keeps them resident.
// Keeps an allocation observable, so that the compiler does not elide it.
void* volatile benchmark_sink = nullptr;

struct Fragments {
  std::vector<void*> kept;
  std::vector<void*> to_free;
  void Make(size_t bytes) {
    Allocate(bytes);
    Free();
  }
  // Make in two steps: the slow one (touching the memory) first.
  void Allocate(size_t bytes) {
    constexpr size_t kChunk = 48 << 10;  // below the mmap threshold: from the heap
    for (size_t done = 0; done < bytes; done += kChunk) {
      void* p = std::malloc(kChunk);
      std::memset(p, 0x5a, kChunk);
      to_free.push_back(p);
      kept.push_back(std::malloc(64));
    }
  }
  void Free() {
    for (void* p : to_free) std::free(p);
    to_free.clear();
  }
  ~Fragments() {
    for (void* p : kept) std::free(p);
  }
};

// Each trimmer test starts from a heap that keeps nothing free (earlier tests freed memory), with
// glibc told as main() tells it that malloc never trims by itself (tcmalloc ignores mallopt).
class HeapTrimmerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ReturnFreeHeap();
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
  }
  void TearDown() override { mallopt(M_TRIM_THRESHOLD, 128 << 10); }
};

TEST_F(HeapTrimmerTest, ReturnsWhatMallocKeptPastTheFloor) {
  HeapTrimmer trimmer(
      {.min_growth_bytes = 16 << 20, .period = std::chrono::seconds(0), .settle_poll = 0});
  Fragments small, large;

  EXPECT_FALSE(trimmer.AfterPoll()) << "the first call measures the floor";
  small.Make(4 << 20);  // less than min_growth_bytes: kept
  EXPECT_FALSE(trimmer.AfterPoll());

  const ProcessStats before = ReadProcessStats();
  large.Make(40 << 20);
  const double rss_with_garbage = ReadProcessStats().resident_bytes;
  EXPECT_GT(rss_with_garbage, before.resident_bytes + (32 << 20));
  EXPECT_TRUE(trimmer.AfterPoll()) << "40 MiB kept past the floor";
  const ProcessStats after = ReadProcessStats();
  EXPECT_EQ(after.heap_trims_total, before.heap_trims_total + 1);
  EXPECT_GT(after.heap_released_bytes_total, before.heap_released_bytes_total + (32 << 20));
  EXPECT_LT(after.resident_bytes, rss_with_garbage - (32 << 20));

  EXPECT_FALSE(trimmer.AfterPoll()) << "the floor is measured again after a return";
}

// The periods below are long beside the work done within them (making 24 MiB of garbage takes
// up to ~0.3 s on a loaded CI machine, at 13-15 us a page fault): with a 300 ms period a slow
// Make let the period pass before the check that a return is held back within it.
TEST_F(HeapTrimmerTest, ReturnsAtMostOncePerPeriod) {
  HeapTrimmer trimmer(
      {.min_growth_bytes = 8 << 20, .period = std::chrono::milliseconds(1500), .settle_poll = 0});
  Fragments first, second;
  EXPECT_FALSE(trimmer.AfterPoll());
  first.Make(24 << 20);
  EXPECT_FALSE(trimmer.AfterPoll()) << "the first period has not passed";
  std::this_thread::sleep_for(std::chrono::milliseconds(1600));
  EXPECT_TRUE(trimmer.AfterPoll()) << "a period later";
  second.Make(24 << 20);
  EXPECT_FALSE(trimmer.AfterPoll()) << "a second return within the period is held back";
  std::this_thread::sleep_for(std::chrono::milliseconds(1600));
  EXPECT_TRUE(trimmer.AfterPoll());
}

// Once, at the settle poll, the return does not wait for the period: the garbage of the
// pools' growth goes at the start. Then the period holds again.
TEST_F(HeapTrimmerTest, ReturnsOnceAtTheSettlePollWithinThePeriod) {
  HeapTrimmer trimmer(
      {.min_growth_bytes = 8 << 20, .period = std::chrono::hours(1), .settle_poll = 3});
  Fragments growth, later;
  EXPECT_FALSE(trimmer.AfterPoll()) << "the first call measures the floor";
  growth.Make(24 << 20);
  EXPECT_FALSE(trimmer.AfterPoll()) << "poll 2: within the period, not the settle poll";
  const double rss_with_garbage = ReadProcessStats().resident_bytes;
  EXPECT_TRUE(trimmer.AfterPoll()) << "poll 3: the settle poll";
  EXPECT_LT(ReadProcessStats().resident_bytes, rss_with_garbage - (16 << 20));
  later.Make(24 << 20);
  EXPECT_FALSE(trimmer.AfterPoll()) << "poll 4: the period holds again";
  EXPECT_FALSE(trimmer.AfterPoll());
}

// The settle poll's return measures from nothing, not from the first poll's floor: the
// garbage of the first poll (the watch cache's first list, the first decodes) goes too.
TEST_F(HeapTrimmerTest, TheSettlePollReturnsTheFirstPollsGarbageToo) {
  HeapTrimmer trimmer(
      {.min_growth_bytes = 8 << 20, .period = std::chrono::hours(1), .settle_poll = 2});
  Fragments first_poll;
  first_poll.Make(24 << 20);
  EXPECT_FALSE(trimmer.AfterPoll()) << "the first call measures the floor";
  const double rss_with_garbage = ReadProcessStats().resident_bytes;
  EXPECT_TRUE(trimmer.AfterPoll()) << "poll 2: the settle poll";
  EXPECT_LT(ReadProcessStats().resident_bytes, rss_with_garbage - (16 << 20));
}

#if KMB_TEST_TCMALLOC
// tcmalloc counts the untouched capacity of large buffers as in use (the exporter's gzip bodies'
// spare room, simdjson's tape sized for the worst case: hundreds of MB at 1,000 nodes). Free
// pages are measured as its page heap's, not as resident minus in use, which such capacity drove
// down so far that no return ever happened.
TEST_F(HeapTrimmerTest, UntouchedCapacityDoesNotHideFreePages) {
  HeapTrimmer trimmer(
      {.min_growth_bytes = 16 << 20, .period = std::chrono::seconds(0), .settle_poll = 0});
  EXPECT_FALSE(trimmer.AfterPoll()) << "the first call measures the floor";
  std::unique_ptr<char[]> untouched(new char[size_t{256} << 20]);
  untouched[0] = 1;  // one page of 256 MiB touched
  benchmark_sink = untouched.get();
  Fragments garbage;
  garbage.Make(40 << 20);
  const double rss_with_garbage = ReadProcessStats().resident_bytes;
  EXPECT_TRUE(trimmer.AfterPoll()) << "40 MiB of free pages beside 256 MiB never touched";
  EXPECT_LT(ReadProcessStats().resident_bytes, rss_with_garbage - (32 << 20));
}
#endif

TEST_F(HeapTrimmerTest, AfterTooLittleGrowthLooksAgainATenthOfAPeriodLater) {
  HeapTrimmer trimmer(
      {.min_growth_bytes = 8 << 20, .period = std::chrono::milliseconds(2000), .settle_poll = 0});
  Fragments garbage;
  EXPECT_FALSE(trimmer.AfterPoll());
  garbage.Allocate(24 << 20);  // in use, not yet garbage
  std::this_thread::sleep_for(std::chrono::milliseconds(2050));
  EXPECT_FALSE(trimmer.AfterPoll()) << "the period is over, but nothing grew";
  garbage.Free();  // 24 MiB kept by malloc, at once
  EXPECT_FALSE(trimmer.AfterPoll()) << "the next look is a tenth of a period later";
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  EXPECT_TRUE(trimmer.AfterPoll());
}
#endif

}  // namespace
}  // namespace kmb
