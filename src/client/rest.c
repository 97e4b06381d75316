/* REST resources (§3.8): training runs, checkpoints (delete, publish, TTL, archive), samplers,
 * sessions, weights_info. Each is one call with the SDK's retries, as a task. */
#include "internal.h"
#include "sdk.h"

#include <ctype.h>
#include <string.h>

int tk_rest_append_segment(tk_buf *b, const char *s) {
    static const char keep[] = "-._~!$&'()*+,;=:@";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int rc = (isalnum(*p) || strchr(keep, *p)) ? tk_buf_putc(b, (char)*p)
                                                   : tk_buf_printf(b, "%%%02X", *p);
        if (rc) return rc;
    }
    return 0;
}

/* "/api/v1/<prefix>/<seg>[<suffix>]" */
static int build_path(tk_buf *b, const char *prefix, const char *seg, const char *suffix) {
    if (tk_buf_printf(b, "/api/v1/%s/", prefix) || tk_rest_append_segment(b, seg)) return TK_ENOMEM;
    if (suffix && tk_buf_puts(b, suffix)) return TK_ENOMEM;
    return 0;
}

static int rest_call(tk_client_service *s, const char *method, tk_buf *path, tk_buf *body,
                     tk_wire_msg type, const char *what, bool accept_redirect,
                     tk_client_task **out, tk_err *e) {
    tk_client_call_spec spec = {.method = method, .path = path->data, .exec_retries = true,
                                .accept_redirect = accept_redirect};
    if (body && body->len) {
        spec.body = body->data;
        spec.body_len = body->len;
        spec.give_body = true;
        body->data = NULL;
        body->len = body->cap = 0;
    }
    int rc = tk_task_call(s, TK_CLIENT_TASK_CALL, type, what, &spec, out, e);
    tk_buf_free(path);
    return rc;
}

static int oom(tk_buf *b, const char *what, tk_err *e) {
    tk_buf_free(b);
    return tk_err_set(e, TK_ENOMEM, "%s: out of memory", what);
}

static int check_id(const char *what, const char *name, const char *id, tk_err *e) {
    if (!id || !*id) return tk_err_set(e, TK_EINVAL, "%s: %s is required", what, name);
    return 0;
}

int tk_client_rest_list_training_runs(tk_client_service *s, int64_t limit, int64_t offset,
                                      const char *access_scope, tk_client_task **out, tk_err *e) {
    *out = NULL;
    tk_buf p = {0};
    if (tk_buf_printf(&p, "/api/v1/training_runs?limit=%lld&offset=%lld&access_scope=",
                      (long long)(limit > 0 ? limit : 20), (long long)(offset > 0 ? offset : 0)) ||
        tk_rest_append_segment(&p, access_scope ? access_scope : "owned"))
        return oom(&p, "list_training_runs", e);
    return rest_call(s, "GET", &p, NULL, TK_WIRE_MSG_TRAINING_RUNS_RESPONSE, "list_training_runs",
                     false, out, e);
}

int tk_client_rest_get_training_run(tk_client_service *s, const char *run_id,
                                    tk_client_task **out, tk_err *e) {
    *out = NULL;
    int rc = check_id("get_training_run", "run_id", run_id, e);
    if (rc) return rc;
    tk_buf p = {0};
    if (build_path(&p, "training_runs", run_id, "?access_scope=owned"))
        return oom(&p, "get_training_run", e);
    return rest_call(s, "GET", &p, NULL, TK_WIRE_MSG_TRAINING_RUN, "get_training_run", false, out,
                     e);
}

int tk_client_rest_list_checkpoints(tk_client_service *s, const char *run_id,
                                    tk_client_task **out, tk_err *e) {
    *out = NULL;
    int rc = check_id("list_checkpoints", "run_id", run_id, e);
    if (rc) return rc;
    tk_buf p = {0};
    if (build_path(&p, "training_runs", run_id, "/checkpoints"))
        return oom(&p, "list_checkpoints", e);
    return rest_call(s, "GET", &p, NULL, TK_WIRE_MSG_CHECKPOINTS_LIST_RESPONSE, "list_checkpoints",
                     false, out, e);
}

int tk_client_rest_list_user_checkpoints(tk_client_service *s, int64_t limit, int64_t offset,
                                         tk_client_task **out, tk_err *e) {
    *out = NULL;
    tk_buf p = {0};
    if (tk_buf_printf(&p, "/api/v1/checkpoints?limit=%lld&offset=%lld",
                      (long long)(limit > 0 ? limit : 100), (long long)(offset > 0 ? offset : 0)))
        return oom(&p, "list_user_checkpoints", e);
    return rest_call(s, "GET", &p, NULL, TK_WIRE_MSG_CHECKPOINTS_LIST_RESPONSE,
                     "list_user_checkpoints", false, out, e);
}

/* "/api/v1/training_runs/<run>/checkpoints/<kind>/<name><suffix>" for a tinker:// path. */
static int checkpoint_path(const char *what, const char *tinker_path, const char *suffix,
                           tk_buf *p, tk_err *e) {
    tk_arena *a = tk_arena_new(0);
    if (!a) return tk_err_set(e, TK_ENOMEM, "%s: out of memory", what);
    tk_wire_tinker_path tp;
    int rc = tk_wire_tinker_path_parse(tinker_path ? tinker_path : "", a, &tp, e);
    if (rc) {
        tk_arena_free(a);
        return tk_err_prefix(e, "%s: ", what);
    }
    if (build_path(p, "training_runs", tp.run_id, "/checkpoints/") ||
        tk_buf_puts(p, tp.kind == TK_WIRE_CHECKPOINT_TRAINING ? "weights/" : "sampler_weights/") ||
        tk_rest_append_segment(p, tp.name) || (suffix && tk_buf_puts(p, suffix)))
        rc = tk_err_set(e, TK_ENOMEM, "%s: out of memory", what);
    tk_arena_free(a);
    if (rc) tk_buf_free(p);
    return rc;
}

int tk_client_rest_delete_checkpoint(tk_client_service *s, const char *tinker_path,
                                     tk_client_task **out, tk_err *e) {
    *out = NULL;
    tk_buf p = {0};
    int rc = checkpoint_path("delete_checkpoint", tinker_path, NULL, &p, e);
    if (rc) return rc;
    return rest_call(s, "DELETE", &p, NULL, TK_WIRE_MSG_COUNT_, "delete_checkpoint", false, out,
                     e);
}

int tk_client_rest_publish_checkpoint(tk_client_service *s, const char *tinker_path,
                                      tk_client_task **out, tk_err *e) {
    *out = NULL;
    tk_buf p = {0};
    int rc = checkpoint_path("publish_checkpoint", tinker_path, "/publish", &p, e);
    if (rc) return rc;
    return rest_call(s, "POST", &p, NULL, TK_WIRE_MSG_COUNT_, "publish_checkpoint", false, out,
                     e);
}

int tk_client_rest_unpublish_checkpoint(tk_client_service *s, const char *tinker_path,
                                        tk_client_task **out, tk_err *e) {
    *out = NULL;
    tk_buf p = {0};
    int rc = checkpoint_path("unpublish_checkpoint", tinker_path, "/publish", &p, e);
    if (rc) return rc;
    return rest_call(s, "DELETE", &p, NULL, TK_WIRE_MSG_COUNT_, "unpublish_checkpoint", false,
                     out, e);
}

int tk_client_rest_set_checkpoint_ttl(tk_client_service *s, const char *tinker_path,
                                      int64_t ttl_seconds, tk_client_task **out, tk_err *e) {
    *out = NULL;
    tk_buf p = {0}, body = {0};
    int rc = checkpoint_path("set_checkpoint_ttl", tinker_path, "/ttl", &p, e);
    if (rc) return rc;
    tk_wire_checkpoint_ttl_request req = {.has_ttl_seconds = ttl_seconds > 0,
                                          .ttl_seconds = ttl_seconds};
    if ((rc = tk_wire_json_encode(TK_WIRE_MSG_CHECKPOINT_TTL_REQUEST, &req, &body, e))) {
        tk_buf_free(&p);
        tk_buf_free(&body);
        return rc;
    }
    return rest_call(s, "PUT", &p, &body, TK_WIRE_MSG_COUNT_, "set_checkpoint_ttl", false, out,
                     e);
}

int tk_client_rest_get_checkpoint_archive_url(tk_client_service *s, const char *tinker_path,
                                              tk_client_task **out, tk_err *e) {
    *out = NULL;
    tk_buf p = {0};
    int rc = checkpoint_path("get_checkpoint_archive_url", tinker_path, "/archive", &p, e);
    if (rc) return rc;
    return rest_call(s, "GET", &p, NULL, TK_WIRE_MSG_ARCHIVE_URL_RESPONSE,
                     "get_checkpoint_archive_url", true, out, e);
}

/* ---- archive download: the URL, then the bytes, then the file ---------------------------------- */

typedef struct download_ctx {
    char *dest;
    int stage;
} download_ctx;

static void download_free(void *p) {
    download_ctx *d = p;
    if (d) free(d->dest);
    free(d);
}

static int download_advance(tk_task *t, tk_err *e) {
    download_ctx *d = t->ctx;
    if (d->stage == 2) {   /* the archive arrived: write it */
        const tk_client_response *r = tk_task_part_response(t, 0);
        int rc = tk_file_write_atomic(d->dest, r->body.data ? r->body.data : "", r->body.len,
                                      0644, e);
        return rc ? tk_err_prefix(e, "%s: ", t->what) : 0;
    }
    tk_arena *a = tk_arena_new(0);
    if (!a) return tk_err_set(e, TK_ENOMEM, "%s: out of memory", t->what);
    tk_wire_archive_url_response u;
    int rc = tk_task_decode(t, tk_task_part_response(t, 0), TK_WIRE_MSG_ARCHIVE_URL_RESPONSE, a,
                            &u, e);
    if (!rc && strncasecmp(u.url, "http://", 7) && strncasecmp(u.url, "https://", 8))
        rc = tk_err_set(e, TK_EPARSE, "%s: the archive URL \"%.200s\" is not http(s)", t->what,
                        u.url);
    if (!rc) {
        tk_task_clear_parts(t);
        d->stage = 2;
        /* a signed URL may sit on another host: no credentials go there (tk_client_call_spec) */
        tk_client_call_spec spec = {.method = "GET", .path = "/archive-download", .url = u.url,
                                    .accept = "application/octet-stream, */*"};
        rc = tk_task_submit(t, &spec, e);
    }
    tk_arena_free(a);
    return rc ? rc : TK_TASK_CONTINUE;
}

static const tk_task_ops download_ops = {.advance = download_advance, .free_ctx = download_free};

int tk_client_rest_download_checkpoint_archive(tk_client_service *s, const char *tinker_path,
                                               const char *dest_path, tk_client_task **out,
                                               tk_err *e) {
    *out = NULL;
    const char *what = "download_checkpoint_archive";
    if (!dest_path || !*dest_path) return tk_err_set(e, TK_EINVAL, "%s: dest_path is required", what);
    tk_buf p = {0};
    int rc = checkpoint_path(what, tinker_path, "/archive", &p, e);
    if (rc) return rc;
    char name[200];
    snprintf(name, sizeof name, "%s (%.150s)", what, tinker_path);
    tk_task *t = tk_task_new(s, TK_CLIENT_TASK_CALL, TK_WIRE_MSG_COUNT_, name);
    download_ctx *d = calloc(1, sizeof *d);
    if (!t || !d || !(d->dest = tk_strdup(dest_path))) {
        free(d);
        tk_client_task_release(t);
        return oom(&p, what, e);
    }
    d->stage = 1;
    t->ops = &download_ops;
    t->ctx = d;
    tk_client_call_spec spec = {.method = "GET", .path = p.data, .exec_retries = true,
                                .accept_redirect = true};
    rc = tk_task_submit(t, &spec, e);
    tk_buf_free(&p);
    if (rc) {
        tk_client_task_release(t);
        return rc;
    }
    *out = t;
    return 0;
}

/* ---- the rest ------------------------------------------------------------------------------------ */

int tk_client_rest_get_weights_info(tk_client_service *s, const char *tinker_path,
                                    tk_client_task **out, tk_err *e) {
    *out = NULL;
    tk_arena *a = tk_arena_new(0);
    tk_wire_tinker_path tp;
    int rc = a ? tk_wire_tinker_path_parse(tinker_path ? tinker_path : "", a, &tp, e)
               : tk_err_set(e, TK_ENOMEM, "out of memory");
    tk_arena_free(a);
    if (rc) return tk_err_prefix(e, "get_weights_info: ");
    tk_wire_weights_info_request req = {.tinker_path = (char *)tinker_path};
    tk_buf body = {0}, p = {0};
    if ((rc = tk_wire_json_encode(TK_WIRE_MSG_WEIGHTS_INFO_REQUEST, &req, &body, e))) {
        tk_buf_free(&body);
        return rc;
    }
    if (tk_buf_puts(&p, "/api/v1/weights_info")) {
        tk_buf_free(&body);
        return oom(&p, "get_weights_info", e);
    }
    return rest_call(s, "POST", &p, &body, TK_WIRE_MSG_WEIGHTS_INFO_RESPONSE, "get_weights_info",
                     false, out, e);
}

int tk_client_rest_get_sampler(tk_client_service *s, const char *sampler_id,
                               tk_client_task **out, tk_err *e) {
    *out = NULL;
    int rc = check_id("get_sampler", "sampler_id", sampler_id, e);
    if (rc) return rc;
    tk_buf p = {0};
    if (build_path(&p, "samplers", sampler_id, NULL)) return oom(&p, "get_sampler", e);
    return rest_call(s, "GET", &p, NULL, TK_WIRE_MSG_SAMPLER_RESPONSE, "get_sampler", false, out,
                     e);
}

int tk_client_rest_list_sessions(tk_client_service *s, int64_t limit, int64_t offset,
                                 tk_client_task **out, tk_err *e) {
    *out = NULL;
    tk_buf p = {0};
    if (tk_buf_printf(&p, "/api/v1/sessions?limit=%lld&offset=%lld&access_scope=owned",
                      (long long)(limit > 0 ? limit : 20), (long long)(offset > 0 ? offset : 0)))
        return oom(&p, "list_sessions", e);
    return rest_call(s, "GET", &p, NULL, TK_WIRE_MSG_LIST_SESSIONS_RESPONSE, "list_sessions",
                     false, out, e);
}

int tk_client_rest_get_session(tk_client_service *s, const char *session_id,
                               tk_client_task **out, tk_err *e) {
    *out = NULL;
    int rc = check_id("get_session", "session_id", session_id, e);
    if (rc) return rc;
    tk_buf p = {0};
    if (build_path(&p, "sessions", session_id, "?access_scope=owned"))
        return oom(&p, "get_session", e);
    return rest_call(s, "GET", &p, NULL, TK_WIRE_MSG_SESSION_RESPONSE, "get_session", false, out,
                     e);
}
