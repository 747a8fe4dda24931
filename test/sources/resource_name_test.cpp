#include "kmb/sources/resource_name.h"

#include <gtest/gtest.h>

namespace kmb {
namespace {

// The spellings `kubectl auth can-i` takes, which `simulate --deny` and the doctor's report share.
TEST(CanIResourceName, NamesAResourceAsKubectlAuthCanIDoes) {
  EXPECT_EQ(CanIResourceName("nodes", "", ""), "nodes");
  EXPECT_EQ(CanIResourceName("nodes", "stats", ""), "nodes/stats");
  EXPECT_EQ(CanIResourceName("nodes", "proxy", ""), "nodes/proxy");
  EXPECT_EQ(CanIResourceName("pods", "", "metrics.k8s.io"), "pods.metrics.k8s.io");
  EXPECT_EQ(CanIResourceName("deployments", "scale", "apps"), "deployments/scale.apps");
}

}  // namespace
}  // namespace kmb
