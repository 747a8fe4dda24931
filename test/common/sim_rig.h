#pragma once
// A simulated cluster for tests that poll or watch it, with a client of its API server: the
// set-up several test binaries shared by copy.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>

#include "kmb/kube/client.h"
#include "kmb/kube/cluster_config.h"
#include "kmb/sim/cluster.h"

namespace kmb::testing {

inline sim::SimOptions SimOf(int nodes, int pods_per_node) {
  sim::SimOptions so;
  so.nodes = nodes;
  so.pods_per_node = pods_per_node;
  return so;
}

// The simulator's numbers stay put while a test compares them (one stats tick an hour); the
// client trusts its CA and sends its token when it has them. `sim` is null (and the test has
// failed) when it cannot start.
struct SimRig {
  std::unique_ptr<sim::SimulatedCluster> sim;
  std::shared_ptr<KubeClient> client;
  explicit SimRig(sim::SimOptions so, const KubeClientOptions& client_options = {}) {
    so.stats_period_seconds = 3600;
    std::string error;
    sim = sim::SimulatedCluster::Start(so, &error);
    EXPECT_TRUE(sim) << error;
    if (!sim) return;
    ClusterConfig cc;
    cc.server = sim->url();
    cc.ca_pem = sim->ca_pem();
    cc.credentials.token = so.token;
    client = std::make_shared<KubeClient>(std::move(cc), client_options);
  }
};

}  // namespace kmb::testing
