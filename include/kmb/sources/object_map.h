#pragma once
// Objects by key ("namespace/name"; a node: its name), as the watch cache keeps them and
// publishes them to each poll, without a key string: the key is read from the object itself
// (`KeyOf`, found by argument-dependent lookup), so an entry is one hash node holding the
// shared pointer and its hash. A std::unordered_map<std::string, ...> took ~64 bytes more per
// object (a 32-byte key in the node and the key's heap copy, "namespace/name" being longer than
// the 15 characters a std::string keeps inline), twice per pod: the cache's map and the copy each
// poll gets.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>

namespace kmb {

// A key in two parts, joined by '/' unless the first is empty: {namespace, name} or {"", name}.
using KeyParts = std::pair<std::string_view, std::string_view>;

namespace object_map_detail {

constexpr uint64_t kFnvBasis = 14695981039346656037ULL;
inline uint64_t Fnv(uint64_t h, std::string_view s) {
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return h;
}
// The same hash for "a/b" and {a, b}.
inline size_t HashOf(std::string_view key) { return Fnv(kFnvBasis, key); }
inline size_t HashOf(const KeyParts& k) {
  if (k.first.empty()) return Fnv(kFnvBasis, k.second);
  return Fnv(Fnv(Fnv(kFnvBasis, k.first), "/"), k.second);
}
inline bool Same(const KeyParts& a, const KeyParts& b) { return a == b; }
inline bool Same(std::string_view a, std::string_view b) { return a == b; }
inline bool Same(const KeyParts& a, std::string_view key) {
  if (a.first.empty()) return key == a.second;
  const size_t n = a.first.size();
  return key.size() == n + 1 + a.second.size() && key[n] == '/' && key.substr(0, n) == a.first &&
         key.substr(n + 1) == a.second;
}
inline bool Same(std::string_view key, const KeyParts& a) { return Same(a, key); }

}  // namespace object_map_detail

template <typename T>
class ObjectMap {
  using Ptr = std::shared_ptr<const T>;
  static KeyParts Key(const KeyParts& k) { return k; }
  static std::string_view Key(std::string_view k) { return k; }
  static KeyParts Key(const Ptr& p) { return KeyOf(*p); }

  struct Hash {
    using is_transparent = void;
    // Not noexcept: libstdc++ then keeps each node's hash, so that a probe compares hashes
    // before it reads an object's key, and a rehash does not hash again.
    template <typename K>
    size_t operator()(const K& k) const {  // NOLINT(bugprone-exception-escape)
      return object_map_detail::HashOf(Key(k));
    }
  };
  struct Eq {
    using is_transparent = void;
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return object_map_detail::Same(Key(a), Key(b));
    }
  };
  using Set = std::unordered_set<Ptr, Hash, Eq>;

 public:
  using const_iterator = typename Set::const_iterator;
  using iterator = const_iterator;

  const_iterator begin() const { return set_.begin(); }
  const_iterator end() const { return set_.end(); }
  size_t size() const { return set_.size(); }
  bool empty() const { return set_.empty(); }
  void reserve(size_t n) { set_.reserve(n); }
  void swap(ObjectMap& other) noexcept { set_.swap(other.set_); }

  const_iterator find(std::string_view key) const { return set_.find(key); }
  const_iterator find(const KeyParts& key) const { return set_.find(key); }
  size_t count(std::string_view key) const { return find(key) == end() ? 0 : 1; }
  const T& at(std::string_view key) const {
    auto it = find(key);
    if (it == end()) throw std::out_of_range("ObjectMap::at: no " + std::string(key));
    return **it;
  }
  // Adds `obj`, in place of the object with its key if there is one (its node is reused).
  void Put(Ptr obj) {
    auto it = set_.find(KeyOf(*obj));
    if (it == set_.end()) {
      set_.insert(std::move(obj));
      return;
    }
    auto node = set_.extract(it);
    node.value() = std::move(obj);
    set_.insert(std::move(node));
  }
  // Removes the object with this key; false when there is none.
  bool Erase(const KeyParts& key) {
    auto it = set_.find(key);
    if (it == set_.end()) return false;
    set_.erase(it);
    return true;
  }

 private:
  Set set_;
};

}  // namespace kmb
