/*
 * faultproxy — a fault-injecting HTTP/1.1 proxy on 127.0.0.1 for reliability tests.
 *
 * It accepts connections on an ephemeral loopback port and forwards each request to one target
 * (host:port), one upstream connection per client connection, keep-alive on both sides. It reads
 * whole requests and whole answers (Content-Length, chunked, or until close), so it can decide a
 * fault per REQUEST, drawn from a seeded generator in the order requests arrive:
 *
 *   drop_request   close the client connection without forwarding: the server never sees it
 *   drop_response  forward, read the whole answer, close without sending it: the server applied
 *                  the request but the client cannot know (the case idempotency exists for)
 *   status         answer 500, 503, 429 or 408 itself (uniformly), keep the connection
 *   truncate       forward, send the answer cut at a random byte, then close (FIN)
 *   reset          forward, send part of the answer, then reset the connection (RST)
 *   delay          forward after a pause of up to max_delay_ms; not a failure
 *
 * With one client connection the sequence of faults is reproducible for a seed; with several,
 * the order in which requests reach the proxy decides which draw each one gets.
 *
 * Thread safety: start/stop from one thread; tk_faultproxy_get_stats from any thread.
 */
#ifndef TK_TEST_FAULTPROXY_H
#define TK_TEST_FAULTPROXY_H

#include "tinkerc/base.h"

typedef struct tk_faultproxy tk_faultproxy;

typedef struct tk_faultproxy_config {
    const char *target_host;   /* numeric IPv4, e.g. "127.0.0.1" */
    int target_port;
    int listen_port;           /* 0: ephemeral */
    uint64_t seed;
    /* probabilities per request; the five failures and the delay are drawn from one uniform
     * number, so p_drop_request + … + p_delay must be <= 1 */
    double p_drop_request, p_drop_response, p_status, p_truncate, p_reset, p_delay;
    int max_delay_ms;
} tk_faultproxy_config;

/* Zero everything, then spread `rate` evenly over the five failure kinds and add a delay of up
 * to 50 ms with probability rate/2. */
void tk_faultproxy_config_uniform(tk_faultproxy_config *c, const char *host, int port,
                                  double rate, uint64_t seed);

typedef struct tk_faultproxy_stats {
    int64_t connections;       /* client connections accepted */
    int64_t requests;          /* complete requests read from clients */
    int64_t forwarded;         /* requests sent to the target */
    int64_t answered;          /* answers relayed intact */
    int64_t drop_request, drop_response, truncate, reset, delay;
    int64_t status_500, status_503, status_429, status_408;
    int64_t upstream_errors;   /* the target refused or broke a connection (answered 502) */
} tk_faultproxy_stats;

/* Faults injected in total (every kind except delay). */
int64_t tk_faultproxy_faults(const tk_faultproxy_stats *s);

int tk_faultproxy_start(const tk_faultproxy_config *cfg, tk_faultproxy **out, tk_err *e);
int tk_faultproxy_port(const tk_faultproxy *p);
tk_faultproxy_stats tk_faultproxy_get_stats(tk_faultproxy *p);
/* Close the listener and every connection, join the threads, free p. p may be NULL. */
void tk_faultproxy_stop(tk_faultproxy *p);

#endif
