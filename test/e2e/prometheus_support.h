#pragma once
// Talking to a real Prometheus server from the end-to-end tests: instant queries through its
// HTTP API, and waiting for a condition.

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

namespace kmb::testing {

// The answer of /api/v1/query: `ok` false with Prometheus' error (a PromQL parse error, for
// example) or the HTTP failure in `error`.
struct PromQueryResult {
  bool ok = false;
  std::string error;
  nlohmann::json result = nlohmann::json::array();  // data.result
};

PromQueryResult PromQuery(const std::string& prom, const std::string& q);

// data.result of an instant query; empty on any error.
nlohmann::json Query(const std::string& prom, const std::string& q);

// The first sample's value, NaN when there is none.
double ScalarOf(const nlohmann::json& result);

// "--metric-groups=<every group of the catalog>": the e2e tests put the whole catalog, opt-in
// groups included, through Prometheus.
std::string AllMetricGroupsFlag();

// Polls `cond` every 200 ms until it holds (true) or `timeout` passes (false).
bool WaitFor(const std::function<bool()>& cond, std::chrono::seconds timeout);

}  // namespace kmb::testing
