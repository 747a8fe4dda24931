#pragma once
// The --web.config.file: TLS, basic authentication and response headers of the HTTP server, in
// the Prometheus exporter-toolkit's format (docs/web-configuration.md of
// prometheus/exporter-toolkit), so the file written for node_exporter works here unchanged.
// Unknown keys are errors, as there.

#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "kmb/net/tls_frontend.h"
#include "kmb/util/status.h"

namespace kmb {

struct WebConfig {
  // tls_server_config. TLS is on when any of cert/key/client CA/client_auth_type is set.
  bool tls_enabled = false;
  std::string cert_file, key_file, client_ca_file;  // relative to the config file's folder
  // The TLS settings; cert_pem/key_pem/client_ca_pem come from the inline `cert`, `key` and
  // `client_ca`, or from the files once LoadWebConfig has read them.
  net::TlsServerSettings tls;

  // http_server_config.
  bool http2 = true;  // accepted for compatibility; this server speaks HTTP/1.1
  std::map<std::string, std::string> headers;  // added to every response

  // basic_auth_users: user -> bcrypt hash ($2a$, $2b$, $2y$). Empty: no authentication.
  std::map<std::string, std::string> users;
};

// Parses and validates the YAML text (no file is read: cert_file etc. stay paths). On error
// returns reason "config" and one line saying what is wrong and where, never a secret.
Status ParseWebConfig(std::string_view yaml_text, WebConfig* out);

// Reads `path`, parses it, resolves relative file names against its folder, reads the
// certificate, key and client CA files and checks that a TLS context can be built from them.
// Errors name the file.
Status LoadWebConfig(const std::string& path, WebConfig* out);

// Checks a basic-auth password against bcrypt hashes, caching outcomes (bcrypt costs tens of
// milliseconds by design). Thread-safe. The cache is keyed by a SHA-256 of user, hash and
// password, so it holds no password, and a changed hash (reload) misses the cache.
class BasicAuthVerifier {
 public:
  // True when `user` is in `users` and `password` matches its hash. An unknown user costs the
  // same bcrypt as a known one, so timing does not reveal which users exist.
  bool Verify(const std::map<std::string, std::string>& users, std::string_view user,
              std::string_view password);

 private:
  static constexpr size_t kMaxCached = 256;
  std::mutex bcrypt_mu_;  // one bcrypt at a time: it is CPU-bound
  std::mutex cache_mu_;
  std::unordered_map<std::string, bool> cache_;  // guarded by cache_mu_
};

// True when `password` matches the bcrypt `hash` (libxcrypt's crypt_rn; constant-time compare).
bool BcryptMatches(std::string_view hash, std::string_view password);

}  // namespace kmb
