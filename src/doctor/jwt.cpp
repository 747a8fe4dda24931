#include "doctor/jwt.h"

#include <simdjson.h>

namespace kmb::doctor {
namespace {

int Base64UrlValue(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-' || c == '+') return 62;
  if (c == '_' || c == '/') return 63;
  return -1;
}

bool Base64UrlDecode(std::string_view in, std::string* out) {
  uint32_t bits = 0;
  int count = 0;
  for (const char c : in) {
    if (c == '=') break;
    const int v = Base64UrlValue(c);
    if (v < 0) return false;
    bits = (bits << 6) | static_cast<uint32_t>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out->push_back(static_cast<char>((bits >> count) & 0xff));
    }
  }
  return true;
}

}  // namespace

bool DecodeJwtClaims(std::string_view token, JwtClaims* out) {
  const size_t first = token.find('.');
  const size_t second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos) return false;
  std::string payload;
  if (!Base64UrlDecode(token.substr(first + 1, second - first - 1), &payload)) return false;
  simdjson::dom::parser parser;
  simdjson::dom::object claims;
  if (parser.parse(payload).get(claims)) return false;
  *out = JwtClaims();
  int64_t exp = 0;
  double exp_double = 0;
  if (!claims["exp"].get(exp)) {
    out->exp = exp;
  } else if (!claims["exp"].get(exp_double)) {
    out->exp = static_cast<int64_t>(exp_double);
  }
  std::string_view sub;
  if (!claims["sub"].get(sub)) out->sub = std::string(sub);
  return true;
}

}  // namespace kmb::doctor
