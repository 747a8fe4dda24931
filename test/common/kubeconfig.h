#pragma once
// A kubeconfig written for a test: one cluster, one user, one context (JSON, which is YAML).

#include <nlohmann/json.hpp>
#include <string>

#include "common/test_util.h"

namespace kmb::testing {

// Writes to `path` a kubeconfig whose cluster is at `server`, with the fields of `cluster`
// besides (its CA: "certificate-authority" or "certificate-authority-data"), and whose user is
// `user` (token, client certificate, exec plugin). Returns `path`.
inline std::string WriteKubeconfig(const std::string& path, const std::string& server,
                                   nlohmann::json cluster, const nlohmann::json& user) {
  cluster["server"] = server;
  const nlohmann::json cfg = {
      {"apiVersion", "v1"},
      {"kind", "Config"},
      {"clusters", {{{"name", "sim"}, {"cluster", cluster}}}},
      {"users", {{{"name", "u"}, {"user", user}}}},
      {"contexts", {{{"name", "c"}, {"context", {{"cluster", "sim"}, {"user", "u"}}}}}},
      {"current-context", "c"}};
  WriteFile(path, cfg.dump());
  return path;
}

}  // namespace kmb::testing
