#include "kmb/exposition/writer.h"

#include <libdeflate.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#include "kmb/catalog/catalog.h"
#include "kmb/exposition/enrich.h"
#include "kmb/util/log.h"

namespace kmb {
namespace {

using catalog::kMetricCount;
using catalog::kMetrics;
using catalog::MetricDef;
using catalog::MetricId;

// Every reason a source can count, so that errors_total series exist (at 0) from the start
// and rate() works on the first error.
constexpr const char* kAllReasons[] = {reason::kTimeout, reason::kConnect, reason::kTls,
                                       reason::kHttp4xx, reason::kHttp5xx, reason::kDecode,
                                       reason::kTooLarge, reason::kBackoff};

void AppendUint(std::string& out, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void AppendDouble(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
  }
}

// Integer magnitude m scaled by 10^exp10 (exp10 <= 0) as an exact decimal, trailing zeros cut.
void AppendScaledUint(std::string& out, uint64_t m, int exp10) {
  if (exp10 >= 0) {
    if (exp10 == 0 || m == 0) {
      AppendUint(out, m);
      return;
    }
    AppendDouble(out, static_cast<double>(m) * std::pow(10.0, exp10));
    return;
  }
  char digits[24];
  auto r = std::to_chars(digits, digits + sizeof digits, m);
  int n = static_cast<int>(r.ptr - digits);
  int frac = -exp10;
  // Drop trailing zeros of the fractional part.
  int end = n;
  int frac_len = frac;
  while (frac_len > 0 && end > 0 && digits[end - 1] == '0' && end > n - frac) {
    --end;
    --frac_len;
  }
  if (n <= frac) {
    // 0.000ddd
    if (frac_len == 0 || end <= 0) {
      out.push_back('0');
      return;
    }
    out += "0.";
    out.append(static_cast<size_t>(frac - n), '0');
    out.append(digits, static_cast<size_t>(end));
    return;
  }
  out.append(digits, static_cast<size_t>(n - frac));
  if (frac_len > 0) {
    out.push_back('.');
    out.append(digits + (n - frac), static_cast<size_t>(frac_len));
  }
}

void AppendTimestamp(std::string& out, int64_t ms, ExpositionFormat format) {
  out.push_back(' ');
  if (format == ExpositionFormat::kText004) {
    AppendUint(out, static_cast<uint64_t>(ms));
  } else {
    AppendScaledUint(out, static_cast<uint64_t>(ms), -3);
  }
}

// Rows sharing a name form one family (they differ by const labels). Families are numbered in
// order of first appearance in the catalog; each row knows its family and its pre-rendered
// const labels (",k=\"v\"").
struct FamilyTable {
  std::array<uint16_t, kMetricCount> family_of{};
  std::vector<size_t> first_row;  // family -> its first row (name, type, unit, help)
  std::array<std::string, kMetricCount> const_labels;
  FamilyTable() {
    for (size_t i = 0; i < kMetricCount; ++i) {
      size_t f = 0;
      while (f < first_row.size() && kMetrics[first_row[f]].name != kMetrics[i].name) ++f;
      if (f == first_row.size()) first_row.push_back(i);
      family_of[i] = static_cast<uint16_t>(f);
      std::string_view rest = kMetrics[i].const_labels;
      while (!rest.empty()) {
        size_t comma = rest.find(',');
        std::string_view kv = rest.substr(0, comma);
        size_t eq = kv.find('=');
        const_labels[i] += ",";
        const_labels[i].append(kv.substr(0, eq));
        const_labels[i] += "=\"";
        AppendEscapedLabelValue(const_labels[i], kv.substr(eq + 1));
        const_labels[i] += "\"";
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      }
    }
  }
};

const FamilyTable& Families() {
  static const FamilyTable table;
  return table;
}

// Buffers that keep their capacity from one snapshot to the next. Rendering writes ~140 bytes
// per series; into fresh memory that is one page fault per 4 KiB (13-15 us each on the
// benchmark's microVM), which cost more than the formatting itself.
template <class T>
class BufferPool {
 public:
  explicit BufferPool(size_t max_idle) : max_idle_(max_idle) {}
  std::unique_ptr<T> Take() {
    std::lock_guard<std::mutex> lock(mu_);
    if (idle_.empty()) return std::make_unique<T>();
    std::unique_ptr<T> t = std::move(idle_.back());
    idle_.pop_back();
    return t;
  }
  void Give(std::unique_ptr<T> t) {
    if (!t) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (idle_.size() < max_idle_) idle_.push_back(std::move(t));
  }

 private:
  const size_t max_idle_;
  std::mutex mu_;
  std::vector<std::unique_ptr<T>> idle_;
};

using Buckets = std::array<std::string, kMetricCount>;  // one per family

// One set of buckets is enough: renders normally happen one at a time, on the poll thread.
BufferPool<Buckets>& BucketPool() {
  static BufferPool<Buckets> pool(1);
  return pool;
}

// Bodies of released Expositions: the next snapshot's text bodies and gzips reuse them.
BufferPool<std::string>& PlainPool() {
  static BufferPool<std::string> pool(2);
  return pool;
}
BufferPool<std::string>& GzipPool() {
  static BufferPool<std::string> pool(2);
  return pool;
}

std::string TakeString(BufferPool<std::string>& pool) {
  std::unique_ptr<std::string> s = pool.Take();
  s->clear();
  return std::move(*s);
}

void GiveString(BufferPool<std::string>& pool, std::string&& s) {
  if (s.capacity() < 4096) return;
  pool.Give(std::make_unique<std::string>(std::move(s)));
}

void AppendHeader(std::string& out, const MetricDef& def, ExpositionFormat format) {
  const bool om = format == ExpositionFormat::kOpenMetrics100;
  std::string_view family = om ? catalog::FamilyName(def) : def.name;
  out += "# HELP ";
  out.append(family);
  out.push_back(' ');
  out.append(def.help);  // catalog help has no backslashes or newlines (checked in a test)
  out += "\n# TYPE ";
  out.append(family);
  out.push_back(' ');
  out.append(catalog::TypeName(def.type));
  out.push_back('\n');
  if (om && !def.unit.empty()) {
    out += "# UNIT ";
    out.append(family);
    out.push_back(' ');
    out.append(def.unit);
    out.push_back('\n');
  }
}

// `{a="x",b="y"` for an entity (no closing brace: const labels may follow), built once per
// entity. Empty values are left out (Prometheus treats an empty label as absent), and so is uid
// unless asked for.
void AppendLabelSet(std::string& out, std::span<const std::string_view> names,
                    const std::vector<std::string>& values, bool uid_label) {
  out.push_back('{');
  bool first = true;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    if (values[i].empty() || (!uid_label && names[i] == "uid")) continue;
    if (!first) out.push_back(',');
    first = false;
    out.append(names[i]);
    out += "=\"";
    AppendEscapedLabelValue(out, values[i]);
    out.push_back('"');
  }
}

struct Renderer {
  ExpositionFormat format;
  WriterOptions options;
  Buckets& buckets;
  std::array<bool, kMetricCount> wanted{};   // in --metric-groups
  std::array<bool, kMetricCount> enabled{};  // wanted, and not ruled out by the filter
  uint64_t series_summary = 0;
  uint64_t series_metrics_api = 0;
  uint64_t series_pods = 0;  // pod-spec series (requests, limits, k8s_pod_info)
  std::string labels;  // scratch
  // Cardinality control (null filter: everything passes).
  const SeriesFilter* filter = nullptr;
  DropCounts dropped{};
  uint64_t kept = 0;        // data series written
  bool over_limit = false;  // the budget ran out: every later entity is dropped

  // Applies the filter to one entity: false when none of its series is written. Each dropped
  // series is counted under the first reason that drops it.
  bool Admit(const EntityStats& e) {
    uint64_t want = 0, pass = 0;
    for (const Sample& s : e.samples) {
      if (s.metric >= kMetricCount || !wanted[s.metric]) continue;
      ++want;
      pass += enabled[s.metric];
    }
    auto drop = [&](DropReason why, uint64_t n) {
      dropped[static_cast<size_t>(why)] += n;
      return false;
    };
    if (!filter->NamespaceAllowed(e)) return drop(DropReason::kNamespace, want);
    if (!filter->InterfaceAllowed(e)) return drop(DropReason::kInterface, want);
    dropped[static_cast<size_t>(DropReason::kMetric)] += want - pass;
    const uint64_t limit = filter->options().series_limit;
    if (limit > 0 && (over_limit || kept + pass > limit)) {
      over_limit = true;  // whole entities, in snapshot order, until the budget is spent
      return drop(DropReason::kSeriesLimit, pass);
    }
    kept += pass;
    return pass > 0;
  }

  void AddEntity(const EntityStats& e) {
    if (filter && !Admit(e)) return;
    const FamilyTable& fam = Families();
    labels.clear();
    AppendLabelSet(labels, catalog::LabelNames(e.entity), e.labels, options.uid_label);
    AppendExtraLabels(labels, e.extra_labels);  // pod-spec enrichment (enrich.cpp)
    const bool no_labels = labels.size() == 1;
    for (const Sample& s : e.samples) {
      if (s.metric >= kMetricCount || !enabled[s.metric]) continue;
      const MetricDef& def = kMetrics[s.metric];
      std::string& out = buckets[fam.family_of[s.metric]];
      out.append(def.name);
      const std::string& consts = fam.const_labels[s.metric];
      if (no_labels && consts.empty()) {
        // no label at all: no braces
      } else if (no_labels) {
        out.push_back('{');
        out.append(consts, 1, std::string::npos);
        out.push_back('}');
      } else {
        out.append(labels);
        out.append(consts);
        out.push_back('}');
      }
      out.push_back(' ');
      AppendScaledValue(out, s, def.exp10);
      if (options.source_timestamps && s.time_ms > 0) AppendTimestamp(out, s.time_ms, format);
      out.push_back('\n');
      if (def.source == catalog::Source::kSummary) ++series_summary;
      if (def.source == catalog::Source::kMetricsApi) ++series_metrics_api;
      if (def.source == catalog::Source::kPods) ++series_pods;
    }
  }

  // One self-metric sample; labels given as name/value pairs.
  void AddSelf(std::string_view name,
               std::initializer_list<std::pair<std::string_view, std::string_view>> lbls,
               double value) {
    int id = catalog::FindByName(name);
    if (id < 0) return;
    std::string& out = buckets[Families().family_of[static_cast<size_t>(id)]];
    out.append(name);
    if (lbls.size()) {
      out.push_back('{');
      bool first = true;
      for (const auto& [k, v] : lbls) {
        if (!first) out.push_back(',');
        first = false;
        out.append(k);
        out += "=\"";
        AppendEscapedLabelValue(out, v);
        out.push_back('"');
      }
      out.push_back('}');
    }
    out.push_back(' ');
    AppendDouble(out, value);
    out.push_back('\n');
  }

  void AddSelfMetrics(const Snapshot& snap, const DropCounts& dropped_totals) {
    AddSelf("kube_metrics_bridge_build_info", {{"version", Version()}, {"revision", Revision()}},
            1);
    AddSelf("kube_metrics_bridge_polls_total", {}, static_cast<double>(snap.polls_total));
    AddSelf("kube_metrics_bridge_polls_skipped_total", {},
            static_cast<double>(snap.polls_skipped_total));
    AddSelf("kube_metrics_bridge_kubelet_insecure_tls", {}, snap.kubelet_insecure_tls ? 1 : 0);
    auto source_block = [&](std::string_view source, const SourceState& st, uint64_t series) {
      if (!st.enabled) return;
      AddSelf("kube_metrics_bridge_poll_duration_seconds", {{"source", source}}, st.poll_seconds);
      if (st.last_success_unix > 0) {
        AddSelf("kube_metrics_bridge_last_success_timestamp_seconds", {{"source", source}},
                st.last_success_unix);
      }
      AddSelf("kube_metrics_bridge_series", {{"source", source}}, static_cast<double>(series));
      for (const char* r : kAllReasons) {
        auto it = snap.errors_total.find({std::string(source), r});
        AddSelf("kube_metrics_bridge_errors_total", {{"source", source}, {"reason", r}},
                it == snap.errors_total.end() ? 0.0 : static_cast<double>(it->second));
      }
    };
    source_block("summary", snap.summary, series_summary);
    source_block("metrics-api", snap.metrics_api, series_metrics_api);
    if (!snap.pod_entities.empty()) {  // the pod specs joined from the watch cache
      AddSelf("kube_metrics_bridge_series", {{"source", "pods"}}, static_cast<double>(series_pods));
    }
    // Reasons outside the fixed list (should not happen) are still shown.
    for (const auto& [key, count] : snap.errors_total) {
      bool known = false;
      for (const char* r : kAllReasons) known |= key.second == r;
      if (!known) {
        AddSelf("kube_metrics_bridge_errors_total", {{"source", key.first}, {"reason", key.second}},
                static_cast<double>(count));
      }
    }
    if (snap.summary.enabled) {
      for (const NodeResult& n : snap.nodes) {
        AddSelf("kube_metrics_bridge_source_up", {{"source", "summary"}, {"node", n.node}},
                n.status.ok() ? 1 : 0);
      }
    }
    if (snap.metrics_api.enabled) {
      AddSelf("kube_metrics_bridge_source_up", {{"source", "metrics-api"}},
              snap.metrics_api.up ? 1 : 0);
    }
    for (size_t r = 0; r < kDropReasonCount; ++r) {
      AddSelf("kube_metrics_bridge_series_dropped_total",
              {{"reason", DropReasonName(static_cast<DropReason>(r))}},
              static_cast<double>(dropped_totals[r]));
    }
    AddWatchCacheMetrics(snap);
  }

  // ---- Watch cache self-metrics: kube_metrics_bridge_watch_*, errors_total{source="watch"} ----
  void AddWatchCacheMetrics(const Snapshot& snap) {
    if (snap.watch_caches.empty()) return;
    for (const auto& [resource, st] : snap.watch_caches) {
      AddSelf("kube_metrics_bridge_watch_lists_total",
              {{"resource", resource}, {"reason", "initial"}},
              static_cast<double>(st.lists - st.lists_gone));
      AddSelf("kube_metrics_bridge_watch_lists_total", {{"resource", resource}, {"reason", "gone"}},
              static_cast<double>(st.lists_gone));
      for (const auto& [type, count] : {std::pair{"ADDED", st.added},
                                        {"MODIFIED", st.modified},
                                        {"DELETED", st.deleted},
                                        {"BOOKMARK", st.bookmarks}}) {
        AddSelf("kube_metrics_bridge_watch_events_total", {{"resource", resource}, {"type", type}},
                static_cast<double>(count));
      }
      AddSelf("kube_metrics_bridge_watch_objects", {{"resource", resource}},
              static_cast<double>(st.objects));
    }
    for (const char* r : kAllReasons) {  // other reasons: the loop over errors_total above
      auto it = snap.errors_total.find({"watch", r});
      AddSelf("kube_metrics_bridge_errors_total", {{"source", "watch"}, {"reason", r}},
              it == snap.errors_total.end() ? 0.0 : static_cast<double>(it->second));
    }
  }
};

// Renders `snap` into `out` (cleared first). `totals` turns this snapshot's dropped counts into
// the counts since start; it runs once, after the data series and before the self-metrics.
void RenderInto(std::string& out, const Snapshot& snap, ExpositionFormat format,
                const WriterOptions& options,
                const std::function<const DropCounts&(const DropCounts&)>& totals) {
  std::unique_ptr<Buckets> buckets = BucketPool().Take();
  for (std::string& b : *buckets) b.clear();  // keeps the capacity of the last render
  Renderer r{format, options, *buckets, {}, {}, 0, 0, {}};
  r.filter = options.filter.get();
  const std::vector<std::string> groups =
      options.metric_groups.empty() ? DefaultMetricGroups() : options.metric_groups;
  for (size_t i = 0; i < kMetricCount; ++i) {
    r.wanted[i] = kMetrics[i].source == catalog::Source::kSelf ||
                  std::find(groups.begin(), groups.end(), kMetrics[i].group) != groups.end();
    r.enabled[i] = r.wanted[i] && (!r.filter || r.filter->RowAllowed(static_cast<MetricId>(i)));
  }
  for (const NodeResult& n : snap.nodes) {
    if (!n.status.ok()) continue;  // a failing node exports source_up 0 and no data series
    for (const EntityStats& e : n.summary.entities) r.AddEntity(e);
  }
  for (const EntityStats& e : snap.metrics_api_entities) r.AddEntity(e);
  for (const EntityStats& e : snap.pod_entities) r.AddEntity(e);  // pod-spec enrichment
  r.AddSelfMetrics(snap, totals(r.dropped));

  size_t total = 16;
  for (const std::string& b : r.buckets) total += b.size() + 256;
  out.clear();
  out.reserve(total);
  const FamilyTable& fam = Families();
  for (size_t f = 0; f < fam.first_row.size(); ++f) {
    if (r.buckets[f].empty()) continue;
    AppendHeader(out, kMetrics[fam.first_row[f]], format);
    out.append(r.buckets[f]);
  }
  if (format == ExpositionFormat::kOpenMetrics100) out += "# EOF\n";
  BucketPool().Give(std::move(buckets));
}

}  // namespace

void AppendScaledValue(std::string& out, const Sample& s, int exp10) {
  switch (s.kind) {
    case ValueKind::kUint:
      AppendScaledUint(out, s.u, exp10);
      return;
    case ValueKind::kInt:
      if (s.i < 0) {
        out.push_back('-');
        AppendScaledUint(out, static_cast<uint64_t>(0) - static_cast<uint64_t>(s.i), exp10);
      } else {
        AppendScaledUint(out, static_cast<uint64_t>(s.i), exp10);
      }
      return;
    case ValueKind::kDouble:
      // Dividing by an exact power of ten rounds once; multiplying by 1e-N (inexact) twice.
      AppendDouble(out, exp10 == 0  ? s.d
                        : exp10 < 0 ? s.d / std::pow(10.0, -exp10)
                                    : s.d * std::pow(10.0, exp10));
      return;
  }
}

void AppendEscapedLabelValue(std::string& out, std::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out.push_back(c);
    }
  }
}

std::vector<std::string> AllMetricGroups() { return catalog::Groups(); }

std::vector<std::string> DefaultMetricGroups() {
  std::vector<std::string> groups = AllMetricGroups();
  std::erase(groups, "psi-avg");
  return groups;
}

namespace {

// The one log line per poll when --series-limit cut the exposition.
void LogSeriesLimit(const WriterOptions& options, const DropCounts& dropped) {
  const uint64_t over = dropped[static_cast<size_t>(DropReason::kSeriesLimit)];
  if (over == 0 || !options.filter) return;
  log::Warn("series limit reached; the rest of the snapshot is not exported",
            {{"series_limit", std::to_string(options.filter->options().series_limit)},
             {"dropped", std::to_string(over)},
             {"hint",
              "raise --series-limit, filter (--namespaces, --metric-denylist) or shard "
              "(--total-shards); see docs/configuration.md"}});
}

}  // namespace

std::string RenderExposition(const Snapshot& snap, ExpositionFormat format,
                             const WriterOptions& options) {
  std::string out;
  // One snapshot on its own: its drops are the totals.
  RenderInto(out, snap, format, options, [&](const DropCounts& d) -> const DropCounts& {
    LogSeriesLimit(options, d);
    return d;
  });
  return out;
}

namespace {

// libdeflate at level 1 into one scratch buffer kept between snapshots. The buffer is sized for
// the worst case but only the pages the output touches become resident.
struct GzipScratch {
  std::mutex mu;
  libdeflate_compressor* compressor = nullptr;
  std::unique_ptr<char[]> buf;
  size_t size = 0;
};

void GzipInto(std::string& out, std::string_view data) {
  static GzipScratch scratch;
  std::lock_guard<std::mutex> lock(scratch.mu);
  if (!scratch.compressor) scratch.compressor = libdeflate_alloc_compressor(1);
  out.clear();
  if (!scratch.compressor) return;
  const size_t bound = libdeflate_gzip_compress_bound(scratch.compressor, data.size());
  if (bound > scratch.size) {
    scratch.buf.reset(new char[bound]);  // uninitialised: no page is touched here
    scratch.size = bound;
  }
  const size_t n = libdeflate_gzip_compress(scratch.compressor, data.data(), data.size(),
                                            scratch.buf.get(), scratch.size);
  out.assign(scratch.buf.get(), n);  // n == 0 (cannot happen with the bound): empty = failure
}

}  // namespace

std::string Gzip(std::string_view data) {
  std::string out;
  GzipInto(out, data);
  return out;
}

std::string GzipZlib(std::string_view data, int level) {
  z_stream zs{};
  // 15 + 16: zlib window with a gzip header.
  if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return {};
  // Grow the output as it fills instead of sizing it for the worst case: deflateBound of a
  // 70 MB body is 70 MB of pages touched for a ~6 MB result.
  std::string out;
  out.resize(std::max<size_t>(data.size() / 8, 4096));
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  int rc = Z_OK;
  while (rc == Z_OK) {
    if (zs.total_out == out.size()) out.resize(out.size() * 2);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + zs.total_out);
    zs.avail_out = static_cast<uInt>(out.size() - zs.total_out);
    rc = deflate(&zs, Z_FINISH);
  }
  out.resize(zs.total_out);
  out.shrink_to_fit();
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return {};
  return out;
}

Exposition::Exposition(SnapshotPtr snapshot, WriterOptions options)
    : snapshot_(std::move(snapshot)), options_(std::move(options)) {}

Exposition::~Exposition() {
  for (Slot& slot : slots_) {
    GiveString(PlainPool(), std::move(slot.plain));
    GiveString(GzipPool(), std::move(slot.gzip));
  }
}

const DropCounts& Exposition::DroppedTotals(const DropCounts& dropped) {
  std::call_once(totals_once_, [&] {
    dropped_ = dropped;
    totals_ = options_.filter ? options_.filter->Accumulate(dropped) : dropped;
    LogSeriesLimit(options_, dropped);
  });
  return totals_;
}

const std::string& Exposition::Body(ExpositionFormat format) {
  Slot& slot = slots_[static_cast<int>(format)];
  std::call_once(slot.plain_once, [&] {
    slot.plain = TakeString(PlainPool());
    RenderInto(slot.plain, *snapshot_, format, options_,
               [this](const DropCounts& d) -> const DropCounts& { return DroppedTotals(d); });
  });
  return slot.plain;
}

const std::string& Exposition::GzipBody(ExpositionFormat format) {
  Slot& slot = slots_[static_cast<int>(format)];
  const std::string& plain = Body(format);
  std::call_once(slot.gzip_once, [&] {
    slot.gzip = TakeString(GzipPool());
    GzipInto(slot.gzip, plain);
  });
  return slot.gzip;
}

void Exposition::Prepare() { GzipBody(ExpositionFormat::kText004); }

}  // namespace kmb
