/* Retry formulas (see retry_policy.h for the rules and where they come from). */
#include "retry_policy.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <curl/curl.h>

bool tk_client_status_retryable(long status) {
    return status == 408 || status == 409 || status == 429 || status >= 500;
}

int tk_client_should_retry_header(const char *value) {
    if (!value) return -1;
    if (!strcasecmp(value, "true")) return 1;
    if (!strcasecmp(value, "false")) return 0;
    return -1;
}

/* A whole-string decimal number (no sign games, no trailing junk), or NAN. */
static double parse_number(const char *s) {
    while (isspace((unsigned char)*s)) s++;
    if (!*s || !(isdigit((unsigned char)*s) || *s == '.')) return NAN;
    char *end;
    double v = strtod(s, &end);
    while (isspace((unsigned char)*end)) end++;
    return *end ? NAN : v;
}

static double in_window(double s) { return (s > 0.0 && s <= 60.0) ? s : -1.0; }

double tk_client_retry_after_s(const char *retry_after_ms, const char *retry_after,
                               double now_wall) {
    if (retry_after_ms) {
        double ms = parse_number(retry_after_ms);
        if (!isnan(ms)) return in_window(ms / 1000.0);
    }
    if (retry_after) {
        double s = parse_number(retry_after);
        if (!isnan(s)) return in_window(s);
        time_t when = curl_getdate(retry_after, NULL);   /* RFC 1123 and friends */
        if (when != (time_t)-1) return in_window((double)when - now_wall);
    }
    return -1.0;
}

static double capped_pow2(double base, int k, double cap) {
    if (k < 0) k = 0;
    if (k > 30) return cap;
    double v = base * (double)(1u << k);
    return v < cap ? v : cap;
}

double tk_client_request_backoff_s(int k, double u) {
    return capped_pow2(0.5, k, 10.0) * (1.0 - 0.25 * u);
}

double tk_client_exec_backoff_s(int k) { return capped_pow2(1.0, k, 30.0); }

double tk_client_poll_error_backoff_s(int n) { return capped_pow2(1.0, n, 30.0); }

double tk_client_fast_poll_backoff_s(int j) { return capped_pow2(0.05, j, 2.0); }

double tk_client_backpressure_delay_s(size_t body_len) {
    return body_len <= 128u * 1024u ? 1.0 : 5.0;
}

double tk_client_resubmit_backoff_s(int k, double u) {
    return capped_pow2(0.5, k, 10.0) * (1.0 + 0.25 * (2.0 * u - 1.0));
}
