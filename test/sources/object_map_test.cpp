#include "kmb/sources/object_map.h"

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>

#include "kmb/sources/pods.h"

namespace kmb {
namespace {

std::shared_ptr<const Pod> MakePod(const std::string& ns, const std::string& name,
                                   const std::string& uid) {
  auto p = std::make_shared<Pod>();
  p->namespace_ = ns;
  p->name = name;
  p->uid = uid;
  return p;
}

TEST(ObjectMapTest, FindsPodsByNamespaceSlashNameWithoutAKeyString) {
  PodMap pods;
  pods.Put(MakePod("default", "web-0", "u1"));
  pods.Put(MakePod("kube-system", "web-0", "u2"));  // same name, another namespace
  pods.Put(MakePod("default", "web-1", "u3"));
  ASSERT_EQ(pods.size(), 3u);
  EXPECT_EQ(pods.at("default/web-0").uid, "u1");
  EXPECT_EQ(pods.at("kube-system/web-0").uid, "u2");
  EXPECT_EQ((*pods.find(KeyParts{"default", "web-1"}))->uid, "u3");
  // Keys that share characters but not the split are other keys.
  EXPECT_EQ(pods.count("default/web-"), 0u);
  EXPECT_EQ(pods.count("defaultweb-0"), 0u);
  EXPECT_EQ(pods.count("default//web-0"), 0u);
  EXPECT_EQ(pods.count("web-0"), 0u);
  EXPECT_THROW(pods.at("default/web-2"), std::out_of_range);

  // Put replaces the object of the same key: a MODIFIED event.
  pods.Put(MakePod("default", "web-0", "u4"));
  EXPECT_EQ(pods.size(), 3u);
  EXPECT_EQ(pods.at("default/web-0").uid, "u4");

  EXPECT_TRUE(pods.Erase({"default", "web-0"}));
  EXPECT_FALSE(pods.Erase({"default", "web-0"}));
  EXPECT_EQ(pods.count("default/web-0"), 0u);
  EXPECT_EQ(pods.at("kube-system/web-0").uid, "u2");

  std::set<std::string> keys;
  for (const auto& p : pods) keys.insert(p->namespace_ + "/" + p->name);
  EXPECT_EQ(keys, (std::set<std::string>{"default/web-1", "kube-system/web-0"}));
}

TEST(ObjectMapTest, NodesAreKeyedByTheirName) {
  ObjectMap<NodeObject> nodes;
  for (const char* name : {"node-a", "node-b"}) {
    auto n = std::make_shared<NodeObject>();
    n->name = name;
    nodes.Put(n);
  }
  EXPECT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes.at("node-b").name, "node-b");
  EXPECT_EQ(nodes.count("/node-b"), 0u);
  EXPECT_TRUE(nodes.Erase({{}, "node-a"}));
  EXPECT_EQ(nodes.count("node-a"), 0u);
}

// Many keys: the joined-key hash and the parts' hash agree for every one (a probe by string
// finds what was put by object), across rehashes.
TEST(ObjectMapTest, StringAndPartsHashAlikeAcrossRehashes) {
  PodMap pods;
  for (int i = 0; i < 5000; ++i) {
    pods.Put(MakePod("ns-" + std::to_string(i % 37), "pod-" + std::to_string(i),
                     std::to_string(i)));
  }
  ASSERT_EQ(pods.size(), 5000u);
  for (int i = 0; i < 5000; ++i) {
    const std::string key = "ns-" + std::to_string(i % 37) + "/pod-" + std::to_string(i);
    auto it = pods.find(key);
    ASSERT_NE(it, pods.end()) << key;
    EXPECT_EQ((*it)->uid, std::to_string(i));
  }
}

}  // namespace
}  // namespace kmb
