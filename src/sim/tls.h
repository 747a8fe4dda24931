#pragma once
// In-memory certificate authority for the simulator's HTTPS mode (OpenSSL 3).

#include <string>
#include <vector>

namespace kmb::sim {

struct TlsMaterial {
  std::string ca_cert_pem;
  std::string server_cert_pem;
  std::string server_key_pem;  // PKCS#8
  std::string ca_key_pem;      // to issue more serving certificates (kubelets)
};

// A self-signed EC P-256 CA and a serving certificate it signs, valid for the given IP
// addresses and DNS names (subjectAltName). Returns false with *error set on failure.
bool GenerateTlsMaterial(const std::vector<std::string>& ips,
                         const std::vector<std::string>& dns_names, TlsMaterial* out,
                         std::string* error);

// Another serving certificate from the CA in `ca` (ca_cert_pem, ca_key_pem), named
// `common_name`, for the given SANs; fills out->server_cert_pem/server_key_pem and copies the CA.
// With `ips` empty the certificate has no IP SAN, like a kubelet's self-signed default.
// `expired`: valid from two days ago until yesterday (the tls-expired fault).
bool IssueServingCert(const TlsMaterial& ca, const std::string& common_name,
                      const std::vector<std::string>& ips,
                      const std::vector<std::string>& dns_names, TlsMaterial* out,
                      std::string* error, bool expired = false);

// A client certificate from the CA in `ca` (ca_cert_pem, ca_key_pem) for the user
// `common_name` (extendedKeyUsage clientAuth; the API server maps CN to the user name and O to
// its groups); fills out->server_cert_pem/server_key_pem (the cert and key) and copies the CA.
bool IssueClientCert(const TlsMaterial& ca, const std::string& common_name, TlsMaterial* out,
                     std::string* error);

}  // namespace kmb::sim
