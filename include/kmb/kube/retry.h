#pragma once
// Retries for safe requests: a GET is retried with jittered exponential backoff, only on
// outcomes that a second try can fix (connect, timeout, HTTP 429, 502, 503, 504), and only
// while the retry still fits the request's deadline. docs/architecture.md, "Failure handling".

#include <functional>
#include <string_view>

#include "kmb/kube/client.h"
#include "kmb/util/status.h"

namespace kmb {

struct RetryPolicy {
  int max_attempts = 3;             // first try included; 1 = no retry
  double base_delay_seconds = 0.2;  // before the 2nd try; doubled each time, +-50% jitter
  double max_delay_seconds = 2;
  double max_retry_after_seconds = 5;  // a longer Retry-After is not waited for
  // A retry needs at least this share of the deadline left (or the time Retry-After asks for
  // plus this share), so a timeout retry gets a real chance instead of a sliver.
  double min_attempt_fraction = 0.25;
};

// True when `status` (with the answer's HTTP status in `http_status`) is worth retrying.
bool IsRetryable(const Status& status, long http_status);

// The delay before attempt `attempt` (2 = first retry): base * 2^(attempt-2), capped, jittered
// by `jitter` in [0, 1) mapped to +-50%.
double RetryDelay(const RetryPolicy& policy, int attempt, double jitter);

// GET `path` within `deadline_seconds` (whole budget, retries and waits included; each attempt's
// timeout is what is left). Each failed attempt that is retried is passed to `on_retry` (to be
// counted); the returned Status is the last attempt's.
Status GetWithRetry(KubeClient& client, std::string_view path, HttpResponse* out,
                    double deadline_seconds, const RetryPolicy& policy,
                    const std::function<void(const Status&)>& on_retry = nullptr);

}  // namespace kmb
