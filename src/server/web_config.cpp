#include "kmb/server/web_config.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace kmb {
namespace {

// A parse error carrying the YAML position it is about.
struct ConfigError {
  std::string message;
};

std::string Where(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  if (mark.line < 0) return "";
  return "line " + std::to_string(mark.line + 1) + ": ";
}

[[noreturn]] void Fail(const YAML::Node& node, const std::string& message) {
  throw ConfigError{Where(node) + message};
}

// Calls `field(key, value)` for each entry of a mapping; duplicate keys are errors.
template <typename F>
void ForEachEntry(const YAML::Node& map, std::string_view what, F&& field) {
  if (!map.IsDefined() || map.IsNull()) return;
  if (!map.IsMap()) Fail(map, std::string(what) + " must be a mapping");
  std::set<std::string> seen;
  for (const auto& entry : map) {
    if (!entry.first.IsScalar()) Fail(entry.first, std::string(what) + ": a key is not a string");
    const std::string key = entry.first.Scalar();
    if (!seen.insert(key).second) {
      Fail(entry.first, "duplicate key \"" + key + "\" in " + std::string(what));
    }
    field(key, entry.first, entry.second);
  }
}

std::string String(const YAML::Node& key, const YAML::Node& value) {
  if (value.IsNull()) return "";
  if (!value.IsScalar()) Fail(value, key.Scalar() + " must be a string");
  return value.Scalar();
}

bool Bool(const YAML::Node& key, const YAML::Node& value) {
  bool b = false;
  if (!value.IsScalar() || !YAML::convert<bool>::decode(value, b)) {
    Fail(value, key.Scalar() + " must be true or false");
  }
  return b;
}

std::vector<std::string> Strings(const YAML::Node& key, const YAML::Node& value) {
  std::vector<std::string> out;
  if (value.IsNull()) return out;
  if (!value.IsSequence()) Fail(value, key.Scalar() + " must be a list of strings");
  for (const auto& item : value) {
    if (!item.IsScalar()) Fail(item, key.Scalar() + " must be a list of strings");
    out.push_back(item.Scalar());
  }
  return out;
}

int TlsVersion(const YAML::Node& key, const YAML::Node& value) {
  const std::string v = String(key, value);
  if (v == "TLS10") return net::kTls10;
  if (v == "TLS11") return net::kTls11;
  if (v == "TLS12") return net::kTls12;
  if (v == "TLS13") return net::kTls13;
  Fail(value, "unknown TLS version \"" + v + "\" for " + key.Scalar() +
                  " (known: TLS10, TLS11, TLS12, TLS13)");
}

net::ClientAuth ClientAuthType(const YAML::Node& key, const YAML::Node& value) {
  const std::string v = String(key, value);
  if (v.empty() || v == "NoClientCert") return net::ClientAuth::kNoClientCert;
  if (v == "RequestClientCert") return net::ClientAuth::kRequestClientCert;
  // RequireClientCert is the exporter-toolkit's older spelling.
  if (v == "RequireAnyClientCert" || v == "RequireClientCert") {
    return net::ClientAuth::kRequireAnyClientCert;
  }
  if (v == "VerifyClientCertIfGiven") return net::ClientAuth::kVerifyClientCertIfGiven;
  if (v == "RequireAndVerifyClientCert") return net::ClientAuth::kRequireAndVerifyClientCert;
  Fail(value, "unknown client_auth_type \"" + v +
                  "\" (known: NoClientCert, RequestClientCert, RequireAnyClientCert, "
                  "VerifyClientCertIfGiven, RequireAndVerifyClientCert)");
}

// The headers the exporter-toolkit lets a web config set, with their allowed values (none
// listed: any value).
const std::map<std::string, std::vector<std::string>>& AllowedHeaders() {
  static const auto* headers = new std::map<std::string, std::vector<std::string>>{
      {"Strict-Transport-Security", {}},
      {"X-Content-Type-Options", {"nosniff"}},
      {"X-Frame-Options", {"deny", "sameorigin"}},
      {"X-XSS-Protection", {}},
      {"Content-Security-Policy", {}},
  };
  return *headers;
}

// A bcrypt hash: $2a$, $2b$ or $2y$, a two-digit cost 04..31, 53 characters of salt and hash.
bool IsBcryptHash(std::string_view h) {
  if (h.size() != 60 || h[0] != '$' || h[1] != '2' || h[3] != '$' || h[6] != '$') return false;
  if (h[2] != 'a' && h[2] != 'b' && h[2] != 'y') return false;
  if (!std::isdigit(static_cast<unsigned char>(h[4])) ||
      !std::isdigit(static_cast<unsigned char>(h[5]))) {
    return false;
  }
  const int cost = (h[4] - '0') * 10 + (h[5] - '0');
  if (cost < 4 || cost > 31) return false;
  for (char c : h.substr(7)) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '/') return false;
  }
  return true;
}

void ParseTls(const YAML::Node& node, WebConfig* out) {
  net::TlsServerSettings& tls = out->tls;
  bool client_auth_set = false;
  ForEachEntry(
      node, "tls_server_config",
      [&](const std::string& k, const YAML::Node& key, const YAML::Node& v) {
        if (k == "cert") {
          tls.cert_pem = String(key, v);
        } else if (k == "key") {
          tls.key_pem = String(key, v);
        } else if (k == "client_ca") {
          tls.client_ca_pem = String(key, v);
        } else if (k == "cert_file") {
          out->cert_file = String(key, v);
        } else if (k == "key_file") {
          out->key_file = String(key, v);
        } else if (k == "client_ca_file") {
          out->client_ca_file = String(key, v);
        } else if (k == "client_auth_type") {
          client_auth_set = !String(key, v).empty();
          tls.client_auth = ClientAuthType(key, v);
        } else if (k == "min_version") {
          tls.min_version = TlsVersion(key, v);
        } else if (k == "max_version") {
          tls.max_version = TlsVersion(key, v);
        } else if (k == "cipher_suites") {
          tls.cipher_suites = Strings(key, v);
        } else if (k == "curve_preferences") {
          tls.curves = Strings(key, v);
        } else if (k == "prefer_server_cipher_suites") {
          tls.prefer_server_cipher_suites = Bool(key, v);
        } else if (k == "client_allowed_sans") {
          // Ignoring it would let in clients the file means to keep out.
          Fail(key,
               "tls_server_config.client_allowed_sans is not supported by kube-metrics-bridge");
        } else {
          Fail(key, "unknown key \"" + k + "\" in tls_server_config");
        }
      });
  out->tls_enabled = !out->cert_file.empty() || !tls.cert_pem.empty() || !out->key_file.empty() ||
                     !tls.key_pem.empty() || !out->client_ca_file.empty() ||
                     !tls.client_ca_pem.empty() || client_auth_set;
  if (!out->tls_enabled) return;
  if (out->cert_file.empty() == tls.cert_pem.empty()) {
    Fail(node, out->cert_file.empty()
                   ? "tls_server_config: missing one of cert or cert_file"
                   : "tls_server_config: cert and cert_file are both set; keep one");
  }
  if (out->key_file.empty() == tls.key_pem.empty()) {
    Fail(node, out->key_file.empty()
                   ? "tls_server_config: missing one of key or key_file"
                   : "tls_server_config: key and key_file are both set; keep one");
  }
  if (!out->client_ca_file.empty() && !tls.client_ca_pem.empty()) {
    Fail(node, "tls_server_config: client_ca and client_ca_file are both set; keep one");
  }
  const bool has_ca = !out->client_ca_file.empty() || !tls.client_ca_pem.empty();
  if (has_ca && tls.client_auth == net::ClientAuth::kNoClientCert) {
    Fail(node, "tls_server_config: a client CA is configured without a client_auth_type");
  }
  const bool verifies = tls.client_auth == net::ClientAuth::kVerifyClientCertIfGiven ||
                        tls.client_auth == net::ClientAuth::kRequireAndVerifyClientCert;
  if (verifies && !has_ca) {
    Fail(node,
         "tls_server_config: client_auth_type verifies client certificates but no "
         "client_ca_file is set");
  }
  if (tls.max_version < tls.min_version) {
    Fail(node, "tls_server_config: max_version is below min_version");
  }
}

void ParseHttp(const YAML::Node& node, WebConfig* out) {
  ForEachEntry(node, "http_server_config",
               [&](const std::string& k, const YAML::Node& key, const YAML::Node& v) {
                 if (k == "http2") {
                   out->http2 = Bool(key, v);
                 } else if (k == "headers") {
                   ForEachEntry(
                       v, "http_server_config.headers",
                       [&](const std::string& name, const YAML::Node& hkey, const YAML::Node& hv) {
                         auto allowed = AllowedHeaders().find(name);
                         if (allowed == AllowedHeaders().end()) {
                           Fail(hkey, "HTTP header \"" + name + "\" can not be configured");
                         }
                         std::string value = String(hkey, hv);
                         if (value.find_first_of("\r\n") != std::string::npos) {
                           Fail(hv, "the value of HTTP header \"" + name + "\" spans lines");
                         }
                         const auto& values = allowed->second;
                         if (!values.empty() &&
                             std::find(values.begin(), values.end(), value) == values.end()) {
                           std::string known;
                           for (const auto& a : values) known += (known.empty() ? "" : ", ") + a;
                           Fail(hv, "invalid value \"" + value + "\" for HTTP header " + name +
                                        " (expected one of: " + known + ")");
                         }
                         if (!value.empty()) out->headers[name] = value;  // blank: unset
                       });
                 } else {
                   Fail(key, "unknown key \"" + k + "\" in http_server_config");
                 }
               });
}

void ParseUsers(const YAML::Node& node, WebConfig* out) {
  ForEachEntry(
      node, "basic_auth_users",
      [&](const std::string& user, const YAML::Node& key, const YAML::Node& v) {
        if (!v.IsScalar())
          Fail(v, "basic_auth_users: the hash of user \"" + user + "\" is not a string");
        // The hash is a secret too: the message never quotes it.
        if (!IsBcryptHash(v.Scalar())) {
          Fail(v, "basic_auth_users: the hash of user \"" + user +
                      "\" is not a bcrypt hash ($2a$, $2b$ or $2y$, e.g. from htpasswd -nBC 10)");
        }
        if (user.find(':') != std::string::npos) {
          Fail(key, "basic_auth_users: user name \"" + user + "\" contains ':'");
        }
        out->users[user] = v.Scalar();
      });
}

std::string ResolvePath(const std::filesystem::path& dir, const std::string& file) {
  if (file.empty() || std::filesystem::path(file).is_absolute()) return file;
  return (dir / file).string();
}

Status ReadWholeFile(const std::string& what, const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status::Error(reason::kConfig,
                         "cannot read " + what + " " + path + ": " + std::strerror(errno));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return Status::Ok();
}

}  // namespace

Status ParseWebConfig(std::string_view yaml_text, WebConfig* out) {
  *out = WebConfig{};
  try {
    const YAML::Node root = YAML::Load(std::string(yaml_text));
    if (!root.IsDefined() || root.IsNull()) return Status::Ok();  // empty file: plain HTTP
    ForEachEntry(
        root, "the web config",
        [&](const std::string& k, const YAML::Node& key, const YAML::Node& v) {
          if (k == "tls_server_config") {
            ParseTls(v, out);
          } else if (k == "http_server_config") {
            ParseHttp(v, out);
          } else if (k == "basic_auth_users") {
            ParseUsers(v, out);
          } else if (k == "rate_limit") {
            Fail(key, "rate_limit is not supported by kube-metrics-bridge");
          } else {
            Fail(key, "unknown key \"" + k +
                          "\" (known: tls_server_config, http_server_config, basic_auth_users)");
          }
        });
  } catch (const ConfigError& e) {
    *out = WebConfig{};
    return Status::Error(reason::kConfig, e.message);
  } catch (const YAML::Exception& e) {
    // yaml-cpp's own message names the position and the problem, not the text around it.
    *out = WebConfig{};
    return Status::Error(reason::kConfig, "not valid YAML: " + std::string(e.what()));
  }
  return Status::Ok();
}

Status LoadWebConfig(const std::string& path, WebConfig* out) {
  std::string text;
  Status st = ReadWholeFile("the web config file", path, &text);
  if (!st.ok()) return st;
  WebConfig config;
  st = ParseWebConfig(text, &config);
  if (!st.ok()) return Status::Error(st.reason(), path + ": " + st.message());
  if (config.tls_enabled) {
    const std::filesystem::path dir = std::filesystem::path(path).parent_path();
    config.cert_file = ResolvePath(dir, config.cert_file);
    config.key_file = ResolvePath(dir, config.key_file);
    config.client_ca_file = ResolvePath(dir, config.client_ca_file);
    if (!config.cert_file.empty())
      st = ReadWholeFile("cert_file", config.cert_file, &config.tls.cert_pem);
    if (st.ok() && !config.key_file.empty())
      st = ReadWholeFile("key_file", config.key_file, &config.tls.key_pem);
    if (st.ok() && !config.client_ca_file.empty()) {
      st = ReadWholeFile("client_ca_file", config.client_ca_file, &config.tls.client_ca_pem);
    }
    if (!st.ok()) return Status::Error(st.reason(), path + ": " + st.message());
    std::string error;
    if (!net::MakeTlsServerContext(config.tls, &error)) {
      return Status::Error(reason::kConfig, path + ": tls_server_config: " + error);
    }
  }
  *out = std::move(config);
  return Status::Ok();
}

bool BcryptMatches(std::string_view hash, std::string_view password) {
  const std::string setting(hash);
  const std::string phrase(password);
  if (phrase.find('\0') != std::string::npos) return false;
  auto data = std::make_unique<crypt_data>();  // ~32 KB: not on the stack
  std::memset(data.get(), 0, sizeof(crypt_data));
  const char* result = crypt_rn(phrase.c_str(), setting.c_str(), data.get(), sizeof(crypt_data));
  const bool match = result != nullptr && result[0] != '*' && std::strlen(result) == hash.size() &&
                     CRYPTO_memcmp(result, hash.data(), hash.size()) == 0;
  OPENSSL_cleanse(data.get(), sizeof(crypt_data));
  return match;
}

bool BasicAuthVerifier::Verify(const std::map<std::string, std::string>& users,
                               std::string_view user, std::string_view password) {
  // A bcrypt hash of a password nobody has, checked for unknown users so that they cost the
  // same time as known ones.
  static constexpr std::string_view kDecoy =
      "$2b$10$lyZ6bp3THDDZ7WpK4a2rK.ZYA5wBb6rQp.bVNXkBM/6UnNpH7FqOO";
  auto it = users.find(std::string(user));
  const bool known = it != users.end();
  const std::string_view hash = known ? std::string_view(it->second) : kDecoy;

  // SHA-256 of the three fields, each length-prefixed so they cannot run into one another.
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  EVP_DigestInit_ex(md, EVP_sha256(), nullptr);
  for (std::string_view part : {user, hash, password}) {
    const uint64_t n = part.size();
    EVP_DigestUpdate(md, &n, sizeof n);
    EVP_DigestUpdate(md, part.data(), part.size());
  }
  EVP_DigestFinal_ex(md, digest, &digest_len);
  EVP_MD_CTX_free(md);
  const std::string key(reinterpret_cast<const char*>(digest), digest_len);
  {
    std::lock_guard<std::mutex> lock(cache_mu_);
    auto cached = cache_.find(key);
    if (cached != cache_.end()) return cached->second && known;
  }
  bool ok;
  {
    std::lock_guard<std::mutex> lock(bcrypt_mu_);
    ok = BcryptMatches(hash, password);
  }
  std::lock_guard<std::mutex> lock(cache_mu_);
  if (cache_.size() >= kMaxCached) cache_.clear();  // bounded: a flood of guesses cannot grow it
  cache_[key] = ok && known;
  return ok && known;
}

}  // namespace kmb
