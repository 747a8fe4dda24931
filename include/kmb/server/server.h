#pragma once
// The HTTP front (civetweb): /metrics, /healthz, /readyz and the landing page.
// /metrics serves the latest published Exposition; it never waits on a poll in flight.

#include <memory>
#include <string>

#include "kmb/exposition/writer.h"
#include "kmb/server/web_config.h"

namespace kmb {

struct ServerOptions {
  std::string listen_address = ":9834";  // HOST:PORT or :PORT; port 0 picks a free port
  std::string telemetry_path = "/metrics";
  int threads = 8;
  // --web.config.file: TLS, basic auth and headers (nullptr: plain HTTP, no auth). With TLS,
  // civetweb listens on 127.0.0.1 only and a net::TlsFrontend takes listen_address.
  std::shared_ptr<const WebConfig> web_config;
  int refresh_seconds = 15;  // the landing page's meta refresh (the poll interval)
};

class MetricsServer {
 public:
  // Binds and starts serving; on failure returns nullptr and a one-line *error.
  static std::unique_ptr<MetricsServer> Start(const ServerOptions& options, std::string* error);
  ~MetricsServer();

  // Makes `exposition` the one /metrics serves; /readyz turns 200 from the first call.
  void Publish(std::shared_ptr<Exposition> exposition);
  std::shared_ptr<Exposition> Current() const;
  // The bodies (format x encoding) served since the last call. The poll loop has exactly these
  // rendered for the next snapshot before publishing it (Exposition::Prepare): with
  // Prometheus scraping, that is the OpenMetrics gzip body alone, and no text is held whole.
  BodySet TakeScrapedBodies();

  // Replaces the web config (SIGHUP): users, headers and TLS certificates and policy apply
  // to requests and connections from now on. Turning TLS on or off needs a restart: that is an
  // error, and the old config stays.
  Status ReloadWebConfig(std::shared_ptr<const WebConfig> web_config);

  // Stops accepting connections and waits for the responses in flight (the destructor does
  // it too). Publish and Current stay safe to call.
  void Stop();

  int port() const;         // the bound (public) port
  std::string url() const;  // "http(s)://HOST:PORT" (127.0.0.1 when bound to all interfaces)

  struct Impl;

 private:
  explicit MetricsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Picks the exposition format from an Accept header (OpenMetrics when it is asked for).
ExpositionFormat NegotiateFormat(std::string_view accept);

}  // namespace kmb
