#pragma once
// Helpers shared by the test binaries: a plain libcurl GET, temp dirs, child processes.

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace kmb::testing {

struct Fetched {
  long status = 0;
  std::string body;
  std::string headers;
  std::string error;
};

inline size_t AppendTo(char* p, size_t s, size_t n, void* ud) {
  static_cast<std::string*>(ud)->append(p, s * n);
  return s * n;
}

// GET `url`; `headers` like {"Accept: application/openmetrics-text"}. No decompression.
inline Fetched HttpGet(const std::string& url, const std::vector<std::string>& headers = {},
                       const std::string& ca_pem = "") {
  Fetched f;
  CURL* c = curl_easy_init();
  curl_slist* hl = nullptr;
  for (const auto& h : headers) hl = curl_slist_append(hl, h.c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, AppendTo);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &f.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, AppendTo);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &f.headers);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_blob blob{};
  if (!ca_pem.empty()) {
    blob.data = const_cast<char*>(ca_pem.data());
    blob.len = ca_pem.size();
    blob.flags = CURL_BLOB_COPY;
    curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob);
  }
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) f.error = curl_easy_strerror(rc);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &f.status);
  curl_slist_free_all(hl);
  curl_easy_cleanup(c);
  return f;
}

// A loopback port that was free a moment ago (for servers that cannot bind port 0 and report
// it, like Prometheus). Picked at random below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range, 32768 and up by default): a port that bind(0) handed out was
// sometimes taken again between this check and the server's bind, by an outgoing connection of
// a test running beside it (CI saw "Address already in use"); below the range only another
// explicit bind can take it.
inline int BindLoopbackOnce(int port);
inline int FreePort() {
  int low = 32768, high = 60999;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> low >> high;
  const int first = 10000, last = low - 1;
  static unsigned seed = static_cast<unsigned>(getpid()) * 2654435761u ^
                         static_cast<unsigned>(
                             std::chrono::steady_clock::now().time_since_epoch().count());
  for (int attempt = 0; attempt < 200 && last > first + 100; ++attempt) {
    seed = seed * 1103515245u + 12345u;
    const int port = first + static_cast<int>((seed >> 8) % static_cast<unsigned>(last - first));
    if (BindLoopbackOnce(port) == port) return port;
  }
  return BindLoopbackOnce(0);  // no room below the range: a port from bind(0), as before
}

// Binds a socket to 127.0.0.1:`port` (0: any free port), closes it, and returns the port it
// was bound to, or 0 when the bind failed.
inline int BindLoopbackOnce(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  int bound = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    bound = ntohs(addr.sin_port);
  }
  close(fd);
  return bound;
}

// Text after "key=" up to the next space in a logfmt line.
inline std::string LogfmtField(const std::string& line, const std::string& key) {
  size_t p = line.find(" " + key + "=");
  if (p == std::string::npos) return "";
  p += key.size() + 2;
  size_t e = line.find_first_of(" \n", p);
  return line.substr(p, e == std::string::npos ? std::string::npos : e - p);
}

// The value of the sample `series` (name and labels as exposed) in exposition `text` as written,
// or nullopt when absent. Only sample lines count: a family's HELP line names it too.
inline std::optional<std::string> SampleText(const std::string& text, const std::string& series) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return line.substr(series.size() + 1);
    }
  }
  return std::nullopt;
}

// The same, as a number.
inline std::optional<double> Sample(const std::string& text, const std::string& series) {
  const std::optional<std::string> value = SampleText(text, series);
  if (!value) return std::nullopt;
  return std::stod(*value);
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
}

// A fresh folder under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kmb-test-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A child process with stdout and stderr sent to files; killed (SIGTERM, then SIGKILL) on
// destruction.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::string& out_file,
        const std::string& err_file)
      : out_file_(out_file), err_file_(err_file) {
    pid_ = fork();
    if (pid_ == 0) {
      std::freopen(out_file.c_str(), "w", stdout);
      std::freopen(err_file.c_str(), "w", stderr);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
  }
  ~Child() { Stop(); }
  // Sends SIGTERM and waits (up to `grace`, then SIGKILL). Returns the exit status or -1.
  int Stop(std::chrono::milliseconds grace = std::chrono::milliseconds(5000)) {
    if (pid_ <= 0) return exit_status_;
    kill(pid_, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + grace;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        return exit_status_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    pid_ = -1;
    exit_status_ = -1;
    return exit_status_;
  }
  // False once the child has exited (its status is then kept for Stop).
  bool Alive() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) != pid_) return true;
    pid_ = -1;
    exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return false;
  }
  pid_t pid() const { return pid_; }  // -1 once stopped
  std::string Stdout() const { return ReadFile(out_file_); }
  std::string Stderr() const { return ReadFile(err_file_); }

  // Waits until the child's stdout (or stderr) has a line containing `marker`; returns it, or
  // "" after `timeout` or as soon as the child has exited without writing it.
  std::string WaitForLine(const std::string& marker, bool from_stderr = false,
                          std::chrono::seconds timeout = std::chrono::seconds(30)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      const bool alive = Alive();  // before reading: an exited child has written everything
      std::istringstream in(from_stderr ? Stderr() : Stdout());
      for (std::string line; std::getline(in, line);) {
        if (line.find(marker) != std::string::npos) return line;
      }
      if (!alive) return "";
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return "";
  }

 private:
  pid_t pid_ = -1;
  int exit_status_ = -1;
  std::string out_file_, err_file_;
};

// Runs a command line through the shell; returns its exit status and stdout+stderr.
inline int RunCommand(const std::string& cmd, std::string* output) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) output->append(buf, n);
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// Polls `done` every 20 ms until it is true or `seconds` passed; returns its last answer. For
// state another thread changes (watch caches, servers), not for timing.
template <typename F>
bool Eventually(F done, double seconds = 20) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

}  // namespace kmb::testing
