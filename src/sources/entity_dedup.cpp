#include "kmb/sources/entity_dedup.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

namespace kmb {
namespace {

// Each label hashed whole, 8 bytes at a time (std::hash, murmur in libstdc++), and the label
// hashes combined in order: a byte-at-a-time FNV over ~100 bytes per entity was 1.3% of the
// exporter's CPU. Equal hashes are compared label by label, so a collision costs only time.
uint64_t Hash(const EntityStats& e) {
  uint64_t h = 0x9e3779b97f4a7c15ULL ^ static_cast<uint64_t>(e.entity);
  for (std::string_view label : e.labels) {
    // ("ab", "c") and ("a", "bc") hash apart: each label is hashed on its own.
    h = (h ^ std::hash<std::string_view>{}(label)) * 0xff51afd7ed558ccdULL;
    h ^= h >> 32;
  }
  return h;
}

bool SameIdentity(const EntityStats& a, const EntityStats& b) {
  return a.entity == b.entity && a.labels == b.labels;
}

}  // namespace

size_t DropDuplicateEntities(std::vector<EntityStats>* entities) {
  std::vector<std::pair<uint64_t, size_t>> keys;  // (hash, index)
  keys.reserve(entities->size());
  for (size_t i = 0; i < entities->size(); ++i) keys.emplace_back(Hash((*entities)[i]), i);
  std::sort(keys.begin(), keys.end());
  std::vector<bool> drop;
  size_t dropped = 0;
  for (size_t i = 0; i < keys.size();) {
    size_t j = i + 1;
    while (j < keys.size() && keys[j].first == keys[i].first) ++j;
    // [i, j): same hash, in index order; drop each that equals an earlier one.
    for (size_t a = i + 1; a < j; ++a) {
      for (size_t b = i; b < a; ++b) {
        if (SameIdentity((*entities)[keys[a].second], (*entities)[keys[b].second])) {
          if (drop.empty()) drop.resize(entities->size());
          drop[keys[a].second] = true;
          ++dropped;
          break;
        }
      }
    }
    i = j;
  }
  if (dropped == 0) return 0;
  size_t out = 0;
  for (size_t i = 0; i < entities->size(); ++i) {
    if (!drop[i]) {
      if (out != i) (*entities)[out] = std::move((*entities)[i]);
      ++out;
    }
  }
  entities->resize(out);
  return dropped;
}

}  // namespace kmb
