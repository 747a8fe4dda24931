#pragma once
// A string held once per process however many objects hold it: the watch cache's pods repeat a
// few values (namespace, node, phase, QoS class, owner kind, container names, images) 150,000
// times in a 5,000-node cluster, and a std::string is 32 bytes before its text (images are
// longer than the 15 bytes kept inline, so each copy also had a heap block of its own).
//
// An InternedString is one pointer to a shared, reference-counted entry of a process-wide
// table; the entry is removed with its last holder, so values that come and go (image tags
// of rolled-out deployments, nodes of an autoscaler) do not pile up. The empty string holds no
// entry. Reads are plain (the text never changes); interning takes the table's lock, copies
// count atomically.

#include <cstddef>
#include <ostream>
#include <string>
#include <string_view>

namespace kmb {

class InternedString {
 public:
  InternedString() = default;
  InternedString(std::string_view text);  // NOLINT(google-explicit-constructor): a string value
  InternedString(const std::string& text) : InternedString(std::string_view(text)) {}  // NOLINT
  InternedString(const char* text) : InternedString(std::string_view(text)) {}         // NOLINT
  InternedString(const InternedString& other);
  InternedString(InternedString&& other) noexcept : entry_(other.entry_) { other.entry_ = nullptr; }
  InternedString& operator=(const InternedString& other);
  InternedString& operator=(InternedString&& other) noexcept;
  ~InternedString() { Release(); }

  const std::string& str() const;
  operator const std::string&() const { return str(); }  // NOLINT(google-explicit-constructor)
  operator std::string_view() const { return str(); }    // NOLINT(google-explicit-constructor)
  std::string_view view() const { return str(); }
  const char* c_str() const { return str().c_str(); }
  const char* data() const { return str().data(); }
  size_t size() const { return str().size(); }
  bool empty() const { return entry_ == nullptr; }

  friend bool operator==(const InternedString& a, const InternedString& b) {
    return a.entry_ == b.entry_;  // one entry per distinct text
  }
  friend bool operator==(const InternedString& a, std::string_view b) { return a.view() == b; }
  friend bool operator==(const InternedString& a, const std::string& b) { return a.view() == b; }
  friend bool operator==(const InternedString& a, const char* b) { return a.view() == b; }
  friend auto operator<=>(const InternedString& a, const InternedString& b) {
    return a.view() <=> b.view();
  }
  friend std::string operator+(const std::string& a, const InternedString& b) {
    return a + b.str();
  }
  friend std::string operator+(const InternedString& a, const std::string& b) {
    return a.str() + b;
  }
  friend std::string operator+(const char* a, const InternedString& b) { return a + b.str(); }
  friend std::string operator+(const InternedString& a, const char* b) { return a.str() + b; }
  friend std::ostream& operator<<(std::ostream& os, const InternedString& s) {
    return os << s.view();
  }

  // Distinct texts held right now (tests: the table empties with its holders).
  static size_t TableSizeForTest();

  struct Entry;

 private:
  void Release();
  Entry* entry_ = nullptr;
};

}  // namespace kmb
