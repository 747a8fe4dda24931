#pragma once
// KMB_ASAN is 1 when the translation unit is compiled with AddressSanitizer, else 0. gcc defines
// __SANITIZE_ADDRESS__; clang (the build-asan tree of scripts/test.sh) only answers
// __has_feature(address_sanitizer). Test it with `#if KMB_ASAN`, never the compiler macros.

#if defined(__SANITIZE_ADDRESS__)
#define KMB_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KMB_ASAN 1
#endif
#endif
#ifndef KMB_ASAN
#define KMB_ASAN 0
#endif
