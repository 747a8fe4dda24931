#include "prometheus_support.h"

#include <cmath>
#include <thread>

#include "common/test_util.h"
#include "kmb/exposition/writer.h"

namespace kmb::testing {

std::string AllMetricGroupsFlag() {
  std::string flag = "--metric-groups=";
  for (const std::string& g : AllMetricGroups()) {
    if (g != "self") flag += g + ",";  // the exporter's own series are always on
  }
  flag.pop_back();
  return flag;
}
namespace {

std::string UrlEscape(const std::string& s) {
  char* e = curl_easy_escape(nullptr, s.c_str(), static_cast<int>(s.size()));
  std::string out(e);
  curl_free(e);
  return out;
}

}  // namespace

PromQueryResult PromQuery(const std::string& prom, const std::string& q) {
  PromQueryResult out;
  auto r = HttpGet(prom + "/api/v1/query?query=" + UrlEscape(q));
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    out.error = "HTTP " + std::to_string(r.status) + " " + r.error;
    return out;
  }
  if (j.value("status", "") != "success") {
    out.error = j.value("errorType", "") + ": " + j.value("error", "");
    return out;
  }
  out.ok = true;
  out.result = j["data"]["result"];
  return out;
}

nlohmann::json Query(const std::string& prom, const std::string& q) {
  auto r = PromQuery(prom, q);
  return r.ok ? r.result : nlohmann::json::array();
}

double ScalarOf(const nlohmann::json& result) {
  if (!result.is_array() || result.empty()) return std::nan("");
  return std::stod(result[0]["value"][1].get<std::string>());
}

bool WaitFor(const std::function<bool()>& cond, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

}  // namespace kmb::testing
