#pragma once
// Text forms the simulator writes: RFC 3339 times, Go durations and apimachinery quantities,
// each spelled exactly as the Go servers spell them.

#include <cstdint>
#include <string>
#include <string_view>

namespace kmb::sim {

// "2026-06-26T10:14:35Z" (metav1.Time: UTC, whole seconds).
inline constexpr int kRfc3339Size = 20;
void FormatRfc3339(int64_t unix_seconds, char out[kRfc3339Size]);
void AppendRfc3339(std::string* out, int64_t unix_seconds);
std::string Rfc3339(int64_t unix_seconds);

// Go time.Duration.String() of a whole number of milliseconds: "20.064s", "1m0s", "500ms".
std::string GoDurationMillis(int64_t millis);

// resource.Quantity.String() of value * 10^scale in DecimalSI: (329087452, -9) -> "329087452n",
// (500000000, -9) -> "500m", (2000, 0) -> "2k". This is how metrics-server writes usage.cpu.
void AppendDecimalSI(std::string* out, int64_t value, int scale);

// resource.Quantity.String() of a byte count in BinarySI: the largest power-of-1024 suffix that
// divides it ("2748180Ki", "1Gi"), plain bytes when none does, DecimalSI below 1024 as
// apimachinery does. This is how metrics-server writes usage.memory.
void AppendBinarySI(std::string* out, uint64_t bytes);

std::string DecimalSI(int64_t value, int scale);
std::string BinarySI(uint64_t bytes);

// Standard base64 (with padding), for kubeconfig certificate-authority-data.
std::string Base64(std::string_view data);
// Decodes standard or URL-safe base64, padded or not. False on any other character.
bool Base64Decode(std::string_view text, std::string* out);

}  // namespace kmb::sim
