#include "sim/faults.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <string>

#include "sim/render.h"

namespace kmb::sim {
namespace {

constexpr double kDefaultHangSeconds = 60;
constexpr uint64_t kDefaultHugeBytes = 1ull << 30;
constexpr uint64_t kDefaultBrackets = 2'000'000;

struct KindName {
  const char* name;
  FaultKind kind;
  bool takes_arg;  // an "=ARG" is allowed
  bool needs_arg;
};
constexpr KindName kKinds[] = {
    {"latency", FaultKind::kLatency, true, true},
    {"hang", FaultKind::kHang, true, false},
    {"refuse", FaultKind::kRefuse, false, false},
    {"tls-unknown-ca", FaultKind::kTlsUnknownCa, false, false},
    {"tls-expired", FaultKind::kTlsExpired, false, false},
    {"tls-no-ip-san", FaultKind::kTlsNoIpSan, false, false},
    {"http", FaultKind::kHttp, true, true},
    {"truncated", FaultKind::kTruncated, false, false},
    {"not-json", FaultKind::kNotJson, false, false},
    {"deep-nesting", FaultKind::kDeepNesting, true, false},
    {"huge", FaultKind::kHuge, true, false},
    {"bad-numbers", FaultKind::kBadNumbers, false, false},
    {"duplicate-pods", FaultKind::kDuplicatePods, false, false},
    {"slow-body", FaultKind::kSlowBody, false, false},
};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// "500ms", "2s", "1m", "1.5s", or plain seconds.
bool ParseSeconds(std::string_view text, double* out) {
  double v = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || v < 0) return false;
  const std::string_view unit(ptr, static_cast<size_t>(text.data() + text.size() - ptr));
  if (unit.empty() || unit == "s") {
    *out = v;
  } else if (unit == "ms") {
    *out = v / 1000;
  } else if (unit == "m") {
    *out = v * 60;
  } else {
    return false;
  }
  return true;
}

// "1GiB", "10MiB", "64KiB", "1Gi", or plain bytes.
bool ParseCount(std::string_view text, uint64_t* out) {
  uint64_t v = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || v == 0) return false;
  std::string_view unit(ptr, static_cast<size_t>(text.data() + text.size() - ptr));
  if (unit.ends_with("B") && unit.size() > 1) unit.remove_suffix(1);
  int shift = 0;
  if (unit == "Ki") {
    shift = 10;
  } else if (unit == "Mi") {
    shift = 20;
  } else if (unit == "Gi") {
    shift = 30;
  } else if (!unit.empty()) {
    return false;
  }
  if (v > (~uint64_t{0} >> shift)) return false;
  *out = v << shift;
  return true;
}

bool Matches(const FaultRule& a, const FaultRule& b) {
  return a.target == b.target && a.node == b.node;
}

// Writes all of `data`; false when the client went away.
bool Write(mg_connection* conn, std::string_view data) {
  return data.empty() || mg_write(conn, data.data(), data.size()) > 0;
}

void Head(mg_connection* conn, int status, const char* content_type, int64_t length,
          const char* retry_after = nullptr) {
  mg_response_header_start(conn, status);
  mg_response_header_add(conn, "Content-Type", content_type, -1);
  if (length >= 0) {
    const std::string n = std::to_string(length);
    mg_response_header_add(conn, "Content-Length", n.c_str(), -1);
  } else {
    mg_response_header_add(conn, "Transfer-Encoding", "chunked", -1);
  }
  if (retry_after) mg_response_header_add(conn, "Retry-After", retry_after, -1);
  mg_response_header_send(conn);
}

int SendJson(mg_connection* conn, int status, std::string_view body,
             const char* retry_after = nullptr) {
  Head(conn, status, "application/json", static_cast<int64_t>(body.size()), retry_after);
  Write(conn, body);
  return status;
}

// The body with numbers a kubelet should never send: a negative counter, a fraction where an
// integer belongs, and one past uint64 (which no decoder can represent).
std::string BadNumbers(const std::string& body) {
  std::string out;
  out.reserve(body.size() + 64);
  const char* replacements[] = {"-12345", "1234.5", "184467440737095516160"};
  int next = 0;
  size_t pos = 0;
  constexpr std::string_view kKeys[] = {
      "\"usageCoreNanoSeconds\":", "\"workingSetBytes\":", "\"rxBytes\":"};
  for (;;) {
    size_t best = std::string::npos;
    size_t key_len = 0;
    for (std::string_view k : kKeys) {
      const size_t at = body.find(k, pos);
      if (at < best) {
        best = at;
        key_len = k.size();
      }
    }
    if (best == std::string::npos) break;
    const size_t value = best + key_len;
    size_t end = value;
    while (end < body.size() && (std::isdigit(static_cast<unsigned char>(body[end])) ||
                                 body[end] == '-' || body[end] == '.')) {
      ++end;
    }
    out.append(body, pos, value - pos);
    out += replacements[next++ % 3];
    pos = end;
  }
  out.append(body, pos, std::string::npos);
  return out;
}

// Every element of the top-level "pods" array twice.
std::string DuplicatePods(const std::string& body) {
  const size_t key = body.find("\"pods\":[");
  if (key == std::string::npos) return body;
  const size_t open = key + 7;
  // The array's extent, and the end of each element, by bracket depth outside strings.
  std::vector<size_t> starts = {open + 1};
  std::vector<size_t> ends;
  int depth = 0;
  bool in_string = false;
  size_t close = std::string::npos;
  for (size_t i = open; i < body.size(); ++i) {
    const char c = body[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      ++depth;
    } else if (c == ']' || c == '}') {
      if (--depth == 0) {
        close = i;
        break;
      }
    } else if (c == ',' && depth == 1) {
      ends.push_back(i);
      starts.push_back(i + 1);
    }
  }
  if (close == std::string::npos || close == open + 1) return body;
  ends.push_back(close);
  std::string out(body, 0, close);
  for (size_t e = 0; e < ends.size(); ++e) {
    out += ',';
    out.append(body, starts[e], ends[e] - starts[e]);
  }
  out.append(body, close, std::string::npos);
  return out;
}

}  // namespace

bool IsConnectionFault(FaultKind kind) {
  return kind == FaultKind::kRefuse || kind == FaultKind::kTlsUnknownCa ||
         kind == FaultKind::kTlsExpired || kind == FaultKind::kTlsNoIpSan;
}

bool FaultNeedsBody(FaultKind kind) {
  return kind == FaultKind::kTruncated || kind == FaultKind::kHuge ||
         kind == FaultKind::kBadNumbers || kind == FaultKind::kDuplicatePods ||
         kind == FaultKind::kSlowBody;
}

bool ParseFaultRule(std::string_view text, FaultRule* out, std::string* error) {
  text = Trim(text);
  auto fail = [&](const std::string& why) {
    *error = "fault \"" + std::string(text) + "\": " + why;
    return false;
  };
  FaultRule r;
  r.text = std::string(text);
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos) return fail("want TARGET:KIND[=ARG]");
  const std::string_view target = Trim(text.substr(0, colon));
  std::string_view kind = Trim(text.substr(colon + 1));
  if (target.starts_with("node/")) {
    r.node = std::string(target.substr(5));
    if (r.node.empty()) return fail("empty node name");
    r.target = r.node == "*" ? FaultTarget::kAllNodes : FaultTarget::kNode;
    if (r.target == FaultTarget::kAllNodes) r.node.clear();
  } else if (target == "nodes") {
    r.target = FaultTarget::kNodeList;
  } else if (target == "pods") {
    r.target = FaultTarget::kPodList;
  } else if (target == "metrics-api") {
    r.target = FaultTarget::kMetricsApi;
  } else if (target == "apiserver") {
    r.target = FaultTarget::kApiServer;
  } else {
    return fail("unknown target \"" + std::string(target) +
                "\" (want node/NAME, node/*, nodes, pods, metrics-api or apiserver)");
  }
  std::string_view arg;
  const size_t eq = kind.find('=');
  const bool has_arg = eq != std::string_view::npos;
  if (has_arg) {
    arg = Trim(kind.substr(eq + 1));
    kind = Trim(kind.substr(0, eq));
  }
  const KindName* k = nullptr;
  for (const KindName& candidate : kKinds) {
    if (kind == candidate.name) k = &candidate;
  }
  if (k == nullptr) {
    return fail("unknown kind \"" + std::string(kind) + "\" (known: " + kFaultKinds + ")");
  }
  if (has_arg && !k->takes_arg) return fail(std::string(k->name) + " takes no value");
  if (!has_arg && k->needs_arg) return fail(std::string(k->name) + " needs a value");
  r.kind = k->kind;
  switch (r.kind) {
    case FaultKind::kLatency:
      if (!ParseSeconds(arg, &r.seconds)) return fail("not a duration: " + std::string(arg));
      break;
    case FaultKind::kHang:
      r.seconds = kDefaultHangSeconds;
      if (has_arg && !ParseSeconds(arg, &r.seconds)) {
        return fail("not a duration: " + std::string(arg));
      }
      break;
    case FaultKind::kHttp: {
      const auto [ptr, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), r.http_status);
      if (ec != std::errc() || ptr != arg.data() + arg.size() || r.http_status < 300 ||
          r.http_status > 599) {
        return fail("want an HTTP status from 300 to 599, got \"" + std::string(arg) + "\"");
      }
      break;
    }
    case FaultKind::kHuge:
      r.count = kDefaultHugeBytes;
      if (has_arg && !ParseCount(arg, &r.count)) {
        return fail("not a size (e.g. 1GiB, 10MiB, 4096): " + std::string(arg));
      }
      break;
    case FaultKind::kDeepNesting:
      r.count = kDefaultBrackets;
      if (has_arg && !ParseCount(arg, &r.count)) {
        return fail("not a count: " + std::string(arg));
      }
      break;
    default:
      break;
  }
  const bool node_target = r.target == FaultTarget::kNode || r.target == FaultTarget::kAllNodes;
  // truncated, huge and slow-body act on any body: a Summary or the Metrics API's lists.
  const bool any_body = r.kind == FaultKind::kTruncated || r.kind == FaultKind::kHuge ||
                        r.kind == FaultKind::kSlowBody;
  if (FaultNeedsBody(r.kind) && !node_target &&
      !(any_body && r.target == FaultTarget::kMetricsApi)) {
    return fail(std::string(k->name) + (any_body
                                            ? " alters a body: use node/NAME, node/* or metrics-api"
                                            : " alters a Summary: use node/NAME or node/*"));
  }
  if (IsConnectionFault(r.kind) && r.target != FaultTarget::kNode &&
      r.target != FaultTarget::kAllNodes && r.target != FaultTarget::kApiServer) {
    return fail(std::string(k->name) + " acts on a listener: use node/NAME, node/* or apiserver");
  }
  *out = std::move(r);
  return true;
}

bool ParseFaultFile(std::string_view content, std::vector<FaultRule>* out, std::string* error) {
  int line_number = 0;
  while (!content.empty()) {
    const size_t nl = content.find('\n');
    std::string_view line = content.substr(0, nl);
    content.remove_prefix(nl == std::string_view::npos ? content.size() : nl + 1);
    ++line_number;
    line = Trim(line);
    if (line.empty() || line.front() == '#' || line == "faults:" || line == "---") continue;
    if (line.starts_with("- ")) line = Trim(line.substr(2));
    if (line.size() >= 2 && (line.front() == '"' || line.front() == '\'') &&
        line.back() == line.front()) {
      line = line.substr(1, line.size() - 2);
    }
    FaultRule rule;
    std::string why;
    if (!ParseFaultRule(line, &rule, &why)) {
      *error = "line " + std::to_string(line_number) + ": " + why;
      return false;
    }
    out->push_back(std::move(rule));
  }
  return true;
}

void FaultSet::Add(const FaultRule& rule) {
  std::lock_guard<std::mutex> lock(mu_);
  std::erase_if(rules_, [&](const FaultRule& r) { return Matches(r, rule); });
  rules_.push_back(rule);
  count_.store(static_cast<int>(rules_.size()));
  Wake();
}

void FaultSet::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  rules_.clear();
  count_.store(0);
  Wake();
}

std::optional<FaultRule> FaultSet::ForNode(std::string_view node) const {
  if (empty()) return std::nullopt;
  std::lock_guard<std::mutex> lock(mu_);
  const FaultRule* all = nullptr;
  for (const FaultRule& r : rules_) {
    if (r.target == FaultTarget::kNode && r.node == node) return r;
    if (r.target == FaultTarget::kAllNodes) all = &r;
  }
  return all ? std::optional<FaultRule>(*all) : std::nullopt;
}

std::optional<FaultRule> FaultSet::ForTarget(FaultTarget target) const {
  if (empty()) return std::nullopt;
  std::lock_guard<std::mutex> lock(mu_);
  for (const FaultRule& r : rules_) {
    if (r.target == target) return r;
  }
  return std::nullopt;
}

bool FaultSet::Sleep(double seconds) {
  std::unique_lock<std::mutex> lock(sleep_mu_);
  const uint64_t generation = generation_;
  return !wake_.wait_for(lock, std::chrono::duration<double>(seconds),
                         [&] { return stopping_ || generation_ != generation; });
}

void FaultSet::Wake() {
  std::lock_guard<std::mutex> lock(sleep_mu_);
  ++generation_;
  wake_.notify_all();
}

void FaultSet::Stop() {
  std::lock_guard<std::mutex> lock(sleep_mu_);
  stopping_ = true;
  wake_.notify_all();
}

int SendFault(mg_connection* conn, const FaultRule& rule, FaultSet& set, bool via_proxy,
              std::string_view dial, const std::string& body) {
  switch (rule.kind) {
    case FaultKind::kLatency:
      set.Sleep(rule.seconds);
      return -1;
    case FaultKind::kHang:
      // Nothing is sent: the client sees a connection that never answers. Past the cap (or when
      // the rules change) the API server's gateway timeout ends it, freeing the thread and
      // telling a client that waited that long why.
      set.Sleep(rule.seconds);
      return SendJson(conn, 504,
                      StatusBody(504,
                                 "the server was unable to return a response in "
                                 "the time allotted"));
    case FaultKind::kRefuse:
    case FaultKind::kTlsUnknownCa:
    case FaultKind::kTlsExpired:
    case FaultKind::kTlsNoIpSan: {
      // Only reached through the API server's node proxy (a kubelet listener fails at the
      // connection): the proxy's answer when it cannot reach the kubelet.
      std::string why = "dial tcp " + std::string(dial) + ": connect: connection refused";
      if (rule.kind == FaultKind::kTlsUnknownCa) {
        why = "tls: failed to verify certificate: x509: certificate signed by unknown authority";
      } else if (rule.kind == FaultKind::kTlsExpired) {
        why =
            "tls: failed to verify certificate: x509: certificate has expired or is not yet "
            "valid";
      } else if (rule.kind == FaultKind::kTlsNoIpSan) {
        why = "tls: failed to verify certificate: x509: cannot validate certificate for " +
              std::string(dial.substr(0, dial.rfind(':'))) +
              " because it doesn't contain any IP SANs";
      }
      (void)via_proxy;
      return SendJson(conn, 503, StatusBody(503, "error trying to reach service: " + why));
    }
    case FaultKind::kHttp: {
      const int code = rule.http_status;
      return SendJson(conn, code, StatusBody(code, StatusReason(code)),
                      code == 429 ? "1" : nullptr);
    }
    case FaultKind::kTruncated: {
      const std::string_view half(body.data(), body.size() / 2);
      return SendJson(conn, 200, half);
    }
    case FaultKind::kNotJson: {
      constexpr std::string_view kHtml =
          "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad "
          "Gateway</h1></center><hr><center>nginx</center></body></html>\n";
      Head(conn, 200, "text/html", static_cast<int64_t>(kHtml.size()));
      Write(conn, kHtml);
      return 200;
    }
    case FaultKind::kDeepNesting: {
      Head(conn, 200, "application/json", static_cast<int64_t>(rule.count));
      const std::string chunk(64 * 1024, '[');
      for (uint64_t left = rule.count; left > 0;) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(left, chunk.size()));
        if (!Write(conn, std::string_view(chunk.data(), n))) break;
        left -= n;
      }
      return 200;
    }
    case FaultKind::kHuge: {
      // The real body, then spaces (still valid JSON) up to the size; streamed in chunks, so
      // the simulator never holds more than one chunk of padding.
      const uint64_t total = std::max<uint64_t>(rule.count, body.size());
      Head(conn, 200, "application/json", -1);
      if (mg_send_chunk(conn, body.data(), static_cast<unsigned>(body.size())) < 0) return 200;
      const std::string pad(1 << 20, ' ');
      for (uint64_t left = total - body.size(); left > 0;) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(left, pad.size()));
        if (mg_send_chunk(conn, pad.data(), static_cast<unsigned>(n)) < 0) return 200;
        left -= n;
      }
      mg_send_chunk(conn, "", 0);
      return 200;
    }
    case FaultKind::kBadNumbers:
      return SendJson(conn, 200, BadNumbers(body));
    case FaultKind::kDuplicatePods:
      return SendJson(conn, 200, DuplicatePods(body));
    case FaultKind::kSlowBody: {
      Head(conn, 200, "application/json", static_cast<int64_t>(body.size()));
      for (char c : body) {
        if (!Write(conn, std::string_view(&c, 1)) || !set.Sleep(1)) break;
      }
      return 200;
    }
  }
  return 0;
}

}  // namespace kmb::sim
