#include "kmb/util/interned_string.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "kmb/sources/pods.h"

namespace kmb {
namespace {

TEST(InternedStringTest, OneEntryPerTextWhileHeldAndNoneAfter) {
  const size_t before = InternedString::TableSizeForTest();
  {
    InternedString a("docker.io/library/nginx:1.27-interned-test");
    InternedString b(std::string("docker.io/library/nginx:1.27-interned-test"));
    InternedString c = a;
    InternedString other("registry.k8s.io/pause:3.10-interned-test");
    EXPECT_EQ(InternedString::TableSizeForTest(), before + 2);
    // One entry per text: the same characters, the same storage.
    EXPECT_EQ(a.data(), b.data());
    EXPECT_EQ(a.data(), c.data());
    EXPECT_EQ(a, b);
    EXPECT_FALSE(a == other);
    EXPECT_EQ(a, "docker.io/library/nginx:1.27-interned-test");
    EXPECT_EQ(a.size(), 42u);
    EXPECT_EQ(std::string("image=") + a, "image=docker.io/library/nginx:1.27-interned-test");
    InternedString moved = std::move(b);
    EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move): a moved-from value is empty
    EXPECT_EQ(moved, a);
    a = other;
    EXPECT_EQ(a, "registry.k8s.io/pause:3.10-interned-test");
    EXPECT_EQ(InternedString::TableSizeForTest(), before + 2);
  }
  // The last holder gone, the text is gone: values that come and go do not pile up.
  EXPECT_EQ(InternedString::TableSizeForTest(), before);
}

TEST(InternedStringTest, EmptyHoldsNoEntry) {
  const size_t before = InternedString::TableSizeForTest();
  InternedString e(""), d;
  EXPECT_TRUE(e.empty());
  EXPECT_EQ(e, d);
  EXPECT_EQ(e.str(), "");
  EXPECT_EQ(e, "");
  EXPECT_EQ(InternedString::TableSizeForTest(), before);
}

// Threads interning, copying and dropping the same few texts (as the watch cache decodes pods
// while polls drop the last snapshot's): every value reads back intact and the table empties.
// Under ASan/TSan-like checking this also catches an entry freed while still found.
TEST(InternedStringTest, ConcurrentHoldersAgreeAndLeaveNothing) {
  const size_t before = InternedString::TableSizeForTest();
  const std::vector<std::string> texts = {"ns-a-concurrent", "ns-b-concurrent",
                                          "node-concurrent-0", "node-concurrent-1"};
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<InternedString> held;
      for (int i = 0; i < 20000; ++i) {
        const std::string& text = texts[static_cast<size_t>(i + t) % texts.size()];
        InternedString s(text);
        if (s != text) ++wrong;
        if (i % 3 == 0) held.push_back(s);
        if (held.size() > 8) held.erase(held.begin());  // drop: often the last holder
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(InternedString::TableSizeForTest(), before);
}

TEST(AmountTest, ReadsLikeAnOptionalInEightBytes) {
  static_assert(sizeof(Amount) == 8);
  Amount unset;
  EXPECT_FALSE(unset.has_value());
  EXPECT_FALSE(static_cast<bool>(unset));
  EXPECT_EQ(unset.value_or(-1), -1);
  EXPECT_EQ(std::optional<double>(unset), std::nullopt);
  Amount zero = 0.0;  // a set zero ("0" requests) is not unset
  EXPECT_TRUE(zero.has_value());
  EXPECT_EQ(*zero, 0.0);
  Amount cpu = std::optional<double>(0.25);
  EXPECT_EQ(cpu, 0.25);
  EXPECT_EQ(cpu, std::optional<double>(0.25));
  EXPECT_FALSE(cpu == unset);
  EXPECT_EQ(unset, Amount(std::nullopt));
  EXPECT_EQ(unset, std::optional<double>());
}

// The watch cache holds one Pod per pod of the cluster (150,000 at 5,000 nodes): its fixed part
// stays small. 8-byte interned strings and amounts: 328 bytes (a 352-byte block with
// make_shared's count), a container 64; with std::string and std::optional<double> fields they
// were 488 (a 512-byte block) and 160.
TEST(AmountTest, PodAndContainerStayCompact) {
  EXPECT_LE(sizeof(PodContainer), 64u);
  EXPECT_LE(sizeof(Pod), 336u);
}

}  // namespace
}  // namespace kmb
