#include "kube/kube_test_support.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>
#include <thread>

namespace kmb::kube_test {

// ---- TempDir -------------------------------------------------------------------------------

TempDir::TempDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/kmb-kube-test-XXXXXX";
  if (!mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
  path_ = templ;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::Write(const std::string& name, const std::string& content) const {
  const std::string p = path_ + "/" + name;
  std::filesystem::create_directories(std::filesystem::path(p).parent_path());
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << content;
  f.close();
  if (!f) throw std::runtime_error("cannot write " + p);
  return p;
}

// ---- encodings -----------------------------------------------------------------------------

std::string Base64(const std::string& data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(data.data()),
                                static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string Gzip(const std::string& data) {
  z_stream zs{};
  deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, data.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// ---- PKI -----------------------------------------------------------------------------------

namespace {

std::string BioString(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string s(data, static_cast<size_t>(n));
  BIO_free(bio);
  return s;
}

std::string CertPem(X509* x) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, x);
  return BioString(bio);
}

std::string KeyPem(EVP_PKEY* k) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, k, nullptr, nullptr, 0, nullptr, nullptr);
  return BioString(bio);
}

void AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) throw std::runtime_error("bad extension " + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

X509* NewCert(EVP_PKEY* key, const std::string& cn) {
  X509* x = X509_new();
  X509_set_version(x, 2);
  unsigned char serial[8];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7F;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  return x;
}

}  // namespace

KeyCert MakeCa(const std::string& common_name) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = NewCert(key, common_name);
  X509_set_issuer_name(x, X509_get_subject_name(x));
  AddExt(x, x, NID_basic_constraints, "critical,CA:TRUE");
  AddExt(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
  AddExt(x, x, NID_subject_key_identifier, "hash");
  X509_sign(x, key, EVP_sha256());
  KeyCert kc{CertPem(x), KeyPem(key)};
  X509_free(x);
  EVP_PKEY_free(key);
  return kc;
}

KeyCert IssueCert(const KeyCert& ca, const std::string& common_name,
                  const std::vector<std::string>& sans, bool client) {
  BIO* cb = BIO_new_mem_buf(ca.cert_pem.data(), static_cast<int>(ca.cert_pem.size()));
  X509* ca_cert = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
  BIO_free(cb);
  BIO* kb = BIO_new_mem_buf(ca.key_pem.data(), static_cast<int>(ca.key_pem.size()));
  EVP_PKEY* ca_key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
  BIO_free(kb);

  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = NewCert(key, common_name);
  X509_set_issuer_name(x, X509_get_subject_name(ca_cert));
  AddExt(x, ca_cert, NID_basic_constraints, "critical,CA:FALSE");
  AddExt(x, ca_cert, NID_key_usage, "critical,digitalSignature,keyEncipherment");
  AddExt(x, ca_cert, NID_ext_key_usage, client ? "clientAuth" : "serverAuth");
  AddExt(x, ca_cert, NID_authority_key_identifier, "keyid:always");
  if (!sans.empty()) {
    std::string joined;
    for (const auto& s : sans) joined += (joined.empty() ? "" : ",") + s;
    AddExt(x, ca_cert, NID_subject_alt_name, joined);
  }
  X509_sign(x, ca_key, EVP_sha256());
  KeyCert kc{CertPem(x), KeyPem(key)};
  X509_free(x);
  EVP_PKEY_free(key);
  X509_free(ca_cert);
  EVP_PKEY_free(ca_key);
  return kc;
}

// ---- civetweb backend ---------------------------------------------------------------------

std::string SeenRequest::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

// TLS termination in front of the backend (see TestServer).
class TlsFront {
 public:
  static std::unique_ptr<TlsFront> Start(const KeyCert& cert, const std::string& client_ca_pem,
                                         int backend_port);
  ~TlsFront();
  int port() const { return port_; }
  // Subject of the client certificate of the TLS connection that uses this backend port.
  std::string SubjectFor(int backend_local_port) const;

 private:
  TlsFront() = default;
  void AcceptLoop();
  void Serve(int fd);

  SSL_CTX* ctx_ = nullptr;
  int listen_fd_ = -1;
  int port_ = 0;
  int backend_port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread accept_thread_;
  mutable std::mutex mu_;
  std::vector<std::thread> conn_threads_;
  std::map<int, std::string> subjects_;
};

namespace {

// The process-wide civetweb instance; never stopped (see TestServer).
class Backend {
 public:
  static Backend& Get() {
    static Backend* b = new Backend();
    return *b;
  }
  int port() const { return port_; }

  void Reset(TestServer::Handler handler, TlsFront* front) {
    std::lock_guard<std::mutex> lock(mu_);
    handler_ = std::move(handler);
    front_ = front;
    requests_.clear();
  }
  std::vector<SeenRequest> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  Backend() {
    mg_init_library(0);
    const char* options[] = {"listening_ports",
                             "127.0.0.1:0",
                             "num_threads",
                             "16",
                             "enable_keep_alive",
                             "yes",
                             "keep_alive_timeout_ms",
                             "30000",
                             "request_timeout_ms",
                             "30000",
                             nullptr};
    mg_callbacks callbacks{};
    callbacks.begin_request = &Backend::OnRequest;
    ctx_ = mg_start(&callbacks, this, options);
    if (!ctx_) throw std::runtime_error("civetweb failed to start");
    mg_server_port ports[2] = {};
    if (mg_get_server_ports(ctx_, 2, ports) < 1) throw std::runtime_error("no civetweb port");
    port_ = ports[0].port;
  }

  static int OnRequest(mg_connection* conn) {
    auto* self = static_cast<Backend*>(mg_get_user_data(mg_get_context(conn)));
    const mg_request_info* ri = mg_get_request_info(conn);
    SeenRequest req;
    req.method = ri->request_method ? ri->request_method : "";
    req.path = ri->local_uri ? ri->local_uri : "";
    if (ri->query_string) req.path += std::string("?") + ri->query_string;
    for (int i = 0; i < ri->num_headers; ++i) {
      std::string name = ri->http_headers[i].name;
      std::transform(name.begin(), name.end(), name.begin(), ::tolower);
      req.headers[name] = ri->http_headers[i].value;
    }
    req.remote_port = ri->remote_port;
    TestServer::Handler handler;
    {
      std::lock_guard<std::mutex> lock(self->mu_);
      if (self->front_) req.client_cert_subject = self->front_->SubjectFor(req.remote_port);
      self->requests_.push_back(req);
      handler = self->handler_;
    }
    ScriptedResponse r;
    if (handler) {
      r = handler(req);
    } else {
      r.status = 404;  // between tests
    }
    if (r.delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(r.delay_ms));
    mg_response_header_start(conn, r.status);
    mg_response_header_add(conn, "Content-Type", r.content_type.c_str(), -1);
    if (r.chunked) {
      mg_response_header_add(conn, "Transfer-Encoding", "chunked", -1);
    } else {
      mg_response_header_add(conn, "Content-Length", std::to_string(r.body.size()).c_str(), -1);
    }
    for (const auto& [k, v] : r.headers) mg_response_header_add(conn, k.c_str(), v.c_str(), -1);
    mg_response_header_send(conn);
    if (r.chunked) {
      // Several chunks, so the client sees the body arrive in pieces.
      const size_t step = 4096;
      for (size_t off = 0; off < r.body.size(); off += step) {
        const size_t n = std::min(step, r.body.size() - off);
        if (mg_send_chunk(conn, r.body.data() + off, static_cast<unsigned>(n)) < 0) break;
      }
      mg_send_chunk(conn, "", 0);
    } else {
      mg_write(conn, r.body.data(), r.body.size());
    }
    return r.status;
  }

  mg_context* ctx_ = nullptr;
  int port_ = 0;
  mutable std::mutex mu_;
  TestServer::Handler handler_;
  TlsFront* front_ = nullptr;
  std::vector<SeenRequest> requests_;
};

// Listening socket on 127.0.0.1:0; returns the fd and sets *port.
int Listen(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, 64) != 0) {
    close(fd);
    throw std::runtime_error("cannot listen on 127.0.0.1:0");
  }
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

// Waits up to 100 ms for `fd` to become readable; false on timeout.
bool WaitReadable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 100) > 0;
}

}  // namespace

// ---- TlsFront ------------------------------------------------------------------------------

std::unique_ptr<TlsFront> TlsFront::Start(const KeyCert& cert, const std::string& client_ca_pem,
                                          int backend_port) {
  std::unique_ptr<TlsFront> f(new TlsFront());
  f->backend_port_ = backend_port;
  f->ctx_ = SSL_CTX_new(TLS_server_method());
  // Non-application records (e.g. close_notify) must not block SSL_read after poll().
  SSL_CTX_clear_mode(f->ctx_, SSL_MODE_AUTO_RETRY);
  BIO* cb = BIO_new_mem_buf(cert.cert_pem.data(), static_cast<int>(cert.cert_pem.size()));
  X509* x = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
  BIO_free(cb);
  BIO* kb = BIO_new_mem_buf(cert.key_pem.data(), static_cast<int>(cert.key_pem.size()));
  EVP_PKEY* k = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
  BIO_free(kb);
  const bool ok =
      x && k && SSL_CTX_use_certificate(f->ctx_, x) == 1 && SSL_CTX_use_PrivateKey(f->ctx_, k) == 1;
  X509_free(x);
  EVP_PKEY_free(k);
  if (!ok) {
    std::fprintf(stderr, "TlsFront: bad certificate or key\n");
    return nullptr;
  }
  if (!client_ca_pem.empty()) {
    BIO* ab = BIO_new_mem_buf(client_ca_pem.data(), static_cast<int>(client_ca_pem.size()));
    X509* ca = PEM_read_bio_X509(ab, nullptr, nullptr, nullptr);
    BIO_free(ab);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(f->ctx_), ca);
    SSL_CTX_add_client_CA(f->ctx_, ca);
    X509_free(ca);
    SSL_CTX_set_verify(f->ctx_, SSL_VERIFY_PEER, nullptr);  // optional client certificate
  }
  f->listen_fd_ = Listen(&f->port_);
  f->accept_thread_ = std::thread([p = f.get()] { p->AcceptLoop(); });
  return f;
}

TlsFront::~TlsFront() {
  stop_ = true;
  if (accept_thread_.joinable()) accept_thread_.join();
  // Connection threads notice stop_ within one poll period.
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    threads.swap(conn_threads_);
  }
  for (auto& t : threads) t.join();
  if (listen_fd_ >= 0) close(listen_fd_);
  SSL_CTX_free(ctx_);
}

std::string TlsFront::SubjectFor(int backend_local_port) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = subjects_.find(backend_local_port);
  return it == subjects_.end() ? "" : it->second;
}

void TlsFront::AcceptLoop() {
  while (!stop_) {
    if (!WaitReadable(listen_fd_)) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::lock_guard<std::mutex> lock(mu_);
    conn_threads_.emplace_back([this, fd] { Serve(fd); });
  }
}

void TlsFront::Serve(int fd) {
  timeval tv{5, 0};  // a stuck handshake must not hang the test
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  SSL* ssl = SSL_new(ctx_);
  SSL_set_fd(ssl, fd);
  int backend = -1;
  if (SSL_accept(ssl) == 1) {
    std::string subject;
    if (X509* peer = SSL_get1_peer_certificate(ssl)) {
      char buf[256];
      X509_NAME_oneline(X509_get_subject_name(peer), buf, sizeof buf);
      subject = buf;
      X509_free(peer);
    }
    backend = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(backend_port_));
    if (connect(backend, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      socklen_t len = sizeof addr;
      getsockname(backend, reinterpret_cast<sockaddr*>(&addr), &len);
      {
        std::lock_guard<std::mutex> lock(mu_);
        subjects_[ntohs(addr.sin_port)] = subject;
      }
      // Pump bytes both ways until either side closes.
      char buf[16384];
      bool open = true;
      while (open && !stop_) {
        pollfd p[2] = {{fd, POLLIN, 0}, {backend, POLLIN, 0}};
        if (SSL_pending(ssl) == 0 && poll(p, 2, 100) <= 0) continue;
        if (SSL_pending(ssl) > 0 || p[0].revents) {
          const int n = SSL_read(ssl, buf, sizeof buf);
          if (n > 0) {
            open = send(backend, buf, static_cast<size_t>(n), MSG_NOSIGNAL) == n;
          } else if (SSL_get_error(ssl, n) != SSL_ERROR_WANT_READ) {
            open = false;
          }
        }
        if (open && p[1].revents) {
          const ssize_t n = recv(backend, buf, sizeof buf, 0);
          open = n > 0 && SSL_write(ssl, buf, static_cast<int>(n)) == n;
        }
      }
    }
    SSL_shutdown(ssl);
  }
  SSL_free(ssl);
  if (backend >= 0) close(backend);
  close(fd);
}

// ---- TestServer ----------------------------------------------------------------------------

std::unique_ptr<TestServer> TestServer::Start(const Options& options, Handler handler) {
  Backend& backend = Backend::Get();
  std::unique_ptr<TestServer> s(new TestServer());
  s->tls_ = options.tls;
  s->port_ = backend.port();
  if (options.tls) {
    s->front_ = TlsFront::Start(options.server_cert, options.client_ca_pem, backend.port());
    if (!s->front_) return nullptr;
    s->port_ = s->front_->port();
  }
  backend.Reset(std::move(handler), s->front_.get());
  return s;
}

TestServer::~TestServer() {
  Backend::Get().Reset(nullptr, nullptr);
  front_.reset();
}

std::string TestServer::url() const {
  return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_);
}

std::vector<SeenRequest> TestServer::requests() const { return Backend::Get().requests(); }

size_t TestServer::connections() const {
  std::set<int> ports;
  for (const auto& r : requests()) ports.insert(r.remote_port);
  return ports.size();
}

// ---- RawHttpServer -------------------------------------------------------------------------

RawHttpServer::RawHttpServer(std::string body) : body_(std::move(body)) {
  listen_fd_ = Listen(&port_);
  thread_ = std::thread([this] { Run(); });
}

RawHttpServer::~RawHttpServer() {
  stop_ = true;
  thread_.join();
  close(listen_fd_);
}

std::vector<std::string> RawHttpServer::request_lines() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lines_;
}

void RawHttpServer::Run() {
  while (!stop_) {
    if (!WaitReadable(listen_fd_)) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::string in;
    char buf[4096];
    while (!stop_) {
      size_t end;
      while ((end = in.find("\r\n\r\n")) != std::string::npos) {  // GET: no request body
        {
          std::lock_guard<std::mutex> lock(mu_);
          lines_.push_back(in.substr(0, in.find("\r\n")));
        }
        in.erase(0, end + 4);
        const std::string resp =
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            "Content-Length: " +
            std::to_string(body_.size()) + "\r\n\r\n" + body_;
        send(fd, resp.data(), resp.size(), MSG_NOSIGNAL);
      }
      if (!WaitReadable(fd)) continue;
      const ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      in.append(buf, static_cast<size_t>(n));
    }
    close(fd);
  }
}

int ClosedPort() {
  int port = 0;
  close(Listen(&port));  // nothing listens there any more: connecting is refused
  return port;
}

}  // namespace kmb::kube_test
