/* Training runs and checkpoints REST (protocol §3.8) over the checkpoint store, weights_info, and
 * checkpoint archives. A checkpoint id in a path is two segments, "weights/<name>" or
 * "sampler_weights/<name>"; routes take them as {kind}/{name}.
 *
 * Archives: GET …/archive answers 302 with the URL of a one-time-issued download token (and the
 * same URL as JSON in the body), like the hosted service's signed URL. GET
 * /api/v1/checkpoint_archives/<token> streams the .tar.gz; the token is the credential (so a plain
 * download tool works without the API key) and expires after ARCHIVE_TTL_S. */
#include "server_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define ARCHIVE_TTL_S 900.0

typedef struct archive_tok {
    char run[TK_SERVER_ID_MAX];
    tk_server_ckpt_kind kind;
    char name[TK_SERVER_NAME_MAX];
    double expires; /* tk_now_s */
} archive_tok;

/* Validate {run}/{kind}/{name} params and that the caller's key may read (or, with write, change)
 * the checkpoint; answers 400 / 404 / 403 and returns -1 when not. */
static int ckpt_params(tk_server *s, const tk_server_req *req, tk_server_resp *resp, tk_server_ckpt_kind *kind,
                       bool write) {
    tk_err e = {0};
    int rc = tk_server_name_check("training run id", req->params[0], true, &e);
    if (!rc) rc = tk_server_ckpt_kind_parse(req->params[1], kind, &e);
    if (!rc) rc = tk_server_name_check("checkpoint name", req->params[2], false, &e);
    if (rc) {
        tk_server_resp_error(resp, 400, "%s %s: %s", req->method, req->path, e.msg);
        return -1;
    }
    char owner[24], route[64];
    bool forbidden = false;
    tk_server_auth_fingerprint(req->api_key, owner);
    rc = tk_server_store_check(s->store, req->params[0], *kind, req->params[2], owner, write, &forbidden, &e);
    if (rc) {
        snprintf(route, sizeof route, "%s", req->method);
        tk_server_resp_error(resp, forbidden ? 403 : tk_server_http_status(rc), "%s %s: %s", route, req->path, e.msg);
        return -1;
    }
    return 0;
}

static void h_runs(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)user;
    int64_t off, lim;
    char owner[24];
    tk_server_access acc;
    if (tk_server_req_page(req, resp, 20, 1000, &off, &lim) || tk_server_req_access(req, resp, owner, &acc)) return;
    tk_err e = {0};
    json_t *out = NULL;
    if (tk_server_store_list_runs(s->store, &acc, off, lim, &out, &e)) tk_server_resp_err(resp, &e);
    else tk_server_resp_json(resp, 200, out);
}

static void h_run(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)user;
    char owner[24];
    tk_server_access acc;
    if (tk_server_req_access(req, resp, owner, &acc)) return;
    tk_err e = {0};
    json_t *out = NULL;
    if (tk_server_store_run_json(s->store, req->params[0], &acc, &out, &e)) tk_server_resp_err(resp, &e);
    else tk_server_resp_json(resp, 200, out);
}

static void h_run_ckpts(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)user;
    int64_t off, lim;
    char owner[24];
    tk_server_access acc;
    if (tk_server_req_page(req, resp, 10000, 10000, &off, &lim) || tk_server_req_access(req, resp, owner, &acc)) return;
    tk_err e = {0};
    json_t *out = NULL;
    if (tk_server_store_list_ckpts(s->store, req->params[0], &acc, off, lim, &out, &e)) tk_server_resp_err(resp, &e);
    else tk_server_resp_json(resp, 200, out);
}

static void h_all_ckpts(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)user;
    int64_t off, lim;
    char owner[24];
    tk_server_access acc;
    if (tk_server_req_page(req, resp, 100, 1000, &off, &lim) || tk_server_req_access(req, resp, owner, &acc)) return;
    tk_err e = {0};
    json_t *out = NULL;
    if (tk_server_store_list_ckpts(s->store, NULL, &acc, off, lim, &out, &e)) tk_server_resp_err(resp, &e);
    else tk_server_resp_json(resp, 200, out);
}

static void answer_ok(tk_server_resp *resp, const tk_server_req *req, const char *what) {
    char path[TK_SERVER_PATH_MAX];
    snprintf(path, sizeof path, "tinker://%s/%s/%s", req->params[0], req->params[1], req->params[2]);
    tk_server_resp_json(resp, 200, json_pack("{s:s, s:s}", "status", what, "tinker_path", path));
}

static void h_delete(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)user;
    tk_server_ckpt_kind k;
    if (ckpt_params(s, req, resp, &k, true)) return;
    tk_err e = {0};
    if (tk_server_store_delete(s->store, req->params[0], k, req->params[2], &e)) tk_server_resp_err(resp, &e);
    else answer_ok(resp, req, "deleted");
}

static void h_one_segment_id(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)s;
    (void)user;
    tk_server_resp_error(resp, 400, "checkpoint id \"%s\": expected weights/<name> or sampler_weights/<name>",
                         req->params[1]);
}

static void h_publish(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    bool pub = user != NULL;
    tk_server_ckpt_kind k;
    if (ckpt_params(s, req, resp, &k, true)) return;
    tk_err e = {0};
    if (tk_server_store_set_public(s->store, req->params[0], k, req->params[2], pub, &e)) tk_server_resp_err(resp, &e);
    else answer_ok(resp, req, pub ? "published" : "unpublished");
}

static void h_ttl(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)user;
    json_t *b = NULL;
    if (tk_server_req_json(req, resp, &b)) return;
    tk_err e = {0};
    json_t *t = json_object_get(b, "ttl_seconds");
    int rc = 0;
    double ttl = -1;
    if (!t) rc = tk_err_set(&e, TK_EINVAL, "ttl_seconds: missing (give seconds, or null to remove the expiry)");
    else if (json_is_number(t)) {
        ttl = json_number_value(t);
        if (!(ttl > 0)) rc = tk_err_set(&e, TK_EINVAL, "ttl_seconds: must be positive, got %g", ttl);
    } else if (!json_is_null(t))
        rc = tk_err_set(&e, TK_EINVAL, "ttl_seconds: expected a number or null, got %s", tk_json_type_name(t));
    tk_server_ckpt_kind k;
    if (rc) tk_server_resp_err(resp, &e);
    else if (!ckpt_params(s, req, resp, &k, true)) {
        if (tk_server_store_set_ttl(s->store, req->params[0], k, req->params[2], ttl, &e)) tk_server_resp_err(resp, &e);
        else answer_ok(resp, req, "ttl set");
    }
    json_decref(b);
}

static void h_weights_info(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)user;
    json_t *b = NULL;
    if (tk_server_req_json(req, resp, &b)) return;
    tk_err e = {0};
    const char *path = NULL;
    json_t *info = NULL;
    char *dir = NULL;
    json_t *own = NULL;
    int rc = tk_json_get_str(b, "tinker_path", "", &path, &e);
    int status = rc ? 0 : tk_server_req_ckpt_access(s, req, path, false, &e);
    if (status) {
        tk_server_resp_error(resp, status, "weights_info: %s", e.msg);
        json_decref(b);
        return;
    }
    if (!rc) rc = tk_server_store_find_path(s->store, path, &dir, &info, &e);
    if (!rc && s->hooks.checkpoint_info) rc = s->hooks.checkpoint_info(s->hooks.user, dir, &own, &e);
    if (rc) tk_server_resp_error(resp, tk_server_http_status(rc), "weights_info: %s", e.msg);
    else {
        /* what the checkpoint records about itself wins over the run's metadata */
        json_t *run = json_copy(json_object_get(info, "run")); /* the store's own object: not modified */
        if (run && own) json_object_update(run, own);
        json_t *rank = json_object_get(run, "lora_rank");
        bool lora = json_is_true(json_object_get(run, "is_lora"));
        tk_server_resp_json(resp, 200, json_pack("{s:O, s:b, s:o, s:b, s:b, s:b}", "base_model",
                                                 json_object_get(run, "base_model"), "is_lora", lora, "lora_rank",
                                                 lora && json_is_integer(rank) ? json_integer(json_integer_value(rank))
                                                                               : json_null(),
                                                 "train_unembed", json_is_true(json_object_get(run, "train_unembed")),
                                                 "train_mlp", json_is_true(json_object_get(run, "train_mlp")),
                                                 "train_attn", json_is_true(json_object_get(run, "train_attn"))));
        json_decref(run);
    }
    json_decref(own);
    free(dir);
    json_decref(info);
    json_decref(b);
}

/* ---- archives ----------------------------------------------------------------------------------- */

static void h_archive(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)user;
    tk_server_ckpt_kind k;
    if (ckpt_params(s, req, resp, &k, false)) return;
    tk_err e = {0};
    if (tk_server_store_find(s->store, req->params[0], k, req->params[2], NULL, NULL, &e)) {
        tk_server_resp_err(resp, &e);
        return;
    }
    archive_tok *t = calloc(1, sizeof *t);
    char token[37];
    tk_uuid4(token);
    if (t) {
        snprintf(t->run, sizeof t->run, "%s", req->params[0]);
        t->kind = k;
        snprintf(t->name, sizeof t->name, "%s", req->params[2]);
        t->expires = tk_now_s() + ARCHIVE_TTL_S;
        pthread_mutex_lock(&s->arc_mu);
        if (tk_map_sput(s->archives, token, t)) {
            free(t);
            t = NULL;
        }
        pthread_mutex_unlock(&s->arc_mu);
    }
    if (!t) {
        tk_server_resp_error(resp, 503, "out of memory");
        return;
    }
    const char *host = tk_server_req_header(req, "Host");
    char url[512], expires_iso[40], expires_http[64];
    if (host && *host && !strpbrk(host, " \r\n/"))
        snprintf(url, sizeof url, "http://%s/api/v1/checkpoint_archives/%s", host, token);
    else
        snprintf(url, sizeof url, "%s/api/v1/checkpoint_archives/%s", s->url, token);
    double exp_wall = tk_wall_s() + ARCHIVE_TTL_S;
    tk_iso8601_utc(exp_wall, expires_iso, sizeof expires_iso);
    time_t et = (time_t)exp_wall;
    struct tm tm;
    gmtime_r(&et, &tm);
    strftime(expires_http, sizeof expires_http, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    tk_server_resp_json(resp, 302, json_pack("{s:s, s:s}", "url", url, "expires", expires_iso));
    tk_server_resp_header(resp, "Location", url);
    tk_server_resp_header(resp, "Expires", expires_http);
}

static void h_archive_download(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)user;
    archive_tok t = {0};
    bool found = false;
    pthread_mutex_lock(&s->arc_mu);
    void *v = NULL;
    if (tk_map_sget(s->archives, req->params[0], &v) && ((archive_tok *)v)->expires > tk_now_s()) {
        t = *(archive_tok *)v;
        found = true;
    }
    pthread_mutex_unlock(&s->arc_mu);
    if (!found) {
        tk_server_resp_error(resp, 404, "archive link not found or expired; ask GET …/checkpoints/<id>/archive for a "
                             "new one");
        return;
    }
    tk_err e = {0};
    tk_server_targz *stream = NULL;
    if (tk_server_store_archive(s->store, t.run, t.kind, t.name, &stream, &e)) {
        tk_server_resp_err(resp, &e);
        return;
    }
    resp->status = 200;
    resp->content_type = "application/gzip";
    resp->stream = stream;
    char disp[TK_SERVER_ID_MAX + TK_SERVER_NAME_MAX + 64];
    snprintf(disp, sizeof disp, "attachment; filename=\"%s_%s_%s.tar.gz\"", t.run,
             tk_server_ckpt_kind_dir(t.kind), t.name);
    for (char *p = disp; *p; p++)
        if (*p == ':') *p = '_';
    tk_server_resp_header(resp, "Content-Disposition", disp);
}

void tk_server_archives_sweep(tk_server *s) {
    double now = tk_now_s();
    pthread_mutex_lock(&s->arc_mu);
    size_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    while (tk_map_next(s->archives, &pos, &k, &kl, &v)) {
        if (((archive_tok *)v)->expires > now) continue;
        tk_map_del(s->archives, k, kl);
        free(v);
    }
    pthread_mutex_unlock(&s->arc_mu);
}

void tk_server_archives_free(tk_server *s) {
    if (!s->archives) return;
    size_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    while (tk_map_next(s->archives, &pos, &k, &kl, &v)) free(v);
    tk_map_free(s->archives);
    s->archives = NULL;
}

int tk_server_routes_checkpoints(tk_server *s, tk_err *e) {
    static const char ck[] = "/api/v1/training_runs/{run}/checkpoints/{kind}/{name}";
    struct { const char *m, *p; tk_server_handler fn; void *user; int flags; } r[] = {
        {"GET", "/api/v1/training_runs", h_runs, NULL, 0},
        {"GET", "/api/v1/training_runs/{run}", h_run, NULL, 0},
        {"GET", "/api/v1/training_runs/{run}/checkpoints", h_run_ckpts, NULL, 0},
        {"GET", "/api/v1/models/{run}/checkpoints", h_run_ckpts, NULL, 0}, /* SDK <= 0.3 */
        {"GET", "/api/v1/checkpoints", h_all_ckpts, NULL, 0},
        {"DELETE", ck, h_delete, NULL, 0},
        {"DELETE", "/api/v1/training_runs/{run}/checkpoints/{id}", h_one_segment_id, NULL, 0},
        {"POST", "/api/v1/training_runs/{run}/checkpoints/{kind}/{name}/publish", h_publish, (void *)1, 0},
        {"DELETE", "/api/v1/training_runs/{run}/checkpoints/{kind}/{name}/publish", h_publish, NULL, 0},
        {"PUT", "/api/v1/training_runs/{run}/checkpoints/{kind}/{name}/ttl", h_ttl, NULL, 0},
        {"GET", "/api/v1/training_runs/{run}/checkpoints/{kind}/{name}/archive", h_archive, NULL, 0},
        {"GET", "/api/v1/checkpoint_archives/{token}", h_archive_download, NULL, TK_SERVER_ROUTE_NO_AUTH},
        {"POST", "/api/v1/weights_info", h_weights_info, NULL, 0},
    };
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
        int rc = tk_server_route_add(s, r[i].m, r[i].p, r[i].fn, r[i].user, r[i].flags, e);
        if (rc) return rc;
    }
    return 0;
}
