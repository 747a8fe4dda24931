#pragma once
// The simulator's use of the net stage: HTTPS listeners (net::TlsFrontend serving a
// TlsMaterial's certificate) and StopCivetweb.

#include <memory>
#include <string>

#include "kmb/net/civetweb.h"
#include "kmb/net/tls_frontend.h"
#include "sim/tls.h"

namespace kmb::sim {

using net::StopCivetweb;
using net::TlsFrontend;

// Listens on host:port (port 0 picks a free one) with tls's serving certificate (TLS 1.2+, no
// client certificates) and relays to 127.0.0.1:backend_port.
inline std::unique_ptr<TlsFrontend> StartTlsFrontend(const std::string& host, int port,
                                                     const TlsMaterial& tls, int backend_port,
                                                     std::string* error) {
  net::TlsServerSettings settings;
  settings.cert_pem = tls.server_cert_pem;
  settings.key_pem = tls.server_key_pem;
  net::TlsContextPtr context = net::MakeTlsServerContext(settings, error);
  if (!context) return nullptr;
  return TlsFrontend::Start(host, port, std::move(context), backend_port, error);
}

}  // namespace kmb::sim
