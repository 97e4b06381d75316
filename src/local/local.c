/* Local mode: tk_server_start on an ephemeral loopback port, registered as the client's local
 * backend hook (tinkerc/local.h). */
#include "tinkerc/local.h"

#include <string.h>

#include "tinkerc/client.h"

/* The registered options, copied: every backend start reads them under g_lock. */
typedef struct local_cfg {
    char *data_dir;
    tk_server_model_spec *models;
    size_t n_models;
    double session_timeout_s;
} local_cfg;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static local_cfg g_cfg;

static void cfg_free(local_cfg *c) {
    free(c->data_dir);
    for (size_t i = 0; i < c->n_models; i++) {
        free((char *)c->models[i].name);
        free((char *)c->models[i].dir);
    }
    free(c->models);
    memset(c, 0, sizeof *c);
}

static int start(void *user, char **base_url_out, void **handle_out, tk_err *e) {
    (void)user;
    tk_server_config sc;
    tk_server_config_init(&sc);
    sc.host = "127.0.0.1";
    sc.port = 0;
    pthread_mutex_lock(&g_lock);
    sc.data_dir = g_cfg.data_dir;
    sc.models = g_cfg.models;
    sc.n_models = g_cfg.n_models;
    if (g_cfg.session_timeout_s > 0) sc.session_timeout_s = g_cfg.session_timeout_s;
    tk_server *s = NULL;
    int rc = tk_server_start(&sc, &s, e);   /* copies what it keeps */
    pthread_mutex_unlock(&g_lock);
    if (rc) return rc;
    *base_url_out = tk_strdup(tk_server_url(s));
    if (!*base_url_out) {
        tk_server_stop(s);
        return tk_err_set(e, TK_ENOMEM, "local backend: out of memory");
    }
    *handle_out = s;
    tk_info("local mode: the embedded Tinker server is at %s", *base_url_out);
    return 0;
}

static void stop(void *user, void *handle) {
    (void)user;
    tk_server_stop(handle);
}

int tk_local_register(const tk_local_options *opts, tk_err *e) {
    local_cfg c = {0};
    bool oom = false;
    if (opts) {
        if (opts->data_dir && !(c.data_dir = tk_strdup(opts->data_dir))) oom = true;
        if (!oom && opts->n_models) {
            c.models = tk_calloc_array(opts->n_models, sizeof *c.models);
            oom = !c.models;
            for (size_t i = 0; !oom && i < opts->n_models; i++) {
                c.models[i] = opts->models[i];
                c.models[i].name = tk_strdup(opts->models[i].name ? opts->models[i].name : "");
                c.models[i].dir = tk_strdup(opts->models[i].dir ? opts->models[i].dir : "");
                c.n_models = i + 1;
                oom = !c.models[i].name || !c.models[i].dir;
            }
        }
        c.session_timeout_s = opts->session_timeout_s;
    }
    if (oom) {
        cfg_free(&c);
        return tk_err_set(e, TK_ENOMEM, "tk_local_register: out of memory");
    }
    pthread_mutex_lock(&g_lock);
    cfg_free(&g_cfg);
    g_cfg = c;
    pthread_mutex_unlock(&g_lock);
    tk_client_local_backend b = {.start = start, .stop = stop, .user = NULL};
    tk_client_set_local_backend(&b);
    return 0;
}

void tk_local_unregister(void) {
    tk_client_set_local_backend(NULL);
    pthread_mutex_lock(&g_lock);
    cfg_free(&g_cfg);
    pthread_mutex_unlock(&g_lock);
}
