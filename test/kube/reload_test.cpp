// KubeClient::ReloadFiles(): the CA, client certificate and key files are re-read (SIGHUP).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "kmb/kube/client.h"
#include "kube/kube_test_support.h"

// In kube_test, next to the support code (kube_test_support.h) these tests use.
namespace kmb::kube_test {
namespace {

using ::testing::HasSubstr;

TEST(ReloadFilesTest, RereadsCaAndClientCertificateFiles) {
  const KeyCert ca = MakeCa("reload-ca");
  const KeyCert other_ca = MakeCa("reload-other-ca");
  const KeyCert server_cert = IssueCert(ca, "127.0.0.1", {"IP:127.0.0.1"}, false);
  const KeyCert first = IssueCert(ca, "first-client", {}, true);
  const KeyCert second = IssueCert(ca, "second-client", {}, true);
  TestServer::Options o;
  o.tls = true;
  o.server_cert = server_cert;
  o.client_ca_pem = ca.cert_pem;
  auto server = TestServer::Start(o, [](const SeenRequest&) {
    ScriptedResponse r;
    r.body = "{}";
    return r;
  });
  ASSERT_NE(server, nullptr);
  TempDir dir;
  ClusterConfig c;
  c.server = server->url();
  c.ca_file = dir.Write("ca.crt", other_ca.cert_pem);  // wrong until reloaded
  c.ca_pem = other_ca.cert_pem;
  c.credentials.client_cert_file = dir.Write("client.crt", first.cert_pem);
  c.credentials.client_cert_pem = first.cert_pem;
  c.credentials.client_key_file = dir.Write("client.key", first.key_pem);
  c.credentials.client_key_pem = first.key_pem;
  KubeClient client(c, KubeClientOptions{});
  HttpResponse resp;
  EXPECT_EQ(client.Get("/a", &resp).reason(), "tls");

  dir.Write("ca.crt", ca.cert_pem);
  ASSERT_TRUE(client.ReloadFiles().ok());
  Status st = client.Get("/b", &resp);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_THAT(server->requests().back().client_cert_subject, HasSubstr("first-client"));

  dir.Write("client.crt", second.cert_pem);
  dir.Write("client.key", second.key_pem);
  ASSERT_TRUE(client.ReloadFiles().ok());
  st = client.Get("/c", &resp);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_THAT(server->requests().back().client_cert_subject, HasSubstr("second-client"));

  // A file that cannot be read: the old material stays, the error names the file.
  std::remove(c.credentials.client_key_file.c_str());
  st = client.ReloadFiles();
  EXPECT_EQ(st.reason(), "config");
  EXPECT_THAT(st.message(), HasSubstr("client key file " + c.credentials.client_key_file));
  EXPECT_TRUE(client.Get("/d", &resp).ok());
}

}  // namespace
}  // namespace kmb::kube_test
