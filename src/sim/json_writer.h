#pragma once
// A minimal streaming JSON writer: no DOM, no allocation beyond the output string. Keys are
// trusted literals; string values are escaped.
//
// Tokens go to an 8 KiB stack buffer that is appended to the string when full, on str(), on
// out() and on destruction: a 110-pod Summary is ~25,000 small tokens, and one std::string
// append per token used to cost more than building the numbers.

#include <cassert>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace kmb::sim {

class JsonWriter {
 public:
  explicit JsonWriter(std::string* out) : out_(out) {}
  ~JsonWriter() { Flush(); }
  JsonWriter(const JsonWriter&) = delete;
  JsonWriter& operator=(const JsonWriter&) = delete;

  // The output so far, complete.
  const std::string& str() {
    Flush();
    return *out_;
  }

  void BeginObject() { Open('{'); }
  void EndObject() { Close('}'); }
  void BeginArray() { Open('['); }
  void EndArray() { Close(']'); }

  JsonWriter& Key(std::string_view key) {
    Separate();
    PutKey(key);
    after_key_ = true;
    return *this;
  }

  void String(std::string_view s) {
    Separate();
    PutQuoted(s);
  }
  void Uint(uint64_t v) {
    Separate();
    PutNumber(v);
  }
  void Int(int64_t v) {
    Separate();
    PutNumber(v);
  }
  void Bool(bool v) { Raw(v ? "true" : "false"); }
  void Null() { Raw("null"); }
  // A value in hundredths, spelled like Go's strconv.FormatFloat(v, 'f', -1, 64) would spell
  // a two-decimal float: 7263 -> 72.63, 1000 -> 10, 1 -> 0.01 (the PSI averages).
  void Hundredths(uint32_t v) {
    Separate();
    PutNumber(v / 100);
    const uint32_t frac = v % 100;
    if (frac != 0) {
      Put('.');
      Put(static_cast<char>('0' + frac / 10));
      if (frac % 10 != 0) Put(static_cast<char>('0' + frac % 10));
    }
  }
  // Pre-rendered JSON (a value or a whole fragment) written as the next value.
  void Raw(std::string_view json) {
    Separate();
    Put(json);
  }

  // The string, for appending the contents of a string opened with BeginString.
  std::string* out() {
    Flush();
    return out_;
  }
  // Starts a string value whose contents the caller appends through out() (trusted text, not
  // escaped), closed by EndString. Avoids a temporary for names built from parts.
  void BeginString() {
    Separate();
    Put('"');
  }
  void EndString() { Put('"'); }

  // Shorthands for "key": value.
  void Field(std::string_view key, std::string_view v) {
    Separate();
    PutKey(key);
    PutQuoted(v);
  }
  void Field(std::string_view key, const char* v) { Field(key, std::string_view(v)); }
  void Field(std::string_view key, const std::string& v) { Field(key, std::string_view(v)); }
  void Field(std::string_view key, uint64_t v) {
    Separate();
    PutKey(key);
    PutNumber(v);
  }
  void Field(std::string_view key, int64_t v) {
    Separate();
    PutKey(key);
    PutNumber(v);
  }
  void Field(std::string_view key, int v) { Field(key, static_cast<int64_t>(v)); }
  void Field(std::string_view key, bool v) {
    Separate();
    PutKey(key);
    Put(v ? std::string_view("true") : std::string_view("false"));
  }

 private:
  static constexpr int kMaxDepth = 32;
  static constexpr size_t kBufferSize = 8192;

  void Flush() {
    out_->append(buf_, pos_);
    pos_ = 0;
  }
  void Put(char c) {
    if (pos_ == kBufferSize) Flush();
    buf_[pos_++] = c;
  }
  void Put(std::string_view s) {
    if (s.size() > kBufferSize - pos_ && !MakeRoom(s)) return;
    for (char c : s) buf_[pos_++] = c;  // short tokens: cheaper than a memcpy call
  }
  // The rare path, out of line (inlined, GCC 12 warns about the append of a string it cannot
  // size): flushes; false when s, longer than the buffer, went straight to the output.
  [[gnu::noinline]] bool MakeRoom(std::string_view s) {
    Flush();
    if (s.size() <= kBufferSize) return true;
    out_->append(s);
    return false;
  }
  template <typename T>
  void PutNumber(T v) {
    if (kBufferSize - pos_ < 24) Flush();
    pos_ = static_cast<size_t>(std::to_chars(buf_ + pos_, buf_ + kBufferSize, v).ptr - buf_);
  }
  void PutKey(std::string_view key) {
    Put('"');
    Put(key);
    Put(std::string_view("\":"));
  }
  void PutQuoted(std::string_view s) {
    Put('"');
    size_t start = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      const unsigned char c = static_cast<unsigned char>(s[i]);
      if (c >= 0x20 && c != '"' && c != '\\') continue;
      Put(s.substr(start, i - start));
      start = i + 1;
      switch (c) {
        case '"':
          Put(std::string_view("\\\""));
          break;
        case '\\':
          Put(std::string_view("\\\\"));
          break;
        case '\n':
          Put(std::string_view("\\n"));
          break;
        case '\r':
          Put(std::string_view("\\r"));
          break;
        case '\t':
          Put(std::string_view("\\t"));
          break;
        default: {
          static constexpr char kHex[] = "0123456789abcdef";
          const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
          Put(std::string_view(esc, 6));
        }
      }
    }
    Put(s.substr(start));
    Put('"');
  }

  void Separate() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (depth_ > 0) {
      if (!first_[depth_]) Put(',');
      first_[depth_] = false;
    }
  }
  void Open(char c) {
    Separate();
    Put(c);
    ++depth_;
    assert(depth_ < kMaxDepth);
    first_[depth_] = true;
  }
  void Close(char c) {
    --depth_;
    Put(c);
  }

  std::string* out_;
  char buf_[kBufferSize];
  size_t pos_ = 0;
  bool first_[kMaxDepth] = {};
  int depth_ = 0;
  bool after_key_ = false;
};

}  // namespace kmb::sim
