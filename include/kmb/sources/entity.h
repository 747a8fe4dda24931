#pragma once
// Plain structs every decoder produces: one EntityStats per object (node, pod, container, ...)
// with its identity label values and the catalog metrics found in the payload.

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <iosfwd>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kmb/catalog/catalog.h"

namespace kmb {

enum class ValueKind : uint8_t { kUint, kInt, kDouble };

// One value of one catalog metric. Integers are kept as integers so counters past 2^53 stay
// exact; the catalog's exp10 is applied only when the value is written out. 12 bytes, 4-byte
// aligned: there is one per exported series in each snapshot alive, ~6M at 1,000 nodes of the
// full catalog.
struct Sample {
  // Time of the payload block holding the value (the kubelet and the Metrics API write RFC
  // 3339 times to the second), in seconds after its entity's time_base_s: read and set it
  // through EntityStats::time_ms and SetTime. kNoTime: not given.
  static constexpr int16_t kNoTime = INT16_MIN;
  // Decoders: the time of a block whose time field comes after its values (set when it ends;
  // left so when the block has none, it reads as not given, like kNoTime).
  static constexpr int16_t kPendingTime = INT16_MIN + 1;
  static constexpr int16_t kMaxTimeOffset = INT16_MAX;  // ~9.1 hours either way
  static constexpr int16_t kMinTimeOffset = -INT16_MAX + 1;

  catalog::MetricId metric : 14 = 0;
  ValueKind kind : 2 = ValueKind::kUint;
  int16_t time_offset_s = kNoTime;

  // The value's 64 bits, as the kind says: an 8-byte member would sit misaligned at offset 4
  // (a packed struct), and a reference bound to it (EXPECT_EQ, std::max) is undefined
  // behaviour that clang's sanitizer reports. Read and written by copy instead.
  uint64_t u() const { return Get<uint64_t>(); }
  int64_t i() const { return Get<int64_t>(); }
  double d() const { return Get<double>(); }
  void set_u(uint64_t v) { Set(v); }
  void set_i(int64_t v) { Set(v); }
  void set_d(double v) { Set(v); }

  static Sample Uint(catalog::MetricId m, uint64_t v) {
    Sample s; s.metric = m; s.kind = ValueKind::kUint; s.set_u(v); return s;
  }
  static Sample Int(catalog::MetricId m, int64_t v) {
    Sample s; s.metric = m; s.kind = ValueKind::kInt; s.set_i(v); return s;
  }
  static Sample Double(catalog::MetricId m, double v) {
    Sample s; s.metric = m; s.kind = ValueKind::kDouble; s.set_d(v); return s;
  }
  // Milliseconds since the epoch as whole seconds; 0 (not given) for times before 1970 or past
  // 2106.
  static uint32_t Seconds(int64_t ms) {
    return ms <= 0 || ms / 1000 >= int64_t{UINT32_MAX} ? 0 : static_cast<uint32_t>(ms / 1000);
  }
  // Value with the catalog scale applied (loses exactness past 2^53; for tests and display).
  double Scaled() const;

 private:
  template <typename T>
  T Get() const {
    T v;
    std::memcpy(&v, bits_, sizeof v);
    return v;
  }
  template <typename T>
  void Set(T v) {
    std::memcpy(bits_, &v, sizeof v);
  }
  uint32_t bits_[2] = {0, 0};
};
static_assert(sizeof(Sample) == 12 && alignof(Sample) == 4);
static_assert(catalog::kMetricCount <= (1u << 14), "Sample::metric has 14 bits");

// An entity's identity label values, in one heap block: the values' end offsets, then their
// characters back to back. 16 bytes in place. A std::vector<std::string> of the same values
// takes 24 + 32 bytes per value, plus a heap block for each value over 15 characters (a uid,
// most pod names): 328 against 187 bytes per entity of a simulated 110-pod Summary, or ~75 MB
// at 1,000 nodes (docs/performance.md). Values read as string_views, valid until the next
// change; Set and Reset keep the block, so a decode into last poll's entities allocates
// nothing once the blocks have grown.
class LabelValues {
 public:
  LabelValues() = default;
  LabelValues(std::initializer_list<std::string_view> values);
  LabelValues(const LabelValues& other);
  LabelValues& operator=(const LabelValues& other);
  LabelValues(LabelValues&& other) noexcept;
  LabelValues& operator=(LabelValues&& other) noexcept;
  LabelValues& operator=(std::initializer_list<std::string_view> values);
  ~LabelValues() { delete[] block_; }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t heap_bytes() const { return capacity_; }  // the block's size (footprint counts)
  const void* data() const { return block_; }       // the block itself (tests)
  std::string_view operator[](size_t i) const {
    const uint32_t* ends = Ends();
    const uint32_t begin = i == 0 ? 0 : ends[i - 1];
    return std::string_view(Chars() + begin, ends[i] - begin);
  }
  std::string_view back() const { return (*this)[size_ - 1]; }
  // Replaces value i (< size()). `value` may be one of this set's own values. Inline: the
  // decoders set every label of every entity this way.
  void Set(size_t i, std::string_view value) {
    uint32_t* ends = Ends();
    const uint32_t begin = i == 0 ? 0 : ends[i - 1];
    const uint32_t old_end = ends[i];
    const size_t old_size = old_end - begin;
    char* c = Chars();
    if (old_size == value.size() &&
        (old_size == 0 || std::memcmp(c + begin, value.data(), old_size) == 0)) {
      return;
    }
    const uint32_t chars = ends[size_ - 1];
    const size_t grown = chars - old_size + value.size();
    if (sizeof(uint32_t) * size_ + grown > capacity_ || Owns(value)) {
      SetSlow(i, value);  // grows the block, or `value` is one of ours
      return;
    }
    // The values after i move to their new place, then value i is written.
    if (old_end != chars) std::memmove(c + begin + value.size(), c + old_end, chars - old_end);
    if (!value.empty()) std::memcpy(c + begin, value.data(), value.size());
    const uint32_t delta = static_cast<uint32_t>(value.size() - old_size);  // modulo 2^32
    for (size_t j = i; j < size_; ++j) ends[j] += delta;
  }
  // `n` values, all empty.
  void Reset(size_t n);
  // Gives back the block's room past an eighth of what the values take (values set one by one
  // grow it by half again each time it is full).
  void TrimSlack();
  void push_back(std::string_view value);

  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = std::string_view;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = std::string_view;
    const_iterator() = default;
    const_iterator(const LabelValues* set, size_t i) : set_(set), i_(i) {}
    std::string_view operator*() const { return (*set_)[i_]; }
    const_iterator& operator++() {
      ++i_;
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator old = *this;
      ++i_;
      return old;
    }
    bool operator==(const const_iterator& o) const { return i_ == o.i_; }

   private:
    const LabelValues* set_ = nullptr;
    size_t i_ = 0;
  };
  const_iterator begin() const { return {this, 0}; }
  const_iterator end() const { return {this, size_}; }

  friend bool operator==(const LabelValues& a, const LabelValues& b);
  // Tests compare with a list of strings.
  friend bool operator==(const LabelValues& a, const std::vector<std::string>& b);
  friend void PrintTo(const LabelValues& v, std::ostream* os);  // GoogleTest's printer

 private:
  uint32_t chars_size() const { return size_ == 0 ? 0 : Ends()[size_ - 1]; }
  // True when `v` points into this set's block (one of its own values): it may move on a change.
  bool Owns(std::string_view v) const {
    const char* b = reinterpret_cast<const char*>(block_);
    return block_ != nullptr && v.data() >= b && v.data() < b + capacity_;
  }
  uint32_t* Ends() const { return block_; }
  char* Chars() const { return reinterpret_cast<char*>(block_ + size_); }
  // Makes room for `n` values of `chars` characters in all, keeping the current ones.
  void Reserve(size_t n, size_t chars);
  void SetSlow(size_t i, std::string_view value);

  uint32_t* block_ = nullptr;  // ends[size_], then the characters
  uint32_t size_ = 0;
  uint32_t capacity_ = 0;  // bytes of block_
};

// Labels beyond an entity kind's fixed ones, as name/value pairs, written after them. Most
// entities have none: one pointer (8 bytes) in place instead of a vector (24 bytes) in each of
// the ~536,000 entities of a snapshot at 1,000 nodes. clear() keeps the pairs' vector, so that
// an entity reused by the next poll does not allocate it again.
class ExtraLabels {
 public:
  using Pair = std::pair<std::string, std::string>;
  ExtraLabels() = default;
  ExtraLabels(const ExtraLabels& other) { *this = other; }
  // Keeps this one's vector and strings where they are large enough.
  ExtraLabels& operator=(const ExtraLabels& other) {
    if (this == &other) return *this;
    if (other.empty()) {
      clear();
    } else {
      if (!pairs_) pairs_ = std::make_unique<std::vector<Pair>>();
      pairs_->assign(other.begin(), other.end());
    }
    return *this;
  }
  ExtraLabels(ExtraLabels&&) noexcept = default;
  ExtraLabels& operator=(ExtraLabels&&) noexcept = default;
  ExtraLabels& operator=(std::vector<Pair> pairs) {
    if (pairs_) {
      *pairs_ = std::move(pairs);
    } else if (!pairs.empty()) {
      pairs_ = std::make_unique<std::vector<Pair>>(std::move(pairs));
    }
    return *this;
  }
  bool empty() const { return !pairs_ || pairs_->empty(); }
  size_t size() const { return pairs_ ? pairs_->size() : 0; }
  const Pair& operator[](size_t i) const { return (*pairs_)[i]; }
  template <typename... Args>
  Pair& emplace_back(Args&&... args) {
    if (!pairs_) pairs_ = std::make_unique<std::vector<Pair>>();
    return pairs_->emplace_back(std::forward<Args>(args)...);
  }
  void clear() {
    if (pairs_) pairs_->clear();
  }
  const Pair* begin() const { return pairs_ ? pairs_->data() : nullptr; }
  const Pair* end() const { return pairs_ ? pairs_->data() + pairs_->size() : nullptr; }

 private:
  std::unique_ptr<std::vector<Pair>> pairs_;
};

// 56 bytes (the two one-byte fields and the time base first, then the 8-byte aligned ones): one
// per entity of each snapshot, ~536,000 at 1,000 nodes.
struct EntityStats {
  catalog::Entity entity = catalog::Entity::kNode;
  // Cardinality control (--collect-all-interfaces): true for an entity listed inside an object
  // of its own kind, i.e. an entry of network.interfaces[] that is not also the network's
  // default interface (network.name). The default interface, when the kubelet marks one, is
  // the entity created for the network object itself (false).
  bool nested = false;
  // Seconds since the epoch its samples' times count from: the first time SetTime was given
  // since the decoder reset it to 0. An entity's block times lie seconds or minutes apart.
  uint32_t time_base_s = 0;
  // Values for catalog::LabelNames(entity), same order.
  LabelValues labels;
  std::vector<Sample> samples;
  // `image` from the pod-spec join, label_<key> / annotation_<key> on k8s_pod_labels /
  // k8s_pod_annotations.
  ExtraLabels extra_labels;

  // The time of sample `s` of this entity in milliseconds since the epoch (whole seconds); 0
  // when not given.
  int64_t time_ms(const Sample& s) const {
    return s.time_offset_s < Sample::kMinTimeOffset
               ? 0
               : (int64_t{time_base_s} + s.time_offset_s) * 1000;
  }
  // Sets the time of `s`, a sample of this entity, from milliseconds since the epoch (<= 0:
  // not given). A time more than ~9 hours from the entity's first is not kept (no block of one
  // payload is that far from another; Prometheus would refuse such a timestamp anyway).
  void SetTime(Sample& s, int64_t ms) {
    const uint32_t t = Sample::Seconds(ms);
    if (t == 0) {
      s.time_offset_s = Sample::kNoTime;
      return;
    }
    if (time_base_s == 0) time_base_s = t;
    const int64_t offset = int64_t{t} - time_base_s;
    s.time_offset_s = offset < Sample::kMinTimeOffset || offset > Sample::kMaxTimeOffset
                          ? Sample::kNoTime
                          : static_cast<int16_t>(offset);
  }
  // `s` of entity `from` with its time as this entity's (Pending and not-given times stay so).
  Sample Adopt(const EntityStats& from, const Sample& s) {
    Sample copy = s;
    if (s.time_offset_s >= Sample::kMinTimeOffset) SetTime(copy, from.time_ms(s));
    return copy;
  }
};
static_assert(sizeof(EntityStats) == 56);

// Gives back a vector's room past an eighth of its size.
template <typename T>
void TrimVectorSlack(std::vector<T>* v) {
  if (v->capacity() - v->size() > v->size() / 8) v->shrink_to_fit();
}

// Gives back the room that growth left in the samples and label values of entities[first...]
// (doubling and growing by half again leave up to half of a block unused). A decoder calls it
// once it has set everything: the next poll decodes into the same blocks, so a block trimmed
// once is neither grown nor trimmed again while its entity stays the same.
void TrimSlack(std::vector<EntityStats>* entities, size_t first);

}  // namespace kmb
