#include "sim/format.h"

#include <charconv>

namespace kmb::sim {
namespace {

void AppendInt(std::string* out, int64_t v) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, res.ptr);
}

void Append2(char* p, int v) {
  p[0] = static_cast<char>('0' + v / 10);
  p[1] = static_cast<char>('0' + v % 10);
}

}  // namespace

void FormatRfc3339(int64_t unix_seconds, char buf[kRfc3339Size]) {
  // Days to civil date (H. Hinnant's algorithm): no gmtime_r, no locale, no allocation.
  int64_t days = unix_seconds / 86400;
  int64_t secs = unix_seconds % 86400;
  if (secs < 0) {
    secs += 86400;
    --days;
  }
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const int64_t doe = days - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  const int year = static_cast<int>(yoe + era * 400 + (month <= 2 ? 1 : 0));

  Append2(buf, year / 100 % 100);
  Append2(buf + 2, year % 100);
  buf[4] = '-';
  Append2(buf + 5, month);
  buf[7] = '-';
  Append2(buf + 8, day);
  buf[10] = 'T';
  Append2(buf + 11, static_cast<int>(secs / 3600));
  buf[13] = ':';
  Append2(buf + 14, static_cast<int>(secs / 60 % 60));
  buf[16] = ':';
  Append2(buf + 17, static_cast<int>(secs % 60));
  buf[19] = 'Z';
}

void AppendRfc3339(std::string* out, int64_t unix_seconds) {
  char buf[kRfc3339Size];
  FormatRfc3339(unix_seconds, buf);
  out->append(buf, sizeof(buf));
}

std::string Rfc3339(int64_t unix_seconds) {
  std::string s;
  AppendRfc3339(&s, unix_seconds);
  return s;
}

std::string GoDurationMillis(int64_t millis) {
  std::string out;
  if (millis < 0) {
    out.push_back('-');
    millis = -millis;
  }
  if (millis == 0) return "0s";
  if (millis < 1000) {
    AppendInt(&out, millis);
    out += "ms";
    return out;
  }
  const int64_t hours = millis / 3600000;
  const int64_t minutes = millis / 60000 % 60;
  const int64_t seconds = millis / 1000 % 60;
  const int64_t frac = millis % 1000;
  if (hours > 0) {
    AppendInt(&out, hours);
    out.push_back('h');
  }
  if (hours > 0 || minutes > 0) {
    AppendInt(&out, minutes);
    out.push_back('m');
  }
  AppendInt(&out, seconds);
  if (frac != 0) {
    char digits[3] = {static_cast<char>('0' + frac / 100), static_cast<char>('0' + frac / 10 % 10),
                      static_cast<char>('0' + frac % 10)};
    int n = 3;
    while (digits[n - 1] == '0') --n;  // Go trims trailing zeros of the fraction
    out.push_back('.');
    out.append(digits, n);
  }
  out.push_back('s');
  return out;
}

void AppendDecimalSI(std::string* out, int64_t value, int scale) {
  if (value == 0) {
    out->push_back('0');
    return;
  }
  // int64Amount.AsCanonicalBytes: strip factors of ten, then bring the exponent down to a
  // multiple of three so that it maps onto an SI suffix.
  int exponent = scale;
  while (value % 10 == 0) {
    value /= 10;
    ++exponent;
  }
  int rem = ((exponent % 3) + 3) % 3;
  for (; rem > 0; --rem) {
    value *= 10;
    --exponent;
  }
  AppendInt(out, value);
  switch (exponent) {
    case -9:
      out->push_back('n');
      break;
    case -6:
      out->push_back('u');
      break;
    case -3:
      out->push_back('m');
      break;
    case 0:
      break;
    case 3:
      out->push_back('k');
      break;
    case 6:
      out->push_back('M');
      break;
    case 9:
      out->push_back('G');
      break;
    case 12:
      out->push_back('T');
      break;
    case 15:
      out->push_back('P');
      break;
    case 18:
      out->push_back('E');
      break;
    default:
      out->push_back('e');
      AppendInt(out, exponent);
  }
}

void AppendBinarySI(std::string* out, uint64_t bytes) {
  constexpr uint64_t kMaxInt64 = 9223372036854775807ull;
  if (bytes > kMaxInt64) bytes = kMaxInt64;  // Quantity saturates at 2^63-1
  if (bytes < 1024) {
    // apimachinery switches to DecimalSI for |value| < 1024 "to avoid confusion".
    AppendDecimalSI(out, static_cast<int64_t>(bytes), 0);
    return;
  }
  static constexpr const char* kSuffixes[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
  int exponent = 0;
  while (bytes % 1024 == 0 && exponent < 6) {
    bytes /= 1024;
    ++exponent;
  }
  AppendInt(out, static_cast<int64_t>(bytes));
  out->append(kSuffixes[exponent]);
}

std::string DecimalSI(int64_t value, int scale) {
  std::string s;
  AppendDecimalSI(&s, value, scale);
  return s;
}

std::string BinarySI(uint64_t bytes) {
  std::string s;
  AppendBinarySI(&s, bytes);
  return s;
}

std::string Base64(std::string_view data) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const uint32_t v = (static_cast<uint8_t>(data[i]) << 16) |
                       (static_cast<uint8_t>(data[i + 1]) << 8) | static_cast<uint8_t>(data[i + 2]);
    out.push_back(kAlphabet[v >> 18]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  if (i < data.size()) {
    uint32_t v = static_cast<uint8_t>(data[i]) << 16;
    if (i + 1 < data.size()) v |= static_cast<uint8_t>(data[i + 1]) << 8;
    out.push_back(kAlphabet[v >> 18]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < data.size() ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

bool Base64Decode(std::string_view text, std::string* out) {
  out->clear();
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+' || c == '-')
      v = 62;
    else if (c == '/' || c == '_')
      v = 63;
    else
      return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return true;
}

}  // namespace kmb::sim
