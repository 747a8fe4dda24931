#include "kmb/util/thread_name.h"

#include <pthread.h>

namespace kmb {

void SetThreadName(std::string_view name) {
  char buf[16];
  const size_t n = name.copy(buf, sizeof(buf) - 1);
  buf[n] = '\0';
  (void)pthread_setname_np(pthread_self(), buf);
}

std::string ThreadName() {
  char buf[16] = {};
  if (pthread_getname_np(pthread_self(), buf, sizeof(buf)) != 0) return {};
  return buf;
}

}  // namespace kmb
