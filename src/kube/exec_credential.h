#pragma once
// kubeconfig `exec` credential plugins (client.authentication.k8s.io/v1 and v1beta1): runs the
// plugin, parses its ExecCredential, and caches the token or client certificate until its
// expirationTimestamp. Nothing the plugin prints (stdout carries the secret, stderr may too)
// ever reaches a log line or a Status message: those name the command, its exit status and the
// kubeconfig's installHint only.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "kmb/kube/cluster_config.h"
#include "kmb/util/status.h"

namespace kmb {

// What a plugin returned. NEVER logged.
struct ExecCredential {
  std::string token;
  std::string client_cert_pem;
  std::string client_key_pem;
  // Absent: valid until a request is answered 401.
  std::optional<std::chrono::system_clock::time_point> expiry;
};

// Parses a plugin's stdout. `api_version` is the one the kubeconfig asked for; the output
// must carry the same. Errors (reason "config") never quote the input.
Status ParseExecCredential(std::string_view json, std::string_view api_version,
                           ExecCredential* out);

// The KUBERNETES_EXEC_INFO value client-go passes: an ExecCredential with spec.interactive
// false and, with provideClusterInfo, spec.cluster describing `cluster`.
std::string ExecInfoJson(const ExecConfig& exec, const ClusterConfig& cluster);

// Runs the plugin once: stdin /dev/null, stdout captured (at most 1 MiB), stderr discarded, its
// own process group killed when it outlives `timeout_seconds`.
Status RunExecPlugin(const ExecConfig& exec, const std::string& exec_info, double timeout_seconds,
                     ExecCredential* out);

// The cached credential of one client. Thread-safe; concurrent callers wait for one run.
class ExecCredentialSource {
 public:
  ExecCredentialSource(ExecConfig exec, const ClusterConfig& cluster, double timeout_seconds);

  // The current credential (re-running the plugin when there is none or it expired);
  // *generation changes whenever the plugin ran.
  Status Get(ExecCredential* out, uint64_t* generation);
  // The cached credential of `generation` without running the plugin; false when replaced.
  bool Peek(uint64_t generation, ExecCredential* out);
  // A request made with `generation` was answered 401: the next Get re-runs the plugin
  // (once, however many requests saw that 401).
  void Invalidate(uint64_t generation);

 private:
  const ExecConfig exec_;
  const std::string exec_info_;
  const double timeout_seconds_;
  std::mutex mu_;
  std::optional<ExecCredential> cached_;
  uint64_t generation_ = 0;
  std::string last_error_reason_;  // logs a failure once until it changes or recovers
  // After a failure the plugin is not run again for kRetryAfterFailure: requests get failure_.
  static constexpr std::chrono::seconds kRetryAfterFailure{5};
  Status failure_;
  std::chrono::steady_clock::time_point retry_after_;
};

}  // namespace kmb
