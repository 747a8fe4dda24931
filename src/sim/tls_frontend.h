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

// Listens on host:port (port 0 picks a free one) with tls's serving certificate (TLS 1.2+) and
// relays to 127.0.0.1:backend_port. With `client_ca_pem`, every client must present a
// certificate that CA signed (RequireAndVerifyClientCert, as an API server with
// --client-ca-file); otherwise no client certificates are asked for.
inline std::unique_ptr<TlsFrontend> StartTlsFrontend(const std::string& host, int port,
                                                     const TlsMaterial& tls, int backend_port,
                                                     std::string* error,
                                                     const std::string& client_ca_pem = "") {
  net::TlsServerSettings settings;
  settings.cert_pem = tls.server_cert_pem;
  settings.key_pem = tls.server_key_pem;
  if (!client_ca_pem.empty()) {
    settings.client_ca_pem = client_ca_pem;
    settings.client_auth = net::ClientAuth::kRequireAndVerifyClientCert;
  }
  net::TlsContextPtr context = net::MakeTlsServerContext(settings, error);
  if (!context) return nullptr;
  return TlsFrontend::Start(host, port, std::move(context), backend_port, error);
}

}  // namespace kmb::sim
