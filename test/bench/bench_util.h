#pragma once
// Small helpers shared by the benchmark programs: libcurl GET, /proc readers, percentiles,
// sample-line counting. Header-only; benchmarks only (not part of the exporter).

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace kmb::bench {

inline size_t AppendToString(char* p, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(p, size * n);
  return size * n;
}

// Counts bytes and sample lines (lines not starting with '#') of a streamed exposition body
// without keeping it.
struct LineCounter {
  uint64_t bytes = 0;
  uint64_t samples = 0;
  bool at_line_start = true;
  void Feed(const char* p, size_t n) {
    bytes += n;
    const char* end = p + n;
    while (p < end) {
      if (at_line_start) {
        if (*p != '#' && *p != '\n') ++samples;
        at_line_start = false;
      }
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
      if (!nl) break;
      p = nl + 1;
      at_line_start = true;
    }
  }
};

inline size_t FeedLineCounter(char* p, size_t size, size_t n, void* user) {
  static_cast<LineCounter*>(user)->Feed(p, size * n);
  return size * n;
}

inline size_t Discard(char*, size_t size, size_t n, void* user) {
  *static_cast<uint64_t*>(user) += size * n;
  return size * n;
}

// A reusable libcurl handle (keep-alive across calls).
class Http {
 public:
  Http() : h_(curl_easy_init()) {}
  ~Http() { curl_easy_cleanup(h_); }
  Http(const Http&) = delete;
  Http& operator=(const Http&) = delete;

  // GET into *out; returns the HTTP status (0 on a transport error).
  long Get(const std::string& url, std::string* out, const char* accept_encoding = nullptr) {
    out->clear();
    Setup(url, accept_encoding);
    curl_easy_setopt(h_, CURLOPT_WRITEFUNCTION, AppendToString);
    curl_easy_setopt(h_, CURLOPT_WRITEDATA, out);
    return Perform();
  }
  // GET, counting bytes and sample lines only.
  long Count(const std::string& url, LineCounter* counter) {
    Setup(url, nullptr);
    curl_easy_setopt(h_, CURLOPT_WRITEFUNCTION, FeedLineCounter);
    curl_easy_setopt(h_, CURLOPT_WRITEDATA, counter);
    return Perform();
  }
  // GET, discarding the body (bytes added to *bytes).
  long Drain(const std::string& url, uint64_t* bytes, const char* accept_encoding = nullptr) {
    Setup(url, accept_encoding);
    curl_easy_setopt(h_, CURLOPT_WRITEFUNCTION, Discard);
    curl_easy_setopt(h_, CURLOPT_WRITEDATA, bytes);
    return Perform();
  }
  std::string error() const { return err_; }

 private:
  void Setup(const std::string& url, const char* accept_encoding) {
    curl_easy_setopt(h_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h_, CURLOPT_TIMEOUT, 300L);
    curl_easy_setopt(h_, CURLOPT_ERRORBUFFER, errbuf_);
    if (headers_) curl_slist_free_all(headers_);
    headers_ = nullptr;
    if (accept_encoding) {
      // Only send the header; do not let curl decompress (we measure the wire bytes).
      std::string h = std::string("Accept-Encoding: ") + accept_encoding;
      headers_ = curl_slist_append(nullptr, h.c_str());
      curl_easy_setopt(h_, CURLOPT_ACCEPT_ENCODING, nullptr);
    }
    curl_easy_setopt(h_, CURLOPT_HTTPHEADER, headers_);
    errbuf_[0] = 0;
  }
  long Perform() {
    CURLcode rc = curl_easy_perform(h_);
    if (rc != CURLE_OK) {
      err_ = errbuf_[0] ? errbuf_ : curl_easy_strerror(rc);
      return 0;
    }
    long code = 0;
    curl_easy_getinfo(h_, CURLINFO_RESPONSE_CODE, &code);
    return code;
  }
  CURL* h_;
  curl_slist* headers_ = nullptr;
  char errbuf_[CURL_ERROR_SIZE] = {};
  std::string err_;
};

inline double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  // nearest-rank
  size_t rank = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size()) + 0.999999);
  if (rank < 1) rank = 1;
  if (rank > v.size()) rank = v.size();
  return v[rank - 1];
}

// CPU and page-fault counters of a process (/proc/<pid>/stat fields 10, 14 and 15).
struct ProcStat {
  double user_seconds = 0, system_seconds = 0;
  unsigned long long minor_faults = 0;
  double cpu_seconds() const { return user_seconds + system_seconds; }
};
inline ProcStat ReadProcStat(long pid) {
  std::ifstream f("/proc/" + (pid ? std::to_string(pid) : std::string("self")) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  ProcStat st;
  size_t rp = s.rfind(')');
  if (rp == std::string::npos) return st;
  std::istringstream in(s.substr(rp + 2));
  std::string field;
  // fields after comm start at 3 (state)
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && (in >> field); ++i) {
    if (i == 10) st.minor_faults = std::stoull(field);
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  const double tck = static_cast<double>(sysconf(_SC_CLK_TCK));
  st.user_seconds = static_cast<double>(utime) / tck;
  st.system_seconds = static_cast<double>(stime) / tck;
  return st;
}

// utime + stime of a process, in seconds.
inline double ProcCpuSeconds(long pid) { return ReadProcStat(pid).cpu_seconds(); }

// A "Vm...:" field of /proc/<pid>/status, in bytes (0 when missing).
inline uint64_t ProcStatusBytes(long pid, const char* key) {
  std::ifstream f("/proc/" + (pid ? std::to_string(pid) : std::string("self")) + "/status");
  std::string line;
  const size_t klen = std::strlen(key);
  while (std::getline(f, line)) {
    if (line.compare(0, klen, key) == 0 && line.size() > klen && line[klen] == ':') {
      return std::stoull(line.substr(klen + 1)) * 1024;
    }
  }
  return 0;
}

inline std::string Fmt(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

inline std::string LoadAverage() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

inline std::string MachineLine() {
  std::string model;
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return std::to_string(sysconf(_SC_NPROCESSORS_ONLN)) + " CPUs (" + model + "), " +
         Fmt("%.1f", static_cast<double>(pages) * static_cast<double>(page) / (1 << 30)) +
         " GiB RAM";
}

}  // namespace kmb::bench
