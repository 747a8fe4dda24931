#pragma once
// Fault injection for the simulated cluster: what a rule looks like, how it is parsed (the
// `simulate --fault` flag, `--fault-file`, SimulatedCluster::AddFault) and how a faulty HTTP
// answer is sent. The syntax is documented in docs/configuration.md ("Fault injection").
//
//   RULE     = TARGET ":" KIND [ "=" ARG ]
//   TARGET   = "node/" NAME | "node/*" | "nodes" | "pods" | "metrics-api" | "apiserver"
//
// `node/NAME` is that node's Summary, through the API server's node proxy and on its own
// kubelet listener; `nodes`, `pods` and `metrics-api` are the API server's lists;
// `apiserver` is every API server request, and for connection-level kinds its listener.

#include <civetweb.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kmb::sim {

enum class FaultKind {
  kLatency,        // latency=DURATION: answer normally after a delay
  kHang,           // hang[=DURATION]: accept the request, answer nothing for DURATION (60 s),
                   // then 504; rules changing end it early
  kRefuse,         // refuse: connection refused (listener closed; via the proxy: 503)
  kTlsUnknownCa,   // tls-unknown-ca: serving certificate from a CA the client does not trust
  kTlsExpired,     // tls-expired: expired serving certificate
  kTlsNoIpSan,     // tls-no-ip-san: certificate without the IP the client dials
  kHttp,           // http=CODE: that status with a Kubernetes Status body (429: Retry-After: 1)
  kTruncated,      // truncated: the first half of the JSON body
  kNotJson,        // not-json: an HTML error page with status 200
  kDeepNesting,    // deep-nesting[=N]: N (2,000,000) '[' characters
  kHuge,           // huge[=SIZE]: the real body padded with spaces to SIZE (1 GiB), streamed
  kBadNumbers,     // bad-numbers: out-of-range, negative and fractional integer counters
  kDuplicatePods,  // duplicate-pods: every pod listed twice
  kSlowBody,       // slow-body: the body sent one byte a second
};

enum class FaultTarget { kNode, kAllNodes, kNodeList, kPodList, kMetricsApi, kApiServer };

struct FaultRule {
  FaultTarget target = FaultTarget::kAllNodes;
  std::string node;  // kNode only
  FaultKind kind = FaultKind::kHttp;
  int http_status = 503;
  double seconds = 0;  // latency, hang cap
  uint64_t count = 0;  // huge: bytes; deep-nesting: brackets
  std::string text;    // the rule as written, for messages
};

// Parses one rule; false with *error naming the rule and what is wrong.
bool ParseFaultRule(std::string_view text, FaultRule* out, std::string* error);
// A fault file: one rule per line; blank lines and lines starting with '#' are ignored; a YAML
// list (`- node/x:hang`, optionally under `faults:`) reads the same. Errors name the line.
bool ParseFaultFile(std::string_view content, std::vector<FaultRule>* out, std::string* error);
// The kinds, for help texts.
inline constexpr const char* kFaultKinds =
    "latency=DURATION, hang[=DURATION], refuse, tls-unknown-ca, tls-expired, tls-no-ip-san, "
    "http=CODE, truncated, not-json, deep-nesting[=N], huge[=SIZE], bad-numbers, "
    "duplicate-pods, slow-body";

// True for kinds that act on a listener (connection) rather than on an HTTP answer.
bool IsConnectionFault(FaultKind kind);

// The rules in force; thread-safe. Request paths ask Find() on every request.
class FaultSet {
 public:
  void Add(const FaultRule& rule);  // replaces a rule with the same target
  void Clear();
  // The rule for a node's Summary (node index and name), or for a list target.
  std::optional<FaultRule> ForNode(std::string_view node) const;
  std::optional<FaultRule> ForTarget(FaultTarget target) const;
  bool empty() const { return count_.load(std::memory_order_relaxed) == 0; }

  // Hanging and slow answers wait here. Returns true when the time has passed; false when
  // woken early: the simulator is stopping, or the rules changed (Add, Clear).
  bool Sleep(double seconds);
  void Stop();

 private:
  mutable std::mutex mu_;
  std::vector<FaultRule> rules_;  // guarded by mu_
  std::atomic<int> count_{0};
  std::mutex sleep_mu_;
  std::condition_variable wake_;
  bool stopping_ = false;    // guarded by sleep_mu_
  uint64_t generation_ = 0;  // guarded by sleep_mu_; bumped by Add and Clear
  void Wake();
};

// Sends the faulty answer for an HTTP-level rule. `body` produces the healthy JSON body (called
// only by kinds that alter one). `dial` is the kubelet address for the proxy's messages.
// Returns the HTTP status sent (0 when nothing was sent, e.g. a hang cut short). For kLatency
// it only sleeps and returns -1: the caller then answers normally.
int SendFault(mg_connection* conn, const FaultRule& rule, FaultSet& set, bool via_proxy,
              std::string_view dial, const std::string& body);

// Kinds whose answer needs the healthy body.
bool FaultNeedsBody(FaultKind kind);

}  // namespace kmb::sim
