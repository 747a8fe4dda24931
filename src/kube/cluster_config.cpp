#include "kmb/kube/cluster_config.h"

#include <pwd.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string_view>
#include <vector>

#include "kmb/util/log.h"
#include "kube/file_util.h"

namespace kmb {
namespace {

namespace fs = std::filesystem;

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

// Everything needed to produce "kubeconfig <file>: <what>" errors.
struct Kubeconfig {
  std::string path;  // as given, for messages
  fs::path dir;      // relative paths inside the file resolve against this
  YAML::Node root;

  Status Error(const std::string& what) const {
    return Status::Error(reason::kConfig, "kubeconfig " + path + ": " + what);
  }
  std::string Resolve(const std::string& p) const {
    if (p.empty() || fs::path(p).is_absolute()) return p;
    return (dir / p).lexically_normal().string();
  }
};

// Reads an optional scalar field. Never puts the value into an error (it may be a secret).
Status GetString(const Kubeconfig& kc, const YAML::Node& map, const char* key,
                 const std::string& where, std::string* out) {
  const YAML::Node n = map[key];
  if (!n || n.IsNull()) return Status::Ok();
  if (!n.IsScalar()) return kc.Error(where + ": field " + key + " is not a string");
  *out = n.Scalar();
  return Status::Ok();
}

Status GetBool(const Kubeconfig& kc, const YAML::Node& map, const char* key,
               const std::string& where, bool* out) {
  const YAML::Node n = map[key];
  if (!n || n.IsNull()) return Status::Ok();
  bool v = false;
  if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) {
    return kc.Error(where + ": field " + key + " is not a boolean");
  }
  *out = v;
  return Status::Ok();
}

// "<what> <path>: cannot read (<errno text>)" without the content.
Status ReadReferencedFile(const Kubeconfig& kc, const std::string& where, const char* field,
                          const std::string& raw_path, std::string* out) {
  const std::string path = kc.Resolve(raw_path);
  std::string err;
  if (!ReadWholeFile(path, out, &err)) {
    return kc.Error(where + ": " + field + " " + path + ": cannot read (" + err + ")");
  }
  return Status::Ok();
}

// *-data wins over the file variant (as in client-go). Checks the result looks like PEM.
Status GetPem(const Kubeconfig& kc, const YAML::Node& map, const std::string& where,
              const char* file_key, const char* data_key, std::string* out,
              std::string* file_path = nullptr) {
  std::string data, file;
  if (Status st = GetString(kc, map, data_key, where, &data); !st.ok()) return st;
  if (Status st = GetString(kc, map, file_key, where, &file); !st.ok()) return st;
  const char* field = data_key;
  if (!data.empty()) {
    if (!DecodeBase64(data, out)) return kc.Error(where + ": " + data_key + " is not valid base64");
  } else if (!file.empty()) {
    if (Status st = ReadReferencedFile(kc, where, file_key, file, out); !st.ok()) return st;
    field = file_key;
    if (file_path) *file_path = kc.Resolve(file);
  } else {
    return Status::Ok();
  }
  if (out->find("-----BEGIN ") == std::string::npos) {
    out->clear();
    return kc.Error(where + ": " + field + " is not PEM");
  }
  return Status::Ok();
}

// Finds the entry `name` in a list of {name: ..., <inner>: {...}}; also collects all names.
// (std::optional because assigning to a YAML::Node rebinds the node it refers to.)
std::optional<YAML::Node> FindNamed(const YAML::Node& list, const std::string& name,
                                    const char* inner, std::vector<std::string>* names) {
  std::optional<YAML::Node> found;
  if (!list || !list.IsSequence()) return found;
  for (const YAML::Node& item : list) {
    if (!item.IsMap() || !item["name"] || !item["name"].IsScalar()) continue;
    const std::string n = item["name"].Scalar();
    if (names) names->push_back(n);
    if (n == name && !found) {
      found.emplace(item[inner]);
      if (!*found || found->IsNull()) found.emplace(YAML::NodeType::Map);
    }
  }
  return found;
}

std::string JoinOrNone(const std::vector<std::string>& v) {
  if (v.empty()) return "none";
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

// "host:port" -> "https://host:port"; drops trailing slashes.
std::string NormalizeServer(std::string s, const char* default_scheme) {
  if (s.find("://") == std::string::npos) s = std::string(default_scheme) + "://" + s;
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

bool HasHttpScheme(std::string_view s) {
  return s.starts_with("http://") || s.starts_with("https://");
}

Status LoadCluster(const Kubeconfig& kc, const std::string& name, const YAML::Node& c,
                   ClusterConfig* out) {
  const std::string where = "cluster " + Quote(name);
  if (!c.IsMap()) return kc.Error(where + " is not a map");
  if (Status st = GetString(kc, c, "server", where, &out->server); !st.ok()) return st;
  if (out->server.empty()) return kc.Error(where + " has no server");
  out->server = NormalizeServer(out->server, "https");
  if (!HasHttpScheme(out->server)) {
    return kc.Error(where + ": server " + out->server + " is not an http(s) URL");
  }
  if (Status st = GetPem(kc, c, where, "certificate-authority", "certificate-authority-data",
                         &out->ca_pem, &out->ca_file);
      !st.ok()) {
    return st;
  }
  if (Status st = GetBool(kc, c, "insecure-skip-tls-verify", where, &out->insecure_skip_tls_verify);
      !st.ok()) {
    return st;
  }
  if (Status st = GetString(kc, c, "tls-server-name", where, &out->tls_server_name); !st.ok()) {
    return st;
  }
  return GetString(kc, c, "proxy-url", where, &out->proxy_url);
}

// A user's `exec` block (client-go's ExecConfig). Values are never echoed into errors.
Status LoadExec(const Kubeconfig& kc, const std::string& name, const YAML::Node& e,
                ClusterConfig* out) {
  const std::string where = "user " + Quote(name) + ": exec";
  if (!e.IsMap()) return kc.Error(where + " is not a map");
  ExecConfig x;
  x.user = name;
  if (Status st = GetString(kc, e, "command", where, &x.command); !st.ok()) return st;
  if (x.command.empty()) return kc.Error(where + " has no command");
  // client-go: a relative path naming a folder resolves against the kubeconfig; a bare name
  // is looked up in $PATH.
  if (x.command.find('/') != std::string::npos) x.command = kc.Resolve(x.command);
  if (Status st = GetString(kc, e, "apiVersion", where, &x.api_version); !st.ok()) return st;
  if (x.api_version != "client.authentication.k8s.io/v1" &&
      x.api_version != "client.authentication.k8s.io/v1beta1") {
    return kc.Error(where + ": apiVersion " + Quote(x.api_version) +
                    " is not supported (want client.authentication.k8s.io/v1 or v1beta1)");
  }
  if (Status st = GetString(kc, e, "installHint", where, &x.install_hint); !st.ok()) return st;
  if (Status st = GetBool(kc, e, "provideClusterInfo", where, &x.provide_cluster_info); !st.ok()) {
    return st;
  }
  std::string mode;
  if (Status st = GetString(kc, e, "interactiveMode", where, &mode); !st.ok()) return st;
  if (mode.empty() && x.api_version.ends_with("/v1")) {
    return kc.Error(where + ": interactiveMode is required with apiVersion " + x.api_version +
                    " (use Never)");
  }
  if (!mode.empty()) {
    if (mode != "Never" && mode != "IfAvailable" && mode != "Always") {
      return kc.Error(where + ": interactiveMode " + Quote(mode) +
                      " is not one of Never, IfAvailable, Always");
    }
    x.interactive_mode = mode;
  }
  if (const YAML::Node args = e["args"]; args && !args.IsNull()) {
    if (!args.IsSequence()) return kc.Error(where + ": field args is not a list");
    for (const YAML::Node& a : args) {
      if (!a.IsScalar()) return kc.Error(where + ": an item of args is not a string");
      x.args.push_back(a.Scalar());
    }
  }
  if (const YAML::Node env = e["env"]; env && !env.IsNull()) {
    if (!env.IsSequence()) return kc.Error(where + ": field env is not a list");
    for (const YAML::Node& v : env) {
      std::string n, value;
      if (!v.IsMap()) return kc.Error(where + ": an item of env is not a map");
      if (Status st = GetString(kc, v, "name", where + " env", &n); !st.ok()) return st;
      if (Status st = GetString(kc, v, "value", where + " env", &value); !st.ok()) return st;
      if (n.empty() || n.find('=') != std::string::npos) {
        return kc.Error(where + ": an item of env has no valid name");
      }
      x.env.emplace_back(std::move(n), std::move(value));
    }
  }
  out->credentials.exec = std::move(x);
  return Status::Ok();
}

Status LoadUser(const Kubeconfig& kc, const std::string& name, const YAML::Node& u,
                ClusterConfig* out) {
  const std::string where = "user " + Quote(name);
  if (!u.IsMap()) return kc.Error(where + " is not a map");
  Credentials& cred = out->credentials;
  std::string token_file;
  if (Status st = GetString(kc, u, "token", where, &cred.token); !st.ok()) return st;
  if (Status st = GetString(kc, u, "tokenFile", where, &token_file); !st.ok()) return st;
  if (Status st = GetString(kc, u, "username", where, &out->username); !st.ok()) return st;
  if (Status st = GetString(kc, u, "password", where, &out->password); !st.ok()) return st;
  if (Status st = GetPem(kc, u, where, "client-certificate", "client-certificate-data",
                         &cred.client_cert_pem, &cred.client_cert_file);
      !st.ok()) {
    return st;
  }
  if (Status st = GetPem(kc, u, where, "client-key", "client-key-data", &cred.client_key_pem,
                         &cred.client_key_file);
      !st.ok()) {
    return st;
  }
  cred.token = TrimToken(cred.token);
  if (!token_file.empty()) {
    // The file wins when readable (client-go: "the last successfully read value takes
    // precedence"); the client re-reads it, so rotated tokens are picked up.
    cred.token_file = kc.Resolve(token_file);
    std::string content, err;
    if (ReadWholeFile(cred.token_file, &content, &err)) {
      cred.token = TrimToken(content);
    } else if (cred.token.empty()) {
      return kc.Error(where + ": tokenFile " + cred.token_file + ": cannot read (" + err + ")");
    }
  }
  if (cred.client_cert_pem.empty() != cred.client_key_pem.empty()) {
    return kc.Error(where + (cred.client_key_pem.empty()
                                 ? ": client-certificate without client-key"
                                 : ": client-key without client-certificate"));
  }
  const bool has_static = !cred.token.empty() || !cred.token_file.empty() ||
                          !cred.client_cert_pem.empty() || !out->username.empty();
  const bool has_exec = u["exec"] && !u["exec"].IsNull();
  const bool has_provider = u["auth-provider"] && !u["auth-provider"].IsNull();
  if (!has_static && has_exec) return LoadExec(kc, name, u["exec"], out);
  if (!has_static && has_provider) {
    return kc.Error(where + ": auth-provider plugins are not supported (use an exec plugin)");
  }
  if (has_exec || has_provider) {
    log::Warn("ignoring the credential plugin of a kubeconfig user, using its static credentials",
              {{"kubeconfig", kc.path}, {"user", name}});
  }
  return Status::Ok();
}

Status LoadKubeconfigFile(const std::string& path, const std::string& context_override,
                          ClusterConfig* out) {
  Kubeconfig kc;
  kc.path = path;
  std::error_code ec;
  fs::path abs = fs::absolute(path, ec);
  kc.dir = ec ? fs::path(path).parent_path() : abs.parent_path();

  std::string text, err;
  if (!ReadWholeFile(path, &text, &err)) return kc.Error("cannot read (" + err + ")");
  try {
    kc.root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    // e.msg is a fixed parser sentence; e.what() is not used as it might quote content.
    return kc.Error("not valid YAML at line " + std::to_string(e.mark.line + 1) + ", column " +
                    std::to_string(e.mark.column + 1) + " (" + e.msg + ")");
  } catch (const YAML::Exception&) {
    return kc.Error("not valid YAML");
  }
  if (!kc.root.IsMap()) return kc.Error("not a kubeconfig (top level is not a map)");

  try {
    std::string context_name = context_override;
    if (context_name.empty()) {
      if (Status st = GetString(kc, kc.root, "current-context", "top level", &context_name);
          !st.ok()) {
        return st;
      }
    }
    std::vector<std::string> contexts;
    if (context_name.empty()) {
      FindNamed(kc.root["contexts"], "", "context", &contexts);
      return kc.Error(
          "no current-context and no --context given (available: " + JoinOrNone(contexts) + ")");
    }
    std::optional<YAML::Node> found =
        FindNamed(kc.root["contexts"], context_name, "context", &contexts);
    if (!found) {
      return kc.Error("context " + Quote(context_name) +
                      " not found (available: " + JoinOrNone(contexts) + ")");
    }
    const YAML::Node& ctx = *found;
    if (!ctx.IsMap()) return kc.Error("context " + Quote(context_name) + " is not a map");
    const std::string ctx_where = "context " + Quote(context_name);
    std::string cluster_name, user_name;
    if (Status st = GetString(kc, ctx, "cluster", ctx_where, &cluster_name); !st.ok()) return st;
    if (Status st = GetString(kc, ctx, "user", ctx_where, &user_name); !st.ok()) return st;
    if (cluster_name.empty()) return kc.Error(ctx_where + " has no cluster");

    ClusterConfig cfg;
    std::optional<YAML::Node> cluster =
        FindNamed(kc.root["clusters"], cluster_name, "cluster", nullptr);
    if (!cluster) {
      return kc.Error(ctx_where + ": cluster " + Quote(cluster_name) + " not found");
    }
    if (Status st = LoadCluster(kc, cluster_name, *cluster, &cfg); !st.ok()) return st;
    if (!user_name.empty()) {
      std::optional<YAML::Node> user = FindNamed(kc.root["users"], user_name, "user", nullptr);
      if (!user) return kc.Error(ctx_where + ": user " + Quote(user_name) + " not found");
      if (Status st = LoadUser(kc, user_name, *user, &cfg); !st.ok()) return st;
    }
    cfg.origin = "kubeconfig " + path + " context " + context_name;
    *out = std::move(cfg);
    return Status::Ok();
  } catch (const YAML::Exception&) {
    // Defensive: the accessors above should not throw on any input.
    return kc.Error("unexpected structure");
  }
}

std::string HomeDir() {
  if (const char* h = std::getenv("HOME"); h && *h) return h;
  if (const passwd* pw = getpwuid(getuid()); pw && pw->pw_dir) return pw->pw_dir;
  return "";
}

bool IsRegularFile(const std::string& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

}  // namespace

Status LoadInClusterConfig(const InClusterPaths& paths, ClusterConfig* out) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host || !port || !*port) {
    return Status::Error(reason::kConfig,
                         "in-cluster service account: not running in a cluster "
                         "(KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set)");
  }
  std::string h = host;
  if (h.find(':') != std::string::npos && h.front() != '[') h = "[" + h + "]";  // IPv6

  ClusterConfig cfg;
  cfg.server = "https://" + h + ":" + port;
  std::string content, err;
  if (!ReadWholeFile(paths.token_file, &content, &err)) {
    return Status::Error(reason::kConfig, "in-cluster service account: token file " +
                                              paths.token_file + ": cannot read (" + err + ")");
  }
  cfg.credentials.token = TrimToken(content);
  // Projected tokens rotate; the client re-reads the file.
  cfg.credentials.token_file = paths.token_file;
  cfg.ca_file = paths.ca_file;
  if (!ReadWholeFile(paths.ca_file, &cfg.ca_pem, &err)) {
    return Status::Error(reason::kConfig, "in-cluster service account: CA file " + paths.ca_file +
                                              ": cannot read (" + err + ")");
  }
  cfg.origin = "in-cluster service account";
  *out = std::move(cfg);
  return Status::Ok();
}

Status LoadClusterConfig(const ClusterConfigOptions& options, ClusterConfig* out) {
  std::string apiserver;
  if (!options.apiserver.empty()) {
    apiserver = NormalizeServer(options.apiserver, "http");
    if (!HasHttpScheme(apiserver)) {
      return Status::Error(reason::kConfig,
                           "--apiserver " + options.apiserver + ": not an http(s) URL");
    }
  }
  if (!options.kubeconfig_path.empty()) {
    if (Status st = LoadKubeconfigFile(options.kubeconfig_path, options.context, out); !st.ok()) {
      return st;
    }
    if (!apiserver.empty()) {
      out->server = apiserver;
      out->origin += " with server from --apiserver " + apiserver;
    }
    return Status::Ok();
  }
  if (!apiserver.empty()) {
    ClusterConfig cfg;
    cfg.server = apiserver;
    cfg.origin = "--apiserver " + apiserver;
    *out = std::move(cfg);
    return Status::Ok();
  }

  // $KUBECONFIG may list several files; the first existing one is used (no merging).
  std::vector<std::string> tried;
  if (const char* env = std::getenv("KUBECONFIG"); env && *env) {
    std::stringstream ss(env);
    for (std::string p; std::getline(ss, p, ':');) {
      if (p.empty()) continue;
      if (IsRegularFile(p)) return LoadKubeconfigFile(p, options.context, out);
      tried.push_back("$KUBECONFIG " + p);
    }
  } else if (std::string home = HomeDir(); !home.empty()) {
    const std::string p = home + "/.kube/config";
    if (IsRegularFile(p)) return LoadKubeconfigFile(p, options.context, out);
    tried.push_back(p);
  }

  if (std::getenv("KUBERNETES_SERVICE_HOST")) return LoadInClusterConfig(InClusterPaths{}, out);
  std::string list;
  for (const auto& t : tried) list += (list.empty() ? "" : ", ") + t;
  return Status::Error(reason::kConfig,
                       "no cluster configuration: no --kubeconfig or --apiserver given, no "
                       "kubeconfig found (" +
                           (list.empty() ? std::string("no $HOME") : list) +
                           " missing) and not running in a cluster "
                           "(KUBERNETES_SERVICE_HOST is not set)");
}

ClusterConfig KubeletConfigFrom(const ClusterConfig& api) {
  ClusterConfig kc;
  kc.origin = "kubelets";
  kc.credentials = api.credentials;
  kc.ca_pem = api.ca_pem;
  kc.ca_file = api.ca_file;
  return kc;
}

}  // namespace kmb
