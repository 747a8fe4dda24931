#pragma once
// Kubernetes resource.Quantity ("100m", "2500u", "123456789n", "1.5Gi", "12e6", "8583Mi"),
// parsed exactly as k8s.io/apimachinery/pkg/api/resource does, including its rounding of values
// below 1n up to a multiple of 1n and its saturation at 2^63-1.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kmb {

class Quantity {
 public:
  enum class Format { kDecimalSI, kBinarySI, kDecimalExponent };

  // Parses `text`; on failure returns nullopt and, if `error` is set, says why.
  static std::optional<Quantity> Parse(std::string_view text, std::string* error = nullptr);

  // The exact value as a plain decimal string with no exponent ("0.000000005", "-1536"). Its
  // length follows the exponent ("1e999999999" has a billion digits): for untrusted input prefer
  // Canonical() or ToDouble(), which stay short and cheap.
  std::string ToDecimalString() const;
  // Nearest double.
  double ToDouble() const;
  // Quantity.String(): the canonical spelling apimachinery emits ("1536Mi" ...).
  std::string Canonical() const;
  // AsInt64(): the value when it is an integer that fits, else nullopt. Like apimachinery this
  // only succeeds for values its parser kept in the fast int64 form with a scale >= 0: "1000m",
  // "1.0E" fit, but "1000000000000000000" (19 digits) and "1.5" do not.
  std::optional<int64_t> AsInt64() const;
  Format format() const { return format_; }
  bool IsZero() const { return digits_.empty(); }

 private:
  // value = (negative_ ? -1 : 1) * digits_ * 10^exp10_; digits_ has no leading or trailing
  // zeros ("" means zero). exp10_ is 64-bit so that huge "e" exponents cannot overflow it.
  bool negative_ = false;
  std::string digits_;
  int64_t exp10_ = 0;
  Format format_ = Format::kDecimalSI;
  // apimachinery keeps the input text as String() when it is already canonical; empty if not.
  std::string text_;
  // apimachinery's int64Amount (fast path): value * 10^scale. Only meaningful if int64_form_.
  bool int64_form_ = false;
  int64_t i_value_ = 0;
  int32_t i_scale_ = 0;
};

// Parses a Go duration string as metrics-server writes `window` ("30s", "20.064s", "1m0s",
// "1h2m3.5s", "150ms"), with time.ParseDuration's rules (units ns us µs ms s m h, optional sign,
// "0" alone, at most 2^63-1 ns). Returns seconds, or nullopt.
std::optional<double> ParseGoDuration(std::string_view text);

// Parses an RFC 3339 timestamp ("2026-01-13T18:40:14Z", fractional seconds and offsets allowed)
// into Unix milliseconds, or nullopt.
std::optional<int64_t> ParseRfc3339Millis(std::string_view text);

}  // namespace kmb
