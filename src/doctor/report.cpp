#include "doctor/report.h"

#include <algorithm>
#include <cstdio>
#include <iomanip>

namespace kmb::doctor {
namespace {

constexpr std::string_view kDocPath = "docs/troubleshooting.md#";

void JsonString(std::ostream& out, std::string_view s) {
  out << '"';
  for (const char c : s) {
    switch (c) {
      case '"':
        out << "\\\"";
        break;
      case '\\':
        out << "\\\\";
        break;
      case '\n':
        out << "\\n";
        break;
      case '\t':
        out << "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out << buf;
        } else {
          out << c;
        }
    }
  }
  out << '"';
}

}  // namespace

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kOk:
      return "ok";
    case Level::kWarn:
      return "warn";
    case Level::kFail:
      return "fail";
    case Level::kSkip:
      return "skip";
  }
  return "";
}

Check& Check::Because(const Diagnosis& d) {
  if (summary.empty()) summary = std::string(d.words);
  fix = std::string(d.fix);
  doc = std::string(d.doc);
  return *this;
}

Check& Report::Add(Level level, std::string group, std::string name, std::string summary,
                   std::string evidence) {
  Check& c = checks_.emplace_back();
  c.level = level;
  c.group = std::move(group);
  c.name = std::move(name);
  c.summary = std::move(summary);
  c.evidence = std::move(evidence);
  return c;
}

int Report::ExitStatus() const {
  int status = 0;
  for (const Check& c : checks_) {
    if (c.level == Level::kFail) status = 2;
    if (c.level == Level::kWarn) status = std::max(status, 1);
  }
  return status;
}

void Report::WriteText(std::ostream& out) const {
  int counts[4] = {};
  size_t width = 0;
  for (const Check& c : checks_) {
    ++counts[static_cast<int>(c.level)];
    width = std::max(width, c.group.size() + c.name.size() + c.node.size() + 2);
  }
  // The verdict first, then one line per check; problems carry evidence, fix and section.
  const int status = ExitStatus();
  out << "kube-metrics-bridge doctor: " << server << " (" << origin << ")\n"
      << "result: "
      << (status == 2   ? "FAIL"
          : status == 1 ? "WARN"
                        : "OK")
      << " (" << counts[2] << " fail, " << counts[1] << " warn, " << counts[0] << " ok, "
      << counts[3] << " skipped; exit status " << status << ")\n\n";
  for (const Check& c : checks_) {
    std::string what = c.group + " " + c.name;
    if (!c.node.empty()) what += " " + c.node;
    out << std::left << std::setw(5) << LevelName(c.level) << ' ' << std::setw(width) << what << ' '
        << c.summary << '\n';
    if (c.level == Level::kWarn || c.level == Level::kFail) {
      const std::string indent(6, ' ');
      if (!c.evidence.empty()) out << indent << "evidence: " << c.evidence << '\n';
      if (!c.fix.empty()) out << indent << "fix: " << c.fix << '\n';
      if (!c.doc.empty()) out << indent << "see: " << kDocPath << c.doc << '\n';
    }
  }
}

void Report::WriteJson(std::ostream& out) const {
  int counts[4] = {};
  for (const Check& c : checks_) ++counts[static_cast<int>(c.level)];
  const int exit_status = ExitStatus();
  out << "{\"version\":1,\"server\":";
  JsonString(out, server);
  out << ",\"origin\":";
  JsonString(out, origin);
  out << ",\"result\":\""
      << (exit_status == 2   ? "fail"
          : exit_status == 1 ? "warn"
                             : "ok")
      << "\",\"exit_status\":" << exit_status << ",\"counts\":{\"ok\":" << counts[0]
      << ",\"warn\":" << counts[1] << ",\"fail\":" << counts[2] << ",\"skip\":" << counts[3]
      << "},\"checks\":[";
  bool first = true;
  for (const Check& c : checks_) {
    out << (first ? "" : ",") << "\n{\"group\":";
    first = false;
    JsonString(out, c.group);
    out << ",\"name\":";
    JsonString(out, c.name);
    out << ",\"node\":";
    JsonString(out, c.node);
    out << ",\"status\":\"" << LevelName(c.level) << "\",\"summary\":";
    JsonString(out, c.summary);
    out << ",\"evidence\":";
    JsonString(out, c.evidence);
    out << ",\"fix\":";
    JsonString(out, c.fix);
    out << ",\"doc\":";
    JsonString(out, c.doc.empty() ? std::string() : std::string(kDocPath) + c.doc);
    char seconds[32];
    std::snprintf(seconds, sizeof(seconds), "%.3f", c.seconds);
    out << ",\"seconds\":" << seconds << '}';
  }
  out << "\n]}\n";
}

}  // namespace kmb::doctor
