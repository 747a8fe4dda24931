// kubeconfig exec credential plugins, with small plugin scripts written by each test.
#include "kube/exec_credential.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "common/test_util.h"
#include "kmb/kube/client.h"
#include "kmb/kube/cluster_config.h"
#include "kube/kube_test_support.h"

// In kube_test, next to the support code (kube_test_support.h) these tests use.
namespace kmb::kube_test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kV1 = "client.authentication.k8s.io/v1";
constexpr const char* kSecret = "sekret-plugin-output-42";

// Writes an executable shell script.
std::string Script(const TempDir& dir, const std::string& name, const std::string& body) {
  const std::string path = dir.Write(name, "#!/bin/sh\n" + body);
  chmod(path.c_str(), 0755);
  return path;
}

// A script printing an ExecCredential whose token is `token_expr` (shell-expanded), counting
// its runs in dir/runs.
std::string TokenPlugin(const TempDir& dir, const std::string& token_expr,
                        const std::string& expiry = "", const std::string& api = kV1) {
  const std::string runs = dir.path() + "/runs";
  const std::string extra = expiry.empty() ? "" : ",\"expirationTimestamp\":\"" + expiry + "\"";
  return Script(dir, "plugin.sh",
                "n=$(cat " + runs + " 2>/dev/null || echo 0); n=$((n+1)); echo $n > " + runs +
                    "\nprintf '{\"apiVersion\":\"%s\",\"kind\":\"ExecCredential\","
                    "\"status\":{\"token\":\"%s\"%s}}' '" +
                    api + "' \"" + token_expr + "\" '" + extra + "'\n");
}

int Runs(const TempDir& dir) {
  std::string s = kmb::testing::ReadFile(dir.path() + "/runs");
  return s.empty() ? 0 : std::stoi(s);
}

ExecConfig Exec(const std::string& command) {
  ExecConfig e;
  e.command = command;
  e.api_version = kV1;
  e.interactive_mode = "Never";
  e.user = "plugin-user";
  return e;
}

ScriptedResponse Ok() {
  ScriptedResponse r;
  r.body = "{}";
  return r;
}

KubeClientOptions Fast() {
  KubeClientOptions o;
  o.connect_timeout_seconds = 2;
  o.timeout_seconds = 5;
  o.exec_timeout_seconds = 5;
  return o;
}

TEST(ExecCredentialTest, ParseRejectsWrongShapesWithoutQuotingThem) {
  ExecCredential c;
  EXPECT_THAT(ParseExecCredential(std::string("garbage ") + kSecret, kV1, &c).message(),
              HasSubstr("not JSON"));
  EXPECT_THAT(ParseExecCredential(R"({"kind":"Secret","apiVersion":"x"})", kV1, &c).message(),
              HasSubstr("kind is not ExecCredential"));
  const std::string beta = R"({"kind":"ExecCredential","apiVersion":)"
                           R"("client.authentication.k8s.io/v1beta1","status":{"token":"t"}})";
  EXPECT_THAT(ParseExecCredential(beta, kV1, &c).message(), HasSubstr("apiVersion is not"));
  EXPECT_TRUE(ParseExecCredential(beta, "client.authentication.k8s.io/v1beta1", &c).ok());
  EXPECT_EQ(c.token, "t");
  EXPECT_FALSE(c.expiry.has_value());
  const std::string no_cred = R"({"kind":"ExecCredential","apiVersion":")" + std::string(kV1) +
                              R"(","status":{"expirationTimestamp":"2030-01-01T00:00:00Z"}})";
  EXPECT_THAT(ParseExecCredential(no_cred, kV1, &c).message(), HasSubstr("neither token"));
  const std::string bad_time = R"({"kind":"ExecCredential","apiVersion":")" + std::string(kV1) +
                               R"(","status":{"token":")" + kSecret +
                               R"(","expirationTimestamp":"tomorrow"}})";
  Status st = ParseExecCredential(bad_time, kV1, &c);
  EXPECT_THAT(st.message(), HasSubstr("expirationTimestamp"));
  EXPECT_THAT(st.message(), Not(HasSubstr(kSecret)));
  const std::string with_time = R"({"kind":"ExecCredential","apiVersion":")" + std::string(kV1) +
                                R"(","status":{"token":"t","expirationTimestamp":)"
                                R"("2030-01-01T01:00:00.5+01:00"}})";
  ASSERT_TRUE(ParseExecCredential(with_time, kV1, &c).ok());
  EXPECT_EQ(std::chrono::system_clock::to_time_t(*c.expiry), 1893456000);  // 2030-01-01T00:00Z
}

TEST(ExecCredentialTest, TokenFromKubeconfigWithArgsEnvAndClusterInfo) {
  TempDir dir;
  auto server = TestServer::Start({}, [](const SeenRequest&) { return Ok(); });
  ASSERT_NE(server, nullptr);
  // The token is built from an argument, an env entry and KUBERNETES_EXEC_INFO's cluster.
  Script(dir, "plugin.sh",
         "case \"$KUBERNETES_EXEC_INFO\" in *'\"server\":\"" + server->url() +
             "\"'*'\"interactive\":false'*) info=ok;; *) info=missing;; esac\n"
             "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\","
             "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"%s-%s-%s\"}}' \"$1\" "
             "\"$PLUGIN_REGION\" \"$info\"\n");
  const std::string kubeconfig = dir.Write("config", R"(apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: ")" + server->url() + R"("}
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: ./plugin.sh
      args: [arg1]
      env: [{name: PLUGIN_REGION, value: eu}]
      provideClusterInfo: true
contexts:
- name: ctx
  context: {cluster: c, user: u}
current-context: ctx
)");
  ClusterConfig cfg;
  Status st = LoadClusterConfig({kubeconfig, "", ""}, &cfg);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_TRUE(cfg.credentials.exec.has_value());
  EXPECT_EQ(cfg.credentials.exec->command,
            dir.path() + "/plugin.sh");  // relative to the kubeconfig
  KubeClient client(cfg, Fast());
  HttpResponse resp;
  st = client.Get("/api/v1/nodes", &resp);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(server->requests().at(0).Header("authorization"), "Bearer arg1-eu-ok");
}

TEST(ExecCredentialTest, CachedUntilExpiryThenReRun) {
  TempDir dir;
  auto server = TestServer::Start({}, [](const SeenRequest&) { return Ok(); });
  ASSERT_NE(server, nullptr);
  ClusterConfig cfg;
  cfg.server = server->url();
  cfg.credentials.exec = Exec(TokenPlugin(dir, "tok-$n", "2999-01-01T00:00:00Z"));
  {
    KubeClient client(cfg, Fast());
    HttpResponse resp;
    ASSERT_TRUE(client.Get("/a", &resp).ok());
    ASSERT_TRUE(client.Get("/b", &resp).ok());
    EXPECT_EQ(Runs(dir), 1);  // cached: the expiry is far away
    EXPECT_EQ(server->requests().at(1).Header("authorization"), "Bearer tok-1");
  }
  // An expired credential is replaced before the next request.
  TempDir dir2;
  cfg.credentials.exec = Exec(TokenPlugin(dir2, "tok-$n", "2000-01-01T00:00:00Z"));
  KubeClient client(cfg, Fast());
  HttpResponse resp;
  ASSERT_TRUE(client.Get("/c", &resp).ok());
  ASSERT_TRUE(client.Get("/d", &resp).ok());
  EXPECT_EQ(Runs(dir2), 2);
  EXPECT_EQ(server->requests().back().Header("authorization"), "Bearer tok-2");
}

TEST(ExecCredentialTest, UnauthorizedRefreshesOnceAndRetries) {
  TempDir dir;
  auto server = TestServer::Start({}, [](const SeenRequest& r) {
    ScriptedResponse resp = Ok();
    // Only the second token is accepted; tok-3 and later would be too, but must not be needed.
    if (r.Header("authorization") == "Bearer tok-1") resp.status = 401;
    return resp;
  });
  ASSERT_NE(server, nullptr);
  ClusterConfig cfg;
  cfg.server = server->url();
  cfg.credentials.exec = Exec(TokenPlugin(dir, "tok-$n"));
  KubeClient client(cfg, Fast());
  HttpResponse resp;
  Status st = client.Get("/api/v1/nodes", &resp);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(Runs(dir), 2);
  ASSERT_EQ(server->requests().size(), 2u);
  // A credential the server keeps refusing is retried once per request, not in a loop.
  TempDir dir2;
  auto refusing = [](const SeenRequest&) {
    ScriptedResponse r = Ok();
    r.status = 401;
    return r;
  };
  server.reset();
  server = TestServer::Start({}, refusing);
  cfg.server = server->url();
  cfg.credentials.exec = Exec(TokenPlugin(dir2, "tok-$n"));
  KubeClient client2(cfg, Fast());
  st = client2.Get("/api/v1/nodes", &resp);
  EXPECT_EQ(st.reason(), "http_4xx");
  EXPECT_EQ(server->requests().size(), 2u);
  EXPECT_EQ(Runs(dir2), 2);
}

TEST(ExecCredentialTest, ClientCertificateFromPlugin) {
  const KeyCert ca = MakeCa("exec-ca");
  const KeyCert server_cert = IssueCert(ca, "127.0.0.1", {"IP:127.0.0.1"}, false);
  const KeyCert client_cert = IssueCert(ca, "exec-client", {}, true);
  TestServer::Options o;
  o.tls = true;
  o.server_cert = server_cert;
  o.client_ca_pem = ca.cert_pem;
  auto server = TestServer::Start(o, [](const SeenRequest&) { return Ok(); });
  ASSERT_NE(server, nullptr);
  TempDir dir;
  auto json_escape = [](const std::string& pem) {
    std::string out;
    for (char c : pem) out += c == '\n' ? std::string("\\n") : std::string(1, c);
    return out;
  };
  dir.Write("cred.json", std::string("{\"apiVersion\":\"") + kV1 +
                             "\",\"kind\":\"ExecCredential\",\"status\":{"
                             "\"clientCertificateData\":\"" +
                             json_escape(client_cert.cert_pem) + "\",\"clientKeyData\":\"" +
                             json_escape(client_cert.key_pem) + "\"}}");
  ClusterConfig cfg;
  cfg.server = server->url();
  cfg.ca_pem = ca.cert_pem;
  cfg.credentials.exec = Exec(Script(dir, "plugin.sh", "cat " + dir.path() + "/cred.json\n"));
  KubeClient client(cfg, Fast());
  HttpResponse resp;
  Status st = client.Get("/version", &resp);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_THAT(server->requests().at(0).client_cert_subject, HasSubstr("exec-client"));
  EXPECT_EQ(server->requests().at(0).Header("authorization"), "");
}

// Failing, hanging, garbage-printing and missing plugins: one clear line naming the plugin,
// nothing it printed, no request sent.
TEST(ExecCredentialTest, BrokenPluginsGiveOneClearLineWithoutTheirOutput) {
  TempDir dir;
  auto server = TestServer::Start({}, [](const SeenRequest&) { return Ok(); });
  ASSERT_NE(server, nullptr);
  const std::string secret = kSecret;
  struct Case {
    std::string name, body, want;
  };
  const Case cases[] = {
      {"fails.sh", "echo " + secret + "; echo " + secret + " >&2; exit 3\n",
       "exited with status 3"},
      {"garbage.sh", "echo '" + secret + " is not json'\n", "not JSON"},
      {"hangs.sh", "echo " + secret + "; exec sleep 30\n", "did not finish within 1s"},
      {"killed.sh", "kill -9 $$\n", "killed by signal 9"},
  };
  for (const Case& c : cases) {
    ClusterConfig cfg;
    cfg.server = server->url();
    cfg.credentials.exec = Exec(Script(dir, c.name, c.body));
    KubeClientOptions o = Fast();
    o.exec_timeout_seconds = 1;
    KubeClient client(cfg, o);
    HttpResponse resp;
    Status st = client.Get("/api/v1/nodes", &resp);
    EXPECT_EQ(st.reason(), "config") << c.name;
    EXPECT_THAT(st.message(), HasSubstr("exec plugin " + dir.path() + "/" + c.name)) << c.name;
    EXPECT_THAT(st.message(), HasSubstr(c.want)) << c.name;
    EXPECT_THAT(st.message(), Not(HasSubstr(secret))) << c.name;
    EXPECT_EQ(st.message().find('\n'), std::string::npos);
  }
  EXPECT_TRUE(server->requests().empty());

  ClusterConfig cfg;
  cfg.server = server->url();
  cfg.credentials.exec = Exec("kmb-no-such-plugin");
  cfg.credentials.exec->install_hint = "Install it with: apt-get install kmb-plugin";
  KubeClient client(cfg, Fast());
  HttpResponse resp;
  Status st = client.Get("/x", &resp);
  EXPECT_EQ(st.message(),
            "exec plugin kmb-no-such-plugin (kubeconfig user \"plugin-user\"): cannot run it (No "
            "such file or directory); Install it with: apt-get install kmb-plugin");

  cfg.credentials.exec = Exec("/bin/true");
  cfg.credentials.exec->interactive_mode = "Always";
  KubeClient interactive(cfg, Fast());
  EXPECT_THAT(interactive.Get("/x", &resp).message(), HasSubstr("interactive terminal"));
}

TEST(ExecCredentialTest, KubeconfigExecValidation) {
  TempDir dir;
  auto load = [&](const std::string& exec_yaml) {
    const std::string path = dir.Write("config", R"(clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: u
  user:
    exec: )" + exec_yaml + R"(
contexts:
- name: ctx
  context: {cluster: c, user: u}
current-context: ctx
)");
    ClusterConfig cfg;
    return LoadClusterConfig({path, "", ""}, &cfg).message();
  };
  EXPECT_THAT(load("{command: x, apiVersion: client.authentication.k8s.io/v1alpha1}"),
              HasSubstr("apiVersion \"client.authentication.k8s.io/v1alpha1\" is not supported"));
  EXPECT_THAT(load("{command: x, apiVersion: client.authentication.k8s.io/v1}"),
              HasSubstr("interactiveMode is required"));
  EXPECT_THAT(load("{apiVersion: client.authentication.k8s.io/v1beta1}"),
              HasSubstr("exec has no command"));
  EXPECT_THAT(load("{command: x, apiVersion: client.authentication.k8s.io/v1beta1, env: [1]}"),
              HasSubstr("an item of env is not a map"));
  EXPECT_EQ(load("{command: x, apiVersion: client.authentication.k8s.io/v1, interactiveMode: "
                 "Never}"),
            "");
}

}  // namespace
}  // namespace kmb::kube_test
