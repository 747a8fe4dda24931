#pragma once
// How the exporter proves who it is: the bearer token, client certificate or exec credential
// plugin of a kubeconfig user or of the in-cluster service account. The API server and the
// kubelets (which authenticate the same token through TokenReview, or the same certificate)
// get the same Credentials, so they are held and handed on as one value.

#include <optional>
#include <string>
#include <utility>
#include <vector>

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

// Everything here but the file names is secret: NEVER logged or put into an error message.
struct Credentials {
  std::string token;       // bearer token
  std::string token_file;  // when set, the token is (re-)read from this file
  std::string client_cert_pem;
  std::string client_key_pem;
  // Where file-backed material came from (KubeClient::ReloadFiles re-reads them).
  std::string client_cert_file;  // client_cert_pem was read from this file
  std::string client_key_file;   // client_key_pem was read from this file
  std::optional<ExecConfig> exec;
};

}  // namespace kmb
