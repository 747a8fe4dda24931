#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "kmb/sources/entity.h"

namespace kmb {
namespace {

std::vector<std::string> Strings(const LabelValues& v) {
  return std::vector<std::string>(v.begin(), v.end());
}

TEST(LabelValues, SetGrowsAndShrinksValuesInTheMiddle) {
  LabelValues v;
  v.Reset(4);
  EXPECT_EQ(v, (std::vector<std::string>{"", "", "", ""}));
  v.Set(2, "container");
  v.Set(0, "namespace");
  v.Set(3, "c2991388-d63e-4e5d-9aef-8f1cd45c11d7");
  v.Set(1, "a-pod-name-longer-than-fifteen");
  EXPECT_EQ(v, (std::vector<std::string>{"namespace", "a-pod-name-longer-than-fifteen", "container",
                                         "c2991388-d63e-4e5d-9aef-8f1cd45c11d7"}));
  v.Set(1, "p");  // shrinks: the values after it move down
  EXPECT_EQ(v, (std::vector<std::string>{"namespace", "p", "container",
                                         "c2991388-d63e-4e5d-9aef-8f1cd45c11d7"}));
  v.Set(0, "");
  EXPECT_EQ(v[0], "");
  EXPECT_EQ(v[1], "p");
  EXPECT_EQ(v.back(), "c2991388-d63e-4e5d-9aef-8f1cd45c11d7");
}

TEST(LabelValues, ResetKeepsTheBlockSoARedecodeDoesNotAllocate) {
  LabelValues v{"kube-system", "coredns-5d78c9869d-abcde", "coredns", "node-1"};
  const char* before = v[0].data();
  v.Reset(4);
  EXPECT_EQ(v, (std::vector<std::string>{"", "", "", ""}));
  v.Set(3, "node-2");
  v.Set(0, "kube-system");
  v.Set(2, "coredns");
  v.Set(1, "coredns-5d78c9869d-fghij");
  EXPECT_EQ(v[0].data(), before);  // same block, same place
  EXPECT_EQ(v[1], "coredns-5d78c9869d-fghij");
}

TEST(LabelValues, OwnValuesMayBeSetAndAppended) {
  LabelValues v{"a", "bb", "ccc"};
  v.Set(0, v[2]);
  v.Set(2, v[1]);
  v.push_back(v[0]);
  EXPECT_EQ(v, (std::vector<std::string>{"ccc", "bb", "bb", "ccc"}));
  v = {v[3], v[1]};
  EXPECT_EQ(v, (std::vector<std::string>{"ccc", "bb"}));
}

TEST(LabelValues, CopiesMovesAndEquality) {
  LabelValues a{"ns", "pod", "uid-1"};
  LabelValues b = a;
  EXPECT_EQ(a, b);
  b.Set(2, "uid-2");
  EXPECT_FALSE(a == b);
  EXPECT_FALSE(a == (LabelValues{"ns", "pod"}));
  EXPECT_FALSE((LabelValues{"ab", "c"}) == (LabelValues{"a", "bc"}));
  // Same count, different lengths: compared without reading past the shorter block (ASan).
  EXPECT_FALSE((LabelValues{"n", "p"}) == (LabelValues{"n", "a-much-longer-pod-name-than-p"}));
  EXPECT_FALSE((LabelValues{"n", "a-much-longer-pod-name-than-p"}) == (LabelValues{"n", "p"}));
  LabelValues c = std::move(b);
  EXPECT_EQ(c[2], "uid-2");
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty
  b = c;
  EXPECT_EQ(b, c);
  a = LabelValues();
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(Strings(c), (std::vector<std::string>{"ns", "pod", "uid-2"}));
}

// Random edits against a std::vector<std::string> doing the same.
TEST(LabelValues, MatchesAVectorOfStringsUnderRandomEdits) {
  std::mt19937 rng(42);
  LabelValues v;
  std::vector<std::string> want;
  for (int step = 0; step < 20000; ++step) {
    const int op = static_cast<int>(rng() % 10);
    std::string value(rng() % 50, static_cast<char>('a' + rng() % 26));
    if (op == 0) {
      const size_t n = rng() % 9;
      v.Reset(n);
      want.assign(n, "");
    } else if (op == 1 || want.empty()) {
      v.push_back(value);
      want.push_back(value);
    } else if (op == 2) {
      const size_t from = rng() % want.size();
      const size_t to = rng() % want.size();
      v.Set(to, v[from]);
      want[to] = std::string(want[from]);
    } else {
      const size_t i = rng() % want.size();
      v.Set(i, value);
      want[i] = value;
    }
    ASSERT_EQ(v, want) << "step " << step;
    LabelValues built;
    for (const std::string& w : want) built.push_back(w);
    ASSERT_TRUE(v == built) << "step " << step;
    ASSERT_EQ(v == LabelValues{"x"}, want == std::vector<std::string>{"x"}) << "step " << step;
    if (want.size() > 12) {
      v.Reset(0);
      want.clear();
    }
  }
}

TEST(LabelValues, TrimSlackKeepsTheValuesInABlockOfTheirSize) {
  LabelValues v;
  v.Reset(4);
  v.Set(0, "kube-system");
  v.Set(1, "coredns-5d78c9869d-abcde");
  v.Set(2, "c2991388-d63e-4e5d-9aef-8f1cd45c11d7");
  v.Set(3, "node-1");  // grown by half again past the 93 bytes the values take
  const size_t need = 4 * 4 + 11 + 24 + 36 + 6;
  EXPECT_GT(v.heap_bytes(), need + need / 8);
  v.TrimSlack();
  EXPECT_LE(v.heap_bytes(), need + 3);  // whole 4-byte words
  EXPECT_EQ(v, (std::vector<std::string>{"kube-system", "coredns-5d78c9869d-abcde",
                                         "c2991388-d63e-4e5d-9aef-8f1cd45c11d7", "node-1"}));
  const void* block = v.data();
  v.TrimSlack();  // nothing to give back: the block stays
  EXPECT_EQ(v.data(), block);
  LabelValues empty;
  empty.TrimSlack();
  EXPECT_TRUE(empty.empty());
}

TEST(ExtraLabels, APointerUntilTheFirstPairAndAVectorAfter) {
  ExtraLabels e;
  EXPECT_TRUE(e.empty());
  EXPECT_EQ(e.begin(), e.end());
  e.emplace_back("image", "registry.k8s.io/coredns/coredns:v1.13.1");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].second, "registry.k8s.io/coredns/coredns:v1.13.1");
  const ExtraLabels copy = e;
  e.clear();
  EXPECT_TRUE(e.empty());
  ASSERT_EQ(copy.size(), 1u);
  EXPECT_EQ(copy[0].first, "image");
  const ExtraLabels::Pair* block = &e.emplace_back("label_app", "x");  // the kept vector
  e = copy;
  EXPECT_EQ(&e[0], block);
  EXPECT_EQ(e[0].first, "image");
  e = std::vector<ExtraLabels::Pair>{{"a", "1"}, {"b", "2"}};
  EXPECT_EQ(e.size(), 2u);
  ExtraLabels moved = std::move(e);
  EXPECT_EQ(moved[1].second, "2");
  ExtraLabels none;
  moved = none;
  EXPECT_TRUE(moved.empty());
}

}  // namespace
}  // namespace kmb
