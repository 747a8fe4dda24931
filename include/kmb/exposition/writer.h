#pragma once
// Writes a Snapshot as Prometheus text 0.0.4 or OpenMetrics 1.0.0, family-major (every sample
// of a family in one group under its HELP/TYPE), from the catalog. Rendering is done once per
// snapshot and format; gzip once per snapshot and format (see Exposition).

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

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
};

// Every group of the catalog, in catalog order.
std::vector<std::string> AllMetricGroups();
// All groups but the opt-in ones (psi-avg).
std::vector<std::string> DefaultMetricGroups();

// Renders the whole exposition of `snapshot`.
std::string RenderExposition(const Snapshot& snapshot, ExpositionFormat format,
                             const WriterOptions& options = {});

// Appends `value` * 10^exp10 the way Prometheus reads it: exact decimals for integers
// (counters past 2^53 stay exact), shortest round-trip form for doubles, +Inf/-Inf/NaN.
void AppendScaledValue(std::string& out, const Sample& sample, int exp10);

// Appends a label value with \\, \" and \n escaped.
void AppendEscapedLabelValue(std::string& out, std::string_view value);

// gzip (RFC 1952) of `data`.
std::string Gzip(std::string_view data);

// The bodies of one snapshot, each rendered (and gzipped) at most once, on first request:
// any number of concurrent scrapers cost one render.
class Exposition {
 public:
  Exposition(SnapshotPtr snapshot, WriterOptions options);
  const Snapshot& snapshot() const { return *snapshot_; }
  const std::string& Body(ExpositionFormat format);
  const std::string& GzipBody(ExpositionFormat format);

 private:
  struct Slot {
    std::once_flag plain_once, gzip_once;
    std::string plain, gzip;
  };
  SnapshotPtr snapshot_;
  WriterOptions options_;
  Slot slots_[2];
};

}  // namespace kmb
