#include "kmb/sources/entity.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ostream>
#include <stdexcept>

namespace kmb {

double Sample::Scaled() const {
  double v = 0;
  switch (kind) {
    case ValueKind::kUint:
      v = static_cast<double>(u());
      break;
    case ValueKind::kInt:
      v = static_cast<double>(i());
      break;
    case ValueKind::kDouble:
      v = d();
      break;
  }
  if (metric >= catalog::kMetricCount) return v;
  const int exp10 = catalog::kMetrics[metric].exp10;
  if (exp10 == 0) return v;
  // Divide for negative exponents: 1e-9 is not exact in binary, 1e9 is.
  return exp10 > 0 ? v * std::pow(10.0, exp10) : v / std::pow(10.0, -exp10);
}

namespace {

// A block of at least `bytes` bytes, in whole uint32_t.
uint32_t* NewBlock(size_t bytes, uint32_t* capacity) {
  const size_t words = (bytes + sizeof(uint32_t) - 1) / sizeof(uint32_t);
  *capacity = static_cast<uint32_t>(words * sizeof(uint32_t));
  return new uint32_t[words];
}

// Label sets stay far below this; a hostile payload does not get a 4 GiB offset to wrap.
void CheckBlockSize(size_t bytes) {
  if (bytes > UINT32_MAX / 2) throw std::length_error("label values over 2 GiB");
}

}  // namespace

LabelValues::LabelValues(std::initializer_list<std::string_view> values) { *this = values; }

LabelValues::LabelValues(const LabelValues& other) { *this = other; }

LabelValues& LabelValues::operator=(const LabelValues& other) {
  if (this == &other) return *this;
  const size_t bytes = sizeof(uint32_t) * other.size_ + other.chars_size();
  if (bytes > capacity_) {
    delete[] block_;
    block_ = NewBlock(bytes, &capacity_);
  }
  if (bytes > 0) std::memcpy(block_, other.block_, bytes);
  size_ = other.size_;
  return *this;
}

LabelValues::LabelValues(LabelValues&& other) noexcept
    : block_(std::exchange(other.block_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      capacity_(std::exchange(other.capacity_, 0)) {}

LabelValues& LabelValues::operator=(LabelValues&& other) noexcept {
  if (this == &other) return *this;
  delete[] block_;
  block_ = std::exchange(other.block_, nullptr);
  size_ = std::exchange(other.size_, 0);
  capacity_ = std::exchange(other.capacity_, 0);
  return *this;
}

LabelValues& LabelValues::operator=(std::initializer_list<std::string_view> values) {
  size_t chars = 0;
  bool ours = false;
  for (std::string_view v : values) {
    chars += v.size();
    ours = ours || Owns(v);
  }
  if (ours) {  // values that point into this block: built aside, then moved in
    LabelValues built;
    for (std::string_view v : values) built.push_back(v);
    return *this = std::move(built);
  }
  // Written in place: the pod-spec join relabels ~180,000 reused entities a poll at 1,000
  // nodes, each into the block it had.
  const size_t need = sizeof(uint32_t) * values.size() + chars;
  CheckBlockSize(need);
  if (need > capacity_) {
    delete[] block_;
    block_ = NewBlock(need, &capacity_);
  }
  size_ = static_cast<uint32_t>(values.size());
  char* c = Chars();
  uint32_t end = 0;
  size_t i = 0;
  for (std::string_view v : values) {
    if (!v.empty()) std::memcpy(c + end, v.data(), v.size());
    end += static_cast<uint32_t>(v.size());
    block_[i++] = end;
  }
  return *this;
}

void LabelValues::Reserve(size_t n, size_t chars) {
  const size_t need = sizeof(uint32_t) * n + chars;
  CheckBlockSize(need);
  if (need <= capacity_) return;
  // Grown by half again, so that values set one by one move the block a few times only.
  uint32_t capacity = 0;
  uint32_t* block = NewBlock(std::max(need, size_t{capacity_} + capacity_ / 2), &capacity);
  if (size_ > 0) {
    std::memcpy(block, block_, sizeof(uint32_t) * size_);
    // The characters go after the ends of `n` values (n >= size_).
    std::memcpy(reinterpret_cast<char*>(block + n), Chars(), chars_size());
  }
  delete[] block_;
  block_ = block;
  capacity_ = capacity;
}

void LabelValues::Reset(size_t n) {
  if (sizeof(uint32_t) * n > capacity_) {
    delete[] block_;
    block_ = NewBlock(sizeof(uint32_t) * n, &capacity_);
  }
  size_ = static_cast<uint32_t>(n);
  if (n > 0) std::memset(block_, 0, sizeof(uint32_t) * n);
}

void LabelValues::TrimSlack() {
  const size_t need = sizeof(uint32_t) * size_ + chars_size();
  if (capacity_ - need <= need / 8) return;
  uint32_t capacity = 0;
  uint32_t* block = need == 0 ? nullptr : NewBlock(need, &capacity);
  if (need > 0) std::memcpy(block, block_, need);
  delete[] block_;
  block_ = block;
  capacity_ = capacity;
}

void TrimSlack(std::vector<EntityStats>* entities, size_t first) {
  for (size_t i = first; i < entities->size(); ++i) {
    EntityStats& e = (*entities)[i];
    TrimVectorSlack(&e.samples);
    e.labels.TrimSlack();
  }
}

void LabelValues::push_back(std::string_view value) {
  if (Owns(value)) {
    const std::string copy(value);  // one of our own values: it moves below
    push_back(copy);
    return;
  }
  const uint32_t chars = chars_size();
  // One more end: the characters move up by 4 bytes (Reserve moves them when it grows).
  if (sizeof(uint32_t) * (size_ + 1) + chars + value.size() > capacity_) {
    Reserve(size_ + 1, chars + value.size());
  } else if (chars > 0) {
    std::memmove(reinterpret_cast<char*>(block_ + size_ + 1), Chars(), chars);
  }
  ++size_;
  Ends()[size_ - 1] = chars;  // empty, then set
  Set(size_ - 1, value);
}

void LabelValues::SetSlow(size_t i, std::string_view value) {
  if (Owns(value)) {
    const std::string copy(value);  // one of our own values: it may move below
    Set(i, copy);
    return;
  }
  const size_t old_size = (*this)[i].size();
  Reserve(size_, chars_size() - old_size + value.size());
  Set(i, value);  // fits now
}

bool operator==(const LabelValues& a, const LabelValues& b) {
  if (a.size_ != b.size_ || a.chars_size() != b.chars_size()) return false;
  const size_t bytes = sizeof(uint32_t) * a.size_ + a.chars_size();
  return bytes == 0 || std::memcmp(a.block_, b.block_, bytes) == 0;
}

bool operator==(const LabelValues& a, const std::vector<std::string>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < b.size(); ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

void PrintTo(const LabelValues& v, std::ostream* os) {
  *os << "{";
  for (size_t i = 0; i < v.size(); ++i) *os << (i ? ", \"" : "\"") << v[i] << "\"";
  *os << "}";
}

}  // namespace kmb
