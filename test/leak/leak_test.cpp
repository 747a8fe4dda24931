// Leak check: credentials never reach anything the exporter produces. Each scenario of ONE table
// gives the exporter a secret (a bearer token, a wrong token, a client key, a basic-auth password,
// exec-plugin output, a /metrics password) and runs it every way a user sees output: serving
// (debug logs on stdout and stderr, /metrics in both formats, /debug/status, /, /readyz,
// /healthz, a 404), `--once` (text and its failure path), and `doctor` in text and JSON. All of
// it is searched for the secret, its base64 form and, for a multi-line secret (a PEM key), each
// of its long lines.

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "common/test_util.h"
#include "kmb/sim/cluster.h"

namespace kmb {
namespace {

using testing::Child;
using testing::HttpGet;
using testing::RunCommand;
using testing::TempDir;

// What a scenario needs from the binary; rows whose feature is missing are skipped (and say so).
enum class Feature { kNone, kExec, kTokenFile, kWebConfig };

struct Scenario {
  const char* name;
  std::string secret;     // must never appear in any output
  std::string sim_token;  // the token the simulated API server requires ("" = none)
  // The kubeconfig user (YAML flow mapping). {secret}, {secret_b64}, {cert_b64} and {dir} (the
  // scenario's folder) are replaced.
  std::string user;
  bool authenticates;  // whether these credentials get the Summaries (source_up 1)
  Feature needs = Feature::kNone;
  // A file written to {dir} before the run (token file, exec plugin); same placeholders.
  std::string file_name = "", file_content = "";
  bool executable = false;
  // With kWebConfig: /metrics requires basic auth (user "prometheus", the bcrypt hash below);
  // every request sends this password.
  std::string web_password = "";
  // The simulated API server requires a client certificate from its CA; the secret is then the
  // key it issued (the row's `secret` is unused) and {cert_b64} its certificate.
  bool sim_client_cert = false;
};

// ctest lists a scenario by its name.
void PrintTo(const Scenario& s, std::ostream* os) { *os << s.name; }

// bcrypt (cost 4) of kWebPassword, as exporter-toolkit web configs hold it.
constexpr char kWebPassword[] = "kmb-leak-web-password";
constexpr char kWebPasswordHash[] = "$2b$04$ZpjA8OQYoO6NDsQqTMoelukw0Yp3agkKDIyRBFx2NOExUVbhrY0Be";

const char kPlugin[] =
    "#!/bin/sh\n"
    "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
    "\"status\":{\"token\":\"{secret}\"}}'\n";
const char kPluginTruncated[] =
    "#!/bin/sh\n"
    "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"status\":{\"token\":\"{secret}'"
    "\n";
const char kExecUser[] =
    "{exec: {apiVersion: client.authentication.k8s.io/v1, command: '{dir}/plugin', "
    "interactiveMode: Never}}";

// A key pair and self-signed certificate from the openssl command line (a dependency of
// ca-certificates, so on every Debian machine).
struct KeyPair {
  std::string key_pem, cert_pem;
};
const KeyPair& ClientKeyPair() {
  static const KeyPair pair = [] {
    TempDir dir;
    std::string out;
    const int rc = RunCommand(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
        "-nodes -subj /CN=kmb-leak -days 1 -keyout " +
            dir.file("key.pem") + " -out " + dir.file("cert.pem"),
        &out);
    EXPECT_EQ(rc, 0) << out;
    return KeyPair{testing::ReadFile(dir.file("key.pem")), testing::ReadFile(dir.file("cert.pem"))};
  }();
  return pair;
}

// THE table. One row per way a secret reaches the exporter.
std::vector<Scenario> Scenarios() {
  const std::string key = ClientKeyPair().key_pem;
  return {
      {"BearerToken", "kmb-leak-token-1", "kmb-leak-token-1", "{token: {secret}}", true},
      {"WrongBearerToken", "kmb-leak-wrong-token-2", "right-token", "{token: {secret}}", false},
      {"TokenFile", "kmb-leak-token-file-3", "kmb-leak-token-file-3", "{tokenFile: '{dir}/token'}",
       true, Feature::kTokenFile, "token", "{secret}"},
      {"ClientKey", key, "", "{client-certificate-data: {cert_b64}, client-key-data: {secret_b64}}",
       true},
      {"MalformedClientKey",
       "-----BEGIN PRIVATE KEY-----\nkmbLeakNotAKeyButSecretAnywayAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
       "-----END PRIVATE KEY-----\n",
       "", "{client-certificate-data: {cert_b64}, client-key-data: {secret_b64}}", false},
      {"BasicAuthPassword", "kmb-leak-password-6", "right-token",
       "{username: admin, password: {secret}}", false},
      {"ExecPluginToken", "kmb-leak-exec-7", "kmb-leak-exec-7", kExecUser, true, Feature::kExec,
       "plugin", kPlugin, true},
      {"ExecPluginTruncatedOutput", "kmb-leak-exec-8", "right-token", kExecUser, false,
       Feature::kExec, "plugin", kPluginTruncated, true},
      {"WebConfigPassword", kWebPassword, "t", "{token: t}", true, Feature::kWebConfig, "", "",
       false, kWebPassword},
      {"WebConfigWrongPassword", "kmb-leak-web-wrong-10", "t", "{token: t}", true,
       Feature::kWebConfig, "", "", false, "kmb-leak-web-wrong-10"},
      {"VerifiedClientKey", "", "",
       "{client-certificate-data: {cert_b64}, client-key-data: {secret_b64}}", true, Feature::kNone,
       "", "", false, "", true},
  };
}

std::string Base64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (i + 1 == in.size()) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const unsigned v =
        (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
  }
  return out;
}

// The strings whose presence means a leak: the secret, its base64, and its lines of 16 characters
// or more that are not PEM armour.
std::vector<std::string> Needles(const std::string& secret) {
  std::vector<std::string> needles = {secret, Base64(secret)};
  if (secret.find('\n') != std::string::npos) {
    std::istringstream in(secret);
    for (std::string line; std::getline(in, line);) {
      if (line.size() >= 16 && line.rfind("-----", 0) != 0) needles.push_back(line);
    }
  }
  return needles;
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  for (size_t p = 0; (p = s.find(from, p)) != std::string::npos; p += to.size()) {
    s.replace(p, from.size(), to);
  }
  return s;
}

// Everything one run produced, labelled by where it came from.
using Outputs = std::vector<std::pair<std::string, std::string>>;

std::string Binary() { return KMB_BINARY; }

bool BinaryHasFlag(const std::string& flag) {
  std::string out;
  RunCommand(Binary() + " --help", &out);
  return out.find(flag) != std::string::npos;
}

class LeakTest : public ::testing::TestWithParam<Scenario> {
 protected:
  void SetUp() override {
    const Scenario& s = GetParam();
    sim::SimOptions so;
    so.nodes = 2;
    so.pods_per_node = 3;
    so.tls = true;
    so.token = s.sim_token;
    so.threads = 8;
    so.require_client_cert = s.sim_client_cert;
    std::string error;
    sim_ = sim::SimulatedCluster::Start(so, &error);
    ASSERT_TRUE(sim_) << error;
    secret_ = s.sim_client_cert ? sim_->client_key_pem() : s.secret;
    const std::string cert = s.sim_client_cert ? sim_->client_cert_pem() : ClientKeyPair().cert_pem;

    auto fill = [&](std::string text) {
      text = Replace(text, "{secret_b64}", Base64(secret_));
      text = Replace(text, "{cert_b64}", Base64(cert));
      text = Replace(text, "{dir}", dir_.path());
      return Replace(text, "{secret}", secret_);
    };
    if (!s.file_name.empty()) {
      testing::WriteFile(dir_.file(s.file_name), fill(s.file_content));
      if (s.executable) chmod(dir_.file(s.file_name).c_str(), 0755);
    }
    kubeconfig_ = dir_.file("kubeconfig");
    testing::WriteFile(kubeconfig_,
                       "apiVersion: v1\nkind: Config\ncurrent-context: leak\n"
                       "clusters:\n- name: sim\n  cluster:\n    server: " +
                           sim_->url() +
                           "\n    certificate-authority-data: " + Base64(sim_->ca_pem()) +
                           "\nusers:\n- name: leak\n  user: " + fill(s.user) +
                           "\ncontexts:\n- name: leak\n  context: {cluster: sim, user: leak}\n");
    if (!s.web_password.empty()) {
      web_config_ = dir_.file("web.yml");
      testing::WriteFile(web_config_, std::string("basic_auth_users:\n  prometheus: '") +
                                          kWebPasswordHash + "'\n");
    }
  }

  // Skips the scenario when the binary lacks its feature; says why.
  bool FeatureMissing(Feature f, std::string* why) {
    if (f == Feature::kWebConfig && !BinaryHasFlag("--web.config.file")) {
      *why = "this build has no --web.config.file";
      return true;
    }
    if (f == Feature::kExec || f == Feature::kTokenFile) {
      std::string out;
      const int rc = RunCommand(Binary() + " --once --kubeconfig " + kubeconfig_, &out);
      if (out.find("not supported") != std::string::npos) {
        *why = "this build does not support it: " + out.substr(0, 200);
        return true;
      }
      if (f == Feature::kTokenFile && rc != 0) {
        *why = "this build ignores tokenFile in a kubeconfig user";
        return true;
      }
    }
    return false;
  }

  // Runs the exporter every way and returns all it produced.
  Outputs RunEverything() {
    const Scenario& s = GetParam();
    Outputs outs;
    std::vector<std::string> argv = {
        Binary(), "--kubeconfig", kubeconfig_, "--web.listen-address", "127.0.0.1:0", "--interval",
        "1s",     "--log.level",  "debug"};
    if (!web_config_.empty()) argv.insert(argv.end(), {"--web.config.file", web_config_});
    {
      Child exporter(argv, dir_.file("serve.out"), dir_.file("serve.err"));
      const std::string line = exporter.WaitForLine("serving metrics", true);
      EXPECT_NE(line, "") << exporter.Stderr();
      // The exporter's malloc, and tcmalloc returning freed pages at once (process_stats.h).
      EXPECT_EQ(testing::LogfmtField(line, "allocator"),
                KMB_EXPORTER_TCMALLOC ? "tcmalloc" : "glibc");
      EXPECT_EQ(testing::LogfmtField(line, "freed_pages_returned_at_once"),
                KMB_EXPORTER_TCMALLOC ? "true" : "false");
      const std::string metrics_url = testing::LogfmtField(line, "url");
      const std::string base = metrics_url.substr(0, metrics_url.rfind('/'));
      std::vector<std::string> auth;
      if (!s.web_password.empty()) {
        auth.push_back("Authorization: Basic " + Base64("prometheus:" + s.web_password));
      }
      // Until the first poll is done, then two more polls' worth of logs.
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      // (A refused web password sees 401 on every path: wait for the server only.)
      const long ready = s.web_password != "" && s.web_password != kWebPassword ? 401 : 200;
      while (HttpGet(base + "/readyz", auth).status != ready &&
             std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2500));
      auto om = auth;
      om.push_back("Accept: application/openmetrics-text; version=1.0.0");
      for (const auto& [path, headers] :
           std::vector<std::pair<std::string, std::vector<std::string>>>{
               {metrics_url, auth},
               {metrics_url, om},
               {base + "/debug/status", auth},
               {base + "/", auth},
               {base + "/readyz", auth},
               {base + "/healthz", auth},
               {base + "/no-such-page", auth},
               {metrics_url, {}}}) {
        const testing::Fetched f = HttpGet(path, headers);
        outs.push_back({"GET " + path, f.headers + f.body + f.error});
        if (path == metrics_url && headers == auth) metrics_ = f;
      }
      exporter.Stop();
      outs.push_back({"serving stdout", exporter.Stdout()});
      outs.push_back({"serving stderr", exporter.Stderr()});
    }
    for (const std::string& cmd :
         {Binary() + " --once --log.level debug --kubeconfig " + kubeconfig_,
          Binary() + " --once --log.level debug --log.format json --kubeconfig " + kubeconfig_,
          Binary() + " doctor --timeout 2s --kubeconfig " + kubeconfig_,
          Binary() + " doctor --timeout 2s --output json --kubeconfig " + kubeconfig_}) {
      std::string out;
      const int rc = RunCommand(cmd, &out);
      outs.push_back({cmd + " (exit " + std::to_string(rc) + ")", out});
    }
    return outs;
  }

  TempDir dir_;
  std::unique_ptr<sim::SimulatedCluster> sim_;
  std::string kubeconfig_, web_config_;
  std::string secret_;  // the row's secret, or the key the simulator issued
  testing::Fetched metrics_;
};

TEST_P(LeakTest, SecretAppearsInNoOutput) {
  const Scenario& s = GetParam();
  std::string why;
  if (FeatureMissing(s.needs, &why)) GTEST_SKIP() << s.name << ": " << why;

  const Outputs outs = RunEverything();
  ASSERT_FALSE(secret_.empty());
  const std::vector<std::string> needles = Needles(secret_);
  // The search would find the secret where the exporter was given it (the check can fail).
  const std::string given = testing::ReadFile(kubeconfig_) +
                            (s.file_name.empty() ? "" : testing::ReadFile(dir_.file(s.file_name)));
  bool seen_in_input = !s.web_password.empty();
  for (const auto& n : needles) seen_in_input |= given.find(n) != std::string::npos;
  EXPECT_TRUE(seen_in_input);

  size_t total = 0;
  for (const auto& [where, text] : outs) {
    total += text.size();
    for (const auto& needle : needles) {
      const size_t at = text.find(needle);
      EXPECT_EQ(at, std::string::npos)
          << s.name << ": secret found in " << where << ":\n"
          << text.substr(at == std::string::npos ? 0 : (at > 200 ? at - 200 : 0), 400);
    }
  }
  EXPECT_GT(total, 1000u);  // the runs produced output to search

  // The exporter did use the credentials (or was refused by them).
  bool up = false;  // some node's Summary was fetched with these credentials
  std::istringstream lines(metrics_.body);
  for (std::string l; std::getline(lines, l);) {
    up |= l.rfind("kube_metrics_bridge_source_up{source=\"summary\"", 0) == 0 && l.ends_with(" 1");
  }
  const bool web_refused = s.web_password != "" && s.web_password != kWebPassword;
  if (web_refused) {
    EXPECT_EQ(metrics_.status, 401) << "wrong /metrics password accepted";
  } else {
    EXPECT_EQ(up, s.authenticates) << metrics_.body.substr(0, 2000);
  }
}

INSTANTIATE_TEST_SUITE_P(Scenarios, LeakTest, ::testing::ValuesIn(Scenarios()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(LeakNeedles, CoverBase64AndPemLines) {
  const auto n = Needles("-----BEGIN X-----\nABCDEFGHIJKLMNOPQRSTUVWXYZ\n-----END X-----\n");
  EXPECT_EQ(n.size(), 3u);
  EXPECT_EQ(n[2], "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
  EXPECT_EQ(Base64("kmb"), "a21i");
  EXPECT_EQ(Base64("km"), "a20=");
  EXPECT_EQ(Base64("k"), "aw==");
}

}  // namespace
}  // namespace kmb
