#pragma once
// Status: the outcome of an operation that can fail because of a peer, the network or input.
// `reason` is one of a small fixed set (it becomes the `reason` label of
// kube_metrics_bridge_errors_total); `message` is one human line saying what and where.
// Messages never contain credentials.

#include <string>
#include <utility>

namespace kmb {

// The fixed set of failure reasons.
namespace reason {
inline constexpr const char* kTimeout = "timeout";
inline constexpr const char* kConnect = "connect";
inline constexpr const char* kTls = "tls";
inline constexpr const char* kHttp4xx = "http_4xx";
inline constexpr const char* kHttp5xx = "http_5xx";
inline constexpr const char* kDecode = "decode";
inline constexpr const char* kTooLarge = "too_large";
// A node skipped by the per-node back-off (kmb/app/backoff.h) after repeated failures.
inline constexpr const char* kBackoff = "backoff";
inline constexpr const char* kConfig = "config";
inline constexpr const char* kInternal = "internal";
}  // namespace reason

class Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Error(std::string reason, std::string message) {
    Status s;
    s.reason_ = std::move(reason);
    s.message_ = std::move(message);
    return s;
  }
  bool ok() const { return reason_.empty(); }
  const std::string& reason() const { return reason_; }
  const std::string& message() const { return message_; }

 private:
  std::string reason_;
  std::string message_;
};

}  // namespace kmb
