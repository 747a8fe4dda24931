#include "kmb/exposition/writer.h"

#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>
#include <zlib.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "kmb/catalog/catalog.h"
#include "kmb/exposition/enrich.h"
#include "kmb/util/log.h"
#include "kmb/util/zlib_gzip.h"

namespace kmb {
namespace {

using catalog::kMetricCount;
using catalog::kMetrics;
using catalog::MetricDef;
using catalog::MetricId;

// Every reason a source can count, so that errors_total series exist (at 0) from the start
// and rate() works on the first error.
constexpr const char* kAllReasons[] = {reason::kTimeout,  reason::kConnect, reason::kTls,
                                       reason::kHttp4xx,  reason::kHttp5xx, reason::kDecode,
                                       reason::kTooLarge, reason::kBackoff};

// 10^n for the catalog's scales (|exp10| <= 22 are exact doubles); std::pow beyond.
double Pow10(int n) {
  static constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                      1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                      1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  return n >= 0 && n <= 22 ? kPow10[n] : std::pow(10.0, n);
}

// The number writers put their characters at `p` and return the end. The text window sizes
// each line before writing it (see TextWindow), so none of them checks for room.
// The longest scaled value: "-0." and 34 fractional zeros (a catalog scale down to 10^-30,
// a short decimal's 4 digits) before 20 digits; a double or a timestamp is shorter.
constexpr size_t kMaxValueChars = 64;
constexpr bool CatalogScalesFit() {
  for (const MetricDef& d : kMetrics) {
    if (d.exp10 < -30) return false;
  }
  return true;
}
static_assert(CatalogScalesFit(), "a catalog scale below 1e-30 needs a larger kMaxValueChars");

char* Put(char* p, std::string_view s) {
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

char* PutUint(char* p, uint64_t v) { return std::to_chars(p, p + 24, v).ptr; }

char* PutDouble(char* p, double v) {
  if (std::isnan(v)) return Put(p, "NaN");
  if (std::isinf(v)) return Put(p, v > 0 ? "+Inf" : "-Inf");
  return std::to_chars(p, p + 32, v).ptr;
}

// Integer magnitude m scaled by 10^exp10 (exp10 <= 0) as an exact decimal, trailing zeros cut.
char* PutScaledUint(char* p, uint64_t m, int exp10) {
  if (exp10 >= 0) {
    if (exp10 == 0 || m == 0) return PutUint(p, m);
    return PutDouble(p, static_cast<double>(m) * Pow10(exp10));
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
      *p++ = '0';
      return p;
    }
    p = Put(p, "0.");
    std::memset(p, '0', static_cast<size_t>(frac - n));
    p += frac - n;
    return Put(p, std::string_view(digits, static_cast<size_t>(end)));
  }
  p = Put(p, std::string_view(digits, static_cast<size_t>(n - frac)));
  if (frac_len > 0) {
    *p++ = '.';
    p = Put(p, std::string_view(digits + (n - frac), static_cast<size_t>(frac_len)));
  }
  return p;
}

// A double that is a decimal of at most kShortDecimalDigits fractional digits: its integer
// mantissa and digit count, else false. The kubelet's PSI averages are percents with two
// digits ("avg10": 11.63), written by Go as the shortest decimal that reads back as the same
// double; that decimal is found again when r / 10^k gives back the double exactly (r and 10^k
// are exact, the division rounds once: "r e-k" reads back as `v`), trying the fewest digits
// first.
constexpr int kShortDecimalDigits = 4;
bool ShortDecimal(double v, uint64_t* mantissa, int* digits) {
  // Below 1e11, v * 10^4 stays under 2^52. Also false for NaN, Inf and -0.
  if (!(v >= 0 && v < 1e11) || std::signbit(v)) return false;
  for (int k = 0; k <= kShortDecimalDigits; ++k) {
    // Rounded to the nearest integer: below 2^52, adding and taking away 2^52 leaves no
    // fraction (and calls nothing, unlike nearbyint without SSE4.1).
    constexpr double kTwo52 = 4503599627370496.0;
    const double r = (v * Pow10(k) + kTwo52) - kTwo52;
    if (r / Pow10(k) == v) {
      *mantissa = static_cast<uint64_t>(r);
      *digits = k;
      return true;
    }
  }
  return false;
}

char* PutScaledValue(char* p, const Sample& s, int exp10) {
  switch (s.kind) {
    case ValueKind::kUint:
      return PutScaledUint(p, s.u(), exp10);
    case ValueKind::kInt:
      if (s.i() < 0) {
        *p++ = '-';
        return PutScaledUint(p, static_cast<uint64_t>(0) - static_cast<uint64_t>(s.i()), exp10);
      }
      return PutScaledUint(p, static_cast<uint64_t>(s.i()), exp10);
    case ValueKind::kDouble: {
      // A short decimal is scaled in decimal, exactly: 11.63 percent is 0.1163, where dividing
      // the double by 100 gives 0.11630000000000001. It also skips the shortest round-trip
      // conversion: at 1,000 nodes libstdc++'s share of the CPU, where that runs, fell from
      // 6.3% to 1.7% (docs/performance.md).
      uint64_t mantissa;
      int digits;
      if (exp10 <= 0 && ShortDecimal(s.d(), &mantissa, &digits)) {
        return PutScaledUint(p, mantissa, exp10 - digits);
      }
      // Dividing by an exact power of ten rounds once; multiplying by 1e-N (inexact) twice.
      return PutDouble(p, exp10 == 0 ? s.d() : exp10 < 0 ? s.d() / Pow10(-exp10) : s.d() * Pow10(exp10));
    }
  }
  return p;
}

char* PutTimestamp(char* p, int64_t ms, ExpositionFormat format) {
  *p++ = ' ';
  return format == ExpositionFormat::kText004 ? PutUint(p, static_cast<uint64_t>(ms))
                                              : PutScaledUint(p, static_cast<uint64_t>(ms), -3);
}

void AppendDouble(std::string& out, double v) {
  char buf[kMaxValueChars];
  out.append(buf, PutDouble(buf, v));
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
  // From now on keeps at most `n` idle buffers (those let go are destroyed outside the lock).
  void Limit(size_t n) {
    std::vector<std::unique_ptr<T>> dropped;
    std::lock_guard<std::mutex> lock(mu_);
    max_idle_ = n;
    while (idle_.size() > n) {
      dropped.push_back(std::move(idle_.back()));
      idle_.pop_back();
    }
  }
  size_t idle() {
    std::lock_guard<std::mutex> lock(mu_);
    return idle_.size();
  }
  void Give(std::unique_ptr<T> t) {
    if (!t) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (idle_.size() < max_idle_) idle_.push_back(std::move(t));
  }

 private:
  size_t max_idle_;  // guarded by mu_
  std::mutex mu_;
  std::vector<std::unique_ptr<T>> idle_;
};

// One sample line to write: the admitted entity it belongs to (index into the label sets) and
// a copy of the sample's value. The copy is the point: the write pass goes family by family,
// and following pointers back into the snapshot's entities cost two cache misses per line
// (94% of the render's time in a profile at 600k series); 16 bytes per series read in order
// cost none. The sample times, needed only with --timestamps=source, sit in a parallel array.
struct SampleRef {
  uint32_t entity;
  catalog::MetricId metric;
  ValueKind kind;
  uint64_t bits;  // Sample's value union
};
static_assert(sizeof(SampleRef) == 16);

// Everything a render needs besides its output, kept between renders (capacity reused):
// 16 bytes per series of references instead of the text itself, so that the text can be
// streamed into the gzip body in small pieces and never exists whole (docs/performance.md).
// The references of a pass's families sit in one array, each family's in snapshot order (a
// counting sort: exact size, no per-family slack). A large snapshot is written in up to
// kMaxPasses passes over runs of families, each filing only its own families' references, so
// that the array holds a fraction of the series (see Renderer::Write).
//
// What is kept per admitted entity lies in parallel arrays indexed alike (admitted, span,
// label_begin, label_end, label_hash) rather than in one array of structs: every pass scans
// `span` of every entity to skip those outside its families (4 bytes each: ~2 MB for the
// ~480,000 entities of 1,000 nodes), and reads the others only for the entities it files.
struct RenderScratch {
  std::vector<const EntityStats*> admitted;             // entities that passed the filter, in order
  std::array<size_t, kMetricCount + 1> family_begin{};  // refs of family f: [begin[f], begin[f+1])
  std::vector<SampleRef> refs;                 // the refs of the families of one pass
  std::vector<int64_t> times;                  // refs' sample times (--timestamps=source only)
  // Admitted entity i's samples belong to families [span[i].first, span[i].second]: a pass
  // over other families skips it without reading its samples.
  std::vector<std::pair<uint16_t, uint16_t>> span;
  std::array<std::string, kMetricCount> self;  // self-metric lines per family
  // Label sets, rendered once per render, when the first pass that writes a line of the
  // entity files its samples, and dropped by the first pass past the entity's families:
  // admitted entity i's `{a="x",...` is labels[label_begin[i], label_end[i]) while it is in
  // the arena (label_end[i] == 0: not yet; a rendered set is never empty, it opens with `{`).
  // The arena holds the sets of the entity kinds the passes are in, not the whole snapshot's
  // (at 1,000 nodes ~30 MB for all).
  std::vector<uint32_t> label_begin, label_end;
  std::string labels;
  std::vector<uint32_t> labeled;     // the entities with a set in the arena, in arena order
  std::vector<uint64_t> label_hash;  // of each admitted entity's label set (keyed renders only)
  std::string window;  // the text window (TextWindow), sized once
  size_t largest_pass = 0;     // references of the last render's largest pass
  size_t largest_labels = 0;   // the last render's largest arena, in characters
  size_t most_labeled = 0;     // and in entities
  // Empties everything for the next render. The per-entity arrays keep room for as many
  // entities as the last render had, and an eighth more (see FitRoom).
  void Clear() {
    FitRoom(admitted, admitted.size());
    family_begin.fill(0);
    refs.clear();
    times.clear();
    FitRoom(span, span.size());
    for (auto& t : self) t.clear();
    FitRoom(label_begin, label_begin.size());
    FitRoom(label_end, label_end.size());
    FitRoom(labels, largest_labels);
    FitRoom(labeled, most_labeled);
    largest_labels = most_labeled = 0;
    FitRoom(label_hash, label_hash.size());
  }
  // Empties `c`, leaving it room for `n` elements and an eighth more: a buffer that grew by
  // doubling may have up to half of its room unused, and the scratch keeps it between renders
  // (at 100 nodes ~6 of 17 MB). Room within a quarter of that is kept as it is, so a render of
  // about the same size as the last one neither grows nor shrinks it.
  template <typename C>
  static void FitRoom(C& c, size_t n) {
    const size_t want = n + n / 8;
    c.clear();
    if (c.capacity() < want || c.capacity() > n + n / 4 + 1024) {
      c.shrink_to_fit();  // empty: frees the block (a swap with a fresh one warns on GCC 12)
      c.reserve(want);
    }
  }
};

// One scratch is enough: renders normally happen one at a time, on the poll thread.
BufferPool<RenderScratch>& ScratchPool() {
  static BufferPool<RenderScratch> pool(1);
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
                    const LabelValues& values, bool uid_label) {
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

// Where the render's text goes: `text` is called with the text rendered so far, in order, at
// least every kFlushBytes (the gzip body compresses it, the text body appends it).
//
// A keyed sink (the gzip body) also hears where each segment begins and ends: a segment is a
// run of whole families of at least kSegmentLines lines, its key a 128-bit hash of all that
// decides its text (format, families, every line's label set, value and time, self-metric
// lines). When `begin_segment` answers true the sink has that text's compressed bytes already
// (from the previous body) and, unless `text_always`, the renderer skips the segment.
struct TextSink {
  std::function<void(std::string_view)> text;
  std::function<bool(const XXH128_hash_t& key)> begin_segment;  // null: not keyed
  std::function<void()> end_segment;
  bool text_always = true;  // another body wants the text of every segment
};
constexpr size_t kFlushBytes = 256 << 10;
// A snapshot of more series than kPassRefs is written in passes of at most max(kPassRefs,
// series / kMaxPasses) references each (or of one family larger than that; since any two passes
// in a row hold more, there are at most 2 * kMaxPasses + 1): at 1,000 nodes (6M series) the
// references take ~12 instead of 96 MB in 8 or 9 passes, at 100 nodes (600k) ~1.2 instead of
// 10 MB in 9 to 11; each pass skips the entities without a line in its families (the catalog
// lists each entity kind's rows together).
constexpr size_t kPassRefs = size_t{1} << 16;
constexpr size_t kMaxPasses = 8;
constexpr size_t kPrefetchLines = 8;
constexpr size_t kPrefetchEntities = 8;
// Families are grouped into segments of at least this many lines, so that a small cluster's
// body is not cut into ~150 pieces that each restart the compressor's history.
constexpr size_t kSegmentLines = 512;

// The window the text is written into, ~256 KiB at a time, while its cache lines are hot. A
// line's size is bounded before it is written, so each line checks the room once and is
// then written through a pointer, instead of each of its pieces going through a
// std::string append (render + gzip 68.1 -> 63.0 ms in micro_bench, docs/performance.md).
class TextWindow {
 public:
  TextWindow(std::string& buf, const TextSink& sink) : buf_(buf), sink_(sink) {
    if (buf_.size() < kFlushBytes + (64 << 10)) buf_.resize(kFlushBytes + (64 << 10));
  }
  // Room for `n` more characters, at the returned pointer; then Commit where they end.
  char* Reserve(size_t n) {
    if (used_ + n > buf_.size()) {
      Flush();
      if (n > buf_.size()) buf_.resize(n);  // one line longer than the window (huge labels)
    }
    return buf_.data() + used_;
  }
  void Commit(const char* end) {
    used_ = static_cast<size_t>(end - buf_.data());
    if (used_ >= kFlushBytes) Flush();
  }
  void Append(std::string_view s) { Commit(Put(Reserve(s.size()), s)); }
  // Hands what is written so far to the sink (the end of a segment, or of the text).
  void Flush() {
    if (used_ > 0) sink_.text(std::string_view(buf_.data(), used_));
    used_ = 0;
  }

 private:
  std::string& buf_;  // sized once (the render scratch keeps it): written, never appended to
  const TextSink& sink_;
  size_t used_ = 0;
};

// Two passes. Index: admits each entity through the filter (in snapshot order, so that
// --series-limit keeps the first entities), renders its label set once, and files a reference
// to each wanted sample under its family. Write: family by family, one line per reference.
struct Renderer {
  ExpositionFormat format;
  const WriterOptions& options;
  RenderScratch& scratch;
  std::array<bool, kMetricCount> wanted{};   // in --metric-groups
  std::array<bool, kMetricCount> enabled{};  // wanted, and not ruled out by the filter
  uint64_t series_summary = 0;
  uint64_t series_metrics_api = 0;
  uint64_t series_pods = 0;  // pod-spec series (requests, limits, k8s_pod_info)
  // Cardinality control (null filter: everything passes).
  const SeriesFilter* filter = nullptr;
  DropCounts dropped{};
  uint64_t kept = 0;        // data series written
  bool over_limit = false;  // the budget ran out: every later entity is dropped
  bool keyed = false;       // the sink reuses segments: hash the label sets for their keys
  size_t ref_base = 0;      // refs[i] is the reference at family_begin position ref_base + i

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

  // Index pass, part 1: admits the entity and counts its samples per family (its label set is
  // rendered later, by the first pass that writes a line of it: LabelEntity).
  void AddEntity(const EntityStats& e) {
    if (filter && !Admit(e)) return;
    const FamilyTable& fam = Families();
    scratch.admitted.push_back(&e);
    scratch.label_begin.push_back(0);
    scratch.label_end.push_back(0);
    if (keyed) scratch.label_hash.push_back(0);
    uint16_t lo = UINT16_MAX, hi = 0;
    for (const Sample& s : e.samples) {
      if (s.metric >= kMetricCount || !enabled[s.metric]) continue;
      const uint16_t f = fam.family_of[s.metric];
      lo = std::min(lo, f);
      hi = std::max(hi, f);
      ++scratch.family_begin[f + 1];
      const catalog::Source source = kMetrics[s.metric].source;
      if (source == catalog::Source::kSummary) ++series_summary;
      if (source == catalog::Source::kMetricsApi) ++series_metrics_api;
      if (source == catalog::Source::kPods) ++series_pods;
    }
    scratch.span.emplace_back(lo, hi);
  }

  // Index pass, part 2: where each family's lines are in the order they are written (the
  // counts' prefix sum).
  void Offsets() {
    std::array<size_t, kMetricCount + 1>& begin = scratch.family_begin;
    for (size_t f = 1; f < begin.size(); ++f) begin[f] += begin[f - 1];
  }

  // Index pass, part 3, once per pass: files every admitted sample of families [first, last)
  // under its family.
  void FileSamples(size_t first, size_t last) {
    const FamilyTable& fam = Families();
    const std::array<size_t, kMetricCount + 1>& begin = scratch.family_begin;
    ref_base = begin[first];
    const bool times = options.source_timestamps;
    scratch.refs.resize(begin[last] - ref_base);
    if (times) scratch.times.resize(begin[last] - ref_base);
    std::array<size_t, kMetricCount> next;
    for (size_t f = first; f < last; ++f) next[f] = begin[f] - ref_base;
    DropLabelsBefore(first);
    const size_t admitted = scratch.admitted.size();
    for (uint32_t i = 0; i < admitted; ++i) {
      if (scratch.span[i].second < first || scratch.span[i].first >= last) continue;
      // The entities' samples are blocks of their own: fetch a few entities ahead.
      if (i + 2 * kPrefetchEntities < admitted) {
        __builtin_prefetch(scratch.admitted[i + 2 * kPrefetchEntities]);
        __builtin_prefetch(scratch.admitted[i + kPrefetchEntities]->samples.data());
      }
      bool labeled = scratch.label_end[i] != 0;  // by an earlier pass
      for (const Sample& s : scratch.admitted[i]->samples) {
        if (s.metric >= kMetricCount || !enabled[s.metric]) continue;
        const size_t f = fam.family_of[s.metric];
        if (f < first || f >= last) continue;
        if (!labeled) {
          LabelEntity(i);
          labeled = true;
        }
        const size_t at = next[f]++;
        scratch.refs[at] = {i, s.metric, s.kind, s.u()};
        if (times) scratch.times[at] = scratch.admitted[i]->time_ms(s);
      }
    }
    scratch.largest_labels = std::max(scratch.largest_labels, scratch.labels.size());
    scratch.most_labeled = std::max(scratch.most_labeled, scratch.labeled.size());
  }

  // Renders admitted entity i's label set at the end of the arena (and, for a keyed render,
  // its hash).
  void LabelEntity(uint32_t i) {
    const EntityStats& e = *scratch.admitted[i];
    std::string& labels = scratch.labels;
    const size_t begin = labels.size();
    AppendLabelSet(labels, catalog::LabelNames(e.entity), e.labels, options.uid_label);
    AppendExtraLabels(labels, e.extra_labels);  // pod-spec enrichment (enrich.cpp)
    scratch.label_begin[i] = static_cast<uint32_t>(begin);
    scratch.label_end[i] = static_cast<uint32_t>(labels.size());
    scratch.labeled.push_back(i);
    if (keyed) scratch.label_hash[i] = XXH3_64bits(labels.data() + begin, labels.size() - begin);
  }

  // Before the pass that starts at family `first`: drops the label sets of the entities
  // without a family from `first` on (no later pass writes a line of them) and moves the rest
  // to the front of the arena, in arena order (so a set never moves onto one not yet moved).
  void DropLabelsBefore(size_t first) {
    char* labels = scratch.labels.data();
    size_t to = 0, kept = 0;
    for (const uint32_t i : scratch.labeled) {
      if (scratch.span[i].second < first) continue;
      const uint32_t from = scratch.label_begin[i], n = scratch.label_end[i] - from;
      if (from != to) std::memmove(labels + to, labels + from, n);
      scratch.label_begin[i] = static_cast<uint32_t>(to);
      scratch.label_end[i] = static_cast<uint32_t>(to + n);
      to += n;
      scratch.labeled[kept++] = i;
    }
    scratch.labeled.resize(kept);
    scratch.labels.resize(to);
  }

  // Admitted entity i's label set, while it is in the arena.
  std::string_view LabelSet(uint32_t i) const {
    return {scratch.labels.data() + scratch.label_begin[i],
            scratch.label_end[i] - scratch.label_begin[i]};
  }

  // One sample line.
  void WriteSample(TextWindow& w, const SampleRef& ref, int64_t time_ms) const {
    Sample s;
    s.metric = ref.metric;
    s.kind = ref.kind;
    s.set_u(ref.bits);
    const MetricDef& def = kMetrics[s.metric];
    const std::string_view labels = LabelSet(ref.entity);
    const std::string_view consts = Families().const_labels[s.metric];
    char* p = w.Reserve(def.name.size() + labels.size() + consts.size() + 3 + kMaxValueChars * 2);
    p = Put(p, def.name);
    if (labels.size() == 1 && consts.empty()) {
      // no label at all: no braces
    } else if (labels.size() == 1) {
      *p++ = '{';
      p = Put(p, consts.substr(1));
      *p++ = '}';
    } else {
      p = Put(p, labels);
      p = Put(p, consts);
      *p++ = '}';
    }
    *p++ = ' ';
    p = PutScaledValue(p, s, def.exp10);
    if (options.source_timestamps && time_ms > 0) p = PutTimestamp(p, time_ms, format);
    *p++ = '\n';
    w.Commit(p);
  }

  // The key of the segment made of families [first, last): everything its text depends on.
  // The label set of a line enters by its hash, its value and time as they are, the rest of
  // the line (name, const labels, scale) by the catalog row. A line is 16 bytes of input (24
  // with --timestamps=source; without, times are not in the text): the catalog row and the
  // value's kind are mixed into the label set's hash by an odd multiplier, one-to-one on them,
  // so two lines still need a 64-bit collision to look alike.
  XXH128_hash_t SegmentKey(size_t first, size_t last) const {
    XXH3_state_t st;
    XXH3_128bits_reset(&st);
    const uint64_t head[] = {static_cast<uint64_t>(format), options.source_timestamps ? 1u : 0u,
                             first, last};
    XXH3_128bits_update(&st, head, sizeof(head));
    // Lines go in by batches: the streaming update has a cost per call.
    constexpr size_t kBatch = 128;
    constexpr uint64_t kMix = 0x9E3779B97F4A7C15ULL;  // odd: x -> x * kMix is one-to-one
    const bool times = !scratch.times.empty();
    std::array<uint64_t, kBatch * 3> batch;
    for (size_t f = first; f < last; ++f) {
      const std::string& self = scratch.self[f];
      const uint64_t fam_head[] = {f, scratch.family_begin[f + 1] - scratch.family_begin[f],
                                   self.size()};
      XXH3_128bits_update(&st, fam_head, sizeof(fam_head));
      XXH3_128bits_update(&st, self.data(), self.size());
      size_t n = 0;
      for (size_t at = scratch.family_begin[f] - ref_base;
           at < scratch.family_begin[f + 1] - ref_base; ++at) {
        const SampleRef& ref = scratch.refs[at];
        const uint64_t row = ref.metric | static_cast<uint64_t>(ref.kind) << 32;
        batch[n++] = scratch.label_hash[ref.entity] ^ row * kMix;
        batch[n++] = ref.bits;
        if (times) batch[n++] = static_cast<uint64_t>(scratch.times[at]);
        if (n + 3 > batch.size()) {
          XXH3_128bits_update(&st, batch.data(), n * sizeof(uint64_t));
          n = 0;
        }
      }
      XXH3_128bits_update(&st, batch.data(), n * sizeof(uint64_t));
    }
    return XXH3_128bits_digest(&st);
  }

  // One family: header, sample lines, self-metric lines.
  void WriteFamily(TextWindow& w, size_t f, std::string& header) const {
    const FamilyTable& fam = Families();
    const size_t begin = scratch.family_begin[f] - ref_base;
    const size_t end = scratch.family_begin[f + 1] - ref_base;
    const std::string& self = scratch.self[f];
    if (begin == end && self.empty()) return;
    header.clear();
    AppendHeader(header, kMetrics[fam.first_row[f]], format);
    w.Append(header);
    for (size_t at = begin; at < end; ++at) {
      // A family's lines visit the entities' label sets in order but with gaps, and at 1,000
      // nodes a pass's label arena is out of cache: fetch a few lines ahead.
      if (at + kPrefetchLines < end) {
        const char* l = LabelSet(scratch.refs[at + kPrefetchLines].entity).data();
        __builtin_prefetch(l);
        __builtin_prefetch(l + 64);
      }
      WriteSample(w, scratch.refs[at], scratch.times.empty() ? 0 : scratch.times[at]);
    }
    w.Append(self);
  }

  // The text, family by family, handed to `sink` in pieces of about kFlushBytes; for a keyed
  // sink, segment by segment (see TextSink), the last one ending with OpenMetrics' # EOF.
  // Pass by pass: each pass files the references of a run of families of at most
  // max(kPassRefs, series / kMaxPasses) lines (at least one family), then writes them; a
  // segment never spans two passes.
  size_t Write(const TextSink& sink) {
    const size_t families = Families().first_row.size();
    const std::array<size_t, kMetricCount + 1>& begin = scratch.family_begin;
    const size_t pass_refs =
        std::max(options.pass_refs != 0 ? options.pass_refs : kPassRefs,
                 begin[families] / kMaxPasses + 1);
    // An unkeyed sink hears one segment: the whole text.
    const size_t min_lines = keyed ? kSegmentLines : std::numeric_limits<size_t>::max();
    // Room for the largest pass's references, sized here once: filing them would grow the
    // array by doubling, to up to twice that.
    // The families of the pass that starts at family `first` end before the returned one.
    auto pass_end_from = [&](size_t first) {
      size_t end = first;
      while (++end < families && begin[end + 1] - begin[first] <= pass_refs) {
      }
      return end;
    };
    size_t most_refs = 0;
    for (size_t first = 0, end = 0; first < families; first = end) {
      end = pass_end_from(first);
      most_refs = std::max(most_refs, begin[end] - begin[first]);
    }
    scratch.largest_pass = most_refs;
    RenderScratch::FitRoom(scratch.refs, most_refs);
    if (options.source_timestamps) RenderScratch::FitRoom(scratch.times, most_refs);
    TextWindow w(scratch.window, sink);
    std::string header;
    size_t pass_end = 0, passes = 0;
    for (size_t first = 0; first < families;) {
      if (first == pass_end) {
        pass_end = pass_end_from(first);
        FileSamples(first, pass_end);
        ++passes;
      }
      size_t last = first, lines = 0;
      while (last < pass_end && lines < min_lines) {
        lines += begin[last + 1] - begin[last];
        ++last;
      }
      const bool reused = keyed && sink.begin_segment(SegmentKey(first, last));
      if (!reused || sink.text_always) {
        for (size_t f = first; f < last; ++f) WriteFamily(w, f, header);
        if (last == families && format == ExpositionFormat::kOpenMetrics100) {
          w.Append("# EOF\n");
        }
      }
      w.Flush();
      if (keyed) sink.end_segment();
      first = last;
    }
    return passes;
  }

  // One self-metric sample; labels given as name/value pairs.
  void AddSelf(std::string_view name,
               std::initializer_list<std::pair<std::string_view, std::string_view>> lbls,
               double value) {
    int id = catalog::FindByName(name);
    if (id < 0) return;
    std::string& out = scratch.self[Families().family_of[static_cast<size_t>(id)]];
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
    if (snap.summary.enabled) {
      AddSelf("kube_metrics_bridge_kubelet_poll_workers", {},
              static_cast<double>(snap.summary_workers));
    }
    AddSelf("kube_metrics_bridge_kubelet_insecure_tls", {}, snap.kubelet_insecure_tls ? 1 : 0);
    const ProcessStats& proc = snap.process;
    if (proc.start_time_seconds > 0) {  // read from /proc at the end of the poll
      AddSelf("process_cpu_seconds_total", {}, proc.cpu_seconds);
      AddSelf("process_resident_memory_bytes", {}, proc.resident_bytes);
      AddSelf("process_virtual_memory_bytes", {}, proc.virtual_bytes);
      AddSelf("process_start_time_seconds", {}, proc.start_time_seconds);
      AddSelf("process_open_fds", {}, proc.open_fds);
      if (proc.max_fds > 0) AddSelf("process_max_fds", {}, proc.max_fds);
      AddSelf("kube_metrics_bridge_heap_bytes", {{"state", "in_use"}}, proc.heap_in_use_bytes);
      AddSelf("kube_metrics_bridge_heap_bytes", {{"state", "free"}}, proc.heap_free_bytes);
      AddSelf("kube_metrics_bridge_heap_trims_total", {},
              static_cast<double>(proc.heap_trims_total));
      AddSelf("kube_metrics_bridge_heap_released_bytes_total", {}, proc.heap_released_bytes_total);
    }
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
              static_cast<double>(st.lists - st.lists_gone - st.lists_error));
      AddSelf("kube_metrics_bridge_watch_lists_total", {{"resource", resource}, {"reason", "gone"}},
              static_cast<double>(st.lists_gone));
      AddSelf("kube_metrics_bridge_watch_lists_total",
              {{"resource", resource}, {"reason", "error"}}, static_cast<double>(st.lists_error));
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

// Renders `snap`, handing the text to `sink` in pieces; returns the passes it made.
// `totals` turns this snapshot's dropped counts into the counts since start; it runs once,
// after the data series are indexed and before the self-metrics.
size_t RenderInto(const Snapshot& snap, ExpositionFormat format, const WriterOptions& options,
                const std::function<const DropCounts&(const DropCounts&)>& totals,
                const TextSink& sink) {
  std::unique_ptr<RenderScratch> scratch = ScratchPool().Take();
  scratch->Clear();  // keeps the capacity of the last render
  Renderer r{format, options, *scratch};
  r.filter = options.filter.get();
  r.keyed = static_cast<bool>(sink.begin_segment);
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
  r.Offsets();
  r.AddSelfMetrics(snap, totals(r.dropped));
  const size_t passes = r.Write(sink);
  ScratchPool().Give(std::move(scratch));
  return passes;
}

}  // namespace

size_t IdleBodyBuffersForTest(bool gzip) { return gzip ? GzipPool().idle() : PlainPool().idle(); }

RenderScratchRoom RenderScratchRoomForTest() {
  std::unique_ptr<RenderScratch> s = ScratchPool().Take();
  RenderScratchRoom room{s->refs.capacity(),  s->largest_pass,        s->labels.capacity(),
                         s->largest_labels,   s->admitted.capacity(), s->admitted.size()};
  ScratchPool().Give(std::move(s));
  return room;
}

void AppendScaledValue(std::string& out, const Sample& s, int exp10) {
  char buf[kMaxValueChars];
  out.append(buf, PutScaledValue(buf, s, exp10));
}

namespace {

// True when a byte of `x` equals `b` (exact: the borrow trick of "has a zero byte").
constexpr bool HasByte(uint64_t x, uint8_t b) {
  constexpr uint64_t kOnes = 0x0101010101010101ull, kHighs = 0x8080808080808080ull;
  const uint64_t v = x ^ (kOnes * b);
  return ((v - kOnes) & ~v & kHighs) != 0;
}

// Whether `value` holds \\, " or a newline, 8 bytes at a time. std::string_view::find_first_of
// calls memchr over the three characters once per byte of the value: 3% of the exporter's CPU
// at 100 nodes (perf), for label values that almost never need escaping.
bool NeedsEscaping(std::string_view value) {
  size_t i = 0;
  for (; i + 8 <= value.size(); i += 8) {
    uint64_t x;
    std::memcpy(&x, value.data() + i, 8);
    if (HasByte(x, '\\') || HasByte(x, '"') || HasByte(x, '\n')) return true;
  }
  for (; i < value.size(); ++i) {
    const char c = value[i];
    if (c == '\\' || c == '"' || c == '\n') return true;
  }
  return false;
}

}  // namespace

void AppendEscapedLabelValue(std::string& out, std::string_view value) {
  // Nearly every value needs no escaping: one append.
  if (!NeedsEscaping(value)) {
    out.append(value);
    return;
  }
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
  RenderInto(
      snap, format, options,
      [&](const DropCounts& d) -> const DropCounts& {
        LogSeriesLimit(options, d);
        return d;
      },
      TextSink{[&](std::string_view text) { out.append(text); }, {}, {}, true});
  return out;
}

namespace {

// One compressed segment of a gzip body: a raw deflate stream of its own (no history from
// the segment before it) ending on a byte boundary with a non-final block, so that segments
// from different bodies can be laid end to end (RFC 1951, 3.2.3; pigz builds its output the
// same way).
struct GzipSegment {
  XXH128_hash_t key{};  // see TextSink; all zero: unkeyed, never reused
  uint32_t crc = 0;     // CRC-32 of the segment's text
  uint64_t text_bytes = 0;
  size_t offset = 0, size = 0;  // its compressed bytes in the body
};

// The last gzip body of a format and its segments: the next body copies from it the segments
// whose key it meets again. The body is shared with the Exposition that serves it.
struct GzipMemo {
  std::shared_ptr<const std::string> body;
  std::vector<GzipSegment> segments;
};

// The last gzip body of each format, shared by every Exposition of the process.
class GzipMemos {
 public:
  static GzipMemos& Get() {
    static GzipMemos* memos = new GzipMemos;  // never destroyed: bodies may outlive main()
    return *memos;
  }
  // Takes the last body of `format` out (a render of the format after it finds none): when the
  // taker is its only holder, it may write the next body over it (GzipStream).
  GzipMemo Take(ExpositionFormat format) {
    std::lock_guard<std::mutex> lock(mu_);
    return std::move(memo_[static_cast<int>(format)]);
  }
  void Remember(ExpositionFormat format, GzipMemo memo) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      std::swap(memo_[static_cast<int>(format)], memo);
    }
    // the replaced body is let go here, outside the lock
  }
  // Lets the last body of `format` go: no scraper asks for it any more.
  void Forget(ExpositionFormat format) { Remember(format, {}); }

 private:
  std::mutex mu_;
  GzipMemo memo_[2];
};

bool SameKey(const XXH128_hash_t& a, const XXH128_hash_t& b) {
  return a.low64 == b.low64 && a.high64 == b.high64;
}

// gzip (RFC 1952) by ISA-L's igzip at level 1, built segment by segment: each segment is
// compressed on its own (Begin, Add piece by piece, End), or copied from the previous body
// when that body has a segment of the same key (Begin answers true). The streamed render
// hands it ~256 KiB at a time, so the text body never has to exist whole. igzip level 1
// compresses the exposition at ~2.7x libdeflate level 1's speed for a 4% larger output
// (docs/architecture.md).
//
// In place: when `out` is the previous body itself, that body is first moved to the end of
// the buffer, an eighth of its size (and 64 KiB) further on, and the new body is written from
// the start. The write head then runs behind the old segments it copies, by the slack less
// what the new body has grown so far; a segment the head has already written over is
// compressed anew instead of copied (correct, only slower).
class GzipStream {
 public:
  GzipStream(std::string& out, GzipMemo previous)
      : out_(out),
        previous_(std::move(previous)),
        level_buf_(new uint8_t[kLevelBufSize]),
        zs_(std::make_unique<isal_zstream>()) {
    isal_deflate_init(zs_.get());
    zs_->level = 1;
    zs_->level_buf = level_buf_.get();
    zs_->level_buf_size = kLevelBufSize;
    zs_->gzip_flag = IGZIP_DEFLATE;  // raw deflate: the gzip header and trailer are ours
    if (previous_.body.get() == &out_ && !out_.empty()) {
      const size_t old = out_.size();
      base_ = old / 8 + (64 << 10);
      out_.resize(base_ + old);  // the slack only is new (written as zeros)
      std::memmove(out_.data() + base_, out_.data(), old);
      stats_.in_place = true;
    } else {
      if (previous_.body.get() == &out_) previous_ = {};  // empty: nothing to copy
      out_.clear();
    }
    // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=unknown (RFC 1952, 2.3)
    static constexpr uint8_t kHeader[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
    Put(kHeader, sizeof(kHeader));
    for (size_t i = 0; i < previous_.segments.size(); ++i) {
      if (previous_.segments[i].size > 0) index_.emplace(previous_.segments[i].key.low64, i);
    }
  }

  // Starts a segment; true when its bytes were copied from the previous body (then no Add).
  bool Begin(const XXH128_hash_t& key) {
    segment_ = GzipSegment{.key = key, .offset = used_};
    if (failed_ || !previous_.body) return false;
    for (auto [it, end] = index_.equal_range(key.low64); it != end; ++it) {
      const GzipSegment& old = previous_.segments[it->second];
      if (!SameKey(old.key, key)) continue;
      if (stats_.in_place && base_ + old.offset < written_) continue;  // written over already
      Append(*previous_.body, base_ + old.offset, old.size);
      segment_.crc = old.crc;
      segment_.text_bytes = old.text_bytes;
      stats_.reused_segments++;
      stats_.reused_text_bytes += old.text_bytes;
      copied_ = true;
      return true;
    }
    return false;
  }

  // Compresses `data`, a piece of the current segment's text (nothing when it was copied).
  void Add(std::string_view data) {
    if (failed_ || copied_ || data.empty()) return;
    segment_.crc = crc32_gzip_refl(segment_.crc, reinterpret_cast<const uint8_t*>(data.data()),
                                   data.size());
    segment_.text_bytes += data.size();
    Deflate(data, NO_FLUSH);
  }

  // Ends the segment: its deflate stream is flushed to a byte boundary (FULL_FLUSH: the next
  // segment starts without its history) unless it was copied.
  void End() {
    if (!copied_) Deflate({}, FULL_FLUSH);
    copied_ = false;
    if (failed_) return;
    segment_.size = used_ - segment_.offset;
    crc_ = segment_.text_bytes == 0
               ? crc_
               : static_cast<uint32_t>(crc32_combine(crc_, segment_.crc,
                                                     static_cast<z_off_t>(segment_.text_bytes)));
    text_bytes_ += segment_.text_bytes;
    stats_.segments++;
    stats_.text_bytes += segment_.text_bytes;
    segments_.push_back(segment_);
  }

  // One unkeyed segment of `data`.
  void AddSegment(std::string_view data) {
    Begin({});
    Add(data);
    End();
  }

  // Ends the body: an empty final block, then the CRC-32 and size of all the text. False on
  // an ISA-L error, after which the output is empty (the server then sends the text
  // uncompressed).
  bool Finish() {
    if (failed_) return false;
    uint8_t tail[10] = {0x03, 0x00};  // BFINAL=1, fixed Huffman codes, end of block
    for (int i = 0; i < 4; ++i) {
      tail[2 + i] = static_cast<uint8_t>(crc_ >> (8 * i));
      tail[6 + i] = static_cast<uint8_t>(text_bytes_ >> (8 * i));  // ISIZE: modulo 2^32
    }
    Put(tail, sizeof(tail));
    out_.resize(used_);
    return true;
  }

  const GzipStats& stats() const { return stats_; }
  std::vector<GzipSegment> TakeSegments() { return std::move(segments_); }

 private:
  // Makes `want` bytes of room past the output (16 KiB, or an eighth of the pending input: the
  // exposition compresses ~13x). The capacity grows by half, the size only by what is asked:
  // resize() writes zeros, and a size grown by half each time wrote over pages the output never
  // fills, which stayed resident in the pooled body for good (up to half again its size: RSS
  // 495.9 -> 464.4 MB at 1,000 nodes when it stopped; docs/performance.md).
  void Room(size_t want) {
    if (out_.size() - used_ >= want) return;
    const size_t need = used_ + want;
    if (need > out_.capacity()) out_.reserve(std::max(need, out_.capacity() + out_.capacity() / 2));
    out_.resize(need);
  }
  void Put(const uint8_t* data, size_t n) {
    Room(n);
    std::memcpy(out_.data() + used_, data, n);
    used_ += n;
    written_ = std::max(written_, used_);
  }
  // Appends `n` bytes of `from` at `offset`; `from` is the output itself when in place, so its
  // bytes are read after Room, which may move the buffer, and may overlap the destination.
  void Append(const std::string& from, size_t offset, size_t n) {
    Room(n);
    std::memmove(out_.data() + used_, from.data() + offset, n);
    used_ += n;
    written_ = std::max(written_, used_);
  }
  void Deflate(std::string_view data, uint16_t flush) {
    if (failed_) return;
    zs_->next_in = reinterpret_cast<uint8_t*>(const_cast<char*>(data.data()));
    zs_->avail_in = static_cast<uint32_t>(data.size());
    zs_->end_of_stream = 0;
    zs_->flush = flush;
    do {
      // igzip may write anywhere in the room it is given: no more than asked for, so that an
      // in-place body keeps the old segments ahead of it.
      const size_t want = std::max<size_t>({16 << 10, zs_->avail_in / 8});
      Room(want);
      zs_->next_out = reinterpret_cast<uint8_t*>(out_.data() + used_);
      zs_->avail_out = static_cast<uint32_t>(std::min<size_t>(want, UINT32_MAX));
      written_ = std::max(written_, used_ + want);
      const uint8_t* before = zs_->next_out;
      if (isal_deflate(zs_.get()) != COMP_OK) {
        failed_ = true;
        out_.clear();
        used_ = 0;
        return;
      }
      used_ += static_cast<size_t>(zs_->next_out - before);
      // A flush is complete once the stream waits for a new block header (igzip_lib.h).
    } while (zs_->avail_in > 0 ||
             (flush != NO_FLUSH && zs_->internal_state.state != ZSTATE_NEW_HDR));
  }

  static constexpr uint32_t kLevelBufSize = ISAL_DEF_LVL1_DEFAULT;
  std::string& out_;
  GzipMemo previous_;
  std::unordered_multimap<uint64_t, size_t> index_;  // previous segments by key.low64
  std::unique_ptr<uint8_t[]> level_buf_;
  // On the heap: the stream state holds igzip's hash tables (80 KiB), too much for the
  // small stacks of civetweb's worker threads, where an uncompressed scrape renders.
  std::unique_ptr<isal_zstream> zs_;
  size_t used_ = 0;
  size_t base_ = 0;     // in place: where the previous body's bytes start
  size_t written_ = 0;  // in place: the bytes below this may have been written over
  bool failed_ = false;
  bool copied_ = false;  // the current segment came from the previous body
  GzipSegment segment_;
  std::vector<GzipSegment> segments_;
  uint32_t crc_ = 0;
  uint64_t text_bytes_ = 0;
  GzipStats stats_;
};

void GzipInto(std::string& out, std::string_view data) {
  GzipStream gz(out, {});
  gz.AddSegment(data);
  gz.Finish();
}

}  // namespace

std::string Gzip(std::string_view data) {
  std::string out;
  GzipInto(out, data);
  return out;
}

std::string GzipZlib(std::string_view data, int level) {
  ZlibGzip gz(level);
  std::string out;
  if (!gz.Compress(data, /*last=*/true, &out)) return {};
  out.shrink_to_fit();
  return out;
}

namespace {
// Thrown inside a body's std::call_once when the snapshot is gone: the once flag stays unset.
struct SnapshotReleased {};
}  // namespace

Exposition::Exposition(SnapshotPtr snapshot, WriterOptions options)
    : snapshot_(std::move(snapshot)), options_(std::move(options)) {}

SnapshotPtr Exposition::snapshot() const {
  std::lock_guard<std::mutex> lock(snapshot_mu_);
  return snapshot_;
}

void Exposition::ReleaseData() {
  SnapshotPtr released;  // destroyed after the lock is let go
  std::lock_guard<std::mutex> lock(snapshot_mu_);
  released = std::move(snapshot_);
}

// The bodies go back to their pools when the last holder lets go: the slot, a scrape sending
// it, and for a gzip body the memo of the last body.
Exposition::~Exposition() = default;

namespace {
std::shared_ptr<std::string> TakeBody(BufferPool<std::string>& pool) {
  return std::shared_ptr<std::string>(new std::string(TakeString(pool)),
                                      [&pool](std::string* s) {
                                        GiveString(pool, std::move(*s));
                                        delete s;
                                      });
}
}  // namespace

GzipStats Exposition::gzip_stats(ExpositionFormat format) const {
  const Slot& slot = slots_[static_cast<int>(format)];
  return slot.gzip_done.load(std::memory_order_acquire) ? slot.gzip_stats : GzipStats{};
}

const DropCounts& Exposition::DroppedTotals(const DropCounts& dropped) {
  std::call_once(totals_once_, [&] {
    dropped_ = dropped;
    totals_ = options_.filter ? options_.filter->Accumulate(dropped) : dropped;
    LogSeriesLimit(options_, dropped);
  });
  return totals_;
}

void Exposition::Render(ExpositionFormat format, std::string* plain, bool gzip) {
  // Rendered in windows of ~256 KiB: the text is written while its cache lines are hot and
  // then copied out and/or compressed whole, so that under gzip scrapers the text never exists
  // whole (RSS per series 859 -> 373 B when it came; docs/performance.md).
  const SnapshotPtr snap = snapshot();  // kept alive until the render is done
  if (!snap) throw SnapshotReleased{};
  Slot& slot = slots_[static_cast<int>(format)];
  std::optional<GzipStream> gz;
  if (gzip) {
    GzipMemo previous = options_.gzip_reuse ? GzipMemos::Get().Take(format) : GzipMemo{};
    // The previous body, once withdrawn and sent to no one, is the only holder's to write
    // over; the memo made it from a non-const string (TakeBody).
    if (previous.body && previous.body.use_count() == 1) {
      // No other holder can appear now, and the last scrape's reads of it come before our
      // writes (its release of the body, then this acquire).
      std::atomic_thread_fence(std::memory_order_acquire);
      slot.gzip = std::const_pointer_cast<std::string>(previous.body);
    } else {
      slot.gzip = TakeBody(GzipPool());
    }
    gz.emplace(*slot.gzip, std::move(previous));
  }
  if (plain != nullptr) plain->clear();
  TextSink sink;
  sink.text = [&](std::string_view text) {
    if (plain != nullptr) plain->append(text);
    if (gz) gz->Add(text);  // ignored within a segment copied from the previous body
  };
  if (gz) {
    sink.begin_segment = [&](const XXH128_hash_t& key) { return gz->Begin(key); };
    sink.end_segment = [&] { gz->End(); };
    sink.text_always = plain != nullptr;
  }
  const size_t passes = RenderInto(
      *snap, format, options_,
      [this](const DropCounts& d) -> const DropCounts& { return DroppedTotals(d); }, sink);
  if (!gz) return;
  slot.gzip_stats = gz->stats();
  slot.gzip_stats.passes = passes;
  if (gz->Finish()) {
    GzipMemos::Get().Remember(format,
                              GzipMemo{.body = slot.gzip, .segments = gz->TakeSegments()});
  }
}

std::shared_ptr<const std::string> Exposition::TextBody(ExpositionFormat format,
                                                        bool with_gzip) {
  Slot& slot = slots_[static_cast<int>(format)];
  std::call_once(slot.plain_once, [&] {
    slot.plain = TakeBody(PlainPool());
    bool rendered = false;
    if (with_gzip) {  // both bodies from one render, unless the gzip body exists already
      std::call_once(slot.gzip_once, [&] {
        Render(format, slot.plain.get(), true);
        slot.gzip_done.store(true, std::memory_order_release);
        rendered = true;
      });
    }
    if (!rendered) Render(format, slot.plain.get(), false);
    slot.plain_done.store(true, std::memory_order_release);
  });
  return slot.Held(false);
}

std::shared_ptr<const std::string> Exposition::TryBody(ExpositionFormat format, bool gzip) {
  try {
    return gzip ? Gzipped(format) : TextBody(format, false);
  } catch (const SnapshotReleased&) {
    return nullptr;
  }
}

namespace {
const std::string& OrEmpty(const std::string* body) {
  static const std::string kNone;
  return body ? *body : kNone;
}
}  // namespace

const std::string& Exposition::Body(ExpositionFormat format) {
  return OrEmpty(TryBody(format, false).get());
}

const std::string& Exposition::GzipBody(ExpositionFormat format) {
  // Stays valid while the slot holds it: until WithdrawBodies, which tests call knowingly.
  return OrEmpty(TryBody(format, true).get());
}

std::shared_ptr<const std::string> Exposition::Gzipped(ExpositionFormat format) {
  Slot& slot = slots_[static_cast<int>(format)];
  std::call_once(slot.gzip_once, [&] {
    if (std::shared_ptr<const std::string> text = slot.Held(false)) {
      slot.gzip = TakeBody(GzipPool());
      GzipInto(*slot.gzip, *text);  // the text is there already: compress it
    } else {
      Render(format, nullptr, true);  // the text never exists whole
    }
    slot.gzip_done.store(true, std::memory_order_release);
  });
  return slot.Held(true);
}

std::shared_ptr<std::string> Exposition::Slot::Held(bool gzip) const {
  if (!(gzip ? gzip_done : plain_done).load(std::memory_order_acquire)) return nullptr;
  std::lock_guard<std::mutex> lock(body_mu);
  return gzip ? this->gzip : plain;  // null once withdrawn
}

void Exposition::WithdrawBodies() {
  for (Slot& slot : slots_) {
    std::shared_ptr<std::string> plain, gzip;  // let go outside the lock
    std::lock_guard<std::mutex> lock(slot.body_mu);
    if (slot.plain_done.load(std::memory_order_acquire)) plain = std::move(slot.plain);
    if (slot.gzip_done.load(std::memory_order_acquire)) gzip = std::move(slot.gzip);
  }
}

void Exposition::Prepare(BodySet bodies) {
  size_t plains = 0, gzips = 0;
  for (ExpositionFormat f : {ExpositionFormat::kText004, ExpositionFormat::kOpenMetrics100}) {
    const bool gzip = bodies.Has(f, true), plain = bodies.Has(f, false);
    plains += plain;
    gzips += gzip;
    try {
      if (plain) TextBody(f, /*with_gzip=*/gzip);
      if (gzip) Gzipped(f);
    } catch (const SnapshotReleased&) {
      // released already: nothing more can be rendered
    }
    // A gzip body nobody asks for any more is not kept for its segments (a one-off scrape of
    // text 0.0.4 with gzip would otherwise hold ~12 bytes per series from then on).
    if (!gzip) GzipMemos::Get().Forget(f);
  }
  // The next poll renders as many bodies: one idle buffer for each, and no more. A body buffer
  // holds its largest output resident (~70 MB of gzip at 1,000 nodes); with room for two idle
  // ones, a render that ran while the body before last was still held left a third buffer
  // (two idle beside the one served) for good.
  // A gzip body written over the previous one in place needs no idle buffer: one left by a
  // render that could not (a scrape still sent the previous body) is let go.
  size_t in_place = 0;
  for (const Slot& slot : slots_) {
    in_place += slot.gzip_done.load(std::memory_order_acquire) && slot.gzip_stats.in_place;
  }
  PlainPool().Limit(plains);
  GzipPool().Limit(gzips - std::min(gzips, in_place));
}

BodySet BodiesToPrepare(BodySet scraped, BodySet* last_scraped) {
  if (!scraped.empty()) {
    *last_scraped = scraped;
    return scraped;
  }
  const BodySet gzip = last_scraped->GzipOnly();
  return gzip.empty() ? BodySet::PrometheusDefault() : gzip;
}

bool Exposition::Ready(ExpositionFormat format, bool gzip) const {
  return slots_[static_cast<int>(format)].Held(gzip) != nullptr;
}

}  // namespace kmb
