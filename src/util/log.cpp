#include "kmb/util/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <string>

namespace kmb::log {
namespace {

std::atomic<Format> g_format{Format::kLogfmt};

std::shared_ptr<spdlog::logger> Logger() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = std::make_shared<spdlog::logger>(
        "kmb", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    l->set_pattern("%v");  // we format the whole line ourselves (logfmt or JSON)
    l->set_level(spdlog::level::info);
    return l;
  }();
  return logger;
}

void AppendQuotedJson(std::string& out, std::string_view s) {
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

void AppendLogfmtValue(std::string& out, std::string_view s) {
  bool quote = s.empty();
  for (unsigned char c : s) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\') quote = true;
  }
  if (!quote) {
    out.append(s);
    return;
  }
  AppendQuotedJson(out, s);  // logfmt quoting uses the same escapes
}

std::string Timestamp() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];  // room for any int in each field: gcc -Wformat-truncation cannot bound them
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

void Emit(spdlog::level::level_enum level, std::string_view level_name, std::string_view msg,
          std::initializer_list<Field> fields) {
  auto logger = Logger();
  if (!logger->should_log(level)) return;
  std::string line;
  line.reserve(128);
  if (g_format.load(std::memory_order_relaxed) == Format::kJson) {
    line += "{\"ts\":\"" + Timestamp() + "\",\"level\":\"";
    line.append(level_name);
    line += "\",\"msg\":";
    AppendQuotedJson(line, msg);
    for (const auto& [k, v] : fields) {
      line.push_back(',');
      AppendQuotedJson(line, k);
      line.push_back(':');
      AppendQuotedJson(line, v);
    }
    line.push_back('}');
  } else {
    line += "ts=" + Timestamp() + " level=";
    line.append(level_name);
    line += " msg=";
    AppendLogfmtValue(line, msg);
    for (const auto& [k, v] : fields) {
      line.push_back(' ');
      line.append(k);
      line.push_back('=');
      AppendLogfmtValue(line, v);
    }
  }
  logger->log(level, "{}", line);
  if (level >= spdlog::level::warn) logger->flush();
}

}  // namespace

bool Init(std::string_view level, std::string_view format) {
  spdlog::level::level_enum lv;
  if (level == "debug") lv = spdlog::level::debug;
  else if (level == "info") lv = spdlog::level::info;
  else if (level == "warn") lv = spdlog::level::warn;
  else if (level == "error") lv = spdlog::level::err;
  else return false;
  if (format == "logfmt") g_format = Format::kLogfmt;
  else if (format == "json") g_format = Format::kJson;
  else return false;
  Logger()->set_level(lv);
  Logger()->flush_on(spdlog::level::info);
  return true;
}

void Debug(std::string_view msg, std::initializer_list<Field> f) {
  Emit(spdlog::level::debug, "debug", msg, f);
}
void Info(std::string_view msg, std::initializer_list<Field> f) {
  Emit(spdlog::level::info, "info", msg, f);
}
void Warn(std::string_view msg, std::initializer_list<Field> f) {
  Emit(spdlog::level::warn, "warn", msg, f);
}
void Error(std::string_view msg, std::initializer_list<Field> f) {
  Emit(spdlog::level::err, "error", msg, f);
}

}  // namespace kmb::log
