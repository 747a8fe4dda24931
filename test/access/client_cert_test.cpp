// Client-certificate authentication end to end against a simulated API server that requires
// one (SimOptions::require_client_cert: RequireAndVerifyClientCert at the TLS layer, user from
// the CN): kubeconfig client-certificate-data/client-key-data, an exec plugin returning
// clientCertificateData/clientKeyData, and the refusals (no certificate, one from another CA)
// with their `tls` reason, all without the key appearing in logs or /metrics.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "common/kubeconfig.h"
#include "common/test_util.h"
#include "kmb/app/poller.h"
#include "kmb/config/options.h"
#include "kmb/exposition/writer.h"
#include "kmb/kube/client.h"
#include "kmb/kube/cluster_config.h"
#include "kmb/sim/cluster.h"
#include "sim/format.h"
#include "sim/tls.h"

namespace kmb {
namespace {

using testing::TempDir;

bool Contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

// What would show a leaked key: its base64 (as in a kubeconfig) and each of its body lines.
void ExpectNoKeyMaterial(const std::string& key_pem, const std::string& text,
                         const std::string& where) {
  ASSERT_FALSE(key_pem.empty());
  std::vector<std::string> needles = {sim::Base64(key_pem)};
  std::istringstream in(key_pem);
  for (std::string line; std::getline(in, line);) {
    if (line.size() >= 16 && line.rfind("-----", 0) != 0) needles.push_back(line);
  }
  for (const std::string& needle : needles) {
    EXPECT_FALSE(Contains(text, needle)) << "key material in " << where << ":\n" << text;
  }
}

sim::SimOptions ClientCertSim() {
  sim::SimOptions so;
  so.nodes = 2;
  so.pods_per_node = 2;
  so.threads = 8;
  so.tls = true;
  so.require_client_cert = true;
  return so;
}

// A kubeconfig for `sim` whose user is `user` (a JSON object).
std::string WriteKubeconfig(const TempDir& dir, const std::string& name,
                            const sim::SimulatedCluster& sim, const nlohmann::json& user) {
  return testing::WriteKubeconfig(
      dir.file(name), sim.url(), {{"certificate-authority-data", sim::Base64(sim.ca_pem())}}, user);
}

nlohmann::json CertUser(const std::string& cert_pem, const std::string& key_pem) {
  return {{"client-certificate-data", sim::Base64(cert_pem)},
          {"client-key-data", sim::Base64(key_pem)}};
}

// `--once` of the binary with this kubeconfig: exit status, and stdout+stderr (logs and
// /metrics text).
int Once(const std::string& kubeconfig, std::string* out) {
  return testing::RunCommand(std::string(KMB_BINARY) +
                                 " --once --log.level debug --sources=summary,metrics-api "
                                 "--kubeconfig " +
                                 kubeconfig,
                             out);
}

TEST(ClientCertTest, SimulatorKubeconfigCarriesTheCertificateNotAToken) {
  TempDir dir;
  sim::SimOptions so = ClientCertSim();
  so.token = "unused-token";  // the certificate replaces it
  std::string error;
  auto sim = sim::SimulatedCluster::Start(so, &error);
  ASSERT_TRUE(sim) << error;
  ASSERT_TRUE(sim->WriteKubeconfig(dir.file("kubeconfig")).ok());
  const std::string kc = testing::ReadFile(dir.file("kubeconfig"));
  EXPECT_TRUE(Contains(kc, "client-certificate-data: " + sim::Base64(sim->client_cert_pem())));
  EXPECT_TRUE(Contains(kc, "client-key-data: " + sim::Base64(sim->client_key_pem())));
  EXPECT_FALSE(Contains(kc, "unused-token"));

  // Without TLS there is no handshake to demand it in.
  so.tls = false;
  EXPECT_FALSE(sim::SimulatedCluster::Start(so, &error));
  EXPECT_TRUE(Contains(error, "need TLS")) << error;
}

// The binary with the simulator's own kubeconfig (client-certificate-data + client-key-data)
// exports every node; the API server takes the user from the certificate's CN.
TEST(ClientCertTest, KubeconfigClientCertificateData) {
  TempDir dir;
  std::string error;
  auto sim = sim::SimulatedCluster::Start(ClientCertSim(), &error);
  ASSERT_TRUE(sim) << error;
  ASSERT_TRUE(sim->WriteKubeconfig(dir.file("kubeconfig")).ok());
  std::string out;
  EXPECT_EQ(Once(dir.file("kubeconfig"), &out), 0) << out;
  for (const std::string& node : sim->node_names()) {
    EXPECT_TRUE(Contains(out, "node_cpu_usage_seconds_total{node=\"" + node + "\"")) << out;
    EXPECT_TRUE(
        Contains(out, "kube_metrics_bridge_source_up{source=\"summary\",node=\"" + node + "\"} 1"));
  }
  EXPECT_TRUE(Contains(out, "kube_metrics_bridge_source_up{source=\"metrics-api\"} 1")) << out;
  ExpectNoKeyMaterial(sim->client_key_pem(), out, "--once output");

  // Authenticated as the CN: RBAC messages name that user.
  ClusterConfig cluster;
  ASSERT_TRUE(LoadClusterConfig({dir.file("kubeconfig"), "", ""}, &cluster).ok());
  KubeClient client(cluster, KubeClientOptions{});
  HttpResponse resp;
  client.Get("/api/v1/nodes/" + sim->node_names()[0] + "/proxy/stats/summary", &resp);
  EXPECT_EQ(resp.status, 200);
  sim::SimOptions denied = ClientCertSim();
  denied.deny = {"nodes"};
  auto sim2 = sim::SimulatedCluster::Start(denied, &error);
  ASSERT_TRUE(sim2) << error;
  ASSERT_TRUE(sim2->WriteKubeconfig(dir.file("kubeconfig2")).ok());
  ClusterConfig cluster2;
  ASSERT_TRUE(LoadClusterConfig({dir.file("kubeconfig2"), "", ""}, &cluster2).ok());
  KubeClient client2(cluster2, KubeClientOptions{});
  client2.Get("/api/v1/nodes", &resp);
  EXPECT_EQ(resp.status, 403);
  EXPECT_TRUE(Contains(resp.body, std::string("User \\\"") + sim::kClientCertUser + "\\\""))
      << resp.body;
}

// An exec plugin that returns clientCertificateData/clientKeyData: the same end to end.
TEST(ClientCertTest, ExecPluginReturningClientCertificate) {
  TempDir dir;
  std::string error;
  auto sim = sim::SimulatedCluster::Start(ClientCertSim(), &error);
  ASSERT_TRUE(sim) << error;
  const nlohmann::json credential = {{"apiVersion", "client.authentication.k8s.io/v1"},
                                     {"kind", "ExecCredential"},
                                     {"status",
                                      {{"clientCertificateData", sim->client_cert_pem()},
                                       {"clientKeyData", sim->client_key_pem()}}}};
  testing::WriteFile(dir.file("credential.json"), credential.dump());
  const std::string plugin = dir.file("plugin.sh");
  testing::WriteFile(plugin, "#!/bin/sh\ncat " + dir.file("credential.json") + "\n");
  chmod(plugin.c_str(), 0755);
  const std::string kc = WriteKubeconfig(dir, "exec.yaml", *sim,
                                         {{"exec",
                                           {{"apiVersion", "client.authentication.k8s.io/v1"},
                                            {"command", plugin},
                                            {"interactiveMode", "Never"}}}});
  std::string out;
  EXPECT_EQ(Once(kc, &out), 0) << out;
  EXPECT_TRUE(Contains(out, "node_cpu_usage_seconds_total{node=\"" + sim->node_names()[1] + "\""))
      << out;
  EXPECT_TRUE(Contains(out, "kube_metrics_bridge_source_up{source=\"metrics-api\"} 1")) << out;
  ExpectNoKeyMaterial(sim->client_key_pem(), out, "--once output");
}

// Refused at the TLS layer: no certificate at all, or one another CA signed. The poll says
// `tls`, the sources are down, the process logs one line per failure, and the key (of the
// foreign certificate) appears nowhere.
TEST(ClientCertTest, MissingOrForeignCertificateFailsWithTlsReason) {
  TempDir dir;
  std::string error;
  auto sim = sim::SimulatedCluster::Start(ClientCertSim(), &error);
  ASSERT_TRUE(sim) << error;
  sim::TlsMaterial other_ca, foreign;
  ASSERT_TRUE(sim::GenerateTlsMaterial({"127.0.0.1"}, {}, &other_ca, &error)) << error;
  ASSERT_TRUE(sim::IssueClientCert(other_ca, sim::kClientCertUser, &foreign, &error)) << error;

  const std::string none = WriteKubeconfig(dir, "none.yaml", *sim, nlohmann::json::object());
  const std::string wrong = WriteKubeconfig(
      dir, "foreign.yaml", *sim, CertUser(foreign.server_cert_pem, foreign.server_key_pem));
  for (const std::string& kc : {none, wrong}) {
    SCOPED_TRACE(kc);
    ClusterConfig cluster;
    ASSERT_TRUE(LoadClusterConfig({kc, "", ""}, &cluster).ok());
    std::vector<std::string> args = {"kube-metrics-bridge", "--no-watch-cache"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    int code = 0;
    std::optional<Options> options =
        ParseOptions(static_cast<int>(argv.size()), argv.data(), &code);
    ASSERT_TRUE(options);
    Poller poller(*options, std::make_shared<KubeClient>(cluster, KubeClientOptions{}));
    SnapshotPtr snap = poller.Poll();
    EXPECT_EQ(snap->summary.status.reason(), "tls") << snap->summary.status.message();
    EXPECT_FALSE(snap->summary.up);
    EXPECT_EQ(snap->metrics_api.status.reason(), "tls") << snap->metrics_api.status.message();
    const std::string text = RenderExposition(*snap, ExpositionFormat::kText004, {});
    EXPECT_TRUE(Contains(text, "kube_metrics_bridge_source_up{source=\"metrics-api\"} 0")) << text;
    EXPECT_FALSE(
        Contains(text, "kube_metrics_bridge_errors_total{source=\"summary\",reason=\"tls\"} 0"))
        << text;
    EXPECT_TRUE(
        Contains(text, "kube_metrics_bridge_errors_total{source=\"summary\",reason=\"tls\"}"))
        << text;
    EXPECT_FALSE(Contains(text, "node_cpu_usage_seconds_total"));

    std::string out;
    EXPECT_NE(Once(kc, &out), 0) << out;
    EXPECT_TRUE(Contains(out, "reason=tls")) << out;
    ExpectNoKeyMaterial(foreign.server_key_pem, out, "--once output");
    ExpectNoKeyMaterial(sim->client_key_pem(), out, "--once output");
  }
}

}  // namespace
}  // namespace kmb
