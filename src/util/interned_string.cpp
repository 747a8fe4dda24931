#include "kmb/util/interned_string.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <unordered_set>

namespace kmb {

struct InternedString::Entry {
  explicit Entry(std::string_view t) : text(t) {}
  // Holders. Rising from 0 (a lookup) and falling to 0 (the last holder) both happen under
  // the table's lock, so an entry is never found after its removal was decided.
  std::atomic<uint32_t> refs{1};
  const std::string text;
};

namespace {

struct Hash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  size_t operator()(const InternedString::Entry* e) const { return (*this)(e->text); }
};
struct Eq {
  using is_transparent = void;
  static std::string_view View(std::string_view s) { return s; }
  static std::string_view View(const InternedString::Entry* e) { return e->text; }
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return View(a) == View(b);
  }
};

struct Table {
  std::mutex mu;
  std::unordered_set<InternedString::Entry*, Hash, Eq> entries;
};

Table& TheTable() {
  static Table* table = new Table;  // never destroyed: holders may outlive main()
  return *table;
}

const std::string& EmptyString() {
  static const std::string* empty = new std::string;
  return *empty;
}

}  // namespace

InternedString::InternedString(std::string_view text) {
  if (text.empty()) return;
  Table& t = TheTable();
  std::lock_guard<std::mutex> lock(t.mu);
  auto it = t.entries.find(text);
  if (it != t.entries.end()) {
    entry_ = *it;
    entry_->refs.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  entry_ = new Entry(text);
  t.entries.insert(entry_);
}

InternedString::InternedString(const InternedString& other) : entry_(other.entry_) {
  // The source holds a reference: the count is above 0 and cannot reach it meanwhile.
  if (entry_ != nullptr) entry_->refs.fetch_add(1, std::memory_order_relaxed);
}

InternedString& InternedString::operator=(const InternedString& other) {
  if (entry_ != other.entry_) {
    InternedString copy(other);
    std::swap(entry_, copy.entry_);
  }
  return *this;
}

InternedString& InternedString::operator=(InternedString&& other) noexcept {
  if (this != &other) {
    Release();
    entry_ = other.entry_;
    other.entry_ = nullptr;
  }
  return *this;
}

const std::string& InternedString::str() const {
  return entry_ != nullptr ? entry_->text : EmptyString();
}

void InternedString::Release() {
  Entry* e = entry_;
  if (e == nullptr) return;
  entry_ = nullptr;
  uint32_t refs = e->refs.load(std::memory_order_relaxed);
  while (refs > 1) {  // not the last holder: no lock
    if (e->refs.compare_exchange_weak(refs, refs - 1, std::memory_order_release,
                                      std::memory_order_relaxed)) {
      return;
    }
  }
  // Perhaps the last holder: decide under the lock, where lookups take new references.
  Table& t = TheTable();
  std::lock_guard<std::mutex> lock(t.mu);
  if (e->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    t.entries.erase(e);
    delete e;
  }
}

size_t InternedString::TableSizeForTest() {
  Table& t = TheTable();
  std::lock_guard<std::mutex> lock(t.mu);
  return t.entries.size();
}

}  // namespace kmb
