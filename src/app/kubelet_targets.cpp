#include "app/kubelet_targets.h"

#include <sys/resource.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "kmb/util/log.h"

namespace kmb {
namespace {

constexpr int kDefaultKubeletPort = 10250;

// Idle kubelet connections each pooled handle may keep: a share of the open-file limit, so a
// large cluster keeps its connections without running the process out of descriptors.
int CachedConnectionsPerHandle(int handles) {
  rlimit rl{};
  long limit = 1024;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    limit = static_cast<long>(rl.rlim_cur);
  }
  return static_cast<int>(std::clamp<long>(limit / 2 / std::max(1, handles), 5, 1024));
}

}  // namespace

KubeletTargets::KubeletTargets(const Options& options, std::shared_ptr<KubeClient> api)
    : options_(options), direct_(options.kubelet_access == "direct"), api_(std::move(api)) {
  if (!direct_) return;
  ClusterConfig kc;
  kc.origin = "kubelets";
  if (options_.kubelet_read_only_port == 0) {
    // Kubelets authenticate the same bearer token (TokenReview) or client certificate.
    kc = KubeletConfigFrom(api_->config());
    kc.insecure_skip_tls_verify = options_.kubelet_insecure_tls;
    if (!options_.kubelet_ca_file.empty()) {
      std::ifstream in(options_.kubelet_ca_file, std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      kc.ca_pem = ss.str();
      kc.ca_file = options_.kubelet_ca_file;
      if (!in || kc.ca_pem.find("-----BEGIN ") == std::string::npos) {
        setup_ = Status::Error(reason::kConfig, "--kubelet-ca-file " + options_.kubelet_ca_file +
                                                    ": cannot read a PEM CA bundle");
        log::Error("kubelet CA file unusable; no kubelet can be verified",
                   {{"error", setup_.message()}});
      }
    }
    if (options_.kubelet_insecure_tls) {
      log::Warn(
          "--kubelet-insecure-tls: kubelet serving certificates are NOT verified; anyone "
          "on the path can read the service-account token and forge the stats");
    }
  }
  KubeClientOptions ko;
  ko.connect_timeout_seconds = options_.connect_timeout_seconds;
  ko.timeout_seconds = options_.request_timeout_seconds;
  ko.exec_timeout_seconds = options_.exec_timeout_seconds;
  ko.max_cached_connections =
      node_local() ? 0 : CachedConnectionsPerHandle(options_.max_concurrent_requests);
  kubelets_ = std::make_shared<KubeClient>(std::move(kc), ko);
}

Status KubeletTargets::BaseUrl(const std::string& node, const NodeEndpoint& endpoint,
                               std::string* url) const {
  std::string host;
  for (const std::string& type : options_.kubelet_preferred_address_types) {
    for (const auto& [t, address] : endpoint.addresses) {
      if (t == type) {
        host = address;
        break;
      }
    }
    if (!host.empty()) break;
  }
  if (host.empty()) {
    std::string types;
    for (const auto& t : options_.kubelet_preferred_address_types) {
      types += (types.empty() ? "" : ",") + t;
    }
    return Status::Error(reason::kConfig, "node " + node + " has no address of the types " + types +
                                              " (--kubelet-preferred-address-types)");
  }
  if (host.find(':') != std::string::npos) host = "[" + host + "]";  // IPv6
  int port = options_.kubelet_port > 0   ? options_.kubelet_port
             : endpoint.kubelet_port > 0 ? endpoint.kubelet_port
                                         : kDefaultKubeletPort;
  const bool read_only = options_.kubelet_read_only_port > 0;
  if (read_only) port = options_.kubelet_read_only_port;
  *url = std::string(read_only ? "http://" : "https://") + host + ":" + std::to_string(port);
  return Status::Ok();
}

void KubeletTargets::SetEndpoints(const std::vector<std::string>& names,
                                  const std::vector<NodeEndpoint>& endpoints) {
  if (!wants_endpoints()) return;
  base_urls_.clear();
  std::map<std::string, std::string> missing;
  for (size_t i = 0; i < names.size() && i < endpoints.size(); ++i) {
    std::string url;
    Status st = BaseUrl(names[i], endpoints[i], &url);
    if (st.ok()) {
      base_urls_[names[i]] = std::move(url);
    } else {
      missing[names[i]] = st.message();
    }
  }
  missing_ = std::move(missing);
}

Status KubeletTargets::ResolveLocalNode() {
  const std::string& node = options_.node_name;
  if (base_urls_.count(node)) return Status::Ok();
  NodeEndpoint endpoint;
  if (!options_.kubelet_address.empty()) {
    endpoint.addresses.emplace_back(options_.kubelet_preferred_address_types.front(),
                                    options_.kubelet_address);
  } else {
    HttpResponse resp;
    Status st = api_->Get("/api/v1/nodes/" + node, &resp);
    if (!st.ok()) return st;
    std::string name;
    st = DecodeNode(resp.body, &name, &endpoint);
    if (!st.ok())
      return Status::Error(st.reason(), "GET /api/v1/nodes/" + node + ": " + st.message());
  }
  std::string url;
  if (Status st = BaseUrl(node, endpoint, &url); !st.ok()) return st;
  log::Info("node-local mode", {{"node", node}, {"kubelet", url}});
  base_urls_[node] = std::move(url);
  return Status::Ok();
}

Status KubeletTargets::GetFromKubelet(const std::string& node, const char* path,
                                      HttpResponse* out, const Getter& get) {
  if (!setup_.ok()) return setup_;
  auto it = base_urls_.find(node);
  if (it == base_urls_.end()) {
    auto m = missing_.find(node);
    return Status::Error(reason::kConfig, m != missing_.end()
                                              ? m->second
                                              : "node " + node + ": kubelet address not known");
  }
  const std::string url = it->second + path;
  Status st = get ? get(*kubelets_, url, out) : kubelets_->Get(url, out);
  if (st.reason() == reason::kTls && !options_.kubelet_insecure_tls) {
    // Typically a kubelet certificate without the node's IP among its SANs.
    return Status::Error(st.reason(),
                         "node " + node + ": " + st.message() +
                             " (the kubelet certificate does not match its address or CA: try "
                             "--kubelet-preferred-address-types=Hostname, --kubelet-ca-file, or "
                             "--kubelet-insecure-tls; see docs/troubleshooting.md)");
  }
  return st;
}

Status KubeletTargets::GetSummary(const std::string& node, HttpResponse* out,
                                  const Getter& get) {
  if (!direct_) {
    const std::string path = "/api/v1/nodes/" + node + "/proxy/stats/summary";
    return get ? get(*api_, path, out) : api_->Get(path, out);
  }
  return GetFromKubelet(node, "/stats/summary", out, get);
}

Status KubeletTargets::GetPods(const std::string& node, HttpResponse* out) {
  return GetFromKubelet(node, "/pods", out);
}

}  // namespace kmb
