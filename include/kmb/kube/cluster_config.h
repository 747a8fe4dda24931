#pragma once
// Where the API server is and how to authenticate to it: from a kubeconfig (YAML), from the
// in-cluster service account, or from --apiserver alone (e.g. `kubectl proxy`, no auth).

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kmb/util/status.h"

namespace kmb {

// A kubeconfig user's `exec` credential plugin (client.authentication.k8s.io ExecConfig).
struct ExecConfig {
  std::string command;  // as written; relative paths with a '/' resolved against the kubeconfig
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;  // added to the exporter's environment
  std::string api_version;                       // client.authentication.k8s.io/v1 or /v1beta1
  std::string install_hint;                      // shown when the command cannot be run
  bool provide_cluster_info = false;             // KUBERNETES_EXEC_INFO carries spec.cluster
  std::string interactive_mode = "IfAvailable";  // Never | IfAvailable | Always
  std::string user;                              // kubeconfig user name, for messages
};

struct ClusterConfig {
  std::string server;  // "https://host:port" or "http://host:port" (no trailing slash)
  std::string ca_pem;  // CA bundle in PEM (may hold several certificates); empty = system roots
  bool insecure_skip_tls_verify = false;
  std::string tls_server_name;
  std::string token;       // bearer token. NEVER logged or put into an error message.
  std::string token_file;  // when set, the token is (re-)read from this file
  std::string client_cert_pem;
  std::string client_key_pem;  // NEVER logged
  std::string username;
  std::string password;  // basic auth. NEVER logged
  std::string proxy_url;
  // ---- access: where file-backed material came from (KubeClient::ReloadFiles re-reads them)
  // and the exec credential plugin ----
  std::string ca_file;           // ca_pem was read from this file
  std::string client_cert_file;  // client_cert_pem was read from this file
  std::string client_key_file;   // client_key_pem was read from this file
  std::optional<ExecConfig> exec;
  // Human description of where this came from, safe to log: "kubeconfig /root/.kube/config
  // context kind-kind", "in-cluster service account", "--apiserver http://127.0.0.1:8001".
  std::string origin;
};

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
