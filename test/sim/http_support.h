#pragma once
// Test helpers for the simulator: a keep-alive HTTP(S) client on libcurl, JSON key-path sets
// and Kubernetes quantity parsing.

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

namespace kmb::sim::testing {

struct Response {
  long status = 0;
  std::string body;
  std::string content_type;
  std::string error;         // curl's message when the transfer failed
  long new_connections = 0;  // 0 when the request reused a kept-alive connection
  std::string content_encoding;  // the Content-Encoding header ("gzip"); the body is decoded
  nlohmann::json Json() const { return nlohmann::json::parse(body); }
};

// One curl handle, so successive requests reuse the connection.
class HttpClient {
 public:
  explicit HttpClient(std::string base_url, std::string token = "", std::string ca_pem = "");
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // `gzip`: send Accept-Encoding: gzip (libcurl decodes the answer); else no Accept-Encoding.
  Response Get(const std::string& path, bool gzip = false);

 private:
  void* curl_;
  std::string base_url_;
  std::string token_;
  std::string ca_pem_;
};

// Every key path under `j`: "cpu/psi/full/total". Array elements add "[]" and contribute the
// union of their paths. The value maps each path to its JSON type ("object", "number", ...).
std::map<std::string, std::string> KeyPaths(const nlohmann::json& j);
std::set<std::string> Keys(const std::map<std::string, std::string>& paths);

// "329087452n" -> 329087452; "500m" -> 500000000; "2" -> 2000000000.
uint64_t CpuNanos(const std::string& quantity);
// "2748180Ki" -> 2814136320; "1Gi"; plain bytes.
uint64_t Bytes(const std::string& quantity);

std::string ReadFile(const std::string& path);

}  // namespace kmb::sim::testing
