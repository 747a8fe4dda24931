#include "sim/tls.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <functional>
#include <memory>
#include <utility>

namespace kmb::sim {
namespace {

template <auto Fn>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Fn(p);
  }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using CertPtr = std::unique_ptr<X509, Deleter<X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;

std::string OpenSslError(const char* what) {
  char buf[256];
  const unsigned long code = ERR_get_error();
  if (code == 0) return std::string(what) + " failed";
  ERR_error_string_n(code, buf, sizeof(buf));
  ERR_clear_error();
  return std::string(what) + ": " + buf;
}

bool AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

// A certificate for `key` named `common_name`, signed by issuer/issuer_key (self-signed when
// issuer is null), with the given extensions (nid, value) in order.
// Valid from an hour ago for a year, or (expired) from two days ago to yesterday.
CertPtr MakeCert(EVP_PKEY* key, const char* common_name, X509* issuer, EVP_PKEY* issuer_key,
                 const std::vector<std::pair<int, std::string>>& extensions, std::string* error,
                 bool expired = false) {
  CertPtr cert(X509_new());
  if (!cert) {
    *error = OpenSslError("X509_new");
    return nullptr;
  }
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof(serial)) != 1) {
    *error = OpenSslError("RAND_bytes");
    return nullptr;
  }
  serial[0] &= 0x7f;  // positive
  BnPtr bn(BN_bin2bn(serial, sizeof(serial), nullptr));
  X509_NAME* name = X509_get_subject_name(cert.get());
  const bool ok =
      X509_set_version(cert.get(), 2) == 1 && bn &&
      BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get())) != nullptr &&
      X509_gmtime_adj(X509_getm_notBefore(cert.get()), expired ? -2 * 86400 : -3600) != nullptr &&
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), expired ? -86400 : 365L * 86400) != nullptr &&
      X509_set_pubkey(cert.get(), key) == 1 &&
      X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>("kube-metrics-bridge"), -1,
                                 -1, 0) == 1 &&
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>(common_name), -1, -1,
                                 0) == 1 &&
      X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name) == 1;
  if (!ok) {
    *error = OpenSslError("building the certificate");
    return nullptr;
  }
  X509* signer = issuer ? issuer : cert.get();
  for (const auto& [nid, value] : extensions) {
    if (!AddExtension(cert.get(), signer, nid, value)) {
      *error = OpenSslError(("certificate extension " + value).c_str());
      return nullptr;
    }
  }
  if (X509_sign(cert.get(), issuer_key ? issuer_key : key, EVP_sha256()) == 0) {
    *error = OpenSslError("X509_sign");
    return nullptr;
  }
  return cert;
}

bool ToPem(const std::function<int(BIO*)>& write, std::string* out) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || write(bio.get()) != 1) return false;
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  out->assign(data, static_cast<size_t>(len));
  return true;
}

std::string SanList(const std::vector<std::string>& ips,
                    const std::vector<std::string>& dns_names) {
  std::string san;
  for (const std::string& ip : ips) san += (san.empty() ? "IP:" : ",IP:") + ip;
  for (const std::string& dns : dns_names) san += (san.empty() ? "DNS:" : ",DNS:") + dns;
  return san;
}

CertPtr MakeServingCert(EVP_PKEY* key, const char* common_name, X509* ca, EVP_PKEY* ca_key,
                        const std::string& san, std::string* error, bool expired = false) {
  return MakeCert(key, common_name, ca, ca_key,
                  {{NID_basic_constraints, "critical,CA:FALSE"},
                   {NID_key_usage, "critical,digitalSignature"},
                   {NID_ext_key_usage, "serverAuth"},
                   {NID_subject_key_identifier, "hash"},
                   {NID_authority_key_identifier, "keyid:always"},
                   {NID_subject_alt_name, san}},
                  error, expired);
}

bool KeyToPem(EVP_PKEY* key, std::string* out) {
  return ToPem(
      [&](BIO* b) {
        return PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
      },
      out);
}

bool CertToPem(X509* cert, std::string* out) {
  return ToPem([&](BIO* b) { return PEM_write_bio_X509(b, cert); }, out);
}

}  // namespace

bool GenerateTlsMaterial(const std::vector<std::string>& ips,
                         const std::vector<std::string>& dns_names, TlsMaterial* out,
                         std::string* error) {
  KeyPtr ca_key(EVP_EC_gen("P-256"));
  KeyPtr server_key(EVP_EC_gen("P-256"));
  if (!ca_key || !server_key) {
    *error = OpenSslError("EVP_EC_gen(P-256)");
    return false;
  }
  CertPtr ca = MakeCert(ca_key.get(), "kmb-sim-ca", nullptr, nullptr,
                        {{NID_basic_constraints, "critical,CA:TRUE"},
                         {NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature"},
                         {NID_subject_key_identifier, "hash"}},
                        error);
  if (!ca) return false;
  CertPtr server = MakeServingCert(server_key.get(), "kmb-sim", ca.get(), ca_key.get(),
                                   SanList(ips, dns_names), error);
  if (!server) return false;

  const bool ok = CertToPem(ca.get(), &out->ca_cert_pem) &&
                  KeyToPem(ca_key.get(), &out->ca_key_pem) &&
                  CertToPem(server.get(), &out->server_cert_pem) &&
                  KeyToPem(server_key.get(), &out->server_key_pem);
  if (!ok) *error = OpenSslError("PEM encoding");
  return ok;
}

namespace {

// A leaf certificate from the CA in `ca` for a new key, built by `make`; fills
// out->server_cert_pem/server_key_pem and copies the CA certificate.
bool IssueLeaf(const TlsMaterial& ca, TlsMaterial* out, std::string* error,
               const std::function<CertPtr(EVP_PKEY* key, X509* ca_cert, EVP_PKEY* ca_key)>& make) {
  BioPtr cert_bio(BIO_new_mem_buf(ca.ca_cert_pem.data(), static_cast<int>(ca.ca_cert_pem.size())));
  BioPtr key_bio(BIO_new_mem_buf(ca.ca_key_pem.data(), static_cast<int>(ca.ca_key_pem.size())));
  CertPtr ca_cert(cert_bio ? PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr)
                           : nullptr);
  KeyPtr ca_key(key_bio ? PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr)
                        : nullptr);
  KeyPtr key(EVP_EC_gen("P-256"));
  if (!ca_cert || !ca_key || !key) {
    *error = OpenSslError("loading the CA");
    return false;
  }
  CertPtr cert = make(key.get(), ca_cert.get(), ca_key.get());
  if (!cert) return false;
  out->ca_cert_pem = ca.ca_cert_pem;
  out->ca_key_pem.clear();
  if (!CertToPem(cert.get(), &out->server_cert_pem) || !KeyToPem(key.get(), &out->server_key_pem)) {
    *error = OpenSslError("PEM encoding");
    return false;
  }
  return true;
}

}  // namespace

bool IssueServingCert(const TlsMaterial& ca, const std::string& common_name,
                      const std::vector<std::string>& ips,
                      const std::vector<std::string>& dns_names, TlsMaterial* out,
                      std::string* error, bool expired) {
  return IssueLeaf(ca, out, error, [&](EVP_PKEY* key, X509* ca_cert, EVP_PKEY* ca_key) {
    return MakeServingCert(key, common_name.c_str(), ca_cert, ca_key, SanList(ips, dns_names),
                           error, expired);
  });
}

bool IssueClientCert(const TlsMaterial& ca, const std::string& common_name, TlsMaterial* out,
                     std::string* error) {
  return IssueLeaf(ca, out, error, [&](EVP_PKEY* key, X509* ca_cert, EVP_PKEY* ca_key) {
    return MakeCert(key, common_name.c_str(), ca_cert, ca_key,
                    {{NID_basic_constraints, "critical,CA:FALSE"},
                     {NID_key_usage, "critical,digitalSignature"},
                     {NID_ext_key_usage, "clientAuth"},
                     {NID_authority_key_identifier, "keyid:always"}},
                    error);
  });
}

}  // namespace kmb::sim
