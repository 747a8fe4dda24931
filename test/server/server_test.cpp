#include "kmb/server/server.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>
#include <thread>
#include <chrono>

#include "common/test_util.h"
#include "kmb/doctor/doctor.h"
#include "kmb/net/civetweb.h"
#include "kmb/util/log.h"
#include "sim/tls.h"

namespace kmb {
namespace {

using testing::HttpGet;

ServerOptions Plain(const std::string& listen, int threads) {
  ServerOptions o;
  o.listen_address = listen;
  o.threads = threads;
  return o;
}

std::shared_ptr<Exposition> MakeExposition(uint64_t value = 42) {
  auto snap = std::make_shared<Snapshot>();
  snap->summary.enabled = true;
  NodeResult r;
  r.node = "n1";
  EntityStats e;
  e.entity = catalog::Entity::kNode;
  e.labels = {"n1"};
  e.samples.push_back(Sample::Uint(
      static_cast<catalog::MetricId>(catalog::FindByName("node_memory_working_set_bytes")), value));
  r.summary.entities.push_back(e);
  snap->nodes.push_back(r);
  return std::make_shared<Exposition>(snap, WriterOptions{});
}

TEST(Negotiation, Format) {
  EXPECT_EQ(NegotiateFormat(""), ExpositionFormat::kText004);
  EXPECT_EQ(NegotiateFormat("text/plain;version=0.0.4"), ExpositionFormat::kText004);
  EXPECT_EQ(NegotiateFormat("application/openmetrics-text;version=1.0.0;q=0.5,text/plain;q=0.4"),
            ExpositionFormat::kOpenMetrics100);
}

TEST(Negotiation, Gzip) {
  EXPECT_TRUE(net::AcceptsGzip("gzip"));
  EXPECT_TRUE(net::AcceptsGzip("deflate, gzip;q=1.0, *;q=0.5"));
  EXPECT_FALSE(net::AcceptsGzip("identity"));
  EXPECT_FALSE(net::AcceptsGzip("gzip;q=0"));
  EXPECT_FALSE(net::AcceptsGzip(""));
}

TEST(Server, ServesMetricsHealthReadyAndLanding) {
  std::string error;
  auto server = MetricsServer::Start(Plain("127.0.0.1:0", 4), &error);
  ASSERT_TRUE(server) << error;
  ASSERT_GT(server->port(), 0);
  std::string base = server->url();

  EXPECT_EQ(HttpGet(base + "/healthz").status, 200);
  EXPECT_EQ(HttpGet(base + "/readyz").status, 503);
  EXPECT_EQ(HttpGet(base + "/metrics").status, 503);

  server->Publish(MakeExposition());
  EXPECT_TRUE(server->TakeScrapedBodies().empty());
  EXPECT_EQ(HttpGet(base + "/readyz").status, 200);
  auto text = HttpGet(base + "/metrics");
  EXPECT_EQ(text.status, 200);
  EXPECT_NE(text.headers.find("text/plain; version=0.0.4"), std::string::npos);
  EXPECT_NE(text.body.find("node_memory_working_set_bytes{node=\"n1\"} 42\n"), std::string::npos);

  auto om = HttpGet(base + "/metrics", {"Accept: application/openmetrics-text; version=1.0.0"});
  EXPECT_NE(om.headers.find("application/openmetrics-text; version=1.0.0"), std::string::npos);
  EXPECT_TRUE(om.body.ends_with("# EOF\n"));

  auto gz = HttpGet(base + "/metrics", {"Accept-Encoding: gzip"});
  EXPECT_NE(gz.headers.find("Content-Encoding: gzip"), std::string::npos);
  EXPECT_EQ(gz.body, server->Current()->GzipBody(ExpositionFormat::kText004));
  // What was served, for the poll loop to prepare next time.
  EXPECT_EQ(server->TakeScrapedBodies(), BodySet::Of(ExpositionFormat::kText004, false) |
                                             BodySet::Of(ExpositionFormat::kOpenMetrics100, false) |
                                             BodySet::Of(ExpositionFormat::kText004, true));
  EXPECT_TRUE(server->TakeScrapedBodies().empty());
  // Prometheus' own Accept header (2.42) with gzip: the OpenMetrics gzip body.
  HttpGet(base + "/metrics",
          {"Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
           "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
           "Accept-Encoding: gzip"});
  EXPECT_EQ(server->TakeScrapedBodies(), BodySet::PrometheusDefault());

  auto landing = HttpGet(base + "/");
  EXPECT_EQ(landing.status, 200);
  EXPECT_NE(landing.body.find("href=\"/metrics\""), std::string::npos);
  EXPECT_NE(landing.body.find(std::string(Version())), std::string::npos);
  EXPECT_EQ(HttpGet(base + "/nope").status, 404);
}

// A scrape waiting for the next snapshot does not hold up shutdown: Stop wakes it (it answers
// 503, or civetweb, stopping, drops the answer and closes the connection).
TEST(Server, StopAnswersAScrapeThatWaitsForTheNextSnapshot) {
  std::string error;
  ServerOptions o = Plain("127.0.0.1:0", 4);
  o.refresh_seconds = 30;  // it would wait 65 s
  auto server = MetricsServer::Start(o, &error);
  ASSERT_TRUE(server) << error;
  auto first = MakeExposition(42);
  first->Prepare(BodySet::PrometheusDefault());
  server->Publish(first);
  first->ReleaseData();
  testing::Fetched text;
  std::thread scrape([&] { text = HttpGet(server->url() + "/metrics"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto t0 = std::chrono::steady_clock::now();
  server->Stop();
  scrape.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  EXPECT_TRUE(text.status == 503 || text.status == 0) << text.status;
}

// While a poll runs, the published snapshot is released (Exposition::ReleaseData): the bodies
// prepared for it are still sent at once; a body that was not prepared, and the landing page,
// wait for the next snapshot instead of failing. Once the poll is about to render, its bodies
// are withdrawn too (Exposition::WithdrawBodies), and every scrape waits for the render.
TEST(Server, DuringAPollServesPreparedBodiesAndWaitsForTheRest) {
  std::string error;
  ServerOptions o = Plain("127.0.0.1:0", 4);
  o.refresh_seconds = 5;
  auto server = MetricsServer::Start(o, &error);
  ASSERT_TRUE(server) << error;
  const std::string base = server->url();
  const std::string om = "Accept: application/openmetrics-text; version=1.0.0";

  auto first = MakeExposition(42);
  first->Prepare(BodySet::PrometheusDefault());
  server->Publish(first);
  first->ReleaseData();  // the next poll has started

  const auto t0 = std::chrono::steady_clock::now();
  auto prepared = HttpGet(base + "/metrics", {om, "Accept-Encoding: gzip"});
  EXPECT_EQ(prepared.status, 200);
  EXPECT_EQ(prepared.body, first->GzipBody(ExpositionFormat::kOpenMetrics100));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2)) << "sent at once";

  // A GET on its own thread: its answer, and when it came.
  using Clock = std::chrono::steady_clock;
  auto get = [&](std::string path, std::vector<std::string> headers, testing::Fetched* out,
                 Clock::time_point* done) {
    return std::thread([=] {
      *out = HttpGet(base + path, headers);
      *done = Clock::now();
    });
  };
  testing::Fetched text, landing;
  Clock::time_point text_done, landing_done;
  std::thread scrape = get("/metrics", {}, &text, &text_done);
  std::thread page = get("/", {}, &landing, &landing_done);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto published = std::chrono::steady_clock::now();
  auto second = MakeExposition(43);
  server->Publish(second);  // the poll ends
  scrape.join();
  page.join();
  EXPECT_GE(text_done, published) << "the text scrape waited for the next snapshot";
  EXPECT_GE(landing_done, published) << "so did the landing page";
  EXPECT_EQ(text.status, 200);
  EXPECT_NE(text.body.find("node_memory_working_set_bytes{node=\"n1\"} 43\n"), std::string::npos)
      << text.body;
  EXPECT_EQ(landing.status, 200);
  EXPECT_NE(landing.body.find("n1"), std::string::npos);

  // The next poll has decoded its snapshot and is about to render: the published bodies are
  // withdrawn so that the new ones take their buffers. A scrape now waits for the new snapshot
  // and gets its body, gzip or not.
  second->Prepare(BodySet::PrometheusDefault());
  second->ReleaseData();
  second->WithdrawBodies();
  testing::Fetched gz;
  Clock::time_point gz_done;
  std::thread gz_scrape = get("/metrics", {om, "Accept-Encoding: gzip"}, &gz, &gz_done);
  std::thread text_scrape = get("/metrics", {}, &text, &text_done);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto rendered = std::chrono::steady_clock::now();
  auto third = MakeExposition(44);
  third->Prepare(BodySet::PrometheusDefault());
  server->Publish(third);
  gz_scrape.join();
  text_scrape.join();
  EXPECT_GE(gz_done, rendered) << "the gzip scrape waited for the new snapshot";
  EXPECT_EQ(gz.status, 200);
  EXPECT_EQ(gz.body, third->GzipBody(ExpositionFormat::kOpenMetrics100));
  EXPECT_GE(text_done, rendered) << "so did the uncompressed one";
  EXPECT_EQ(text.status, 200);
  EXPECT_NE(text.body.find("node_memory_working_set_bytes{node=\"n1\"} 44\n"), std::string::npos)
      << text.body;
}

TEST(Server, DebugStatusExplainsEachNode) {
  std::string error;
  auto server = MetricsServer::Start(Plain("127.0.0.1:0", 2), &error);
  ASSERT_TRUE(server) << error;
  EXPECT_NE(testing::HttpGet(server->url() + "/debug/status").body.find("Waiting"),
            std::string::npos);
  auto snap = std::make_shared<Snapshot>();
  snap->summary.enabled = true;
  NodeResult good, bad;
  good.node = "node-ok";
  bad.node = "node-<broken>";
  bad.status = Status::Error(reason::kTimeout,
                             "GET https://x/api/v1/nodes/b/proxy/stats/summary: "
                             "Operation timed out after 10001 milliseconds");
  snap->nodes = {good, bad};
  server->Publish(std::make_shared<Exposition>(snap, WriterOptions{}));
  auto page = testing::HttpGet(server->url() + "/debug/status");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("node-ok"), std::string::npos);
  EXPECT_NE(page.body.find("node-&lt;broken&gt;"), std::string::npos) << "escaped";
  EXPECT_NE(page.body.find("class=\"fail\">timeout"), std::string::npos) << page.body;
  EXPECT_NE(page.body.find(doctor::Explain(bad.status).substr(0, 20)), std::string::npos);
  EXPECT_NE(testing::HttpGet(server->url() + "/").body.find("/debug/status"), std::string::npos);
}

TEST(Server, BadListenAddressIsAClearError) {
  std::string error;
  auto first = MetricsServer::Start(Plain("127.0.0.1:0", 2), &error);
  ASSERT_TRUE(first);
  std::string taken = "127.0.0.1:" + std::to_string(first->port());
  auto second = MetricsServer::Start(Plain(taken, 2), &error);
  EXPECT_FALSE(second);
  EXPECT_NE(error.find(taken), std::string::npos) << error;
}

}  // namespace
}  // namespace kmb

namespace kmb {
namespace {

// Listening TCP sockets of this process: "address:port" in /proc/net/tcp's hex notation mapped
// to "a.b.c.d:port".
std::vector<std::string> OwnListeningSockets() {
  std::set<std::string> inodes;
  for (const auto& fd : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const std::string target = std::filesystem::read_symlink(fd.path(), ec).string();
    if (target.starts_with("socket:[")) inodes.insert(target.substr(8, target.size() - 9));
  }
  std::vector<std::string> out;
  std::istringstream tcp(testing::ReadFile("/proc/net/tcp"));
  std::string line;
  std::getline(tcp, line);  // header
  while (std::getline(tcp, line)) {
    std::istringstream f(line);
    std::string sl, local, remote, state, queues, timer, retr, uid, timeout, inode;
    f >> sl >> local >> remote >> state >> queues >> timer >> retr >> uid >> timeout >> inode;
    if (state != "0A" || !inodes.count(inode)) continue;              // 0A: LISTEN
    const uint32_t ip = std::stoul(local.substr(0, 8), nullptr, 16);  // little-endian
    const int port = std::stoi(local.substr(9), nullptr, 16);
    out.push_back(std::to_string(ip & 0xff) + "." + std::to_string((ip >> 8) & 0xff) + "." +
                  std::to_string((ip >> 16) & 0xff) + "." + std::to_string(ip >> 24) + ":" +
                  std::to_string(port));
  }
  return out;
}

TEST(Server, WithTlsThePlainListenerIsOnLoopbackOnly) {
  sim::TlsMaterial tls;
  std::string error;
  ASSERT_TRUE(sim::GenerateTlsMaterial({"127.0.0.1"}, {}, &tls, &error)) << error;
  auto web = std::make_shared<WebConfig>();
  web->tls_enabled = true;
  web->tls.cert_pem = tls.server_cert_pem;
  web->tls.key_pem = tls.server_key_pem;
  ServerOptions options = Plain("0.0.0.0:0", 2);
  options.web_config = web;
  const auto before = OwnListeningSockets();
  auto server = MetricsServer::Start(options, &error);
  ASSERT_TRUE(server) << error;
  EXPECT_TRUE(server->url().starts_with("https://127.0.0.1:")) << server->url();
  std::vector<std::string> added;
  for (const std::string& s : OwnListeningSockets()) {
    if (std::find(before.begin(), before.end(), s) == before.end()) added.push_back(s);
  }
  ASSERT_EQ(added.size(), 2u) << "the TLS front end and civetweb";
  const std::string public_socket = "0.0.0.0:" + std::to_string(server->port());
  for (const std::string& s : added) {
    EXPECT_TRUE(s == public_socket || s.starts_with("127.0.0.1:")) << s;
  }
  EXPECT_NE(std::find(added.begin(), added.end(), public_socket), added.end());
  EXPECT_EQ(HttpGet(server->url() + "/healthz", {}, tls.ca_cert_pem).status, 200);
  // HTTP/1.1 through the front end, keep-alive included: several requests, one client.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(HttpGet(server->url() + "/readyz", {}, tls.ca_cert_pem).status, 503);
  }
}

}  // namespace
}  // namespace kmb
