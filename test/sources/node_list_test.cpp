#include "kmb/sources/node_list.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace kmb {
namespace {

TEST(NodeList, NamesAndContinue) {
  NodeListPage page;
  Status st =
      DecodeNodeList(R"({"kind":"NodeList","apiVersion":"v1","metadata":{"resourceVersion":"42",)"
                     R"("continue":"abc"},"items":[{"metadata":{"name":"a","labels":{"x":"y"}},)"
                     R"("status":{"addresses":[]}},{"metadata":{"name":"b"}}]})",
                     &page);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(page.names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(page.continue_token, "abc");
  EXPECT_EQ(page.resource_version, "42");
}

TEST(PodList, PlacementsFromRealKubeletPodList) {
  // The 1.35 capture of kubelet /pods is a PodList like the API server's.
  std::ifstream in(std::string(KMB_FIXTURES_DIR) +
                   "/pods/nri-kubernetes-k8s-1.35-minikube-kubelet-pods.json");
  std::stringstream ss;
  ss << in.rdbuf();
  PodListPage page;
  Status st = DecodePodPlacements(ss.str(), &page);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(page.pods.size(), 24u);
  for (const PodPlacement& p : page.pods) {
    EXPECT_NE(p.namespace_name.find('/'), std::string::npos);
    EXPECT_EQ(p.node, "datagen-1-35") << p.namespace_name;  // the capture's node
  }
  PodListPage bad;
  EXPECT_FALSE(DecodePodPlacements(R"({"items":[{"spec":{"nodeName":"n"}}]})", &bad).ok());
  EXPECT_FALSE(DecodePodPlacements(R"({"items":[{"metadata":{"name":7}}]})", &bad).ok());
}

TEST(NodeList, BadInputIsADecodeError) {
  for (std::string_view bad :
       {std::string_view(""), std::string_view("<html>"),
        std::string_view(R"({"items":[{"metadata":{}}]})"),
        std::string_view(R"({"items":[{"metadata":{"name":"a"}})"),
        std::string_view(R"({"items":[]} trailing)"), std::string_view(R"({"items":5})")}) {
    NodeListPage page;
    Status st = DecodeNodeList(bad, &page);
    EXPECT_FALSE(st.ok()) << bad;
    EXPECT_EQ(st.reason(), "decode") << bad;
  }
}

}  // namespace
}  // namespace kmb
