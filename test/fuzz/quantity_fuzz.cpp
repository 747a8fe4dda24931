// Fuzzes the resource.Quantity parser and the other text parsers of the Metrics API (Go
// durations, RFC 3339 timestamps). A parsed quantity is also printed back every way it can be.

#include "fuzz_util.h"
#include "kmb/sources/quantity.h"

KMB_FUZZ_TARGET {
  const std::string_view text = kmb::fuzz::AsText(data, size);
  std::string error;
  if (auto q = kmb::Quantity::Parse(text, &error)) {
    (void)q->Canonical();
    (void)q->ToDouble();
    (void)q->AsInt64();
    // ToDecimalString's length follows the exponent ("1e999999999" is a billion digits, as
    // documented); without an "e" exponent it is bounded by the input and the suffix.
    if (text.find_first_of("eE") == std::string_view::npos) (void)q->ToDecimalString();
  }
  (void)kmb::ParseGoDuration(text);
  (void)kmb::ParseRfc3339Millis(text);
  return 0;
}
