#pragma once
// Reads the claims of a JSON Web Token without verifying it: enough to say when a bearer token
// expires and whose it is. The token itself is never printed.

#include <cstdint>
#include <string>
#include <string_view>

namespace kmb::doctor {

struct JwtClaims {
  int64_t exp = 0;  // 0 when absent (legacy service-account token secrets never expire)
  std::string sub;  // "system:serviceaccount:monitoring:kube-metrics-bridge"
};

// False when `token` is not a JWT (three base64url parts, the middle one a JSON object).
bool DecodeJwtClaims(std::string_view token, JwtClaims* out);

}  // namespace kmb::doctor
