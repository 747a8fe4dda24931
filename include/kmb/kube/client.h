#pragma once
// HTTP(S) client for the API server (and, later, kubelets), on libcurl.
// Thread-safe: each call borrows a curl easy handle from a pool, so keep-alive connections and
// TLS sessions are reused across polls.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "kmb/kube/cluster_config.h"
#include "kmb/util/status.h"

namespace kmb {

// Get() leaves at least this many bytes of capacity after the body, so the body can be handed
// to simdjson without a copy (simdjson::SIMDJSON_PADDING).
inline constexpr size_t kHttpBodyPadding = 64;

// Takes a 2xx body as it arrives instead of HttpResponse::body (a list decoded on the way:
// the poller's Metrics API lists, 61 MB at 5,000 nodes, need not exist whole).
class BodySink {
 public:
  virtual ~BodySink() = default;
  // A 2xx answer begins: once for every 2xx answer, before its bytes, even when it has none.
  // A retried request thus starts over in the sink, whatever an attempt cut short left there.
  virtual void Start() = 0;
  // The next bytes of the body (the decoded ones, when it came gzip-encoded).
  virtual void Bytes(std::string_view bytes) = 0;
};

struct HttpResponse {
  long status = 0;
  // The body; for a 2xx answer with a `sink`, empty (the sink took it).
  std::string body;
  // When set, a 2xx body goes here (limited to max_response_bytes all the same); a non-2xx
  // body, whose text the error message quotes, still goes to `body`.
  BodySink* sink = nullptr;
  std::string content_type;
  double seconds = 0;  // total time of the request
  // Fault handling (kube/retry.h): the Retry-After header of a 429/503 answer, 0 when absent.
  double retry_after_seconds = 0;
};

struct KubeClientOptions {
  double connect_timeout_seconds = 5;
  double timeout_seconds = 10;  // whole request
  size_t max_response_bytes = 256u << 20;
  std::string user_agent = "kube-metrics-bridge";
  // HTTP/1.1 by default; true negotiates HTTP/2 over TLS (ALPN) when libcurl has nghttp2.
  bool http2 = false;
  // ---- access ----
  double exec_timeout_seconds = 30;  // an exec credential plugin running longer is killed
  // Idle connections each pooled handle keeps (libcurl's CURLOPT_MAXCONNECTS; 0: libcurl's
  // default of 5). A client that talks to many kubelets keeps one per kubelet it reaches.
  int max_cached_connections = 0;
};

class KubeClient {
 public:
  KubeClient(ClusterConfig config, KubeClientOptions options);
  ~KubeClient();
  KubeClient(const KubeClient&) = delete;
  KubeClient& operator=(const KubeClient&) = delete;

  // GET `path` (absolute path with query, e.g. "/api/v1/nodes?limit=500") on the server, or
  // an absolute http(s) URL (a kubelet: "https://10.0.0.5:10250/stats/summary"), sent with the
  // same TLS settings and credentials. With an exec credential plugin, a 401 answer refreshes
  // the credential and repeats the request once.
  // 2xx: Ok, with the body in *out (or given to out->sink). Otherwise a Status whose reason is
  // one of timeout, connect, tls, http_4xx (also unexpected 1xx/3xx: redirects are not
  // followed), http_5xx, too_large (rarely decode for a corrupt gzip body, config for an
  // unusable URL, internal), and whose message is one line:
  //   GET https://host:6443/apis/metrics.k8s.io/v1beta1/nodes: HTTP 503: <Status.message from
  //   the body, else its first 200 bytes>
  // or "GET <url>: <curl error>" for transport errors. *out still holds status and body for
  // non-2xx answers (and is reused: pass the same HttpResponse again to keep its buffer). No
  // credential ever appears in the message.
  Status Get(std::string_view path, HttpResponse* out);
  // Same, with this request's whole-request timeout instead of the client's (when > 0); the
  // connect timeout stays the client's, capped by it. Used for --kubelet-timeout and retries.
  Status Get(std::string_view path, HttpResponse* out, double timeout_seconds);

  // POST `json_body` (Content-Type: application/json) to `path`; results as for Get, with
  // "POST <url>" in messages. Used by `doctor` for SelfSubjectAccessReviews.
  Status Post(std::string_view path, std::string_view json_body, HttpResponse* out);

  // ---- Streaming GET (the watch cache) ----
  // GET `path` and hand the body to `on_bytes` as it arrives, chunk by chunk (a watch). The
  // whole-request timeout does not apply: the transfer ends after `max_seconds` (give the
  // watch's own timeoutSeconds plus a margin). An idle watch sleeps: `on_bytes` is called
  // with an empty chunk only when WakeStreams() wakes it (or once a minute at most); returning
  // false from it, or from a chunk, ends the transfer, and Stream then returns Ok. Errors as
  // for Get (a non-2xx body goes to out->body, not to `on_bytes`); a transfer that reaches
  // `max_seconds` is a timeout.
  Status Stream(std::string_view path, double max_seconds,
                const std::function<bool(std::string_view)>& on_bytes, HttpResponse* out);
  // Wakes every Stream in flight, whose `on_bytes` then gets an empty chunk at once (a watch
  // being stopped). Safe from any thread.
  void WakeStreams();

  const ClusterConfig& config() const;

  // Re-reads the token file, the CA file and the client certificate and key files the config
  // came from (for SIGHUP); connections made from now on use them. On a read error the old
  // material stays and the Status says which file (reason "config").
  Status ReloadFiles();

  // Connections (TCP, and TLS handshakes for https) opened since construction; with keep-alive
  // this stays far below the number of requests.
  uint64_t connections_opened() const;

 private:
  Status Request(const char* method, std::string_view path, std::string_view body,
                 HttpResponse* out, double timeout_seconds = 0);

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kmb
