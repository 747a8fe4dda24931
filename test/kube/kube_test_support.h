#pragma once
// Test support for the kube stage: temp folders, a throwaway PKI (OpenSSL) and a tiny
// HTTP(S) server (civetweb) whose answers each test scripts.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace kmb::kube_test {

// A fresh folder under $TMPDIR, removed with its content on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // Writes `content` to path()/name and returns the full path.
  std::string Write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

std::string Base64(const std::string& data);
std::string Gzip(const std::string& data);

// A certificate with its private key, both PEM.
struct KeyCert {
  std::string cert_pem;
  std::string key_pem;
};

// Self-signed CA (EC P-256).
KeyCert MakeCa(const std::string& common_name);
// A leaf signed by `ca`. `sans` like {"IP:127.0.0.1", "DNS:localhost"}; client = clientAuth.
KeyCert IssueCert(const KeyCert& ca, const std::string& common_name,
                  const std::vector<std::string>& sans, bool client);

// What the server saw of one request.
struct SeenRequest {
  std::string method;
  std::string path;                            // with "?query" when present
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string client_cert_subject;             // TLS client certificate, if any
  int remote_port = 0;                         // identifies the connection
  std::string Header(const std::string& lower_name) const;
};

struct ScriptedResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  int delay_ms = 0;                                          // sleep before answering
  bool chunked = false;                                      // no Content-Length
};

class TlsFront;

// The server a test talks to. HTTP is served by one process-wide civetweb instance (stopping
// civetweb takes seconds, so it is started once and re-scripted per test; tests run one at a
// time). HTTPS is terminated by a per-test OpenSSL front that forwards each TLS connection to
// its own civetweb connection: Debian 12's civetweb 1.15 loads libssl.so dynamically and calls
// SSL_get_peer_certificate, which OpenSSL 3 no longer exports, so its own TLS crashes.
class TestServer {
 public:
  struct Options {
    bool tls = false;
    KeyCert server_cert;        // with tls
    std::string client_ca_pem;  // with tls: ask for client certificates issued by this CA
  };
  using Handler = std::function<ScriptedResponse(const SeenRequest&)>;

  // Returns null (and logs to stderr) when the server cannot start. One at a time.
  static std::unique_ptr<TestServer> Start(const Options& options, Handler handler);
  ~TestServer();

  int port() const { return port_; }
  std::string url() const;  // "http(s)://127.0.0.1:PORT"
  std::vector<SeenRequest> requests() const;
  // Distinct client connections that carried a request (for TLS: distinct TLS connections).
  size_t connections() const;

 private:
  TestServer() = default;
  std::unique_ptr<TlsFront> front_;
  int port_ = 0;
  bool tls_ = false;
};

// A plain-socket server answering every request on one connection with a fixed 200 response
// and recording the request lines; for what civetweb refuses (proxy-style absolute URIs).
class RawHttpServer {
 public:
  explicit RawHttpServer(std::string body);
  ~RawHttpServer();
  int port() const { return port_; }
  std::vector<std::string> request_lines() const;

 private:
  void Run();
  std::string body_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
  std::thread thread_;
};

// A port on 127.0.0.1 where nothing listens (bound, then closed).
int ClosedPort();

}  // namespace kmb::kube_test
