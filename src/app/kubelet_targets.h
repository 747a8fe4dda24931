#pragma once
// How the poller reaches each node's kubelet (--kubelet-access): through the API server's node
// proxy (/api/v1/nodes/NAME/proxy/stats/summary), or directly at the node's address
// (https://ADDRESS:PORT/stats/summary with the service-account token, or plain
// http://ADDRESS:READ_ONLY_PORT/stats/summary without auth), and node-local mode (--node-name).
//
// Direct access uses ONE pooled KubeClient for all kubelets, with absolute URLs: every kubelet
// is verified against the same CA and gets the same credential, so per-node clients would only
// multiply pools, handles and TLS session caches. Its TLS session cache is shared between the
// pooled handles, so a reconnect to a kubelet resumes the session instead of a full handshake.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kmb/config/options.h"
#include "kmb/kube/client.h"
#include "kmb/sources/node_list.h"
#include "kmb/util/status.h"

namespace kmb {

class KubeletTargets {
 public:
  // `api` is the API server client (its CA and credentials are the defaults for kubelets).
  KubeletTargets(const Options& options, std::shared_ptr<KubeClient> api);

  bool direct() const { return direct_; }
  bool node_local() const { return !options_.node_name.empty(); }
  // Node lists must carry addresses and kubelet ports (direct access, not node-local).
  bool wants_endpoints() const { return direct_ && !node_local(); }
  bool insecure_tls() const { return direct_ && options_.kubelet_insecure_tls; }

  // Learns the kubelet URL of every listed node (direct access).
  void SetEndpoints(const std::vector<std::string>& names,
                    const std::vector<NodeEndpoint>& endpoints);

  // Node-local mode: the node's kubelet URL, from --kubelet-address or from the Node object
  // (GET /api/v1/nodes/NAME, one cheap request, repeated only until it succeeds).
  Status ResolveLocalNode();

  // How a request is made: client.Get by default; the poller passes its retrying GET.
  using Getter = std::function<Status(KubeClient&, std::string_view, HttpResponse*)>;

  // GET the node's /stats/summary with `get`. Errors name the node; a TLS failure says how to
  // fix it.
  Status GetSummary(const std::string& node, HttpResponse* out, const Getter& get = nullptr);
  // Re-reads the kubelet client's token, CA and client certificate files (SIGHUP).
  Status ReloadFiles() { return kubelets_ ? kubelets_->ReloadFiles() : Status::Ok(); }

  // GET the node's kubelet /pods (a PodList), direct access only.
  Status GetPods(const std::string& node, HttpResponse* out);

 private:
  Status GetFromKubelet(const std::string& node, const char* path, HttpResponse* out,
                        const Getter& get = nullptr);
  // "https://10.0.0.5:10250" for an endpoint, or an error naming the node.
  Status BaseUrl(const std::string& node, const NodeEndpoint& endpoint, std::string* url) const;

  Options options_;
  bool direct_ = false;
  std::shared_ptr<KubeClient> api_;
  std::shared_ptr<KubeClient> kubelets_;          // direct access: one client for every kubelet
  Status setup_;                                  // e.g. an unreadable --kubelet-ca-file
  std::map<std::string, std::string> base_urls_;  // node -> "https://host:port"
  std::map<std::string, std::string> missing_;    // node -> why it has no URL
};

}  // namespace kmb
