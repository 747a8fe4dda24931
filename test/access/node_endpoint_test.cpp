// Node addresses and kubelet ports from Node objects and NodeList pages (direct access).
#include <gtest/gtest.h>

#include "kmb/sources/node_list.h"

namespace kmb {
namespace {

constexpr const char* kNode = R"({"kind":"Node","apiVersion":"v1",
  "metadata":{"name":"worker-1","labels":{"kubernetes.io/hostname":"worker-1"}},
  "spec":{"podCIDR":"10.244.1.0/24"},
  "status":{"capacity":{"cpu":"4"},
    "addresses":[{"type":"InternalIP","address":"10.0.0.7"},
                 {"type":"InternalIP","address":"fd00::7"},
                 {"type":"Hostname","address":"worker-1"}],
    "daemonEndpoints":{"kubeletEndpoint":{"Port":10250}},
    "nodeInfo":{"kubeletVersion":"v1.35.0"}}})";

TEST(NodeEndpointTest, AddressesInOrderAndKubeletPort) {
  std::string name;
  NodeEndpoint e;
  ASSERT_TRUE(DecodeNode(kNode, &name, &e).ok());
  EXPECT_EQ(name, "worker-1");
  ASSERT_EQ(e.addresses.size(), 3u);
  EXPECT_EQ(e.addresses[0], (std::pair<std::string, std::string>{"InternalIP", "10.0.0.7"}));
  EXPECT_EQ(e.addresses[2], (std::pair<std::string, std::string>{"Hostname", "worker-1"}));
  EXPECT_EQ(e.kubelet_port, 10250);
}

TEST(NodeEndpointTest, ListWithEndpointsOnlyWhenAsked) {
  const std::string list = std::string(R"({"kind":"NodeList","metadata":{"continue":"c1"},)") +
                           R"("items":[)" + kNode +
                           R"(,{"metadata":{"name":"bare"},"status":{}}]})";
  NodeListPage plain;
  ASSERT_TRUE(DecodeNodeList(list, &plain).ok());
  EXPECT_EQ(plain.names, (std::vector<std::string>{"worker-1", "bare"}));
  EXPECT_TRUE(plain.endpoints.empty());
  NodeListPage page;
  page.want_endpoints = true;
  ASSERT_TRUE(DecodeNodeList(list, &page).ok());
  EXPECT_EQ(page.names, plain.names);
  EXPECT_EQ(page.continue_token, "c1");
  ASSERT_EQ(page.endpoints.size(), 2u);
  EXPECT_EQ(page.endpoints[0].addresses.size(), 3u);
  EXPECT_TRUE(page.endpoints[1].addresses.empty());
  EXPECT_EQ(page.endpoints[1].kubelet_port, 0);
}

TEST(NodeEndpointTest, ListWithABadStatusFailsThePageNamingTheItem) {
  NodeListPage page;
  page.want_endpoints = true;
  const Status st =
      DecodeNodeList(R"({"items":[{"metadata":{"name":"n1"},"status":{"addresses":{}}}]})", &page);
  EXPECT_EQ(st.reason(), "decode");
  EXPECT_EQ(st.message(), "NodeList item 0: node n1: status.addresses is not an array");
}

TEST(NodeEndpointTest, BadInputIsADecodeError) {
  std::string name;
  NodeEndpoint e;
  EXPECT_EQ(DecodeNode("[1]", &name, &e).reason(), "decode");
  EXPECT_EQ(DecodeNode(R"({"metadata":{}})", &name, &e).message(),
            "Node: an item has no metadata.name");
  EXPECT_EQ(
      DecodeNode(R"({"metadata":{"name":"n"},"status":{"addresses":{}}})", &name, &e).message(),
      "Node: status.addresses is not an array");
}

}  // namespace
}  // namespace kmb
