#pragma once
// Signals, whichever thread the kernel delivers them to, reach one thread that sleeps until
// they come: the handlers only set a flag and write a byte to a pipe (both async-signal-safe).
// The exporter's main thread and the simulator's wait on it instead of waking every few
// milliseconds to look at a flag: an idle exporter took 160 ms of CPU in 90 s when its threads
// woke every 50 and 100 ms, 40 ms now (docs/performance.md).

#include <memory>
#include <string>

namespace kmb {

class SignalWaiter {
 public:
  enum class Event { kStop, kReload };

  // Handlers for SIGINT and SIGTERM (stop) and, when `reload`, SIGHUP (reload); the previous
  // ones come back when the waiter is destroyed. One waiter at a time; null (and `*error`)
  // when the pipe cannot be made.
  static std::unique_ptr<SignalWaiter> Install(bool reload, std::string* error);
  ~SignalWaiter();
  SignalWaiter(const SignalWaiter&) = delete;
  SignalWaiter& operator=(const SignalWaiter&) = delete;

  // Sleeps until a signal comes that has not been answered yet: kStop once a stop signal came
  // (and from then on), else kReload.
  Event Wait();

 private:
  SignalWaiter() = default;
  struct Saved;
  std::unique_ptr<Saved> saved_;
};

}  // namespace kmb
