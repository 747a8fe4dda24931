#include "kmb/config/options.h"

#include <gtest/gtest.h>

namespace kmb {
namespace {

std::optional<Options> Parse(std::vector<std::string> args, int* code) {
  args.insert(args.begin(), "kube-metrics-bridge");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return ParseOptions(static_cast<int>(argv.size()), argv.data(), code);
}

TEST(Durations, Parse) {
  EXPECT_EQ(ParseDurationFlag("15s"), 15);
  EXPECT_EQ(ParseDurationFlag("1m"), 60);
  EXPECT_EQ(ParseDurationFlag("2m30s"), 150);
  EXPECT_EQ(ParseDurationFlag("500ms"), 0.5);
  EXPECT_EQ(ParseDurationFlag("20"), 20);
  EXPECT_FALSE(ParseDurationFlag("fast"));
  EXPECT_FALSE(ParseDurationFlag("10x"));
  EXPECT_FALSE(ParseDurationFlag(""));
}

TEST(Options, Defaults) {
  int code = -1;
  auto o = Parse({}, &code);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->interval_seconds, 15);
  EXPECT_TRUE(o->summary);
  EXPECT_TRUE(o->metrics_api);
  EXPECT_EQ(o->listen_address, ":9834");
  EXPECT_EQ(o->telemetry_path, "/metrics");
  EXPECT_EQ(o->command, Options::Command::kRun);
}

TEST(Options, FlagsParse) {
  int code = -1;
  auto o = Parse({"--interval=30s", "--sources=metrics-api", "--once", "--log.format=json",
                  "--kubeconfig", "/tmp/kc", "--context", "prod", "--timestamps=source"},
                 &code);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->interval_seconds, 30);
  EXPECT_FALSE(o->summary);
  EXPECT_TRUE(o->metrics_api);
  EXPECT_TRUE(o->once);
  EXPECT_EQ(o->log_format, "json");
  EXPECT_EQ(o->kubeconfig, "/tmp/kc");
  EXPECT_EQ(o->context, "prod");
  EXPECT_EQ(o->timestamps, "source");
}

TEST(Options, MetricGroups) {
  int code = -1;
  auto o = Parse({"--metric-groups=node,psi-avg", "--pod-uid-label"}, &code);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->metric_groups, (std::vector<std::string>{"node", "psi-avg", "self"}));
  EXPECT_TRUE(o->pod_uid_label);
  testing::internal::CaptureStderr();
  EXPECT_FALSE(Parse({"--metric-groups=node,gpu"}, &code));
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(code, 2);
  EXPECT_NE(err.find("unknown group \"gpu\""), std::string::npos) << err;
}

TEST(Options, SimulateSubcommand) {
  int code = -1;
  auto o = Parse({"simulate", "--nodes", "5", "--tls", "--token", "t", "--listen",
                  "127.0.0.1:0", "--write-kubeconfig", "/tmp/k"},
                 &code);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->command, Options::Command::kSimulate);
  EXPECT_EQ(o->sim.nodes, 5);
  EXPECT_TRUE(o->sim.tls);
  EXPECT_EQ(o->sim_kubeconfig, "/tmp/k");
  EXPECT_TRUE(o->sim.kubelet_ip_san);
  o = Parse({"simulate", "--tls", "--kubelets", "--kubelet-no-ip-san", "--apiservice",
             "MissingEndpoints", "--deny", "nodes/stats", "--kubelet-clock-skew", "90"},
            &code);
  ASSERT_TRUE(o);
  EXPECT_TRUE(o->sim.kubelets);
  EXPECT_FALSE(o->sim.kubelet_ip_san);
  EXPECT_EQ(o->sim.apiservice, "MissingEndpoints");
  EXPECT_EQ(o->sim.deny, std::vector<std::string>{"nodes/stats"});
  EXPECT_EQ(o->sim.kubelet_clock_skew_seconds, 90);
  // Bookmarks once a minute as kube-apiserver sends them, unless told; 0 is an error, not a
  // silent second.
  EXPECT_EQ(o->sim.watch_bookmark_seconds, 60);
  o = Parse({"simulate", "--watch-bookmark-interval", "5s"}, &code);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->sim.watch_bookmark_seconds, 5);
  code = -1;
  EXPECT_FALSE(Parse({"simulate", "--watch-bookmark-interval", "0s"}, &code));
  EXPECT_EQ(code, 2);
}

TEST(Options, ShardsFromFlagsOrStatefulSetOrdinal) {
  int code = -1;
  auto o = Parse({"--shard", "2", "--total-shards", "4"}, &code);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->shard, 2);
  EXPECT_EQ(o->total_shards, 4);
  o = Parse({"--total-shards", "3", "--pod-name", "kube-metrics-bridge-1"}, &code);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->shard, 1);
  for (std::vector<std::string> bad :
       {std::vector<std::string>{"--total-shards", "3", "--pod-name", "web-abc"},
        {"--shard", "3", "--total-shards", "3"}, {"--total-shards", "2"}}) {
    testing::internal::CaptureStderr();
    EXPECT_FALSE(Parse(bad, &code)) << bad[0];
    testing::internal::GetCapturedStderr();
    EXPECT_EQ(code, 2);
  }
}

TEST(Options, DoctorSubcommand) {
  int code = -1;
  auto o = Parse({"doctor", "--nodes", "3", "--output", "json", "--kubeconfig", "/k"}, &code);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->command, Options::Command::kDoctor);
  EXPECT_EQ(o->doctor.max_nodes, 3);
  EXPECT_TRUE(o->doctor.json);
  EXPECT_EQ(o->doctor.kubeconfig, "/k");
  testing::internal::CaptureStderr();
  EXPECT_FALSE(Parse({"doctor", "--nodes", "some"}, &code));
  testing::internal::GetCapturedStderr();
  EXPECT_EQ(code, 2);
}

TEST(Options, BadFlagsAreRejectedWithExitCode2) {
  for (std::vector<std::string> bad :
       {std::vector<std::string>{"--no-such-flag"}, {"--interval=fast"}, {"--sources=foo"},
        {"--log.level=loud"}, {"--interval=0s"}, {"--demo", "--apiserver", "http://x"}}) {
    int code = -1;
    testing::internal::CaptureStderr();
    EXPECT_FALSE(Parse(bad, &code)) << bad[0];
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(code, 2) << bad[0];
    EXPECT_NE(err.find("kube-metrics-bridge: "), std::string::npos) << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << "one line: " << err;
  }
}

}  // namespace
}  // namespace kmb

namespace kmb {
namespace {

// Fault handling flags (docs/configuration.md "Faults: timeouts, sizes, retries").
TEST(Options, FaultHandlingFlags) {
  int code = -1;
  auto o = Parse({}, &code);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->kubelet_timeout_seconds, 5);
  EXPECT_EQ(o->max_response_bytes, 64u << 20);
  EXPECT_EQ(o->max_retries, 2);
  o = Parse({"--kubelet-timeout=1500ms", "--max-response-bytes=4MiB", "--max-retries=0"}, &code);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->kubelet_timeout_seconds, 1.5);
  EXPECT_EQ(o->max_response_bytes, 4u << 20);
  EXPECT_EQ(o->max_retries, 0);
  o = Parse({"--max-response-bytes=1048576"}, &code);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->max_response_bytes, 1048576u);
  for (const char* bad : {"--max-response-bytes=lots", "--max-response-bytes=5MB",
                          "--max-response-bytes=0", "--kubelet-timeout=0s", "--max-retries=99"}) {
    code = -1;
    EXPECT_FALSE(Parse({bad}, &code)) << bad;
    EXPECT_EQ(code, 2) << bad;
  }
  o = Parse({"simulate", "--fault", "node/sim-node-1:hang", "--fault", "nodes:http=500",
             "--fault-file", "/tmp/f"},
            &code);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->sim.faults, (std::vector<std::string>{"node/sim-node-1:hang", "nodes:http=500"}));
  EXPECT_EQ(o->sim.fault_file, "/tmp/f");
}

}  // namespace
}  // namespace kmb
