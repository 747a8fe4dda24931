#include "kmb/net/tls_frontend.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "kmb/util/log.h"

namespace kmb::net {
namespace {

constexpr int kMaxConnections = 512;
constexpr int kIoTimeoutSeconds = 30;

void SetNoDelay(int fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

void SetTimeouts(int fd) {
  timeval tv{kIoTimeoutSeconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

bool SendAll(int fd, const char* data, size_t len) {
  while (len > 0) {
    const ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

bool SslWriteAll(SSL* ssl, const char* data, size_t len) {
  while (len > 0) {
    size_t written = 0;
    if (SSL_write_ex(ssl, data, len, &written) != 1) return false;
    data += written;
    len -= written;
  }
  return true;
}

int ConnectBackend(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  SetNoDelay(fd);
  return fd;
}

// Reads and discards what the peer sends until it closes, for at most half a second.
void DrainBriefly(int fd) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || poll(&p, 1, static_cast<int>(left)) <= 0) return;
    if (recv(fd, buf, sizeof(buf), 0) <= 0) return;
  }
}

int LocalPort(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof(addr);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  return ntohs(addr.sin_port);
}

// The CN of the client certificate, when one was presented and verified.
std::string VerifiedPeerCommonName(SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return "";
  char cn[256] = {};
  const int n =
      X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn));
  return n > 0 ? std::string(cn, static_cast<size_t>(n)) : "";
}

std::string SslError(const char* what) {
  char buf[256];
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return std::string(what) + " failed";
  ERR_error_string_n(code, buf, sizeof(buf));
  return std::string(what) + ": " + buf;
}

}  // namespace

struct TlsFrontend::Impl {
  TlsContextPtr context;  // guarded by mu; each connection keeps the one it was accepted with
  int listen_fd = -1;
  int wake[2] = {-1, -1};  // wakes the accept loop on stop
  int port = 0;
  int backend_port = 0;
  std::thread acceptor;
  std::mutex mu;
  std::condition_variable idle;
  std::set<int> open_fds;  // client and backend sockets, shut down on stop
  int connections = 0;
  bool stopping = false;
  std::map<int, std::string> peer_names;  // backend client port -> verified client cert CN

  ~Impl() {
    StopAccepting();
    {
      std::lock_guard<std::mutex> lock(mu);
      stopping = true;
      for (int fd : open_fds) shutdown(fd, SHUT_RDWR);
    }
    std::unique_lock<std::mutex> lock(mu);
    idle.wait(lock, [this] { return connections == 0; });
    lock.unlock();
    for (int fd : wake) {
      if (fd >= 0) close(fd);
    }
  }

  void StopAccepting() {
    if (acceptor.joinable()) {
      const char c = 0;
      (void)!write(wake[1], &c, 1);
      acceptor.join();
    }
    if (listen_fd >= 0) close(listen_fd);
    listen_fd = -1;
  }

  bool Track(int fd) {
    std::lock_guard<std::mutex> lock(mu);
    if (stopping) return false;
    open_fds.insert(fd);
    return true;
  }
  void Untrack(int fd) {
    std::lock_guard<std::mutex> lock(mu);
    open_fds.erase(fd);
  }

  void AcceptLoop();
  void Serve(int client, SSL_CTX* ctx);
  void Relay(SSL* ssl, int client, int backend);
};

void TlsFrontend::Impl::AcceptLoop() {
  pollfd fds[2] = {{listen_fd, POLLIN, 0}, {wake[0], POLLIN, 0}};
  for (;;) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      log::Error("tls frontend poll failed", {{"error", std::strerror(errno)}});
      return;
    }
    if (fds[1].revents != 0) return;
    const int client = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      // Out of descriptors: back off instead of spinning on a listener that stays readable.
      if (errno == EMFILE || errno == ENFILE) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      continue;
    }
    TlsContextPtr ctx;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (stopping || connections >= kMaxConnections) {
        close(client);
        continue;
      }
      ++connections;
      open_fds.insert(client);
      ctx = context;
    }
    std::thread([this, client, ctx] { Serve(client, ctx.get()); }).detach();
  }
}

void TlsFrontend::Impl::Serve(int client, SSL_CTX* ctx) {
  SetNoDelay(client);
  SetTimeouts(client);
  SSL* ssl = SSL_new(ctx);
  if (ssl != nullptr && SSL_set_fd(ssl, client) == 1 && SSL_accept(ssl) == 1) {
    const int backend = ConnectBackend(backend_port);
    if (backend >= 0 && Track(backend)) {
      // Known before the first byte reaches the backend, forgotten when the connection ends.
      const int local_port = LocalPort(backend);
      const std::string peer = VerifiedPeerCommonName(ssl);
      if (!peer.empty()) {
        std::lock_guard<std::mutex> lock(mu);
        peer_names[local_port] = peer;
      }
      Relay(ssl, client, backend);
      if (!peer.empty()) {
        std::lock_guard<std::mutex> lock(mu);
        peer_names.erase(local_port);
      }
      Untrack(backend);
    }
    if (backend >= 0) close(backend);
    SSL_shutdown(ssl);
  } else {
    log::Debug("tls handshake failed", {{"error", SslError("SSL_accept")}});
    // TLS 1.3 refuses a client certificate after the client finished its side of the
    // handshake, when it may already have sent its request: closing with those bytes unread
    // would reset the connection and the client would see "connection reset" instead of the
    // alert naming the cause. Close our side, drain what it sent, then close.
    shutdown(client, SHUT_WR);
    DrainBriefly(client);
  }
  ERR_clear_error();
  if (ssl) SSL_free(ssl);
  Untrack(client);
  close(client);
  std::lock_guard<std::mutex> lock(mu);
  --connections;
  idle.notify_all();  // under the lock: the destructor may free `this` right after
}

void TlsFrontend::Impl::Relay(SSL* ssl, int client, int backend) {
  char buf[64 * 1024];
  pollfd fds[2] = {{client, POLLIN, 0}, {backend, POLLIN, 0}};
  constexpr short kReady = POLLIN | POLLHUP | POLLERR;
  for (;;) {
    fds[0].revents = fds[1].revents = 0;
    // Decrypted bytes may already sit in OpenSSL's buffer, where poll cannot see them.
    if (SSL_pending(ssl) == 0 && poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (SSL_pending(ssl) > 0 || (fds[0].revents & kReady)) {
      size_t n = 0;
      if (SSL_read_ex(ssl, buf, sizeof(buf), &n) != 1) {
        if (SSL_get_error(ssl, 0) == SSL_ERROR_WANT_READ) continue;
        return;  // close_notify, reset or timeout
      }
      if (!SendAll(backend, buf, n)) return;
    }
    if (fds[1].revents & kReady) {
      const ssize_t n = recv(backend, buf, sizeof(buf), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // civetweb closed the connection (keep-alive timeout, error)
      if (!SslWriteAll(ssl, buf, static_cast<size_t>(n))) return;
    }
  }
}

namespace {

// Adds every certificate of a PEM bundle to `store`; returns how many.
int AddPemCertificates(const std::string& pem, X509_STORE* store, STACK_OF(X509_NAME) * names) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  int count = 0;
  while (bio != nullptr) {
    X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    if (cert == nullptr) break;
    if (X509_STORE_add_cert(store, cert) == 1) {
      ++count;
      if (names != nullptr) sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(cert)));
    }
    X509_free(cert);
  }
  ERR_clear_error();  // the end of the bundle reads as an error
  BIO_free(bio);
  return count;
}

// OpenSSL's name of a TLS 1.2 cipher suite given by its IANA name, or "".
std::string OpenSslCipherName(const std::string& iana) {
  std::string name;
  SSL_CTX* all = SSL_CTX_new(TLS_server_method());
  if (all != nullptr && SSL_CTX_set_cipher_list(all, "ALL:COMPLEMENTOFALL") == 1) {
    STACK_OF(SSL_CIPHER)* ciphers = SSL_CTX_get_ciphers(all);
    for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
      const SSL_CIPHER* c = sk_SSL_CIPHER_value(ciphers, i);
      const char* standard = SSL_CIPHER_standard_name(c);
      if (standard != nullptr && iana == standard) name = SSL_CIPHER_get_name(c);
    }
  }
  SSL_CTX_free(all);
  ERR_clear_error();
  return name;
}

// Accepts whatever certificate the client presents (RequestClientCert, RequireAnyClientCert).
int AcceptAnyCertificate(int, X509_STORE_CTX*) { return 1; }

}  // namespace

TlsContextPtr MakeTlsServerContext(const TlsServerSettings& settings, std::string* error) {
  TlsContextPtr ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!ctx) {
    *error = SslError("SSL_CTX_new");
    return nullptr;
  }
  SSL_CTX* c = ctx.get();
  if (SSL_CTX_set_min_proto_version(c, settings.min_version) != 1 ||
      SSL_CTX_set_max_proto_version(c, settings.max_version) != 1) {
    *error = "unsupported TLS version range";
    return nullptr;
  }
  if (settings.max_version != 0 && settings.max_version < settings.min_version) {
    *error = "max_version is below min_version";
    return nullptr;
  }
  // The serving certificate (with its chain) and key, straight from memory.
  BIO* cert_bio =
      BIO_new_mem_buf(settings.cert_pem.data(), static_cast<int>(settings.cert_pem.size()));
  X509* cert = cert_bio ? PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr) : nullptr;
  bool ok = cert != nullptr && SSL_CTX_use_certificate(c, cert) == 1;
  X509_free(cert);
  while (ok) {
    X509* chain = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
    if (chain == nullptr) break;
    if (SSL_CTX_add0_chain_cert(c, chain) != 1) X509_free(chain);
  }
  BIO_free(cert_bio);
  if (!ok) {
    *error = SslError("reading the certificate (PEM)");
    return nullptr;
  }
  ERR_clear_error();
  BIO* key_bio =
      BIO_new_mem_buf(settings.key_pem.data(), static_cast<int>(settings.key_pem.size()));
  EVP_PKEY* key = key_bio ? PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(key_bio);
  ok = key != nullptr && SSL_CTX_use_PrivateKey(c, key) == 1;
  EVP_PKEY_free(key);
  if (!ok) {
    ERR_clear_error();  // OpenSSL's text could quote the key file's contents: keep it out
    *error = "the key is not a PEM private key";
    return nullptr;
  }
  if (SSL_CTX_check_private_key(c) != 1) {
    ERR_clear_error();
    *error = "the key does not match the certificate";
    return nullptr;
  }

  if (!settings.cipher_suites.empty()) {
    std::string list;
    for (const std::string& iana : settings.cipher_suites) {
      const std::string name = OpenSslCipherName(iana);
      if (name.empty()) {
        *error = "unknown or unsupported cipher suite: " + iana;
        return nullptr;
      }
      list += (list.empty() ? "" : ":") + name;
    }
    if (SSL_CTX_set_cipher_list(c, list.c_str()) != 1) {
      *error = SslError("setting cipher_suites");
      return nullptr;
    }
  }
  if (!settings.curves.empty()) {
    std::string list;
    for (const std::string& curve : settings.curves) {
      const char* name = curve == "CurveP256"   ? "P-256"
                         : curve == "CurveP384" ? "P-384"
                         : curve == "CurveP521" ? "P-521"
                         : curve == "X25519"    ? "X25519"
                                                : nullptr;
      if (name == nullptr) {
        *error = "unknown curve: " + curve;
        return nullptr;
      }
      if (!list.empty()) list += ':';
      list += name;
    }
    if (SSL_CTX_set1_groups_list(c, list.c_str()) != 1) {
      *error = SslError("setting curve_preferences");
      return nullptr;
    }
  }
  // TLS 1.3 suites in Go's order on a CPU with AES instructions (crypto/tls: it takes no
  // configuration for 1.3), which is what kubelets, API servers and exporter-toolkit's servers
  // pick. OpenSSL's default order would pick AES-256-GCM: 14 AES rounds instead of 10, 4.12
  // against 4.44 GB/s on the benchmark machine (`openssl speed -evp`, 16 KiB blocks).
  if (SSL_CTX_set_ciphersuites(
          c, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256") != 1) {
    *error = SslError("setting the TLS 1.3 cipher suites");
    return nullptr;
  }
  if (settings.prefer_server_cipher_suites) SSL_CTX_set_options(c, SSL_OP_CIPHER_SERVER_PREFERENCE);

  const bool verify = settings.client_auth == ClientAuth::kVerifyClientCertIfGiven ||
                      settings.client_auth == ClientAuth::kRequireAndVerifyClientCert;
  if (!settings.client_ca_pem.empty()) {
    STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
    if (AddPemCertificates(settings.client_ca_pem, SSL_CTX_get_cert_store(c), names) == 0) {
      sk_X509_NAME_pop_free(names, X509_NAME_free);
      *error = "the client CA holds no PEM certificate";
      return nullptr;
    }
    SSL_CTX_set_client_CA_list(c, names);  // takes ownership
  } else if (verify) {
    *error = "client certificates cannot be verified without client_ca_file";
    return nullptr;
  }
  switch (settings.client_auth) {
    case ClientAuth::kNoClientCert:
      SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
      break;
    case ClientAuth::kRequestClientCert:
      SSL_CTX_set_verify(c, SSL_VERIFY_PEER, AcceptAnyCertificate);
      break;
    case ClientAuth::kRequireAnyClientCert:
      SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                         AcceptAnyCertificate);
      break;
    case ClientAuth::kVerifyClientCertIfGiven:
      SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
      break;
    case ClientAuth::kRequireAndVerifyClientCert:
      SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
      break;
  }
  // Session resumption must not skip the client check of a context that asks for one.
  static const unsigned char kSessionContext[] = "kube-metrics-bridge";
  SSL_CTX_set_session_id_context(c, kSessionContext, sizeof(kSessionContext) - 1);
  return ctx;
}

std::unique_ptr<TlsFrontend> TlsFrontend::Start(const std::string& host, int port,
                                                TlsContextPtr context, int backend_port,
                                                std::string* error) {
  auto impl = std::make_unique<Impl>();
  impl->backend_port = backend_port;
  impl->context = std::move(context);
  if (!impl->context) {
    *error = "no TLS context";
    return nullptr;
  }

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  const int gai = getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &res);
  if (gai != 0) {
    *error = "cannot resolve " + host + ": " + gai_strerror(gai);
    return nullptr;
  }
  std::string last_error = "no address";
  for (addrinfo* ai = res; ai != nullptr && impl->listen_fd < 0; ai = ai->ai_next) {
    const int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 128) == 0) {
      impl->listen_fd = fd;
    } else {
      last_error = std::strerror(errno);
      close(fd);
    }
  }
  freeaddrinfo(res);
  if (impl->listen_fd < 0) {
    *error = "cannot listen on " + host + ":" + service + ": " + last_error;
    return nullptr;
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  getsockname(impl->listen_fd, reinterpret_cast<sockaddr*>(&bound), &len);
  impl->port =
      ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                        : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  if (pipe2(impl->wake, O_CLOEXEC) != 0) {
    *error = std::string("pipe: ") + std::strerror(errno);
    return nullptr;
  }
  Impl* raw = impl.get();
  impl->acceptor = std::thread([raw] { raw->AcceptLoop(); });
  return std::unique_ptr<TlsFrontend>(new TlsFrontend(std::move(impl)));
}

TlsFrontend::TlsFrontend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TlsFrontend::~TlsFrontend() = default;

void TlsFrontend::SetContext(TlsContextPtr context) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->context = std::move(context);
}

void TlsFrontend::StopAccepting() { impl_->StopAccepting(); }

int TlsFrontend::port() const { return impl_->port; }

std::string TlsFrontend::PeerCommonName(int backend_client_port) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  const auto it = impl_->peer_names.find(backend_client_port);
  return it == impl_->peer_names.end() ? "" : it->second;
}

}  // namespace kmb::net
