#pragma once
// TLS termination in front of a civetweb listener, shared by the exporter's /metrics server and
// the simulator.
//
// Debian 12's civetweb 1.15 loads libssl with dlopen and requires SSL_get_peer_certificate,
// which OpenSSL 3 exports only as SSL_get1_peer_certificate: its HTTPS listener cannot start
// ("load_tls_dll: libssl.so: cannot find SSL_get_peer_certificate"). So we serve HTTPS with the
// OpenSSL we link: each TLS connection gets a thread that decrypts and relays bytes to
// civetweb's plain listener on 127.0.0.1, one backend connection per client connection, so
// keep-alive passes straight through. Client certificates are checked here, during the
// handshake; a connection that fails it never reaches civetweb.

#include <memory>
#include <string>
#include <vector>

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace kmb::net {

// Who must present a client certificate, and whether it is verified against the client CA.
// Same names and meaning as Go's tls.ClientAuthType (the exporter-toolkit's client_auth_type).
enum class ClientAuth {
  kNoClientCert,
  kRequestClientCert,           // asked for, not required, not verified
  kRequireAnyClientCert,        // required, not verified
  kVerifyClientCertIfGiven,     // not required; verified when given
  kRequireAndVerifyClientCert,  // required and verified
};

// Protocol version numbers as on the wire (and in OpenSSL's TLS1_2_VERSION etc.).
inline constexpr int kTls10 = 0x0301;
inline constexpr int kTls11 = 0x0302;
inline constexpr int kTls12 = 0x0303;
inline constexpr int kTls13 = 0x0304;

// Everything a TLS server context is built from, with the serving material in memory.
struct TlsServerSettings {
  std::string cert_pem;       // serving certificate, then its chain
  std::string key_pem;        // its private key
  std::string client_ca_pem;  // CA certificates client certificates are verified against
  ClientAuth client_auth = ClientAuth::kNoClientCert;
  int min_version = kTls12;
  int max_version = kTls13;
  // TLS 1.2 cipher suites by their IANA names (as Go and the exporter-toolkit spell them, e.g.
  // TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256); empty: OpenSSL's defaults.
  std::vector<std::string> cipher_suites;
  // Key exchange groups by Go's names (CurveP256, CurveP384, CurveP521, X25519); empty: defaults.
  std::vector<std::string> curves;
  bool prefer_server_cipher_suites = true;
};

using TlsContextPtr = std::shared_ptr<ssl_ctx_st>;

// Builds a server context; on failure returns nullptr and one line in *error saying what is
// wrong (never key material).
TlsContextPtr MakeTlsServerContext(const TlsServerSettings& settings, std::string* error);

class TlsFrontend {
 public:
  // Listens on host:port (empty host: every interface; port 0 picks a free one) and relays
  // each connection, once its handshake succeeds, to 127.0.0.1:backend_port.
  static std::unique_ptr<TlsFrontend> Start(const std::string& host, int port,
                                            TlsContextPtr context, int backend_port,
                                            std::string* error);
  ~TlsFrontend();  // stops accepting, closes every connection and waits for their threads

  // Connections accepted from now on use `context` (certificate or policy reload).
  void SetContext(TlsContextPtr context);
  // Closes the listener; connections already open keep being relayed until they end or the
  // front end is destroyed.
  void StopAccepting();

  int port() const;

  // The subject CN of the client certificate verified on the connection this front end relays
  // to the backend from local port `backend_client_port` (what the backend sees as the remote
  // port), or "" when there is none: the simulator maps it to a user as the API server does.
  std::string PeerCommonName(int backend_client_port) const;

  struct Impl;

 private:
  explicit TlsFrontend(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kmb::net
