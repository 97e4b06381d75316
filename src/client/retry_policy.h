/* The retry rules of reference/tinker-protocol.md §8.1 and §3.7 as pure functions, so that each
 * formula is unit-tested on its own, apart from the network. Delays are in seconds, before the
 * client's retry_time_scale is applied. Thread-safe (no state). */
#ifndef TK_CLIENT_RETRY_POLICY_H
#define TK_CLIENT_RETRY_POLICY_H

#include <stdbool.h>
#include <stddef.h>

/* Layer 1 (request layer) and layer 2 (execute_with_retries) retry these statuses:
 * 408, 409, 429 and every 5xx. */
bool tk_client_status_retryable(long status);

/* The x-should-retry header: 1 for "true", 0 for "false", -1 when absent or anything else. */
int tk_client_should_retry_header(const char *value);

/* The server's requested delay: retry-after-ms (milliseconds, may be fractional) wins over
 * Retry-After (seconds, or an HTTP date compared with now_wall, seconds since the epoch).
 * Returns the delay when it lies in (0, 60] s, else -1 (then the computed back-off applies). */
double tk_client_retry_after_s(const char *retry_after_ms, const char *retry_after,
                               double now_wall);

/* Layer 1 back-off for retry k = 0, 1, 2, …: min(0.5·2^k, 10) · (1 − 0.25·u), u in [0,1). */
double tk_client_request_backoff_s(int k, double u);

/* Layer 2 back-off for retry k = 0, 1, 2, …: min(2^k, 30). */
double tk_client_exec_backoff_s(int k);

/* retrieve_future after connection errors / timeouts (n-th in a row, from 0) and after 429:
 * min(2^n, 30). */
double tk_client_poll_error_backoff_s(int n);

/* tinkerc's guard against the busy loop the Python SDK can fall into (peers.md §0.2): when a
 * try_again / 408 / 5xx poll answer comes back faster than TK_CLIENT_FAST_ANSWER_S, the j-th such
 * answer in a row (j from 0) waits min(0.05·2^j, 2) s before the next poll. An answer that took
 * longer (a real long-poll) is followed by an immediate poll, as in the SDK. */
#define TK_CLIENT_FAST_ANSWER_S 1.0
double tk_client_fast_poll_backoff_s(int j);

/* Sampling back-pressure (a 429 on asample): 1 s when the request is at most 128 KiB, else 5 s. */
double tk_client_backpressure_delay_s(size_t body_len);

/* Whole-call re-submission after an expired future (the sampling RetryHandler), k from 0:
 * min(0.5·2^k, 10) · (1 + 0.25·(2u − 1)), i.e. ±25 % jitter. */
double tk_client_resubmit_backoff_s(int k, double u);

/* retrieve_future tolerates this many 400 answers (a proxy may send them) before failing. */
#define TK_CLIENT_POLL_MAX_400 3
/* Billing pause (402): wait this long between attempts. */
#define TK_CLIENT_BILLING_PAUSE_S 5.0
/* Empty-body 400s treated as a Cloudflare rejection (retryable) before they become fatal. */
#define TK_CLIENT_EMPTY_400_BUDGET 16

#endif
