#include "doctor/diagnosis.h"

#include <string>
#include <string_view>

#include "kmb/util/status.h"

namespace kmb::doctor {
namespace dx {

const Diagnosis kDns{"api-server-unreachable", "the API server's host name does not resolve",
                     "check the server in the kubeconfig (or --apiserver) and DNS"};
const Diagnosis kConnect{"api-server-unreachable", "nothing accepts connections at that address",
                         "check the address and port, that the server runs, and firewalls"};
const Diagnosis kTimeout{"api-server-unreachable",
                         "no answer in time: packets are dropped on the way or the server hangs",
                         "check the network path and firewalls; raise --timeout for a slow server"};
const Diagnosis kApiServerCertificate{
    "api-server-certificate", "the API server's certificate is not trusted or does not name it",
    "use the cluster's CA (certificate-authority-data) and a server name the certificate names "
    "(tls-server-name)"};
const Diagnosis kInsecureSkipVerify{
    "api-server-certificate", "certificate verification is turned off (insecure-skip-tls-verify)",
    "set certificate-authority-data to the cluster CA and remove insecure-skip-tls-verify"};
const Diagnosis kUnauthorized{
    "credentials-rejected", "the API server rejected the credentials (expired or wrong token)",
    "renew the token or client certificate; in-cluster, check the service account exists"};
const Diagnosis kForbidden{
    "rbac-permissions", "the service account lacks a permission the exporter needs",
    "apply the ClusterRole and ClusterRoleBinding of docs/deploy.md; confirm with "
    "kubectl auth can-i --as=system:serviceaccount:NAMESPACE:NAME"};
const Diagnosis kAggregationMissing{
    "aggregation-not-enabled",
    "the Metrics API is not registered: metrics-server is not installed or API aggregation is "
    "off",
    "install metrics-server; if it is installed, enable the aggregation layer on kube-apiserver "
    "(--requestheader-client-ca-file, --proxy-client-cert-file/--proxy-client-key-file); or run "
    "with --sources=summary"};
const Diagnosis kDiscoveryTimeout{
    "apiservice-failed-discovery-check",
    "the API server cannot reach metrics-server (FailedDiscoveryCheck: the request times out)",
    "let the control plane reach the pod network: --enable-aggregator-routing=true on "
    "kube-apiserver when kube-proxy does not run on the masters, or hostNetwork: true for "
    "metrics-server; check firewalls between masters and pods"};
const Diagnosis kAggregationFlags{
    "aggregation-flags",
    "metrics-server refuses the API server's proxied requests: the aggregation layer is not "
    "configured",
    "set --requestheader-client-ca-file, --proxy-client-cert-file, --proxy-client-key-file, "
    "--requestheader-allowed-names, --requestheader-extra-headers-prefix=X-Remote-Extra-, "
    "--requestheader-group-headers=X-Remote-Group and --requestheader-username-headers="
    "X-Remote-User on kube-apiserver"};
const Diagnosis kMetricsServerErrors{
    "apiservice-failed-discovery-check", "metrics-server answers the API server with errors",
    "read its log: kubectl -n kube-system logs deploy/metrics-server"};
const Diagnosis kMissingEndpoints{
    "apiservice-missing-endpoints",
    "metrics-server has no ready pod behind its Service (MissingEndpoints)",
    "find why it is not ready: kubectl -n kube-system get pods -l k8s-app=metrics-server and "
    "kubectl -n kube-system logs deploy/metrics-server"};
const Diagnosis kServiceNotFound{
    "apiservice-service-not-found",
    "the Service the APIService points to does not exist (ServiceNotFound)",
    "reinstall metrics-server, or fix spec.service of the APIService"};
const Diagnosis kServiceCidrTimeout{
    "service-cidr-io-timeout",
    "pods cannot reach the kubernetes Service address (dial tcp ...: i/o timeout): "
    "metrics-server cannot start",
    "make the Service network reachable from pods: iptables -P FORWARD ACCEPT on every node "
    "(Docker sets DROP), check kube-proxy and the CNI"};
const Diagnosis kMetricsApiUnavailable{
    "metrics-api-unavailable",
    "the aggregated Metrics API is unavailable (HTTP 503 from the API server)",
    "kubectl get apiservice v1beta1.metrics.k8s.io -o yaml names the reason; the Summary "
    "source keeps working meanwhile"};
const Diagnosis kStaleMetrics{
    "metrics-api-stale", "the Metrics API serves old samples",
    "check metrics-server's log for scrape errors and its --metric-resolution"};
const Diagnosis kNodesMissingFromMetrics{
    "metrics-api-missing-nodes", "some nodes are missing from the Metrics API",
    "metrics-server cannot scrape those kubelets: see its log (often the kubelet certificate)"};
const Diagnosis kKubeletNoIpSan{
    "kubelet-certificate-without-ip-san",
    "the kubelet's serving certificate does not name the node's IP address (no IP SAN)",
    "issue kubelet certificates from the cluster CA with IP SANs: serverTLSBootstrap: true in "
    "the kubelet config and approve the CSRs, or --tls-cert-file with the node IPs; "
    "metrics-server --kubelet-insecure-tls only as a last resort"};
const Diagnosis kKubeletCertificate{
    "kubelet-certificate-without-ip-san",
    "the kubelet's serving certificate is not signed by the cluster CA (self-signed)",
    "enable serverTLSBootstrap: true so the cluster CA signs kubelet certificates"};
const Diagnosis kKubeletUnreachable{
    "kubelet-unreachable", "the kubelet does not answer on its port",
    "check the kubelet runs on that node and that the port (10250) is open from here"};
const Diagnosis kReadOnlyPortClosed{
    "kubelet-read-only-port",
    "the read-only port is closed, the secure default; the exporter does not need it",
    "only tools that read :10255 need it: readOnlyPort: 10255 in the kubelet config "
    "(kubespray: kube_read_only_port)"};
const Diagnosis kReadOnlyPortOpen{
    "kubelet-read-only-port",
    "the read-only port is open: anyone who reaches the node can read its pods and stats",
    "close it unless a tool needs it: readOnlyPort: 0 (kubespray: kube_read_only_port: 0)"};
const Diagnosis kClockSkew{
    "clock-skew", "the node's clock differs from this machine's",
    "run NTP (chrony or systemd-timesyncd) on every node; skew breaks token validity and "
    "rates"};
const Diagnosis kTokenExpired{"token-expiry", "the bearer token has expired",
                              "get a new token (kubectl create token NAME, or re-login)"};
const Diagnosis kTokenExpiresSoon{
    "token-expiry", "the bearer token expires soon and is not re-read from a file",
    "use a token file that is rotated (in-cluster projected token), or renew it"};
const Diagnosis kCertificateExpires{"credentials-rejected",
                                    "a certificate has expired or expires soon",
                                    "renew it (kubeadm certs renew, or re-issue)"};
const Diagnosis kDecode{"unexpected-payload",
                        "the answer was not the JSON expected (a proxy answering HTML?)",
                        "curl the same path and look at what answers"};
const Diagnosis kKubeconfig{"kubeconfig", "cannot load the cluster configuration",
                            "fix the file or pass --kubeconfig/--context; kubectl --kubeconfig "
                            "FILE config view shows what it holds"};
const Diagnosis kOther{"api-server-unreachable", "the request failed",
                       "see the evidence; kubectl get --raw PATH reproduces it"};

std::span<const Diagnosis* const> All() {
  static const Diagnosis* const kAll[] = {&kDns,
                                          &kConnect,
                                          &kTimeout,
                                          &kApiServerCertificate,
                                          &kInsecureSkipVerify,
                                          &kUnauthorized,
                                          &kForbidden,
                                          &kAggregationMissing,
                                          &kDiscoveryTimeout,
                                          &kAggregationFlags,
                                          &kMetricsServerErrors,
                                          &kMissingEndpoints,
                                          &kServiceNotFound,
                                          &kServiceCidrTimeout,
                                          &kMetricsApiUnavailable,
                                          &kStaleMetrics,
                                          &kNodesMissingFromMetrics,
                                          &kKubeletNoIpSan,
                                          &kKubeletCertificate,
                                          &kKubeletUnreachable,
                                          &kReadOnlyPortClosed,
                                          &kReadOnlyPortOpen,
                                          &kClockSkew,
                                          &kTokenExpired,
                                          &kTokenExpiresSoon,
                                          &kCertificateExpires,
                                          &kDecode,
                                          &kKubeconfig,
                                          &kOther};
  return kAll;
}

}  // namespace dx

namespace {

bool Has(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// "...: HTTP 503: ..." -> 503; 0 when the message names no HTTP status.
int HttpCode(std::string_view message) {
  const size_t at = message.find(": HTTP ");
  if (at == std::string_view::npos || at + 10 > message.size()) return 0;
  int code = 0;
  for (size_t i = at + 7; i < at + 10; ++i) {
    if (message[i] < '0' || message[i] > '9') return 0;
    code = code * 10 + (message[i] - '0');
  }
  return code;
}

}  // namespace

const Diagnosis* Diagnose(const Status& status) {
  if (status.ok()) return nullptr;
  const std::string_view m = status.message();
  // Well-known texts first: they name the cause whatever the transport said.
  if (Has(m, "doesn't contain any IP SANs") || Has(m, "no alternative certificate subject name")) {
    return Has(m, "/stats/") || Has(m, ":10250") ? &dx::kKubeletNoIpSan
                                                 : &dx::kApiServerCertificate;
  }
  if (Has(m, "dial tcp") && Has(m, "i/o timeout")) return &dx::kServiceCidrTimeout;
  if (Has(m, "Client.Timeout exceeded") || Has(m, "context deadline exceeded")) {
    return &dx::kDiscoveryTimeout;
  }
  if (Has(m, "no addresses with port name") || Has(m, "MissingEndpoints")) {
    return &dx::kMissingEndpoints;
  }
  if (Has(m, "is not present") && Has(m, "service/")) return &dx::kServiceNotFound;
  if (Has(m, "bad status from") && (Has(m, ": 401") || Has(m, ": 403"))) {
    return &dx::kAggregationFlags;
  }
  const int code = HttpCode(m);
  const bool metrics_api = Has(m, "/apis/metrics.k8s.io");
  if (code == 401) return &dx::kUnauthorized;
  if (code == 403) return &dx::kForbidden;
  if (code == 404 && metrics_api) return &dx::kAggregationMissing;
  if (code == 503 && metrics_api) return &dx::kMetricsApiUnavailable;
  if (code >= 500 && Has(m, "/proxy/")) return &dx::kKubeletUnreachable;
  const std::string& r = status.reason();
  if (r == reason::kTls) return &dx::kApiServerCertificate;
  if (r == reason::kTimeout) return &dx::kTimeout;
  if (r == reason::kConnect) {
    return Has(m, "resolve") ? &dx::kDns : &dx::kConnect;
  }
  if (r == reason::kDecode) return &dx::kDecode;
  return &dx::kOther;
}

std::string Explain(const Status& status) {
  const Diagnosis* d = Diagnose(status);
  return d == nullptr ? "" : std::string(d->words);
}

}  // namespace kmb::doctor
