#pragma once
// Where the API server is and how to authenticate to it: from a kubeconfig (YAML), from the
// in-cluster service account, or from --apiserver alone (e.g. `kubectl proxy`, no auth).

#include <string>

#include "kmb/kube/credentials.h"
#include "kmb/util/status.h"

namespace kmb {

struct ClusterConfig {
  std::string server;   // "https://host:port" or "http://host:port" (no trailing slash)
  std::string ca_pem;   // CA bundle in PEM (may hold several certificates); empty = system roots
  std::string ca_file;  // ca_pem was read from this file (KubeClient::ReloadFiles re-reads it)
  bool insecure_skip_tls_verify = false;
  std::string tls_server_name;
  Credentials credentials;  // token, client certificate, exec plugin; also sent to kubelets
  // Basic auth, for the API server only (kubelets do not accept it). password: NEVER logged.
  std::string username;
  std::string password;
  std::string proxy_url;
  // Human description of where this came from, safe to log: "kubeconfig /root/.kube/config
  // context kind-kind", "in-cluster service account", "--apiserver http://127.0.0.1:8001".
  std::string origin;
};

// What a client of the kubelets (port 10250) takes over from the API server's configuration: its
// credentials (kubelets authenticate the same token or client certificate) and, unless the
// caller sets another, its CA. Never basic auth (kubelets do not accept it: the password would
// only leak to every node), the proxy or the server name.
ClusterConfig KubeletConfigFrom(const ClusterConfig& api);

struct ClusterConfigOptions {
  std::string kubeconfig_path;  // --kubeconfig; empty = $KUBECONFIG, then ~/.kube/config
  std::string context;          // --context; empty = current-context
  std::string apiserver;        // --apiserver; overrides the server
};

// Resolution order: --kubeconfig; else --apiserver alone (no credentials); else $KUBECONFIG,
// ~/.kube/config; else the in-cluster service account (KUBERNETES_SERVICE_HOST/PORT,
// /var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt}). Relative file paths in a
// kubeconfig are resolved against the kubeconfig's folder; *-data fields are base64.
// Errors name the file and the field, never a credential (reason "config").
Status LoadClusterConfig(const ClusterConfigOptions& options, ClusterConfig* out);

// Same, with the in-cluster file locations and environment injectable for tests.
struct InClusterPaths {
  std::string token_file = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::string ca_file = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
};
Status LoadInClusterConfig(const InClusterPaths& paths, ClusterConfig* out);

}  // namespace kmb
