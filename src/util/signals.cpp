#include "kmb/util/signals.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

namespace kmb {
namespace {

volatile std::sig_atomic_t g_stop = 0;
volatile std::sig_atomic_t g_reload = 0;
volatile std::sig_atomic_t g_pipe_write = -1;
int g_pipe_read = -1;

void Wake() {
  const int saved = errno;  // a handler must leave errno as it found it
  const char c = 1;
  // Non-blocking: a full pipe already has a wake-up waiting.
  if (g_pipe_write >= 0) (void)!write(g_pipe_write, &c, 1);
  errno = saved;
}

void OnStop(int) {
  g_stop = 1;
  Wake();
}

void OnReload(int) {
  g_reload = 1;
  Wake();
}

}  // namespace

struct SignalWaiter::Saved {
  struct sigaction int_action {};
  struct sigaction term_action {};
  struct sigaction hup_action {};
  bool reload = false;
};

std::unique_ptr<SignalWaiter> SignalWaiter::Install(bool reload, std::string* error) {
  int fds[2];
  // Close-on-exec: credential plugins run as child processes and must not hold the pipe.
  if (pipe2(fds, O_CLOEXEC) != 0 || fcntl(fds[1], F_SETFL, O_NONBLOCK) != 0) {
    *error = std::string("signal pipe: ") + std::strerror(errno);
    return nullptr;
  }
  std::unique_ptr<SignalWaiter> waiter(new SignalWaiter);
  waiter->saved_ = std::make_unique<Saved>();
  Saved& saved = *waiter->saved_;
  saved.reload = reload;
  g_stop = 0;
  g_reload = 0;
  g_pipe_read = fds[0];
  g_pipe_write = fds[1];
  struct sigaction action {};
  sigemptyset(&action.sa_mask);
  action.sa_handler = OnStop;
  sigaction(SIGINT, &action, &saved.int_action);
  sigaction(SIGTERM, &action, &saved.term_action);
  if (reload) {
    action.sa_handler = OnReload;
    sigaction(SIGHUP, &action, &saved.hup_action);
  }
  return waiter;
}

SignalWaiter::~SignalWaiter() {
  sigaction(SIGINT, &saved_->int_action, nullptr);
  sigaction(SIGTERM, &saved_->term_action, nullptr);
  if (saved_->reload) sigaction(SIGHUP, &saved_->hup_action, nullptr);
  const int write_fd = g_pipe_write;
  g_pipe_write = -1;
  close(write_fd);
  close(g_pipe_read);
  g_pipe_read = -1;
}

SignalWaiter::Event SignalWaiter::Wait() {
  for (;;) {
    if (g_stop) return Event::kStop;
    if (g_reload) {
      g_reload = 0;
      return Event::kReload;
    }
    char buf[64];
    if (read(g_pipe_read, buf, sizeof buf) < 0 && errno != EINTR) return Event::kStop;
  }
}

}  // namespace kmb
