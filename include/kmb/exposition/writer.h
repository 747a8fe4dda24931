#pragma once
// Writes a Snapshot as Prometheus text 0.0.4 or OpenMetrics 1.0.0, family-major (every sample
// of a family in one group under its HELP/TYPE), from the catalog. Rendering is done once per
// snapshot and format; gzip once per snapshot and format (see Exposition).

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "kmb/exposition/filter.h"
#include "kmb/model/snapshot.h"

namespace kmb {

enum class ExpositionFormat { kText004, kOpenMetrics100 };

inline constexpr std::string_view kTextContentType = "text/plain; version=0.0.4; charset=utf-8";
inline constexpr std::string_view kOpenMetricsContentType =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

struct WriterOptions {
  // --timestamps=source: each sample carries the time of its payload block.
  bool source_timestamps = false;
  // --pod-uid-label: pod-scoped series carry the pod's uid label (off: cardinality).
  bool uid_label = false;
  // --metric-groups: the catalog groups to write; empty = DefaultMetricGroups().
  std::vector<std::string> metric_groups;
  // Cardinality control (--namespaces, --metric-allowlist, ..., --series-limit); null: every
  // series is exported. Shared by every Exposition: it keeps the dropped counts since start.
  std::shared_ptr<SeriesFilter> filter;
  // The gzip body copies, from the last gzip body of its format, the compressed bytes of each
  // segment (a run of families) whose content did not change, instead of rendering and
  // compressing it again. false: every segment is rendered and compressed (benchmarks of the
  // full cost).
  bool gzip_reuse = true;
  // Snapshots of more than this many series are written in passes of about that many
  // references (0: the default, 1M; see writer.cpp). The text does not change; tests and
  // benchmarks make small snapshots take several passes.
  size_t pass_refs = 0;
};

// How a gzip body was made: its segments (runs of whole families, each compressed on its own)
// and how many of them, and of their text bytes, were copied from the previous body; and in
// how many passes over the snapshot the render wrote it (one unless it is large).
struct GzipStats {
  size_t segments = 0;
  size_t reused_segments = 0;
  uint64_t text_bytes = 0;
  uint64_t reused_text_bytes = 0;
  size_t passes = 0;
  // Written over the previous body of its format, in its own buffer (Exposition::WithdrawBodies).
  bool in_place = false;
};

// Every group of the catalog, in catalog order.
std::vector<std::string> AllMetricGroups();
// All groups but the opt-in ones (psi-avg).
std::vector<std::string> DefaultMetricGroups();

// Renders the whole exposition of `snapshot`.
std::string RenderExposition(const Snapshot& snapshot, ExpositionFormat format,
                             const WriterOptions& options = {});

// Tests: the idle body buffers the next renders will reuse (gzip, or text bodies).
size_t IdleBodyBuffersForTest(bool gzip);
// Tests: the room the render scratch keeps between renders, and what the last render used of
// it: references (of its largest pass), label-set characters, admitted entities.
struct RenderScratchRoom {
  size_t refs = 0, refs_used = 0;
  size_t label_chars = 0, label_chars_used = 0;
  size_t entities = 0, entities_used = 0;
};
RenderScratchRoom RenderScratchRoomForTest();

// Appends `value` * 10^exp10 the way Prometheus reads it: exact decimals for integers
// (counters past 2^53 stay exact), shortest round-trip form for doubles, +Inf/-Inf/NaN.
void AppendScaledValue(std::string& out, const Sample& sample, int exp10);

// Appends a label value with \\, \" and \n escaped.
void AppendEscapedLabelValue(std::string& out, std::string_view value);

// gzip (RFC 1952) of `data`, by ISA-L igzip at level 1 (see docs/architecture.md).
std::string Gzip(std::string_view data);
// The same with zlib at `level`: the baseline the benchmark compares with.
std::string GzipZlib(std::string_view data, int level);

// Which bodies scrapers asked for: one bit per format and encoding. Prometheus (2.5 and later)
// asks for OpenMetrics with gzip; `curl` for uncompressed text 0.0.4.
class BodySet {
 public:
  constexpr BodySet() = default;  // empty
  static constexpr BodySet Of(ExpositionFormat format, bool gzip) {
    return BodySet(1u << (static_cast<unsigned>(format) * 2 + (gzip ? 1 : 0)));
  }
  static constexpr BodySet FromBits(unsigned bits) { return BodySet(bits & 15u); }
  // What the poll loop prepares before any scrape came: what Prometheus asks for.
  static constexpr BodySet PrometheusDefault() {
    return Of(ExpositionFormat::kOpenMetrics100, true);
  }
  constexpr unsigned bits() const { return bits_; }
  constexpr bool empty() const { return bits_ == 0; }
  constexpr bool Has(ExpositionFormat format, bool gzip) const {
    return (bits_ & Of(format, gzip).bits_) != 0;
  }
  constexpr BodySet operator|(BodySet o) const { return BodySet(bits_ | o.bits_); }
  constexpr bool operator==(const BodySet&) const = default;
  // The same formats, gzip only: what stays worth preparing once uncompressed scrapers stop.
  constexpr BodySet GzipOnly() const { return BodySet(bits_ & 0b1010u); }

 private:
  constexpr explicit BodySet(unsigned bits) : bits_(bits) {}
  unsigned bits_ = 0;
};

// The bodies the poll loop prepares for the next snapshot, given those scraped since the last
// poll: exactly those; with none scraped (a scrape interval longer than the poll's, or no
// scraper yet) the gzip bodies last scraped, or Prometheus' default before any scrape.
// `last_scraped` carries the last non-empty set from poll to poll.
BodySet BodiesToPrepare(BodySet scraped, BodySet* last_scraped);

// The bodies of one snapshot, each rendered (and gzipped) at most once, on first request:
// any number of concurrent scrapers cost one render. The gzip body is rendered straight into
// the compressor, a window of text at a time, so the text body exists only when an
// uncompressed scrape asks for it (or Prepare(true) keeps it). The buffers go back to a small
// pool when the Exposition is destroyed, and the next snapshot renders into them: memory that
// stays mapped costs far less than fresh pages (see docs/performance.md).
//
// When the next poll starts, the poll loop releases the snapshot (ReleaseData): the bodies
// rendered so far are still served, and the snapshot's memory is reused by the poll that
// replaces it instead of living beside it. A body not rendered by then cannot be any more
// (TryBody gives null): the server waits for the next snapshot.
//
// Just before the next snapshot's bodies are rendered, the poll loop withdraws these bodies
// (WithdrawBodies): from then on TryBody gives null and scrapers wait for the next snapshot,
// a render's time (~50 ms per 500k series). The next bodies then take the withdrawn ones'
// buffers, unless a scrape still sends them: one buffer per body instead of two (the served
// one and the next one's). A gzip body is written over the previous one of its format in
// place, copying the segments that did not change from where they are (GzipStream).
class Exposition {
 public:
  Exposition(SnapshotPtr snapshot, WriterOptions options);
  ~Exposition();
  Exposition(const Exposition&) = delete;
  Exposition& operator=(const Exposition&) = delete;
  // The snapshot; null once released.
  SnapshotPtr snapshot() const;
  // Drops this Exposition's hold on the snapshot (a render in progress keeps it until done).
  void ReleaseData();
  // The body, rendered on first request; null when it was not rendered before ReleaseData, or
  // was withdrawn. The caller's reference keeps the body intact while it is sent: no later
  // render writes over it meanwhile.
  std::shared_ptr<const std::string> TryBody(ExpositionFormat format, bool gzip);
  // Stops serving the bodies rendered so far, so that the next snapshot's take their buffers.
  void WithdrawBodies();
  // The same, for callers that hold the snapshot alive (tests, benchmarks): empty when the
  // body cannot be rendered any more.
  const std::string& Body(ExpositionFormat format);
  const std::string& GzipBody(ExpositionFormat format);
  // Renders the bodies in `bodies` now (the ones scrapers asked for during the last interval),
  // each format once: a format wanted both ways gets its text and gzip from one render. The
  // poll loop calls it before publishing, so that a scrape only sends bytes and the work
  // happens once per poll on one thread. Idle text bodies are not kept when no text is wanted.
  void Prepare(BodySet bodies);
  // True when the body is rendered (by Prepare or an earlier scrape) and not withdrawn: a
  // scrape of it only sends bytes.
  bool Ready(ExpositionFormat format, bool gzip) const;
  // Series dropped by the filter in this snapshot (valid after the first render).
  const DropCounts& dropped() const { return dropped_; }
  // How the gzip body of `format` was made (zeros until it is).
  GzipStats gzip_stats(ExpositionFormat format) const;

 private:
  struct Slot {
    std::once_flag plain_once, gzip_once;
    std::atomic<bool> plain_done{false};  // `plain` is complete: gzip it instead of rendering
    std::atomic<bool> gzip_done{false};
    // Each body is shared with the scrapes sending it, and a gzip body with the memo of the
    // last one (writer.cpp), from which the next snapshot's body copies the segments that did
    // not change; back to its pool when all let go. Once done, read and withdrawn under
    // body_mu.
    std::shared_ptr<std::string> plain;
    std::shared_ptr<std::string> gzip;
    mutable std::mutex body_mu;
    GzipStats gzip_stats;  // written before gzip_done is set
    // The body once done, unless withdrawn (else null).
    std::shared_ptr<std::string> Held(bool gzip) const;
  };
  // The text body, rendered once; with `with_gzip` the gzip body comes from the same render
  // when it does not exist yet (Prepare with both encodings).
  // Both throw SnapshotReleased (writer.cpp) when they would have to render a released
  // snapshot.
  std::shared_ptr<const std::string> TextBody(ExpositionFormat format, bool with_gzip);
  std::shared_ptr<const std::string> Gzipped(ExpositionFormat format);
  // Renders `format` once into the text body (unless null) and, with `gzip`, into the slot's
  // gzip body, which it sets: the previous body of the format when no one else holds it any
  // more (written over in place), else a pooled buffer.
  void Render(ExpositionFormat format, std::string* plain, bool gzip);
  // The dropped counts since start as of this snapshot, added to the filter's totals once.
  const DropCounts& DroppedTotals(const DropCounts& dropped);

  mutable std::mutex snapshot_mu_;  // guards snapshot_
  SnapshotPtr snapshot_;            // null once released
  WriterOptions options_;
  Slot slots_[2];
  std::once_flag totals_once_;
  DropCounts dropped_{}, totals_{};
};

}  // namespace kmb
