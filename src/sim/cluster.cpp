#include "kmb/sim/cluster.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <fcntl.h>
#include <netdb.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <initializer_list>
#include <string>
#include <thread>
#include <unordered_map>

#include "kmb/net/civetweb.h"
#include "kmb/util/log.h"
#include "kmb/util/zlib_gzip.h"
#include "kmb/util/sanitizers.h"
#include "kmb/util/signals.h"
#include "sim/faults.h"
#include "sim/format.h"
#include "sim/json_writer.h"
#include "sim/model.h"
#include "sim/render.h"
#include "sim/scenario.h"
#include "sim/tls.h"
#include "sim/tls_frontend.h"
#include "sim/watch.h"

namespace kmb::sim {
namespace {

constexpr const char* kJson = "application/json";
constexpr std::string_view kMetricsGroup = "metrics.k8s.io";
constexpr std::string_view kMetricsGroupVersion = "metrics.k8s.io/v1beta1";
constexpr const char* kKubernetesVersion = "v1.35.0";

// The path split on '/', empty segments dropped.
struct Path {
  static constexpr int kMax = 12;
  std::string_view seg[kMax];
  int n = 0;
  bool too_long = false;

  explicit Path(std::string_view p) {
    while (!p.empty()) {
      const size_t slash = p.find('/');
      const std::string_view s = p.substr(0, slash);
      if (!s.empty()) {
        if (n == kMax) {
          too_long = true;
          return;
        }
        seg[n++] = s;
      }
      if (slash == std::string_view::npos) break;
      p.remove_prefix(slash + 1);
    }
  }

  // Segment-wise match; "*" matches any one segment and is captured in order.
  bool Match(std::initializer_list<std::string_view> pattern,
             std::string_view* captures = nullptr) const {
    if (too_long || static_cast<int>(pattern.size()) != n) return false;
    int i = 0;
    int c = 0;
    for (std::string_view want : pattern) {
      if (want == "*") {
        if (captures) captures[c++] = seg[i];
      } else if (want != seg[i]) {
        return false;
      }
      ++i;
    }
    return true;
  }
};

// The messages client-go shows for bare HTTP codes (apimachinery NewGenericServerResponse).
std::string_view DefaultMessage(int code) {
  switch (code) {
    case 400:
      return "the server rejected our request for an unknown reason";
    case 401:
      return "Unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "the server could not find the requested resource";
    case 409:
      return "the server reported a conflict";
    case 429:
      return "the server has received too many requests and has asked us to try again later";
    case 500:
      return "an error on the server (\"unknown\") has prevented the request from succeeding";
    case 503:
      return "the server is currently unable to handle the request";
    case 504:
      return "the server was unable to return a response in the time allotted, but may still be "
             "processing the request";
    default:
      return "an error on the server has prevented the request from succeeding";
  }
}

bool IsIpLiteral(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// Per worker thread: the node sample and the response body are reused across requests.
NodeStats& ScratchStats() {
  thread_local NodeStats stats;
  return stats;
}
std::string& ScratchBody() {
  constexpr size_t kKeepBytes = 8u << 20;  // a 110-pod Summary is ~0.5 MiB
  thread_local std::string body;
  if (body.capacity() > kKeepBytes) std::string().swap(body);  // after an unusually big answer
  body.clear();
  return body;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::string QueryParam(const char* query, const char* name) {
  if (query == nullptr) return "";
  char buf[2048];
  const int n = mg_get_var(query, std::strlen(query), name, buf, sizeof(buf));
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

// List continue tokens look like the API server's (base64 of a small JSON) and hold the index
// of the next item.
std::string ContinueToken(int64_t next) {
  return Base64(R"({"v":"meta.k8s.io/v1","rv":1000,"start":")" + std::to_string(next) + "\"}");
}

bool ParseContinue(const std::string& token, int64_t* next) {
  *next = 0;
  if (token.empty()) return true;
  std::string json;
  constexpr std::string_view kStart = "\"start\":\"";
  if (!Base64Decode(token, &json)) return false;
  const size_t at = json.find(kStart);
  if (at == std::string::npos) return false;
  const char* begin = json.data() + at + kStart.size();
  const auto [ptr, ec] = std::from_chars(begin, json.data() + json.size(), *next);
  return ec == std::errc() && *ptr == '"' && *next >= 0;
}

// ?watch=1 (or true): a watch request, served by sim/watch.cpp.
bool IsWatch(const char* query) {
  const std::string w = QueryParam(query, "watch");
  return w == "1" || w == "true";
}
WatchRequest Watch(const char* query, bool pods) {
  WatchRequest r;
  r.pods = pods;
  r.resource_version = QueryParam(query, "resourceVersion");
  r.timeout_seconds = std::atoi(QueryParam(query, "timeoutSeconds").c_str());
  const std::string b = QueryParam(query, "allowWatchBookmarks");
  r.bookmarks = b == "1" || b == "true";
  return r;
}

// Node name filter from fieldSelector=spec.nodeName=X (other selectors are ignored).
std::string NodeNameSelector(const std::string& selector) {
  size_t pos = 0;
  while (pos <= selector.size()) {
    const size_t comma = std::min(selector.find(',', pos), selector.size());
    std::string_view term(selector.data() + pos, comma - pos);
    for (std::string_view prefix : {"spec.nodeName==", "spec.nodeName="}) {
      if (term.substr(0, prefix.size()) == prefix) return std::string(term.substr(prefix.size()));
    }
    pos = comma + 1;
  }
  return "";
}

void WriteGroup(JsonWriter& w, std::string_view name, std::string_view version) {
  const std::string gv = std::string(name) + "/" + std::string(version);
  w.Field("name", name);
  w.Key("versions").BeginArray();
  w.BeginObject();
  w.Field("groupVersion", gv);
  w.Field("version", version);
  w.EndObject();
  w.EndArray();
  w.Key("preferredVersion").BeginObject();
  w.Field("groupVersion", gv);
  w.Field("version", version);
  w.EndObject();
}

void WriteResource(JsonWriter& w, const char* name, bool namespaced, const char* kind,
                   std::initializer_list<const char*> verbs) {
  w.BeginObject();
  w.Field("name", name);
  w.Field("singularName", "");
  w.Field("namespaced", namespaced);
  w.Field("kind", kind);
  w.Key("verbs").BeginArray();
  for (const char* v : verbs) w.String(v);
  w.EndArray();
  w.EndObject();
}

}  // namespace

struct SimulatedCluster::Impl {
  SimOptions options;
  std::unique_ptr<ClusterModel> model;
  mg_context* ctx = nullptr;
  bool library_initialized = false;
  std::string address;  // host:port clients use
  std::string url;
  std::string ca_pem;
  std::unique_ptr<TlsFrontend> tls_frontend;
  std::string backend_host;  // where civetweb listens, as a connectable address
  int backend_port = 0;
  std::chrono::steady_clock::time_point start_steady;
  int64_t start_unix = 0;
  std::atomic<int64_t> request_tick{0};
  std::atomic<int> metrics_status{0};
  std::atomic<int64_t> metrics_status_since{0};
  std::unique_ptr<std::atomic<int>[]> node_status;
  ApiServiceMode apiservice = ApiServiceMode::kPassed;
  // Kubelet listeners: civetweb's backend port of each -> node (kReadOnlyKubelet: read-only).
  // Filled in by Listen before any client can know these ports; read-only afterwards.
  std::unordered_map<int, int> kubelet_by_backend_port;
  std::vector<std::unique_ptr<TlsFrontend>> kubelet_frontends;  // one per node
  int read_only_port = 0;
  std::unique_ptr<WatchState> watch;  // list+watch state: pod churn, resourceVersions, watches
  static constexpr int kNotKubelet = -1;
  static constexpr int kReadOnlyKubelet = -2;
  static constexpr int kSharedKubelet = -3;  // access: one port for all, routed by Host
  static constexpr const char* kSharedSuffix = ".kubelet.localhost";

  // ---- Fault injection (sim/faults.h) ----
  FaultSet faults;
  TlsMaterial api_tls;      // the API server's certificate (with tls), to restore listeners
  TlsMaterial kubelet_tls;  // the kubelets' certificate (with kubelets)
  // access2: with require_client_cert, the kubeconfig user's certificate and key (server_*).
  TlsMaterial client_tls;
  // The CA the API server listener verifies client certificates against ("" = none asked).
  std::string ClientCa() const { return options.require_client_cert ? api_tls.ca_cert_pem : ""; }
  // The authenticated user of an API server request: the client certificate's CN with
  // require_client_cert, else the service account when the token matches; "" = 401.
  std::string ApiUser(mg_connection* conn);
  std::string public_host;  // where the API server's TLS frontend listens
  int public_port = 0;
  std::mutex listeners_mu;  // serializes listener replacement (AddFault, ClearFaults)
  // Sends the fault's answer; -1 when there is none (or only latency): answer normally.
  int ServeFault(mg_connection* conn, const std::optional<FaultRule>& rule, int node);
  // Replaces the listener a connection-level rule names (refuse: closes it).
  Status ApplyListenerFault(const FaultRule& rule);
  bool RestartFrontend(std::unique_ptr<TlsFrontend>* frontend, const std::string& host, int port,
                       const TlsMaterial& tls, int backend, std::string* error,
                       const std::string& client_ca_pem = "");

  ~Impl() {
    faults.Stop();  // first: wakes hanging and slow answers so civetweb can stop
    if (watch) watch->Stop();  // civetweb waits for open watches
    kubelet_frontends.clear();  // first: they relay to civetweb
    tls_frontend.reset();
    if (ctx) StopCivetweb(ctx, backend_host, backend_port);
    if (library_initialized) mg_exit_library();
  }

  bool Listen(std::string* error);

  SampleTimes Sample() {
    SampleTimes t;
    t.now_unix = std::time(nullptr);
    if (options.stats_period_seconds <= 0) {
      t.tick = request_tick.fetch_add(1);
      t.sample_unix = t.now_unix;
      return t;
    }
    const int64_t elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now() - start_steady)
                                   .count();
    t.tick = elapsed_ms / model->period_millis();
    t.sample_unix = start_unix + t.tick * model->period_millis() / 1000;
    return t;
  }

  int Handle(mg_connection* conn);
  int Send(mg_connection* conn, int status, std::string_view body,
           const char* content_type = kJson);
  int SendStatus(mg_connection* conn, int code, std::string_view message,
                 const StatusDetails& details = {}) {
    return Send(conn, code, StatusBody(code, message, details));
  }
  bool Authorized(mg_connection* conn) const;
  bool Denied(std::string_view can_i_name) const {
    return std::find(options.deny.begin(), options.deny.end(), can_i_name) != options.deny.end();
  }
  // Denied for this verb: "pods" denies every verb, "watch pods" only watch.
  bool Denied(std::string_view verb, std::string_view can_i_name) const {
    return Denied(can_i_name) || Denied(std::string(verb) + " " + std::string(can_i_name));
  }
  int KubeletOf(mg_connection* conn) const {
    const auto it = kubelet_by_backend_port.find(mg_get_request_info(conn)->server_port);
    return it == kubelet_by_backend_port.end() ? kNotKubelet : it->second;
  }
  // `verb`: "" = get with a name, list without.
  int SendForbidden(mg_connection* conn, std::string_view resource, std::string_view group,
                    std::string_view name, std::string_view verb = "");
  bool StartKubelets(const TlsMaterial& cluster_tls, const std::vector<int>& backend_ports,
                     std::string* error);

  int HandleKubelet(mg_connection* conn, int node);
  int ServeSelfSubjectAccessReview(mg_connection* conn);
  int ServeMetricsServerObjects(mg_connection* conn, const Path& path, const char* query);

  int ServeSummary(mg_connection* conn, std::string_view node_name);
  int SendSummary(mg_connection* conn, int node);
  int ServeNodeList(mg_connection* conn, const char* query);
  int ServePodList(mg_connection* conn, const char* query, std::string_view ns);
  int ServeMetrics(mg_connection* conn, const Path& path);
  int ServeApiService(mg_connection* conn);
  int ServeDiscovery(mg_connection* conn, const Path& path);
};

// A 200 JSON answer of the API server: buffered and sent with a Content-Length while small,
// streamed with chunked transfer encoding once it passes 1 MiB (listing 550,000 pods then never
// holds the whole list in memory), and gzip-compressed at level 1 once it passes 128 KiB if the
// client accepts gzip, as kube-apiserver does (APIResponseCompression, on by default since
// 1.16; level 1 and the 128 KiB threshold of k8s.io/apiserver's responsewriters). Kubelets
// never compress, and neither does the API server's proxy to them, so Summaries go out plain.
class JsonStream {
 public:
  // With `body_fault` (a fault rule that alters a body: truncated, huge, slow-body), the answer
  // is written whole, then sent as that fault sends it.
  JsonStream(SimulatedCluster::Impl* impl, mg_connection* conn,
             const std::optional<FaultRule>& body_fault = std::nullopt)
      : impl_(impl), conn_(conn), body_(ScratchBody()), writer_(&body_), fault_(body_fault) {
    head_ = std::strcmp(mg_get_request_info(conn)->request_method, "HEAD") == 0;
    const char* accept_encoding = mg_get_header(conn, "Accept-Encoding");
    gzip_ = net::AcceptsGzip(accept_encoding ? accept_encoding : "");
  }
  JsonStream(const JsonStream&) = delete;
  JsonStream& operator=(const JsonStream&) = delete;
  JsonWriter& writer() { return writer_; }

  // Call between items.
  void MaybeFlush() {
    constexpr size_t kChunkBytes = 1u << 20;
    if (head_ || fault_ || writer_.str().size() < kChunkBytes) return;
    if (!streaming_) StartStreaming();
    SendChunk(false);
  }

  int Finish() {
    if (fault_) return SendFault(conn_, *fault_, impl_->faults, false, "", writer_.str());
    constexpr size_t kGzipThresholdBytes = 128u << 10;
    if (!streaming_ && (head_ || !gzip_ || writer_.str().size() <= kGzipThresholdBytes)) {
      return impl_->Send(conn_, 200, writer_.str());
    }
    if (!streaming_) StartStreaming();
    SendChunk(true);
    mg_send_chunk(conn_, "", 0);  // the last, empty chunk
    return 200;
  }

 private:
  void StartStreaming() {
    mg_response_header_start(conn_, 200);
    mg_response_header_add(conn_, "Content-Type", kJson, -1);
    mg_response_header_add(conn_, "Transfer-Encoding", "chunked", -1);
    mg_response_header_add(conn_, "Cache-Control", "no-cache, private", -1);
    if (gzip_) {
      mg_response_header_add(conn_, "Content-Encoding", "gzip", -1);
      mg_response_header_add(conn_, "Vary", "Accept-Encoding", -1);
      z_ = std::make_unique<ZlibGzip>(1);  // level 1, as kube-apiserver
      if (!z_->ok()) {
        z_.reset();
        gzip_ = false;  // headers are out: a broken stream is the client's to detect
      }
    }
    mg_response_header_send(conn_);
    streaming_ = true;
  }

  // Sends what the writer holds (compressed when gzip), then empties it; `last` ends the gzip
  // stream.
  void SendChunk(bool last) {
    writer_.str();  // moves the writer's buffered tokens into body_
    if (!z_) {
      if (!body_.empty()) mg_send_chunk(conn_, body_.data(), static_cast<unsigned>(body_.size()));
      body_.clear();
      return;
    }
    thread_local std::string out;
    out.clear();
    z_->Compress(body_, last, &out);  // a failure leaves a stream the client finds broken
    if (!out.empty()) mg_send_chunk(conn_, out.data(), static_cast<unsigned>(out.size()));
    body_.clear();
  }

  SimulatedCluster::Impl* impl_;
  mg_connection* conn_;
  std::string& body_;
  JsonWriter writer_;
  bool head_ = false;
  bool gzip_ = false;
  bool streaming_ = false;
  std::unique_ptr<ZlibGzip> z_;
  std::optional<FaultRule> fault_;
};

int SimulatedCluster::Impl::Send(mg_connection* conn, int status, std::string_view body,
                                 const char* content_type) {
  char length[24];
  const auto res = std::to_chars(length, length + sizeof(length), body.size());
  mg_response_header_start(conn, status);
  mg_response_header_add(conn, "Content-Type", content_type, -1);
  mg_response_header_add(conn, "Content-Length", length, static_cast<int>(res.ptr - length));
  mg_response_header_add(conn, "Cache-Control", "no-cache, private", -1);
  if (options.kubelet_clock_skew_seconds != 0 && KubeletOf(conn) != kNotKubelet) {
    // A node whose clock is off: its kubelet's Date header says so.
    char date[64];
    const time_t t = std::time(nullptr) + options.kubelet_clock_skew_seconds;
    tm utc{};
    gmtime_r(&t, &utc);
    std::strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &utc);
    mg_response_header_add(conn, "Date", date, -1);
  }
  mg_response_header_send(conn);
  const mg_request_info* ri = mg_get_request_info(conn);
  if (std::strcmp(ri->request_method, "HEAD") != 0 && !body.empty()) {
    mg_write(conn, body.data(), body.size());
  }
  return status;
}

bool SimulatedCluster::Impl::Authorized(mg_connection* conn) const {
  if (options.token.empty()) return true;
  const char* header = mg_get_header(conn, "Authorization");
  if (header == nullptr) return false;
  std::string_view h(header);
  constexpr std::string_view kScheme = "bearer ";
  if (h.size() <= kScheme.size() || strncasecmp(h.data(), kScheme.data(), kScheme.size()) != 0) {
    return false;
  }
  h.remove_prefix(kScheme.size());
  while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
  while (!h.empty() && h.back() == ' ') h.remove_suffix(1);
  return ConstantTimeEquals(h, options.token);
}

std::string SimulatedCluster::Impl::ApiUser(mg_connection* conn) {
  if (options.require_client_cert) {
    // Fault injection may be replacing the listener; its connections end before it is freed.
    std::lock_guard<std::mutex> lock(listeners_mu);
    return tls_frontend ? tls_frontend->PeerCommonName(mg_get_request_info(conn)->remote_port) : "";
  }
  return Authorized(conn) ? kServiceAccountUser : "";
}

int SimulatedCluster::Impl::Handle(mg_connection* conn) {
  const mg_request_info* ri = mg_get_request_info(conn);
  if (const int node = KubeletOf(conn); node != kNotKubelet) return HandleKubelet(conn, node);
  if (const int code = ServeFault(conn, faults.ForTarget(FaultTarget::kApiServer), -1);
      code >= 0) {
    return code;
  }
  if (ApiUser(conn).empty()) return SendStatus(conn, 401, "Unauthorized");
  const Path path(ri->local_uri ? ri->local_uri : "/");
  if (std::strcmp(ri->request_method, "POST") == 0 &&
      path.Match({"apis", "authorization.k8s.io", "v1", "selfsubjectaccessreviews"})) {
    return ServeSelfSubjectAccessReview(conn);
  }
  if (std::strcmp(ri->request_method, "GET") != 0 && std::strcmp(ri->request_method, "HEAD") != 0) {
    return SendStatus(conn, 405, "the server does not allow this method on the requested resource");
  }
  std::string_view cap[3];
  if (path.Match({"api", "v1", "nodes", "*", "proxy", "stats", "summary"}, cap)) {
    if (Denied("nodes/proxy")) return SendForbidden(conn, "nodes/proxy", "", cap[0]);
    return ServeSummary(conn, cap[0]);
  }
  if (path.Match({"api", "v1", "nodes"})) {
    const char* verb = IsWatch(ri->query_string) ? "watch" : "list";
    if (Denied(verb, "nodes")) return SendForbidden(conn, "nodes", "", "", verb);
    if (IsWatch(ri->query_string)) return watch->Serve(conn, Watch(ri->query_string, false));
    return ServeNodeList(conn, ri->query_string);
  }
  if (const int code = ServeMetricsServerObjects(conn, path, ri->query_string); code != 0) {
    return code;
  }
  if (path.Match({"api", "v1", "nodes", "*"}, cap)) {
    const int node = model->FindNode(cap[0]);
    if (node < 0) {
      return SendStatus(conn, 404, "nodes \"" + std::string(cap[0]) + "\" not found",
                        {cap[0], "", "nodes"});
    }
    std::string& body = ScratchBody();
    JsonWriter w(&body);
    RenderNode(w, *model, node, true);
    return Send(conn, 200, w.str());
  }
  if (path.Match({"api", "v1", "pods"})) {
    const char* verb = IsWatch(ri->query_string) ? "watch" : "list";
    if (Denied(verb, "pods")) return SendForbidden(conn, "pods", "", "", verb);
    if (IsWatch(ri->query_string)) return watch->Serve(conn, Watch(ri->query_string, true));
    return ServePodList(conn, ri->query_string, "");
  }
  if (path.Match({"api", "v1", "namespaces", "*", "pods"}, cap)) {
    return ServePodList(conn, ri->query_string, cap[0]);
  }
  if (path.Match({"api", "v1", "namespaces", "*", "pods", "*"}, cap)) {
    PodRef ref;
    if (!model->FindPod(cap[0], cap[1], &ref) || !watch->PodPresent(ref.node, ref.slot)) {
      return SendStatus(conn, 404, "pods \"" + std::string(cap[1]) + "\" not found",
                        {cap[1], "", "pods"});
    }
    std::string& body = ScratchBody();
    JsonWriter w(&body);
    RenderPod(w, *model, ref.node, ref.slot, true, watch->PodResourceVersion(ref.node, ref.slot));
    return Send(conn, 200, w.str());
  }
  if (path.n >= 3 && path.seg[0] == "apis" && path.seg[1] == kMetricsGroup &&
      path.seg[2] == "v1beta1") {
    if (apiservice == ApiServiceMode::kAbsent) return SendStatus(conn, 404, DefaultMessage(404));
    const std::string_view resource = path.n >= 4 ? path.seg[path.n >= 6 ? 5 : 3] : "";
    if (!resource.empty() && Denied(std::string(resource) + ".metrics.k8s.io")) {
      return SendForbidden(conn, resource, kMetricsGroup, "");
    }
    return ServeMetrics(conn, path);
  }
  if (path.Match(
          {"apis", "apiregistration.k8s.io", "v1", "apiservices", "v1beta1.metrics.k8s.io"})) {
    if (apiservice == ApiServiceMode::kAbsent) {
      return SendStatus(conn, 404,
                        "apiservices.apiregistration.k8s.io \"v1beta1.metrics.k8s.io\" not found",
                        {"v1beta1.metrics.k8s.io", "apiregistration.k8s.io", "apiservices"});
    }
    return ServeApiService(conn);
  }
  if (path.Match({"healthz"}) || path.Match({"livez"}) || path.Match({"readyz"})) {
    return Send(conn, 200, "ok", "text/plain; charset=utf-8");
  }
  return ServeDiscovery(conn, path);
}

int SimulatedCluster::Impl::ServeSummary(mg_connection* conn, std::string_view node_name) {
  const int node = model->FindNode(node_name);
  if (node < 0) {
    return SendStatus(conn, 404, "nodes \"" + std::string(node_name) + "\" not found",
                      {node_name, "", "nodes"});
  }
  const int fault = node_status[node].load(std::memory_order_relaxed);
  if (fault != 0) {
    // What the API server says when the kubelet behind the node proxy does not answer.
    const std::string message = fault >= 500 ? "error trying to reach service: dial tcp " +
                                                   model->node(node).internal_ip +
                                                   ":10250: connect: connection refused"
                                             : std::string(DefaultMessage(fault));
    return SendStatus(conn, fault, message, {node_name, "", "nodes"});
  }
  if (const int code = ServeFault(conn, faults.ForNode(node_name), node); code >= 0) return code;
  return SendSummary(conn, node);
}

int SimulatedCluster::Impl::SendSummary(mg_connection* conn, int node) {
  const SampleTimes times = Sample();
  NodeStats& stats = ScratchStats();
  model->Compute(node, times.tick, &stats);
  std::string& body = ScratchBody();
  RenderSummary(*model, node, stats, times, &body,
                [&](int slot) { return watch->PodPresent(node, slot); });
  return Send(conn, 200, body);
}

int SimulatedCluster::Impl::ServeNodeList(mg_connection* conn, const char* query) {
  if (const int code = ServeFault(conn, faults.ForTarget(FaultTarget::kNodeList), -1); code >= 0) {
    return code;
  }
  int64_t start = 0;
  if (!ParseContinue(QueryParam(query, "continue"), &start)) {
    return SendStatus(conn, 400, "continue key is not valid: illegal base64 data");
  }
  const int64_t limit = std::atoll(QueryParam(query, "limit").c_str());
  const int64_t total = model->nodes();
  const int64_t end = limit > 0 ? std::min(total, start + limit) : total;
  JsonStream out(this, conn);
  JsonWriter& w = out.writer();
  w.BeginObject();
  w.Field("kind", "NodeList");
  w.Field("apiVersion", "v1");
  w.Key("metadata").BeginObject();
  w.Field("resourceVersion", std::to_string(watch->resource_version()));
  if (end < total) {
    w.Field("continue", ContinueToken(end));
    w.Field("remainingItemCount", total - end);
  }
  w.EndObject();
  w.Key("items").BeginArray();
  for (int64_t n = start; n < end; ++n) {
    RenderNode(w, *model, static_cast<int>(n), false);
    out.MaybeFlush();
  }
  w.EndArray();
  w.EndObject();
  return out.Finish();
}

int SimulatedCluster::Impl::ServePodList(mg_connection* conn, const char* query,
                                         std::string_view ns) {
  if (const int code = ServeFault(conn, faults.ForTarget(FaultTarget::kPodList), -1); code >= 0) {
    return code;
  }
  int64_t start = 0;
  if (!ParseContinue(QueryParam(query, "continue"), &start)) {
    return SendStatus(conn, 400, "continue key is not valid: illegal base64 data");
  }
  const int64_t limit = std::atoll(QueryParam(query, "limit").c_str());
  const int ppn = model->pods_per_node();
  // Pods are numbered node-major; a spec.nodeName selector narrows the range to one node.
  // Pending pods (no node) follow the scheduled ones.
  const int64_t scheduled = static_cast<int64_t>(model->nodes()) * ppn;
  int64_t first = 0;
  int64_t last = scheduled + options.pending_pods;
  const std::string node_filter = NodeNameSelector(QueryParam(query, "fieldSelector"));
  if (!node_filter.empty()) {
    const int node = model->FindNode(node_filter);
    first = node < 0 ? 0 : static_cast<int64_t>(node) * ppn;
    last = node < 0 ? 0 : first + ppn;
  }
  const int64_t rv = watch->resource_version();  // before the pod set is read
  auto matches = [&](int64_t g) {
    if (g >= scheduled) return ns.empty() || ns == "default";
    return (ns.empty() || model->PodNamespace(g % ppn) == ns) &&
           watch->PodPresent(static_cast<int>(g / ppn), static_cast<int>(g % ppn));
  };
  // A cheap first pass finds the page's end and what remains: the list metadata comes first.
  first = std::max(first, start);
  int64_t end = first;
  for (int64_t emitted = 0; end < last && (limit <= 0 || emitted < limit); ++end) {
    emitted += matches(end) ? 1 : 0;
  }
  int64_t remaining = 0;
  for (int64_t g = end; g < last; ++g) remaining += matches(g) ? 1 : 0;

  JsonStream out(this, conn);
  JsonWriter& w = out.writer();
  w.BeginObject();
  w.Field("kind", "PodList");
  w.Field("apiVersion", "v1");
  w.Key("metadata").BeginObject();
  w.Field("resourceVersion", std::to_string(rv));
  if (remaining > 0) {
    w.Field("continue", ContinueToken(end));
    w.Field("remainingItemCount", remaining);
  }
  w.EndObject();
  w.Key("items").BeginArray();
  for (int64_t g = first; g < end; ++g) {
    if (!matches(g)) continue;
    if (g >= scheduled) {
      RenderPendingPod(w, *model, static_cast<int>(g - scheduled));
      out.MaybeFlush();
      continue;
    }
    RenderPod(w, *model, static_cast<int>(g / ppn), static_cast<int>(g % ppn), false,
              watch->PodResourceVersion(static_cast<int>(g / ppn), static_cast<int>(g % ppn)));
    out.MaybeFlush();
  }
  w.EndArray();
  w.EndObject();
  return out.Finish();
}

int SimulatedCluster::Impl::ServeMetrics(mg_connection* conn, const Path& path) {
  // A fault that alters a body acts on the lists' answers (JsonStream), the others here.
  std::optional<FaultRule> rule = faults.ForTarget(FaultTarget::kMetricsApi);
  std::optional<FaultRule> body_fault;
  if (rule && FaultNeedsBody(rule->kind)) body_fault = std::exchange(rule, std::nullopt);
  if (const int code = ServeFault(conn, rule, -1); code >= 0) return code;
  int fault = metrics_status.load(std::memory_order_relaxed);
  if (fault == 0 && apiservice != ApiServiceMode::kPassed) fault = 503;
  const std::string_view resource = path.n >= 4 ? path.seg[path.n >= 6 ? 5 : 3] : "";
  if (fault != 0) {
    return SendStatus(conn, fault, DefaultMessage(fault), {"", kMetricsGroup, resource});
  }
  std::string_view cap[2];
  std::string& body = ScratchBody();
  JsonWriter w(&body);
  if (path.Match({"apis", "metrics.k8s.io", "v1beta1"})) {
    w.BeginObject();
    w.Field("kind", "APIResourceList");
    w.Field("apiVersion", "v1");
    w.Field("groupVersion", kMetricsGroupVersion);
    w.Key("resources").BeginArray();
    WriteResource(w, "nodes", false, "NodeMetrics", {"get", "list"});
    WriteResource(w, "pods", true, "PodMetrics", {"get", "list"});
    w.EndArray();
    w.EndObject();
    return Send(conn, 200, w.str());
  }
  if (path.Match({"apis", "metrics.k8s.io", "v1beta1", "nodes", "*"}, cap)) {
    const int node = model->FindNode(cap[0]);
    if (node < 0) {
      return SendStatus(conn, 404,
                        "nodemetrics.metrics.k8s.io \"" + std::string(cap[0]) + "\" not found",
                        {cap[0], kMetricsGroup, "nodes"});
    }
    const SampleTimes times = Sample();
    NodeStats& stats = ScratchStats();
    model->Compute(node, times.tick, &stats, Detail::kUsage);
    RenderNodeMetrics(w, *model, node, stats, times, true);
    return Send(conn, 200, w.str());
  }
  if (path.Match({"apis", "metrics.k8s.io", "v1beta1", "namespaces", "*", "pods", "*"}, cap)) {
    PodRef ref;
    if (!model->FindPod(cap[0], cap[1], &ref)) {
      return SendStatus(conn, 404,
                        "podmetrics.metrics.k8s.io \"" + std::string(cap[0]) + "/" +
                            std::string(cap[1]) + "\" not found",
                        {cap[1], kMetricsGroup, "pods"});
    }
    const SampleTimes times = Sample();
    NodeStats& stats = ScratchStats();
    model->Compute(ref.node, times.tick, &stats, Detail::kUsage);
    RenderPodMetrics(w, *model, ref.node, ref.slot, stats, times, true);
    return Send(conn, 200, w.str());
  }
  const bool nodes = path.Match({"apis", "metrics.k8s.io", "v1beta1", "nodes"});
  const bool all_pods = path.Match({"apis", "metrics.k8s.io", "v1beta1", "pods"});
  const bool ns_pods =
      path.Match({"apis", "metrics.k8s.io", "v1beta1", "namespaces", "*", "pods"}, cap);
  if (!nodes && !all_pods && !ns_pods) {
    return SendStatus(conn, 404, DefaultMessage(404));
  }
  const std::string_view ns = ns_pods ? cap[0] : std::string_view();
  const SampleTimes times = Sample();
  NodeStats& stats = ScratchStats();
  JsonStream out(this, conn, body_fault);
  JsonWriter& lw = out.writer();
  lw.BeginObject();
  lw.Field("kind", nodes ? "NodeMetricsList" : "PodMetricsList");
  lw.Field("apiVersion", kMetricsGroupVersion);
  lw.Key("metadata").BeginObject();
  lw.EndObject();
  lw.Key("items").BeginArray();
  std::vector<int> slots;  // the slots of the namespace asked for, the same on every node
  for (int s = 0; s < model->pods_per_node(); ++s) {
    if (ns.empty() || model->PodNamespace(s) == ns) slots.push_back(s);
  }
  for (int n = 0; n < model->nodes() && (nodes || !slots.empty()); ++n) {
    model->Compute(n, times.tick, &stats, Detail::kUsage);
    if (nodes) {
      RenderNodeMetrics(lw, *model, n, stats, times, false);
    } else {
      for (int s : slots) {
        if (watch->PodPresent(n, s)) RenderPodMetrics(lw, *model, n, s, stats, times, false);
      }
    }
    out.MaybeFlush();
  }
  lw.EndArray();
  lw.EndObject();
  return out.Finish();
}

int SimulatedCluster::Impl::ServeApiService(mg_connection* conn) {
  const int fault = metrics_status.load(std::memory_order_relaxed);
  const Availability a = ApiServiceAvailability(apiservice, fault);
  const int64_t since = fault != 0 && apiservice == ApiServiceMode::kPassed
                            ? metrics_status_since.load()
                            : start_unix - 86400 + 30;
  std::string& body = ScratchBody();
  JsonWriter w(&body);
  RenderApiService(w, a, start_unix - 86400, since);
  return Send(conn, 200, w.str());
}

// The Service, Endpoints and pods behind the APIService; 0 when `path` is none of them.
int SimulatedCluster::Impl::ServeMetricsServerObjects(mg_connection* conn, const Path& path,
                                                      const char* query) {
  std::string& body = ScratchBody();
  JsonWriter w(&body);
  if (path.Match({"api", "v1", "namespaces", "kube-system", "services", "metrics-server"})) {
    if (apiservice == ApiServiceMode::kServiceNotFound || apiservice == ApiServiceMode::kAbsent) {
      return SendStatus(conn, 404, "services \"metrics-server\" not found",
                        {"metrics-server", "", "services"});
    }
    RenderMetricsServerService(w, start_unix - 86400);
  } else if (path.Match(
                 {"api", "v1", "namespaces", "kube-system", "endpoints", "metrics-server"})) {
    if (apiservice == ApiServiceMode::kServiceNotFound || apiservice == ApiServiceMode::kAbsent) {
      return SendStatus(conn, 404, "endpoints \"metrics-server\" not found",
                        {"metrics-server", "", "endpoints"});
    }
    RenderMetricsServerEndpoints(w, apiservice);
  } else if (path.Match({"api", "v1", "namespaces", "kube-system", "pods"}) &&
             QueryParam(query, "labelSelector") == "k8s-app=metrics-server") {
    if (apiservice == ApiServiceMode::kAbsent) {
      w.BeginObject();
      w.Field("kind", "PodList");
      w.Field("apiVersion", "v1");
      w.Key("items").BeginArray();
      w.EndArray();
      w.EndObject();
    } else {
      RenderMetricsServerPods(w, apiservice, model->NodeName(0), start_unix - 3600);
    }
  } else {
    return 0;
  }
  return Send(conn, 200, w.str());
}

int SimulatedCluster::Impl::ServeSelfSubjectAccessReview(mg_connection* conn) {
  std::string request;
  char buf[4096];
  for (int n; request.size() < (64u << 10) && (n = mg_read(conn, buf, sizeof(buf))) > 0;) {
    request.append(buf, static_cast<size_t>(n));
  }
  std::string answer;
  const int code = RenderSelfSubjectAccessReview(request, options.deny, &answer);
  if (code != 201) {
    return SendStatus(conn, code, "the request body is not a SelfSubjectAccessReview");
  }
  return Send(conn, code, answer);
}

int SimulatedCluster::Impl::SendForbidden(mg_connection* conn, std::string_view resource,
                                          std::string_view group, std::string_view name,
                                          std::string_view verb) {
  // The RBAC denial as the API server words it.
  if (verb.empty()) verb = name.empty() ? "list" : "get";
  const std::string kind(resource.substr(0, resource.find('/')));
  std::string message = kind + (group.empty() ? "" : "." + std::string(group));
  if (!name.empty()) message += " \"" + std::string(name) + "\"";
  message += " is forbidden: User \"" + ApiUser(conn) + "\" cannot " + std::string(verb) +
             " resource \"" + std::string(resource) + "\" in API group \"" + std::string(group) +
             "\" at the cluster scope";
  return SendStatus(conn, 403, message, {name, group, kind});
}

// A kubelet's own HTTPS server (and the shared read-only one): /healthz, /stats/summary. Like a
// kubelet it authenticates the bearer token and authorizes nodes/stats itself.
int SimulatedCluster::Impl::HandleKubelet(mg_connection* conn, int node) {
  const mg_request_info* ri = mg_get_request_info(conn);
  const bool read_only = node == kReadOnlyKubelet;
  if (read_only) node = 0;
  if (node == kSharedKubelet) {  // access: "<node>.kubelet.localhost[:port]" names the node
    const char* host = mg_get_header(conn, "Host");
    const std::string_view h = host ? host : "";
    node = model->FindNode(h.substr(0, h.find(".kubelet.localhost")));
    if (node < 0 || h.find(".kubelet.localhost") == std::string_view::npos) {
      return Send(conn, 404, "no kubelet for Host " + std::string(h) + "\n", "text/plain");
    }
  }
  const std::string_view uri = ri->local_uri ? ri->local_uri : "/";
  constexpr const char* kText = "text/plain; charset=utf-8";
  if (uri == "/healthz") return Send(conn, 200, "ok", kText);
  if (!read_only && !Authorized(conn)) return Send(conn, 401, "Unauthorized\n", kText);
  if (uri == "/pods" || uri == "/pods/") {  // access: the kubelet's own PodList (node-local mode)
    const std::string query = "fieldSelector=spec.nodeName%3D" + model->NodeName(node);
    return ServePodList(conn, query.c_str(), "");
  }
  if (uri != "/stats/summary" && uri != "/stats/summary/") {
    return Send(conn, 404, "404 page not found\n", kText);
  }
  if (!read_only && Denied("nodes/stats")) {
    return Send(conn, 403,
                "Forbidden (user=" + std::string(kServiceAccountUser) +
                    ", verb=get, resource=nodes, subresource(s)=[stats])\n",
                kText);
  }
  if (!read_only) {
    // Connection-level faults already acted on the listener (a client that skips
    // verification gets the healthy answer).
    std::optional<FaultRule> rule = faults.ForNode(model->NodeName(node));
    if (rule && IsConnectionFault(rule->kind)) rule.reset();
    if (const int code = ServeFault(conn, rule, node); code >= 0) return code;
  }
  return SendSummary(conn, node);
}

int SimulatedCluster::Impl::ServeDiscovery(mg_connection* conn, const Path& path) {
  std::string& body = ScratchBody();
  JsonWriter w(&body);
  if (path.Match({"version"})) {
    w.BeginObject();
    w.Field("major", "1");
    w.Field("minor", "35");
    w.Field("gitVersion", kKubernetesVersion);
    w.Field("gitCommit", "0000000000000000000000000000000000000000");
    w.Field("gitTreeState", "clean");
    w.Field("buildDate", "2025-12-17T00:00:00Z");
    w.Field("goVersion", "go1.25.5");
    w.Field("compiler", "gc");
    w.Field("platform", "linux/amd64");
    w.EndObject();
  } else if (path.Match({"api"})) {
    w.BeginObject();
    w.Field("kind", "APIVersions");
    w.Key("versions").BeginArray();
    w.String("v1");
    w.EndArray();
    w.Key("serverAddressByClientCIDRs").BeginArray();
    w.BeginObject();
    w.Field("clientCIDR", "0.0.0.0/0");
    w.Field("serverAddress", address);
    w.EndObject();
    w.EndArray();
    w.EndObject();
  } else if (path.Match({"api", "v1"})) {
    w.BeginObject();
    w.Field("kind", "APIResourceList");
    w.Field("groupVersion", "v1");
    w.Key("resources").BeginArray();
    WriteResource(w, "nodes", false, "Node", {"get", "list"});
    WriteResource(w, "nodes/proxy", false, "NodeProxyOptions", {"get"});
    WriteResource(w, "pods", true, "Pod", {"get", "list"});
    w.EndArray();
    w.EndObject();
  } else if (path.Match({"apis"})) {
    w.BeginObject();
    w.Field("kind", "APIGroupList");
    w.Field("apiVersion", "v1");
    w.Key("groups").BeginArray();
    w.BeginObject();
    WriteGroup(w, "apiregistration.k8s.io", "v1");
    w.EndObject();
    if (apiservice != ApiServiceMode::kAbsent) {
      w.BeginObject();
      WriteGroup(w, kMetricsGroup, "v1beta1");
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  } else if (path.Match({"apis", "apiregistration.k8s.io", "v1"})) {
    w.BeginObject();
    w.Field("kind", "APIResourceList");
    w.Field("apiVersion", "v1");
    w.Field("groupVersion", "apiregistration.k8s.io/v1");
    w.Key("resources").BeginArray();
    WriteResource(w, "apiservices", false, "APIService", {"get"});
    w.EndArray();
    w.EndObject();
  } else if (path.Match({"apis", "metrics.k8s.io"}) && apiservice != ApiServiceMode::kAbsent) {
    w.BeginObject();
    w.Field("kind", "APIGroup");
    w.Field("apiVersion", "v1");
    WriteGroup(w, kMetricsGroup, "v1beta1");
    w.EndObject();
  } else {
    return SendStatus(conn, 404, DefaultMessage(404));
  }
  return Send(conn, 200, w.str());
}

bool SimulatedCluster::Impl::Listen(std::string* error) {
  // HOST:PORT; the host may be a bracketed IPv6 literal.
  const std::string& listen = options.listen;
  const size_t colon = listen.rfind(':');
  std::string host = colon == std::string::npos ? "" : listen.substr(0, colon);
  const std::string port = colon == std::string::npos ? listen : listen.substr(colon + 1);
  int port_number = -1;
  const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), port_number);
  if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || port_number < 0 ||
      port_number > 65535) {
    *error = "invalid listen address \"" + options.listen + "\": want HOST:PORT";
    return false;
  }
  if (host.empty()) host = "0.0.0.0";
  std::string bare = host;
  if (bare.size() > 2 && bare.front() == '[' && bare.back() == ']') {
    bare = bare.substr(1, bare.size() - 2);
  }

  if (!options.tls && bare.find(':') != std::string::npos && mg_check_feature(8) == 0) {
    *error = "cannot listen on " + listen + ": this civetweb has no IPv6 (use --tls, or IPv4)";
    return false;
  }
  // With TLS, civetweb listens on loopback and TlsFrontend takes the public address.
  std::string ports = options.tls ? "127.0.0.1:0" : host + ":" + port;
  // Kubelet backends (behind their TLS frontends) and the read-only listener, in this order.
  const int kubelets = options.kubelets ? (options.kubelet_shared_port ? 1 : options.nodes) : 0;
  for (int n = 0; n < kubelets + (options.kubelet_read_only ? 1 : 0); ++n) ports += ",127.0.0.1:0";
  const std::string threads = std::to_string(std::max(1, options.threads));
  const char* opts[] = {"listening_ports",
                        ports.c_str(),
                        "num_threads",
                        threads.c_str(),
                        "enable_keep_alive",
                        "yes",
                        // Longer than any poll interval, as an API server keeps idle
                        // connections, so clients reuse them across polls.
                        "keep_alive_timeout_ms",
                        "120000",
                        "tcp_nodelay",
                        "1",
                        "request_timeout_ms",
                        "30000",
                        nullptr};
  mg_init_library(0);
  library_initialized = true;
  mg_callbacks callbacks{};
  callbacks.log_message = [](const mg_connection*, const char* message) {
    log::Debug("simulator http", {{"message", message}});
    return 1;
  };
  mg_init_data init{};
  init.callbacks = &callbacks;
  init.user_data = this;
  init.configuration_options = opts;
  char text[256] = {};
  unsigned code = 0;
  mg_error_data err{&code, text, sizeof(text)};
  ctx = mg_start2(&init, &err);
  if (ctx == nullptr) {
    *error = "cannot listen on " + ports + ": " + (text[0] ? text : "civetweb failed");
    return false;
  }
  mg_set_request_handler(
      ctx, "/",
      [](mg_connection* conn, void* data) {
#if KMB_ASAN
        // Debian's civetweb gives its workers small stacks, which AddressSanitizer's larger
        // frames overflow: under ASan each request runs on a thread with a default stack.
        int rc = 0;
        std::thread([&] { rc = static_cast<Impl*>(data)->Handle(conn); }).join();
        return rc;
#else
        return static_cast<Impl*>(data)->Handle(conn);
#endif
      },
      this);

  const int listeners = 1 + kubelets + (options.kubelet_read_only ? 1 : 0);
  std::vector<mg_server_port> all(listeners);
  if (mg_get_server_ports(ctx, listeners, all.data()) < listeners) {
    *error = "civetweb reports fewer listening ports than configured";
    return false;
  }
  const mg_server_port& sp = all[0];
  std::vector<int> kubelet_backends;
  for (int n = 0; n < kubelets; ++n) kubelet_backends.push_back(all[1 + n].port);
  if (options.kubelet_read_only) {
    read_only_port = all[listeners - 1].port;
    kubelet_by_backend_port[read_only_port] = kReadOnlyKubelet;
  }
  int public_port = sp.port;
  backend_port = sp.port;
  backend_host = options.tls || bare == "0.0.0.0" ? "127.0.0.1" : bare == "::" ? "::1" : bare;
  if (options.tls) {
    std::vector<std::string> ips = {"127.0.0.1", "::1"};
    std::vector<std::string> names = {"localhost"};
    if (bare != "0.0.0.0" && bare != "::" && bare != "127.0.0.1" && bare != "::1" &&
        bare != "localhost") {
      (IsIpLiteral(bare) ? ips : names).push_back(bare);
    }
    TlsMaterial tls;
    if (!GenerateTlsMaterial(ips, names, &tls, error)) return false;
    api_tls = tls;  // ClientCa() reads it
    if (options.require_client_cert && !IssueClientCert(tls, kClientCertUser, &client_tls, error)) {
      return false;
    }
    tls_frontend = StartTlsFrontend(bare, port_number, tls, sp.port, error, ClientCa());
    if (!tls_frontend) return false;
    ca_pem = tls.ca_cert_pem;
    public_port = tls_frontend->port();
    this->public_port = public_port;  // fault injection restarts the frontend here
    public_host = bare;
    api_tls = tls;
    if (!StartKubelets(tls, kubelet_backends, error)) return false;
  }
  std::string shown = host;
  if (bare == "0.0.0.0") shown = "127.0.0.1";
  if (bare == "::") shown = "[::1]";
  if (bare.find(':') != std::string::npos && shown.front() != '[') shown = "[" + shown + "]";
  address = shown + ":" + std::to_string(public_port);
  url = std::string(options.tls ? "https://" : "http://") + address;
  return true;
}

bool SimulatedCluster::Impl::StartKubelets(const TlsMaterial& cluster_tls,
                                           const std::vector<int>& backend_ports,
                                           std::string* error) {
  if (backend_ports.empty()) return true;
  // One serving certificate from the cluster CA for all kubelets, as serverTLSBootstrap issues
  // them: the node names, and the node address unless reproducing a certificate without IP SAN.
  std::vector<std::string> ips;
  if (options.kubelet_ip_san) ips.push_back("127.0.0.1");
  std::vector<std::string> names;
  for (int n = 0; n < model->nodes(); ++n) names.push_back(model->NodeName(n));
  if (options.kubelet_shared_port) {  // access: kubelets told apart by name
    names.push_back(std::string("*") + kSharedSuffix);
  }
  TlsMaterial kubelet_tls;
  if (!IssueServingCert(cluster_tls, "system:node:kubelets", ips, names, &kubelet_tls, error)) {
    return false;
  }
  this->kubelet_tls = kubelet_tls;
  if (options.kubelet_shared_port) {  // access: one listener, each node a name for it
    auto frontend = StartTlsFrontend("127.0.0.1", 0, kubelet_tls, backend_ports[0], error);
    if (!frontend) return false;
    for (int n = 0; n < model->nodes(); ++n) {
      model->SetKubeletEndpoint(n, model->NodeName(n) + kSharedSuffix, frontend->port());
    }
    kubelet_by_backend_port[backend_ports[0]] = kSharedKubelet;
    kubelet_frontends.push_back(std::move(frontend));
    return true;
  }
  for (size_t n = 0; n < backend_ports.size(); ++n) {
    auto frontend = StartTlsFrontend("127.0.0.1", 0, kubelet_tls, backend_ports[n], error);
    if (!frontend) return false;
    model->SetKubeletEndpoint(static_cast<int>(n), "127.0.0.1", frontend->port());
    kubelet_by_backend_port[backend_ports[n]] = static_cast<int>(n);
    kubelet_frontends.push_back(std::move(frontend));
  }
  return true;
}

std::unique_ptr<SimulatedCluster> SimulatedCluster::Start(const SimOptions& options,
                                                          std::string* error) {
  std::string ignored;
  if (error == nullptr) error = &ignored;
  // Pod names draw from 27^5 suffixes per workload: these bounds keep them unique.
  if (options.nodes < 1 || options.nodes > 100000) {
    *error = "nodes must be between 1 and 100000";
    return nullptr;
  }
  if (options.pods_per_node < 0 || options.pods_per_node > 1000 || options.containers_per_pod < 1 ||
      options.containers_per_pod > 100) {
    *error = "pods per node must be 0..1000 and containers per pod 1..100";
    return nullptr;
  }
  if (options.kubelets &&
      (!options.tls || (options.nodes > kMaxKubelets && !options.kubelet_shared_port))) {
    *error = "kubelet listeners need TLS and at most " + std::to_string(kMaxKubelets) + " nodes";
    return nullptr;
  }
  if (options.require_client_cert && !options.tls) {
    *error = "client certificates need TLS (--require-client-cert needs --tls)";
    return nullptr;
  }
  auto impl = std::make_unique<Impl>();
  if (!ParseApiServiceMode(options.apiservice, &impl->apiservice)) {
    *error = "unknown APIService mode \"" + options.apiservice + "\" (want one of " +
             kApiServiceModes + ")";
    return nullptr;
  }
  impl->options = options;
  impl->start_unix = std::time(nullptr);
  impl->start_steady = std::chrono::steady_clock::now();
  impl->model = std::make_unique<ClusterModel>(options, impl->start_unix);
  impl->node_status = std::make_unique<std::atomic<int>[]>(options.nodes);
  // Fault rules are checked before listening, so a typo fails fast.
  std::vector<FaultRule> rules;
  for (const std::string& text : options.faults) {
    FaultRule rule;
    if (!ParseFaultRule(text, &rule, error)) return nullptr;
    rules.push_back(std::move(rule));
  }
  if (!options.fault_file.empty()) {
    std::string content;
    std::ifstream in(options.fault_file, std::ios::binary);
    if (!in) {
      *error = "cannot read fault file " + options.fault_file;
      return nullptr;
    }
    content.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    std::string why;
    if (!ParseFaultFile(content, &rules, &why)) {
      *error = "fault file " + options.fault_file + ": " + why;
      return nullptr;
    }
  }
  impl->watch = std::make_unique<WatchState>(*impl->model, options.churn_pods_per_minute,
                                             options.watch_close_after_seconds,
                                             options.watch_bookmark_seconds);
  if (!impl->Listen(error)) return nullptr;
  for (const FaultRule& rule : rules) {
    if (rule.target == FaultTarget::kNode && impl->model->FindNode(rule.node) < 0) {
      *error = "fault \"" + rule.text + "\": no node " + rule.node;
      return nullptr;
    }
    const Status st = impl->ApplyListenerFault(rule);
    if (!st.ok()) {
      *error = st.message();
      return nullptr;
    }
    impl->faults.Add(rule);
  }
  log::Info("simulated cluster listening",
            {{"url", impl->url},
             {"nodes", std::to_string(options.nodes)},
             {"pods_per_node", std::to_string(options.pods_per_node)}});
  return std::unique_ptr<SimulatedCluster>(new SimulatedCluster(std::move(impl)));
}

SimulatedCluster::SimulatedCluster(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SimulatedCluster::~SimulatedCluster() = default;

std::string SimulatedCluster::url() const { return impl_->url; }
std::string SimulatedCluster::address() const { return impl_->address; }
std::string SimulatedCluster::ca_pem() const { return impl_->ca_pem; }

int SimulatedCluster::kubelet_port(int node) const {
  // From the model: a refuse fault leaves the frontend closed, the port stays the node's.
  if (impl_->options.kubelet_shared_port && !impl_->kubelet_frontends.empty()) {  // access
    return node >= 0 && node < impl_->model->nodes() ? impl_->kubelet_frontends[0]->port() : 0;
  }
  return node >= 0 && node < static_cast<int>(impl_->kubelet_frontends.size())
             ? impl_->model->node(node).kubelet_port
             : 0;
}
int SimulatedCluster::kubelet_read_only_port() const { return impl_->read_only_port; }

std::vector<std::string> SimulatedCluster::node_names() const {
  std::vector<std::string> names;
  names.reserve(impl_->model->nodes());
  for (int n = 0; n < impl_->model->nodes(); ++n) names.push_back(impl_->model->NodeName(n));
  return names;
}

void SimulatedCluster::SetNodeSummaryStatus(std::string_view node, int http_status) {
  const int n = impl_->model->FindNode(node);
  if (n >= 0) impl_->node_status[n].store(http_status);
}

// ---- list+watch: pod churn and forced 410 (sim/watch.h) ----
bool SimulatedCluster::SetPodPresent(std::string_view ns, std::string_view name, bool present) {
  PodRef ref;
  if (!impl_->model->FindPod(ns, name, &ref)) return false;
  impl_->watch->SetPodPresent(ref.node, ref.slot, present);
  return true;
}
void SimulatedCluster::ChurnPods(int steps) {
  for (int i = 0; i < steps; ++i) impl_->watch->ChurnStep();
}
void SimulatedCluster::ExpireWatches() { impl_->watch->ExpireWatches(); }

void SimulatedCluster::SetMetricsApiStatus(int http_status) {
  impl_->metrics_status_since.store(std::time(nullptr));
  impl_->metrics_status.store(http_status);
}

Status SimulatedCluster::AddFault(std::string_view text) {
  FaultRule rule;
  std::string error;
  if (!ParseFaultRule(text, &rule, &error)) return Status::Error(reason::kConfig, error);
  if (rule.target == FaultTarget::kNode && impl_->model->FindNode(rule.node) < 0) {
    return Status::Error(reason::kConfig, "fault \"" + rule.text + "\": no node " + rule.node);
  }
  const Status st = impl_->ApplyListenerFault(rule);
  if (st.ok()) impl_->faults.Add(rule);
  return st;
}

void SimulatedCluster::ClearFaults() {
  impl_->faults.Clear();
  FaultRule healthy;
  healthy.kind = FaultKind::kLatency;  // not a connection fault: restores every listener
  healthy.target = FaultTarget::kApiServer;
  (void)impl_->ApplyListenerFault(healthy);
  healthy.target = FaultTarget::kAllNodes;
  (void)impl_->ApplyListenerFault(healthy);
}

int SimulatedCluster::Impl::ServeFault(mg_connection* conn, const std::optional<FaultRule>& rule,
                                       int node) {
  if (!rule) return -1;
  std::string body;
  std::string dial;
  if (node >= 0) {
    dial = model->node(node).internal_ip + ":" + std::to_string(model->node(node).kubelet_port);
    if (FaultNeedsBody(rule->kind)) {
      const SampleTimes times = Sample();
      NodeStats& stats = ScratchStats();
      model->Compute(node, times.tick, &stats);
      RenderSummary(*model, node, stats, times, &body);
    }
  } else if (IsConnectionFault(rule->kind)) {
    return -1;  // acted on the listener already
  }
  const int code = SendFault(conn, *rule, faults, node >= 0, dial, body);
  return code == 0 ? 499 : code;  // a hang sent nothing; civetweb only needs "handled"
}

bool SimulatedCluster::Impl::RestartFrontend(std::unique_ptr<TlsFrontend>* frontend,
                                             const std::string& host, int port,
                                             const TlsMaterial& tls, int backend,
                                             std::string* error,
                                             const std::string& client_ca_pem) {
  frontend->reset();  // frees the port
  if (tls.server_cert_pem.empty()) return true;  // refuse: stays closed
  // The port was ours a moment ago; SO_REUSEADDR lets the new listener take it at once.
  *frontend = StartTlsFrontend(host, port, tls, backend, error, client_ca_pem);
  return *frontend != nullptr;
}

Status SimulatedCluster::Impl::ApplyListenerFault(const FaultRule& rule) {
  const bool api = rule.target == FaultTarget::kApiServer;
  const bool nodes = rule.target == FaultTarget::kNode || rule.target == FaultTarget::kAllNodes;
  if (!api && !nodes) return Status::Ok();
  const bool connection = IsConnectionFault(rule.kind);
  if (connection && api && !options.tls) {
    return Status::Error(reason::kConfig,
                         "fault \"" + rule.text + "\": the API server listener needs --tls");
  }
  std::lock_guard<std::mutex> lock(listeners_mu);
  // The material a listener serves under this rule (empty certificate: closed).
  auto material = [&](const TlsMaterial& healthy, const std::vector<std::string>& names,
                      TlsMaterial* out, std::string* error) {
    switch (connection ? rule.kind : FaultKind::kLatency) {
      case FaultKind::kRefuse:
        *out = TlsMaterial{};
        return true;
      case FaultKind::kTlsUnknownCa:
        return GenerateTlsMaterial({"127.0.0.1", "::1"}, names, out, error);
      case FaultKind::kTlsExpired:
        return IssueServingCert(api_tls, "kmb-sim", {"127.0.0.1", "::1"}, names, out, error,
                                true);
      case FaultKind::kTlsNoIpSan:
        return IssueServingCert(api_tls, "kmb-sim", {}, names, out, error);
      default:
        *out = healthy;
        return true;
    }
  };
  std::string error;
  TlsMaterial tls;
  if (api && options.tls) {
    if (!material(api_tls, {"localhost"}, &tls, &error) ||
        !RestartFrontend(&tls_frontend, public_host, public_port, tls, backend_port, &error,
                         ClientCa())) {
      return Status::Error(reason::kInternal, "fault \"" + rule.text + "\": " + error);
    }
  }
  if (nodes) {
    for (int n = 0; n < static_cast<int>(kubelet_frontends.size()); ++n) {
      const bool mine = rule.target == FaultTarget::kAllNodes || model->NodeName(n) == rule.node;
      if (!mine) continue;
      int backend = 0;
      for (const auto& [port, node] : kubelet_by_backend_port) {
        if (node == n) backend = port;
      }
      if (!material(kubelet_tls, {model->NodeName(n)}, &tls, &error) ||
          !RestartFrontend(&kubelet_frontends[n], "127.0.0.1", model->node(n).kubelet_port, tls,
                           backend, &error)) {
        return Status::Error(reason::kInternal, "fault \"" + rule.text + "\": " + error);
      }
    }
  }
  return Status::Ok();
}

std::string SimulatedCluster::client_cert_pem() const { return impl_->client_tls.server_cert_pem; }
std::string SimulatedCluster::client_key_pem() const { return impl_->client_tls.server_key_pem; }

Status SimulatedCluster::WriteKubeconfig(const std::string& path) const {
  // JSON strings are valid YAML scalars: quote every value that comes from outside.
  auto quote = [](std::string_view s) {
    std::string out;
    JsonWriter(&out).String(s);
    return out;
  };
  std::string yaml = "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n";
  if (!impl_->ca_pem.empty()) {
    yaml += "    certificate-authority-data: " + Base64(impl_->ca_pem) + "\n";
  }
  yaml += "    server: " + quote(impl_->url) + "\n  name: kmb-sim\n";
  yaml += "contexts:\n- context:\n    cluster: kmb-sim\n    user: kmb-sim\n  name: kmb-sim\n";
  yaml += "current-context: kmb-sim\npreferences: {}\nusers:\n- name: kmb-sim\n";
  if (impl_->options.require_client_cert) {  // access2: the user is the certificate's CN
    yaml += "  user:\n    client-certificate-data: " + Base64(impl_->client_tls.server_cert_pem) +
            "\n    client-key-data: " + Base64(impl_->client_tls.server_key_pem) + "\n";
  } else {
    yaml += impl_->options.token.empty()
                ? "  user: {}\n"
                : "  user:\n    token: " + quote(impl_->options.token) + "\n";
  }

  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Status::Error(reason::kConfig,
                         "writing kubeconfig " + path + ": " + std::strerror(errno));
  }
  // An existing file keeps its mode on O_TRUNC: the token must not stay world-readable.
  const bool ok = fchmod(fd, 0600) == 0 &&
                  write(fd, yaml.data(), yaml.size()) == static_cast<ssize_t>(yaml.size());
  const int saved = errno;
  close(fd);
  if (!ok) {
    return Status::Error(reason::kConfig,
                         "writing kubeconfig " + path + ": " + std::strerror(saved));
  }
  return Status::Ok();
}

int RunSimulator(const SimOptions& options, const std::string& kubeconfig_path,
                 const std::vector<std::string>& fail_nodes, int metrics_api_status) {
  auto fail = [](const std::string& message) {
    std::fprintf(stderr, "kube-metrics-bridge simulate: %s\n", message.c_str());
    return 1;
  };
  std::string error;
  std::unique_ptr<SignalWaiter> signals = SignalWaiter::Install(/*reload=*/false, &error);
  if (!signals) return fail(error);
  auto cluster = SimulatedCluster::Start(options, &error);
  if (!cluster) {
    return fail(error);
  }
  const std::vector<std::string> names = cluster->node_names();
  for (const std::string& node : fail_nodes) {
    if (std::find(names.begin(), names.end(), node) == names.end()) {
      return fail("unknown node \"" + node + "\" to fail (nodes are sim-node-0 .. sim-node-" +
                  std::to_string(names.size() - 1) + ")");
    }
    cluster->SetNodeSummaryStatus(node, 503);
  }
  if (metrics_api_status != 0) cluster->SetMetricsApiStatus(metrics_api_status);
  if (!kubeconfig_path.empty()) {
    const Status st = cluster->WriteKubeconfig(kubeconfig_path);
    if (!st.ok()) {
      return fail(st.message());
    }
  }
  std::printf("listening on %s\n", cluster->url().c_str());
  if (cluster->kubelet_read_only_port() != 0) {
    // Not advertised anywhere (kubelets never are): `doctor --kubelet-read-only-port` needs it.
    std::printf("kubelet read-only port %d\n", cluster->kubelet_read_only_port());
  }
  std::fflush(stdout);

  signals->Wait();  // SIGINT or SIGTERM
  log::Info("simulated cluster stopping");
  cluster.reset();
  return 0;
}

}  // namespace kmb::sim
