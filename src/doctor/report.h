#pragma once
// The doctor's findings: one Check per line of the report, rendered as a short text table or as
// the stable JSON documented in docs/troubleshooting.md ("doctor --output json").

#include <deque>
#include <ostream>
#include <string>
#include <string_view>

#include "kmb/doctor/doctor.h"

namespace kmb::doctor {

enum class Level { kOk, kWarn, kFail, kSkip };
std::string_view LevelName(Level level);  // "ok", "warn", "fail", "skip"

struct Check {
  std::string group;  // "apiserver", "permissions", "aggregation", "metrics-api", ...
  std::string name;   // "dns", "get nodes/stats", "apiservice", ...
  std::string node;   // kubelet checks: the node; else ""
  Level level = Level::kOk;
  std::string summary;   // what was found, in plain words
  std::string evidence;  // the facts behind it: HTTP status and message, SANs, timings
  std::string fix;       // what to do; empty when ok
  std::string doc;       // docs/troubleshooting.md anchor; empty when ok
  double seconds = 0;

  // Takes the words, fix and section of a diagnosis (`summary` stays when already set).
  Check& Because(const Diagnosis& d);
};

class Report {
 public:
  std::string server;  // the API server URL
  std::string origin;  // where the configuration came from

  Check& Add(Level level, std::string group, std::string name, std::string summary,
             std::string evidence = "");
  const std::deque<Check>& checks() const { return checks_; }
  int ExitStatus() const;  // 2 with a failure, 1 with a warning, else 0

  void WriteText(std::ostream& out) const;
  void WriteJson(std::ostream& out) const;

 private:
  std::deque<Check> checks_;  // stable references for Add's callers
};

}  // namespace kmb::doctor
