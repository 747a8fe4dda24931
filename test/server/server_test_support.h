#pragma once
// Helpers for the server tests: bcrypt hashes, certificates on disk, curl command lines.

#include <crypt.h>
#include <gtest/gtest.h>

#include <string>

#include "common/test_util.h"

namespace kmb::testing {

// A bcrypt hash of `password` at the lowest cost (fast; tests only).
inline std::string Bcrypt(const std::string& password) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  EXPECT_NE(crypt_gensalt_rn("$2b$", 4, nullptr, 0, salt, sizeof salt), nullptr);
  crypt_data data{};
  const char* hash = crypt_rn(password.c_str(), salt, &data, sizeof data);
  EXPECT_NE(hash, nullptr);
  return hash ? hash : "";
}

// A client certificate (extendedKeyUsage clientAuth) for `cn`, signed by the CA in the PEM files
// ca_cert/ca_key, written to cert/key with the openssl tool. Returns false with its output.
inline bool IssueClientCert(const std::string& ca_cert, const std::string& ca_key,
                            const std::string& cn, const std::string& cert, const std::string& key,
                            std::string* output) {
  const std::string ext = cert + ".ext";
  WriteFile(ext, "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n");
  return RunCommand("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " +
                        key + " -subj /CN=" + cn + " -out " + cert +
                        ".csr && openssl x509 -req -in " + cert + ".csr -CA " + ca_cert +
                        " -CAkey " + ca_key + " -CAcreateserial -days 1 -extfile " + ext +
                        " -out " + cert,
                    output) == 0;
}

}  // namespace kmb::testing
