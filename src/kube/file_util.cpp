#include "kube/file_util.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace kmb {

bool ReadWholeFile(const std::string& path, std::string* out, std::string* err) {
  out->clear();
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    *err = std::strerror(errno);
    return false;
  }
  char buf[16384];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out->append(buf, n);
  const bool failed = std::ferror(f);
  const int saved = errno;
  std::fclose(f);
  if (failed) {
    *err = std::strerror(saved);  // e.g. EISDIR when the path is a folder
    out->clear();
    return false;
  }
  return true;
}

namespace {

// Value of a base64 character; -1 for whitespace (skipped), -2 for anything else.
int Sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  if (c == ' ' || c == '\n' || c == '\r' || c == '\t') return -1;
  return -2;
}

}  // namespace

bool DecodeBase64(std::string_view in, std::string* out) {
  out->clear();
  out->reserve(in.size() / 4 * 3 + 3);
  unsigned acc = 0;
  int bits = 0;
  size_t pad = 0;
  for (char c : in) {
    if (c == '=') {
      ++pad;
      continue;
    }
    const int v = Sextet(c);
    if (v == -1) continue;
    if (v < 0) return false;
    if (pad > 0) return false;  // data after padding
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  // A single dangling sextet is never valid; non-zero leftover bits are tolerated (as in Go).
  return bits < 6 && pad <= 2;
}

std::string TrimToken(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; };
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  return std::string(s);
}

}  // namespace kmb
