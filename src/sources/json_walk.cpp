#include "json_walk.h"

#include <simdjson.h>

#include <algorithm>
#include <bit>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "kmb/sources/quantity.h"

namespace kmb::walk {

namespace od = simdjson::ondemand;
namespace dom = simdjson::dom;
using catalog::Entity;

namespace {

// Our own recursion never goes deeper than this; simdjson skips deeper subtrees iteratively.
constexpr int kMaxDepth = 64;
// A block time (milliseconds) not parsed (yet).
constexpr int64_t kNoTime = std::numeric_limits<int64_t>::min();
// After a body larger than this the decoder state's parsers and buffer are released: a parser
// keeps several bytes of index per input byte, too much to hold for one rare huge list.
constexpr size_t kRetainBytes = size_t{16} << 20;
// Entities dropped from an output (merged duplicates, the tail of a shorter decode) wait in the
// decoder state for its next decode, so that their vectors' capacity is reused.
constexpr size_t kMaxSpare = 4096;
// Lists larger than this are parsed a batch of items of about this size at a time: a DOM parser
// of the whole list would keep ~14 bytes per byte of it (see WalkListInBatches). 64 KiB: a
// batch then fits the parser a node's Summary already grew, so the Metrics API's list needs
// no larger one, and decodes as fast as in 256 KiB batches (`micro_bench`).
constexpr size_t kListBatchBytes = size_t{1} << 16;
thread_local size_t t_list_batch_bytes = 0;  // tests: 0 = kListBatchBytes

size_t KindIndex(Entity e) { return static_cast<size_t>(e); }

// Reusable decoder state, leased per decode from StatePool: decoding allocates nothing once
// these have grown.
struct DecoderState {
  dom::parser dom_parser;
  od::parser parser;
  std::unique_ptr<char[]> buffer;  // padded copy of bodies that come without padding
  size_t buffer_size = 0;
  // `pieces` laid end to end in `buffer`, followed by simdjson's zeroed padding.
  std::string_view PaddedCopy(std::initializer_list<std::string_view> pieces) {
    size_t len = 0;
    for (std::string_view piece : pieces) len += piece.size();
    if (buffer_size < len + simdjson::SIMDJSON_PADDING) {
      buffer_size = len + simdjson::SIMDJSON_PADDING;
      buffer = std::make_unique<char[]>(buffer_size);
    }
    char* p = buffer.get();
    for (std::string_view piece : pieces) p = std::copy(piece.begin(), piece.end(), p);
    std::memset(p, 0, simdjson::SIMDJSON_PADDING);
    return {buffer.get(), len};
  }
  std::vector<int32_t> parents;  // parent entity (absolute index) of each new entity, or -1
  std::vector<EntityStats> spare;
};

// Decoder states are leased for one Walk from a pool of at most 2-4 (the cores, capped): a
// dom::parser keeps ~14 bytes per byte of the largest body it parsed (structural index, tape,
// strings), and one per poll worker (17 threads) held 77 MB of a 207 MB heap at 100 nodes
// (heaptrack), while only as many decodes as there are cores make progress at a time. A worker
// that finds none free waits (a decode is ~0.5 ms); the HTTP fetches stay concurrent.
class StatePool {
 public:
  static StatePool& Get() {
    static StatePool* pool = new StatePool;  // never destroyed: leases may outlive main()
    return *pool;
  }
  // The idle state with the smallest parser that fits `len` bytes; else a new one while under
  // the limit; else the largest idle one (its parser grows). So one rare large body (the
  // Metrics API's pod list, 1.5 MB at 3,000 pods) grows one parser, which the next large body
  // finds again, instead of every pooled parser in turn growing to ~14x its size.
  std::unique_ptr<DecoderState> Acquire(size_t len) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !idle_.empty() || created_ < limit_; });
    auto best = idle_.end(), largest = idle_.end();
    for (auto it = idle_.begin(); it != idle_.end(); ++it) {
      const size_t cap = (*it)->dom_parser.capacity();
      if (cap >= len && (best == idle_.end() || cap < (*best)->dom_parser.capacity())) best = it;
      if (largest == idle_.end() || cap > (*largest)->dom_parser.capacity()) largest = it;
    }
    if (best == idle_.end() && created_ < limit_) {
      ++created_;
      return std::make_unique<DecoderState>();
    }
    auto pick = best != idle_.end() ? best : largest;
    std::unique_ptr<DecoderState> s = std::move(*pick);
    idle_.erase(pick);
    return s;
  }
  // Drops the idle states (their parsers with them).
  void DropIdle() {
    std::lock_guard<std::mutex> lock(mu_);
    created_ -= idle_.size();
    idle_.clear();
  }
  size_t LargestCapacity() {
    std::lock_guard<std::mutex> lock(mu_);
    size_t largest = 0;
    for (const auto& s : idle_) largest = std::max(largest, s->dom_parser.capacity());
    return largest;
  }
  void Release(std::unique_ptr<DecoderState> s) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      idle_.push_back(std::move(s));
    }
    cv_.notify_one();
  }

 private:
  StatePool() : limit_(std::clamp<size_t>(std::thread::hardware_concurrency(), 2, 4)) {}
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<DecoderState>> idle_;
  size_t created_ = 0;
  const size_t limit_;
};

// One Walk's decoder state, returned to the pool on every exit.
class StateLease {
 public:
  explicit StateLease(size_t len) : state_(StatePool::Get().Acquire(len)) {}
  ~StateLease() { StatePool::Get().Release(std::move(state_)); }
  StateLease(const StateLease&) = delete;
  StateLease& operator=(const StateLease&) = delete;
  DecoderState& operator*() { return *state_; }

 private:
  std::unique_ptr<DecoderState> state_;
};

thread_local bool t_on_demand_only = false;

// JSON's whitespace (RFC 8259: space, tab, line feed, carriage return).
bool JsonBlank(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// Where a list document's items are, found by a scan of its bytes that follows only strings and
// brackets (no parse, ~2 GB/s): the spans of runs of whole items of about `batch` bytes each, and
// the list array's brackets. False when the document is not a list that batches can take: not
// an object, the list key missing or there twice, a key with an escape (the walk compares keys
// unescaped), a time at the root (it would stamp the items), anything but commas and blanks
// between items, or an end before the end. What the scan does not check (the items, the rest
// of the root) the parses of the batches and of the root without its items do. ListStream
// scans a body as it arrives with the same steps, from a given offset: Head tells a body cut
// short (kShort, more bytes may settle it) from one batches cannot take (kOdd).
class ListScan {
 public:
  struct Layout {
    size_t open = 0;   // the list array's '['
    size_t close = 0;  // its ']'
    std::vector<std::pair<size_t, size_t>> batches;  // [begin, end) of each run of items
  };
  enum class Scan { kOk, kOdd, kShort };
  explicit ListScan(std::string_view doc, size_t from = 0)
      : begin_(doc.data()), p_(doc.data() + from), end_(doc.data() + doc.size()) {}

  bool Run(std::string_view list_key, std::string_view time_key, size_t batch, Layout* out) {
    return Head(list_key, time_key, &out->open) == Scan::kOk && Items(batch, out) &&
           Tail(list_key, time_key);
  }

  // From the document's start through its list's '[' (at *open; the scan then goes on after
  // it): the root's '{' and the keys before the list.
  Scan Head(std::string_view list_key, std::string_view time_key, size_t* open) {
    Blanks();
    if (p_ == end_) return Scan::kShort;
    if (!Eat('{')) return Scan::kOdd;
    for (;;) {
      Blanks();
      if (p_ == end_) return Scan::kShort;
      if (*p_ != '"') return Scan::kOdd;  // '}' included: a root without the list
      std::string_view key;
      if (!Key(&key)) return Scan::kShort;  // the key's closing quote is still to come
      if (key.find('\\') != std::string_view::npos || key == time_key) return Scan::kOdd;
      Blanks();
      if (p_ == end_) return Scan::kShort;
      if (!Eat(':')) return Scan::kOdd;
      Blanks();
      if (p_ == end_) return Scan::kShort;
      if (key == list_key) {
        if (*p_ != '[') return Scan::kOdd;
        *open = Offset();
        ++p_;
        return Scan::kOk;
      }
      if (!Value()) return p_ == end_ ? Scan::kShort : Scan::kOdd;
      Blanks();
      if (p_ == end_) return Scan::kShort;  // a scalar may go on, a ',' may follow
      if (!Eat(',')) return Scan::kOdd;
    }
  }

  // After the list's ']': the root's other keys (neither the list's again nor the time) and its
  // '}', then nothing.
  bool Tail(std::string_view list_key, std::string_view time_key) {
    for (;;) {
      Blanks();
      if (Eat('}')) break;
      if (!Eat(',')) return false;
      Blanks();
      std::string_view key;
      if (p_ == end_ || *p_ != '"' || !Key(&key)) return false;
      if (key.find('\\') != std::string_view::npos || key == time_key || key == list_key) {
        return false;
      }
      Blanks();
      if (!Eat(':')) return false;
      Blanks();
      if (!Value()) return false;
    }
    Blanks();
    return p_ == end_;
  }

  void Blanks() {
    while (p_ < end_ && JsonBlank(*p_)) ++p_;
  }
  bool Eat(char c) {
    if (p_ == end_ || *p_ != c) return false;
    ++p_;
    return true;
  }
  bool AtEnd() const { return p_ == end_; }
  char Peek() const { return *p_; }
  size_t Offset() const { return static_cast<size_t>(p_ - begin_); }
  // Moves past one value: a string, an object or array (brackets counted, not matched: a
  // mismatch fails the batch's parse), or a scalar (up to the next delimiter). False at a
  // delimiter, or when the bytes end first (AtEnd()).
  bool Value() {
    if (p_ == end_) return false;
    if (*p_ == '"') return String();
    if (*p_ == '{' || *p_ == '[') {
      size_t depth = 0;
      while (p_ < end_) {
        switch (*p_) {
          case '"':
            if (!String()) return false;
            continue;
          case '{':
          case '[':
            ++depth;
            break;
          case '}':
          case ']':
            if (--depth == 0) {
              ++p_;
              return true;
            }
            break;
          default:
            break;
        }
        ++p_;
      }
      return false;
    }
    const char* start = p_;
    while (p_ < end_ && !JsonBlank(*p_) && *p_ != ',' && *p_ != '}' && *p_ != ']') ++p_;
    return p_ > start;
  }

  // Where a scan of a list's items stands between calls of NextRun, as offsets in the bytes:
  // a body scanned whole (Items) calls it until the ']', a body arriving in pieces (ListStream)
  // again from `pos` with each piece.
  struct ItemRuns {
    size_t pos = 0;           // where the scan goes on (just after the list's '[' at first)
    bool after_item = false;  // an item ends at `pos`: a ',' or the ']' comes next
    bool any_item = false;    // the list is not empty
    size_t first = std::string_view::npos, last = 0;  // the run not handed out: [first, last)
  };
  enum class Step {
    kRun,    // *run is a run of items of more than `batch` bytes with the next item (which
             // begins the run now in `runs`), or an item larger than that on its own
    kClose,  // the list's ']' is at runs->pos; the run in `runs` (if any) is its last
    kShort,  // the bytes end first; more may settle it (a scalar may go on): the scan goes on
             // from runs->pos, the start of the item cut short or past the blanks read
    kOdd,    // not a list of items batches can take
  };
  // The list's items from runs->pos, cut into runs of about `batch` bytes.
  Step NextRun(size_t batch, ItemRuns* runs, std::pair<size_t, size_t>* run) {
    p_ = begin_ + runs->pos;
    for (;;) {
      Blanks();
      if (p_ == end_) {
        runs->pos = Offset();
        return Step::kShort;
      }
      if (runs->after_item) {
        if (Eat(',')) {
          runs->after_item = false;
          runs->pos = Offset();
          continue;
        }
        if (*p_ != ']') return Step::kOdd;
        runs->pos = Offset();
        return Step::kClose;
      }
      if (*p_ == ']' && !runs->any_item) {
        runs->pos = Offset();
        return Step::kClose;
      }
      const size_t at = Offset();
      const bool complete = Value();
      const bool cut = p_ == end_;
      const size_t end = Offset();
      Blanks();
      if (cut || p_ == end_) {
        runs->pos = at;
        return Step::kShort;
      }
      if (!complete) return Step::kOdd;
      runs->any_item = runs->after_item = true;
      runs->pos = end;
      const bool full = runs->first != std::string_view::npos && end - runs->first > batch;
      if (full) *run = {runs->first, runs->last};
      if (full || runs->first == std::string_view::npos) runs->first = at;
      runs->last = end;
      if (full) return Step::kRun;
    }
  }

 private:
  // At a '"': moves past the closing quote (one not escaped by an odd run of backslashes).
  // False when the bytes end first.
  bool String() {
    const char* q = p_ + 1;
    for (;;) {
      q = static_cast<const char*>(std::memchr(q, '"', static_cast<size_t>(end_ - q)));
      if (q == nullptr) {
        p_ = end_;
        return false;
      }
      const char* b = q;
      while (b > p_ + 1 && b[-1] == '\\') --b;
      if (((q - b) & 1) == 0) {
        p_ = q + 1;
        return true;
      }
      ++q;
    }
  }
  // At a '"': the key, unescaped as written.
  bool Key(std::string_view* key) {
    const char* key_begin = p_ + 1;
    if (!String()) return false;
    *key = std::string_view(key_begin, static_cast<size_t>(p_ - 1 - key_begin));
    return true;
  }
  // Just after the list's '[': its items, cut into runs of at most `batch` bytes (an item
  // larger than that is a run of its own), through its ']'.
  bool Items(size_t batch, Layout* out) {
    ItemRuns runs{.pos = Offset()};
    std::pair<size_t, size_t> run;
    for (;;) {
      switch (NextRun(batch, &runs, &run)) {
        case Step::kRun:
          out->batches.push_back(run);
          continue;
        case Step::kClose:
          if (runs.first != std::string_view::npos)
            out->batches.emplace_back(runs.first, runs.last);
          out->close = runs.pos;
          p_ = begin_ + runs.pos + 1;
          return true;
        case Step::kShort:
        case Step::kOdd:
          return false;
      }
    }
  }

  const char* begin_;
  const char* p_;
  const char* end_;
};

// Shrinks `out` to `size`, keeping the removed elements as spares.
void Truncate(std::vector<EntityStats>* out, size_t size, std::vector<EntityStats>* spare) {
  for (size_t i = size; i < out->size() && spare->size() < kMaxSpare; ++i) {
    spare->push_back(std::move((*out)[i]));
  }
  out->resize(std::min(size, out->size()));
}

size_t ListBatchBytes() { return t_list_batch_bytes != 0 ? t_list_batch_bytes : kListBatchBytes; }
// What a decoder state is leased for to parse batches: a batch, and the room a run of items
// may take past it.
size_t BatchParserBytes() { return ListBatchBytes() + ListBatchBytes() / 4; }

// True, with the layout of its items, when `body` is a list document larger than a batch that
// batches can take (ListScan).
bool ScanList(std::string_view body, std::string_view list_key, std::string_view time_key,
              ListScan::Layout* layout) {
  return !list_key.empty() && body.size() > ListBatchBytes() &&
         ListScan(body).Run(list_key, time_key, ListBatchBytes(), layout);
}

// The opening of a run of a list's items as a document of its own: {"<list_key>":[
std::string RunHead(std::string_view list_key) { return "{\"" + std::string(list_key) + "\":["; }

// Parses with `st`'s DOM parser the run of items `items` as a document of its own, `head` (its
// RunHead), the items and "]}", copied into `st`'s buffer (*doc): the parser never grows past
// the run.
bool ParseRun(DecoderState& st, std::string_view head, std::string_view items,
              std::string_view* doc, dom::element* root) {
  *doc = st.PaddedCopy({head, items, "]}"});
  return st.dom_parser.parse(doc->data(), doc->size(), /*realloc_if_needed=*/false).get(*root) ==
         simdjson::SUCCESS;
}

// The batched parse both list decoders share (Schema::WalkListInBatches, ParseList): with `st`'s
// DOM parser, the root without its items (whose list is then empty), handed to `on_root`, then
// each run of items of `layout` (ParseRun), handed to `on_batch` with its document and root,
// which returns false to stop. False when a parse failed or `on_batch` stopped.
template <typename OnRoot, typename OnBatch>
bool ParseBatches(DecoderState& st, std::string_view body, const ListScan::Layout& layout,
                  std::string_view list_key, OnRoot on_root, OnBatch on_batch) {
  const std::string_view root_doc =
      st.PaddedCopy({body.substr(0, layout.open + 1), body.substr(layout.close)});
  dom::element root;
  if (st.dom_parser.parse(root_doc.data(), root_doc.size(), false).get(root) != simdjson::SUCCESS) {
    return false;
  }
  on_root(root);
  const std::string head = RunHead(list_key);
  for (const auto& [begin, end] : layout.batches) {
    std::string_view doc;
    if (!ParseRun(st, head, body.substr(begin, end - begin), &doc, &root) || !on_batch(doc, root)) {
      return false;
    }
  }
  return true;
}

}  // namespace

Schema::Schema(const SchemaSpec& spec) : spec_(spec), time_key_(KeyWords::Of(spec.time_key)) {
  nodes_.reserve(64);
  for (size_t k = 0; k < kKinds; ++k) {
    nodes_.emplace_back();
    roots_[k] = static_cast<uint16_t>(nodes_.size() - 1);
  }
  for (size_t i = 0; i < spec.rows.size(); ++i) {
    const catalog::MetricDef& def = spec.rows[i];
    if (def.source != spec.source || def.path.empty()) continue;
    Node& leaf = nodes_[Insert(roots_[KindIndex(def.entity)], def.path)];
    leaf.metric = static_cast<int16_t>(i);
    if (spec.string_value != nullptr) leaf.string_value = spec.string_value(def);
  }
  for (size_t k = 0; k < kKinds; ++k) {
    if (catalog::LabelNames(static_cast<Entity>(k)).size() > kMaxLabels) {
      std::fprintf(stderr, "json_walk: entity kind %zu has more than %zu labels\n", k, kMaxLabels);
      std::abort();
    }
  }
  for (const LabelKey& lk : spec.labels) {
    const auto names = catalog::LabelNames(lk.entity);
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] == lk.label) {
        nodes_[Insert(roots_[KindIndex(lk.entity)], lk.path)].label = static_cast<int8_t>(i);
        own_[KindIndex(lk.entity)][i] = true;
      }
    }
  }
  for (const ChildKey& ck : spec.children) {
    if (ck.child == kNoEntity) continue;  // not in the catalog yet: left to simdjson to skip
    Node& n = nodes_[Insert(roots_[KindIndex(ck.parent)], ck.path)];
    n.child = ck.child;
    n.unique = ck.unique;
  }
  nodes_.emplace_back();
  document_ = static_cast<uint16_t>(nodes_.size() - 1);
  if (spec.document_entity != kNoEntity) {
    // The root is an entity too: start from a copy of that kind's keys.
    nodes_[document_].kids = nodes_[roots_[KindIndex(spec.document_entity)]].kids;
    Node& list = nodes_[Insert(document_, spec.list_key)];
    list.child = spec.document_entity;
    list.list = true;
    nodes_[Insert(document_, "kind")].kind = true;
  }
  for (const ChildKey& ck : spec.document) {
    nodes_[Insert(document_, ck.path)].child = ck.child;
  }
  for (size_t c = 0; c < kKinds; ++c) {
    const auto child_names = catalog::LabelNames(static_cast<Entity>(c));
    for (size_t p = 0; p < kKinds; ++p) {
      const auto parent_names = catalog::LabelNames(static_cast<Entity>(p));
      for (size_t i = 0; i < kMaxLabels; ++i) {
        inherit_[c][p][i] = -1;
        if (own_[c][i]) continue;
        for (size_t j = 0; i < child_names.size() && j < parent_names.size(); ++j) {
          if (child_names[i] == parent_names[j]) inherit_[c][p][i] = static_cast<int8_t>(j);
        }
      }
    }
  }
}

uint16_t Schema::Insert(uint16_t from, std::string_view path) {
  uint16_t node = from;
  while (true) {
    const size_t dot = path.find('.');
    const std::string_view key = path.substr(0, dot);
    int next = Find(node, key);
    if (next < 0) {
      nodes_.emplace_back();
      nodes_.back().key = key;
      next = static_cast<int>(nodes_.size() - 1);
      nodes_[node].kids.push_back(Kid{KeyWords::Of(key), static_cast<uint16_t>(next), key.data()});
    }
    node = static_cast<uint16_t>(next);
    if (dot == std::string_view::npos) return node;
    path.remove_prefix(dot + 1);
  }
}

int Schema::Lookup(Entity entity, std::string_view path) const {
  if (entity == kNoEntity) return -1;
  int node = roots_[KindIndex(entity)];
  while (node >= 0) {
    const size_t dot = path.find('.');
    node = Find(static_cast<uint16_t>(node), path.substr(0, dot));
    if (dot == std::string_view::npos) break;
    path.remove_prefix(dot + 1);
  }
  return node < 0 ? -1 : nodes_[node].metric;
}

// One decode: walks the document along the schema's trie.
class Walker {
 public:
  Walker(const Schema& schema, const char* buf, size_t len, std::vector<EntityStats>* out,
         size_t base, std::vector<int32_t>* parents, std::vector<EntityStats>* spare)
      : s_(schema),
        buf_(buf),
        len_(len),
        out_(out),
        base_(base),
        used_(base),
        parents_(parents),
        spare_(spare) {
    parents_->clear();
  }

  simdjson::error_code WalkDocument(od::document& doc);
  simdjson::error_code WalkDocument(dom::element root);
  // A batch of a list's items wrapped as {"<list_key>":[...]}: the items only, no entity for
  // the document (see Schema::WalkListInBatches).
  simdjson::error_code WalkBatch(dom::element root);
  // Completes the walked entities. With `truncate`, out ends after them (the elements past it
  // become spares); a batch leaves them there for the next batch to reuse.
  void Finish(bool truncate = true);
  size_t used() const { return used_; }
  bool root_is_object() const { return root_is_object_; }
  const char* error_at() const { return error_at_; }
  std::string_view kind() const { return kind_; }
  bool list_seen() const { return list_seen_; }
  // The document's own entity (spec.document_entity), or -1 when the walk never needed it: it
  // is made when the first label, value or child entity is written to it, so a list, whose root
  // only holds items, makes none and its items take the places from `base` on.
  int32_t document_entity() const { return doc_; }

 private:
  using Node = Schema::Node;
  // Stands for the document's entity until something is written to it (see document_entity).
  static constexpr int32_t kDocument = -2;
  // `entity`, with kDocument as the document's entity if it exists yet (else -1).
  int32_t Existing(int32_t entity) const { return entity == kDocument ? doc_ : entity; }
  // `entity`, with kDocument as the document's entity, made now if need be.
  int32_t Need(int32_t entity) {
    if (entity != kDocument) return entity;
    if (doc_ < 0) doc_ = NewEntity(s_.spec_.document_entity, -1);
    return doc_;
  }

  simdjson::error_code WalkObject(od::object obj, uint16_t node, int32_t entity, int depth);
  simdjson::error_code WalkChildren(od::value value, od::json_type type, const Node& key,
                                    int32_t parent, int depth);
  simdjson::error_code WalkEntity(od::value value, const Node& key, int32_t parent, int depth);
  int32_t NewEntity(Entity kind, int32_t parent);
  int32_t& ParentOf(size_t idx) { return (*parents_)[idx - base_]; }
  void MakeUnique(size_t idx);
  void Merge(size_t from, size_t into);
  void Remove(size_t idx);
  void Derive(const DerivedKey& dk, size_t walked);
  simdjson::error_code Leaf(od::value value, od::json_type type, const Node& n, int32_t entity);
  // The same walk over a DOM tree (see Schema::Walk).
  simdjson::error_code WalkObject(dom::object obj, uint16_t node, int32_t entity, int depth);
  simdjson::error_code WalkChildren(dom::element value, const Node& key, int32_t parent, int depth);
  simdjson::error_code WalkEntity(dom::object obj, const Node& key, int32_t parent, int depth);
  void Leaf(dom::element value, const Node& n, int32_t entity);
  // Shared by both walks.
  void StringLeaf(std::string_view text, const Node& n, int32_t entity);
  void Stamp(int32_t entity, size_t first_sample, size_t first_entity, int64_t time);
  simdjson::error_code Key(od::field& field, std::string_view* key, Schema::KeyWords* words);
  int64_t ParseTime(std::string_view text);

  const Schema& s_;
  const char* buf_;
  size_t len_;
  std::vector<EntityStats>* out_;
  size_t base_;
  size_t used_;
  std::vector<int32_t>* parents_;
  std::vector<EntityStats>* spare_;
  std::string kind_;
  bool list_seen_ = false;
  bool root_is_object_ = false;
  const char* error_at_ = nullptr;  // where a value failed to parse, when known
  int32_t doc_ = -1;                 // the document's entity once made (see document_entity)
  // Most blocks of a payload share a few timestamps: remember the last one parsed. The view
  // points into the parser's string buffer, valid for the whole document.
  std::string_view last_time_text_;
  int64_t last_time_ms_ = kNoTime;
};

int64_t Walker::ParseTime(std::string_view text) {
  if (text != last_time_text_) {
    last_time_text_ = text;
    last_time_ms_ = ParseRfc3339Millis(text).value_or(kNoTime);
  }
  return last_time_ms_;
}

static_assert(std::endian::native == std::endian::little,
              "Key() reads keys as little-endian words");

// Bytes of `w` equal to `c`: their high bits set, exact up to the lowest such byte.
inline uint64_t BytesEqual(uint64_t w, uint64_t c) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  const uint64_t x = w ^ (c * kOnes);
  return (x - kOnes) & ~x & (kOnes << 7);
}

simdjson::error_code Walker::Key(od::field& field, std::string_view* key, Schema::KeyWords* words) {
  // The raw key is the fast path: stage 1 guarantees its closing quote lies inside the body,
  // and the buffer is padded, so reading it 8 bytes at a time stays in bounds.
  const char* start = field.key().raw();
  const char* end = buf_ + len_;
  // Scalars, not an array: an array written by index and read back whole stalls the CPU.
  uint64_t w0 = 0;
  uint64_t w1 = 0;
  for (size_t i = 0;; i += 8) {
    if (start + i >= end) return simdjson::TAPE_ERROR;
    uint64_t word;
    std::memcpy(&word, start + i, 8);
    const uint64_t quote = BytesEqual(word, '"');
    const uint64_t stop = quote | BytesEqual(word, '\\');
    if (stop != 0) {
      if ((stop & -stop) != (quote & -quote)) break;  // a backslash first: an escaped key
      const size_t n = static_cast<size_t>(__builtin_ctzll(stop)) / 8;  // bytes before the quote
      word = n == 0 ? 0 : word & (~uint64_t{0} >> (64 - 8 * n));
      if (i == 0) w0 = word;
      if (i == 8) w1 = word;
      *key = std::string_view(start, i + n);
      words->w0 = w0;
      words->w1 = w1;
      words->size = static_cast<uint32_t>(i + n);
      return simdjson::SUCCESS;
    }
    if (i == 0) w0 = word;
    if (i == 8) w1 = word;
  }
  // Escaped key: let simdjson decode it.
  if (auto err = field.unescaped_key().get(*key)) return err;
  *words = Schema::KeyWords::Of(*key);
  return simdjson::SUCCESS;
}

int32_t Walker::NewEntity(Entity kind, int32_t parent) {
  parent = Need(parent);  // the document's entity precedes its children
  // A child of its parent's kind belongs to the grandparent (see ChildKey).
  const bool nested = parent >= 0 && (*out_)[parent].entity == kind;
  if (nested) parent = ParentOf(parent);
  const size_t idx = used_++;
  if (idx >= out_->size()) {
    if (spare_->empty()) {
      out_->emplace_back();
    } else {
      out_->push_back(std::move(spare_->back()));
      spare_->pop_back();
    }
  }
  EntityStats& e = (*out_)[idx];
  e.entity = kind;
  e.nested = nested;
  e.time_base_s = 0;
  e.samples.clear();
  e.extra_labels.clear();  // a reused entity may carry the last poll's enrichment
  e.labels.Reset(catalog::LabelNames(kind).size());
  parents_->push_back(parent);
  return static_cast<int32_t>(idx);
}

simdjson::error_code Walker::WalkDocument(od::document& doc) {
  od::object root;
  if (auto err = doc.get_object().get(root)) return err;
  root_is_object_ = true;
  const int32_t entity = s_.spec_.document_entity != kNoEntity ? kDocument : -1;
  if (auto err = WalkObject(root, s_.document_, entity, 0)) return err;
  // Anything but whitespace after the root object is an error.
  const char* after = nullptr;
  if (doc.current_location().get(after) != simdjson::OUT_OF_BOUNDS) {
    return simdjson::TRAILING_CONTENT;
  }
  return simdjson::SUCCESS;
}

simdjson::error_code Walker::WalkObject(od::object obj, uint16_t node, int32_t entity, int depth) {
  if (depth > kMaxDepth) return simdjson::DEPTH_ERROR;
  const int32_t existing = Existing(entity);
  const size_t first_sample = existing >= 0 ? (*out_)[existing].samples.size() : 0;
  const size_t first_entity = used_;
  int64_t time = kNoTime;
  size_t hint = 0;  // where Find starts: keys mostly come in the trie's order
  for (auto field_result : obj) {
    if (auto err = field_result.error()) return err;
    od::field& field = field_result.value_unsafe();  // no copy: this loop runs per JSON field
    std::string_view key;
    Schema::KeyWords words;
    if (auto err = Key(field, &key, &words)) return err;
    if (s_.time_key_.Matches(words, s_.spec_.time_key, key)) {
      od::value& value = field.value();
      od::json_type type;
      if (auto err = value.type().get(type)) return err;
      std::string_view text;
      if (type == od::json_type::string) {
        if (auto err = value.get_string().get(text)) return err;
        time = ParseTime(text);
      }
      continue;
    }
    const int found = s_.Find(node, key, words, &hint);
    if (found < 0) continue;  // not on the trie: simdjson skips the value
    const Node& n = s_.nodes_[found];
    od::value& value = field.value();
    od::json_type type;
    if (auto err = value.type().get(type)) return err;
    if (n.child != kNoEntity) {
      if (n.list) list_seen_ = true;
      // List items are top-level entities, not children of the list document.
      const int32_t parent = n.list ? -1 : entity;
      if (auto err = WalkChildren(value, type, n, parent, depth + 1)) return err;
      continue;
    }
    if (type == od::json_type::object) {
      if (n.kids.empty()) continue;
      od::object child;
      if (auto err = value.get_object().get(child)) return err;
      if (auto err = WalkObject(child, static_cast<uint16_t>(found), entity, depth + 1)) {
        return err;
      }
      continue;
    }
    if (auto err = Leaf(value, type, n, entity)) return err;
  }
  Stamp(entity, first_sample, first_entity, time);
  return simdjson::SUCCESS;
}

namespace {
// Gives the samples of `e` from `first` on that wait for their block's time that time.
void StampPending(EntityStats& e, size_t first, int64_t time) {
  for (size_t i = first; i < e.samples.size(); ++i) {
    if (e.samples[i].time_offset_s == Sample::kPendingTime) e.SetTime(e.samples[i], time);
  }
}
}  // namespace

void Walker::Stamp(int32_t entity, size_t first_sample, size_t first_entity, int64_t time) {
  if (time == kNoTime) return;
  // `time` may follow the values in key order: stamp this block's samples now, and those of
  // child entities found inside it that have no nearer time.
  entity = Existing(entity);
  if (entity >= 0) StampPending((*out_)[entity], first_sample, time);
  for (size_t i = first_entity; i < used_; ++i) StampPending((*out_)[i], 0, time);
}

simdjson::error_code Walker::WalkDocument(dom::element root) {
  dom::object obj;
  if (auto err = root.get_object().get(obj)) return err;
  root_is_object_ = true;
  const int32_t entity = s_.spec_.document_entity != kNoEntity ? kDocument : -1;
  return WalkObject(obj, s_.document_, entity, 0);
}

simdjson::error_code Walker::WalkBatch(dom::element root) {
  dom::object obj;
  if (auto err = root.get_object().get(obj)) return err;
  root_is_object_ = true;
  return WalkObject(obj, s_.document_, -1, 0);
}

simdjson::error_code Walker::WalkObject(dom::object obj, uint16_t node, int32_t entity, int depth) {
  if (depth > kMaxDepth) return simdjson::DEPTH_ERROR;
  const int32_t existing = Existing(entity);
  const size_t first_sample = existing >= 0 ? (*out_)[existing].samples.size() : 0;
  const size_t first_entity = used_;
  int64_t time = kNoTime;
  size_t hint = 0;  // where Find starts: keys mostly come in the trie's order
  for (dom::key_value_pair field : obj) {
    const std::string_view key = field.key;
    // DOM strings live in the parser's padded string buffer.
    const Schema::KeyWords words = Schema::KeyWords::OfPadded(key);
    if (s_.time_key_.Matches(words, s_.spec_.time_key, key)) {
      std::string_view text;
      if (field.value.get_string().get(text) == simdjson::SUCCESS) time = ParseTime(text);
      continue;
    }
    const int found = s_.Find(node, key, words, &hint);
    if (found < 0) continue;
    const Node& n = s_.nodes_[found];
    if (n.child != kNoEntity) {
      if (n.list) list_seen_ = true;
      const int32_t parent = n.list ? -1 : entity;
      if (auto err = WalkChildren(field.value, n, parent, depth + 1)) return err;
      continue;
    }
    dom::object child;
    if (field.value.get_object().get(child) == simdjson::SUCCESS) {
      if (n.kids.empty()) continue;
      if (auto err = WalkObject(child, static_cast<uint16_t>(found), entity, depth + 1)) {
        return err;
      }
      continue;
    }
    Leaf(field.value, n, entity);
  }
  Stamp(entity, first_sample, first_entity, time);
  return simdjson::SUCCESS;
}

simdjson::error_code Walker::WalkChildren(dom::element value, const Node& key, int32_t parent,
                                          int depth) {
  dom::object obj;
  if (value.get_object().get(obj) == simdjson::SUCCESS) {
    return WalkEntity(obj, key, parent, depth);
  }
  dom::array items;
  if (value.get_array().get(items) != simdjson::SUCCESS) return simdjson::SUCCESS;
  for (dom::element item : items) {
    if (item.get_object().get(obj) != simdjson::SUCCESS) continue;  // null items: skipped
    if (auto err = WalkEntity(obj, key, parent, depth)) return err;
  }
  return simdjson::SUCCESS;
}

simdjson::error_code Walker::WalkEntity(dom::object obj, const Node& key, int32_t parent,
                                        int depth) {
  const int32_t idx = NewEntity(key.child, parent);
  if (auto err = WalkObject(obj, s_.roots_[KindIndex(key.child)], idx, depth + 1)) return err;
  if (key.unique) MakeUnique(static_cast<size_t>(idx));
  return simdjson::SUCCESS;
}

void Walker::Leaf(dom::element value, const Node& n, int32_t entity) {
  if (entity == -1 && !n.kind) return;
  switch (value.type()) {
    case dom::element_type::INT64:
    case dom::element_type::UINT64:
    case dom::element_type::DOUBLE: {
      if (n.metric < 0 || entity == -1 || n.string_value == StringValue::kTimestamp) return;
      Sample& sample = (*out_)[Need(entity)].samples.emplace_back();
      sample.metric = static_cast<catalog::MetricId>(n.metric);
      sample.time_offset_s = Sample::kPendingTime;
      if (value.type() == dom::element_type::INT64) {
        const int64_t v = value.get_int64().value_unsafe();
        sample.kind = v >= 0 ? ValueKind::kUint : ValueKind::kInt;
        sample.set_i(v);
      } else if (value.type() == dom::element_type::UINT64) {
        sample.kind = ValueKind::kUint;
        sample.set_u(value.get_uint64().value_unsafe());
      } else {
        sample.kind = ValueKind::kDouble;
        sample.set_d(value.get_double().value_unsafe());
      }
      return;
    }
    case dom::element_type::STRING:
      StringLeaf(value.get_string().value_unsafe(), n, entity);
      return;
    default:
      return;  // null, bool, array: skipped
  }
}

simdjson::error_code Walker::Leaf(od::value value, od::json_type type, const Node& n,
                                  int32_t entity) {
  if (type == od::json_type::number) {
    // A number where an RFC 3339 time belongs means nothing we know: skipped.
    if (n.metric < 0 || entity == -1 || n.string_value == StringValue::kTimestamp) {
      return simdjson::SUCCESS;
    }
    od::number num;
    // A malformed or out-of-range number (1e400, 2^64) is a decode error.
    const char* at = nullptr;
    if (value.current_location().get(at) != simdjson::SUCCESS) at = nullptr;
    if (auto err = value.get_number().get(num)) {
      error_at_ = at;
      return err;
    }
    // Built in place: a Sample built on the stack and copied in is read back whole before its
    // fields' stores have landed, which stalls the CPU on every value.
    Sample& sample = (*out_)[Need(entity)].samples.emplace_back();
    sample.metric = static_cast<catalog::MetricId>(n.metric);
    sample.time_offset_s = Sample::kPendingTime;
    switch (num.get_number_type()) {
      case od::number_type::signed_integer: {
        const int64_t v = num.get_int64();
        sample.kind = v >= 0 ? ValueKind::kUint : ValueKind::kInt;
        sample.set_i(v);  // same bits as the uint64_t when v >= 0
        break;
      }
      case od::number_type::unsigned_integer:
        sample.kind = ValueKind::kUint;
        sample.set_u(num.get_uint64());
        break;
      default:
        sample.kind = ValueKind::kDouble;
        sample.set_d(num.get_double());
        break;
    }
    return simdjson::SUCCESS;
  }
  if (type != od::json_type::string) return simdjson::SUCCESS;  // null, bool, array: skipped
  const bool wanted =
      n.kind ||
      (entity != -1 && (n.label >= 0 || (n.metric >= 0 && n.string_value != StringValue::kNone)));
  if (!wanted) return simdjson::SUCCESS;  // simdjson skips the string
  std::string_view text;
  if (auto err = value.get_string().get(text)) return err;
  StringLeaf(text, n, entity);
  return simdjson::SUCCESS;
}

void Walker::StringLeaf(std::string_view text, const Node& n, int32_t entity) {
  if (n.label >= 0 && entity != -1) {
    (*out_)[Need(entity)].labels.Set(n.label, text);
  } else if (n.kind) {
    kind_.assign(text);
  } else if (n.metric >= 0 && entity != -1 && n.string_value != StringValue::kNone) {
    const auto id = static_cast<catalog::MetricId>(n.metric);
    if (n.string_value == StringValue::kTimestamp) {
      // An integer number of milliseconds; one that does not parse is left out.
      if (const auto ms = ParseRfc3339Millis(text)) {
        Sample& sample = (*out_)[Need(entity)].samples.emplace_back();
        sample.metric = id;
        sample.time_offset_s = Sample::kPendingTime;
        sample.kind = *ms >= 0 ? ValueKind::kUint : ValueKind::kInt;
        sample.set_i(*ms);
      }
      return;
    }
    std::optional<double> v;
    if (n.string_value == StringValue::kDuration) {
      v = ParseGoDuration(text);
    } else if (auto q = Quantity::Parse(text)) {
      v = q->ToDouble();
    }
    // A value that does not parse is left out; the rest of the payload still counts.
    if (v.has_value()) {
      Sample& sample = (*out_)[Need(entity)].samples.emplace_back(Sample::Double(id, *v));
      sample.time_offset_s = Sample::kPendingTime;
    }
  }
}

simdjson::error_code Walker::WalkChildren(od::value value, od::json_type type, const Node& key,
                                          int32_t parent, int depth) {
  if (type == od::json_type::object) return WalkEntity(value, key, parent, depth);
  if (type != od::json_type::array) return simdjson::SUCCESS;
  od::array items;
  if (auto err = value.get_array().get(items)) return err;
  for (auto item_result : items) {
    od::value item;
    if (auto err = std::move(item_result).get(item)) return err;
    od::json_type item_type;
    if (auto err = item.type().get(item_type)) return err;
    if (item_type != od::json_type::object) continue;  // null items and the like: skipped
    if (auto err = WalkEntity(item, key, parent, depth)) return err;
  }
  return simdjson::SUCCESS;
}

simdjson::error_code Walker::WalkEntity(od::value value, const Node& key, int32_t parent,
                                        int depth) {
  od::object obj;
  if (auto err = value.get_object().get(obj)) return err;
  const int32_t idx = NewEntity(key.child, parent);
  if (auto err = WalkObject(obj, s_.roots_[KindIndex(key.child)], idx, depth + 1)) return err;
  if (key.unique) MakeUnique(static_cast<size_t>(idx));
  return simdjson::SUCCESS;
}

// Called when entity `idx` is complete. Its duplicates may precede it (an interfaces[] entry
// after the default interface) or follow it (entries of interfaces[] walked before the default
// interface's own "name" key): every entity after idx was created inside it.
void Walker::MakeUnique(size_t idx) {
  const int32_t parent = ParentOf(idx);
  const size_t from = parent >= 0 ? static_cast<size_t>(parent) + 1 : base_;
  auto same = [&](size_t j) {
    const EntityStats& a = (*out_)[j];
    const EntityStats& b = (*out_)[idx];
    return a.entity == b.entity && ParentOf(j) == parent && a.labels == b.labels;
  };
  for (size_t j = from; j < idx; ++j) {
    if (same(j)) {
      Merge(idx, j);
      Remove(idx);
      return;
    }
  }
  for (size_t j = idx + 1; j < used_;) {
    if (same(j)) {
      Merge(j, idx);
      Remove(j);
    } else {
      ++j;
    }
  }
  const EntityStats& e = (*out_)[idx];
  if (!e.samples.empty()) return;
  const bool* own = s_.own_[KindIndex(e.entity)];
  for (size_t i = 0; i < e.labels.size(); ++i) {
    if (own[i] && !e.labels[i].empty()) return;
  }
  Remove(idx);
}

// Appends to `into` the samples of `from` whose metric it lacks.
void Walker::Merge(size_t from, size_t into) {
  EntityStats& to = (*out_)[into];
  const EntityStats& source = (*out_)[from];
  const size_t had = to.samples.size();
  for (const Sample& s : source.samples) {
    bool found = false;
    for (size_t i = 0; i < had && !found; ++i) found = to.samples[i].metric == s.metric;
    if (!found) to.samples.push_back(to.Adopt(source, s));
  }
}

// Removes entity idx, keeping the order of the others: it moves past used_, where the next
// NewEntity reuses it. Its children, if any, pass to its parent.
void Walker::Remove(size_t idx) {
  const int32_t parent = ParentOf(idx);
  std::rotate(out_->begin() + static_cast<std::ptrdiff_t>(idx),
              out_->begin() + static_cast<std::ptrdiff_t>(idx) + 1,
              out_->begin() + static_cast<std::ptrdiff_t>(used_));
  parents_->erase(parents_->begin() + static_cast<std::ptrdiff_t>(idx - base_));
  --used_;
  for (size_t j = idx; j < used_; ++j) {
    int32_t& p = ParentOf(j);
    if (p == static_cast<int32_t>(idx)) {
      p = parent;
    } else if (p > static_cast<int32_t>(idx)) {
      --p;
    }
  }
}

void Walker::Derive(const DerivedKey& dk, size_t walked) {
  const auto from_names = catalog::LabelNames(dk.from);
  const auto to_names = catalog::LabelNames(dk.to);
  size_t key = from_names.size();
  for (size_t i = 0; i < from_names.size(); ++i) {
    if (from_names[i] == dk.label) key = i;
  }
  if (key == from_names.size()) return;
  int8_t map[kMaxLabels];
  for (size_t i = 0; i < to_names.size(); ++i) {
    map[i] = -1;
    for (size_t j = 0; j < from_names.size(); ++j) {
      if (to_names[i] == from_names[j]) map[i] = static_cast<int8_t>(j);
    }
  }
  for (size_t idx = base_; idx < walked; ++idx) {
    if ((*out_)[idx].entity != dk.from || (*out_)[idx].labels[key].empty()) continue;
    bool seen = false;
    for (size_t d = walked; d < used_ && !seen; ++d) {
      const EntityStats& other = (*out_)[d];
      if (other.entity != dk.to) continue;
      seen = true;
      for (size_t i = 0; i < to_names.size() && seen; ++i) {
        seen =
            map[i] < 0 ? other.labels[i].empty() : other.labels[i] == (*out_)[idx].labels[map[i]];
      }
    }
    if (seen) continue;  // the first entity with these labels wins
    const size_t d = static_cast<size_t>(NewEntity(dk.to, -1));  // may reallocate out_
    EntityStats& derived = (*out_)[d];
    const EntityStats& src = (*out_)[idx];
    for (size_t i = 0; i < to_names.size(); ++i) {
      if (map[i] >= 0) derived.labels.Set(i, src.labels[map[i]]);
    }
    for (const Sample& s : src.samples) {
      const int row = s_.Lookup(dk.to, s_.spec_.rows[s.metric].path);
      if (row < 0) continue;
      Sample copy = derived.Adopt(src, s);
      copy.metric = static_cast<catalog::MetricId>(row);
      derived.samples.push_back(copy);
    }
  }
}

void Walker::Finish(bool truncate) {
  // Parents precede children, so one forward pass fills inherited labels transitively.
  for (size_t idx = base_; idx < used_; ++idx) {
    EntityStats& e = (*out_)[idx];
    const int32_t parent = (*parents_)[idx - base_];
    if (parent >= 0) {
      const EntityStats& p = (*out_)[parent];
      const auto& map = s_.inherit_[KindIndex(e.entity)][KindIndex(p.entity)];
      for (size_t i = 0; i < e.labels.size() && i < kMaxLabels; ++i) {
        if (map[i] >= 0 && e.labels[i].empty()) e.labels.Set(i, p.labels[map[i]]);
      }
    }
  }
  // A sample whose block had no time stays kPendingTime, which reads as not given.
  const size_t walked = used_;
  for (const DerivedKey& dk : s_.spec_.derived) Derive(dk, walked);
  if (truncate) Truncate(out_, used_, spare_);
}

void OnDemandOnlyForTest(bool on) { t_on_demand_only = on; }
void ListBatchBytesForTest(size_t bytes) { t_list_batch_bytes = bytes; }
size_t LargestParserCapacityForTest() { return StatePool::Get().LargestCapacity(); }
void DropIdleDecoderStatesForTest() { StatePool::Get().DropIdle(); }

const char* ParseDocument(std::string_view json, const std::function<void(dom::element)>& use) {
  StateLease lease(json.size());
  DecoderState& st = *lease;
  const std::string_view doc = st.PaddedCopy({json});
  dom::element root;
  if (auto err = st.dom_parser.parse(doc.data(), doc.size(), false).get(root)) {
    return simdjson::error_message(err);
  }
  use(root);
  return nullptr;
}

const char* ParseList(std::string_view body, std::string_view list_key,
                      const std::function<void(dom::element)>& on_root,
                      const std::function<void(dom::element)>& on_item) {
  const auto items = [&](dom::element root) {
    dom::array list;
    if (root[list_key].get_array().get(list) != simdjson::SUCCESS) return;
    for (dom::element item : list) on_item(item);
  };
  ListScan::Layout layout;
  if (ScanList(body, list_key, /*time_key=*/{}, &layout)) {
    StateLease lease(BatchParserBytes());
    if (ParseBatches(*lease, body, layout, list_key, on_root,
                     [&](std::string_view, dom::element batch) {
                       items(batch);
                       return true;
                     })) {
      return nullptr;
    }
  }
  // Not batched: a list no larger than a batch with a pooled parser, a larger one (which
  // batches cannot take: malformed, an escaped key, its key twice) with a parser of its own,
  // let go at once.
  const auto whole = [&](dom::element root) {
    on_root(root);
    items(root);
  };
  if (body.size() <= kListBatchBytes) return ParseDocument(body, whole);
  dom::parser parser;  // copies the body into a padded buffer of its own
  dom::element root;
  if (auto err = parser.parse(body.data(), body.size()).get(root)) {
    return simdjson::error_message(err);
  }
  whole(root);
  return nullptr;
}

Status Schema::Walk(std::string_view body, size_t capacity, std::vector<EntityStats>* out,
                    size_t base) const {
  if (out->size() < base) out->resize(base);
  if (WalkListInBatches(body, out, base)) return Status::Ok();
  return WalkWhole(body, capacity, out, base);
}

// A DOM parser of a whole list keeps ~14 bytes per byte of it and touches ~4: 47 MB for the
// Metrics API's 12 MB pod list at 1,000 nodes, held between polls, and ~230 MB at 5,000 nodes
// each poll. Here the parser sees one batch of items at a time, copied behind
// {"<list_key>":[ and before ]} into the decoder state's buffer, and never grows past a batch.
// The result is the whole walk's: the items are walked by the same code in the same order; the
// root's other keys give the whole walk nothing (it makes the list no entity of its own; ListScan
// refuses a root time, which would stamp the items). The root without its items is
// parsed too, so that a body the whole walk's DOM parse refuses is not taken here either. Any
// failure leaves the body to the whole walk.
namespace {
// Walks a run of items parsed by ParseRun into (*out)[*used...], moving *used past them; false
// when the walk failed.
bool WalkRun(const Schema& schema, DecoderState& st, std::string_view doc, dom::element root,
             std::vector<EntityStats>* out, size_t* used) {
  Walker walker(schema, doc.data(), doc.size(), out, *used, &st.parents, &st.spare);
  if (walker.WalkBatch(root) != simdjson::SUCCESS) return false;
  walker.Finish(/*truncate=*/false);
  *used = walker.used();
  return true;
}
}  // namespace

bool Schema::WalkListInBatches(std::string_view body, std::vector<EntityStats>* out,
                               size_t base) const {
  ListScan::Layout layout;
  if (!spec_.derived.empty() || t_on_demand_only ||
      !ScanList(body, spec_.list_key, spec_.time_key, &layout)) {
    return false;
  }
  StateLease lease(BatchParserBytes());
  DecoderState& st = *lease;
  size_t used = base;
  // The root gives the walk nothing (see above): parsed only to be checked.
  const bool ok = ParseBatches(
      st, body, layout, spec_.list_key, [](dom::element) {},
      [&](std::string_view doc, dom::element root) {
        return WalkRun(*this, st, doc, root, out, &used);
      });
  Truncate(out, ok ? used : base, &st.spare);
  return ok;
}

// ---- ListStream ----

namespace {
// A stream holding more than this without a whole item, or a root this long before its list,
// is not one batches are for: it is held whole (or, past its first batch, walked whole by the
// caller). Rescans of an item cut by a piece would otherwise grow with its square.
constexpr size_t kMaxStreamRun = size_t{1} << 20;
}  // namespace

struct ListStream::Impl {
  enum class Phase {
    kHead,   // before the list's '['
    kItems,  // in the list
    kTail,   // after its ']'
    kWhole,  // not a list batches can take: `pending` holds the whole body
    kLost,   // found so after a batch was walked: only a whole walk of the body can tell
  };
  const Schema& schema;
  std::vector<EntityStats>* out;
  const size_t base;
  Phase phase = Phase::kHead;
  std::string pending;      // the bytes not walked yet (kWhole: all of them)
  std::string root;         // the body through the list's '[', and from kTail on its ']' and after
  const std::string head;   // RunHead of the list key
  ListScan::ItemRuns runs;  // kItems: the scan of `pending`, the run not walked yet
  bool walked = false;      // a run was walked and its bytes let go
  size_t used = 0;
  size_t peak = 0;

  Impl(const Schema& s, std::vector<EntityStats>* o, size_t b)
      : schema(s), out(o), base(b), head(RunHead(s.spec_.list_key)) {}

  void Start() {
    const SchemaSpec& spec = schema.spec_;
    const bool batches = !spec.list_key.empty() && spec.derived.empty() && !t_on_demand_only;
    phase = batches ? Phase::kHead : Phase::kWhole;
    pending.clear();
    root.clear();
    runs = {};
    walked = false;
    used = base;
  }

  void Feed(std::string_view bytes) {
    switch (phase) {
      case Phase::kLost:
        return;
      case Phase::kTail:  // runs of blanks kept as one: a body padded past its end stays small
        for (char c : bytes) {
          if (!JsonBlank(c) || root.empty() || !JsonBlank(root.back())) root.push_back(c);
        }
        if (root.size() > kMaxStreamRun) Lose();
        break;
      case Phase::kWhole:
        pending.append(bytes);
        break;
      case Phase::kHead:
        pending.append(bytes);
        Head();
        if (phase == Phase::kItems) Items();
        break;
      case Phase::kItems:
        pending.append(bytes);
        Items();
        break;
    }
    peak = std::max(peak, pending.size() + root.size());
  }

  void Head() {
    size_t open = 0;
    switch (ListScan(pending).Head(schema.spec_.list_key, schema.spec_.time_key, &open)) {
      case ListScan::Scan::kShort:
        if (pending.size() > kMaxStreamRun) phase = Phase::kWhole;
        return;
      case ListScan::Scan::kOdd:
        phase = Phase::kWhole;
        return;
      case ListScan::Scan::kOk:
        root.assign(pending, 0, open + 1);
        pending.erase(0, open + 1);
        phase = Phase::kItems;
        return;
    }
  }

  // The items complete so far: runs of about a batch walked as the next item shows they are
  // complete (ListScan::NextRun, the steps of a whole body's scan), their bytes then let go.
  void Items() {
    const size_t batch = ListBatchBytes();
    std::pair<size_t, size_t> run;
    for (;;) {
      switch (ListScan(pending).NextRun(batch, &runs, &run)) {
        case ListScan::Step::kRun: {
          if (!WalkPendingRun(run)) return Lose();
          const size_t next = runs.first;  // the item after the run begins the next one
          pending.erase(0, next);
          runs.first = 0;
          runs.last -= next;
          runs.pos -= next;
          continue;
        }
        case ListScan::Step::kClose:
          return Close(runs.pos);
        case ListScan::Step::kShort:
          if (HeldTooLong(runs.pos)) Odd();
          return;
        case ListScan::Step::kOdd:
          return Odd();
      }
    }
  }

  // More than kMaxStreamRun bytes held from the run not walked yet (else from `from`, where
  // the item under way begins) without a whole item.
  bool HeldTooLong(size_t from) const {
    return pending.size() - std::min(runs.first, from) > kMaxStreamRun;
  }

  // Walks the items pending[run.first, run.second).
  bool WalkPendingRun(std::pair<size_t, size_t> run) {
    StateLease lease(BatchParserBytes());
    DecoderState& st = *lease;
    std::string_view doc;
    dom::element root_of_run;
    if (!ParseRun(st, head, std::string_view(pending).substr(run.first, run.second - run.first),
                  &doc, &root_of_run) ||
        !WalkRun(schema, st, doc, root_of_run, out, &used)) {
      return false;
    }
    walked = true;
    return true;
  }

  // The list's ']' at pending[close], after the run in `runs` if any.
  void Close(size_t close) {
    if (runs.first != std::string::npos && !WalkPendingRun({runs.first, runs.last})) return Lose();
    root.append(pending, close);
    pending.clear();
    phase = Phase::kTail;
  }

  // Not a list batches can take: held whole while nothing was let go.
  void Odd() {
    if (walked) return Lose();
    pending.insert(0, root);
    root.clear();
    phase = Phase::kWhole;
  }

  void Lose() {
    phase = Phase::kLost;
    pending = std::string();
    root = std::string();
  }

  // kTail: the root without its items, as WalkListInBatches checks it (its keys, then a parse).
  bool RootIsList() {
    ListScan::Layout layout;
    if (!ListScan(root).Run(schema.spec_.list_key, schema.spec_.time_key, ListBatchBytes(),
                            &layout) ||
        !layout.batches.empty()) {
      return false;
    }
    return ParseDocument(root, [](dom::element) {}) == nullptr;
  }

  std::optional<Status> Finish() {
    if (phase == Phase::kItems) Odd();  // the body ended in its list
    std::optional<Status> result;
    if (phase == Phase::kHead || phase == Phase::kWhole) {
      pending.reserve(pending.size() + simdjson::SIMDJSON_PADDING);  // walked in place
      result = schema.Walk(pending, pending.capacity(), out, base);
    } else if (phase == Phase::kTail && RootIsList()) {
      result = Status::Ok();
    }
    if (phase == Phase::kTail || phase == Phase::kLost) {  // Walk ends *out itself
      StateLease lease(0);                                 // for its spare entities
      Truncate(out, result ? used : base, &(*lease).spare);
    }
    pending = std::string();
    root = std::string();
    return result;
  }
};

ListStream::ListStream(const Schema& schema, std::vector<EntityStats>* out, size_t base)
    : impl_(std::make_unique<Impl>(schema, out, base)) {
  impl_->Start();
}
ListStream::~ListStream() = default;
void ListStream::Start() { impl_->Start(); }
void ListStream::Feed(std::string_view bytes) { impl_->Feed(bytes); }
std::optional<Status> ListStream::Finish() { return impl_->Finish(); }
size_t ListStream::peak_held_bytes() const { return impl_->peak; }

Status Schema::WalkWhole(std::string_view body, size_t capacity, std::vector<EntityStats>* out,
                         size_t base) const {
  StateLease lease(body.size());
  DecoderState& st = *lease;
  const char* data = body.data();
  size_t len = body.size();
  // simdjson reads up to SIMDJSON_PADDING bytes past the end. Decode in place only when the
  // caller vouches for them and the body ends in a closing bracket, so that no token (a
  // truncated number, say) runs into those bytes; otherwise copy into a zero-padded buffer.
  bool in_place = capacity >= len + simdjson::SIMDJSON_PADDING;
  if (in_place) {
    size_t end = len;
    while (end > 0 && JsonBlank(data[end - 1])) --end;
    in_place = end > 0 && (data[end - 1] == '}' || data[end - 1] == ']');
  }
  if (!in_place) {
    data = st.PaddedCopy({std::string_view(data, len)}).data();
    capacity = len + simdjson::SIMDJSON_PADDING;
  }

  struct Release {  // runs on every return below
    DecoderState& st;
    size_t len;
    ~Release() {
      if (len <= kRetainBytes) return;
      st.parser = od::parser();
      st.dom_parser = dom::parser();
      st.buffer.reset();
      st.buffer_size = 0;
      st.spare = std::vector<EntityStats>();
    }
  } release{st, len};
  auto fail = [&](simdjson::error_code err, const char* where, const std::string& at) {
    Truncate(out, base, &st.spare);
    return Status::Error(reason::kDecode, std::string(spec_.what) + ": " + where +
                                              simdjson::error_message(err) + " " + at);
  };
  // Fast path: simdjson's DOM parser, whose kernels are picked at run time for this CPU (the
  // On-Demand front end is inlined here and compiled for the generic target), then a walk of
  // the tree. Any failure, however (malformed JSON, a bad number even in a subtree no row
  // needs, nesting past the DOM's depth limit, a root that is not an object), leaves the
  // answer to the On-Demand walk below: it skips what no row needs, and its errors name the
  // byte. Both walks give the same result on any document the DOM accepts (tests check this).
  if (!t_on_demand_only) {
    dom::element root;
    if (st.dom_parser.parse(data, len, /*realloc_if_needed=*/false).get(root) ==
        simdjson::SUCCESS) {
      Walker walker(*this, data, len, out, base, &st.parents, &st.spare);
      if (walker.WalkDocument(root) == simdjson::SUCCESS) {
        walker.Finish();
        DropListEntity(walker, out);
        return Status::Ok();
      }
      Truncate(out, base, &st.spare);
    }
  }
  od::document doc;
  if (auto err = st.parser.iterate(data, len, capacity).get(doc)) {
    // Stage 1 checks the whole body (UTF-8, strings, emptiness) before any location exists.
    return fail(err,
                "invalid JSON: ", "(position unknown; body of " + std::to_string(len) + " bytes)");
  }
  Walker walker(*this, data, len, out, base, &st.parents, &st.spare);
  if (auto err = walker.WalkDocument(doc)) {
    size_t offset = len;
    const char* location = walker.error_at();
    if (location == nullptr && doc.current_location().get(location) != simdjson::SUCCESS) {
      location = nullptr;
    }
    if (location != nullptr && location >= data && location <= data + len) {
      offset = static_cast<size_t>(location - data);
    }
    const std::string at = "at byte " + std::to_string(offset) + " of " + std::to_string(len);
    if (!walker.root_is_object()) return fail(err, "the document is not a JSON object: ", at);
    return fail(err, "", at);
  }
  walker.Finish();
  DropListEntity(walker, out);
  return Status::Ok();
}

// A list's root is only a container of its items: the walk makes it no entity unless the root
// itself carries a label or a value the schema knows (no Kubernetes list does), and then that
// entity is not output either.
void Schema::DropListEntity(const Walker& walker, std::vector<EntityStats>* out) const {
  const int32_t doc = walker.document_entity();
  if (doc >= 0 && (walker.list_seen() || walker.kind().ends_with("List"))) {
    out->erase(out->begin() + doc);
  }
}

}  // namespace kmb::walk
