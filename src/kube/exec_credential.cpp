#include "kube/exec_credential.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <vector>

#include "kmb/util/log.h"
#include "kube/file_util.h"
#include "kube/http_text.h"

extern char** environ;

namespace kmb {
namespace {

using Clock = std::chrono::system_clock;
constexpr size_t kMaxOutputBytes = 1 << 20;

std::string Base64Encode(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
}

// "exec plugin <command> (kubeconfig user "u")": names the plugin, never its output.
std::string Who(const ExecConfig& exec) {
  return "exec plugin " + exec.command + " (kubeconfig user \"" + exec.user + "\")";
}

Status Fail(const ExecConfig& exec, const std::string& what) {
  std::string msg = Who(exec) + ": " + what;
  return Status::Error(reason::kConfig, std::move(msg));
}

// RFC 3339 ("2026-11-29T18:00:00Z", fractions and numeric offsets allowed).
bool ParseRfc3339(const std::string& s, Clock::time_point* out) {
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return false;
  }
  size_t i = static_cast<size_t>(consumed);
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  }
  long offset = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    int h = 0, m = 0;
    if (std::sscanf(s.c_str() + i + 1, "%2d:%2d", &h, &m) != 2) return false;
    offset = (s[i] == '+' ? 1 : -1) * (h * 3600L + m * 60L);
    i += 6;
  } else {
    return false;
  }
  if (i != s.size()) return false;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  time_t t = timegm(&tm);
  if (t == static_cast<time_t>(-1)) return false;
  // system_clock counts nanoseconds in 64 bits (until 2262): "never expires" stays far away.
  t = std::min<time_t>(t, 7'000'000'000);
  *out = Clock::from_time_t(t - offset);
  return true;
}

std::string ExitText(int wstatus) {
  if (WIFEXITED(wstatus)) return "exited with status " + std::to_string(WEXITSTATUS(wstatus));
  if (WIFSIGNALED(wstatus)) return "killed by signal " + std::to_string(WTERMSIG(wstatus));
  return "ended abnormally";
}

}  // namespace

Status ParseExecCredential(std::string_view json, std::string_view api_version,
                           ExecCredential* out) {
  auto fail = [](const std::string& what) {
    return Status::Error(reason::kConfig, "output is not a valid ExecCredential: " + what);
  };
  nlohmann::json doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return fail("not JSON");
  if (!doc.is_object()) return fail("not a JSON object");
  auto str = [](const nlohmann::json& o, const char* key) -> std::string {
    auto it = o.find(key);
    return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (str(doc, "kind") != "ExecCredential") return fail("kind is not ExecCredential");
  if (str(doc, "apiVersion") != api_version) {
    return fail("apiVersion is not " + std::string(api_version));
  }
  auto status = doc.find("status");
  if (status == doc.end() || !status->is_object()) return fail("no status");
  ExecCredential c;
  c.token = TrimToken(str(*status, "token"));
  c.client_cert_pem = str(*status, "clientCertificateData");
  c.client_key_pem = str(*status, "clientKeyData");
  if (c.client_cert_pem.empty() != c.client_key_pem.empty()) {
    return fail("status has only one of clientCertificateData and clientKeyData");
  }
  if (c.token.empty() && c.client_cert_pem.empty()) {
    return fail("status has neither token nor clientCertificateData");
  }
  if (!c.client_cert_pem.empty() && (c.client_cert_pem.find("-----BEGIN ") == std::string::npos ||
                                     c.client_key_pem.find("-----BEGIN ") == std::string::npos)) {
    return fail("clientCertificateData or clientKeyData is not PEM");
  }
  if (auto exp = status->find("expirationTimestamp"); exp != status->end() && !exp->is_null()) {
    Clock::time_point t;
    if (!exp->is_string() || !ParseRfc3339(exp->get<std::string>(), &t)) {
      return fail("status.expirationTimestamp is not an RFC 3339 time");
    }
    c.expiry = t;
  }
  *out = std::move(c);
  return Status::Ok();
}

std::string ExecInfoJson(const ExecConfig& exec, const ClusterConfig& cluster) {
  nlohmann::json spec = {{"interactive", false}};
  if (exec.provide_cluster_info) {
    nlohmann::json c = {{"server", cluster.server}};
    if (!cluster.tls_server_name.empty()) c["tls-server-name"] = cluster.tls_server_name;
    if (cluster.insecure_skip_tls_verify) c["insecure-skip-tls-verify"] = true;
    if (!cluster.ca_pem.empty()) c["certificate-authority-data"] = Base64Encode(cluster.ca_pem);
    if (!cluster.proxy_url.empty()) c["proxy-url"] = cluster.proxy_url;
    spec["cluster"] = std::move(c);
  }
  nlohmann::json info = {
      {"apiVersion", exec.api_version}, {"kind", "ExecCredential"}, {"spec", std::move(spec)}};
  return info.dump();
}

Status RunExecPlugin(const ExecConfig& exec, const std::string& exec_info, double timeout_seconds,
                     ExecCredential* out) {
  if (exec.interactive_mode == "Always") {
    return Fail(exec,
                "needs an interactive terminal (interactiveMode Always), which the exporter "
                "never has; use a plugin that works with interactiveMode Never");
  }
  // Environment: ours, then the kubeconfig's env entries (overriding), then KUBERNETES_EXEC_INFO.
  std::vector<std::string> env_strings;
  auto overridden = [&](std::string_view entry) {
    const std::string_view name = entry.substr(0, entry.find('='));
    if (name == "KUBERNETES_EXEC_INFO") return true;
    for (const auto& [n, v] : exec.env) {
      if (n == name) return true;
    }
    return false;
  };
  for (char** e = environ; e && *e; ++e) {
    if (!overridden(*e)) env_strings.emplace_back(*e);
  }
  for (const auto& [n, v] : exec.env) env_strings.push_back(n + "=" + v);
  env_strings.push_back("KUBERNETES_EXEC_INFO=" + exec_info);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> arg_strings = {exec.command};
  arg_strings.insert(arg_strings.end(), exec.args.begin(), exec.args.end());
  std::vector<char*> argv;
  for (auto& s : arg_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return Fail(exec, std::string("cannot create a pipe (") + std::strerror(errno) + ")");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own process group, so a timeout kills whatever it started too; default signals.
  sigset_t no_signals, default_signals;
  sigemptyset(&no_signals);
  sigfillset(&default_signals);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setsigmask(&attr, &no_signals);
  posix_spawnattr_setsigdefault(&attr, &default_signals);
  pid_t pid = 0;
  const int spawn_error =
      posix_spawnp(&pid, exec.command.c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(pipe_fds[1]);
  if (spawn_error != 0) {
    close(pipe_fds[0]);
    std::string what = std::string("cannot run it (") + std::strerror(spawn_error) + ")";
    if (!exec.install_hint.empty()) what += "; " + exec.install_hint;
    return Fail(exec, OneLine(what, 400));
  }

  std::string output;
  bool timed_out = false, too_large = false;
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<long>(timeout_seconds * 1000));
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{pipe_fds[0], POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      timed_out = r == 0;
      break;
    }
    char buf[8192];
    const ssize_t n = ::read(pipe_fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: the plugin closed stdout
    output.append(buf, static_cast<size_t>(n));
    if (output.size() > kMaxOutputBytes) {
      too_large = true;
      break;
    }
  }
  close(pipe_fds[0]);
  int wstatus = 0;
  if (timed_out || too_large) {
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    waitpid(pid, &wstatus, 0);
    if (timed_out) {
      char secs[32];
      std::snprintf(secs, sizeof secs, "%gs", timeout_seconds);
      return Fail(exec, std::string("did not finish within ") + secs + " and was killed");
    }
    return Fail(exec, "printed more than 1 MiB and was killed");
  }
  // Stdout is closed; give the process the rest of the timeout to exit.
  for (;;) {
    const pid_t r = waitpid(pid, &wstatus, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      waitpid(pid, &wstatus, 0);
      return Fail(exec, "closed its output but did not exit within the timeout; killed");
    }
    usleep(2000);
  }
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    std::string what = ExitText(wstatus);
    if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 127 && !exec.install_hint.empty()) {
      what += "; " + exec.install_hint;  // a shell wrapper that could not find its command
    }
    return Fail(exec, OneLine(what, 400));
  }
  Status st = ParseExecCredential(output, exec.api_version, out);
  if (!st.ok()) return Fail(exec, st.message());
  return Status::Ok();
}

ExecCredentialSource::ExecCredentialSource(ExecConfig exec, const ClusterConfig& cluster,
                                           double timeout_seconds)
    : exec_(std::move(exec)),
      exec_info_(ExecInfoJson(exec_, cluster)),
      timeout_seconds_(timeout_seconds) {}

Status ExecCredentialSource::Get(ExecCredential* out, uint64_t* generation) {
  std::lock_guard<std::mutex> lock(mu_);
  const bool expired = cached_ && cached_->expiry && Clock::now() >= *cached_->expiry;
  if (!cached_ || expired) {
    // A failing plugin is not re-run for every request of a poll's fan-out.
    if (!failure_.ok() && std::chrono::steady_clock::now() < retry_after_) return failure_;
    ExecCredential fresh;
    Status st = RunExecPlugin(exec_, exec_info_, timeout_seconds_, &fresh);
    if (!st.ok()) {
      failure_ = st;
      retry_after_ = std::chrono::steady_clock::now() + kRetryAfterFailure;
      if (last_error_reason_ != st.message()) {
        log::Warn("exec credential plugin failed", {{"error", st.message()}});
        last_error_reason_ = st.message();
      }
      cached_.reset();
      return st;
    }
    if (!last_error_reason_.empty())
      log::Info("exec credential plugin recovered", {{"command", exec_.command}});
    last_error_reason_.clear();
    failure_ = Status::Ok();
    cached_ = std::move(fresh);
    ++generation_;
  }
  *out = *cached_;
  *generation = generation_;
  return Status::Ok();
}

bool ExecCredentialSource::Peek(uint64_t generation, ExecCredential* out) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!cached_ || generation != generation_) return false;
  *out = *cached_;
  return true;
}

void ExecCredentialSource::Invalidate(uint64_t generation) {
  std::lock_guard<std::mutex> lock(mu_);
  if (generation == generation_) cached_.reset();
}

}  // namespace kmb
