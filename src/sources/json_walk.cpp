#include "json_walk.h"

#include <simdjson.h>

#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <utility>

#include "kmb/sources/quantity.h"

namespace kmb::walk {

namespace od = simdjson::ondemand;
using catalog::Entity;

namespace {

// Our own recursion never goes deeper than this; simdjson skips deeper subtrees iteratively.
constexpr int kMaxDepth = 64;
// time_ms of a sample whose block time is not known yet.
constexpr int64_t kNoTime = std::numeric_limits<int64_t>::min();
// Label slots Schema::inherit_ has per entity kind.
constexpr size_t kMaxLabels = 4;
// After a body larger than this the per-thread parser and buffer are released: the parser
// keeps several bytes of index per input byte, too much to hold for one rare huge list.
constexpr size_t kRetainBytes = size_t{16} << 20;

size_t KindIndex(Entity e) { return static_cast<size_t>(e); }

// Per-thread reusable state: decoding allocates nothing once these have grown.
struct ThreadState {
  od::parser parser;
  std::unique_ptr<char[]> buffer;  // padded copy of bodies that come without padding
  size_t buffer_size = 0;
  std::vector<int32_t> parents;  // parent entity (absolute index) of each new entity, or -1
};

ThreadState& State() {
  thread_local ThreadState state;
  return state;
}

}  // namespace

Schema::Schema(const SchemaSpec& spec) : spec_(spec) {
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
    if (spec.string_values) {
      leaf.string_value = def.unit == "seconds" ? StringValue::kDuration : StringValue::kQuantity;
    }
  }
  for (const LabelKey& lk : spec.labels) {
    const auto names = catalog::LabelNames(lk.entity);
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] == lk.label) {
        nodes_[Insert(roots_[KindIndex(lk.entity)], lk.path)].label = static_cast<int8_t>(i);
      }
    }
  }
  for (const ChildKey& ck : spec.children) {
    if (ck.child == kNoEntity) continue;  // not in the catalog yet: left to simdjson to skip
    nodes_[Insert(roots_[KindIndex(ck.parent)], ck.path)].child = ck.child;
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
      nodes_[node].kids.push_back(static_cast<uint16_t>(next));
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
         size_t base, std::vector<int32_t>* parents)
      : s_(schema), buf_(buf), len_(len), out_(out), base_(base), used_(base), parents_(parents) {
    parents_->clear();
  }

  simdjson::error_code WalkDocument(od::document& doc);
  void Finish();
  bool root_is_object() const { return root_is_object_; }
  const char* error_at() const { return error_at_; }
  std::string_view kind() const { return kind_; }
  bool list_seen() const { return list_seen_; }

 private:
  using Node = Schema::Node;

  simdjson::error_code WalkObject(od::object obj, uint16_t node, int32_t entity, int depth);
  simdjson::error_code WalkChildren(od::value value, od::json_type type, Entity kind,
                                    int32_t parent, int depth);
  simdjson::error_code WalkEntity(od::value value, Entity kind, int32_t parent, int depth);
  int32_t NewEntity(Entity kind, int32_t parent);
  simdjson::error_code Leaf(od::value value, od::json_type type, const Node& n, int32_t entity);
  simdjson::error_code Key(od::field& field, std::string_view* key);
  int64_t ParseTime(std::string_view text);

  const Schema& s_;
  const char* buf_;
  size_t len_;
  std::vector<EntityStats>* out_;
  size_t base_;
  size_t used_;
  std::vector<int32_t>* parents_;
  std::string kind_;
  bool list_seen_ = false;
  bool root_is_object_ = false;
  const char* error_at_ = nullptr;  // where a value failed to parse, when known
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

simdjson::error_code Walker::Key(od::field& field, std::string_view* key) {
  // The raw key is the fast path: stage 1 guarantees its closing quote lies inside the body.
  const char* start = field.key().raw();
  const char* quote =
      static_cast<const char*>(std::memchr(start, '"', static_cast<size_t>(buf_ + len_ - start)));
  if (quote == nullptr) return simdjson::TAPE_ERROR;
  *key = std::string_view(start, static_cast<size_t>(quote - start));
  if (key->find('\\') == std::string_view::npos) return simdjson::SUCCESS;
  return field.unescaped_key().get(*key);  // escaped key: let simdjson decode it
}

int32_t Walker::NewEntity(Entity kind, int32_t parent) {
  const size_t idx = used_++;
  if (idx >= out_->size()) out_->emplace_back();
  EntityStats& e = (*out_)[idx];
  e.entity = kind;
  e.samples.clear();
  e.labels.resize(catalog::LabelNames(kind).size());
  for (std::string& l : e.labels) l.clear();
  parents_->push_back(parent);
  return static_cast<int32_t>(idx);
}

simdjson::error_code Walker::WalkDocument(od::document& doc) {
  od::object root;
  if (auto err = doc.get_object().get(root)) return err;
  root_is_object_ = true;
  int32_t entity = -1;
  if (s_.spec_.document_entity != kNoEntity) entity = NewEntity(s_.spec_.document_entity, -1);
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
  const size_t first_sample = entity >= 0 ? (*out_)[entity].samples.size() : 0;
  const size_t first_entity = used_;
  int64_t time = kNoTime;
  for (auto field_result : obj) {
    od::field field;
    if (auto err = std::move(field_result).get(field)) return err;
    std::string_view key;
    if (auto err = Key(field, &key)) return err;
    if (key == s_.spec_.time_key) {
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
    const int found = s_.Find(node, key);
    if (found < 0) continue;  // not on the trie: simdjson skips the value
    const Node& n = s_.nodes_[found];
    od::value& value = field.value();
    od::json_type type;
    if (auto err = value.type().get(type)) return err;
    if (n.child != kNoEntity) {
      if (n.list) list_seen_ = true;
      // List items are top-level entities, not children of the list document.
      const int32_t parent = n.list ? -1 : entity;
      if (auto err = WalkChildren(value, type, n.child, parent, depth + 1)) return err;
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
  if (time != kNoTime) {
    // `time` may follow the values in key order: stamp this block's samples now, and those of
    // child entities found inside it that have no nearer time.
    if (entity >= 0) {
      auto& samples = (*out_)[entity].samples;
      for (size_t i = first_sample; i < samples.size(); ++i) {
        if (samples[i].time_ms == kNoTime) samples[i].time_ms = time;
      }
    }
    for (size_t e = first_entity; e < used_; ++e) {
      for (Sample& sample : (*out_)[e].samples) {
        if (sample.time_ms == kNoTime) sample.time_ms = time;
      }
    }
  }
  return simdjson::SUCCESS;
}

simdjson::error_code Walker::Leaf(od::value value, od::json_type type, const Node& n,
                                  int32_t entity) {
  if (type == od::json_type::number) {
    if (n.metric < 0 || entity < 0) return simdjson::SUCCESS;
    od::number num;
    // A malformed or out-of-range number (1e400, 2^64) is a decode error.
    const char* at = nullptr;
    if (value.current_location().get(at) != simdjson::SUCCESS) at = nullptr;
    if (auto err = value.get_number().get(num)) {
      error_at_ = at;
      return err;
    }
    const auto id = static_cast<catalog::MetricId>(n.metric);
    Sample sample;
    switch (num.get_number_type()) {
      case od::number_type::signed_integer: {
        const int64_t v = num.get_int64();
        sample = v >= 0 ? Sample::Uint(id, static_cast<uint64_t>(v), kNoTime)
                        : Sample::Int(id, v, kNoTime);
        break;
      }
      case od::number_type::unsigned_integer:
        sample = Sample::Uint(id, num.get_uint64(), kNoTime);
        break;
      default:
        sample = Sample::Double(id, num.get_double(), kNoTime);
        break;
    }
    (*out_)[entity].samples.push_back(sample);
    return simdjson::SUCCESS;
  }
  if (type != od::json_type::string) return simdjson::SUCCESS;  // null, bool, array: skipped
  if (n.label >= 0 && entity >= 0) {
    std::string_view text;
    if (auto err = value.get_string().get(text)) return err;
    (*out_)[entity].labels[n.label].assign(text);
  } else if (n.kind) {
    std::string_view text;
    if (auto err = value.get_string().get(text)) return err;
    kind_.assign(text);
  } else if (n.metric >= 0 && entity >= 0 && n.string_value != Schema::StringValue::kNone) {
    std::string_view text;
    if (auto err = value.get_string().get(text)) return err;
    std::optional<double> v;
    if (n.string_value == Schema::StringValue::kDuration) {
      v = ParseGoDuration(text);
    } else if (auto q = Quantity::Parse(text)) {
      v = q->ToDouble();
    }
    // A value that does not parse is left out; the rest of the payload still counts.
    if (v.has_value()) {
      (*out_)[entity].samples.push_back(
          Sample::Double(static_cast<catalog::MetricId>(n.metric), *v, kNoTime));
    }
  }
  return simdjson::SUCCESS;
}

simdjson::error_code Walker::WalkChildren(od::value value, od::json_type type, Entity kind,
                                          int32_t parent, int depth) {
  if (type == od::json_type::object) return WalkEntity(value, kind, parent, depth);
  if (type != od::json_type::array) return simdjson::SUCCESS;
  od::array items;
  if (auto err = value.get_array().get(items)) return err;
  for (auto item_result : items) {
    od::value item;
    if (auto err = std::move(item_result).get(item)) return err;
    od::json_type item_type;
    if (auto err = item.type().get(item_type)) return err;
    if (item_type != od::json_type::object) continue;  // null items and the like: skipped
    if (auto err = WalkEntity(item, kind, parent, depth)) return err;
  }
  return simdjson::SUCCESS;
}

simdjson::error_code Walker::WalkEntity(od::value value, Entity kind, int32_t parent, int depth) {
  od::object obj;
  if (auto err = value.get_object().get(obj)) return err;
  const int32_t idx = NewEntity(kind, parent);
  return WalkObject(obj, s_.roots_[KindIndex(kind)], idx, depth + 1);
}

void Walker::Finish() {
  // Parents precede children, so one forward pass fills inherited labels transitively.
  for (size_t idx = base_; idx < used_; ++idx) {
    EntityStats& e = (*out_)[idx];
    const int32_t parent = (*parents_)[idx - base_];
    if (parent >= 0) {
      const EntityStats& p = (*out_)[parent];
      const auto& map = s_.inherit_[KindIndex(e.entity)][KindIndex(p.entity)];
      for (size_t i = 0; i < e.labels.size() && i < kMaxLabels; ++i) {
        if (map[i] >= 0 && e.labels[i].empty()) e.labels[i] = p.labels[map[i]];
      }
    }
    for (Sample& sample : e.samples) {
      if (sample.time_ms == kNoTime) sample.time_ms = 0;
    }
  }
  out_->resize(used_);
}

Status Schema::Walk(std::string_view body, size_t capacity, std::vector<EntityStats>* out,
                    size_t base) const {
  ThreadState& st = State();
  if (out->size() < base) out->resize(base);
  const char* data = body.data();
  size_t len = body.size();
  // simdjson reads up to SIMDJSON_PADDING bytes past the end. Decode in place only when the
  // caller vouches for them and the body ends in a closing bracket, so that no token (a
  // truncated number, say) runs into those bytes; otherwise copy into a zero-padded buffer.
  bool in_place = capacity >= len + simdjson::SIMDJSON_PADDING;
  if (in_place) {
    size_t end = len;
    while (end > 0 && (data[end - 1] == ' ' || data[end - 1] == '\n' || data[end - 1] == '\r' ||
                       data[end - 1] == '\t')) {
      --end;
    }
    in_place = end > 0 && (data[end - 1] == '}' || data[end - 1] == ']');
  }
  if (!in_place) {
    if (st.buffer_size < len + simdjson::SIMDJSON_PADDING) {
      st.buffer_size = len + simdjson::SIMDJSON_PADDING;
      st.buffer = std::make_unique<char[]>(st.buffer_size);
    }
    if (len > 0) std::memcpy(st.buffer.get(), data, len);
    std::memset(st.buffer.get() + len, 0, simdjson::SIMDJSON_PADDING);
    data = st.buffer.get();
    capacity = len + simdjson::SIMDJSON_PADDING;
  }

  struct Release {  // runs on every return below
    ThreadState& st;
    size_t len;
    ~Release() {
      if (len <= kRetainBytes) return;
      st.parser = od::parser();
      st.buffer.reset();
      st.buffer_size = 0;
    }
  } release{st, len};
  auto fail = [&](simdjson::error_code err, const char* where, const std::string& at) {
    out->resize(base);
    return Status::Error(reason::kDecode, std::string(spec_.what) + ": " + where +
                                              simdjson::error_message(err) + " " + at);
  };
  od::document doc;
  if (auto err = st.parser.iterate(data, len, capacity).get(doc)) {
    // Stage 1 checks the whole body (UTF-8, strings, emptiness) before any location exists.
    return fail(err,
                "invalid JSON: ", "(position unknown; body of " + std::to_string(len) + " bytes)");
  }
  Walker walker(*this, data, len, out, base, &st.parents);
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
  if (spec_.document_entity != kNoEntity &&
      (walker.list_seen() || walker.kind().ends_with("List"))) {
    // A list document: its root was only a container of items.
    out->erase(out->begin() + static_cast<std::ptrdiff_t>(base));
  }
  return Status::Ok();
}

}  // namespace kmb::walk
