#include "kmb/exposition/filter.h"

#include <regex>

namespace kmb {

std::string_view DropReasonName(DropReason reason) {
  switch (reason) {
    case DropReason::kNamespace:
      return "namespace";
    case DropReason::kInterface:
      return "interface";
    case DropReason::kMetric:
      return "metric";
    case DropReason::kSeriesLimit:
      return "series_limit";
    case DropReason::kCount:
      break;
  }
  return "unknown";
}

std::shared_ptr<SeriesFilter> SeriesFilter::Create(const SeriesFilterOptions& options,
                                                   std::string* error) {
  if (!options.metric_allowlist.empty() && !options.metric_denylist.empty()) {
    *error = "--metric-allowlist and --metric-denylist are mutually exclusive";
    return nullptr;
  }
  const bool allow = !options.metric_allowlist.empty();
  const auto& patterns = allow ? options.metric_allowlist : options.metric_denylist;
  std::vector<std::regex> compiled;
  for (const std::string& p : patterns) {
    try {
      compiled.emplace_back(p, std::regex::ECMAScript | std::regex::optimize);
    } catch (const std::regex_error& e) {
      *error = std::string(allow ? "--metric-allowlist" : "--metric-denylist") +
               ": bad regular expression \"" + p + "\": " + e.what();
      return nullptr;
    }
  }
  std::shared_ptr<SeriesFilter> f(new SeriesFilter(options));
  for (size_t i = 0; i < catalog::kMetricCount; ++i) {
    const catalog::MetricDef& def = catalog::kMetrics[i];
    if (def.source == catalog::Source::kSelf || compiled.empty()) {
      f->row_allowed_[i] = true;
      continue;
    }
    const std::string name(def.name);
    bool matched = false;
    for (const std::regex& re : compiled) matched = matched || std::regex_match(name, re);
    f->row_allowed_[i] = allow ? matched : !matched;
  }
  for (size_t k = 0; k < f->namespace_label_.size(); ++k) {
    f->namespace_label_[k] = -1;
    const auto names = catalog::LabelNames(static_cast<catalog::Entity>(k));
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] == "namespace") f->namespace_label_[k] = static_cast<int8_t>(i);
    }
  }
  f->include_.insert(options.namespaces.begin(), options.namespaces.end());
  f->exclude_.insert(options.namespaces_exclude.begin(), options.namespaces_exclude.end());
  return f;
}

bool SeriesFilter::NamespaceAllowed(const EntityStats& e) const {
  if (include_.empty() && exclude_.empty()) return true;
  const int8_t label = namespace_label_[static_cast<size_t>(e.entity)];
  if (label < 0 || static_cast<size_t>(label) >= e.labels.size()) return true;  // node-level
  const std::string_view ns = e.labels[static_cast<size_t>(label)];
  if (!include_.empty() && !include_.contains(ns)) return false;
  return !exclude_.contains(ns);
}

bool SeriesFilter::InterfaceAllowed(const EntityStats& e) const {
  return options_.collect_all_interfaces || !e.nested ||
         (e.entity != catalog::Entity::kNodeInterface &&
          e.entity != catalog::Entity::kPodInterface);
}

DropCounts SeriesFilter::Accumulate(const DropCounts& drops) {
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < kDropReasonCount; ++i) totals_[i] += drops[i];
  return totals_;
}

}  // namespace kmb
