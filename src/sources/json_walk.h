#pragma once
// Internal to the sources stage: a catalog-driven walker over JSON payloads (simdjson), shared by
// the Summary and Metrics API decoders.
//
// A Schema is compiled once from the catalog plus small tables (which keys hold child entities,
// which keys hold identity labels, which entities are derived). It is a trie of JSON keys per
// entity kind: every catalog path of that kind ("memory.psi.some.total"), every label key
// ("podRef.name") and every child-entity key ("containers"). The walker descends only into keys
// on the trie. Lookup(entity, path) on the trie gives exactly catalog::Find(entity, path) for the
// schema's source (a test checks this for every row).
//
// Two walks share that trie and all entity bookkeeping. The fast one runs over simdjson's DOM,
// whose kernels are chosen at run time for the CPU: now that the catalog names nearly every leaf
// of a Summary, there is little left to skip, and the DOM (about 3 GB/s on the 1.34 fixture here)
// beats the On-Demand front end, which is inlined into this file and so built for the generic
// target (simdjson's "fallback" kernel). The On-Demand walk decides whenever the DOM fails
// (malformed JSON, a bad number even where no row looks, nesting past 1024): it skips every
// subtree off the trie without materialising it, and its errors name the byte offset.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "kmb/catalog/catalog.h"
#include "kmb/sources/entity.h"
#include "kmb/util/status.h"

namespace simdjson {
namespace dom {
class element;
}  // namespace dom
}  // namespace simdjson

namespace kmb::walk {

// No such entity kind: for a ChildKey, a kind the catalog does not have yet (subtree skipped).
inline constexpr catalog::Entity kNoEntity = catalog::Entity::kCount;

// Most identity labels any entity kind has (catalog::LabelNames; a test checks every kind).
inline constexpr size_t kMaxLabels = 8;

// `path` (keys joined by '.') inside a `parent` object holds child entities of kind `child`: an
// array of objects, or one object.
//
// A child of the same kind as its parent (Summary: the interfaces[] inside a network object,
// itself the default interface) is recorded as the parent's sibling: both belong to the
// grandparent, whose labels they inherit.
//
// `unique`: entities of this kind are unique per parent and identity labels. One whose labels
// equal an earlier one's with the same parent is merged into it (per metric the first value
// wins) and dropped; one with no sample and none of its own labels set (an empty `{}`, or a
// Windows network object holding only "time" and "interfaces") is dropped.
struct ChildKey {
  catalog::Entity parent;
  std::string_view path;
  catalog::Entity child;
  bool unique = false;
};

// The string at `path` inside an `entity` object is the value of its identity label `label`.
struct LabelKey {
  catalog::Entity entity;
  std::string_view path;
  std::string_view label;
};

// Entities derived after the walk: for each entity of kind `from` whose label `label` is set,
// one entity of kind `to`, its labels copied from `from` by name and its samples remapped to
// the `to` rows of the same path (samples with no such row are left out). One per distinct
// label set of `to` (the first in payload order wins); they follow every walked entity.
// Summary: a PVC-backed pod volume gives the PVC's series.
struct DerivedKey {
  catalog::Entity from;
  std::string_view label;
  catalog::Entity to;
};

// How a string found where a catalog row's value belongs is read.
enum class StringValue : uint8_t {
  kNone,       // skipped
  kQuantity,   // resource.Quantity ("1.5Gi", "12345n"): a double
  kDuration,   // Go duration ("20.064s"): a double, in seconds
  kTimestamp,  // RFC 3339 ("2026-01-13T18:40:14Z"): an integer, in Unix milliseconds
};

struct SchemaSpec {
  const char* what = "";  // names the payload in error messages: "summary", "metrics-api"
  catalog::Source source = catalog::Source::kSummary;  // rows of this source become leaves
  // The catalog; tests substitute their own rows (a Sample's metric indexes this span).
  std::span<const catalog::MetricDef> rows = catalog::kMetrics;
  std::string_view time_key;  // key of the RFC 3339 time of the enclosing object
  std::span<const ChildKey> children;
  std::span<const LabelKey> labels;
  std::span<const DerivedKey> derived = {};
  // Document level. Either the document root holds entities under these keys (Summary: "node",
  // "pods") ...
  std::span<const ChildKey> document = {};  // parent is ignored
  // ... or the root is itself one entity of this kind, or a list of them under `list_key` when
  // that key is present or its "kind" ends in "List" (Metrics API).
  catalog::Entity document_entity = kNoEntity;
  std::string_view list_key = {};
  // How each row's value is read when the payload has a string there (Metrics API: Go
  // durations for rows in seconds, quantities otherwise; Summary: RFC 3339 times for
  // "startTime"). Null, or kNone for a row: such a string is skipped.
  StringValue (*string_value)(const catalog::MetricDef& row) = nullptr;
};

class Walker;

class Schema {
 public:
  explicit Schema(const SchemaSpec& spec);

  // The catalog row reached by `path` from an entity of this kind, or -1 (for tests).
  int Lookup(catalog::Entity entity, std::string_view path) const;

  // Decodes `body` (readable up to `capacity` bytes from body.data(); pass body.size() when
  // unknown) and writes entities to out[base...], reusing elements already there (their vectors
  // keep their capacity). On success out->size() is base + entities; on failure it is base.
  // A list document larger than a batch (the Metrics API's pod list: 12 MB at 1,000 nodes) is
  // parsed and walked ~1 MiB of items at a time, with the same result (see WalkListInBatches).
  Status Walk(std::string_view body, size_t capacity, std::vector<EntityStats>* out,
              size_t base) const;

 private:
  friend class Walker;
  friend class ListStream;
  // The whole document in one parse.
  Status WalkWhole(std::string_view body, size_t capacity, std::vector<EntityStats>* out,
                   size_t base) const;
  // The items of the root's `list_key` array, a batch at a time; false (out untouched) when the
  // body is not a list this can take (too small, malformed, a root time or an escaped key): the
  // whole walk then decides, and names any error.
  bool WalkListInBatches(std::string_view body, std::vector<EntityStats>* out, size_t base) const;
  // After a whole walk: removes the document's entity of a list, when the walk made one.
  void DropListEntity(const Walker& walker, std::vector<EntityStats>* out) const;
  // A key as the walker compares it: its length and first 16 bytes (zero-padded), so that most
  // comparisons are two integer compares and only keys over 16 bytes need a memcmp.
  struct KeyWords {
    uint64_t w0 = 0;
    uint64_t w1 = 0;
    uint32_t size = 0;
    static KeyWords Of(std::string_view key) {
      KeyWords k;
      k.size = static_cast<uint32_t>(key.size());
      std::memcpy(&k.w0, key.data(), key.size() < 8 ? key.size() : 8);
      if (key.size() > 8) std::memcpy(&k.w1, key.data() + 8, key.size() < 16 ? key.size() - 8 : 8);
      return k;
    }
    // Same, for a key whose buffer stays readable 16 bytes past its start (padded buffers).
    static KeyWords OfPadded(std::string_view key) {
      KeyWords k;
      k.size = static_cast<uint32_t>(key.size());
      std::memcpy(&k.w0, key.data(), 8);
      std::memcpy(&k.w1, key.data() + 8, 8);
      if (k.size < 16) {
        k.w1 = k.size <= 8 ? 0 : k.w1 & (~uint64_t{0} >> (64 - 8 * (k.size - 8)));
        if (k.size < 8) k.w0 = k.size == 0 ? 0 : k.w0 & (~uint64_t{0} >> (64 - 8 * k.size));
      }
      return k;
    }
    bool Matches(const KeyWords& other, std::string_view key, std::string_view other_key) const {
      return size == other.size && w0 == other.w0 && w1 == other.w1 &&
             (size <= 16 || std::memcmp(key.data() + 16, other_key.data() + 16, size - 16) == 0);
    }
  };
  struct Kid {
    KeyWords words;
    uint16_t node;
    const char* key;  // the whole key (bytes past the first 16 are compared with memcmp)
  };
  struct Node {
    std::string_view key;
    int16_t metric = -1;  // catalog row of a value leaf
    int8_t label = -1;    // index into catalog::LabelNames(entity) of a label leaf
    catalog::Entity child = kNoEntity;
    StringValue string_value = StringValue::kNone;
    bool list = false;  // the document's list key
    bool kind = false;  // the document's "kind"
    bool unique = false;  // ChildKey::unique of a child-entity key
    // In catalog order, which is the kubelet's (Go struct) field order: a scan that starts
    // after the previous match (see Find) mostly hits on its first compare. That beat hashing.
    std::vector<Kid> kids;
  };
  static constexpr size_t kKinds = static_cast<size_t>(catalog::Entity::kCount);

  uint16_t Insert(uint16_t from, std::string_view path);
  int Find(uint16_t node, std::string_view key) const {
    size_t hint = 0;
    return Find(node, key, KeyWords::Of(key), &hint);
  }
  // Scans the kids from *hint (wrapping around); on a match *hint becomes the next kid.
  int Find(uint16_t node, std::string_view key, const KeyWords& words, size_t* hint) const {
    const std::vector<Kid>& kids = nodes_[node].kids;
    const size_t count = kids.size();
    size_t i = *hint < count ? *hint : 0;
    for (size_t tried = 0; tried < count; ++tried) {
      const Kid& kid = kids[i];
      if (kid.words.Matches(words, kid.key, key)) {
        *hint = i + 1;
        return kid.node;
      }
      if (++i == count) i = 0;
    }
    return -1;
  }

  SchemaSpec spec_;
  KeyWords time_key_;
  std::vector<Node> nodes_;
  uint16_t roots_[kKinds] = {};
  uint16_t document_ = 0;
  // inherit_[child][parent][i]: index in the parent's labels of the child's label i, or -1.
  // A label the child's own object names (a LabelKey of the child's kind) is never inherited.
  int8_t inherit_[kKinds][kKinds][kMaxLabels] = {};
  // own_[kind][i]: label i of that kind comes from a LabelKey of that kind.
  bool own_[kKinds][kMaxLabels] = {};
};

// A list document walked as it arrives, with Schema::Walk's result, so that the body need not
// be held whole (the Metrics API's pod list: 12 MB at 1,000 nodes, 61 MB at 5,000): Start(),
// Feed() its bytes in any pieces, then Finish(). Its items are walked a batch at a time as in
// Schema::WalkListInBatches, and only the bytes not walked yet are held (about a batch, an item
// and the last piece). A body that batches cannot take is held whole from the start and walked
// whole, unless that shows only after batches were walked and let go: Finish() then gives no
// result, and the caller walks the body whole (fetches it again). Entities go to
// (*out)[base...] as Walk writes them.
class ListStream {
 public:
  ListStream(const Schema& schema, std::vector<EntityStats>* out, size_t base);
  ~ListStream();
  ListStream(const ListStream&) = delete;
  ListStream& operator=(const ListStream&) = delete;
  // From the body's first byte (again: a retried request).
  void Start();
  void Feed(std::string_view bytes);
  // Walk's status for the body, or nullopt (*out then ends at base): walk the body whole.
  std::optional<Status> Finish();
  // The most bytes of the body held at once (tests).
  size_t peak_held_bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---- JSON that is not walked along a schema (pods.cpp: pod and node lists and watch events) ----
// These parse with the decoder states of the Schema walks' pool, so that one pool holds every
// DOM parser the exporter keeps: no thread keeps one of its own. An element handed to a callback
// is valid during that call only.

// Parses `json` and hands its root to `use`. Null, or simdjson's message for a body that is not
// valid JSON (then `use` is not called). For small documents (a watch event): the pooled parser
// grows to the document.
const char* ParseDocument(std::string_view json,
                          const std::function<void(simdjson::dom::element)>& use);
// Parses `body`, a list document (an object whose key `list_key` holds the items), and calls
// `on_root` with the root, then `on_item` with each item of the list in order (none when the
// key is missing or not an array: `on_root` sees which). A list larger than a batch (64 KiB) is
// parsed a batch of items at a time, as Schema::Walk parses one: the root `on_root` gets then
// has an empty list, and no parser grows past a batch (or the largest single item). Should a
// batch fail to parse after items were handed out, `on_root` is called again with the whole
// document's root and every item follows again: `on_root` starts the caller's result over.
// Null, or simdjson's message for a body that is not valid JSON.
const char* ParseList(std::string_view body, std::string_view list_key,
                      const std::function<void(simdjson::dom::element)>& on_root,
                      const std::function<void(simdjson::dom::element)>& on_item);

// Tests: on this thread, skip the DOM fast path of Schema::Walk and decode with the On-Demand
// walk only (the two must agree).
void OnDemandOnlyForTest(bool on);
// Tests: on this thread, walk lists larger than `bytes` in batches of about that many bytes of
// items (0: the default, 1 MiB), so that small documents take the batched path too.
void ListBatchBytesForTest(size_t bytes);
// Tests: the largest capacity of the pooled decoder states' DOM parsers, in bytes.
size_t LargestParserCapacityForTest();
// Tests: drops the pooled decoder states not in use, so that a test sees only its own parsers.
void DropIdleDecoderStatesForTest();

// The schemas the decoders use, and their specs (defined next to the decoders; tests reuse the
// specs with rows of their own).
SchemaSpec SummarySpec();
SchemaSpec MetricsApiSpec(catalog::Entity document_entity);
const Schema& SummarySchema();
const Schema& NodeMetricsSchema();
const Schema& PodMetricsSchema();

}  // namespace kmb::walk
