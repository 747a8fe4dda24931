#pragma once
// Internal to the sources stage: a catalog-driven walker over JSON payloads (simdjson On-Demand),
// shared by the Summary and Metrics API decoders.
//
// A Schema is compiled once from the catalog plus two small tables (which keys hold child
// entities, which keys hold identity labels). It is a trie of JSON keys per entity kind: every
// catalog path of that kind ("memory.psi.some.total"), every label key ("podRef.name") and every
// child-entity key ("containers"). The walker descends only into keys on the trie and lets
// simdjson skip every other subtree without materialising it, which is what keeps decoding near
// parsing speed. Lookup(entity, path) on the trie gives exactly catalog::Find(entity, path) for
// the schema's source (a test checks this for every row).

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "kmb/catalog/catalog.h"
#include "kmb/sources/entity.h"
#include "kmb/util/status.h"

namespace kmb::walk {

// No such entity kind: for a ChildKey, a kind the catalog does not have yet (subtree skipped).
inline constexpr catalog::Entity kNoEntity = catalog::Entity::kCount;

// `path` (keys joined by '.') inside a `parent` object holds child entities of kind `child`: an
// array of objects, or one object.
struct ChildKey {
  catalog::Entity parent;
  std::string_view path;
  catalog::Entity child;
};

// The string at `path` inside an `entity` object is the value of its identity label `label`.
struct LabelKey {
  catalog::Entity entity;
  std::string_view path;
  std::string_view label;
};

struct SchemaSpec {
  const char* what = "";  // names the payload in error messages: "summary", "metrics-api"
  catalog::Source source = catalog::Source::kSummary;  // rows of this source become leaves
  // The catalog; tests substitute their own rows (a Sample's metric indexes this span).
  std::span<const catalog::MetricDef> rows = catalog::kMetrics;
  std::string_view time_key;  // key of the RFC 3339 time of the enclosing object
  std::span<const ChildKey> children;
  std::span<const LabelKey> labels;
  // Document level. Either the document root holds entities under these keys (Summary: "node",
  // "pods") ...
  std::span<const ChildKey> document = {};  // parent is ignored
  // ... or the root is itself one entity of this kind, or a list of them under `list_key` when
  // that key is present or its "kind" ends in "List" (Metrics API).
  catalog::Entity document_entity = kNoEntity;
  std::string_view list_key = {};
  // Metrics API values are strings: Go durations for rows in seconds, quantities otherwise.
  // When false, a string where a number belongs is skipped.
  bool string_values = false;
};

class Schema {
 public:
  explicit Schema(const SchemaSpec& spec);

  // The catalog row reached by `path` from an entity of this kind, or -1 (for tests).
  int Lookup(catalog::Entity entity, std::string_view path) const;

  // Decodes `body` (readable up to `capacity` bytes from body.data(); pass body.size() when
  // unknown) and writes entities to out[base...], reusing elements already there (their vectors
  // keep their capacity). On success out->size() is base + entities; on failure it is base.
  Status Walk(std::string_view body, size_t capacity, std::vector<EntityStats>* out,
              size_t base) const;

 private:
  friend class Walker;
  enum class StringValue : uint8_t { kNone, kQuantity, kDuration };
  struct Node {
    std::string_view key;
    int16_t metric = -1;  // catalog row of a value leaf
    int8_t label = -1;    // index into catalog::LabelNames(entity) of a label leaf
    catalog::Entity child = kNoEntity;
    StringValue string_value = StringValue::kNone;
    bool list = false;  // the document's list key
    bool kind = false;  // the document's "kind"
    std::vector<uint16_t> kids;
  };
  static constexpr size_t kKinds = static_cast<size_t>(catalog::Entity::kCount);

  uint16_t Insert(uint16_t from, std::string_view path);
  int Find(uint16_t node, std::string_view key) const {
    for (uint16_t k : nodes_[node].kids) {
      if (nodes_[k].key == key) return k;
    }
    return -1;
  }

  SchemaSpec spec_;
  std::vector<Node> nodes_;
  uint16_t roots_[kKinds] = {};
  uint16_t document_ = 0;
  // inherit_[child][parent][i]: index in the parent's labels of the child's label i, or -1.
  int8_t inherit_[kKinds][kKinds][4] = {};
};

// The schemas the decoders use, and their specs (defined next to the decoders; tests reuse the
// specs with rows of their own).
SchemaSpec SummarySpec();
SchemaSpec MetricsApiSpec(catalog::Entity document_entity);
const Schema& SummarySchema();
const Schema& NodeMetricsSchema();
const Schema& PodMetricsSchema();

}  // namespace kmb::walk
