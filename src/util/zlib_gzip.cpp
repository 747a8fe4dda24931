#include "kmb/util/zlib_gzip.h"

#include <algorithm>

namespace kmb {

ZlibGzip::ZlibGzip(int level) : zs_(std::make_unique<z_stream>()) {
  // windowBits 15 + 16: a 32 KiB window with a gzip header and trailer.
  ok_ = deflateInit2(zs_.get(), level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
}

ZlibGzip::~ZlibGzip() {
  if (ok_) deflateEnd(zs_.get());
}

bool ZlibGzip::Compress(std::string_view in, bool last, std::string* out) {
  if (!ok_ || ended_) return false;
  zs_->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs_->avail_in = static_cast<uInt>(in.size());
  // Room grows as it fills instead of being sized for the worst case: deflateBound of a 70 MB
  // exposition is 70 MB of pages touched for a ~6 MB result.
  size_t produced = out->size();
  out->resize(produced + std::max<size_t>(in.size() / 8, 4096));
  int rc = Z_OK;
  do {
    if (produced == out->size()) out->resize(out->size() * 2);
    zs_->next_out = reinterpret_cast<Bytef*>(out->data() + produced);
    zs_->avail_out = static_cast<uInt>(out->size() - produced);
    rc = deflate(zs_.get(), last ? Z_FINISH : Z_NO_FLUSH);
    produced = out->size() - zs_->avail_out;
  } while (last ? rc == Z_OK : rc == Z_OK && (zs_->avail_in > 0 || zs_->avail_out == 0));
  out->resize(produced);
  if (last) {
    ended_ = true;
    return rc == Z_STREAM_END;
  }
  return rc == Z_OK || rc == Z_BUF_ERROR;  // Z_BUF_ERROR: nothing left to do, not an error
}

}  // namespace kmb
