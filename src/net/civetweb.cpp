#include "kmb/net/civetweb.h"

#include <civetweb.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
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

}  // namespace kmb::net
