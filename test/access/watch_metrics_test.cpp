// The watch caches' self-metrics (kube_metrics_bridge_watch_*, errors_total{source="watch"})
// in the exposition, moved by the simulator's pod churn, a forced 410 Gone and a denied watch.

#include <gtest/gtest.h>

#include <optional>
#include <sstream>

#include "common/sim_rig.h"
#include "common/test_util.h"
#include "kmb/app/poller.h"
#include "kmb/config/options.h"
#include "kmb/exposition/writer.h"
#include "kmb/kube/client.h"
#include "kmb/kube/cluster_config.h"
#include "kmb/sim/cluster.h"
#include "kmb/sources/node_list.h"

namespace kmb {
namespace {

using testing::Eventually;
using testing::Sample;
using testing::TempDir;

std::string Lists(const std::string& resource, const std::string& reason) {
  return "kube_metrics_bridge_watch_lists_total{resource=\"" + resource + "\",reason=\"" + reason +
         "\"}";
}
std::string Events(const std::string& resource, const std::string& type) {
  return "kube_metrics_bridge_watch_events_total{resource=\"" + resource + "\",type=\"" + type +
         "\"}";
}
std::string Objects(const std::string& resource) {
  return "kube_metrics_bridge_watch_objects{resource=\"" + resource + "\"}";
}

struct Rig : testing::SimRig {
  using SimRig::SimRig;
  // Pods the simulated API server lists now.
  size_t PodsInSimulator() const {
    HttpResponse resp;
    EXPECT_TRUE(client->Get("/api/v1/pods", &resp).ok());
    PodListPage page;
    EXPECT_TRUE(DecodePodPlacements(resp.body, &page).ok());
    return page.pods.size();
  }
};

sim::SimOptions SimOf(int nodes, int pods_per_node) {
  sim::SimOptions so = testing::SimOf(nodes, pods_per_node);
  so.threads = 8;
  return so;
}

std::string Render(Poller& poller) {
  return RenderExposition(*poller.Poll(), ExpositionFormat::kText004, {});
}

TEST(WatchCacheMetricsTest, ChurnAnd410MoveTheCounters) {
  sim::SimOptions so = SimOf(2, 4);
  so.watch_bookmark_seconds = 1;  // kube-apiserver's minute would outlast the test
  Rig rig(so);
  ASSERT_TRUE(rig.sim);
  Poller poller(Options{}, rig.client);
  std::string text = Render(poller);
  // Synced by the first poll: one initial list each, every object in the cache.
  for (const char* resource : {"nodes", "pods"}) {
    EXPECT_EQ(Sample(text, Lists(resource, "initial")), 1.0) << text;
    EXPECT_EQ(Sample(text, Lists(resource, "gone")), 0.0) << text;
    EXPECT_EQ(Sample(text, Events(resource, "DELETED")), 0.0) << text;
  }
  EXPECT_EQ(Sample(text, Objects("nodes")), 2.0);
  EXPECT_EQ(Sample(text, Objects("pods")), 8.0);
  EXPECT_EQ(Sample(text, "kube_metrics_bridge_errors_total{source=\"watch\",reason=\"tls\"}"), 0.0)
      << text;

  // Churn: delete, re-create, delete. The deletions arrive as events; the cache holds what the
  // simulator lists.
  rig.sim->ChurnPods(3);
  const size_t pods = rig.PodsInSimulator();
  ASSERT_EQ(pods, 7u);
  ASSERT_TRUE(Eventually([&] {
    text = Render(poller);
    return Sample(text, Events("pods", "DELETED")) >= 2.0 &&
           Sample(text, Objects("pods")) == static_cast<double>(pods);
  })) << text;
  EXPECT_GE(Sample(text, Events("pods", "ADDED")).value_or(0), 1.0) << text;
  EXPECT_EQ(Sample(text, Events("nodes", "DELETED")), 0.0);

  // A forced 410 Gone: every cache relists, counted as reason "gone"; nothing is lost.
  rig.sim->ExpireWatches();
  ASSERT_TRUE(Eventually([&] {
    text = Render(poller);
    return Sample(text, Lists("pods", "gone")) >= 1.0 &&
           Sample(text, Lists("nodes", "gone")) >= 1.0;
  })) << text;
  EXPECT_EQ(Sample(text, Lists("pods", "initial")), 1.0);
  EXPECT_EQ(Sample(text, Objects("pods")), static_cast<double>(pods));
  // Bookmarks arrive on an open watch (every second, as asked above).
  ASSERT_TRUE(Eventually([&] {
    text = Render(poller);
    return Sample(text, Events("pods", "BOOKMARK")).value_or(0) >= 1.0;
  })) << text;
}

// A watch the service account may not open: the failures count in errors_total{source="watch"}
// while the cache keeps serving its list.
TEST(WatchCacheMetricsTest, DeniedWatchCountsAsWatchErrors) {
  sim::SimOptions so = SimOf(1, 2);
  so.deny = {"watch pods"};
  Rig rig(so);
  ASSERT_TRUE(rig.sim);
  Poller poller(Options{}, rig.client);
  std::string text;
  ASSERT_TRUE(Eventually([&] {
    text = Render(poller);
    return Sample(text, "kube_metrics_bridge_errors_total{source=\"watch\",reason=\"http_4xx\"}")
               .value_or(0) >= 1.0;
  })) << text;
  EXPECT_EQ(Sample(text, Objects("pods")), 2.0);
  EXPECT_EQ(Sample(text, Lists("pods", "initial")), 1.0);
  // A failed watch is followed by a list, not a resume from the old resourceVersion.
  ASSERT_TRUE(Eventually([&] {
    text = Render(poller);
    return Sample(text, Lists("pods", "error")).value_or(0) >= 1.0;
  })) << text;
  EXPECT_EQ(Sample(text, Objects("pods")), 2.0);
  // The refusal names the verb, as the API server's RBAC message does.
  HttpResponse resp;
  rig.client->Get("/api/v1/pods?watch=1&timeoutSeconds=1", &resp);
  EXPECT_EQ(resp.status, 403);
  EXPECT_NE(resp.body.find("cannot watch resource \\\"pods\\\""), std::string::npos) << resp.body;
}

// --no-watch-cache: no cache, no watch series.
TEST(WatchCacheMetricsTest, AbsentWithoutWatchCache) {
  Rig rig(SimOf(1, 1));
  ASSERT_TRUE(rig.sim);
  Options options;
  options.watch_cache = false;
  Poller poller(options, rig.client);
  const std::string text = Render(poller);
  EXPECT_EQ(text.find("kube_metrics_bridge_watch_"), std::string::npos);
  EXPECT_EQ(text.find("source=\"watch\""), std::string::npos);
}

}  // namespace
}  // namespace kmb
