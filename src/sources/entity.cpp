#include "kmb/sources/entity.h"

#include <cmath>

namespace kmb {

double Sample::Scaled() const {
  double v = 0;
  switch (kind) {
    case ValueKind::kUint:
      v = static_cast<double>(u);
      break;
    case ValueKind::kInt:
      v = static_cast<double>(i);
      break;
    case ValueKind::kDouble:
      v = d;
      break;
  }
  if (metric >= catalog::kMetricCount) return v;
  const int exp10 = catalog::kMetrics[metric].exp10;
  if (exp10 == 0) return v;
  // Divide for negative exponents: 1e-9 is not exact in binary, 1e9 is.
  return exp10 > 0 ? v * std::pow(10.0, exp10) : v / std::pow(10.0, -exp10);
}

}  // namespace kmb
