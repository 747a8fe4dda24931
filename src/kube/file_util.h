#pragma once
// Small helpers shared by the kube stage: file reading, base64 and token trimming.

#include <string>
#include <string_view>

namespace kmb {

// Reads the whole file into *out. On failure returns false with *err = strerror text.
bool ReadWholeFile(const std::string& path, std::string* out, std::string* err);

// Standard base64 (RFC 4648 alphabet, '=' padding optional, whitespace ignored).
bool DecodeBase64(std::string_view in, std::string* out);

// Bearer tokens come from files written with a trailing newline: strip surrounding whitespace.
std::string TrimToken(std::string_view s);

}  // namespace kmb
