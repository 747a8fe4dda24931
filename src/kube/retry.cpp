#include "kmb/kube/retry.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <thread>

namespace kmb {

bool IsRetryable(const Status& status, long http_status) {
  if (status.ok()) return false;
  const std::string& r = status.reason();
  if (r == reason::kConnect || r == reason::kTimeout) return true;
  if (r == reason::kHttp4xx) return http_status == 429;
  if (r == reason::kHttp5xx) {
    return http_status == 502 || http_status == 503 || http_status == 504;
  }
  return false;  // tls, decode, too_large, config: the same request fails the same way
}

double RetryDelay(const RetryPolicy& policy, int attempt, double jitter) {
  const double base = policy.base_delay_seconds * std::pow(2.0, std::max(0, attempt - 2));
  return std::min(policy.max_delay_seconds, base) * (0.5 + jitter);
}

Status GetWithRetry(KubeClient& client, std::string_view path, HttpResponse* out,
                    double deadline_seconds, const RetryPolicy& policy,
                    const std::function<void(const Status&)>& on_retry) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  auto left = [&] {
    return deadline_seconds - std::chrono::duration<double>(Clock::now() - start).count();
  };
  thread_local std::minstd_rand rng(std::random_device{}());
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const double min_attempt = deadline_seconds * policy.min_attempt_fraction;
  for (int attempt = 1;; ++attempt) {
    Status st = client.Get(path, out, std::max(0.001, left()));
    if (st.ok() || attempt >= policy.max_attempts || !IsRetryable(st, out->status)) return st;
    double delay = RetryDelay(policy, attempt + 1, unit(rng));
    if (out->status == 429 || out->status == 503) {
      if (out->retry_after_seconds > policy.max_retry_after_seconds) return st;
      delay = std::max(delay, out->retry_after_seconds);
    }
    if (left() - delay < min_attempt) return st;  // the retry would not fit the deadline
    if (on_retry) on_retry(st);
    std::this_thread::sleep_for(std::chrono::duration<double>(delay));
  }
}

}  // namespace kmb
