// SignalWaiter: the exporter's and the simulator's main threads sleep in Wait until a signal
// comes, whichever thread the kernel delivers it to.

#include "kmb/util/signals.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <chrono>
#include <csignal>
#include <future>
#include <string>

namespace kmb {
namespace {

volatile std::sig_atomic_t g_custom_hup = 0;
void CustomHup(int) { g_custom_hup = 1; }

TEST(SignalWaiter, ReloadIsAnsweredOnceAndStopForGood) {
  std::string error;
  auto waiter = SignalWaiter::Install(/*reload=*/true, &error);
  ASSERT_NE(waiter, nullptr) << error;
  std::raise(SIGHUP);
  EXPECT_EQ(waiter->Wait(), SignalWaiter::Event::kReload);
  std::raise(SIGTERM);
  EXPECT_EQ(waiter->Wait(), SignalWaiter::Event::kStop);
  EXPECT_EQ(waiter->Wait(), SignalWaiter::Event::kStop);  // a stop is not used up
}

TEST(SignalWaiter, ASignalToAnotherThreadWakesTheWaiter) {
  std::string error;
  auto waiter = SignalWaiter::Install(/*reload=*/false, &error);
  ASSERT_NE(waiter, nullptr) << error;
  std::promise<pthread_t> waiting;
  auto woken = std::async(std::launch::async, [&] {
    waiting.set_value(pthread_self());
    return waiter->Wait();
  });
  const pthread_t waiter_thread = waiting.get_future().get();
  EXPECT_EQ(woken.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout)
      << "Wait returned with no signal";
  // This thread takes the signal, not the one sleeping in Wait.
  ASSERT_NE(pthread_self(), waiter_thread);
  pthread_kill(pthread_self(), SIGINT);
  ASSERT_EQ(woken.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(woken.get(), SignalWaiter::Event::kStop);
}

TEST(SignalWaiter, ThePreviousHandlersComeBack) {
  struct sigaction custom {}, before_int {}, after {};
  custom.sa_handler = CustomHup;
  sigemptyset(&custom.sa_mask);
  sigaction(SIGHUP, &custom, nullptr);
  sigaction(SIGINT, nullptr, &before_int);
  {
    std::string error;
    auto waiter = SignalWaiter::Install(/*reload=*/false, &error);
    ASSERT_NE(waiter, nullptr) << error;
    sigaction(SIGHUP, nullptr, &after);
    EXPECT_EQ(after.sa_handler, CustomHup) << "reload=false must leave SIGHUP alone";
    sigaction(SIGINT, nullptr, &after);
    EXPECT_NE(after.sa_handler, before_int.sa_handler);
  }
  sigaction(SIGINT, nullptr, &after);
  EXPECT_EQ(after.sa_handler, before_int.sa_handler);
  {
    std::string error;
    auto waiter = SignalWaiter::Install(/*reload=*/true, &error);
    ASSERT_NE(waiter, nullptr) << error;
    std::raise(SIGHUP);
    EXPECT_EQ(g_custom_hup, 0);
    EXPECT_EQ(waiter->Wait(), SignalWaiter::Event::kReload);
  }
  std::raise(SIGHUP);
  EXPECT_EQ(g_custom_hup, 1);
  signal(SIGHUP, SIG_DFL);
}

}  // namespace
}  // namespace kmb
