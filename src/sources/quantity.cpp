#include "kmb/sources/quantity.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <string>

// The parser follows k8s.io/apimachinery/pkg/api/resource ParseQuantity step by step, because
// its observable results (value, format, String(), AsInt64()) depend on which internal path a
// string takes: the int64 "fast path" or the arbitrary-precision inf.Dec path.

namespace kmb {
namespace {

constexpr int32_t kNanoScale = -9;
constexpr int32_t kMaxInt64Factors = 18;  // decimal digits that always fit in an int64
constexpr std::string_view kMaxAllowed = "9223372036854775807";  // 2^63-1, BinarySI cap

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::optional<Quantity> Fail(std::string* error, const char* why) {
  if (error != nullptr) *error = why;
  return std::nullopt;
}

// The pieces parseQuantityString returns.
struct Scanned {
  bool positive = true;
  std::string_view value;  // sign and number as written (what the slow path hands to inf.Dec)
  std::string_view num;    // integer digits without leading zeros ("0" if none)
  std::string_view denom;  // fraction digits as written
  std::string_view suffix;
};

// Mirrors parseQuantityString, including what it accepts ("1.", ".5", "-", "e5").
bool Scan(std::string_view str, Scanned* out) {
  size_t pos = 0;
  const size_t end = str.size();
  if (str[0] == '-') {
    out->positive = false;
    ++pos;
  } else if (str[0] == '+') {
    ++pos;
  }
  while (true) {  // leading zeros
    if (pos >= end) {
      out->num = "0";
      out->value = "0";
      return true;
    }
    if (str[pos] != '0') break;
    ++pos;
  }
  size_t i = pos;
  while (i < end && IsDigit(str[i])) ++i;
  if (i >= end) {
    out->num = str.substr(pos);
    out->value = str;
    return true;
  }
  out->num = i == pos ? std::string_view("0") : str.substr(pos, i - pos);
  pos = i;
  if (str[pos] == '.') {
    ++pos;
    i = pos;
    while (i < end && IsDigit(str[i])) ++i;
    out->denom = str.substr(pos, i - pos);
    if (i >= end) {
      out->value = str;
      return true;
    }
    pos = i;
  }
  out->value = str.substr(0, pos);
  const size_t suffix_start = pos;
  constexpr std::string_view kSuffixChars = "eEinumkKMGTP";
  while (pos < end && kSuffixChars.find(str[pos]) != std::string_view::npos) ++pos;
  if (pos >= end) {
    out->suffix = str.substr(suffix_start);
    return true;
  }
  if (str[pos] == '-' || str[pos] == '+') ++pos;
  while (pos < end && IsDigit(str[pos])) ++pos;
  if (pos < end) return false;  // a character that fits no part of the grammar
  out->suffix = str.substr(suffix_start);
  return true;
}

// strconv.ParseInt(s, 10, 64).
bool ParseGoInt64(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  bool neg = false;
  if (s[0] == '+' || s[0] == '-') {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (!IsDigit(c)) return false;
    if (v > (uint64_t{1} << 63) / 10) return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
    if (v > (uint64_t{1} << 63)) return false;
  }
  if (!neg && v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
  *out = neg ? static_cast<int64_t>(0 - v) : static_cast<int64_t>(v);
  return true;
}

struct Suffix {
  int base;  // 10 or 2
  int32_t exponent;
  Quantity::Format format;
};

// quantitySuffixer.interpret.
bool InterpretSuffix(std::string_view s, Suffix* out) {
  using F = Quantity::Format;
  struct Entry {
    std::string_view name;
    int base;
    int32_t exponent;
  };
  static constexpr Entry kDecimal[] = {{"n", 10, -9}, {"u", 10, -6}, {"m", 10, -3}, {"", 10, 0},
                                       {"k", 10, 3},  {"M", 10, 6},  {"G", 10, 9},  {"T", 10, 12},
                                       {"P", 10, 15}, {"E", 10, 18}};
  static constexpr Entry kBinary[] = {{"Ki", 2, 10}, {"Mi", 2, 20}, {"Gi", 2, 30},
                                      {"Ti", 2, 40}, {"Pi", 2, 50}, {"Ei", 2, 60}};
  for (const Entry& e : kDecimal) {
    if (e.name == s) {
      *out = {e.base, e.exponent, F::kDecimalSI};
      return true;
    }
  }
  for (const Entry& e : kBinary) {
    if (e.name == s) {
      *out = {e.base, e.exponent, F::kBinarySI};
      return true;
    }
  }
  if (s.size() > 1 && (s[0] == 'e' || s[0] == 'E')) {
    int64_t parsed = 0;
    if (!ParseGoInt64(s.substr(1), &parsed)) return false;
    // Go converts with int32(parsed): it wraps, and so do we.
    *out = {10, static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint64_t>(parsed))),
            F::kDecimalExponent};
    return true;
  }
  return false;
}

// ---- Small exact decimal helpers on digit strings (most significant digit first). ----

void StripLeadingZeros(std::string* d) {
  size_t i = 0;
  while (i < d->size() && (*d)[i] == '0') ++i;
  d->erase(0, i);
}

// Moves trailing zeros into the exponent so that (digits, exp) is unique per value.
void Normalize(std::string* d, int64_t* exp) {
  StripLeadingZeros(d);
  size_t n = d->size();
  while (n > 0 && (*d)[n - 1] == '0') --n;
  *exp += static_cast<int64_t>(d->size() - n);
  d->resize(n);
  if (d->empty()) *exp = 0;
}

// d *= 2^bits for bits <= 60 (at most two 30-bit steps keep every product within uint64).
void MultiplyPow2(std::string* d, int bits) {
  while (bits > 0) {
    const int step = std::min(bits, 30);
    bits -= step;
    const uint64_t factor = uint64_t{1} << step;
    uint64_t carry = 0;
    for (size_t i = d->size(); i-- > 0;) {
      const uint64_t v = static_cast<uint64_t>((*d)[i] - '0') * factor + carry;
      (*d)[i] = static_cast<char>('0' + v % 10);
      carry = v / 10;
    }
    std::string head;
    while (carry > 0) {
      head.push_back(static_cast<char>('0' + carry % 10));
      carry /= 10;
    }
    std::reverse(head.begin(), head.end());
    d->insert(0, head);
  }
}

// Adds one unit in the last place.
void Increment(std::string* d) {
  for (size_t i = d->size(); i-- > 0;) {
    if ((*d)[i] != '9') {
      ++(*d)[i];
      return;
    }
    (*d)[i] = '0';
  }
  d->insert(d->begin(), '1');
}

// Compares |a| with |b|, both normalized.
int CompareAbs(const std::string& ad, int64_t ae, const std::string& bd, int64_t be) {
  if (ad.empty() || bd.empty()) return ad.empty() ? (bd.empty() ? 0 : -1) : 1;
  const int64_t a_mag = static_cast<int64_t>(ad.size()) + ae;
  const int64_t b_mag = static_cast<int64_t>(bd.size()) + be;
  if (a_mag != b_mag) return a_mag < b_mag ? -1 : 1;
  const size_t n = std::max(ad.size(), bd.size());
  for (size_t i = 0; i < n; ++i) {
    const char a = i < ad.size() ? ad[i] : '0';
    const char b = i < bd.size() ? bd[i] : '0';
    if (a != b) return a < b ? -1 : 1;
  }
  return 0;
}

bool HasSuffix000(std::string_view s) { return s.size() >= 3 && s.ends_with("000"); }

void AppendInt(std::string* out, int64_t v) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, res.ptr);
}

}  // namespace

std::optional<Quantity> Quantity::Parse(std::string_view str, std::string* error) {
  if (str.empty()) return Fail(error, "empty quantity");
  Quantity q;
  if (str == "0") {
    q.text_ = "0";
    q.int64_form_ = true;
    return q;
  }
  Scanned sc;
  if (!Scan(str, &sc)) return Fail(error, "quantity does not match the quantity grammar");
  Suffix suf;
  if (!InterpretSuffix(sc.suffix, &suf)) return Fail(error, "unable to parse quantity's suffix");

  const int32_t exponent = suf.exponent;
  Format format = suf.format;
  int32_t precision = 0;
  int32_t scale = 0;
  int64_t mantissa = 1;
  if (format == Format::kBinarySI) {
    if (exponent >= 0 && sc.denom.empty()) {
      mantissa = int64_t{1} << exponent;
      // Binary exponents are multiples of 10, so Go's float32(exponent)*3/10 is exact.
      precision = 15 - static_cast<int32_t>(sc.num.size()) - exponent * 3 / 10 - 1;
    } else {
      precision = -1;
    }
  } else {
    scale = exponent;
    precision = kMaxInt64Factors - static_cast<int32_t>(sc.num.size() + sc.denom.size());
  }

  // Fast path: the value fits an int64 mantissa with a scale of at least 1n.
  if (precision >= 0) {
    scale =
        static_cast<int32_t>(static_cast<uint32_t>(scale) - static_cast<uint32_t>(sc.denom.size()));
    if (scale >= kNanoScale) {
      std::string shifted(sc.num);
      shifted.append(sc.denom);
      int64_t value = 0;
      if (!ParseGoInt64(shifted, &value)) return Fail(error, "unable to parse numeric part");
      int64_t result = 0;
      if (!__builtin_mul_overflow(value, mantissa, &result)) {
        if (!sc.positive) result = -result;
        q.format_ = format;
        q.int64_form_ = true;
        q.i_value_ = result;
        q.i_scale_ = scale;
        q.negative_ = result < 0;
        const uint64_t abs =
            q.negative_ ? 0 - static_cast<uint64_t>(result) : static_cast<uint64_t>(result);
        q.digits_ = std::to_string(abs);
        q.exp10_ = scale;
        Normalize(&q.digits_, &q.exp10_);
        if (q.digits_.empty()) q.negative_ = false;
        // apimachinery reuses the input as String() when it looks canonical already.
        bool canonical = false;
        if (format == Format::kBinarySI) {
          canonical = exponent % 10 == 0 && (value & 0x07) != 0;
        } else {
          canonical = scale % 3 == 0 && !HasSuffix000(shifted) && shifted[0] != '0';
        }
        if (canonical) q.text_ = std::string(str);
        return q;
      }
    }
  }

  // Slow path (inf.Dec): exact arithmetic, then round up to 1n and cap BinarySI at 2^63-1.
  std::string digits;
  digits.reserve(sc.value.size());
  int64_t exp10 = 0;
  bool after_point = false;
  for (char c : sc.value) {
    if (IsDigit(c)) {
      digits.push_back(c);
      if (after_point) --exp10;
    } else if (c == '.') {
      after_point = true;
    }
  }
  if (digits.empty()) return Fail(error, "unable to parse numeric part");
  if (suf.base == 10) {
    exp10 += exponent;
  } else {
    StripLeadingZeros(&digits);
    MultiplyPow2(&digits, exponent);
  }
  Normalize(&digits, &exp10);
  if (exp10 < kNanoScale) {
    // Round away from zero to a multiple of 1n.
    const int64_t drop = kNanoScale - exp10;
    if (drop >= static_cast<int64_t>(digits.size())) {
      digits = "1";  // non-zero (Normalize left no zeros) and below 1n
    } else {
      digits.resize(digits.size() - static_cast<size_t>(drop));  // dropped part is non-zero
      Increment(&digits);
    }
    exp10 = kNanoScale;
    Normalize(&digits, &exp10);
  }
  if (format == Format::kBinarySI) {
    const std::string max_digits(kMaxAllowed);
    if (CompareAbs(digits, exp10, max_digits, 0) > 0) {
      digits = max_digits;
      exp10 = 0;
    }
    // A non-zero BinarySI value below 1 is shown as DecimalSI.
    if (!digits.empty() && CompareAbs(digits, exp10, "1", 0) < 0) format = Format::kDecimalSI;
  }
  q.format_ = format;
  q.negative_ = !sc.positive && !digits.empty();
  q.digits_ = std::move(digits);
  q.exp10_ = exp10;
  return q;
}

std::string Quantity::ToDecimalString() const {
  if (digits_.empty()) return "0";
  std::string out;
  if (negative_) out.push_back('-');
  if (exp10_ >= 0) {
    out.append(digits_);
    out.append(static_cast<size_t>(exp10_), '0');
    return out;
  }
  const int64_t frac = -exp10_;
  const int64_t n = static_cast<int64_t>(digits_.size());
  if (n > frac) {
    out.append(digits_, 0, static_cast<size_t>(n - frac));
    out.push_back('.');
    out.append(digits_, static_cast<size_t>(n - frac), std::string::npos);
  } else {
    out.append("0.");
    out.append(static_cast<size_t>(frac - n), '0');
    out.append(digits_);
  }
  return out;
}

double Quantity::ToDouble() const {
  if (digits_.empty()) return 0.0;
  // Exact fast path: mantissa below 2^53 and a power of ten that is exact in a double.
  static constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                      1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                      1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  double result = 0;
  if (digits_.size() <= 15 && exp10_ >= -22 && exp10_ <= 22) {
    uint64_t m = 0;
    for (char c : digits_) m = m * 10 + static_cast<uint64_t>(c - '0');
    const double md = static_cast<double>(m);
    result = exp10_ >= 0 ? md * kPow10[exp10_] : md / kPow10[-exp10_];
  } else if (exp10_ > 400) {
    result = std::numeric_limits<double>::infinity();
  } else if (exp10_ + static_cast<int64_t>(digits_.size()) < -400) {
    result = 0.0;
  } else {
    std::string text = digits_;
    text.push_back('e');
    AppendInt(&text, exp10_);
    auto res = std::from_chars(text.data(), text.data() + text.size(), result);
    if (res.ec == std::errc::result_out_of_range) {
      result = exp10_ > 0 ? std::numeric_limits<double>::infinity() : 0.0;
    }
  }
  return negative_ ? -result : result;
}

std::string Quantity::Canonical() const {
  if (!text_.empty()) return text_;
  if (digits_.empty()) return "0";
  Format format = format_;
  if (format == Format::kBinarySI) {
    // Below 1024 in magnitude, or not an integer: shown as DecimalSI so nothing is lost.
    if (CompareAbs(digits_, exp10_, "1024", 0) < 0 || exp10_ < 0) {
      format = Format::kDecimalSI;
    } else {
      // BinarySI values are capped at 2^63-1, so the integer fits a uint64.
      uint64_t v = 0;
      for (char c : digits_) v = v * 10 + static_cast<uint64_t>(c - '0');
      for (int64_t i = 0; i < exp10_; ++i) v *= 10;
      int power = 0;
      while (v >= 1024 && v % 1024 == 0 && power < 6) {
        v /= 1024;
        ++power;
      }
      static constexpr std::string_view kBinary[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
      std::string out = negative_ ? "-" : "";
      out.append(std::to_string(v));
      out.append(kBinary[power]);
      return out;
    }
  }
  // Decimal: lower the exponent to a multiple of 3, padding the mantissa with zeros.
  int64_t exp = exp10_;
  const int64_t pad = ((exp % 3) + 3) % 3;
  exp -= pad;
  std::string out = negative_ ? "-" : "";
  out.append(digits_);
  out.append(static_cast<size_t>(pad), '0');
  if (format == Format::kDecimalSI && exp >= -9 && exp <= 18) {
    static constexpr std::string_view kDecimal[] = {"n", "u", "m", "",  "k",
                                                    "M", "G", "T", "P", "E"};
    out.append(kDecimal[(exp + 9) / 3]);
  } else if (exp != 0) {
    // DecimalExponent, or DecimalSI beyond "E" (apimachinery falls back to "e" notation).
    out.push_back('e');
    AppendInt(&out, exp);
  }
  return out;
}

std::optional<int64_t> Quantity::AsInt64() const {
  if (!int64_form_) return std::nullopt;
  if (i_scale_ == 0) return i_value_;
  if (i_scale_ < 0) return std::nullopt;
  int64_t v = i_value_;
  for (int32_t i = 0; i < i_scale_ && v != 0; ++i) {
    if (__builtin_mul_overflow(v, int64_t{10}, &v)) return std::nullopt;
  }
  return v;
}

std::optional<double> ParseGoDuration(std::string_view s) {
  // time.ParseDuration: [-+]?([0-9]*(\.[0-9]*)?[a-z]+)+ accumulated in uint64 nanoseconds.
  constexpr uint64_t kLimit = uint64_t{1} << 63;
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return 0.0;
  if (s.empty()) return std::nullopt;
  uint64_t total = 0;
  while (!s.empty()) {
    if (!(s[0] == '.' || IsDigit(s[0]))) return std::nullopt;
    // Integer part.
    uint64_t v = 0;
    size_t i = 0;
    for (; i < s.size() && IsDigit(s[i]); ++i) {
      if (v > kLimit / 10) return std::nullopt;
      v = v * 10 + static_cast<uint64_t>(s[i] - '0');
      if (v > kLimit) return std::nullopt;
    }
    const bool pre = i > 0;
    s.remove_prefix(i);
    // Fraction part: digits beyond int64 precision are ignored, as Go does.
    uint64_t f = 0;
    double scale = 1;
    bool post = false;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      bool overflow = false;
      for (i = 0; i < s.size() && IsDigit(s[i]); ++i) {
        if (overflow) continue;
        if (f > (kLimit - 1) / 10) {
          overflow = true;
          continue;
        }
        const uint64_t y = f * 10 + static_cast<uint64_t>(s[i] - '0');
        if (y > kLimit) {
          overflow = true;
          continue;
        }
        f = y;
        scale *= 10;
      }
      post = i > 0;
      s.remove_prefix(i);
    }
    if (!pre && !post) return std::nullopt;
    // Unit: everything up to the next digit or '.'.
    for (i = 0; i < s.size() && s[i] != '.' && !IsDigit(s[i]); ++i) {
    }
    if (i == 0) return std::nullopt;
    const std::string_view unit_name = s.substr(0, i);
    s.remove_prefix(i);
    uint64_t unit = 0;
    if (unit_name == "ns") {
      unit = 1;
    } else if (unit_name == "us" || unit_name == "\xC2\xB5s" || unit_name == "\xCE\xBCs") {
      unit = 1000;  // "us", U+00B5 and U+03BC micro signs
    } else if (unit_name == "ms") {
      unit = 1000000;
    } else if (unit_name == "s") {
      unit = 1000000000;
    } else if (unit_name == "m") {
      unit = 60 * uint64_t{1000000000};
    } else if (unit_name == "h") {
      unit = 3600 * uint64_t{1000000000};
    } else {
      return std::nullopt;
    }
    if (v > kLimit / unit) return std::nullopt;
    v *= unit;
    if (f > 0) {
      v += static_cast<uint64_t>(static_cast<double>(f) * (static_cast<double>(unit) / scale));
      if (v > kLimit) return std::nullopt;
    }
    total += v;
    if (total > kLimit) return std::nullopt;
  }
  if (!neg && total > kLimit - 1) return std::nullopt;
  const double seconds = static_cast<double>(total) / 1e9;
  return neg ? -seconds : seconds;
}

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (!IsDigit(s[i])) return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

}  // namespace

std::optional<int64_t> ParseRfc3339Millis(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm)
  int year, month, day, hour, minute, second;
  if (!Digits(s, 0, 4, &year) || s.size() < 20 || s[4] != '-' || !Digits(s, 5, 2, &month) ||
      s[7] != '-' || !Digits(s, 8, 2, &day) || (s[10] != 'T' && s[10] != 't') ||
      !Digits(s, 11, 2, &hour) || s[13] != ':' || !Digits(s, 14, 2, &minute) || s[16] != ':' ||
      !Digits(s, 17, 2, &second)) {
    return std::nullopt;
  }
  static constexpr int kDaysInMonth[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || day < 1 || day > kDaysInMonth[month - 1] || hour > 23 ||
      minute > 59 || second > 59) {
    return std::nullopt;
  }
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (month == 2 && day == 29 && !leap) return std::nullopt;
  size_t pos = 19;
  int millis = 0;
  if (s[pos] == '.') {
    ++pos;
    const size_t start = pos;
    while (pos < s.size() && IsDigit(s[pos])) {
      if (pos - start < 3) millis = millis * 10 + (s[pos] - '0');
      ++pos;
    }
    if (pos == start) return std::nullopt;
    for (size_t n = pos - start; n < 3; ++n) millis *= 10;  // ".5" is 500 ms
  }
  if (pos >= s.size()) return std::nullopt;
  int offset_minutes = 0;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int oh, om;
    if (!Digits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !Digits(s, pos + 4, 2, &om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_minutes = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  const int64_t days = DaysFromCivil(year, month, day);
  const int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
  return secs * 1000 + millis;
}

}  // namespace kmb
