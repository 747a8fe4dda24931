// The real exporter with --web.config.file, probed with the curl command-line tool: basic
// auth, client certificates, TLS versions, headers, SIGHUP reload and SIGTERM.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "common/test_util.h"
#include "server/server_test_support.h"
#include "sim/tls.h"

namespace kmb {
namespace {

using testing::Bcrypt;
using testing::Child;
using testing::RunCommand;
using testing::TempDir;
using testing::WriteFile;

// Certificates on disk: a CA, the exporter's serving certificate, and a client certificate
// from the same CA; plus another CA's client certificate.
struct Certificates {
  explicit Certificates(const TempDir& dir) {
    sim::TlsMaterial server, stranger;
    std::string error;
    EXPECT_TRUE(sim::GenerateTlsMaterial({"127.0.0.1"}, {"localhost"}, &server, &error)) << error;
    EXPECT_TRUE(sim::GenerateTlsMaterial({}, {"stranger"}, &stranger, &error)) << error;
    ca = dir.file("ca.crt");
    WriteFile(ca, server.ca_cert_pem);
    WriteFile(dir.file("ca.key"), server.ca_key_pem);
    WriteFile(dir.file("server.crt"), server.server_cert_pem);
    WriteFile(dir.file("server.key"), server.server_key_pem);
    WriteFile(dir.file("stranger-ca.crt"), stranger.ca_cert_pem);
    WriteFile(dir.file("stranger-ca.key"), stranger.ca_key_pem);
    client_cert = dir.file("client.crt");
    client_key = dir.file("client.key");
    stranger_cert = dir.file("stranger.crt");
    stranger_key = dir.file("stranger.key");
    std::string out;
    EXPECT_TRUE(
        testing::IssueClientCert(ca, dir.file("ca.key"), "scraper", client_cert, client_key, &out))
        << out;
    EXPECT_TRUE(testing::IssueClientCert(dir.file("stranger-ca.crt"), dir.file("stranger-ca.key"),
                                         "stranger", stranger_cert, stranger_key, &out))
        << out;
  }
  std::string ca, client_cert, client_key, stranger_cert, stranger_key;
};

// The exporter on its embedded simulated cluster, with a web config, on a free port.
class Exporter {
 public:
  Exporter(const TempDir& dir, const std::string& web_config,
           const std::vector<std::string>& extra = {"--demo"})
      : port_(testing::FreePort()) {
    std::vector<std::string> argv = {KMB_BINARY, "--web.listen-address",
                                     "127.0.0.1:" + std::to_string(port_), "--interval", "1s"};
    if (!web_config.empty()) {
      argv.push_back("--web.config.file");
      argv.push_back(web_config);
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    // Each exporter its own log files, so that one never reads the previous one's lines.
    static int count = 0;
    const std::string name = "exporter-" + std::to_string(++count);
    child_ = std::make_unique<Child>(argv, dir.file(name + ".out"), dir.file(name + ".err"));
    listening_ = !child_->WaitForLine("serving metrics", /*from_stderr=*/true).empty();
  }
  bool listening() const { return listening_; }
  Child& child() { return *child_; }
  int port() const { return port_; }
  std::string url(const std::string& path) const {
    return "https://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  int port_;
  bool listening_ = false;
  std::unique_ptr<Child> child_;
};

struct CurlResult {
  int exit_code = -1;  // curl's: 0 ok, 35 handshake failed, 56 receive failed, ...
  int status = 0;
  std::string output;  // headers (-i) and body, or curl's error
};

// Runs the curl binary with `args` (quoted by the caller) and -i -sS, returning the HTTP status.
CurlResult Curl(const std::string& args) {
  CurlResult r;
  r.exit_code = RunCommand("curl -sS -i --max-time 10 " + args, &r.output);
  if (r.output.starts_with("HTTP/")) r.status = std::atoi(r.output.c_str() + 9);
  return r;
}

class SecuredMetrics : public ::testing::Test {
 protected:
  TempDir dir_;
  Certificates certs_{dir_};
  std::string WriteConfig(const std::string& yaml) {
    const std::string path = dir_.file("web.yml");
    WriteFile(path, yaml);
    return path;
  }
  std::string TlsBlock() {
    return "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";
  }
};

TEST_F(SecuredMetrics, BasicAuthOverTlsWithHeaders) {
  const std::string config =
      WriteConfig(TlsBlock() +
                  "http_server_config:\n  headers:\n    X-Frame-Options: deny\n"
                  "    Strict-Transport-Security: max-age=63072000\n"
                  "basic_auth_users:\n  prometheus: " +
                  Bcrypt("correct horse") + "\n");
  Exporter exporter(dir_, config);
  ASSERT_TRUE(exporter.listening()) << exporter.child().Stderr();
  const std::string ca = "--cacert " + certs_.ca + " ";

  CurlResult none = Curl(ca + exporter.url("/metrics"));
  EXPECT_EQ(none.status, 401) << none.output;
  EXPECT_NE(none.output.find("WWW-Authenticate: Basic"), std::string::npos) << none.output;

  CurlResult wrong = Curl(ca + "-u prometheus:wrong " + exporter.url("/metrics"));
  EXPECT_EQ(wrong.status, 401) << wrong.output;
  EXPECT_NE(wrong.output.find("WWW-Authenticate: Basic"), std::string::npos);
  EXPECT_EQ(Curl(ca + "-u nobody:'correct horse' " + exporter.url("/metrics")).status, 401);

  // The exporter-toolkit protects every path, /healthz and unknown ones included.
  EXPECT_EQ(Curl(ca + exporter.url("/healthz")).status, 401);
  EXPECT_EQ(Curl(ca + exporter.url("/")).status, 401);
  EXPECT_EQ(Curl(ca + exporter.url("/nope")).status, 401);

  // Right credentials: metrics, once the first poll is in.
  CurlResult ok;
  for (int i = 0; i < 100; ++i) {
    ok = Curl(ca + "-u 'prometheus:correct horse' " + exporter.url("/metrics"));
    if (ok.status != 503) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(ok.status, 200) << ok.output;
  EXPECT_NE(ok.output.find("kube_metrics_bridge_build_info"), std::string::npos);
  EXPECT_NE(ok.output.find("node_memory_working_set_bytes{node=\"sim-node-0\"}"),
            std::string::npos);
  // The configured headers are on every response, 401s included.
  for (const CurlResult* r : {&ok, &none, &wrong}) {
    EXPECT_NE(r->output.find("X-Frame-Options: deny\r\n"), std::string::npos) << r->output;
    EXPECT_NE(r->output.find("Strict-Transport-Security: max-age=63072000\r\n"), std::string::npos);
  }
  EXPECT_EQ(Curl(ca + "-u 'prometheus:correct horse' " + exporter.url("/healthz")).status, 200);

  // Plain HTTP on the TLS port is not served.
  CurlResult plain = Curl("http://127.0.0.1:" + std::to_string(exporter.port()) + "/metrics");
  EXPECT_NE(plain.status, 200);

  // Neither password nor hash is ever logged.
  EXPECT_EQ(exporter.child().Stop(), 0);
  const std::string logs = exporter.child().Stderr() + exporter.child().Stdout();
  EXPECT_EQ(logs.find("correct horse"), std::string::npos);
  EXPECT_EQ(logs.find("$2b$"), std::string::npos);
}

TEST_F(SecuredMetrics, TlsVersions) {
  Exporter exporter(dir_, WriteConfig(TlsBlock()));
  ASSERT_TRUE(exporter.listening()) << exporter.child().Stderr();
  const std::string ca = "--cacert " + certs_.ca + " ";
  const std::string url = exporter.url("/healthz");
  // TLS 1.0 and 1.1 are refused during the handshake (the default min_version is TLS12).
  CurlResult v10 = Curl(ca + "--tlsv1.0 --tls-max 1.0 " + url);
  EXPECT_NE(v10.exit_code, 0) << v10.output;
  EXPECT_EQ(v10.status, 0);
  CurlResult v11 = Curl(ca + "--tlsv1.1 --tls-max 1.1 " + url);
  EXPECT_NE(v11.exit_code, 0) << v11.output;
  EXPECT_EQ(Curl(ca + "--tlsv1.2 --tls-max 1.2 " + url).status, 200);
  EXPECT_EQ(Curl(ca + "--tlsv1.3 " + url).status, 200);
  EXPECT_EQ(exporter.child().Stop(), 0);

  // min_version TLS13 refuses TLS 1.2.
  Exporter strict(dir_, WriteConfig(TlsBlock() + "  min_version: TLS13\n"));
  ASSERT_TRUE(strict.listening()) << strict.child().Stderr();
  EXPECT_NE(Curl(ca + "--tlsv1.2 --tls-max 1.2 " + strict.url("/healthz")).exit_code, 0);
  EXPECT_EQ(Curl(ca + "--tlsv1.3 " + strict.url("/healthz")).status, 200);
}

TEST_F(SecuredMetrics, ClientCertificates) {
  Exporter exporter(dir_,
                    WriteConfig(TlsBlock() + "  client_ca_file: ca.crt\n"
                                             "  client_auth_type: RequireAndVerifyClientCert\n"));
  ASSERT_TRUE(exporter.listening()) << exporter.child().Stderr();
  const std::string ca = "--cacert " + certs_.ca + " ";
  const std::string url = exporter.url("/healthz");
  CurlResult missing = Curl(ca + url);
  EXPECT_NE(missing.exit_code, 0) << "no client certificate: refused";
  EXPECT_EQ(missing.status, 0) << missing.output;
  CurlResult stranger =
      Curl(ca + "--cert " + certs_.stranger_cert + " --key " + certs_.stranger_key + " " + url);
  EXPECT_NE(stranger.exit_code, 0) << "a certificate from another CA: refused";
  EXPECT_EQ(stranger.status, 0) << stranger.output;
  CurlResult good =
      Curl(ca + "--cert " + certs_.client_cert + " --key " + certs_.client_key + " " + url);
  EXPECT_EQ(good.status, 200) << good.output;
}

TEST_F(SecuredMetrics, BadConfigAtStartIsOneLineAndExit1) {
  const std::string config = WriteConfig(TlsBlock() + "  client_auth_type: Sometimes\n");
  std::string out;
  const int rc =
      RunCommand(std::string(KMB_BINARY) +
                     " --demo --web.listen-address 127.0.0.1:0 --web.config.file " + config,
                 &out);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find(config), std::string::npos) << "names the file: " << out;
  EXPECT_NE(out.find("unknown client_auth_type"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
}

TEST_F(SecuredMetrics, SighupReloadsTheWebConfig) {
  const std::string config =
      WriteConfig(TlsBlock() + "basic_auth_users:\n  prometheus: " + Bcrypt("first") + "\n");
  Exporter exporter(dir_, config);
  ASSERT_TRUE(exporter.listening()) << exporter.child().Stderr();
  const std::string ca = "--cacert " + certs_.ca + " ";
  const std::string url = exporter.url("/healthz");
  EXPECT_EQ(Curl(ca + "-u prometheus:first " + url).status, 200);
  EXPECT_EQ(Curl(ca + "-u prometheus:second " + url).status, 401);

  WriteConfig(TlsBlock() + "basic_auth_users:\n  prometheus: " + Bcrypt("second") + "\n");
  kill(exporter.child().pid(), SIGHUP);
  ASSERT_FALSE(exporter.child().WaitForLine("reloaded the web config", true).empty())
      << exporter.child().Stderr();
  EXPECT_EQ(Curl(ca + "-u prometheus:second " + url).status, 200);
  EXPECT_EQ(Curl(ca + "-u prometheus:first " + url).status, 401);

  // A bad new file: one error line, and the previous config stays.
  WriteConfig(TlsBlock() + "basic_auth_users:\n  prometheus: not-a-hash\n");
  kill(exporter.child().pid(), SIGHUP);
  const std::string line = exporter.child().WaitForLine("cannot load the web config", true);
  EXPECT_NE(line.find(config), std::string::npos) << exporter.child().Stderr();
  EXPECT_NE(line.find("is not a bcrypt hash"), std::string::npos) << line;
  EXPECT_FALSE(exporter.child().WaitForLine("keeping the previous web config", true).empty());
  EXPECT_EQ(Curl(ca + "-u prometheus:second " + url).status, 200);
  EXPECT_TRUE(exporter.child().Alive());
  EXPECT_EQ(exporter.child().Stop(), 0);
}

// An API server that accepts connections and never answers (a broken service network).
class SilentListener {
 public:
  SilentListener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    listen(fd_, 16);  // the kernel completes the handshakes; nobody reads
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() { close(fd_); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(Shutdown, SigtermExitsZeroWithin5sWhileAPollHangs) {
  SilentListener apiserver;
  TempDir dir;
  Exporter exporter(
      dir, "",
      {"--apiserver", apiserver.url(), "--request-timeout", "60s", "--connect-timeout", "60s"});
  ASSERT_TRUE(exporter.listening()) << exporter.child().Stderr();
  // Let the first poll get stuck on the silent API server.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(
      testing::HttpGet("http://127.0.0.1:" + std::to_string(exporter.port()) + "/readyz").status,
      503)
      << "the poll is in flight";
  const auto start = std::chrono::steady_clock::now();
  const int rc = exporter.child().Stop(std::chrono::milliseconds(5000));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(rc, 0) << "killed after 5 s, or a non-zero exit\n" << exporter.child().Stderr();
  EXPECT_LT(seconds, 5.0);
  EXPECT_NE(exporter.child().Stderr().find("shutting down"), std::string::npos);
}

}  // namespace
}  // namespace kmb
