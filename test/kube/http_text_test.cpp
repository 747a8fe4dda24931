#include "kube/http_text.h"

#include <gtest/gtest.h>

#include "kube/file_util.h"

namespace kmb {
namespace {

TEST(StatusMessageFromJsonTest, KubernetesStatus) {
  const char* body = R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
    "message":"nodes is forbidden: User \"system:anonymous\" cannot list resource \"nodes\"",
    "reason":"Forbidden","details":{"kind":"nodes"},"code":403})";
  EXPECT_EQ(StatusMessageFromJson(body),
            "nodes is forbidden: User \"system:anonymous\" cannot list resource \"nodes\"");
}

TEST(StatusMessageFromJsonTest, OnlyTopLevelMessage) {
  EXPECT_EQ(StatusMessageFromJson(
                R"({"details":{"causes":[{"message":"inner"}]},"x":[1,{"message":"no"}],)"
                R"("n":-1.5e3,"b":true,"z":null,"message":"outer \u00e9\n\ud83d\ude00"})"),
            "outer \xc3\xa9\n\xf0\x9f\x98\x80");
  EXPECT_EQ(StatusMessageFromJson(R"({"details":{"message":"inner"}})"), "");
  EXPECT_EQ(StatusMessageFromJson(R"({"message": 42})"), "");
  EXPECT_EQ(StatusMessageFromJson("<html>503</html>"), "");
  EXPECT_EQ(StatusMessageFromJson(R"({"message":"unterminated)"), "");
  EXPECT_EQ(StatusMessageFromJson(""), "");
  EXPECT_EQ(StatusMessageFromJson("{}"), "");
}

TEST(OneLineTest, StripsControlCharactersAndCuts) {
  EXPECT_EQ(OneLine("a\r\nb\t\tc\x01 d  ", 100), "a b c d");
  EXPECT_EQ(OneLine("abcdef", 3), "abc");
  EXPECT_EQ(OneLine("ab\xc3\xa9", 3), "ab");  // never half a UTF-8 character
  EXPECT_EQ(OneLine("ab\xc3\xa9", 4), "ab\xc3\xa9");
  EXPECT_EQ(OneLine("\n\n", 10), "");
}

TEST(Base64Test, Decode) {
  std::string out;
  ASSERT_TRUE(DecodeBase64("aGVsbG8gd29ybGQ=", &out));
  EXPECT_EQ(out, "hello world");
  ASSERT_TRUE(DecodeBase64("aGVs\nbG8g\r\nd29y bGQ", &out));  // wrapped, unpadded
  EXPECT_EQ(out, "hello world");
  ASSERT_TRUE(DecodeBase64("", &out));
  EXPECT_EQ(out, "");
  EXPECT_FALSE(DecodeBase64("a", &out));
  EXPECT_FALSE(DecodeBase64("aGVsbG8*", &out));
  EXPECT_FALSE(DecodeBase64("aGVs=bG8", &out));
}

TEST(TrimTokenTest, Trims) {
  EXPECT_EQ(TrimToken("abc\n"), "abc");
  EXPECT_EQ(TrimToken("abc\r\n\n"), "abc");
  EXPECT_EQ(TrimToken("  abc "), "abc");
}

}  // namespace
}  // namespace kmb
