#include "kmb/server/server.h"

#include <civetweb.h>

#include <cstring>
#include <mutex>
#include <string_view>

#include "kmb/catalog/catalog.h"
#include "kmb/doctor/doctor.h"
#include "kmb/util/log.h"

namespace kmb {

struct MetricsServer::Impl {
  ServerOptions options;
  mg_context* ctx = nullptr;
  int port = 0;
  std::string host;
  mutable std::mutex mu;                // guards current
  std::shared_ptr<Exposition> current;  // guarded by mu

  std::shared_ptr<Exposition> Current() const {
    std::lock_guard<std::mutex> lock(mu);
    return current;
  }
};

namespace {

// Lower-cased copy for case-insensitive header matching.
std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

void SendBody(mg_connection* conn, int status, std::string_view status_text,
              std::string_view content_type, std::string_view body,
              std::string_view extra_headers = {}) {
  mg_printf(conn,
            "HTTP/1.1 %d %.*s\r\nContent-Type: %.*s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\n%.*s\r\n",
            status, static_cast<int>(status_text.size()), status_text.data(),
            static_cast<int>(content_type.size()), content_type.data(), body.size(),
            static_cast<int>(extra_headers.size()), extra_headers.data());
  const mg_request_info* ri = mg_get_request_info(conn);
  if (ri && std::strcmp(ri->request_method, "HEAD") == 0) return;
  size_t off = 0;
  while (off < body.size()) {
    size_t n = std::min<size_t>(body.size() - off, 1 << 20);
    if (mg_write(conn, body.data() + off, n) <= 0) return;  // client went away
    off += n;
  }
}

std::string HtmlEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

// The head of every HTML page: no external assets, readable without JavaScript.
std::string HtmlHead(std::string_view title) {
  return "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>" + HtmlEscape(title) +
         "</title><style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 10px;"
         "text-align:left;vertical-align:top}.fail{color:#b00}</style></head><body>";
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
  const bool gzip = AcceptsGzip(accept_enc ? accept_enc : "");
  log::Debug("scrape",
             {{"format", fmt == ExpositionFormat::kOpenMetrics100 ? "openmetrics" : "text"},
              {"gzip", gzip ? "true" : "false"}});
  if (gzip) {
    const std::string& body = exp->GzipBody(fmt);
    if (!body.empty()) {
      SendBody(conn, 200, "OK", ctype, body, "Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n");
      return 200;
    }
  }
  SendBody(conn, 200, "OK", ctype, exp->Body(fmt), "Vary: Accept-Encoding\r\n");
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

int HandleLanding(mg_connection* conn, void* data) {
  auto* impl = static_cast<MetricsServer::Impl*>(data);
  const mg_request_info* ri = mg_get_request_info(conn);
  if (ri && ri->local_uri && std::strcmp(ri->local_uri, "/") != 0) {
    SendBody(conn, 404, "Not Found", "text/plain; charset=utf-8", "not found\n");
    return 404;
  }
  std::shared_ptr<Exposition> exp = impl->Current();
  std::string html = HtmlHead("kube-metrics-bridge") + "<h1>kube-metrics-bridge</h1><p>Version " +
                     HtmlEscape(Version()) + " (revision " + HtmlEscape(Revision()) + ")</p><ul>";
  html += "<li><a href=\"" + HtmlEscape(impl->options.telemetry_path) + "\">Metrics</a></li>";
  html += "<li><a href=\"/healthz\">Health</a></li><li><a href=\"/readyz\">Readiness</a></li>";
  html += "<li><a href=\"/debug/status\">Status of the last poll, per node</a></li>";
  html += "</ul>";
  if (exp) {
    const Snapshot& s = exp->snapshot();
    size_t up = 0;
    for (const auto& n : s.nodes) up += n.status.ok();
    html += "<h2>Last poll</h2><table><tr><th>source</th><th>state</th><th>detail</th></tr>";
    if (s.summary.enabled) {
      html += "<tr><td>summary</td><td>" + std::to_string(up) + "/" +
              std::to_string(s.nodes.size()) + " nodes up</td><td>" +
              HtmlEscape(s.summary.status.message()) + "</td></tr>";
    }
    if (s.metrics_api.enabled) {
      html += std::string("<tr><td>metrics-api</td><td>") + (s.metrics_api.up ? "up" : "down") +
              "</td><td>" + HtmlEscape(s.metrics_api.status.message()) + "</td></tr>";
    }
    html += "</table>";
    bool header = false;
    for (const auto& n : s.nodes) {
      if (n.status.ok()) continue;
      if (!header) html += "<h2>Failing nodes</h2><table>";
      header = true;
      html += "<tr><td>" + HtmlEscape(n.node) + "</td><td>" + HtmlEscape(n.status.reason()) +
              "</td><td>" + HtmlEscape(n.status.message()) + "</td></tr>";
    }
    if (header) html += "</table>";
  } else {
    html += "<p>Waiting for the first poll.</p>";
  }
  html += "</body></html>\n";
  SendBody(conn, 200, "OK", "text/html; charset=utf-8", html);
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
  std::shared_ptr<Exposition> exp = impl->Current();
  std::string html =
      HtmlHead("kube-metrics-bridge status") + "<h1>Last poll</h1><p><a href=\"/\">home</a></p>";
  if (!exp) {
    html += "<p>Waiting for the first poll.</p>";
  } else {
    const Snapshot& s = exp->snapshot();
    html +=
        "<table><tr><th>source</th><th>node</th><th>outcome</th><th>latency</th>"
        "<th>what happened</th></tr>";
    auto row = [&](std::string_view source, std::string_view node, const Status& st,
                   double seconds) {
      html += "<tr><td>" + HtmlEscape(source) + "</td><td>" + HtmlEscape(node) + "</td><td" +
              (st.ok() ? ">ok" : " class=\"fail\">" + HtmlEscape(st.reason())) + "</td><td>" +
              FormatSeconds(seconds) + "</td><td>" +
              (st.ok() ? std::string() : HtmlEscape(doctor::Explain(st))) + "</td></tr>";
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

bool AcceptsGzip(std::string_view accept_encoding) {
  std::string ae = Lower(accept_encoding);
  size_t pos = 0;
  while (pos < ae.size()) {
    size_t end = ae.find(',', pos);
    if (end == std::string::npos) end = ae.size();
    std::string_view item(ae.data() + pos, end - pos);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    if (item.starts_with("gzip") || item.starts_with("*")) {
      // "gzip;q=0" refuses gzip.
      size_t q = item.find("q=");
      if (q == std::string_view::npos) return true;
      std::string_view qv = item.substr(q + 2);
      while (!qv.empty() && (qv.back() == ' ')) qv.remove_suffix(1);
      return !(qv == "0" || qv == "0.0" || qv == "0.00" || qv == "0.000");
    }
    pos = end + 1;
  }
  return false;
}

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsServer::~MetricsServer() {
  if (impl_ && impl_->ctx) mg_stop(impl_->ctx);
}

std::unique_ptr<MetricsServer> MetricsServer::Start(const ServerOptions& options,
                                                    std::string* error) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  std::string listen = options.listen_address;
  // Prometheus style ":9834" means all interfaces; civetweb spells that "9834".
  if (!listen.empty() && listen.front() == ':') listen = listen.substr(1);
  size_t colon = listen.rfind(':');
  impl->host = colon == std::string::npos ? "127.0.0.1" : listen.substr(0, colon);
  if (impl->host.empty() || impl->host == "0.0.0.0") impl->host = "127.0.0.1";
  if (options.telemetry_path.empty() || options.telemetry_path.front() != '/') {
    *error = "--web.telemetry-path must start with '/': \"" + options.telemetry_path + "\"";
    return nullptr;
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
  mg_init_library(0);
  impl->ctx = mg_start(&callbacks, impl.get(), cw_options);
  if (!impl->ctx) {
    *error = "cannot listen on " + options.listen_address +
             " (address in use, or not a valid HOST:PORT)";
    return nullptr;
  }
  mg_server_port ports[4];
  int n = mg_get_server_ports(impl->ctx, 4, ports);
  if (n > 0) impl->port = ports[0].port;
  mg_set_request_handler(impl->ctx, options.telemetry_path.c_str(), HandleMetrics, impl.get());
  mg_set_request_handler(impl->ctx, "/healthz", HandleHealthz, impl.get());
  mg_set_request_handler(impl->ctx, "/readyz", HandleReadyz, impl.get());
  mg_set_request_handler(impl->ctx, "/debug/status", HandleDebugStatus, impl.get());
  mg_set_request_handler(impl->ctx, "/", HandleLanding, impl.get());
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

void MetricsServer::Publish(std::shared_ptr<Exposition> exposition) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->current = std::move(exposition);
}

std::shared_ptr<Exposition> MetricsServer::Current() const { return impl_->Current(); }

int MetricsServer::port() const { return impl_->port; }

std::string MetricsServer::url() const {
  return "http://" + impl_->host + ":" + std::to_string(impl_->port);
}

}  // namespace kmb
