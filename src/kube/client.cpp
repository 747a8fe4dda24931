#include "kmb/kube/client.h"

#include <curl/curl.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "kmb/util/log.h"
#include "kube/exec_credential.h"
#include "kube/file_util.h"
#include "kube/http_text.h"

namespace kmb {
namespace {

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool IsTlsError(CURLcode rc) {
  switch (rc) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
      return true;
    default:
      return false;
  }
}

const char* TransportReason(CURLcode rc, std::string_view text) {
  if (rc == CURLE_OPERATION_TIMEDOUT) return reason::kTimeout;
  if (IsTlsError(rc)) return reason::kTls;
  switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_WEIRD_SERVER_REPLY:
      // A TLS 1.3 server rejecting the client certificate does so after the handshake, which
      // surfaces as a receive error carrying an SSL alert.
      if (text.find("SSL") != std::string_view::npos ||
          text.find("alert") != std::string_view::npos) {
        return reason::kTls;
      }
      return reason::kConnect;
    case CURLE_FILESIZE_EXCEEDED:
      return reason::kTooLarge;
    case CURLE_BAD_CONTENT_ENCODING:
      return reason::kDecode;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return reason::kConfig;
    default:
      return reason::kInternal;
  }
}

// Per-handle state; the easy handle keeps pointers into it between requests.
struct Handle {
  CURL* easy = nullptr;
  // A watch's own transfer loop (Stream), made at the handle's first watch and kept with it,
  // so that the connection a watch leaves open stays in its cache for the next one.
  CURLM* multi = nullptr;
  char errbuf[CURL_ERROR_SIZE] = {};
  uint64_t files_generation = 0;      // KubeClient::ReloadFiles() count when set up
  uint64_t exec_cert_generation = 0;  // exec plugin credential whose client cert it carries
};

void DestroyHandle(Handle* h) {
  curl_easy_cleanup(h->easy);  // not in the multi: Stream removes it after every transfer
  if (h->multi != nullptr) curl_multi_cleanup(h->multi);
  delete h;
}

// The exec credential generation the calling thread's current request used (for the retry
// after a 401, which must invalidate only that credential).
thread_local uint64_t tls_exec_generation = 0;

// An absolute URL ("https://10.0.0.5:10250/stats/summary") rather than a path on the server.
bool IsAbsoluteUrl(std::string_view s) {
  return s.starts_with("https://") || s.starts_with("http://");
}

// State of one transfer, seen by the write callback.
struct Transfer {
  CURL* easy;
  HttpResponse* out;
  size_t max_bytes;
  bool reserved = false;
  bool too_large = false;
  bool sink_started = false;  // out->sink was told a 2xx answer begins
  size_t sunk = 0;            // bytes given to out->sink
};

size_t OnWrite(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t len = size * n;
  if (t->out->sink != nullptr) {
    long code = 0;  // the headers are complete by the first body chunk
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 200 && code < 300) {
      if (t->sunk + len > t->max_bytes) {
        t->too_large = true;
        return 0;
      }
      if (!t->sink_started) t->out->sink->Start();
      t->sink_started = true;
      t->sunk += len;
      t->out->sink->Bytes(std::string_view(data, len));
      return len;
    }
  }
  std::string& body = t->out->body;
  if (!t->reserved) {
    // Headers are complete by the first body chunk: size the buffer once (compressed length
    // when gzip-encoded, still a good lower bound).
    t->reserved = true;
    curl_off_t cl = -1;
    if (curl_easy_getinfo(t->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK && cl > 0 &&
        static_cast<size_t>(cl) <= t->max_bytes) {
      body.reserve(static_cast<size_t>(cl) + kHttpBodyPadding);
    }
  }
  if (body.size() + len > t->max_bytes) {
    t->too_large = true;
    return 0;  // any short count aborts the transfer with CURLE_WRITE_ERROR
  }
  body.append(data, len);
  return len;
}

}  // namespace

struct KubeClient::Impl {
  ClusterConfig config;
  KubeClientOptions options;

  // Requests go to `url_base` + path; messages name `server` (configured, no trailing slash).
  // With tls_server_name, url_base names that host (so the certificate is verified against it)
  // and CURLOPT_CONNECT_TO sends the connection to the real host.
  std::string server;
  std::string url_base;
  std::string host_header;
  curl_slist* connect_to_list = nullptr;

  CURLSH* share = nullptr;
  std::mutex share_locks[CURL_LOCK_DATA_LAST];

  std::mutex pool_mu;
  std::vector<Handle*> free_handles;  // idle handles, each with its live connections
  // Idle handles of watches (Stream), apart: their timeouts and callbacks differ. A watch the
  // server ends at its timeoutSeconds leaves its connection open, and the next watch takes it
  // up here instead of opening a new one (a TLS handshake every renewal).
  std::vector<Handle*> free_stream_handles;

  std::atomic<uint64_t> connections{0};

  // The transfer loops of the watches in flight, for WakeStreams().
  std::mutex streams_mu;
  std::vector<CURLM*> streams;

  std::mutex token_mu;  // guards the token cache below
  std::string token;
  struct timespec token_mtime = {};
  off_t token_size = -1;
  bool token_file_missing_logged = false;

  // ---- access: exec credential plugin and ReloadFiles() ----
  std::unique_ptr<ExecCredentialSource> exec;
  std::mutex files_mu;  // guards the TLS material in `config` against ReloadFiles()
  std::atomic<uint64_t> files_generation{0};

  ~Impl() {
    DropIdleHandles();
    if (share) curl_share_cleanup(share);
    curl_slist_free_all(connect_to_list);
  }

  static void Lock(CURL*, curl_lock_data data, curl_lock_access, void* user) {
    static_cast<Impl*>(user)->share_locks[data].lock();
  }
  static void Unlock(CURL*, curl_lock_data data, void* user) {
    static_cast<Impl*>(user)->share_locks[data].unlock();
  }

  void InitShare() {
    share = curl_share_init();
    curl_share_setopt(share, CURLSHOPT_LOCKFUNC, &Impl::Lock);
    curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, &Impl::Unlock);
    curl_share_setopt(share, CURLSHOPT_USERDATA, this);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  }

  void InitUrl() {
    server = config.server;
    while (!server.empty() && server.back() == '/') server.pop_back();
    url_base = server;
    if (config.tls_server_name.empty() || !url_base.starts_with("https://")) return;
    CURLU* u = curl_url();
    char *host = nullptr, *port = nullptr, *url = nullptr;
    if (curl_url_set(u, CURLUPART_URL, url_base.c_str(), 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_HOST, config.tls_server_name.c_str(), 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_URL, &url, 0) == CURLUE_OK) {
      url_base = url;
      while (!url_base.empty() && url_base.back() == '/') url_base.pop_back();
      const std::string connect_to = config.tls_server_name + ":" + port + ":" + host + ":" + port;
      connect_to_list = curl_slist_append(nullptr, connect_to.c_str());
      // The API server sees the Host it was configured with, as with Go's ServerName.
      host_header = std::string("Host: ") + host;
      if (std::string_view(port) != "443") host_header += std::string(":") + port;
    } else {
      log::Warn("cannot apply tls-server-name to the server URL, verifying against its host",
                {{"server", config.server}});
    }
    curl_free(host);
    curl_free(port);
    curl_free(url);
    curl_url_cleanup(u);
  }

  // Options that stay the same for every request of this client.
  Handle* NewHandle() {
    auto* h = new Handle;
    std::lock_guard<std::mutex> files_lock(files_mu);
    h->files_generation = files_generation.load();
    CURL* e = h->easy = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_SHARE, share);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM for DNS timeouts in threads
    curl_easy_setopt(e, CURLOPT_VERBOSE, 0L);   // verbose output would show the token
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(options.connect_timeout_seconds * 1000));
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout_seconds * 1000));
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");  // every encoding libcurl can decode
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
                     static_cast<curl_off_t>(options.max_response_bytes));
    curl_easy_setopt(e, CURLOPT_USERAGENT, options.user_agent.c_str());
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &OnWrite);
    const bool h2 =
        options.http2 && (curl_version_info(CURLVERSION_NOW)->features & CURL_VERSION_HTTP2);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, h2 ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1);
    if (options.max_cached_connections > 0) {
      curl_easy_setopt(e, CURLOPT_MAXCONNECTS, static_cast<long>(options.max_cached_connections));
    }
    if (connect_to_list) curl_easy_setopt(e, CURLOPT_CONNECT_TO, connect_to_list);
    if (!config.proxy_url.empty()) curl_easy_setopt(e, CURLOPT_PROXY, config.proxy_url.c_str());

    if (config.insecure_skip_tls_verify) {
      curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (!config.ca_pem.empty()) {
      // Only the configured CA is trusted, not the system roots as well.
      curl_blob ca{config.ca_pem.data(), config.ca_pem.size(), CURL_BLOB_COPY};
      curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &ca);
      curl_easy_setopt(e, CURLOPT_CAPATH, static_cast<char*>(nullptr));
    }
    Credentials& cred = config.credentials;  // curl_blob wants non-const data
    if (!cred.client_cert_pem.empty() && !cred.client_key_pem.empty()) {
      curl_blob cert{cred.client_cert_pem.data(), cred.client_cert_pem.size(), CURL_BLOB_COPY};
      curl_blob key{cred.client_key_pem.data(), cred.client_key_pem.size(), CURL_BLOB_COPY};
      curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
      curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &cert);
      curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
      curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &key);
    }
    if (!config.username.empty() && cred.token.empty() && cred.token_file.empty()) {
      curl_easy_setopt(e, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
      curl_easy_setopt(e, CURLOPT_USERNAME, config.username.c_str());
      curl_easy_setopt(e, CURLOPT_PASSWORD, config.password.c_str());
    }
    return h;
  }

  // An idle handle of `pool` (free_handles or free_stream_handles), else a new one.
  Handle* Acquire(std::vector<Handle*>& pool) {
    Handle* h = nullptr;
    {
      std::lock_guard<std::mutex> lock(pool_mu);
      if (!pool.empty()) {
        h = pool.back();
        pool.pop_back();
      }
    }
    if (h == nullptr) h = NewHandle();
    ApplyExecClientCert(h);
    h->errbuf[0] = '\0';
    return h;
  }

  void Release(Handle* h, std::vector<Handle*>& pool) {
    if (h->files_generation != files_generation.load()) {  // set up before ReloadFiles()
      DestroyHandle(h);
      return;
    }
    std::lock_guard<std::mutex> lock(pool_mu);
    pool.push_back(h);
  }

  // Closes the idle handles and their connections (handles in use go when released).
  void DropIdleHandles() {
    std::lock_guard<std::mutex> lock(pool_mu);
    for (std::vector<Handle*>* pool : {&free_handles, &free_stream_handles}) {
      for (Handle* h : *pool) DestroyHandle(h);
      pool->clear();
    }
  }

  // The credential of this request: the exec plugin's token (running the plugin when needed),
  // else the static or file token. Fails only when the exec plugin does.
  Status Auth(std::string* token) {
    tls_exec_generation = 0;
    if (!exec) {
      *token = Token();
      return Status::Ok();
    }
    ExecCredential cred;
    Status st = exec->Get(&cred, &tls_exec_generation);
    if (!st.ok()) return st;
    *token = cred.token;
    return Status::Ok();
  }

  // With an exec plugin returning a client certificate, puts the current one on the handle.
  void ApplyExecClientCert(Handle* h) {
    if (!exec || tls_exec_generation == 0 || h->exec_cert_generation == tls_exec_generation) return;
    ExecCredential cred;
    const uint64_t generation = tls_exec_generation;
    if (!exec->Peek(generation, &cred) || cred.client_cert_pem.empty()) return;
    curl_blob cert{cred.client_cert_pem.data(), cred.client_cert_pem.size(), CURL_BLOB_COPY};
    curl_blob key{cred.client_key_pem.data(), cred.client_key_pem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(h->easy, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(h->easy, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(h->easy, CURLOPT_SSLKEYTYPE, "PEM");
    curl_easy_setopt(h->easy, CURLOPT_SSLKEY_BLOB, &key);
    h->exec_cert_generation = generation;
  }

  // After a 401: with an exec plugin, drop the credential that request used and say to retry.
  bool RefreshAfterUnauthorized() {
    if (!exec || tls_exec_generation == 0) return false;
    exec->Invalidate(tls_exec_generation);
    return true;
  }

  // The bearer token: from token_file when set (re-read when it changes, since projected
  // service account tokens rotate), falling back to the last good value.
  std::string Token() {
    const Credentials& cred = config.credentials;
    if (cred.token_file.empty()) return cred.token;
    std::lock_guard<std::mutex> lock(token_mu);
    struct stat st {};
    if (::stat(cred.token_file.c_str(), &st) != 0) {
      if (!token_file_missing_logged) {
        log::Warn("token file disappeared; using the last token read from it",
                  {{"token_file", cred.token_file}});
        token_file_missing_logged = true;
      }
      return token.empty() ? cred.token : token;
    }
    if (token_file_missing_logged) {
      log::Info("token file is back", {{"token_file", cred.token_file}});
      token_file_missing_logged = false;
    }
    if (st.st_size == token_size && st.st_mtim.tv_sec == token_mtime.tv_sec &&
        st.st_mtim.tv_nsec == token_mtime.tv_nsec && !token.empty()) {
      return token;
    }
    std::string content, err;
    if (ReadWholeFile(cred.token_file, &content, &err)) {
      std::string t = TrimToken(content);
      if (!t.empty()) {
        token = std::move(t);
        token_mtime = st.st_mtim;
        token_size = st.st_size;
      }
    }
    return token.empty() ? cred.token : token;
  }

  // Accept, the bearer token and Host (tls-server-name) headers of every request.
  // `absolute`: a kubelet URL (access), which gets no tls-server-name Host rewrite.
  curl_slist* BaseHeaders(const std::string& token, bool absolute = false) const {
    curl_slist* headers = curl_slist_append(nullptr, "Accept: application/json");
    if (!token.empty()) {
      headers = curl_slist_append(headers, ("Authorization: Bearer " + token).c_str());
    }
    if (!host_header.empty() && !absolute) {
      headers = curl_slist_append(headers, host_header.c_str());
    }
    return headers;
  }

  // The Status of a non-2xx answer: "<what>: HTTP <code>: <Status.message or body start>".
  Status HttpFailure(const std::string& what, long code, const std::string& body,
                     const std::string& token) const {
    std::string detail = StatusMessageFromJson(body);
    detail = detail.empty() ? OneLine(body, 200) : OneLine(detail, 300);
    std::string msg = what + ": HTTP " + std::to_string(code);
    if (!detail.empty()) msg += ": " + detail;
    // Redirects are not followed: like a 4xx, the request as made cannot be served.
    const char* why = code >= 500 ? reason::kHttp5xx : reason::kHttp4xx;
    return Status::Error(why, Redact(msg, token));
  }

  // Removes anything secret a misbehaving server might echo back. One pass over the text for
  // all the secrets at once (the longest where two start at the same place), never over a
  // replacement: the token is usually registered twice (current and configured), and a short
  // secret is a substring of "<redacted>" itself.
  std::string Redact(const std::string& s, const std::string& current_token) const {
    constexpr std::string_view kRedacted = "<redacted>";
    const std::string* secrets[] = {&current_token, &config.credentials.token, &config.password};
    std::string out;
    size_t from = 0;
    while (true) {
      size_t at = std::string::npos, len = 0;
      for (const std::string* secret : secrets) {
        if (secret->empty()) continue;
        const size_t p = s.find(*secret, from);
        if (p < at || (p == at && p != std::string::npos && secret->size() > len)) {
          at = p;
          len = secret->size();
        }
      }
      if (at == std::string::npos) break;
      out.append(s, from, at - from).append(kRedacted);
      from = at + len;
    }
    return out.append(s, from);
  }
};

KubeClient::KubeClient(ClusterConfig config, KubeClientOptions options)
    : impl_(std::make_unique<Impl>()) {
  GlobalInit();
  impl_->config = std::move(config);
  impl_->options = std::move(options);
  impl_->InitShare();
  impl_->InitUrl();
  if (impl_->config.credentials.exec) {
    impl_->exec = std::make_unique<ExecCredentialSource>(
        *impl_->config.credentials.exec, impl_->config, impl_->options.exec_timeout_seconds);
  }
}

KubeClient::~KubeClient() = default;

const ClusterConfig& KubeClient::config() const { return impl_->config; }

uint64_t KubeClient::connections_opened() const { return impl_->connections.load(); }

Status KubeClient::Get(std::string_view path, HttpResponse* out) { return Get(path, out, 0); }

Status KubeClient::Get(std::string_view path, HttpResponse* out, double timeout_seconds) {
  Status st = Request("GET", path, {}, out, timeout_seconds);
  // An exec credential answered 401 is refreshed and the request made once more.
  if (out->status == 401 && impl_->RefreshAfterUnauthorized()) {
    st = Request("GET", path, {}, out, timeout_seconds);
  }
  return st;
}

Status KubeClient::Post(std::string_view path, std::string_view json_body, HttpResponse* out) {
  Status st = Request("POST", path, json_body, out);
  if (out->status == 401 && impl_->RefreshAfterUnauthorized()) {
    st = Request("POST", path, json_body, out);
  }
  return st;
}

Status KubeClient::ReloadFiles() {
  Impl& im = *impl_;
  ClusterConfig& c = im.config;
  Credentials& cred = c.credentials;
  std::string ca, cert, key, err;
  auto read = [&](const std::string& path, const char* what, std::string* out) -> Status {
    if (path.empty() || ReadWholeFile(path, out, &err)) return Status::Ok();
    return Status::Error(reason::kConfig, std::string("reload: ") + what + " " + path +
                                              ": cannot read (" + err + ")");
  };
  if (Status st = read(c.ca_file, "CA file", &ca); !st.ok()) return st;
  if (Status st = read(cred.client_cert_file, "client certificate file", &cert); !st.ok()) {
    return st;
  }
  if (Status st = read(cred.client_key_file, "client key file", &key); !st.ok()) return st;
  {
    std::lock_guard<std::mutex> lock(im.files_mu);
    if (!c.ca_file.empty()) c.ca_pem = std::move(ca);
    if (!cred.client_cert_file.empty()) cred.client_cert_pem = std::move(cert);
    if (!cred.client_key_file.empty()) cred.client_key_pem = std::move(key);
    im.files_generation++;  // handles set up before are dropped when released
  }
  im.DropIdleHandles();
  {
    std::lock_guard<std::mutex> lock(im.token_mu);
    im.token_size = -1;  // re-read the token file on the next request
  }
  return Status::Ok();
}

Status KubeClient::Request(const char* method, std::string_view path, std::string_view body,
                           HttpResponse* out, double timeout_seconds) {
  Impl& im = *impl_;
  const bool post = std::string_view(method) == "POST";
  out->status = 0;
  out->body.clear();  // keeps the capacity of a reused response
  out->content_type.clear();
  out->seconds = 0;
  out->retry_after_seconds = 0;
  // Messages name the configured server, not the tls-server-name rewrite.
  const bool absolute = IsAbsoluteUrl(path);  // access: kubelet URLs
  const std::string what =
      std::string(method) + " " + (absolute ? std::string() : im.server) + std::string(path);
  const std::string url = absolute ? std::string(path) : im.url_base + std::string(path);

  std::string token;
  if (Status st = im.Auth(&token); !st.ok()) return st;  // access: exec credential plugins
  curl_slist* headers = im.BaseHeaders(token, absolute);
  if (post) headers = curl_slist_append(headers, "Content-Type: application/json");

  Handle* h = im.Acquire(im.free_handles);
  CURL* e = h->easy;
  Transfer t{e, out, im.options.max_response_bytes};
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  if (post) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body.data());
  } else {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  }
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
  // A per-request deadline (--kubelet-timeout, a retry's remaining budget); at least 1 ms,
  // since 0 would mean none.
  const long default_timeout_ms = static_cast<long>(im.options.timeout_seconds * 1000);
  const long timeout_ms = timeout_seconds > 0
                              ? std::max(1L, static_cast<long>(timeout_seconds * 1000))
                              : default_timeout_ms;
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
  const CURLcode rc = curl_easy_perform(e);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, default_timeout_ms);
  curl_off_t retry_after = 0;
  if (curl_easy_getinfo(e, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK && retry_after > 0) {
    out->retry_after_seconds = static_cast<double>(retry_after);
  }

  long code = 0, new_connections = 0;
  double seconds = 0;
  const char* content_type = nullptr;  // owned by the handle: copy before releasing it
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_getinfo(e, CURLINFO_TOTAL_TIME, &seconds);
  curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &content_type);
  curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &new_connections);
  if (content_type) out->content_type = content_type;
  const std::string curl_error = h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, static_cast<curl_slist*>(nullptr));  // freed below
  curl_easy_setopt(e, CURLOPT_WRITEDATA, static_cast<void*>(nullptr));
  if (post) curl_easy_setopt(e, CURLOPT_POSTFIELDS, static_cast<char*>(nullptr));
  im.Release(h, im.free_handles);
  curl_slist_free_all(headers);

  im.connections.fetch_add(static_cast<uint64_t>(new_connections), std::memory_order_relaxed);
  out->status = code;
  out->seconds = seconds;

  if (rc != CURLE_OK) {
    if (t.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
      out->body.clear();
      return Status::Error(reason::kTooLarge, what + ": response larger than " +
                                                  std::to_string(im.options.max_response_bytes) +
                                                  " bytes");
    }
    return Status::Error(TransportReason(rc, curl_error),
                         im.Redact(what + ": " + OneLine(curl_error, 300), token));
  }
  if (code >= 200 && code < 300) {
    if (out->sink != nullptr && !t.sink_started) out->sink->Start();  // a 2xx without a body
    if (out->body.capacity() < out->body.size() + kHttpBodyPadding) {
      out->body.reserve(out->body.size() + kHttpBodyPadding);
    }
    return Status::Ok();
  }
  return im.HttpFailure(what, code, out->body, token);
}

// ---- Streaming GET (the watch cache) ----
namespace {

// The longest an idle watch sleeps between looks at `on_bytes` when nothing wakes it (libcurl's
// timers, the watch's deadline among them, wake it sooner).
constexpr long kStreamMaxWaitMs = 60'000;

struct StreamTransfer {
  CURL* easy;
  const std::function<bool(std::string_view)>* on_bytes;
  HttpResponse* out;
  size_t max_error_bytes;
  bool cancelled = false;
};

size_t OnStreamWrite(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<StreamTransfer*>(user);
  const size_t len = size * n;
  long code = 0;
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
  if (code < 200 || code >= 300) {  // an error body: kept for the message
    if (t->out->body.size() < t->max_error_bytes) t->out->body.append(data, len);
    return len;
  }
  if (!(*t->on_bytes)(std::string_view(data, len))) {
    t->cancelled = true;
    return 0;
  }
  return len;
}

}  // namespace

Status KubeClient::Stream(std::string_view path, double max_seconds,
                          const std::function<bool(std::string_view)>& on_bytes,
                          HttpResponse* out) {
  Impl& im = *impl_;
  out->status = 0;
  out->body.clear();
  const std::string what = "GET " + im.server + std::string(path);
  const std::string url = im.url_base + std::string(path);
  std::string token;
  if (Status st = im.Auth(&token); !st.ok()) return st;  // exec credential plugins too
  curl_slist* headers = im.BaseHeaders(token);

  // A watch holds its connection for minutes, and its timeouts differ: a handle of the watches'
  // pool, whose connection the last watch left open when the server ended it.
  Handle* h = im.Acquire(im.free_stream_handles);
  CURL* e = h->easy;
  StreamTransfer t{e, &on_bytes, out, 64u << 10};
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(max_seconds * 1000));
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &OnStreamWrite);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);

  // The transfer loop of curl_easy_perform, but waiting as long as libcurl's own timers allow
  // (the watch's deadline, mostly) instead of waking every second: an idle watch sleeps until a
  // byte arrives or WakeStreams() is called, then asks `on_bytes` whether to go on.
  if (h->multi == nullptr) h->multi = curl_multi_init();
  CURLM* m = h->multi;
  CURLcode rc = CURLE_OK;
  if (m == nullptr || curl_multi_add_handle(m, e) != CURLM_OK) {
    rc = CURLE_OUT_OF_MEMORY;
  } else {
    {
      std::lock_guard<std::mutex> lock(im.streams_mu);
      im.streams.push_back(m);
    }
    CURLMcode mc = CURLM_OK;
    for (;;) {
      int running = 0;
      if ((mc = curl_multi_perform(m, &running)) != CURLM_OK) break;
      if (running == 0) {  // done: the one handle's result
        int left = 0;
        if (CURLMsg* msg = curl_multi_info_read(m, &left); msg && msg->msg == CURLMSG_DONE) {
          rc = msg->data.result;
        }
        break;
      }
      if (!on_bytes(std::string_view())) {
        t.cancelled = true;  // the caller's stop: the connection closes with the transfer
        break;
      }
      long wait_ms = -1;
      if ((mc = curl_multi_timeout(m, &wait_ms)) != CURLM_OK) break;
      if (wait_ms < 0 || wait_ms > kStreamMaxWaitMs) wait_ms = kStreamMaxWaitMs;
      if ((mc = curl_multi_poll(m, nullptr, 0, static_cast<int>(wait_ms), nullptr)) != CURLM_OK) {
        break;
      }
    }
    if (mc != CURLM_OK) {
      std::snprintf(h->errbuf, sizeof h->errbuf, "transfer loop: %s", curl_multi_strerror(mc));
      rc = CURLE_RECV_ERROR;
    }
    {
      std::lock_guard<std::mutex> lock(im.streams_mu);
      std::erase(im.streams, m);
    }
    curl_multi_remove_handle(m, e);
  }
  long code = 0, new_connections = 0;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &new_connections);
  const std::string curl_error = h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc);
  // Pointers into this call's frame go before the handle waits for the next watch.
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, static_cast<curl_slist*>(nullptr));
  curl_easy_setopt(e, CURLOPT_WRITEDATA, static_cast<void*>(nullptr));
  im.Release(h, im.free_stream_handles);
  curl_slist_free_all(headers);
  im.connections.fetch_add(static_cast<uint64_t>(new_connections), std::memory_order_relaxed);
  out->status = code;

  if (t.cancelled) return Status::Ok();
  if (rc != CURLE_OK) {
    return Status::Error(TransportReason(rc, curl_error),
                         im.Redact(what + ": " + OneLine(curl_error, 300), token));
  }
  if (code >= 200 && code < 300) return Status::Ok();
  return im.HttpFailure(what, code, out->body, token);
}

void KubeClient::WakeStreams() {
  Impl& im = *impl_;
  std::lock_guard<std::mutex> lock(im.streams_mu);
  for (CURLM* m : im.streams) curl_multi_wakeup(m);
}

}  // namespace kmb
