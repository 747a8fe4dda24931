#include "kmb/kube/cluster_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <optional>
#include <string>

#include "kube/kube_test_support.h"

// In kube_test, next to the support code (kube_test_support.h) these tests use.
namespace kmb::kube_test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kToken = "s3cr3t-t0ken-AAAABBBBCCCC";
constexpr const char* kCaPem =
    "-----BEGIN CERTIFICATE-----\nMIIBfakeCA\n-----END CERTIFICATE-----\n";
constexpr const char* kCertPem =
    "-----BEGIN CERTIFICATE-----\nMIIBfakeCERT\n-----END CERTIFICATE-----\n";
constexpr const char* kKeyPem =
    "-----BEGIN PRIVATE KEY-----\nMIIBfakeKEY\n-----END PRIVATE KEY-----\n";

// Sets (or unsets) environment variables for one test and restores them afterwards.
class ScopedEnv {
 public:
  void Set(const char* name, const char* value) {
    if (!saved_.count(name)) {
      const char* old = std::getenv(name);
      saved_[name] = old ? std::optional<std::string>(old) : std::nullopt;
    }
    if (value) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        setenv(name.c_str(), value->c_str(), 1);
      } else {
        unsetenv(name.c_str());
      }
    }
  }

 private:
  std::map<std::string, std::optional<std::string>> saved_;
};

// Two clusters, three users, four contexts; current-context "dev".
std::string TwoClusterKubeconfig() {
  return std::string(R"(apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://prod.example:6443/
    certificate-authority-data: )") +
         Base64(kCaPem) + R"(
    tls-server-name: kubernetes.default.svc
    proxy-url: http://proxy.example:3128
- name: dev
  cluster:
    server: https://127.0.0.1:6443
    insecure-skip-tls-verify: true
users:
- name: token-user
  user:
    token: )" +
         kToken + R"(
- name: cert-user
  user:
    client-certificate-data: )" +
         Base64(kCertPem) + R"(
    client-key-data: )" +
         Base64(kKeyPem) + R"(
- name: basic-user
  user:
    username: admin
    password: hunter2-password
contexts:
- name: dev
  context: {cluster: dev, user: token-user}
- name: prod
  context: {cluster: prod, user: cert-user}
- name: basic
  context: {cluster: dev, user: basic-user}
- name: anonymous
  context: {cluster: prod}
current-context: dev
)";
}

Status Load(const std::string& path, const std::string& context, ClusterConfig* out) {
  ClusterConfigOptions o;
  o.kubeconfig_path = path;
  o.context = context;
  return LoadClusterConfig(o, out);
}

TEST(ClusterConfigTest, CurrentContextWithToken) {
  TempDir dir;
  const std::string path = dir.Write("config", TwoClusterKubeconfig());
  ClusterConfig c;
  Status st = Load(path, "", &c);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(c.server, "https://127.0.0.1:6443");
  EXPECT_TRUE(c.insecure_skip_tls_verify);
  EXPECT_EQ(c.credentials.token, kToken);
  EXPECT_TRUE(c.credentials.token_file.empty());
  EXPECT_TRUE(c.ca_pem.empty());
  EXPECT_EQ(c.origin, "kubeconfig " + path + " context dev");
  EXPECT_THAT(c.origin, Not(HasSubstr(kToken)));
}

TEST(ClusterConfigTest, ContextOverrideWithCertDataAndCaData) {
  TempDir dir;
  const std::string path = dir.Write("config", TwoClusterKubeconfig());
  ClusterConfig c;
  Status st = Load(path, "prod", &c);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(c.server, "https://prod.example:6443");  // trailing slash dropped
  EXPECT_EQ(c.ca_pem, kCaPem);
  EXPECT_EQ(c.credentials.client_cert_pem, kCertPem);
  EXPECT_EQ(c.credentials.client_key_pem, kKeyPem);
  EXPECT_EQ(c.tls_server_name, "kubernetes.default.svc");
  EXPECT_EQ(c.proxy_url, "http://proxy.example:3128");
  EXPECT_FALSE(c.insecure_skip_tls_verify);
  EXPECT_TRUE(c.credentials.token.empty());
}

TEST(ClusterConfigTest, BasicAuthAndAnonymousContexts) {
  TempDir dir;
  const std::string path = dir.Write("config", TwoClusterKubeconfig());
  ClusterConfig c;
  ASSERT_TRUE(Load(path, "basic", &c).ok());
  EXPECT_EQ(c.username, "admin");
  EXPECT_EQ(c.password, "hunter2-password");
  ClusterConfig a;
  Status st = Load(path, "anonymous", &a);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(a.server, "https://prod.example:6443");
  EXPECT_TRUE(a.credentials.token.empty() && a.username.empty() &&
              a.credentials.client_cert_pem.empty());
}

TEST(ClusterConfigTest, UnknownContextListsAvailable) {
  TempDir dir;
  const std::string path = dir.Write("config", TwoClusterKubeconfig());
  ClusterConfig c;
  Status st = Load(path, "foo", &c);
  EXPECT_EQ(st.reason(), "config");
  EXPECT_EQ(st.message(), "kubeconfig " + path +
                              ": context \"foo\" not found (available: dev, prod, basic, "
                              "anonymous)");
}

TEST(ClusterConfigTest, NoCurrentContext) {
  TempDir dir;
  const std::string path = dir.Write("config", R"(clusters:
- name: a
  cluster: {server: "https://a:6443"}
contexts:
- name: a
  context: {cluster: a}
)");
  ClusterConfig c;
  Status st = Load(path, "", &c);
  EXPECT_EQ(st.reason(), "config");
  EXPECT_THAT(st.message(), HasSubstr("no current-context"));
  EXPECT_THAT(st.message(), HasSubstr("(available: a)"));
  ASSERT_TRUE(Load(path, "a", &c).ok());
  EXPECT_EQ(c.server, "https://a:6443");
}

TEST(ClusterConfigTest, FilesResolveRelativeToKubeconfigFolder) {
  TempDir dir;
  dir.Write("kube/pki/ca.crt", kCaPem);
  dir.Write("kube/pki/client.crt", kCertPem);
  dir.Write("kube/pki/client.key", kKeyPem);
  dir.Write("kube/token", std::string(kToken) + "\n\n");
  const std::string path = dir.Write("kube/config", R"(
clusters:
- name: c
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority: pki/ca.crt
users:
- name: files
  user:
    client-certificate: pki/client.crt
    client-key: )" + dir.path() + R"(/kube/pki/client.key
    tokenFile: token
contexts:
- name: c
  context: {cluster: c, user: files}
current-context: c
)");
  ClusterConfig c;
  Status st = Load(path, "", &c);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(c.ca_pem, kCaPem);
  EXPECT_EQ(c.credentials.client_cert_pem, kCertPem);
  EXPECT_EQ(c.credentials.client_key_pem, kKeyPem);
  EXPECT_EQ(c.credentials.token, kToken);  // trailing newlines trimmed
  EXPECT_EQ(c.credentials.token_file, dir.path() + "/kube/token");
}

TEST(ClusterConfigTest, TokenTrimmedOfTrailingNewline) {
  TempDir dir;
  const std::string path = dir.Write("config", std::string(R"(clusters:
- name: c
  cluster: {server: "https://a:6443"}
users:
- name: u
  user:
    token: |
      )") + kToken + R"(
contexts:
- name: c
  context: {cluster: c, user: u}
current-context: c
)");
  ClusterConfig c;
  ASSERT_TRUE(Load(path, "", &c).ok());
  EXPECT_EQ(c.credentials.token, kToken);
}

TEST(ClusterConfigTest, MissingReferencedFileNamesFieldAndPath) {
  TempDir dir;
  const std::string path = dir.Write("config", R"(clusters:
- name: c
  cluster: {server: "https://a:6443", certificate-authority: nope/ca.crt}
contexts:
- name: c
  context: {cluster: c}
current-context: c
)");
  ClusterConfig c;
  Status st = Load(path, "", &c);
  EXPECT_EQ(st.reason(), "config");
  EXPECT_EQ(st.message(), "kubeconfig " + path + ": cluster \"c\": certificate-authority " +
                              dir.path() + "/nope/ca.crt: cannot read (No such file or directory)");
}

TEST(ClusterConfigTest, ClusterWithoutServer) {
  TempDir dir;
  const std::string path = dir.Write("config", R"(clusters:
- name: c
  cluster: {insecure-skip-tls-verify: true}
contexts:
- name: x
  context: {cluster: c}
current-context: x
)");
  ClusterConfig c;
  Status st = Load(path, "", &c);
  EXPECT_EQ(st.message(), "kubeconfig " + path + ": cluster \"c\" has no server");
}

TEST(ClusterConfigTest, ContextWithUnknownClusterOrUser) {
  TempDir dir;
  const std::string path = dir.Write("config", R"(clusters:
- name: c
  cluster: {server: "https://a:6443"}
contexts:
- name: x
  context: {cluster: missing}
- name: y
  context: {cluster: c, user: ghost}
)");
  ClusterConfig c;
  EXPECT_THAT(Load(path, "x", &c).message(), HasSubstr("context \"x\": cluster \"missing\""));
  EXPECT_THAT(Load(path, "y", &c).message(), HasSubstr("context \"y\": user \"ghost\" not found"));
}

TEST(ClusterConfigTest, InvalidBase64AndNonPem) {
  TempDir dir;
  const std::string path = dir.Write("config", R"(clusters:
- name: bad64
  cluster: {server: "https://a:6443", certificate-authority-data: "!!notbase64!!"}
- name: notpem
  cluster: {server: "https://a:6443", certificate-authority-data: aGVsbG8=}
contexts:
- name: bad64
  context: {cluster: bad64}
- name: notpem
  context: {cluster: notpem}
)");
  ClusterConfig c;
  EXPECT_EQ(
      Load(path, "bad64", &c).message(),
      "kubeconfig " + path + ": cluster \"bad64\": certificate-authority-data is not valid base64");
  EXPECT_EQ(Load(path, "notpem", &c).message(),
            "kubeconfig " + path + ": cluster \"notpem\": certificate-authority-data is not PEM");
}

TEST(ClusterConfigTest, MissingFile) {
  ClusterConfig c;
  Status st = Load("/nonexistent/kmb/config", "", &c);
  EXPECT_EQ(st.reason(), "config");
  EXPECT_EQ(st.message(),
            "kubeconfig /nonexistent/kmb/config: cannot read (No such file or directory)");
}

TEST(ClusterConfigTest, MalformedYamlNamesPositionButNotSecrets) {
  TempDir dir;
  // The syntax error is on the token's own line; no part of the token may reach the message.
  const std::string path = dir.Write("config", std::string(R"(users:
- name: u
  user:
    password: hunter2-password
    token: )") + kToken + R"(: oops
)");
  ClusterConfig c;
  Status st = Load(path, "", &c);
  EXPECT_EQ(st.reason(), "config");
  EXPECT_EQ(st.message(),
            "kubeconfig " + path + ": not valid YAML at line 5, column 37 (illegal map value)");
  EXPECT_THAT(st.message(), Not(HasSubstr(kToken)));
  EXPECT_THAT(st.message(), Not(HasSubstr("s3cr3t")));
  EXPECT_THAT(st.message(), Not(HasSubstr("hunter2")));

  const std::string path2 = dir.Write("config2", std::string(R"(users:
- name: u
  user:
    token: )") + kToken + R"(
   password: hunter2-password
)");
  st = Load(path2, "", &c);
  EXPECT_EQ(st.message(),
            "kubeconfig " + path2 + ": not valid YAML at line 5, column 4 (end of map not found)");
}

TEST(ClusterConfigTest, WrongTypesNeverEchoValues) {
  TempDir dir;
  const std::string path = dir.Write("config", std::string(R"(clusters:
- name: c
  cluster: {server: "https://a:6443", insecure-skip-tls-verify: )") +
                                                   kToken + R"(}
- name: good
  cluster: {server: "https://a:6443"}
users:
- name: u
  user: {token: [)" + kToken + R"(]}
contexts:
- name: c
  context: {cluster: c}
- name: u
  context: {cluster: good, user: u}
)");
  ClusterConfig c;
  Status st = Load(path, "c", &c);
  EXPECT_EQ(st.message(), "kubeconfig " + path +
                              ": cluster \"c\": field insecure-skip-tls-verify is not a boolean");
  st = Load(path, "u", &c);
  EXPECT_EQ(st.message(), "kubeconfig " + path + ": user \"u\": field token is not a string");
}

TEST(ClusterConfigTest, ExecPluginAndStaticCredentialPrecedence) {
  TempDir dir;
  const std::string path = dir.Write("config", R"(clusters:
- name: eks
  cluster: {server: "https://eks.example"}
users:
- name: aws
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws
      args: [eks, get-token]
- name: aws-with-token
  user:
    token: abc
    exec: {command: aws}
contexts:
- name: eks
  context: {cluster: eks, user: aws}
- name: mixed
  context: {cluster: eks, user: aws-with-token}
)");
  ClusterConfig c;
  Status st = Load(path, "eks", &c);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_TRUE(c.credentials.exec.has_value());
  EXPECT_EQ(c.credentials.exec->command, "aws");  // a bare name is looked up in $PATH
  EXPECT_EQ(c.credentials.exec->args, (std::vector<std::string>{"eks", "get-token"}));
  EXPECT_EQ(c.credentials.exec->interactive_mode, "IfAvailable");  // v1beta1's default
  EXPECT_EQ(c.credentials.exec->user, "aws");
  c = ClusterConfig{};
  st = Load(path, "mixed", &c);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(c.credentials.token, "abc");
  EXPECT_EQ(c.server, "https://eks.example");
}

TEST(ClusterConfigTest, ApiserverAlone) {
  ScopedEnv env;
  env.Set("KUBECONFIG", "/nonexistent/should-not-be-read");
  ClusterConfigOptions o;
  o.apiserver = "http://127.0.0.1:8001/";
  ClusterConfig c;
  c.credentials.token = "stale";
  Status st = LoadClusterConfig(o, &c);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(c.server, "http://127.0.0.1:8001");
  EXPECT_EQ(c.origin, "--apiserver http://127.0.0.1:8001");
  EXPECT_TRUE(c.credentials.token.empty());
  EXPECT_TRUE(c.ca_pem.empty());

  o.apiserver = "ftp://x";
  EXPECT_EQ(LoadClusterConfig(o, &c).reason(), "config");
}

TEST(ClusterConfigTest, KubeconfigWithApiserverOverride) {
  TempDir dir;
  const std::string path = dir.Write("config", TwoClusterKubeconfig());
  ClusterConfigOptions o;
  o.kubeconfig_path = path;
  o.apiserver = "https://10.9.8.7:443";
  ClusterConfig c;
  ASSERT_TRUE(LoadClusterConfig(o, &c).ok());
  EXPECT_EQ(c.server, "https://10.9.8.7:443");
  EXPECT_EQ(c.credentials.token, kToken);
  EXPECT_THAT(c.origin, HasSubstr("--apiserver"));
}

TEST(ClusterConfigTest, KubeconfigEnvFirstExistingFile) {
  TempDir dir;
  const std::string path = dir.Write("second", TwoClusterKubeconfig());
  ScopedEnv env;
  env.Set("KUBECONFIG", (dir.path() + "/first-missing:" + path).c_str());
  ClusterConfigOptions o;
  o.context = "prod";
  ClusterConfig c;
  Status st = LoadClusterConfig(o, &c);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(c.origin, "kubeconfig " + path + " context prod");
}

TEST(ClusterConfigTest, HomeKubeconfigThenNothing) {
  TempDir dir;
  ScopedEnv env;
  env.Set("KUBECONFIG", nullptr);
  env.Set("KUBERNETES_SERVICE_HOST", nullptr);
  env.Set("HOME", dir.path().c_str());
  ClusterConfig c;
  Status st = LoadClusterConfig(ClusterConfigOptions{}, &c);
  EXPECT_EQ(st.reason(), "config");
  EXPECT_THAT(st.message(), HasSubstr(dir.path() + "/.kube/config"));
  EXPECT_THAT(st.message(), HasSubstr("KUBERNETES_SERVICE_HOST"));

  dir.Write(".kube/config", TwoClusterKubeconfig());
  st = LoadClusterConfig(ClusterConfigOptions{}, &c);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(c.origin, "kubeconfig " + dir.path() + "/.kube/config context dev");
}

TEST(ClusterConfigTest, InCluster) {
  TempDir dir;
  InClusterPaths paths;
  paths.token_file = dir.Write("token", std::string(kToken) + "\n");
  paths.ca_file = dir.Write("ca.crt", kCaPem);
  ScopedEnv env;
  env.Set("KUBERNETES_SERVICE_HOST", "10.96.0.1");
  env.Set("KUBERNETES_SERVICE_PORT", "443");
  ClusterConfig c;
  Status st = LoadInClusterConfig(paths, &c);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(c.server, "https://10.96.0.1:443");
  EXPECT_EQ(c.credentials.token, kToken);
  EXPECT_EQ(c.credentials.token_file, paths.token_file);
  EXPECT_EQ(c.ca_pem, kCaPem);
  EXPECT_EQ(c.origin, "in-cluster service account");

  env.Set("KUBERNETES_SERVICE_HOST", "fd00:10:96::1");
  ASSERT_TRUE(LoadInClusterConfig(paths, &c).ok());
  EXPECT_EQ(c.server, "https://[fd00:10:96::1]:443");
}

TEST(ClusterConfigTest, InClusterErrors) {
  TempDir dir;
  InClusterPaths paths;
  paths.token_file = dir.path() + "/missing-token";
  paths.ca_file = dir.Write("ca.crt", kCaPem);
  ScopedEnv env;
  env.Set("KUBERNETES_SERVICE_HOST", nullptr);
  env.Set("KUBERNETES_SERVICE_PORT", nullptr);
  ClusterConfig c;
  Status st = LoadInClusterConfig(paths, &c);
  EXPECT_EQ(st.reason(), "config");
  EXPECT_THAT(st.message(), HasSubstr("KUBERNETES_SERVICE_HOST"));

  env.Set("KUBERNETES_SERVICE_HOST", "10.96.0.1");
  env.Set("KUBERNETES_SERVICE_PORT", "443");
  st = LoadInClusterConfig(paths, &c);
  EXPECT_EQ(st.message(), "in-cluster service account: token file " + paths.token_file +
                              ": cannot read (No such file or directory)");
}

// The exporter's kubelet client and doctor's kubelet probe both start from this: the API
// server's basic-auth password, proxy and server name never go to the kubelets.
TEST(KubeletConfigFrom, TakesCredentialsAndCaButNotBasicAuthOrProxy) {
  ClusterConfig api;
  api.server = "https://10.0.0.1:6443";
  api.ca_pem = "-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n";
  api.ca_file = "/etc/kubernetes/ca.crt";
  api.tls_server_name = "kubernetes.default";
  api.credentials.token = "kubelet-token";
  api.credentials.token_file = "/var/run/token";
  api.username = "admin";
  api.password = "basic-auth-password";
  api.proxy_url = "http://proxy:3128";
  const ClusterConfig kc = KubeletConfigFrom(api);
  EXPECT_EQ(kc.credentials.token, "kubelet-token");
  EXPECT_EQ(kc.credentials.token_file, "/var/run/token");
  EXPECT_EQ(kc.ca_pem, api.ca_pem);
  EXPECT_EQ(kc.ca_file, api.ca_file);
  EXPECT_EQ(kc.username, "");
  EXPECT_EQ(kc.password, "");
  EXPECT_EQ(kc.proxy_url, "");
  EXPECT_EQ(kc.tls_server_name, "");
  EXPECT_EQ(kc.server, "");
  EXPECT_FALSE(kc.insecure_skip_tls_verify);
}

}  // namespace
}  // namespace kmb::kube_test
