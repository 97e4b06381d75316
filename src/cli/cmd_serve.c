/* tinkerc serve: the Tinker API on loopback (docs/server.md). Argument parsing only; the server
 * is include/tinkerc/server.h. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "tinkerc/server.h"

int tk_cmd_serve(int argc, char **argv);

static void usage(FILE *out) {
    fprintf(out,
            "usage: tinkerc serve [options]\n"
            "\n"
            "Serve the Tinker training API on this machine for any Tinker client\n"
            "(TINKER_BASE_URL=http://127.0.0.1:8000 TINKER_API_KEY=tml-local).\n"
            "\n"
            "options:\n"
            "  --host ADDR               address to bind (default 127.0.0.1; 0.0.0.0 exposes it)\n"
            "  --port N                  TCP port (default 8000; 0 picks a free one)\n"
            "  --data-dir DIR            checkpoint store (default $TINKERC_DATA_DIR, else\n"
            "                            $XDG_DATA_HOME/tinkerc/server, else ~/.local/share/tinkerc/server)\n"
            "  --api-key-file FILE       accept only the keys listed in FILE (one per line);\n"
            "                            without it any key starting with tml- is accepted\n"
            "  --session-timeout SECS    unload a session's models after SECS without a heartbeat\n"
            "                            (default 300)\n"
            "  --max-body-bytes N        largest request body (default 256M; K/M/G suffixes)\n"
            "  --max-decompressed-bytes N  largest body after zstd decompression (default 1G)\n"
            "  --max-request-tokens N    most tokens one forward_backward (all datums) or asample\n"
            "                            (prompt + num_samples * max_tokens) may ask for (default 128K)\n"
            "  --result-ttl SECS         keep a finished request's result this long (default 600)\n"
            "  --max-unnamed-samplers N  sampling sessions kept per model from unnamed\n"
            "                            save_weights_for_sampler (default 8; older ones are closed)\n"
            "  --model NAME=DIR          serve the Hugging Face model in DIR as base model NAME\n"
            "                            (repeatable)\n"
            "\n"
            "Stop with Ctrl-C (SIGINT) or SIGTERM; checkpoints stay in the data dir.\n");
}

/* "123", "64K", "256M", "1G" (binary multiples). */
static int parse_size(const char *s, size_t *out) {
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || s[0] == '-') return -1;
    unsigned shift = 0;
    if (*end == 'K' || *end == 'k') shift = 10, end++;
    else if (*end == 'M' || *end == 'm') shift = 20, end++;
    else if (*end == 'G' || *end == 'g') shift = 30, end++;
    if (*end || v == 0 || v > (~0ull >> shift)) return -1;
    *out = (size_t)(v << shift);
    return 0;
}

static int parse_num(const char *s, double lo, double hi, double *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) return -1;
    *out = v;
    return 0;
}

int tk_cmd_serve(int argc, char **argv) {
    tk_server_config cfg;
    tk_server_config_init(&cfg);
    cfg.port = 8000;
    TK_VEC(tk_server_model_spec) models = {0};
    int status = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            status = 0;
            goto out;
        }
        if (strncmp(a, "--", 2)) {
            fprintf(stderr, "tinkerc serve: unexpected argument \"%s\"\n", a);
            goto bad;
        }
        /* --name=value or --name value */
        char name[64];
        const char *val = strchr(a, '=');
        size_t nl = val ? (size_t)(val - a) : strlen(a);
        if (nl >= sizeof name) nl = sizeof name - 1;
        memcpy(name, a, nl);
        name[nl] = '\0';
        if (val) val++;
        else if (i + 1 < argc) val = argv[++i];
        else {
            fprintf(stderr, "tinkerc serve: %s needs a value\n", name);
            goto bad;
        }
        double d;
        if (!strcmp(name, "--host")) cfg.host = val;
        else if (!strcmp(name, "--port")) {
            if (parse_num(val, 0, 65535, &d) || d != (int)d) {
                fprintf(stderr, "tinkerc serve: --port %s: expected an integer in 0..65535\n", val);
                goto bad;
            }
            cfg.port = (int)d;
        } else if (!strcmp(name, "--data-dir")) cfg.data_dir = val;
        else if (!strcmp(name, "--api-key-file")) cfg.api_key_file = val;
        else if (!strcmp(name, "--session-timeout")) {
            if (parse_num(val, 1e-3, 1e9, &cfg.session_timeout_s)) {
                fprintf(stderr, "tinkerc serve: --session-timeout %s: expected a positive number of seconds\n", val);
                goto bad;
            }
        } else if (!strcmp(name, "--max-body-bytes") || !strcmp(name, "--max-decompressed-bytes")) {
            size_t *dst = name[6] == 'b' ? &cfg.max_body_bytes : &cfg.max_decompressed_bytes;
            if (parse_size(val, dst)) {
                fprintf(stderr, "tinkerc serve: %s %s: expected a positive size like 1048576, 64M or 1G\n", name, val);
                goto bad;
            }
        } else if (!strcmp(name, "--result-ttl")) {
            if (parse_num(val, 1, 1e9, &cfg.future_ttl_s)) {
                fprintf(stderr, "tinkerc serve: --result-ttl %s: expected a number of seconds >= 1\n", val);
                goto bad;
            }
        } else if (!strcmp(name, "--max-unnamed-samplers")) {
            if (parse_num(val, 1, 1e6, &d) || d != (int)d) {
                fprintf(stderr, "tinkerc serve: --max-unnamed-samplers %s: expected a positive integer\n", val);
                goto bad;
            }
            cfg.max_unnamed_samplers = (int)d;
        } else if (!strcmp(name, "--max-request-tokens")) {
            if (parse_size(val, &cfg.max_request_tokens)) {
                fprintf(stderr, "tinkerc serve: --max-request-tokens %s: expected a positive count like 65536 or 128K\n",
                        val);
                goto bad;
            }
        } else if (!strcmp(name, "--model")) {
            const char *eq = strchr(val, '=');
            if (!eq || eq == val || !eq[1]) {
                fprintf(stderr, "tinkerc serve: --model %s: expected NAME=DIR\n", val);
                goto bad;
            }
            tk_server_model_spec m = {.name = tk_strndup(val, (size_t)(eq - val)), .dir = eq + 1};
            if (!m.name || tk_vec_push(&models, m)) {
                free((char *)m.name);
                fprintf(stderr, "tinkerc serve: out of memory\n");
                status = 1;
                goto out;
            }
            if (!tk_path_is_dir(m.dir)) {
                fprintf(stderr, "tinkerc serve: --model %s: %s is not a directory\n", val, m.dir);
                goto bad;
            }
        } else {
            fprintf(stderr, "tinkerc serve: unknown option %s\n", name);
            goto bad;
        }
    }
    cfg.models = models.data;
    cfg.n_models = models.len;

    /* Block the stop signals before any server thread exists, so every thread inherits the mask
     * and the signals are taken only by the sigwait below. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    tk_err e = {0};
    tk_server *s = NULL;
    if (tk_server_start(&cfg, &s, &e)) {
        fprintf(stderr, "tinkerc serve: %s\n", e.msg);
        status = 1;
        goto out;
    }
    printf("tinkerc serve: listening on %s\n", tk_server_url(s));
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "tinkerc serve: %s, stopping\n", sig == SIGINT ? "interrupted" : "terminated");
    tk_server_stop(s);
    status = 0;
    goto out;
bad:
    fprintf(stderr, "Run 'tinkerc serve --help' for the options.\n");
out:
    for (size_t i = 0; i < models.len; i++) free((char *)models.data[i].name);
    tk_vec_free(&models);
    return status;
}
