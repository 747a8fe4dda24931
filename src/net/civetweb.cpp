#include "kmb/net/civetweb.h"

#include <civetweb.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <thread>

namespace kmb::net {

void StopCivetweb(mg_context* ctx, const std::string& host, int port) {
  std::atomic<bool> done{false};
  std::thread knocker([&] {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0) return;
    while (!done.load()) {
      const int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd >= 0) {
        connect(fd, res->ai_addr, res->ai_addrlen);
        close(fd);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    freeaddrinfo(res);
  });
  mg_stop(ctx);
  done.store(true);
  knocker.join();
}

bool AcceptsGzip(std::string_view accept_encoding) {
  std::string ae(accept_encoding);
  for (char& c : ae) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  size_t pos = 0;
  while (pos < ae.size()) {
    size_t end = ae.find(',', pos);
    if (end == std::string::npos) end = ae.size();
    std::string_view item(ae.data() + pos, end - pos);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    if (item.starts_with("gzip") || item.starts_with("*")) {
      // "gzip;q=0" refuses gzip.
      size_t q = item.find("q=");
      if (q == std::string_view::npos) return true;
      std::string_view qv = item.substr(q + 2);
      while (!qv.empty() && (qv.back() == ' ')) qv.remove_suffix(1);
      return !(qv == "0" || qv == "0.0" || qv == "0.00" || qv == "0.000");
    }
    pos = end + 1;
  }
  return false;
}

}  // namespace kmb::net
