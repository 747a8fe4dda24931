#pragma once
// Turning HTTP error bodies into one safe line for a Status message.

#include <cstddef>
#include <string>
#include <string_view>

namespace kmb {

// The top-level "message" string of a JSON object (a Kubernetes Status), or "" when the body
// is not such an object. A tiny scanner: the kube stage does not depend on a JSON library.
std::string StatusMessageFromJson(std::string_view body);

// Control characters become spaces, runs of spaces collapse, and the result is cut to at most
// `max_bytes` (on a UTF-8 character boundary).
std::string OneLine(std::string_view s, size_t max_bytes);

}  // namespace kmb
