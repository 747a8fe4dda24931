#pragma once
// What the libFuzzer targets share: the entry point's signature and a view of the input.

#include <cstddef>
#include <cstdint>
#include <string_view>

#define KMB_FUZZ_TARGET extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)

namespace kmb::fuzz {

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace kmb::fuzz
