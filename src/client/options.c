/* Configuration: defaults, the environment variables of reference/tinker-protocol.md §1.1, the
 * API-key check, TINKER_CREDENTIAL_CMD and the local-backend hook. */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef TINKERC_VERSION
#define TINKERC_VERSION "0"
#endif

extern char **environ;

void tk_client_options_init(tk_client_options *o) {
    memset(o, 0, sizeof *o);
    o->connect_timeout_s = 5;
    o->request_timeout_s = 60;
    o->poll_timeout_s = 45;
    o->max_retries = 10;
    o->exec_retry_budget_s = 300;
    o->billing_max_pause_s = 3600;
    o->heartbeat_interval_s = 10;
    o->heartbeat_timeout_s = 10;
    o->heartbeat_warn_s = 120;
    o->close_timeout_s = 5;
    o->max_response_bytes = (size_t)1 << 30;
    o->retry_time_scale = 1.0;
}

/* ---- local backend registry ----------------------------------------------------------------- */

static pthread_mutex_t g_backend_lock = PTHREAD_MUTEX_INITIALIZER;
static tk_client_local_backend g_backend;

void tk_client_set_local_backend(const tk_client_local_backend *backend) {
    pthread_mutex_lock(&g_backend_lock);
    if (backend) g_backend = *backend;
    else memset(&g_backend, 0, sizeof g_backend);
    pthread_mutex_unlock(&g_backend_lock);
}

/* ---- helpers -------------------------------------------------------------------------------- */

static const char *env_nonempty(const char *name) {
    const char *v = getenv(name);
    return (v && *v) ? v : NULL;
}

static char *trim_dup(const char *s, size_t n) {
    while (n && isspace((unsigned char)*s)) { s++; n--; }
    while (n && isspace((unsigned char)s[n - 1])) n--;
    return tk_strndup(s, n);
}

static int split_tags(const char *s, tk_client_cfg *cfg) {
    while (s && *s) {
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);
        char *t = trim_dup(s, n);
        if (!t) return TK_ENOMEM;
        if (*t) {
            char **nt = tk_realloc_array(cfg->tags, cfg->n_tags + 1, sizeof *nt);
            if (!nt) { free(t); return TK_ENOMEM; }
            cfg->tags = nt;
            cfg->tags[cfg->n_tags++] = t;
        } else {
            free(t);
        }
        s = comma ? comma + 1 : NULL;
    }
    return 0;
}

/* Host part of an http(s) URL, for the loopback rule. */
static bool url_is_loopback(const char *url) {
    CURLU *u = curl_url();
    if (!u) return false;
    bool loop = false;
    char *host = NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        loop = !strcasecmp(host, "localhost") || !strcmp(host, "[::1]") ||
               !strncmp(host, "127.", 4);
    }
    curl_free(host);
    curl_url_cleanup(u);
    return loop;
}

static int check_base_url(const char *url, tk_err *e) {
    if (strncasecmp(url, "http://", 7) && strncasecmp(url, "https://", 8))
        return tk_err_set(e, TK_EINVAL, "base URL \"%.200s\": must start with http:// or https://",
                          url);
    CURLU *u = curl_url();
    if (!u) return tk_err_set(e, TK_ENOMEM, "base URL: out of memory");
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
    curl_url_cleanup(u);
    if (uc != CURLUE_OK)
        return tk_err_set(e, TK_EINVAL, "base URL \"%.200s\": %s", url, curl_url_strerror(uc));
    return 0;
}

static int check_api_key(const char *key, const char *source, tk_err *e) {
    if (strncmp(key, "tml-", 4) && strncmp(key, "eyJ", 3))
        return tk_err_set(e, TK_EINVAL,
                          "%s: an API key must start with \"tml-\" (or be a JWT starting with "
                          "\"eyJ\")", source);
    for (const char *p = key; *p; p++)
        if ((unsigned char)*p < 0x21 || *p == 0x7f)
            return tk_err_set(e, TK_EINVAL, "%s: the API key contains a blank or control "
                              "character", source);
    return 0;
}

/* Run $TINKER_CREDENTIAL_CMD through /bin/sh and return the first line it prints. */
static int run_credential_cmd(const char *cmd, double limit_s, char **out, tk_err *e) {
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC))
        return tk_err_set(e, TK_EIO, "TINKER_CREDENTIAL_CMD: pipe: %s", strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    char *argv[] = {"sh", "-c", (char *)cmd, NULL};
    pid_t pid;
    int src = posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pfd[1]);
    if (src) {
        close(pfd[0]);
        return tk_err_set(e, TK_EIO, "TINKER_CREDENTIAL_CMD: cannot run /bin/sh: %s",
                          strerror(src));
    }
    tk_buf b = {0};
    int rc = 0;
    int64_t deadline = tk_now_ms() + (int64_t)(limit_s * 1000);
    for (;;) {
        int64_t left = deadline - tk_now_ms();
        if (left <= 0) {
            rc = tk_err_set(e, TK_ETIMEOUT, "TINKER_CREDENTIAL_CMD: no answer within %.0f s",
                            limit_s);
            break;
        }
        struct pollfd p = {pfd[0], POLLIN, 0};
        int pr = poll(&p, 1, (int)(left > 1000 ? 1000 : left));
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) continue;
        char chunk[4096];
        ssize_t r = read(pfd[0], chunk, sizeof chunk);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        if (b.len + (size_t)r > 65536) {
            rc = tk_err_set(e, TK_EINVAL, "TINKER_CREDENTIAL_CMD: output longer than 64 KiB");
            break;
        }
        if (tk_buf_append(&b, chunk, (size_t)r)) {
            rc = tk_err_set(e, TK_ENOMEM, "TINKER_CREDENTIAL_CMD: out of memory");
            break;
        }
    }
    close(pfd[0]);
    if (rc) kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (!rc && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        rc = tk_err_set(e, TK_EIO, "TINKER_CREDENTIAL_CMD: the command failed (%s %d)",
                        WIFEXITED(status) ? "exit status" : "signal",
                        WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    if (!rc) {
        const char *s = b.data ? b.data : "";
        size_t n = strcspn(s, "\r\n");
        *out = trim_dup(s, n);
        if (!*out) rc = tk_err_set(e, TK_ENOMEM, "TINKER_CREDENTIAL_CMD: out of memory");
        else if (!**out) {
            free(*out);
            *out = NULL;
            rc = tk_err_set(e, TK_EINVAL, "TINKER_CREDENTIAL_CMD: the command printed nothing");
        }
    }
    tk_buf_free(&b);
    return rc;
}

static int check_option(double v, double lo, const char *name, tk_err *e) {
    if (!(v >= lo) || v > 1e9)
        return tk_err_set(e, TK_EINVAL, "tk_client_options.%s = %g: out of range", name, v);
    return 0;
}

static int copy_str(char **dst, const char *src) {
    if (!src) return 0;
    *dst = tk_strdup(src);
    return *dst ? 0 : TK_ENOMEM;
}

/* ---- resolution ----------------------------------------------------------------------------- */

int tk_client_cfg_resolve(const tk_client_options *o, tk_client_cfg *cfg,
                          tk_client_local_backend *backend, void **backend_handle, tk_err *e) {
    memset(cfg, 0, sizeof *cfg);
    *backend_handle = NULL;
    memset(backend, 0, sizeof *backend);
    int rc;
    if ((rc = check_option(o->connect_timeout_s, 0.001, "connect_timeout_s", e)) ||
        (rc = check_option(o->request_timeout_s, 0.001, "request_timeout_s", e)) ||
        (rc = check_option(o->poll_timeout_s, 0.001, "poll_timeout_s", e)) ||
        (rc = check_option(o->exec_retry_budget_s, 0, "exec_retry_budget_s", e)) ||
        (rc = check_option(o->billing_max_pause_s, 0, "billing_max_pause_s", e)) ||
        (rc = check_option(o->heartbeat_interval_s, 0.001, "heartbeat_interval_s", e)) ||
        (rc = check_option(o->heartbeat_timeout_s, 0.001, "heartbeat_timeout_s", e)) ||
        (rc = check_option(o->heartbeat_warn_s, 0, "heartbeat_warn_s", e)) ||
        (rc = check_option(o->close_timeout_s, 0, "close_timeout_s", e)) ||
        (rc = check_option(o->retry_time_scale, 0, "retry_time_scale", e)))
        return rc;
    if (o->max_retries < 0 || o->max_retries > 1000)
        return tk_err_set(e, TK_EINVAL, "tk_client_options.max_retries = %d: out of range",
                          o->max_retries);
    if (o->max_response_bytes == 0)
        return tk_err_set(e, TK_EINVAL, "tk_client_options.max_response_bytes: must be > 0");
    cfg->connect_timeout_s = o->connect_timeout_s;
    cfg->request_timeout_s = o->request_timeout_s;
    cfg->poll_timeout_s = o->poll_timeout_s;
    cfg->exec_retry_budget_s = o->exec_retry_budget_s;
    cfg->billing_max_pause_s = o->billing_max_pause_s;
    cfg->heartbeat_interval_s = o->heartbeat_interval_s;
    cfg->heartbeat_timeout_s = o->heartbeat_timeout_s;
    cfg->heartbeat_warn_s = o->heartbeat_warn_s;
    cfg->close_timeout_s = o->close_timeout_s;
    cfg->retry_time_scale = o->retry_time_scale;
    cfg->max_retries = o->max_retries;
    cfg->max_response_bytes = o->max_response_bytes;
    cfg->seed = o->seed;

    const char *base = o->base_url ? o->base_url : env_nonempty("TINKER_BASE_URL");
    const char *key = o->api_key ? o->api_key : env_nonempty("TINKER_API_KEY");
    const char *key_source = o->api_key ? "api_key option" : "TINKER_API_KEY";
    char *cred = NULL;
    if (!key && !(base && !strcasecmp(base, "local"))) {
        const char *cmd = env_nonempty("TINKER_CREDENTIAL_CMD");
        if (cmd) {
            if ((rc = run_credential_cmd(cmd, 30.0, &cred, e))) goto fail;
            key = cred;
            key_source = "TINKER_CREDENTIAL_CMD";
        }
    }

    bool local = (base && !strcasecmp(base, "local")) || (!base && !key);
    if (local) {
        pthread_mutex_lock(&g_backend_lock);
        *backend = g_backend;
        pthread_mutex_unlock(&g_backend_lock);
        if (!backend->start) {
            rc = tk_err_set(e, TK_EUNSUPPORTED,
                            "no Tinker service configured (TINKER_API_KEY and TINKER_BASE_URL are "
                            "unset%s) and no local backend is linked into this program: set "
                            "TINKER_API_KEY, or TINKER_BASE_URL=http://host:port, or link "
                            "libtinkerc_local", base ? "; base_url=local" : "");
            goto fail;
        }
        char *url = NULL;
        tk_err be = {0};
        if ((rc = backend->start(backend->user, &url, backend_handle, &be))) {
            tk_err_set(e, rc, "starting the local backend: %s", be.msg);
            goto fail;
        }
        cfg->local = true;
        cfg->base_url = url;
        if (!url || (rc = check_base_url(url, e))) {
            if (!url) rc = tk_err_set(e, TK_EINTERNAL, "the local backend returned no URL");
            goto fail;
        }
        if ((rc = copy_str(&cfg->api_key, key ? key : "tml-local"))) goto oom;
    } else {
        if (!base) base = TK_CLIENT_DEFAULT_BASE_URL;
        if ((rc = check_base_url(base, e))) goto fail;
        if ((rc = copy_str(&cfg->base_url, base))) goto oom;
        if (key) {
            if ((rc = copy_str(&cfg->api_key, key))) goto oom;
        } else if (url_is_loopback(base)) {
            if ((rc = copy_str(&cfg->api_key, "tml-dummy"))) goto oom;
        } else {
            rc = tk_err_set(e, TK_EINVAL, "TINKER_API_KEY is not set (needed for %.200s)", base);
            goto fail;
        }
    }
    if (key && (rc = check_api_key(cfg->api_key, key_source, e))) goto fail;
    /* no trailing '/': paths start with one */
    size_t bl = strlen(cfg->base_url);
    while (bl > 0 && cfg->base_url[bl - 1] == '/') cfg->base_url[--bl] = 0;

    const char *project = o->project_id ? o->project_id : env_nonempty("TINKER_PROJECT_ID");
    if ((rc = copy_str(&cfg->project_id, project))) goto oom;
    if ((rc = split_tags(o->tags ? o->tags : getenv("TINKER_TAGS"), cfg))) goto oom;
    if ((rc = copy_str(&cfg->cf_id, env_nonempty("CLOUDFLARE_ACCESS_CLIENT_ID"))) ||
        (rc = copy_str(&cfg->cf_secret, env_nonempty("CLOUDFLARE_ACCESS_CLIENT_SECRET"))) ||
        (rc = copy_str(&cfg->ca_file, o->ca_file)))
        goto oom;
    const struct { const char *name, *value; } hv[] = {
        {"CLOUDFLARE_ACCESS_CLIENT_ID", cfg->cf_id},
        {"CLOUDFLARE_ACCESS_CLIENT_SECRET", cfg->cf_secret},
        {"tk_client_options.user_agent_suffix", o->user_agent_suffix},
    };
    for (size_t i = 0; i < sizeof hv / sizeof *hv; i++) {   /* they become header values */
        for (const char *p = hv[i].value; p && *p; p++) {
            if ((unsigned char)*p < 0x20 || *p == 0x7f) {
                rc = tk_err_set(e, TK_EINVAL, "%s: contains a control character", hv[i].name);
                goto fail;
            }
        }
    }
    tk_buf ua = {0};
    if (tk_buf_printf(&ua, "tinkerc/%s (C; Linux)%s%s", TINKERC_VERSION,
                      o->user_agent_suffix ? " " : "",
                      o->user_agent_suffix ? o->user_agent_suffix : "")) {
        tk_buf_free(&ua);
        rc = TK_ENOMEM;
        goto oom;
    }
    cfg->user_agent = ua.data;
    free(cred);
    return 0;
oom:
    rc = tk_err_set(e, TK_ENOMEM, "client configuration: out of memory");
fail:
    free(cred);
    if (*backend_handle && backend->stop) backend->stop(backend->user, *backend_handle);
    *backend_handle = NULL;
    tk_client_cfg_free(cfg);
    return rc;
}

void tk_client_cfg_free(tk_client_cfg *cfg) {
    free(cfg->base_url);
    free(cfg->api_key);
    free(cfg->project_id);
    free(cfg->user_agent);
    free(cfg->ca_file);
    for (size_t i = 0; i < cfg->n_tags; i++) free(cfg->tags[i]);
    free(cfg->tags);
    free(cfg->cf_id);
    free(cfg->cf_secret);
    memset(cfg, 0, sizeof *cfg);
}
