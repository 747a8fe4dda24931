#include "kmb/server/web_config.h"

#include <gtest/gtest.h>

#include <string>

#include "common/test_util.h"
#include "server/server_test_support.h"

namespace kmb {
namespace {

using testing::Bcrypt;

constexpr const char* kHash = "$2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG";

TEST(WebConfig, ParsesEveryExporterToolkitKey) {
  WebConfig c;
  const std::string yaml = std::string(R"(
tls_server_config:
  cert_file: server.crt
  key_file: server.key
  client_ca_file: ca.crt
  client_auth_type: RequireAndVerifyClientCert
  min_version: TLS13
  max_version: TLS13
  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]
  curve_preferences: [X25519, CurveP256]
  prefer_server_cipher_suites: false
http_server_config:
  http2: false
  headers:
    X-Frame-Options: deny
    X-Content-Type-Options: nosniff
    Strict-Transport-Security: max-age=31536000
    Content-Security-Policy: ""
basic_auth_users:
  alice: )") + kHash + "\n";
  Status st = ParseWebConfig(yaml, &c);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_TRUE(c.tls_enabled);
  EXPECT_EQ(c.cert_file, "server.crt");
  EXPECT_EQ(c.key_file, "server.key");
  EXPECT_EQ(c.client_ca_file, "ca.crt");
  EXPECT_EQ(c.tls.client_auth, net::ClientAuth::kRequireAndVerifyClientCert);
  EXPECT_EQ(c.tls.min_version, net::kTls13);
  EXPECT_EQ(c.tls.max_version, net::kTls13);
  EXPECT_EQ(c.tls.cipher_suites.size(), 1u);
  EXPECT_EQ(c.tls.curves.size(), 2u);
  EXPECT_FALSE(c.tls.prefer_server_cipher_suites);
  EXPECT_FALSE(c.http2);
  EXPECT_EQ(c.headers.size(), 3u) << "a blank header is unset";
  EXPECT_EQ(c.headers["X-Frame-Options"], "deny");
  EXPECT_EQ(c.users["alice"], kHash);
}

TEST(WebConfig, EmptyFileAndDefaults) {
  WebConfig c;
  ASSERT_TRUE(ParseWebConfig("", &c).ok());
  EXPECT_FALSE(c.tls_enabled);
  EXPECT_TRUE(c.users.empty());
  ASSERT_TRUE(ParseWebConfig("tls_server_config:\n  cert_file: a\n  key_file: b\n", &c).ok());
  EXPECT_TRUE(c.tls_enabled);
  EXPECT_EQ(c.tls.min_version, net::kTls12) << "the exporter-toolkit's default";
  EXPECT_EQ(c.tls.client_auth, net::ClientAuth::kNoClientCert);
}

// Each bad file gives one line that says what is wrong (and where).
TEST(WebConfig, RejectsWhatTheExporterToolkitRejects) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"tls_server_config:\n  cert_file: a\n  key_file: b\n  bogus: 1\n",
       "line 4: unknown key \"bogus\" in tls_server_config"},
      {"basic_auth_user:\n  a: b\n", "unknown key \"basic_auth_user\""},
      {"tls_server_config:\n  key_file: b\n", "missing one of cert or cert_file"},
      {"tls_server_config:\n  cert_file: a\n", "missing one of key or key_file"},
      {"tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS14\n",
       "unknown TLS version \"TLS14\""},
      {"tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Maybe\n",
       "unknown client_auth_type \"Maybe\""},
      {"tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: c\n",
       "client CA is configured without a client_auth_type"},
      {"tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: "
       "RequireAndVerifyClientCert\n",
       "no client_ca_file"},
      {"tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS13\n  max_version: "
       "TLS12\n",
       "max_version is below min_version"},
      {"http_server_config:\n  headers:\n    Server: nginx\n",
       "HTTP header \"Server\" can not be configured"},
      {"http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
       "invalid value \"allow\" for HTTP header X-Frame-Options"},
      {"http_server_config:\n  http2: maybe\n", "http2 must be true or false"},
      {"basic_auth_users:\n  alice: hunter2\n", "the hash of user \"alice\" is not a bcrypt hash"},
      {std::string("basic_auth_users:\n  alice: ") + kHash + "\n  alice: " + kHash + "\n",
       "duplicate key \"alice\""},
      {"tls_server_config: [1, 2]\n", "tls_server_config must be a mapping"},
      {"basic_auth_users: {a: [1\n", "not valid YAML"},
      {"rate_limit:\n  burst: 1\n", "rate_limit is not supported"},
  };
  for (const auto& [yaml, expected] : cases) {
    WebConfig c;
    Status st = ParseWebConfig(yaml, &c);
    EXPECT_FALSE(st.ok()) << yaml;
    EXPECT_EQ(st.reason(), "config");
    EXPECT_NE(st.message().find(expected), std::string::npos) << "for:\n"
                                                              << yaml << "got: " << st.message();
    EXPECT_EQ(st.message().find('\n'), std::string::npos) << "one line: " << st.message();
  }
}

TEST(WebConfig, ErrorsNeverQuoteAPasswordHash) {
  const std::string almost = std::string(kHash).substr(0, 59);  // one character short
  WebConfig c;
  Status st = ParseWebConfig("basic_auth_users:\n  alice: " + almost + "\n", &c);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message().find(almost.substr(7)), std::string::npos) << st.message();
}

TEST(WebConfig, LoadNamesTheFileAndResolvesRelativePaths) {
  testing::TempDir dir;
  WebConfig c;
  Status st = LoadWebConfig(dir.file("missing.yml"), &c);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find(dir.file("missing.yml")), std::string::npos) << st.message();

  testing::WriteFile(dir.file("web.yml"),
                     "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n");
  st = LoadWebConfig(dir.file("web.yml"), &c);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(
      st.message().find(dir.file("web.yml") + ": cannot read cert_file " + dir.file("server.crt")),
      std::string::npos)
      << st.message();

  testing::WriteFile(dir.file("server.crt"), "not a certificate");
  testing::WriteFile(dir.file("server.key"), "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n");
  st = LoadWebConfig(dir.file("web.yml"), &c);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("certificate"), std::string::npos) << st.message();
  EXPECT_EQ(st.message().find("c2VjcmV0"), std::string::npos) << "no key material";
}

TEST(BasicAuth, BcryptVariantsAndCache) {
  const std::string hash = Bcrypt("s3cret");
  ASSERT_EQ(hash.substr(0, 4), "$2b$");
  EXPECT_TRUE(BcryptMatches(hash, "s3cret"));
  EXPECT_FALSE(BcryptMatches(hash, "s3cret "));
  EXPECT_FALSE(BcryptMatches(hash, ""));
  // $2a$ and $2y$ hashes of the same salt and password (what htpasswd writes) verify too.
  for (const char* prefix : {"$2a$", "$2y$"}) {
    EXPECT_TRUE(BcryptMatches(prefix + hash.substr(4), "s3cret")) << prefix;
  }
  EXPECT_FALSE(BcryptMatches("not a hash", "not a hash"));

  BasicAuthVerifier verifier;
  std::map<std::string, std::string> users = {{"alice", hash}};
  for (int i = 0; i < 3; ++i) {  // the second and third answers come from the cache
    EXPECT_TRUE(verifier.Verify(users, "alice", "s3cret"));
    EXPECT_FALSE(verifier.Verify(users, "alice", "wrong"));
    EXPECT_FALSE(verifier.Verify(users, "bob", "s3cret"));
  }
  // A reloaded hash is a different cache key: the old password stops working at once.
  users["alice"] = Bcrypt("other");
  EXPECT_FALSE(verifier.Verify(users, "alice", "s3cret"));
  EXPECT_TRUE(verifier.Verify(users, "alice", "other"));
}

}  // namespace
}  // namespace kmb
