#include "doctor/probe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>

namespace kmb::doctor {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int64_t AsnTimeToUnix(const ASN1_TIME* t) {
  tm parts{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &parts) != 1) return 0;
  return timegm(&parts);
}

bool IsIp(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

std::vector<std::string> SubjectAltNames(X509* cert) {
  std::vector<std::string> out;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    if (n->type == GEN_DNS) {
      const auto* s = n->d.dNSName;
      out.push_back("DNS:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                         ASN1_STRING_length(s)));
    } else if (n->type == GEN_IPADD) {
      const auto* s = n->d.iPAddress;
      char text[INET6_ADDRSTRLEN] = {};
      const int family = ASN1_STRING_length(s) == 4 ? AF_INET : AF_INET6;
      inet_ntop(family, ASN1_STRING_get0_data(s), text, sizeof(text));
      out.push_back(std::string("IP:") + text);
    }
  }
  GENERAL_NAMES_free(names);
  return out;
}

// Connects with a deadline; returns the socket or -1 with *error set.
int ConnectWithTimeout(const addrinfo* ai, int timeout_ms, std::string* error) {
  const int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    *error = std::strerror(errno);
    return -1;
  }
  if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
    *error = std::strerror(errno);
    close(fd);
    return -1;
  }
  pollfd p{fd, POLLOUT, 0};
  if (poll(&p, 1, timeout_ms) != 1) {
    *error = "i/o timeout";
    close(fd);
    return -1;
  }
  int so_error = 0;
  socklen_t len = sizeof(so_error);
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
  if (so_error != 0) {
    *error = std::strerror(so_error);
    close(fd);
    return -1;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  return fd;
}

// Parses "HTTP/1.1 200 OK\r\n...Date: Sun, 29 Nov 2026 15:07:15 GMT\r\n..." into the result.
void ParseHead(const std::string& head, ProbeResult* r) {
  if (head.rfind("HTTP/", 0) != 0 || head.size() < 12) {
    r->http_error = "the answer is not HTTP";
    return;
  }
  r->http_status = std::atoi(head.c_str() + head.find(' ') + 1);
  for (size_t pos = head.find("\r\n"); pos != std::string::npos; pos = head.find("\r\n", pos + 2)) {
    if (strncasecmp(head.c_str() + pos + 2, "date:", 5) != 0) continue;
    tm parts{};
    const char* value = head.c_str() + pos + 7;
    while (*value == ' ') ++value;
    if (strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &parts) != nullptr) {
      r->date_unix = timegm(&parts);
    }
  }
  r->http_done = true;
}

template <typename Read, typename Write>
void ExchangeHttp(const Endpoint& e, Read read, Write write, ProbeResult* r) {
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: " + e.host + ":" +
                              std::to_string(e.port) +
                              "\r\nUser-Agent: kube-metrics-bridge-doctor\r\n"
                              "Connection: close\r\n\r\n";
  if (!write(request)) {
    r->http_error = "cannot send the request";
    return;
  }
  std::string head;
  char buf[4096];
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < 64 * 1024) {
    const int n = read(buf, sizeof(buf));
    if (n <= 0) break;
    head.append(buf, static_cast<size_t>(n));
  }
  if (head.empty()) {
    r->http_error = "no answer";
    return;
  }
  ParseHead(head, r);
}

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};

bool LoadCa(SSL_CTX* ctx, const std::string& pem) {
  if (pem.empty()) return SSL_CTX_set_default_verify_paths(ctx) == 1;
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  int added = 0;
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    added += X509_STORE_add_cert(store, cert);
    X509_free(cert);
  }
  ERR_clear_error();
  BIO_free(bio);
  return added > 0;
}

void HandshakeAndRequest(int fd, const Endpoint& e, const ProbeOptions& o, ProbeResult* r) {
  std::unique_ptr<SSL_CTX, SslCtxFree> ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx || !LoadCa(ctx.get(), o.ca_pem)) {
    r->tls_error = "cannot load the CA certificates";
    return;
  }
  // Verification is judged below, so that a bad chain still shows the certificate's names.
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  std::unique_ptr<SSL, SslFree> ssl(SSL_new(ctx.get()));
  const std::string name = o.server_name.empty() ? e.host : o.server_name;
  if (!IsIp(name)) SSL_set_tlsext_host_name(ssl.get(), name.c_str());
  SSL_set_fd(ssl.get(), fd);
  const auto start = Clock::now();
  if (SSL_connect(ssl.get()) != 1) {
    char buf[256];
    ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
    ERR_clear_error();
    r->tls_error = std::string("TLS handshake failed: ") + buf;
    return;
  }
  r->tls_seconds = Since(start);
  r->tls_done = true;
  X509* cert = SSL_get0_peer_certificate(ssl.get());
  if (cert == nullptr) {
    r->tls_error = "the server sent no certificate";
    return;
  }
  const long verify = SSL_get_verify_result(ssl.get());
  r->chain_verified = verify == X509_V_OK;
  if (!r->chain_verified) r->chain_error = X509_verify_cert_error_string(verify);
  r->sans = SubjectAltNames(cert);
  r->name_matches = IsIp(name) ? X509_check_ip_asc(cert, name.c_str(), 0) == 1
                               : X509_check_host(cert, name.c_str(), name.size(), 0, nullptr) == 1;
  char subject[256] = {};
  X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof(subject));
  r->subject = subject;
  r->not_after_unix = AsnTimeToUnix(X509_get0_notAfter(cert));
  ExchangeHttp(
      e, [&](char* buf, int len) { return SSL_read(ssl.get(), buf, len); },
      [&](const std::string& s) {
        return SSL_write(ssl.get(), s.data(), static_cast<int>(s.size())) ==
               static_cast<int>(s.size());
      },
      r);
  SSL_shutdown(ssl.get());
}

}  // namespace

bool ParseEndpoint(const std::string& url, Endpoint* out) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return false;
  out->scheme = url.substr(0, scheme_end);
  if (out->scheme != "https" && out->scheme != "http") return false;
  std::string rest = url.substr(scheme_end + 3);
  rest = rest.substr(0, rest.find('/'));
  std::string port;
  if (!rest.empty() && rest.front() == '[') {
    const size_t close = rest.find(']');
    if (close == std::string::npos) return false;
    out->host = rest.substr(1, close - 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') port = rest.substr(close + 2);
  } else {
    const size_t colon = rest.rfind(':');
    out->host = rest.substr(0, colon);
    if (colon != std::string::npos) port = rest.substr(colon + 1);
  }
  out->port = port.empty() ? (out->scheme == "https" ? 443 : 80) : std::atoi(port.c_str());
  return !out->host.empty() && out->port > 0 && out->port < 65536;
}

ProbeResult Probe(const Endpoint& e, const ProbeOptions& o) {
  ProbeResult r;
  const int timeout_ms = static_cast<int>(o.timeout_seconds * 1000);
  auto start = Clock::now();
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const int gai = getaddrinfo(e.host.c_str(), std::to_string(e.port).c_str(), &hints, &res);
  r.dns_seconds = Since(start);
  if (gai != 0) {
    r.dns_error = std::string("cannot resolve ") + e.host + ": " + gai_strerror(gai);
    return r;
  }
  r.dns_done = true;
  for (const addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    const void* addr =
        ai->ai_family == AF_INET
            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr)
            : &reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr;
    inet_ntop(ai->ai_family, addr, text, sizeof(text));
    if (std::find(r.addresses.begin(), r.addresses.end(), text) == r.addresses.end()) {
      r.addresses.push_back(text);
    }
  }
  start = Clock::now();
  int fd = -1;
  for (const addrinfo* ai = res; ai != nullptr && fd < 0; ai = ai->ai_next) {
    fd = ConnectWithTimeout(ai, timeout_ms, &r.connect_error);
  }
  freeaddrinfo(res);
  r.connect_seconds = Since(start);
  if (fd < 0) {
    r.connect_error =
        "connect to " + e.host + ":" + std::to_string(e.port) + ": " + r.connect_error;
    return r;
  }
  r.connected = true;
  r.connect_error.clear();
  if (e.scheme == "https") {
    HandshakeAndRequest(fd, e, o, &r);
  } else {
    ExchangeHttp(
        e, [&](char* buf, int len) { return static_cast<int>(recv(fd, buf, len, 0)); },
        [&](const std::string& s) {
          return send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
        },
        &r);
  }
  close(fd);
  return r;
}

std::vector<int64_t> CertificateExpiries(const std::string& pem) {
  std::vector<int64_t> out;
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    out.push_back(AsnTimeToUnix(X509_get0_notAfter(cert)));
    X509_free(cert);
  }
  ERR_clear_error();
  BIO_free(bio);
  return out;
}

}  // namespace kmb::doctor
