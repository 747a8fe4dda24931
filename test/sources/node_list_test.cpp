#include "kmb/sources/node_list.h"

#include <gtest/gtest.h>

namespace kmb {
namespace {

TEST(NodeList, NamesAndContinue) {
  NodeListPage page;
  Status st = DecodeNodeList(
      R"({"kind":"NodeList","apiVersion":"v1","metadata":{"resourceVersion":"42",)"
      R"("continue":"abc"},"items":[{"metadata":{"name":"a","labels":{"x":"y"}},)"
      R"("status":{"addresses":[]}},{"metadata":{"name":"b"}}]})",
      &page);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(page.names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(page.continue_token, "abc");
  EXPECT_EQ(page.resource_version, "42");
}

TEST(NodeList, BadInputIsADecodeError) {
  for (std::string_view bad :
       {std::string_view(""), std::string_view("<html>"), std::string_view(R"({"items":[{"metadata":{}}]})"),
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
