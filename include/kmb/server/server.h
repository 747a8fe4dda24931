#pragma once
// The HTTP front (civetweb): /metrics, /healthz, /readyz and the landing page.
// /metrics serves the latest published Exposition; it never waits on a poll in flight.

#include <memory>
#include <string>

#include "kmb/exposition/writer.h"

namespace kmb {

struct ServerOptions {
  std::string listen_address = ":9834";  // HOST:PORT or :PORT; port 0 picks a free port
  std::string telemetry_path = "/metrics";
  int threads = 8;
};

class MetricsServer {
 public:
  // Binds and starts serving; on failure returns nullptr and a one-line *error.
  static std::unique_ptr<MetricsServer> Start(const ServerOptions& options, std::string* error);
  ~MetricsServer();

  // Makes `exposition` the one /metrics serves; /readyz turns 200 from the first call.
  void Publish(std::shared_ptr<Exposition> exposition);
  std::shared_ptr<Exposition> Current() const;

  int port() const;             // the bound port
  std::string url() const;      // "http://HOST:PORT" (127.0.0.1 when bound to all interfaces)

  struct Impl;

 private:
  explicit MetricsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Picks the exposition format from an Accept header (OpenMetrics when it is asked for).
ExpositionFormat NegotiateFormat(std::string_view accept);
// True when an Accept-Encoding header allows gzip.
bool AcceptsGzip(std::string_view accept_encoding);

}  // namespace kmb
