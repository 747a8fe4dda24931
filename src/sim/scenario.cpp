#include "sim/scenario.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "kmb/sources/resource_name.h"
#include "sim/format.h"

namespace kmb::sim {
namespace {

constexpr const char* kNamespace = "kube-system";
constexpr const char* kPodName = "metrics-server-6d94bc8694-x7qnv";
constexpr const char* kPodIp = "10.5.67.7";  // as in the FailedDiscoveryCheck fixture
constexpr int kPodPort = 4443;

// metrics-server's last words when pods cannot reach the `kubernetes` Service: the first
// address of --service-cluster-ip-range (kubespray's 10.233.0.0/18).
constexpr const char* kIoTimeoutLog =
    "unable to load configmap based request-header-client-ca-file: Get "
    "\"https://10.233.0.1:443/api/v1/namespaces/kube-system/configmaps/"
    "extension-apiserver-authentication\": dial tcp 10.233.0.1:443: i/o timeout";

bool PodReady(ApiServiceMode mode) {
  return mode != ApiServiceMode::kMissingEndpoints && mode != ApiServiceMode::kIoTimeout;
}

// Opens a core/v1 object of `kind` named metrics-server in kube-system, and its metadata, which
// the caller may add to and then closes.
void BeginMetricsServerObject(JsonWriter& w, const char* kind) {
  w.BeginObject();
  w.Field("kind", kind);
  w.Field("apiVersion", "v1");
  w.Key("metadata").BeginObject();
  w.Field("name", "metrics-server");
  w.Field("namespace", kNamespace);
}

}  // namespace

bool ParseApiServiceMode(std::string_view name, ApiServiceMode* out) {
  static constexpr std::pair<std::string_view, ApiServiceMode> kModes[] = {
      {"Passed", ApiServiceMode::kPassed},
      {"FailedDiscoveryCheck", ApiServiceMode::kFailedDiscoveryCheck},
      {"MissingEndpoints", ApiServiceMode::kMissingEndpoints},
      {"ServiceNotFound", ApiServiceMode::kServiceNotFound},
      {"IoTimeout", ApiServiceMode::kIoTimeout},
      {"Absent", ApiServiceMode::kAbsent}};
  for (const auto& [n, m] : kModes) {
    if (n == name) {
      *out = m;
      return true;
    }
  }
  return false;
}

Availability ApiServiceAvailability(ApiServiceMode mode, int fault) {
  const std::string url = "https://" + std::string(kPodIp) + ":" + std::to_string(kPodPort) +
                          "/apis/metrics.k8s.io/v1beta1";
  switch (mode) {
    case ApiServiceMode::kFailedDiscoveryCheck:
      return {false, "FailedDiscoveryCheck",
              "failing or missing response from " + url + ": Get \"" + url +
                  "\": net/http: request canceled while waiting for connection "
                  "(Client.Timeout exceeded while awaiting headers)"};
    case ApiServiceMode::kMissingEndpoints:
    case ApiServiceMode::kIoTimeout:
      return {false, "MissingEndpoints",
              "endpoints for service/metrics-server in \"kube-system\" have no addresses with "
              "port name \"https\""};
    case ApiServiceMode::kServiceNotFound:
      return {false, "ServiceNotFound", "service/metrics-server in \"kube-system\" is not present"};
    case ApiServiceMode::kPassed:
    case ApiServiceMode::kAbsent:
      break;
  }
  if (fault != 0) {
    // Without aggregator routing the API server dials the Service's cluster IP.
    const std::string service_url = "https://10.96.0.42:443/apis/metrics.k8s.io/v1beta1";
    return {false, "FailedDiscoveryCheck",
            "failing or missing response from " + service_url + ": bad status from " + service_url +
                ": " + std::to_string(fault)};
  }
  return {true, "Passed", "all checks passed"};
}

void RenderApiService(JsonWriter& w, const Availability& a, int64_t created_unix,
                      int64_t transition_unix) {
  w.BeginObject();
  w.Field("kind", "APIService");
  w.Field("apiVersion", "apiregistration.k8s.io/v1");
  w.Key("metadata").BeginObject();
  w.Field("name", "v1beta1.metrics.k8s.io");
  w.Field("uid", "b2bfd11a-11e4-4dc8-9e23-575857601135");
  w.Field("resourceVersion", "583");
  w.Field("creationTimestamp", Rfc3339(created_unix));
  w.Key("labels").BeginObject();
  w.Field("k8s-app", "metrics-server");
  w.EndObject();
  w.EndObject();
  w.Key("spec").BeginObject();
  w.Key("service").BeginObject();
  w.Field("namespace", kNamespace);
  w.Field("name", "metrics-server");
  w.Field("port", 443);
  w.EndObject();
  w.Field("group", "metrics.k8s.io");
  w.Field("version", "v1beta1");
  w.Field("insecureSkipTLSVerify", true);
  w.Field("groupPriorityMinimum", 100);
  w.Field("versionPriority", 100);
  w.EndObject();
  w.Key("status").BeginObject();
  w.Key("conditions").BeginArray();
  w.BeginObject();
  w.Field("type", "Available");
  w.Field("status", a.available ? "True" : "False");
  w.Field("lastTransitionTime", Rfc3339(transition_unix));
  w.Field("reason", a.reason);
  w.Field("message", a.message);
  w.EndObject();
  w.EndArray();
  w.EndObject();
  w.EndObject();
}

void RenderMetricsServerService(JsonWriter& w, int64_t created_unix) {
  BeginMetricsServerObject(w, "Service");
  w.Field("creationTimestamp", Rfc3339(created_unix));
  w.Key("labels").BeginObject();
  w.Field("k8s-app", "metrics-server");
  w.EndObject();
  w.EndObject();
  w.Key("spec").BeginObject();
  w.Field("type", "ClusterIP");
  w.Field("clusterIP", "10.96.0.42");
  w.Key("ports").BeginArray();
  w.BeginObject();
  w.Field("name", "https");
  w.Field("port", 443);
  w.Field("protocol", "TCP");
  w.Field("targetPort", "https");
  w.EndObject();
  w.EndArray();
  w.Key("selector").BeginObject();
  w.Field("k8s-app", "metrics-server");
  w.EndObject();
  w.EndObject();
  w.EndObject();
}

void RenderMetricsServerEndpoints(JsonWriter& w, ApiServiceMode mode) {
  BeginMetricsServerObject(w, "Endpoints");
  w.EndObject();
  w.Key("subsets").BeginArray();
  w.BeginObject();
  w.Key(PodReady(mode) ? "addresses" : "notReadyAddresses").BeginArray();
  w.BeginObject();
  w.Field("ip", kPodIp);
  w.Key("targetRef").BeginObject();
  w.Field("kind", "Pod");
  w.Field("namespace", kNamespace);
  w.Field("name", kPodName);
  w.EndObject();
  w.EndObject();
  w.EndArray();
  w.Key("ports").BeginArray();
  w.BeginObject();
  w.Field("name", "https");
  w.Field("port", kPodPort);
  w.Field("protocol", "TCP");
  w.EndObject();
  w.EndArray();
  w.EndObject();
  w.EndArray();
  w.EndObject();
}

void RenderMetricsServerPods(JsonWriter& w, ApiServiceMode mode, std::string_view node_name,
                             int64_t started_unix) {
  const bool ready = PodReady(mode);
  const bool crashing = mode == ApiServiceMode::kIoTimeout;
  w.BeginObject();
  w.Field("kind", "PodList");
  w.Field("apiVersion", "v1");
  w.Key("metadata").BeginObject();
  w.Field("resourceVersion", "1000");
  w.EndObject();
  w.Key("items").BeginArray();
  w.BeginObject();
  w.Key("metadata").BeginObject();
  w.Field("name", kPodName);
  w.Field("namespace", kNamespace);
  w.Key("labels").BeginObject();
  w.Field("k8s-app", "metrics-server");
  w.EndObject();
  w.EndObject();
  w.Key("spec").BeginObject();
  w.Field("nodeName", node_name);
  w.Key("containers").BeginArray();
  w.BeginObject();
  w.Field("name", "metrics-server");
  w.Field("image", "registry.k8s.io/metrics-server/metrics-server:v0.8.0");
  w.EndObject();
  w.EndArray();
  w.EndObject();
  w.Key("status").BeginObject();
  w.Field("phase", "Running");
  w.Field("podIP", kPodIp);
  w.Key("conditions").BeginArray();
  w.BeginObject();
  w.Field("type", "Ready");
  w.Field("status", ready ? "True" : "False");
  w.EndObject();
  w.EndArray();
  w.Key("containerStatuses").BeginArray();
  w.BeginObject();
  w.Field("name", "metrics-server");
  w.Field("ready", ready);
  w.Field("restartCount", crashing ? 17 : 0);
  w.Key("state").BeginObject();
  if (crashing) {
    w.Key("waiting").BeginObject();
    w.Field("reason", "CrashLoopBackOff");
    w.Field("message", "back-off 5m0s restarting failed container=metrics-server pod=" +
                           std::string(kPodName) + "_kube-system");
    w.EndObject();
  } else {
    w.Key("running").BeginObject();
    w.Field("startedAt", Rfc3339(started_unix));
    w.EndObject();
  }
  w.EndObject();
  w.Key("lastState").BeginObject();
  if (crashing) {
    w.Key("terminated").BeginObject();
    w.Field("exitCode", 1);
    w.Field("reason", "Error");
    w.Field("message", kIoTimeoutLog);
    w.EndObject();
  }
  w.EndObject();
  w.EndObject();
  w.EndArray();
  w.EndObject();
  w.EndObject();
  w.EndArray();
  w.EndObject();
}

int RenderSelfSubjectAccessReview(std::string_view request, const std::vector<std::string>& deny,
                                  std::string* out) {
  const nlohmann::json req = nlohmann::json::parse(request, nullptr, false);
  if (req.is_discarded() || !req.is_object() || !req.contains("spec") ||
      !req["spec"].contains("resourceAttributes")) {
    return 400;
  }
  const nlohmann::json& attrs = req["spec"]["resourceAttributes"];
  auto field = [&](const char* key) { return attrs.value(key, std::string()); };
  const std::string name =
      CanIResourceName(field("resource"), field("subresource"), field("group"));
  // "pods" denies every verb on pods; "watch pods" only that verb.
  const std::string verb_name = field("verb") + " " + name;
  const bool allowed = std::find(deny.begin(), deny.end(), name) == deny.end() &&
                       std::find(deny.begin(), deny.end(), verb_name) == deny.end();
  nlohmann::json status = {{"allowed", allowed}};
  if (allowed) {
    status["reason"] =
        "RBAC: allowed by ClusterRoleBinding \"kube-metrics-bridge\" of ClusterRole "
        "\"kube-metrics-bridge\" to ServiceAccount \"kube-metrics-bridge/monitoring\"";
  }
  const nlohmann::json answer = {{"kind", "SelfSubjectAccessReview"},
                                 {"apiVersion", "authorization.k8s.io/v1"},
                                 {"metadata", {{"creationTimestamp", nullptr}}},
                                 {"spec", req["spec"]},
                                 {"status", status}};
  *out = answer.dump();
  return 201;
}

}  // namespace kmb::sim
