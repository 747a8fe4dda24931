#pragma once
// A gzip (RFC 1952) stream compressed by zlib, fed in pieces: what the simulator's API server
// sends (level 1, as kube-apiserver) and the zlib baseline the benchmarks compare igzip with
// (exposition's GzipZlib). The exporter's own gzip bodies are igzip's (exposition/writer.h).

#include <memory>
#include <string>
#include <string_view>

#include <zlib.h>

namespace kmb {

class ZlibGzip {
 public:
  explicit ZlibGzip(int level);
  ~ZlibGzip();
  ZlibGzip(const ZlibGzip&) = delete;
  ZlibGzip& operator=(const ZlibGzip&) = delete;
  // False when zlib could not start (then Compress does nothing and fails).
  bool ok() const { return ok_; }
  // Compresses `in`, appending what zlib gives to *out (grown as it fills); `last` ends the
  // stream (the gzip trailer). False on a zlib error or a stream already ended.
  bool Compress(std::string_view in, bool last, std::string* out);

 private:
  std::unique_ptr<z_stream> zs_;
  bool ok_ = false;
  bool ended_ = false;
};

}  // namespace kmb
