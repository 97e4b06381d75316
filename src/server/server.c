/* Server lifecycle: configuration, start, the sweeper thread, stop. */
#include "engine_glue.h"
#include "routes.h"
#include "server_internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

void tk_server_config_init(tk_server_config *c) {
    memset(c, 0, sizeof *c);
    c->host = "127.0.0.1";
    c->port = 0;
    c->session_timeout_s = 300;
    c->max_body_bytes = (size_t)256 << 20;
    c->max_decompressed_bytes = (size_t)1 << 30;
    c->future_hold_s = 25;
    c->future_ttl_s = 600;
    c->gap_timeout_s = 300;
    c->sweep_interval_s = 1;
    c->max_connections = 4096;
    c->max_request_tokens = 131072;
    c->max_unnamed_samplers = 8;
}

char *tk_server_default_data_dir(void) {
    const char *d = getenv("TINKERC_DATA_DIR");
    if (d && *d) return tk_strdup(d);
    const char *x = getenv("XDG_DATA_HOME");
    if (x && *x == '/') return tk_path_join(x, "tinkerc/server");
    return tk_path_expand_user("~/.local/share/tinkerc/server");
}

static int check_config(const tk_server_config *c, tk_err *e) {
    if (c->port < 0 || c->port > 65535) return tk_err_set(e, TK_EINVAL, "port: %d is not in 0..65535", c->port);
    if (!(c->session_timeout_s > 0)) return tk_err_set(e, TK_EINVAL, "session_timeout_s: must be positive");
    if (c->max_body_bytes == 0) return tk_err_set(e, TK_EINVAL, "max_body_bytes: must be positive");
    if (c->max_decompressed_bytes == 0) return tk_err_set(e, TK_EINVAL, "max_decompressed_bytes: must be positive");
    if (!(c->future_hold_s >= 0) || c->future_hold_s > 3600)
        return tk_err_set(e, TK_EINVAL, "future_hold_s: must be in 0..3600 (the SDK times a poll out after 45 s)");
    if (!(c->future_ttl_s > 0)) return tk_err_set(e, TK_EINVAL, "future_ttl_s: must be positive");
    if (!(c->gap_timeout_s > 0)) return tk_err_set(e, TK_EINVAL, "gap_timeout_s: must be positive");
    if (!(c->sweep_interval_s > 0)) return tk_err_set(e, TK_EINVAL, "sweep_interval_s: must be positive");
    if (c->max_connections < 1) return tk_err_set(e, TK_EINVAL, "max_connections: must be at least 1");
    if (c->max_request_tokens < 1) return tk_err_set(e, TK_EINVAL, "max_request_tokens: must be at least 1");
    if (c->max_unnamed_samplers < 1) return tk_err_set(e, TK_EINVAL, "max_unnamed_samplers: must be at least 1");
    for (size_t i = 0; i < c->n_models; i++)
        if (!c->models[i].name || !*c->models[i].name || !c->models[i].dir)
            return tk_err_set(e, TK_EINVAL, "models[%zu]: needs a name and a directory", i);
    return 0;
}

static void server_free(tk_server *s) {
    tk_server_registry_free(s);
    if (s->hooks.close) s->hooks.close(s->hooks.user);
    tk_server_archives_free(s);
    tk_server_routes_free(s);
    tk_server_futures_free(s->futures);
    tk_server_store_close(s->store);
    tk_server_auth_free(s->auth);
    for (size_t i = 0; i < s->served.len; i++) {
        free(s->served.data[i].name);
        free(s->served.data[i].dir);
    }
    tk_vec_free(&s->served);
    pthread_mutex_destroy(&s->reg_mu);
    pthread_mutex_destroy(&s->q_mu);
    pthread_cond_destroy(&s->q_cv);
    pthread_mutex_destroy(&s->sw_mu);
    pthread_cond_destroy(&s->sw_cv);
    pthread_mutex_destroy(&s->arc_mu);
    free(s->host);
    free(s->data_dir);
    free(s->api_key_file);
    free(s);
}

int tk_server_create(const tk_server_config *cfg, tk_server **out, tk_err *e) {
    *out = NULL;
    int rc = check_config(cfg, e);
    if (rc) return rc;
    tk_server *s = calloc(1, sizeof *s);
    if (!s) return tk_err_set(e, TK_ENOMEM, "out of memory");
    s->cfg = *cfg;
    pthread_mutex_init(&s->reg_mu, NULL);
    pthread_mutex_init(&s->q_mu, NULL);
    pthread_cond_init(&s->q_cv, NULL);
    pthread_mutex_init(&s->sw_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->sw_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&s->arc_mu, NULL);
    s->max_batch = 64;
    s->host = tk_strdup(cfg->host ? cfg->host : "127.0.0.1");
    s->data_dir = cfg->data_dir ? tk_strdup(cfg->data_dir) : tk_server_default_data_dir();
    s->api_key_file = cfg->api_key_file ? tk_strdup(cfg->api_key_file) : NULL;
    s->cfg.host = s->host;
    s->cfg.data_dir = s->data_dir;
    s->cfg.api_key_file = s->api_key_file;
    s->cfg.models = NULL;
    s->cfg.n_models = 0;
    s->sessions = tk_map_new(64);
    s->models = tk_map_new(64);
    s->samplers = tk_map_new(64);
    s->archives = tk_map_new(16);
    s->futures = tk_server_futures_new();
    if (!s->host || !s->data_dir || (cfg->api_key_file && !s->api_key_file) || !s->sessions || !s->models ||
        !s->samplers || !s->archives || !s->futures)
        rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < cfg->n_models; i++) {
        tk_server_served m = {tk_strdup(cfg->models[i].name), tk_strdup(cfg->models[i].dir),
                              cfg->models[i].max_context_length};
        if (!m.name || !m.dir || tk_vec_push(&s->served, m)) {
            free(m.name);
            free(m.dir);
            rc = tk_err_set(e, TK_ENOMEM, "out of memory");
        }
    }
    if (!rc) rc = tk_server_auth_new(s->api_key_file, &s->auth, e);
    if (!rc) rc = tk_server_store_open(s->data_dir, &s->store, e);
    if (rc) {
        server_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void tk_server_set_engine_hooks(tk_server *s, const tk_server_engine_hooks *h) { s->hooks = *h; }

int tk_server_add_core_routes(tk_server *s, tk_err *e) {
    int rc = tk_server_routes_bootstrap(s, e);
    if (!rc) rc = tk_server_routes_sessions(s, e);
    if (!rc) rc = tk_server_routes_futures(s, e);
    if (!rc) rc = tk_server_routes_checkpoints(s, e);
    if (!rc) rc = tk_server_routes_models(s, e);
    return rc;
}

static void *sweeper_main(void *arg) {
    tk_server *s = arg;
    pthread_mutex_lock(&s->sw_mu);
    while (!s->sw_stop) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        double add = s->cfg.sweep_interval_s;
        t.tv_sec += (time_t)add;
        t.tv_nsec += (long)((add - (double)(time_t)add) * 1e9);
        if (t.tv_nsec >= 1000000000L) { t.tv_sec++; t.tv_nsec -= 1000000000L; }
        pthread_cond_timedwait(&s->sw_cv, &s->sw_mu, &t);
        if (s->sw_stop) break;
        pthread_mutex_unlock(&s->sw_mu);
        tk_server_sweep(s);
        pthread_mutex_lock(&s->sw_mu);
    }
    pthread_mutex_unlock(&s->sw_mu);
    return NULL;
}

int tk_server_listen(tk_server *s, tk_err *e) {
    int rc = tk_server_worker_start(s, e);
    if (!rc) {
        rc = tk_thread_start(&s->sweeper, sweeper_main, s, e);
        if (!rc) s->sweeper_started = true;
    }
    if (!rc) rc = tk_server_http_start(s, e);
    if (!rc)
        tk_info("server: listening on %s (data dir %s, %s)", s->url, s->data_dir,
                s->api_key_file ? "keys from --api-key-file" : "any tml- API key");
    return rc;
}

int tk_server_start(const tk_server_config *cfg, tk_server **out, tk_err *e) {
    *out = NULL;
    tk_server *s = NULL;
    int rc = tk_server_create(cfg, &s, e);
    if (rc) return rc;
    rc = tk_server_engine_attach(s, e);
    if (!rc) rc = tk_server_add_core_routes(s, e);
    if (!rc) rc = tk_server_routes_engine(s, e);
    if (!rc) rc = tk_server_listen(s, e);
    if (rc) {
        tk_server_stop(s);
        return rc;
    }
    *out = s;
    return 0;
}

const char *tk_server_url(const tk_server *s) { return s->url; }
int tk_server_port(const tk_server *s) { return s->port; }

void tk_server_stop(tk_server *s) {
    if (!s) return;
    /* long-polls answer try_again now, so the connection threads can finish */
    tk_server_futures_close(s->futures);
    tk_server_http_stop(s);
    pthread_mutex_lock(&s->sw_mu);
    s->sw_stop = true;
    pthread_cond_broadcast(&s->sw_cv);
    pthread_mutex_unlock(&s->sw_mu);
    if (s->sweeper_started) tk_thread_join(&s->sweeper);
    tk_server_worker_stop(s);
    server_free(s);
}
