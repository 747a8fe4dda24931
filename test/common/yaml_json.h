#pragma once
// YAML documents (Kubernetes manifests, Prometheus rule files) as nlohmann::json, so that tests
// can walk them with one API. Scalars become strings (YAML 1.2 core typing is not needed to
// compare manifests or read PromQL expressions).

#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace kmb::testing {

inline nlohmann::json YamlToJson(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Sequence: {
      nlohmann::json a = nlohmann::json::array();
      for (const auto& e : n) a.push_back(YamlToJson(e));
      return a;
    }
    case YAML::NodeType::Map: {
      nlohmann::json o = nlohmann::json::object();
      for (const auto& kv : n) o[kv.first.as<std::string>()] = YamlToJson(kv.second);
      return o;
    }
    case YAML::NodeType::Scalar:
      return n.as<std::string>();
    default:
      return nullptr;
  }
}

// Every non-empty document of a (multi-document) YAML text.
inline std::vector<nlohmann::json> ParseYamlDocuments(const std::string& text) {
  std::vector<nlohmann::json> out;
  for (const auto& doc : YAML::LoadAll(text)) {
    if (doc.IsNull()) continue;
    out.push_back(YamlToJson(doc));
  }
  return out;
}

}  // namespace kmb::testing
