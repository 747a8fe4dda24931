#pragma once
// A connection probe below the HTTP client: DNS, TCP and TLS step by step, with the peer
// certificate's names and expiry, and one credential-free request for the Date header. It says
// *which* step failed and why (e.g. which SAN is missing), which libcurl's one error cannot.

#include <cstdint>
#include <string>
#include <vector>

namespace kmb::doctor {

struct Endpoint {
  std::string scheme;  // "https" or "http"
  std::string host;    // without brackets
  int port = 0;
};
// "https://host:6443/..." -> {https, host, 6443}; false when it is not such a URL.
bool ParseEndpoint(const std::string& url, Endpoint* out);

struct ProbeOptions {
  std::string ca_pem;       // trusted CAs; empty = the system's
  std::string server_name;  // the name the certificate must carry; empty = the host
  double timeout_seconds = 5;
};

struct ProbeResult {
  // Each step: ok, or an error in plain words. A step after a failed one is not run.
  std::string dns_error, connect_error, tls_error, http_error;
  bool dns_done = false, connected = false, tls_done = false, http_done = false;
  std::vector<std::string> addresses;
  double dns_seconds = 0, connect_seconds = 0, tls_seconds = 0;
  // TLS: the chain verification result (against options.ca_pem) and the name check, apart.
  bool chain_verified = false;
  std::string chain_error;  // OpenSSL's words when not verified
  bool name_matches = false;
  std::vector<std::string> sans;  // "IP:127.0.0.1", "DNS:node-1"
  std::string subject;
  int64_t not_after_unix = 0;
  // HTTP: GET /healthz without credentials.
  int http_status = 0;
  int64_t date_unix = 0;  // the Date header; 0 when absent
};

ProbeResult Probe(const Endpoint& endpoint, const ProbeOptions& options);

// The notAfter of each certificate in a PEM bundle (Unix seconds), in order. Empty when none
// parses.
std::vector<int64_t> CertificateExpiries(const std::string& pem);

}  // namespace kmb::doctor
