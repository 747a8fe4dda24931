#pragma once
// zlib's inflate of a whole gzip stream, for tests that check what a gzip writer produced.

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <string>

namespace kmb::testing {

// The text of `in` (one gzip member); a test failure when it is not a complete gzip stream.
inline std::string Gunzip(const std::string& in) {
  z_stream zs{};
  EXPECT_EQ(inflateInit2(&zs, 15 + 16), Z_OK);
  std::string out;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  while (rc == Z_OK) {
    out.resize(std::max<size_t>(out.size() * 2, 1 << 16));
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + zs.total_out);
    zs.avail_out = static_cast<uInt>(out.size() - zs.total_out);
    rc = inflate(&zs, Z_NO_FLUSH);
  }
  EXPECT_EQ(rc, Z_STREAM_END);
  out.resize(zs.total_out);
  inflateEnd(&zs);
  return out;
}

}  // namespace kmb::testing
