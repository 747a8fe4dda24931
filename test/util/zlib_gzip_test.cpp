#include "kmb/util/zlib_gzip.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "common/gunzip.h"

namespace kmb {
namespace {

using testing::Gunzip;

std::string Text(size_t bytes) {
  std::mt19937 rng(7);
  std::string s;
  while (s.size() < bytes) {
    s += "container_memory_working_set_bytes{namespace=\"ns-" + std::to_string(rng() % 50) +
         "\",pod=\"pod-" + std::to_string(rng() % 1000) + "\"} " + std::to_string(rng()) + "\n";
  }
  return s;
}

TEST(ZlibGzip, PiecesMakeOneStreamThatInflatesToTheirConcatenation) {
  const std::string text = Text(3 << 20);
  ZlibGzip gz(1);
  ASSERT_TRUE(gz.ok());
  std::string out;
  size_t at = 0;
  for (size_t piece : {size_t{0}, size_t{1}, size_t{4095}, size_t{1} << 20, size_t{777}}) {
    ASSERT_TRUE(gz.Compress(std::string_view(text).substr(at, piece), false, &out));
    at += piece;
  }
  ASSERT_TRUE(gz.Compress(std::string_view(text).substr(at), true, &out));
  EXPECT_LT(out.size(), text.size() / 4);
  EXPECT_EQ(Gunzip(out), text);
  EXPECT_FALSE(gz.Compress("more", true, &out)) << "the stream has ended";
}

TEST(ZlibGzip, OneShotAtEveryLevelAndEmptyInput) {
  const std::string text = Text(200 << 10);
  for (int level : {1, 6, 9}) {
    ZlibGzip gz(level);
    std::string out;
    ASSERT_TRUE(gz.Compress(text, true, &out)) << level;
    EXPECT_EQ(Gunzip(out), text) << level;
  }
  ZlibGzip empty(1);
  std::string out;
  ASSERT_TRUE(empty.Compress("", true, &out));
  EXPECT_EQ(Gunzip(out), "");
  EXPECT_FALSE(ZlibGzip(42).ok()) << "zlib refuses level 42";
}

}  // namespace
}  // namespace kmb
