#pragma once
// TLS termination in front of the simulator's civetweb listener.
//
// Debian 12's civetweb 1.15 loads libssl with dlopen and requires SSL_get_peer_certificate,
// which OpenSSL 3 exports only as SSL_get1_peer_certificate: its HTTPS listener cannot start
// ("load_tls_dll: libssl.so: cannot find SSL_get_peer_certificate"). So the simulator serves
// HTTPS itself with the OpenSSL it links: each TLS connection gets a thread that decrypts and
// relays bytes to civetweb's plain listener on loopback, one backend connection per client
// connection, so keep-alive passes straight through.

#include <memory>
#include <string>

#include "sim/tls.h"

namespace kmb::sim {

class TlsFrontend {
 public:
  // Listens on host:port (port 0 picks a free one) and relays to 127.0.0.1:backend_port.
  static std::unique_ptr<TlsFrontend> Start(const std::string& host, int port,
                                            const TlsMaterial& tls, int backend_port,
                                            std::string* error);
  ~TlsFrontend();  // stops accepting, closes every connection and waits for their threads

  int port() const;

  struct Impl;

 private:
  explicit TlsFrontend(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kmb::sim
