#include "kmb/server/server.h"

#include <civetweb.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string_view>
#include <thread>

#include "kmb/catalog/catalog.h"
#include "kmb/doctor/doctor.h"
#include "kmb/net/civetweb.h"
#include "kmb/net/tls_frontend.h"
#include "kmb/server/landing.h"
#include "kmb/util/log.h"
#include "server/html.h"

namespace kmb {

struct MetricsServer::Impl {
  ServerOptions options;
  mg_context* ctx = nullptr;
  int port = 0;          // public port (the TLS front end's with TLS)
  int backend_port = 0;  // civetweb's
  std::string host;
  bool tls = false;
  std::unique_ptr<net::TlsFrontend> frontend;  // with TLS
  BasicAuthVerifier auth;
  mutable std::mutex mu;                    // guards current and web
  std::condition_variable published;        // signalled by Publish and Stop
  bool stopping = false;                    // guarded by mu: Stop wakes the waiters
  std::shared_ptr<Exposition> current;      // guarded by mu
  std::shared_ptr<const WebConfig> web;     // guarded by mu; never null
  std::mutex stop_mu;                       // serializes Stop
  std::atomic<unsigned> scraped_bodies{0};  // BodySet bits; see TakeScrapedBodies

  std::shared_ptr<Exposition> Current() const {
    std::lock_guard<std::mutex> lock(mu);
    return current;
  }
  // Calls `use` on `exp`; while it returns false (the snapshot it needs was released by a poll
  // in progress), on each exposition published next. Gives up (false) without an exposition,
  // after twice the interval plus 5 s (a poll may take up to an interval), or when the server
  // stops: shutdown does not wait for a poll that will not come.
  template <class Use>
  bool WithCurrentOrNext(std::shared_ptr<Exposition> exp, Use use) {
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::seconds(2 * std::max(1, options.refresh_seconds) + 5);
    while (exp) {
      if (use(*exp)) return true;
      std::unique_lock<std::mutex> lock(mu);
      published.wait_until(lock, deadline, [&] { return current != exp || stopping; });
      exp = current != exp ? current : nullptr;
    }
    return false;
  }
  std::shared_ptr<const WebConfig> Web() const {
    std::lock_guard<std::mutex> lock(mu);
    return web;
  }
  void Stop();
};

namespace {

// Lower-cased copy for case-insensitive header matching.
std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Every response goes through here, so the web config's headers are on all of them.
void SendBody(mg_connection* conn, int status, std::string_view status_text,
              std::string_view content_type, std::string_view body,
              std::string_view extra_headers = {}) {
  auto* impl = static_cast<MetricsServer::Impl*>(mg_get_user_data(mg_get_context(conn)));
  std::string configured;
  if (impl != nullptr) {
    for (const auto& [name, value] : impl->Web()->headers) {
      configured += name + ": " + value + "\r\n";
    }
  }
  mg_printf(conn,
            "HTTP/1.1 %d %.*s\r\nContent-Type: %.*s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\n%.*s%s\r\n",
            status, static_cast<int>(status_text.size()), status_text.data(),
            static_cast<int>(content_type.size()), content_type.data(), body.size(),
            static_cast<int>(extra_headers.size()), extra_headers.data(), configured.c_str());
  const mg_request_info* ri = mg_get_request_info(conn);
  if (ri && std::strcmp(ri->request_method, "HEAD") == 0) return;
  size_t off = 0;
  while (off < body.size()) {
    size_t n = std::min<size_t>(body.size() - off, 1 << 20);
    if (mg_write(conn, body.data() + off, n) <= 0) return;  // client went away
    off += n;
  }
}

using html::Escape;

// Decodes standard base64 (with padding); false on malformed input.
bool DecodeBase64(std::string_view in, std::string* out) {
  if (in.empty() || in.size() % 4 != 0 || in.size() > 4096) return false;
  std::string buf(in.size() / 4 * 3 + 1, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(buf.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  if (n < 0) return false;
  size_t len = static_cast<size_t>(n);
  if (in.ends_with("==")) {
    len -= 2;
  } else if (in.ends_with("=")) {
    len -= 1;
  }
  buf.resize(len);
  *out = std::move(buf);
  return true;
}

// civetweb's begin_request: basic authentication in front of every path, as the
// exporter-toolkit does. Returns 0 to let the request through, else the status it sent.
int CheckAuth(mg_connection* conn) {
  auto* impl = static_cast<MetricsServer::Impl*>(mg_get_user_data(mg_get_context(conn)));
  const std::shared_ptr<const WebConfig> web = impl->Web();
  if (web->users.empty()) return 0;
  const char* header = mg_get_header(conn, "Authorization");
  std::string_view value = header ? header : "";
  std::string decoded;
  if (value.size() > 6 && Lower(value.substr(0, 6)) == "basic ") {
    std::string_view b64 = value.substr(6);
    while (!b64.empty() && b64.front() == ' ') b64.remove_prefix(1);
    if (DecodeBase64(b64, &decoded)) {
      const size_t colon = decoded.find(':');
      if (colon != std::string::npos &&
          impl->auth.Verify(web->users, std::string_view(decoded).substr(0, colon),
                            std::string_view(decoded).substr(colon + 1))) {
        return 0;
      }
    }
  }
  SendBody(conn, 401, "Unauthorized", "text/plain; charset=utf-8", "Unauthorized\n",
           "WWW-Authenticate: Basic\r\n");
  return 401;
}

int HandleMetrics(mg_connection* conn, void* data) {
  auto* impl = static_cast<MetricsServer::Impl*>(data);
  std::shared_ptr<Exposition> exp = impl->Current();
  if (!exp) {
    SendBody(conn, 503, "Service Unavailable", "text/plain; charset=utf-8",
             "no poll has completed yet\n");
    return 200;
  }
  const char* accept = mg_get_header(conn, "Accept");
  const char* accept_enc = mg_get_header(conn, "Accept-Encoding");
  ExpositionFormat fmt = NegotiateFormat(accept ? accept : "");
  std::string_view ctype =
      fmt == ExpositionFormat::kOpenMetrics100 ? kOpenMetricsContentType : kTextContentType;
  const bool gzip = net::AcceptsGzip(accept_enc ? accept_enc : "");
  log::Debug("scrape",
             {{"format", fmt == ExpositionFormat::kOpenMetrics100 ? "openmetrics" : "text"},
              {"gzip", gzip ? "true" : "false"}});
  // A body that was not rendered before the next poll started cannot be rendered from this
  // snapshot any more (Exposition::ReleaseData), and the bodies are withdrawn while the next
  // ones are written into their buffers (Exposition::WithdrawBodies): such a scrape gets the
  // next snapshot's.
  const bool sent = impl->WithCurrentOrNext(exp, [&](Exposition& e) {
    // Held while it is sent: the next render does not write over it meanwhile.
    std::shared_ptr<const std::string> body = gzip ? e.TryBody(fmt, true) : nullptr;
    if (body != nullptr && !body->empty()) {
      impl->scraped_bodies.fetch_or(BodySet::Of(fmt, true).bits());
      SendBody(conn, 200, "OK", ctype, *body,
               "Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n");
      return true;
    }
    // Uncompressed: asked for, or the gzip body failed (ISA-L error: empty).
    if (!gzip || body != nullptr) body = e.TryBody(fmt, false);
    if (body == nullptr) return false;
    impl->scraped_bodies.fetch_or(BodySet::Of(fmt, false).bits());
    SendBody(conn, 200, "OK", ctype, *body, "Vary: Accept-Encoding\r\n");
    return true;
  });
  if (!sent) {
    SendBody(conn, 503, "Service Unavailable", "text/plain; charset=utf-8",
             "a poll is taking longer than twice the interval; try again\n");
  }
  return 200;
}

int HandleHealthz(mg_connection* conn, void*) {
  SendBody(conn, 200, "OK", "text/plain; charset=utf-8", "ok\n");
  return 200;
}

int HandleReadyz(mg_connection* conn, void* data) {
  auto* impl = static_cast<MetricsServer::Impl*>(data);
  if (impl->Current()) {
    SendBody(conn, 200, "OK", "text/plain; charset=utf-8", "ok\n");
  } else {
    SendBody(conn, 503, "Service Unavailable", "text/plain; charset=utf-8",
             "waiting for the first poll\n");
  }
  return 200;
}

// The current snapshot for the pages that show it; while a poll in progress has released it,
// the next one (null before the first poll, or when the poll takes too long).
SnapshotPtr SnapshotToShow(MetricsServer::Impl* impl) {
  SnapshotPtr snap;
  impl->WithCurrentOrNext(impl->Current(), [&](Exposition& e) {
    snap = e.snapshot();
    return snap != nullptr;
  });
  return snap;
}

int HandleLanding(mg_connection* conn, void* data) {
  auto* impl = static_cast<MetricsServer::Impl*>(data);
  const mg_request_info* ri = mg_get_request_info(conn);
  if (ri && ri->local_uri && std::strcmp(ri->local_uri, "/") != 0) {
    SendBody(conn, 404, "Not Found", "text/plain; charset=utf-8", "not found\n");
    return 404;
  }
  const SnapshotPtr snap = SnapshotToShow(impl);
  LandingPageInfo info;
  info.telemetry_path = impl->options.telemetry_path;
  info.refresh_seconds = impl->options.refresh_seconds;
  SendBody(conn, 200, "OK", "text/html; charset=utf-8", RenderLandingPage(snap.get(), info));
  return 200;
}

std::string FormatSeconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f s", s);
  return buf;
}

// /debug/status: per node, the last poll's outcome, latency and error in the doctor's words.
int HandleDebugStatus(mg_connection* conn, void* data) {
  auto* impl = static_cast<MetricsServer::Impl*>(data);
  const SnapshotPtr snap = SnapshotToShow(impl);
  std::string html =
      html::Head("kube-metrics-bridge status") + "<h1>Last poll</h1><p><a href=\"/\">home</a></p>";
  if (!snap) {
    html += "<p>Waiting for the first poll.</p>";
  } else {
    const Snapshot& s = *snap;
    html +=
        "<table><tr><th>source</th><th>node</th><th>outcome</th><th>latency</th>"
        "<th>what happened</th></tr>";
    auto row = [&](std::string_view source, std::string_view node, const Status& st,
                   double seconds) {
      html += "<tr><td>" + Escape(source) + "</td><td>" + Escape(node) + "</td><td" +
              (st.ok() ? ">ok" : " class=\"fail\">" + Escape(st.reason())) + "</td><td>" +
              FormatSeconds(seconds) + "</td><td>" +
              (st.ok() ? std::string() : Escape(doctor::Explain(st))) + "</td></tr>";
    };
    if (s.metrics_api.enabled) {
      row("metrics-api", "", s.metrics_api.status, s.metrics_api.poll_seconds);
    }
    if (s.summary.enabled && !s.summary.status.ok()) {
      row("summary (node list)", "", s.summary.status, s.summary.poll_seconds);
    }
    for (const NodeResult& n : s.nodes) row("summary", n.node, n.status, n.seconds);
    html += "</table>";
  }
  html += "</body></html>\n";
  SendBody(conn, 200, "OK", "text/html; charset=utf-8", html);
  return 200;
}

int LogMessage(const mg_connection*, const char* message) {
  log::Warn("http server", {{"error", message}});
  return 1;
}

}  // namespace

ExpositionFormat NegotiateFormat(std::string_view accept) {
  return Lower(accept).find("application/openmetrics-text") != std::string::npos
             ? ExpositionFormat::kOpenMetrics100
             : ExpositionFormat::kText004;
}

void MetricsServer::Impl::Stop() {
  std::lock_guard<std::mutex> lock(stop_mu);
  {
    std::lock_guard<std::mutex> state(mu);
    stopping = true;
  }
  published.notify_all();
  // No new connection; then civetweb finishes the requests in flight (the front end keeps
  // relaying their responses); then the front end closes what is left.
  if (frontend) frontend->StopAccepting();
  if (ctx) net::StopCivetweb(ctx, tls ? "127.0.0.1" : host, backend_port);
  ctx = nullptr;
  frontend.reset();
}

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsServer::~MetricsServer() {
  if (impl_) impl_->Stop();
}

void MetricsServer::Stop() { impl_->Stop(); }

std::unique_ptr<MetricsServer> MetricsServer::Start(const ServerOptions& options,
                                                    std::string* error) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->web = options.web_config ? options.web_config : std::make_shared<const WebConfig>();
  impl->tls = impl->web->tls_enabled;
  std::string listen = options.listen_address;
  // Prometheus style ":9834" means all interfaces; civetweb spells that "9834".
  if (!listen.empty() && listen.front() == ':') listen = listen.substr(1);
  size_t colon = listen.rfind(':');
  const std::string bind_host = colon == std::string::npos ? "" : listen.substr(0, colon);
  const std::string bind_port = colon == std::string::npos ? listen : listen.substr(colon + 1);
  impl->host = bind_host;
  if (impl->host.empty() || impl->host == "0.0.0.0") impl->host = "127.0.0.1";
  if (options.telemetry_path.empty() || options.telemetry_path.front() != '/') {
    *error = "--web.telemetry-path must start with '/': \"" + options.telemetry_path + "\"";
    return nullptr;
  }
  net::TlsContextPtr tls_context;
  if (impl->tls) {
    if (!impl->web->tls.cert_pem.empty() || !impl->web->tls.key_pem.empty()) {
      tls_context = net::MakeTlsServerContext(impl->web->tls, error);
    }
    if (!tls_context) {
      if (error->empty()) *error = "the web config's TLS certificate was not loaded";
      return nullptr;
    }
    // The plain listener behind the TLS front end: loopback only, any free port.
    listen = "127.0.0.1:0";
  }
  std::string threads = std::to_string(options.threads);
  const char* cw_options[] = {"listening_ports",
                              listen.c_str(),
                              "num_threads",
                              threads.c_str(),
                              "enable_keep_alive",
                              "yes",
                              "request_timeout_ms",
                              "30000",
                              nullptr};
  mg_callbacks callbacks{};
  callbacks.log_message = LogMessage;
  callbacks.begin_request = CheckAuth;
  mg_init_library(0);
  impl->ctx = mg_start(&callbacks, impl.get(), cw_options);
  if (!impl->ctx) {
    *error = "cannot listen on " + options.listen_address +
             " (address in use, or not a valid HOST:PORT)";
    return nullptr;
  }
  mg_server_port ports[4];
  int n = mg_get_server_ports(impl->ctx, 4, ports);
  if (n > 0) impl->port = impl->backend_port = ports[0].port;
  if (impl->tls) {
    char* end = nullptr;
    const long port = std::strtol(bind_port.c_str(), &end, 10);
    if (bind_port.empty() || *end != '\0' || port < 0 || port > 65535) {
      *error = "cannot listen on " + options.listen_address + ": not a valid HOST:PORT";
      return nullptr;
    }
    std::string frontend_error;
    impl->frontend = net::TlsFrontend::Start(bind_host, static_cast<int>(port), tls_context,
                                             impl->backend_port, &frontend_error);
    if (!impl->frontend) {
      *error = "cannot serve HTTPS on " + options.listen_address + ": " + frontend_error;
      return nullptr;
    }
    impl->port = impl->frontend->port();
  }
  mg_set_request_handler(impl->ctx, options.telemetry_path.c_str(), HandleMetrics, impl.get());
  mg_set_request_handler(impl->ctx, "/healthz", HandleHealthz, impl.get());
  mg_set_request_handler(impl->ctx, "/readyz", HandleReadyz, impl.get());
  mg_set_request_handler(impl->ctx, "/debug/status", HandleDebugStatus, impl.get());
  mg_set_request_handler(impl->ctx, "/", HandleLanding, impl.get());
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

Status MetricsServer::ReloadWebConfig(std::shared_ptr<const WebConfig> web_config) {
  if (!web_config) web_config = std::make_shared<const WebConfig>();
  if (web_config->tls_enabled != impl_->tls) {
    return Status::Error(reason::kConfig,
                         impl_->tls ? "the new web config turns TLS off, which needs a restart"
                                    : "the new web config turns TLS on, which needs a restart");
  }
  if (impl_->tls) {
    std::string error;
    net::TlsContextPtr context = net::MakeTlsServerContext(web_config->tls, &error);
    if (!context) return Status::Error(reason::kConfig, "tls_server_config: " + error);
    std::lock_guard<std::mutex> lock(impl_->stop_mu);
    if (impl_->frontend) impl_->frontend->SetContext(std::move(context));
  }
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->web = std::move(web_config);
  return Status::Ok();
}

void MetricsServer::Publish(std::shared_ptr<Exposition> exposition) {
  std::shared_ptr<Exposition> previous;  // released after the lock is let go
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    previous = std::move(impl_->current);
    impl_->current = std::move(exposition);
  }
  impl_->published.notify_all();
}

std::shared_ptr<Exposition> MetricsServer::Current() const { return impl_->Current(); }

BodySet MetricsServer::TakeScrapedBodies() {
  return BodySet::FromBits(impl_->scraped_bodies.exchange(0));
}

int MetricsServer::port() const { return impl_->port; }

std::string MetricsServer::url() const {
  return std::string(impl_->tls ? "https://" : "http://") + impl_->host + ":" +
         std::to_string(impl_->port);
}

}  // namespace kmb
