#include "sim/http_support.h"

#include <curl/curl.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace kmb::sim::testing {
namespace {

size_t Append(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

void Walk(const nlohmann::json& j, const std::string& prefix,
          std::map<std::string, std::string>* out) {
  if (j.is_object()) {
    for (const auto& [key, value] : j.items()) {
      const std::string path = prefix.empty() ? key : prefix + "/" + key;
      (*out)[path] = value.type_name();
      Walk(value, path, out);
    }
  } else if (j.is_array()) {
    for (const auto& e : j) Walk(e, prefix + "[]", out);
  }
}

uint64_t Scaled(const std::string& q, const std::map<std::string, uint64_t>& suffixes) {
  size_t digits = 0;
  while (digits < q.size() && q[digits] >= '0' && q[digits] <= '9') ++digits;
  const uint64_t mantissa = std::stoull(q.substr(0, digits));
  const std::string suffix = q.substr(digits);
  const auto it = suffixes.find(suffix);
  if (it == suffixes.end()) throw std::invalid_argument("unexpected quantity " + q);
  return mantissa * it->second;
}

}  // namespace

HttpClient::HttpClient(std::string base_url, std::string token, std::string ca_pem)
    : base_url_(std::move(base_url)), token_(std::move(token)), ca_pem_(std::move(ca_pem)) {
  static const bool initialized = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  (void)initialized;
  curl_ = curl_easy_init();
}

HttpClient::~HttpClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

Response HttpClient::Get(const std::string& path, bool gzip) {
  CURL* c = static_cast<CURL*>(curl_);
  Response r;
  const std::string url = base_url_ + path;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, gzip ? "gzip" : nullptr);
  curl_slist* headers = nullptr;
  const std::string auth = "Authorization: Bearer " + token_;
  if (!token_.empty()) headers = curl_slist_append(headers, auth.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  if (!ca_pem_.empty()) {
    curl_blob blob{ca_pem_.data(), ca_pem_.size(), CURL_BLOB_COPY};
    curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob);
  }
  char error[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  const CURLcode code = curl_easy_perform(c);
  curl_slist_free_all(headers);
  if (code != CURLE_OK) {
    r.error = error[0] ? error : curl_easy_strerror(code);
    return r;
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &r.new_connections);
  char* type = nullptr;
  curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &type);
  if (type) r.content_type = type;
  curl_header* encoding = nullptr;
  if (curl_easy_header(c, "Content-Encoding", 0, CURLH_HEADER, -1, &encoding) == CURLHE_OK) {
    r.content_encoding = encoding->value;
  }
  return r;
}

std::map<std::string, std::string> KeyPaths(const nlohmann::json& j) {
  std::map<std::string, std::string> out;
  Walk(j, "", &out);
  return out;
}

std::set<std::string> Keys(const std::map<std::string, std::string>& paths) {
  std::set<std::string> keys;
  for (const auto& [k, v] : paths) keys.insert(k);
  return keys;
}

uint64_t CpuNanos(const std::string& q) {
  static const std::map<std::string, uint64_t> kSuffixes = {
      {"n", 1}, {"u", 1000}, {"m", 1000000}, {"", 1000000000}, {"k", 1000000000000}};
  return Scaled(q, kSuffixes);
}

uint64_t Bytes(const std::string& q) {
  static const std::map<std::string, uint64_t> kSuffixes = {
      {"", 1},           {"k", 1000}, {"Ki", 1ull << 10}, {"Mi", 1ull << 20}, {"Gi", 1ull << 30},
      {"Ti", 1ull << 40}};
  return Scaled(q, kSuffixes);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace kmb::sim::testing
