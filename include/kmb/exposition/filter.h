#pragma once
// Cardinality control: which series of a snapshot the exposition exports (--namespaces,
// --namespaces-exclude, --metric-allowlist, --metric-denylist, --collect-all-interfaces,
// --series-limit), and how many it dropped, by reason, since the process started
// (kube_metrics_bridge_series_dropped_total). Expressions are compiled once and decided once
// per catalog row; per entity the writer checks only the namespace, the interface and the
// budget.

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "kmb/catalog/catalog.h"
#include "kmb/exposition/filter_options.h"
#include "kmb/sources/entity.h"

namespace kmb {

// Why a series was not exported. Every reason is counted (not only the budget), so that the
// effect of each flag is visible; --metric-groups is configuration of what is collected and is
// not counted.
enum class DropReason : uint8_t { kNamespace, kInterface, kMetric, kSeriesLimit, kCount };
inline constexpr size_t kDropReasonCount = static_cast<size_t>(DropReason::kCount);
using DropCounts = std::array<uint64_t, kDropReasonCount>;

// The `reason` label value: "namespace", "interface", "metric", "series_limit".
std::string_view DropReasonName(DropReason reason);

class SeriesFilter {
 public:
  // Compiles the expressions. On a bad expression or both lists set, returns nullptr and a
  // one-line *error naming the flag.
  static std::shared_ptr<SeriesFilter> Create(const SeriesFilterOptions& options,
                                              std::string* error);

  const SeriesFilterOptions& options() const { return options_; }
  // False when --metric-allowlist / --metric-denylist rules this catalog row out.
  bool RowAllowed(catalog::MetricId id) const {
    return id < row_allowed_.size() && row_allowed_[id];
  }
  // False when the entity has a namespace label whose value is filtered out.
  bool NamespaceAllowed(const EntityStats& entity) const;
  // False for a non-default interface unless --collect-all-interfaces.
  bool InterfaceAllowed(const EntityStats& entity) const;

  // Adds one exposition's drops to the totals since start and returns the new totals.
  DropCounts Accumulate(const DropCounts& drops);

 private:
  explicit SeriesFilter(SeriesFilterOptions options) : options_(std::move(options)) {}

  SeriesFilterOptions options_;
  std::array<bool, catalog::kMetricCount> row_allowed_{};
  std::array<int8_t, static_cast<size_t>(catalog::Entity::kCount)> namespace_label_{};
  // Looked up by the label values' string_views (heterogeneous lookup: no string built).
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_set<std::string, StringHash, std::equal_to<>> include_, exclude_;
  std::mutex mu_;
  DropCounts totals_{};  // guarded by mu_
};

}  // namespace kmb
