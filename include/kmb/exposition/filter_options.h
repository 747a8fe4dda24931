#pragma once
// What the series filter is told (--namespaces, --namespaces-exclude, --metric-allowlist,
// --metric-denylist, --collect-all-interfaces, --series-limit): a plain value in its own header,
// so that the command-line Options hold it as one member without pulling in the catalog.

#include <cstdint>
#include <string>
#include <vector>

namespace kmb {

struct SeriesFilterOptions {
  std::vector<std::string> namespaces;          // export only these namespaces; empty: all
  std::vector<std::string> namespaces_exclude;  // never export these namespaces
  // Regular expressions (ECMAScript, each matching the WHOLE exposition name of a family, as
  // Prometheus relabelling does); at most one of the two lists is set. Self-metrics
  // (kube_metrics_bridge_*) are never filtered.
  std::vector<std::string> metric_allowlist;
  std::vector<std::string> metric_denylist;
  bool collect_all_interfaces = false;  // false: only the default interface of a node or pod
  uint64_t series_limit = 0;            // data series per exposition at most; 0: no limit
};

}  // namespace kmb
