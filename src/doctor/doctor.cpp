#include "kmb/doctor/doctor.h"

#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "doctor/diagnosis.h"
#include "doctor/jwt.h"
#include "doctor/probe.h"
#include "doctor/report.h"
#include "kmb/kube/client.h"
#include "kmb/kube/cluster_config.h"
#include "kmb/sources/resource_name.h"
#include "kmb/sources/summary.h"

namespace kmb::doctor {
namespace {

constexpr const char* kApiServerGroup = "apiserver";
constexpr const char* kPermissionsGroup = "permissions";
constexpr const char* kAggregationGroup = "aggregation";
constexpr const char* kMetricsGroup = "metrics-api";
constexpr const char* kKubeletGroup = "kubelet";
constexpr const char* kCredentialsGroup = "credentials";

constexpr const char* kApiServicePath =
    "/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.metrics.k8s.io";
constexpr int64_t kDay = 86400;
constexpr int kCertificateWarnDays = 30;
constexpr int64_t kStaleMetricsSeconds = 180;  // metrics-server scrapes every 15-60 s
constexpr int64_t kSkewWarnSeconds = 5;
constexpr int64_t kSkewFailSeconds = 60;

std::string Millis(double seconds) {
  return std::to_string(static_cast<int64_t>(std::lround(seconds * 1000))) + " ms";
}

std::string Join(const std::vector<std::string>& items, std::string_view sep = ", ") {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : std::string(sep)) + s;
  return out;
}

// Rounded to the nearest unit: times read at one-second resolution are off by up to a second.
std::string Duration(int64_t seconds) {
  const int64_t abs = seconds < 0 ? -seconds : seconds;
  auto in = [&](int64_t unit, const char* name) {
    return std::to_string(std::llround(static_cast<double>(seconds) / unit)) + name;
  };
  if (abs >= 2 * kDay) return in(kDay, " days");
  if (abs >= 2 * 3600) return in(3600, " h");
  if (abs >= 120) return in(60, " min");
  return std::to_string(seconds) + " s";
}

// "2026-06-26T10:14:35Z" (fractions allowed) -> Unix seconds; 0 when malformed.
int64_t ParseRfc3339(std::string_view text) {
  tm parts{};
  const std::string s(text.substr(0, 19));
  if (strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &parts) == nullptr) return 0;
  return timegm(&parts);
}

// A parsed JSON body; lookups by JSON pointer answer "" / 0 when absent.
class Json {
 public:
  bool Parse(const std::string& body) { return !parser_.parse(body).get(root_); }
  simdjson::dom::element root() const { return root_; }

  static std::string Str(simdjson::dom::element e, std::string_view pointer) {
    std::string_view v;
    return e.at_pointer(pointer).get(v) ? std::string() : std::string(v);
  }
  static int64_t Int(simdjson::dom::element e, std::string_view pointer) {
    int64_t v = 0;
    return e.at_pointer(pointer).get(v) ? 0 : v;
  }
  static simdjson::dom::array Array(simdjson::dom::element e, std::string_view pointer) {
    simdjson::dom::array a;
    if (e.at_pointer(pointer).get(a)) return simdjson::dom::array();
    return a;
  }

 private:
  simdjson::dom::parser parser_;
  simdjson::dom::element root_;
};

// Iterating a default dom::array is not allowed; this guards it.
template <typename Fn>
void ForEach(simdjson::dom::element e, std::string_view pointer, Fn fn) {
  simdjson::dom::array a;
  if (e.at_pointer(pointer).get(a)) return;
  for (simdjson::dom::element item : a) fn(item);
}

struct NodeInfo {
  std::string name;
  std::string address;  // InternalIP
  int port = 0;         // daemonEndpoints.kubeletEndpoint.Port
};

// One permission the exporter needs, named as `kubectl auth can-i` names it. Lacking an
// optional one is a warning: nodes/stats serves direct kubelet access (the DaemonSet layout of
// docs/deploy.md); the node proxy path needs only nodes/proxy. The watch caches (on by
// default) list and watch nodes and pods; pods only feed the pod-spec series, so without them
// the exporter still exports usage.
struct Need {
  const char* verb;
  const char* resource;
  const char* subresource;
  const char* group;
  const char* why;
  bool required = true;
};
constexpr Need kNeeds[] = {
    {"list", "nodes", "", "", "to find the nodes to poll"},
    {"watch", "nodes", "", "",
     "to keep the node list current (the watch cache; --no-watch-cache lists every poll)"},
    {"list", "pods", "", "",
     "for the pod-spec series (requests, limits, utilization, k8s_pod_info, the image label)",
     false},
    {"watch", "pods", "", "", "to keep the pod specs current (the watch cache)", false},
    {"get", "nodes", "proxy", "", "to read Summaries through the API server"},
    {"get", "nodes", "stats", "", "to read Summaries from kubelets directly", false},
    {"list", "nodes", "", "metrics.k8s.io", "for the Metrics API source"},
    {"list", "pods", "", "metrics.k8s.io", "for the Metrics API source"},
};

class Doctor {
 public:
  Doctor(const DoctorOptions& options, ClusterConfig config, Report* report)
      : options_(options),
        config_(config),
        report_(*report),
        client_(std::move(config), ClientOptions(options)) {}

  void Run() {
    if (ApiServer()) {
      Permissions();
      Aggregation();
      LoadNodes();
      MetricsApi();
      Kubelets();
    } else {
      for (const char* group :
           {kPermissionsGroup, kAggregationGroup, kMetricsGroup, kKubeletGroup}) {
        Add(Level::kSkip, group, "all", "skipped: the API server is not usable");
      }
    }
    Credentials();
  }

 private:
  static KubeClientOptions ClientOptions(const DoctorOptions& o) {
    KubeClientOptions k;
    k.timeout_seconds = o.timeout_seconds;
    k.connect_timeout_seconds = std::min(o.timeout_seconds, 5.0);
    k.user_agent = "kube-metrics-bridge-doctor";
    return k;
  }

  // A check for a failed request: the diagnosis's words, the message as evidence.
  Check& Failed(Level level, const std::string& group, const std::string& name, const Status& st,
                const Diagnosis* override_diagnosis = nullptr) {
    const Diagnosis* d = override_diagnosis ? override_diagnosis : Diagnose(st);
    return Add(level, group, name, "", st.message()).Because(*d);
  }

  // Every check records how long its step took: the last request, or the probe step.
  Check& Add(Level level, std::string group, std::string name, std::string summary,
             std::string evidence = "") {
    Check& c = report_.Add(level, std::move(group), std::move(name), std::move(summary),
                           std::move(evidence));
    c.seconds = step_seconds_;
    return c;
  }

  // GET into response_ (reused by every request).
  Status Get(const std::string& path) { return Timed(client_.Get(path, &response_)); }
  Status Timed(Status st) {
    step_seconds_ = response_.seconds;
    return st;
  }

  bool ApiServer();
  void Permissions();
  void Aggregation();
  void AggregationBackends(const std::string& ns, const std::string& service);
  void LoadNodes();
  void MetricsApi();
  void Kubelets();
  void Kubelet(const NodeInfo& node);
  void KubeletReadOnly(const NodeInfo& node);
  void Credentials();
  void Token();

  const DoctorOptions& options_;
  const ClusterConfig config_;
  Report& report_;
  KubeClient client_;
  Status nodes_status_;
  std::vector<NodeInfo> nodes_;
  HttpResponse response_;  // reused by every request
  double step_seconds_ = 0;
};

// 1. DNS, TCP, TLS and authentication, each with its timing. True when requests can be made.
bool Doctor::ApiServer() {
  Endpoint endpoint;
  if (!ParseEndpoint(config_.server, &endpoint)) {
    Add(Level::kFail, kApiServerGroup, "address", "the server is not an http(s) URL",
        config_.server)
        .Because(dx::kDns);
    return false;
  }
  ProbeOptions po;
  po.ca_pem = config_.ca_pem;
  po.server_name = config_.tls_server_name;
  po.timeout_seconds = options_.timeout_seconds;
  // With a proxy in the way a direct probe says nothing about the path requests take.
  const bool probe = config_.proxy_url.empty();
  if (probe) {
    const ProbeResult p = Probe(endpoint, po);
    step_seconds_ = p.dns_seconds;
    if (!p.dns_done) {
      Failed(Level::kFail, kApiServerGroup, "dns", Status::Error(reason::kConnect, p.dns_error),
             &dx::kDns);
      return false;
    }
    Add(Level::kOk, kApiServerGroup, "dns",
        endpoint.host + " is " + Join(p.addresses) + " (" + Millis(p.dns_seconds) + ")");
    const std::string where = endpoint.host + ":" + std::to_string(endpoint.port);
    step_seconds_ = p.connect_seconds;
    if (!p.connected) {
      const bool timeout = p.connect_error.find("timeout") != std::string::npos;
      Failed(Level::kFail, kApiServerGroup, "tcp", Status::Error(reason::kConnect, p.connect_error),
             timeout ? &dx::kTimeout : &dx::kConnect);
      return false;
    }
    Add(Level::kOk, kApiServerGroup, "tcp",
        "connected to " + where + " in " + Millis(p.connect_seconds));
    if (endpoint.scheme == "https") {
      step_seconds_ = p.tls_seconds;
      const std::string name = po.server_name.empty() ? endpoint.host : po.server_name;
      const std::string names = "certificate names " + Join(p.sans) + "; " + p.subject;
      const int64_t days = (p.not_after_unix - std::time(nullptr)) / kDay;
      if (!p.tls_done) {
        Failed(Level::kFail, kApiServerGroup, "tls", Status::Error(reason::kTls, p.tls_error),
               &dx::kApiServerCertificate);
      } else if (config_.insecure_skip_tls_verify) {
        Add(Level::kWarn, kApiServerGroup, "tls", "", names).Because(dx::kInsecureSkipVerify);
      } else if (!p.chain_verified) {
        Add(Level::kFail, kApiServerGroup, "tls",
            "the certificate is not trusted: " + p.chain_error, names)
            .Because(dx::kApiServerCertificate);
      } else if (!p.name_matches) {
        Add(Level::kFail, kApiServerGroup, "tls", "the certificate does not name " + name, names)
            .Because(dx::kApiServerCertificate);
      } else if (days < kCertificateWarnDays) {
        Add(Level::kWarn, kApiServerGroup, "tls",
            "the serving certificate expires in " + std::to_string(days) + " days", names)
            .Because(dx::kCertificateExpires);
      } else {
        Add(Level::kOk, kApiServerGroup, "tls",
            "verified for " + name + ", expires in " +
                Duration(p.not_after_unix - std::time(nullptr)) + ", handshake " +
                Millis(p.tls_seconds),
            names);
      }
    }
  }
  const Status st = Get("/api");
  if (!st.ok()) {
    Failed(Level::kFail, kApiServerGroup, "auth", st);
    // Another HTTP answer than 401: the other checks can still tell more.
    return response_.status != 0 && response_.status != 401;
  }
  const kmb::Credentials& cred = config_.credentials;  // kmb::, not the member Credentials()
  const char* how = !cred.token.empty() || !cred.token_file.empty() ? "bearer token"
                    : !cred.client_cert_pem.empty()                 ? "client certificate"
                    : !config_.username.empty()                     ? "basic auth"
                                                                    : "no credentials";
  Add(Level::kOk, kApiServerGroup, "auth",
      std::string("requests with ") + how + " are accepted (" + Millis(response_.seconds) + ")");
  return true;
}

// 2. A SelfSubjectAccessReview per permission the exporter needs, and nothing more.
void Doctor::Permissions() {
  Json json;
  for (const Need& need : kNeeds) {
    const std::string name = std::string(need.verb) + " " +
                             CanIResourceName(need.resource, need.subresource, need.group);
    const std::string body =
        std::string(
            R"({"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview",)") +
        R"("spec":{"resourceAttributes":{"verb":")" + need.verb + R"(","resource":")" +
        need.resource + R"(","subresource":")" + need.subresource + R"(","group":")" + need.group +
        R"("}}})";
    const Status st = Timed(
        client_.Post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body, &response_));
    if (!st.ok()) {
      Failed(Level::kWarn, kPermissionsGroup, name, st).summary =
          "cannot ask the API server (SelfSubjectAccessReview failed)";
      continue;
    }
    bool allowed = false;
    if (!json.Parse(response_.body) || json.root().at_pointer("/status/allowed").get(allowed)) {
      Add(Level::kWarn, kPermissionsGroup, name, "", "unexpected answer").Because(dx::kDecode);
      continue;
    }
    if (allowed) {
      Add(Level::kOk, kPermissionsGroup, name, std::string("allowed, ") + need.why);
    } else {
      const std::string why = Json::Str(json.root(), "/status/reason");
      Add(need.required ? Level::kFail : Level::kWarn, kPermissionsGroup, name,
          std::string("denied; needed ") + need.why,
          "SelfSubjectAccessReview: allowed=false" + (why.empty() ? "" : ": " + why))
          .Because(dx::kForbidden);
    }
  }
}

// 3. The APIService, its Available condition, and the Service, Endpoints and pods behind it.
void Doctor::Aggregation() {
  const Status st = Get(kApiServicePath);
  if (!st.ok()) {
    if (response_.status == 404) {
      Failed(Level::kFail, kAggregationGroup, "apiservice", st, &dx::kAggregationMissing).summary =
          "the APIService v1beta1.metrics.k8s.io does not exist: " +
          std::string(dx::kAggregationMissing.words);
    } else if (response_.status == 403) {
      Add(Level::kSkip, kAggregationGroup, "apiservice",
          "not allowed to read APIServices (run the doctor as a cluster admin to see "
          "them)",
          st.message());
    } else {
      Failed(Level::kFail, kAggregationGroup, "apiservice", st);
    }
    return;
  }
  Json json;
  if (!json.Parse(response_.body)) {
    Add(Level::kFail, kAggregationGroup, "apiservice", "", "not JSON").Because(dx::kDecode);
    return;
  }
  std::string status, condition_reason, message;
  ForEach(json.root(), "/status/conditions", [&](simdjson::dom::element c) {
    if (Json::Str(c, "/type") != "Available") return;
    status = Json::Str(c, "/status");
    condition_reason = Json::Str(c, "/reason");
    message = Json::Str(c, "/message");
  });
  const std::string evidence = "Available=" + (status.empty() ? "?" : status) +
                               " reason=" + condition_reason + " message=\"" + message + "\"";
  if (status == "True") {
    Add(Level::kOk, kAggregationGroup, "apiservice",
        "v1beta1.metrics.k8s.io is Available (" + condition_reason + ")", evidence);
  } else {
    // The condition's reason and message name the cause; the Status carries them to Diagnose.
    const Diagnosis* d = condition_reason == "MissingEndpoints" ? &dx::kMissingEndpoints
                         : condition_reason == "ServiceNotFound"
                             ? &dx::kServiceNotFound
                             : Diagnose(Status::Error(reason::kHttp5xx, message));
    if (d == &dx::kOther || d == &dx::kConnect || d == &dx::kTimeout) d = &dx::kMetricsServerErrors;
    Add(Level::kFail, kAggregationGroup, "apiservice",
        "v1beta1.metrics.k8s.io is not Available (" + condition_reason +
            "): " + std::string(d->words),
        evidence)
        .Because(*d);
  }
  const std::string ns = Json::Str(json.root(), "/spec/service/namespace");
  const std::string service = Json::Str(json.root(), "/spec/service/name");
  if (ns.empty() || service.empty()) {
    Add(Level::kOk, kAggregationGroup, "service",
        "served by the API server itself (no spec.service)");
    return;
  }
  AggregationBackends(ns, service);
}

void Doctor::AggregationBackends(const std::string& ns, const std::string& service) {
  const std::string object = ns + "/" + service;
  Json json;
  Status st = Get("/api/v1/namespaces/" + ns + "/services/" + service);
  if (!st.ok()) {
    Failed(response_.status == 404 ? Level::kFail : Level::kSkip, kAggregationGroup, "service", st,
           response_.status == 404 ? &dx::kServiceNotFound : nullptr);
    return;
  }
  std::string selector;
  if (json.Parse(response_.body)) {
    simdjson::dom::object labels;
    if (!json.root().at_pointer("/spec/selector").get(labels)) {
      for (auto [key, value] : labels) {
        std::string_view v;
        if (value.get(v)) continue;
        selector += (selector.empty() ? "" : ",") + std::string(key) + "=" + std::string(v);
      }
    }
    Add(Level::kOk, kAggregationGroup, "service",
        "Service " + object + " exists (" + Json::Str(json.root(), "/spec/clusterIP") + ")");
  }

  st = Get("/api/v1/namespaces/" + ns + "/endpoints/" + service);
  if (st.ok() && json.Parse(response_.body)) {
    int ready = 0, not_ready = 0;
    ForEach(json.root(), "/subsets", [&](simdjson::dom::element subset) {
      ForEach(subset, "/addresses", [&](simdjson::dom::element) { ++ready; });
      ForEach(subset, "/notReadyAddresses", [&](simdjson::dom::element) { ++not_ready; });
    });
    const std::string counts =
        std::to_string(ready) + " ready, " + std::to_string(not_ready) + " not ready";
    if (ready > 0) {
      Add(Level::kOk, kAggregationGroup, "endpoints", counts);
    } else {
      Add(Level::kFail, kAggregationGroup, "endpoints", "no ready address: " + counts,
          "Endpoints " + object)
          .Because(dx::kMissingEndpoints);
    }
  } else if (!st.ok()) {
    Failed(Level::kSkip, kAggregationGroup, "endpoints", st);
  }

  if (selector.empty()) return;
  st = Get("/api/v1/namespaces/" + ns + "/pods?labelSelector=" + selector);
  if (!st.ok() || !json.Parse(response_.body)) {
    if (!st.ok())
      Failed(Level::kSkip, kAggregationGroup, "pods", st).summary =
          "cannot list the pods behind the Service";
    return;
  }
  int pods = 0;
  std::vector<std::string> problems;
  std::string last_words;
  ForEach(json.root(), "/items", [&](simdjson::dom::element pod) {
    ++pods;
    const std::string name = Json::Str(pod, "/metadata/name");
    ForEach(pod, "/status/containerStatuses", [&](simdjson::dom::element c) {
      const std::string waiting = Json::Str(c, "/state/waiting/reason");
      if (waiting.empty()) return;
      problems.push_back(name + " " + waiting + " (restarts " +
                         std::to_string(Json::Int(c, "/restartCount")) + ")");
      const std::string terminated = Json::Str(c, "/lastState/terminated/message");
      if (!terminated.empty()) last_words = terminated;
    });
  });
  if (pods == 0) {
    Add(Level::kFail, kAggregationGroup, "pods", "no pod matches " + selector)
        .Because(dx::kMissingEndpoints);
  } else if (problems.empty()) {
    Add(Level::kOk, kAggregationGroup, "pods", std::to_string(pods) + " running");
  } else {
    const Diagnosis* d = Diagnose(Status::Error(reason::kInternal, last_words));
    if (last_words.empty() || d == &dx::kOther) d = &dx::kMissingEndpoints;
    Check& c =
        Add(Level::kFail, kAggregationGroup, "pods", Join(problems) + ": " + std::string(d->words),
            last_words.empty() ? "" : "last words: " + last_words);
    c.Because(*d);
  }
}

void Doctor::LoadNodes() {
  nodes_status_ = Get("/api/v1/nodes");
  Json json;
  if (!nodes_status_.ok()) return;
  if (!json.Parse(response_.body)) {
    nodes_status_ = Status::Error(reason::kDecode, "GET /api/v1/nodes: not JSON");
    return;
  }
  ForEach(json.root(), "/items", [&](simdjson::dom::element item) {
    NodeInfo n;
    n.name = Json::Str(item, "/metadata/name");
    ForEach(item, "/status/addresses", [&](simdjson::dom::element a) {
      if (n.address.empty() && Json::Str(a, "/type") == "InternalIP") {
        n.address = Json::Str(a, "/address");
      }
    });
    n.port = static_cast<int>(Json::Int(item, "/status/daemonEndpoints/kubeletEndpoint/Port"));
    if (n.port == 0) n.port = options_.kubelet_port;
    nodes_.push_back(std::move(n));
  });
}

// 4. The Metrics API answers, how fresh it is, and which nodes it lacks.
void Doctor::MetricsApi() {
  Json json;
  const Status st = Get("/apis/metrics.k8s.io/v1beta1/nodes");
  if (!st.ok()) {
    Failed(Level::kFail, kMetricsGroup, "nodes", st);
  } else if (!json.Parse(response_.body)) {
    Add(Level::kFail, kMetricsGroup, "nodes", "", "not JSON").Because(dx::kDecode);
  } else {
    const int64_t now = std::time(nullptr);
    int64_t oldest = now;
    std::vector<std::string> seen;
    ForEach(json.root(), "/items", [&](simdjson::dom::element item) {
      seen.push_back(Json::Str(item, "/metadata/name"));
      const int64_t t = ParseRfc3339(Json::Str(item, "/timestamp"));
      if (t > 0) oldest = std::min(oldest, t);
    });
    const int64_t age = now - oldest;
    const std::string fresh = std::to_string(seen.size()) + " nodes, oldest sample " +
                              Duration(age) + " old (" + Millis(response_.seconds) + ")";
    if (age > kStaleMetricsSeconds) {
      Add(Level::kWarn, kMetricsGroup, "nodes", fresh).Because(dx::kStaleMetrics);
    } else {
      Add(Level::kOk, kMetricsGroup, "nodes", fresh);
    }
    if (nodes_status_.ok()) {
      std::vector<std::string> missing;
      for (const NodeInfo& n : nodes_) {
        if (std::find(seen.begin(), seen.end(), n.name) == seen.end()) missing.push_back(n.name);
      }
      if (missing.empty()) {
        Add(Level::kOk, kMetricsGroup, "coverage", "every node has metrics");
      } else {
        Add(Level::kWarn, kMetricsGroup, "coverage",
            std::to_string(missing.size()) + " of " + std::to_string(nodes_.size()) +
                " nodes missing",
            Join(missing))
            .Because(dx::kNodesMissingFromMetrics);
      }
    }
  }
  const Status pods = Get("/apis/metrics.k8s.io/v1beta1/pods");
  if (!pods.ok()) {
    Failed(Level::kFail, kMetricsGroup, "pods", pods);
  } else {
    Add(Level::kOk, kMetricsGroup, "pods", "answers (" + Millis(response_.seconds) + ")");
  }
}

// 5. Each sampled node's kubelet: through the API server proxy, directly, and read-only.
void Doctor::Kubelets() {
  if (!nodes_status_.ok()) {
    Failed(Level::kFail, kKubeletGroup, "nodes", nodes_status_).summary =
        "cannot list nodes: " + Explain(nodes_status_);
    return;
  }
  const size_t n = options_.max_nodes < 0
                       ? nodes_.size()
                       : std::min(nodes_.size(), static_cast<size_t>(options_.max_nodes));
  if (n == 0) Add(Level::kSkip, kKubeletGroup, "all", "no node to check (--nodes 0, or none)");
  for (size_t i = 0; i < n; ++i) Kubelet(nodes_[i]);
}

void Doctor::Kubelet(const NodeInfo& node) {
  NodeSummary summary;
  auto decoded = [&](const std::string& body) {
    const Status st = DecodeSummary(body, node.name, &summary);
    return st.ok() ? std::to_string(summary.entities.size()) + " entities decoded"
                   : "does not decode: " + st.message();
  };
  // Through the API server (what the exporter does by default).
  Status st = Get("/api/v1/nodes/" + node.name + "/proxy/stats/summary");
  if (st.ok()) {
    Add(Level::kOk, kKubeletGroup, "proxy",
        "/stats/summary answers, " + decoded(response_.body) + " (" + Millis(response_.seconds) +
            ")")
        .node = node.name;
  } else {
    Failed(Level::kFail, kKubeletGroup, "proxy", st).node = node.name;
  }
  if (node.address.empty()) {
    Add(Level::kSkip, kKubeletGroup, "direct", "the node has no InternalIP").node = node.name;
    return;
  }

  // Directly on the kubelet's port: TLS against the cluster CA, then /stats/summary.
  const Endpoint endpoint{"https", node.address, node.port};
  const std::string where = node.address + ":" + std::to_string(node.port);
  ProbeOptions po;
  po.ca_pem = config_.ca_pem;
  po.timeout_seconds = options_.timeout_seconds;
  const ProbeResult p = Probe(endpoint, po);
  step_seconds_ = p.connect_seconds + p.tls_seconds;
  if (!p.connected || !p.tls_done) {
    const std::string why = !p.connected ? p.connect_error : p.tls_error;
    Add(Level::kFail, kKubeletGroup, "tls", "cannot reach the kubelet at " + where, why)
        .Because(dx::kKubeletUnreachable)
        .node = node.name;
    return;
  }
  const std::string names = "certificate names " + Join(p.sans);
  bool verified = false;
  if (!p.chain_verified) {
    Add(Level::kFail, kKubeletGroup, "tls",
        "the kubelet certificate is not trusted: " + p.chain_error, names)
        .Because(dx::kKubeletCertificate)
        .node = node.name;
  } else if (!p.name_matches) {
    Add(Level::kFail, kKubeletGroup, "tls", "the kubelet certificate has no IP SAN " + node.address,
        names)
        .Because(dx::kKubeletNoIpSan)
        .node = node.name;
  } else {
    verified = true;
    Add(Level::kOk, kKubeletGroup, "tls", "verified for " + node.address, names).node = node.name;
  }

  // The Summary itself, with the exporter's credentials; verification off when it failed above
  // so that the next problem, if any, shows too.
  // As the exporter's kubelet client (app/kubelet_targets.cpp) builds it.
  ClusterConfig direct = KubeletConfigFrom(config_);
  direct.server = "https://" + where;
  direct.insecure_skip_tls_verify = !verified;
  KubeClient kubelet(std::move(direct), ClientOptions(options_));
  st = Timed(kubelet.Get("/stats/summary", &response_));
  if (st.ok()) {
    Add(Level::kOk, kKubeletGroup, "summary",
        "/stats/summary answers" + std::string(verified ? ", " : " (unverified), ") +
            decoded(response_.body) + " (" + Millis(response_.seconds) + ")")
        .node = node.name;
  } else {
    Check& c = Failed(Level::kFail, kKubeletGroup, "summary", st);
    c.node = node.name;
    if (response_.status == 403) c.summary = "the kubelet refuses nodes/stats to these credentials";
  }

  // The node's clock, from the kubelet's Date header.
  if (p.date_unix != 0) {
    step_seconds_ = 0;  // read during the probe above
    const int64_t skew = p.date_unix - static_cast<int64_t>(std::time(nullptr));
    const int64_t abs = skew < 0 ? -skew : skew;
    const std::string text =
        "clock " + std::string(skew >= 0 ? "+" : "") + Duration(skew) + " from this machine's";
    Check& c = Add(abs >= kSkewFailSeconds   ? Level::kFail
                   : abs >= kSkewWarnSeconds ? Level::kWarn
                                             : Level::kOk,
                   kKubeletGroup, "clock", text, "Date header of " + where);
    c.node = node.name;
    if (c.level != Level::kOk) c.Because(dx::kClockSkew);
  }
  KubeletReadOnly(node);
}

void Doctor::KubeletReadOnly(const NodeInfo& node) {
  const std::string where = node.address + ":" + std::to_string(options_.kubelet_read_only_port);
  const ProbeResult p = Probe({"http", node.address, options_.kubelet_read_only_port},
                              {"", "", std::min(options_.timeout_seconds, 2.0)});
  step_seconds_ = p.connect_seconds;
  if (!p.connected) {
    Add(Level::kOk, kKubeletGroup, "read-only",
        where + " closed: " + std::string(dx::kReadOnlyPortClosed.words), p.connect_error)
        .node = node.name;
    return;
  }
  ClusterConfig plain;
  plain.server = "http://" + where;
  KubeClient client(std::move(plain), ClientOptions(options_));
  const Status st = Timed(client.Get("/stats/summary", &response_));
  Add(Level::kWarn, kKubeletGroup, "read-only",
      where + " open" + (st.ok() ? " and serves /stats/summary without credentials" : ""),
      st.ok() ? "" : st.message())
      .Because(dx::kReadOnlyPortOpen)
      .node = node.name;
}

// 6. The exporter's own credentials: token expiry, certificates, CA.
void Doctor::Credentials() {
  step_seconds_ = 0;  // local files only
  Token();
  const int64_t now = std::time(nullptr);
  if (!config_.credentials.client_cert_pem.empty()) {
    const std::vector<int64_t> expiries = CertificateExpiries(config_.credentials.client_cert_pem);
    const int64_t left = expiries.empty() ? 0 : expiries.front() - now;
    Check& c = Add(left <= 0                            ? Level::kFail
                   : left < kCertificateWarnDays * kDay ? Level::kWarn
                                                        : Level::kOk,
                   kCredentialsGroup, "client-certificate",
                   left <= 0 ? "expired or unreadable" : "expires in " + Duration(left));
    if (c.level != Level::kOk) c.Because(dx::kCertificateExpires);
  }
  if (config_.insecure_skip_tls_verify) {
    Add(Level::kWarn, kCredentialsGroup, "ca", "").Because(dx::kInsecureSkipVerify);
  } else if (config_.ca_pem.empty()) {
    Add(Level::kOk, kCredentialsGroup, "ca",
        config_.server.starts_with("https") ? "the system's trusted CAs" : "plain HTTP");
  } else {
    const std::vector<int64_t> expiries = CertificateExpiries(config_.ca_pem);
    const int64_t first =
        expiries.empty() ? 0 : *std::min_element(expiries.begin(), expiries.end());
    if (expiries.empty()) {
      Add(Level::kFail, kCredentialsGroup, "ca", "the CA data holds no PEM certificate",
          config_.origin)
          .Because(dx::kApiServerCertificate);
    } else if (first <= now) {
      Add(Level::kFail, kCredentialsGroup, "ca", "a CA certificate has expired", config_.origin)
          .Because(dx::kCertificateExpires);
    } else {
      Add(Level::kOk, kCredentialsGroup, "ca",
          "readable, " + std::to_string(expiries.size()) + " certificate(s), first expiry in " +
              Duration(first - now),
          config_.origin);
    }
  }
}

void Doctor::Token() {
  const kmb::Credentials& cred = config_.credentials;  // kmb::, not the member Credentials()
  std::string token = cred.token;
  std::string source = "token in " + config_.origin;
  if (!cred.token_file.empty()) {
    source = "token file " + cred.token_file;
    std::ifstream in(cred.token_file);
    std::stringstream content;
    content << in.rdbuf();
    if (!in) {
      Add(Level::kFail, kCredentialsGroup, "token", "cannot read the " + source)
          .Because(dx::kUnauthorized);
      return;
    }
    token = content.str();
    while (!token.empty() && (token.back() == '\n' || token.back() == ' ')) token.pop_back();
  }
  if (token.empty()) return;
  JwtClaims claims;
  if (!DecodeJwtClaims(token, &claims)) {
    Add(Level::kOk, kCredentialsGroup, "token", "opaque token, expiry unknown", source);
    return;
  }
  const std::string whose = claims.sub.empty() ? source : claims.sub + ", " + source;
  if (claims.exp == 0) {
    Add(Level::kOk, kCredentialsGroup, "token", "does not expire", whose);
    return;
  }
  const int64_t left = claims.exp - static_cast<int64_t>(std::time(nullptr));
  if (left <= 0) {
    Add(Level::kFail, kCredentialsGroup, "token", "expired " + Duration(-left) + " ago", whose)
        .Because(dx::kTokenExpired);
  } else if (left < kDay && cred.token_file.empty()) {
    Add(Level::kWarn, kCredentialsGroup, "token", "expires in " + Duration(left), whose)
        .Because(dx::kTokenExpiresSoon);
  } else {
    Add(Level::kOk, kCredentialsGroup, "token", "expires in " + Duration(left), whose);
  }
}

}  // namespace

int RunDoctor(const DoctorOptions& options, std::ostream& out) {
  Report report;
  ClusterConfig config;
  const Status st =
      LoadClusterConfig({options.kubeconfig, options.context, options.apiserver}, &config);
  if (!st.ok()) {
    report.server = options.apiserver;
    report.origin = options.kubeconfig.empty() ? "default kubeconfig" : options.kubeconfig;
    report
        .Add(Level::kFail, kCredentialsGroup, "kubeconfig", "cannot load the cluster configuration",
             st.message())
        .Because(dx::kKubeconfig);
  } else {
    report.server = config.server;
    report.origin = config.origin;
    Doctor(options, std::move(config), &report).Run();
  }
  if (options.json) {
    report.WriteJson(out);
  } else {
    report.WriteText(out);
  }
  return report.ExitStatus();
}

}  // namespace kmb::doctor
