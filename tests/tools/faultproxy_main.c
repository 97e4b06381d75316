/* faultproxy: run the fault-injecting proxy of faultproxy.h as a program.
 *
 *   faultproxy --target 127.0.0.1:8000 [--listen PORT] [--seed N] [--rate R]
 *              [--drop-request P] [--drop-response P] [--status P] [--truncate P] [--reset P]
 *              [--delay P] [--max-delay-ms MS]
 *
 * --rate R spreads R over the five failure kinds (and adds delays with probability R/2); the
 * per-kind options then override single kinds. Prints "listening on 127.0.0.1:PORT", runs until
 * SIGINT or SIGTERM, then prints what it injected as one JSON line. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "faultproxy.h"

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { (void)sig; g_stop = 1; }

static int usage(void) {
    fprintf(stderr, "usage: faultproxy --target HOST:PORT [--listen PORT] [--seed N] [--rate R]\n"
                    "       [--drop-request P] [--drop-response P] [--status P] [--truncate P]\n"
                    "       [--reset P] [--delay P] [--max-delay-ms MS]\n");
    return 2;
}

int main(int argc, char **argv) {
    static char host[64];
    int port = 0;
    tk_faultproxy_config cfg;
    tk_faultproxy_config_uniform(&cfg, host, 0, 0.0, 1);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return usage();
        i++;
        if (!strcmp(a, "--target")) {
            const char *colon = strrchr(v, ':');
            if (!colon || (size_t)(colon - v) >= sizeof host) return usage();
            memcpy(host, v, (size_t)(colon - v));
            host[colon - v] = 0;
            port = atoi(colon + 1);
        } else if (!strcmp(a, "--listen")) cfg.listen_port = atoi(v);
        else if (!strcmp(a, "--seed")) cfg.seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--rate")) {
            int lp = cfg.listen_port;
            uint64_t seed = cfg.seed;
            tk_faultproxy_config_uniform(&cfg, host, 0, atof(v), seed);
            cfg.listen_port = lp;
        } else if (!strcmp(a, "--drop-request")) cfg.p_drop_request = atof(v);
        else if (!strcmp(a, "--drop-response")) cfg.p_drop_response = atof(v);
        else if (!strcmp(a, "--status")) cfg.p_status = atof(v);
        else if (!strcmp(a, "--truncate")) cfg.p_truncate = atof(v);
        else if (!strcmp(a, "--reset")) cfg.p_reset = atof(v);
        else if (!strcmp(a, "--delay")) cfg.p_delay = atof(v);
        else if (!strcmp(a, "--max-delay-ms")) cfg.max_delay_ms = atoi(v);
        else return usage();
    }
    if (!port) return usage();
    cfg.target_host = host;
    cfg.target_port = port;
    tk_err e = {0};
    tk_faultproxy *p;
    if (tk_faultproxy_start(&cfg, &p, &e)) {
        fprintf(stderr, "faultproxy: %s\n", e.msg);
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    printf("listening on 127.0.0.1:%d, forwarding to %s:%d\n", tk_faultproxy_port(p), host, port);
    fflush(stdout);
    while (!g_stop) tk_sleep_ms(100);
    tk_faultproxy_stats s = tk_faultproxy_get_stats(p);
    tk_faultproxy_stop(p);
    printf("{\"connections\":%lld,\"requests\":%lld,\"forwarded\":%lld,\"answered\":%lld,"
           "\"drop_request\":%lld,\"drop_response\":%lld,\"truncate\":%lld,\"reset\":%lld,"
           "\"delay\":%lld,\"status_500\":%lld,\"status_503\":%lld,\"status_429\":%lld,"
           "\"status_408\":%lld,\"upstream_errors\":%lld}\n",
           (long long)s.connections, (long long)s.requests, (long long)s.forwarded,
           (long long)s.answered, (long long)s.drop_request, (long long)s.drop_response,
           (long long)s.truncate, (long long)s.reset, (long long)s.delay,
           (long long)s.status_500, (long long)s.status_503, (long long)s.status_429,
           (long long)s.status_408, (long long)s.upstream_errors);
    return 0;
}
