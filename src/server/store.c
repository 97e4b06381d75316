/* The checkpoint store (see store.h for the layout and the atomicity argument). */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STORE_FORMAT 1

typedef struct ckpt {
    tk_server_ckpt_kind kind;
    char name[TK_SERVER_NAME_MAX];
    double created_wall;
    uint64_t size_bytes;
    bool is_public;
    double expires_wall; /* 0 = never */
    json_t *extra;       /* object, owned */
} ckpt;

typedef struct run {
    char id[TK_SERVER_ID_MAX];
    json_t *meta; /* the run.json object, owned */
    double created_wall, last_request_wall;
    TK_VEC(ckpt *) ckpts;
} run;

struct tk_server_store {
    char *dir, *runs_dir, *tmp_dir;
    pthread_mutex_t mu;
    tk_map *runs; /* run id -> run* */
    uint64_t counter;
};

struct tk_server_stage {
    char *run_id;
    tk_server_ckpt_kind kind;
    char name[TK_SERVER_NAME_MAX];
    bool overwrite;
    char *dir;         /* tmp/stage-N */
    char *payload_dir; /* tmp/stage-N/payload */
};

/* ---- small helpers --------------------------------------------------------------------------- */

static void ckpt_free(ckpt *c) {
    if (!c) return;
    json_decref(c->extra);
    free(c);
}

static void run_free(run *r) {
    if (!r) return;
    for (size_t i = 0; i < r->ckpts.len; i++) ckpt_free(r->ckpts.data[i]);
    tk_vec_free(&r->ckpts);
    json_decref(r->meta);
    free(r);
}

static char *pathf(const char *fmt, ...) TK_PRINTF(1, 2);
static char *pathf(const char *fmt, ...) {
    tk_buf b = {0};
    va_list ap;
    va_start(ap, fmt);
    int rc = tk_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    if (rc) { tk_buf_free(&b); return NULL; }
    return b.data;
}

static char *ckpt_dir(const tk_server_store *s, const char *run_id, tk_server_ckpt_kind k, const char *name) {
    return pathf("%s/%s/%s/%s", s->runs_dir, run_id, tk_server_ckpt_kind_dir(k), name);
}

static bool expired(const ckpt *c, double now) { return c->expires_wall > 0 && c->expires_wall <= now; }

static ckpt *find_ckpt(run *r, tk_server_ckpt_kind k, const char *name, size_t *idx) {
    for (size_t i = 0; i < r->ckpts.len; i++) {
        ckpt *c = r->ckpts.data[i];
        if (c->kind == k && !strcmp(c->name, name)) {
            if (idx) *idx = i;
            return c;
        }
    }
    return NULL;
}

static run *find_run(tk_server_store *s, const char *id) {
    void *v = NULL;
    return tk_map_sget(s->runs, id, &v) ? v : NULL;
}

static json_t *iso_or_null(double wall) {
    if (wall <= 0) return json_null();
    char buf[40];
    tk_iso8601_utc(wall, buf, sizeof buf);
    return json_string(buf);
}

/* ---- ownership (access_scope) ---------------------------------------------------------------- */

int tk_server_scope_parse(const char *v, tk_server_scope *out, tk_err *e) {
    if (!v || !strcmp(v, "owned")) *out = TK_SERVER_SCOPE_OWNED;
    else if (!strcmp(v, "accessible")) *out = TK_SERVER_SCOPE_ACCESSIBLE;
    else return tk_err_set(e, TK_EINVAL, "access_scope: expected \"owned\" or \"accessible\", got \"%s\"", v);
    return 0;
}

static bool owned_by(const run *r, const char *owner) {
    const char *o = json_string_value(json_object_get(r->meta, "model_owner"));
    return !owner || !o || !strcmp(o, "local") || !strcmp(o, owner);
}

static bool has_public(const run *r, double now) {
    for (size_t i = 0; i < r->ckpts.len; i++)
        if (r->ckpts.data[i]->is_public && !expired(r->ckpts.data[i], now)) return true;
    return false;
}

static bool in_scope(const run *r, const tk_server_access *acc, double now) {
    if (!acc || owned_by(r, acc->owner)) return true;
    return acc->scope == TK_SERVER_SCOPE_ACCESSIBLE && has_public(r, now);
}

/* The REST Checkpoint object (protocol §3.8), plus training_run_id. */
static json_t *ckpt_json(const run *r, const ckpt *c) {
    char id[TK_SERVER_NAME_MAX + 32], path[TK_SERVER_PATH_MAX], t[40];
    snprintf(id, sizeof id, "%s/%s", tk_server_ckpt_kind_dir(c->kind), c->name);
    snprintf(path, sizeof path, "tinker://%s/%s", r->id, id);
    tk_iso8601_utc(c->created_wall, t, sizeof t);
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:b, s:o, s:s}", "checkpoint_id", id, "checkpoint_type",
                     tk_server_ckpt_kind_type(c->kind), "time", t, "tinker_path", path, "size_bytes",
                     (json_int_t)c->size_bytes, "public", c->is_public, "expires_at",
                     iso_or_null(c->expires_wall), "training_run_id", r->id);
}

static json_t *ckpt_file_json(const run *r, const ckpt *c) {
    return json_pack("{s:i, s:s, s:s, s:s, s:f, s:I, s:b, s:o, s:O}", "format", STORE_FORMAT, "run_id",
                     r->id, "kind", tk_server_ckpt_kind_dir(c->kind), "name", c->name, "created",
                     c->created_wall, "size_bytes", (json_int_t)c->size_bytes, "public", c->is_public,
                     "expires", c->expires_wall > 0 ? json_real(c->expires_wall) : json_null(), "extra",
                     c->extra ? c->extra : json_object());
}

static int write_json_file(const char *path, json_t *v, tk_err *e) {
    tk_buf b = {0};
    int rc = 0;
    if (!v || tk_json_dump(v, &b)) rc = tk_err_set(e, TK_ENOMEM, "%s: out of memory", path);
    else rc = tk_file_write_atomic(path, b.data, b.len, 0644, e);
    tk_buf_free(&b);
    return rc;
}

/* Rewrite checkpoint.json of an indexed checkpoint (caller holds the lock). */
static int save_ckpt_meta(tk_server_store *s, const run *r, const ckpt *c, tk_err *e) {
    char *dir = ckpt_dir(s, r->id, c->kind, c->name);
    char *p = dir ? tk_path_join(dir, "checkpoint.json") : NULL;
    json_t *j = ckpt_file_json(r, c);
    int rc = p ? write_json_file(p, j, e) : tk_err_set(e, TK_ENOMEM, "out of memory");
    json_decref(j);
    free(p);
    free(dir);
    return rc;
}

static int save_run_meta(tk_server_store *s, run *r, tk_err *e) {
    json_t *m = r->meta;
    if (json_object_set_new(m, "last_request", json_real(r->last_request_wall)))
        return tk_err_set(e, TK_ENOMEM, "out of memory");
    char *p = pathf("%s/%s/run.json", s->runs_dir, r->id);
    int rc = p ? write_json_file(p, m, e) : tk_err_set(e, TK_ENOMEM, "out of memory");
    free(p);
    return rc;
}

/* ---- loading at open ------------------------------------------------------------------------- */

static ckpt *load_ckpt(const char *dir, const char *run_id, tk_server_ckpt_kind kind, const char *name) {
    tk_err e = {0};
    char *p = tk_path_join(dir, "checkpoint.json");
    char *pl = tk_path_join(dir, "payload");
    json_t *j = NULL;
    ckpt *c = NULL;
    if (!p || !pl) goto out;
    if (tk_server_name_check("checkpoint name", name, false, &e)) goto bad;
    if (tk_json_load_file(p, &j, &e)) goto bad;
    const char *jr = NULL, *jk = NULL, *jn = NULL;
    double created = 0;
    int64_t size = 0;
    bool pub = false;
    if (tk_json_get_str(j, "run_id", "", &jr, &e) || tk_json_get_str(j, "kind", "", &jk, &e) ||
        tk_json_get_str(j, "name", "", &jn, &e) || tk_json_get_f64(j, "created", "", &created, &e) ||
        tk_json_get_i64(j, "size_bytes", "", &size, &e) || tk_json_get_bool(j, "public", "", &pub, &e))
        goto bad;
    if (strcmp(jr, run_id) || strcmp(jk, tk_server_ckpt_kind_dir(kind)) || strcmp(jn, name)) {
        tk_err_set(&e, TK_EPARSE, "names inside do not match the directory");
        goto bad;
    }
    if (!tk_path_is_dir(pl)) {
        tk_err_set(&e, TK_EPARSE, "payload directory missing");
        goto bad;
    }
    c = calloc(1, sizeof *c);
    if (!c) goto out;
    c->kind = kind;
    snprintf(c->name, sizeof c->name, "%s", name);
    c->created_wall = created;
    c->size_bytes = (uint64_t)(size < 0 ? 0 : size);
    c->is_public = pub;
    double exp = 0;
    tk_json_opt_f64(j, "expires", "", &exp, NULL, NULL);
    c->expires_wall = exp;
    json_t *extra = json_object_get(j, "extra");
    c->extra = json_is_object(extra) ? json_deep_copy(extra) : json_object();
    goto out;
bad:
    tk_warn("checkpoint store: skipping %s: %s", dir, e.msg);
out:
    json_decref(j);
    free(p);
    free(pl);
    return c;
}

static int cmp_ckpt_time(const void *a, const void *b) {
    const ckpt *x = *(ckpt *const *)a, *y = *(ckpt *const *)b;
    return (x->created_wall > y->created_wall) - (x->created_wall < y->created_wall);
}

static run *load_run(tk_server_store *s, const char *id) {
    tk_err e = {0};
    char *rdir = tk_path_join(s->runs_dir, id);
    char *p = rdir ? tk_path_join(rdir, "run.json") : NULL;
    json_t *j = NULL;
    run *r = NULL;
    if (!p) goto out;
    if (tk_server_name_check("run id", id, true, &e)) goto bad;
    if (tk_json_load_file(p, &j, &e)) goto bad;
    const char *jid = NULL, *base = NULL;
    double created = 0;
    if (tk_json_get_str(j, "run_id", "", &jid, &e) || tk_json_get_str(j, "base_model", "", &base, &e) ||
        tk_json_get_f64(j, "created", "", &created, &e))
        goto bad;
    if (strcmp(jid, id)) {
        tk_err_set(&e, TK_EPARSE, "run_id \"%s\" does not match the directory", jid);
        goto bad;
    }
    r = calloc(1, sizeof *r);
    if (!r) goto out;
    snprintf(r->id, sizeof r->id, "%s", id);
    r->meta = j;
    j = NULL;
    r->created_wall = created;
    r->last_request_wall = created;
    tk_json_opt_f64(r->meta, "last_request", "", &r->last_request_wall, NULL, NULL);
    for (int k = 0; k < 2; k++) {
        char *kdir = tk_path_join(rdir, tk_server_ckpt_kind_dir((tk_server_ckpt_kind)k));
        DIR *d = kdir ? opendir(kdir) : NULL;
        struct dirent *de;
        while (d && (de = readdir(d))) {
            if (de->d_name[0] == '.') continue;
            char *cdir = tk_path_join(kdir, de->d_name);
            ckpt *c = cdir ? load_ckpt(cdir, id, (tk_server_ckpt_kind)k, de->d_name) : NULL;
            if (c && tk_vec_push(&r->ckpts, c)) ckpt_free(c);
            free(cdir);
        }
        if (d) closedir(d);
        free(kdir);
    }
    if (r->ckpts.len) qsort(r->ckpts.data, r->ckpts.len, sizeof *r->ckpts.data, cmp_ckpt_time);
    goto out;
bad:
    tk_warn("checkpoint store: skipping run %s: %s", rdir, e.msg);
out:
    json_decref(j);
    free(p);
    free(rdir);
    return r;
}

int tk_server_store_open(const char *data_dir, tk_server_store **out, tk_err *e) {
    *out = NULL;
    tk_server_store *s = calloc(1, sizeof *s);
    if (!s) return tk_err_set(e, TK_ENOMEM, "out of memory");
    pthread_mutex_init(&s->mu, NULL);
    s->dir = tk_strdup(data_dir);
    s->runs_dir = tk_path_join(data_dir, "runs");
    s->tmp_dir = tk_path_join(data_dir, "tmp");
    s->runs = tk_map_new(64);
    int rc = 0;
    if (!s->dir || !s->runs_dir || !s->tmp_dir || !s->runs) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    /* staging leftovers from a crash are garbage: nothing in tmp/ was ever visible */
    if (!rc) rc = tk_remove_tree(s->tmp_dir, e);
    if (!rc) rc = tk_mkdir_p(s->runs_dir, 0755, e);
    if (!rc) rc = tk_mkdir_p(s->tmp_dir, 0755, e);
    if (rc) {
        tk_err_prefix(e, "checkpoint store %s: ", data_dir);
        tk_server_store_close(s);
        return rc;
    }
    DIR *d = opendir(s->runs_dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        run *r = load_run(s, de->d_name);
        if (r && tk_map_sput(s->runs, r->id, r)) run_free(r);
    }
    if (d) closedir(d);
    *out = s;
    return 0;
}

void tk_server_store_close(tk_server_store *s) {
    if (!s) return;
    if (s->runs) {
        size_t pos = 0;
        const void *k;
        size_t kl;
        void *v;
        while (tk_map_next(s->runs, &pos, &k, &kl, &v)) {
            run *r = v;
            tk_err e = {0};
            if (tk_path_is_dir(s->runs_dir) && save_run_meta(s, r, &e))
                tk_warn("checkpoint store: %s", e.msg);
            run_free(r);
        }
        tk_map_free(s->runs);
    }
    pthread_mutex_destroy(&s->mu);
    free(s->dir);
    free(s->runs_dir);
    free(s->tmp_dir);
    free(s);
}

const char *tk_server_store_dir(const tk_server_store *s) { return s->dir; }

/* ---- runs ------------------------------------------------------------------------------------ */

int tk_server_store_put_run(tk_server_store *s, const tk_server_run_meta *m, tk_err *e) {
    int rc = tk_server_name_check("run id", m->run_id, true, e);
    if (rc) return rc;
    json_t *um = m->user_metadata ? json_deep_copy(m->user_metadata) : json_object();
    json_t *j = json_pack("{s:i, s:s, s:s, s:s, s:b, s:I, s:b, s:b, s:b, s:f, s:f, s:o}", "format",
                          STORE_FORMAT, "run_id", m->run_id, "base_model", m->base_model ? m->base_model : "",
                          "model_owner", m->owner ? m->owner : "local", "is_lora", m->is_lora, "lora_rank",
                          (json_int_t)m->lora_rank, "train_mlp", m->train_mlp, "train_attn", m->train_attn,
                          "train_unembed", m->train_unembed, "created", m->created_wall, "last_request",
                          m->created_wall, "user_metadata", um ? um : json_object());
    if (!j) return tk_err_set(e, TK_ENOMEM, "run %s: out of memory", m->run_id);
    char *rdir = tk_path_join(s->runs_dir, m->run_id);
    if (!rdir) { json_decref(j); return tk_err_set(e, TK_ENOMEM, "out of memory"); }
    pthread_mutex_lock(&s->mu);
    run *r = find_run(s, m->run_id);
    bool fresh = !r;
    if (fresh) {
        r = calloc(1, sizeof *r);
        if (!r) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
        else snprintf(r->id, sizeof r->id, "%s", m->run_id);
    }
    if (!rc) rc = tk_mkdir_p(rdir, 0755, e);
    if (!rc) {
        json_decref(r->meta);
        r->meta = j;
        j = NULL;
        r->created_wall = m->created_wall;
        if (r->last_request_wall < m->created_wall) r->last_request_wall = m->created_wall;
        rc = save_run_meta(s, r, e);
    }
    if (!rc && fresh && tk_map_sput(s->runs, r->id, r)) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    if (rc && fresh) run_free(r);
    pthread_mutex_unlock(&s->mu);
    json_decref(j);
    free(rdir);
    return rc;
}

void tk_server_store_touch_run(tk_server_store *s, const char *run_id, double wall) {
    pthread_mutex_lock(&s->mu);
    run *r = find_run(s, run_id);
    if (r && wall > r->last_request_wall) r->last_request_wall = wall;
    pthread_mutex_unlock(&s->mu);
}

bool tk_server_store_has_run(tk_server_store *s, const char *run_id) {
    pthread_mutex_lock(&s->mu);
    bool ok = find_run(s, run_id) != NULL;
    pthread_mutex_unlock(&s->mu);
    return ok;
}

/* The newest live checkpoint of a kind, as JSON, or JSON null. */
static json_t *last_ckpt_json(const run *r, tk_server_ckpt_kind k, double now) {
    for (size_t i = r->ckpts.len; i-- > 0;) {
        const ckpt *c = r->ckpts.data[i];
        if (c->kind == k && !expired(c, now)) return ckpt_json(r, c);
    }
    return json_null();
}

static json_t *run_json(const run *r, double now) {
    json_t *m = r->meta;
    const char *s;
    json_t *out = json_object();
    if (!out) return NULL;
    int bad = 0;
    bad |= json_object_set_new(out, "training_run_id", json_string(r->id));
    s = json_string_value(json_object_get(m, "base_model"));
    bad |= json_object_set_new(out, "base_model", json_string(s ? s : ""));
    s = json_string_value(json_object_get(m, "model_owner"));
    bad |= json_object_set_new(out, "model_owner", json_string(s ? s : "local"));
    bad |= json_object_set_new(out, "is_lora", json_boolean(json_is_true(json_object_get(m, "is_lora"))));
    bad |= json_object_set_new(out, "corrupted", json_false());
    json_t *rank = json_object_get(m, "lora_rank");
    bad |= json_object_set_new(out, "lora_rank", json_is_integer(rank) && json_integer_value(rank) > 0
                                                     ? json_integer(json_integer_value(rank))
                                                     : json_null());
    bad |= json_object_set_new(out, "last_request_time", iso_or_null(r->last_request_wall));
    bad |= json_object_set_new(out, "last_checkpoint", last_ckpt_json(r, TK_SERVER_CKPT_WEIGHTS, now));
    bad |= json_object_set_new(out, "last_sampler_checkpoint", last_ckpt_json(r, TK_SERVER_CKPT_SAMPLER, now));
    json_t *um = json_object_get(m, "user_metadata");
    bad |= json_object_set_new(out, "user_metadata", json_is_object(um) ? json_deep_copy(um) : json_object());
    for (const char *const *k = (const char *const[]){"train_mlp", "train_attn", "train_unembed", NULL}; *k; k++)
        bad |= json_object_set_new(out, *k, json_boolean(json_is_true(json_object_get(m, *k))));
    if (bad) { json_decref(out); return NULL; }
    return out;
}

int tk_server_store_run_json(tk_server_store *s, const char *run_id, const tk_server_access *acc, json_t **out,
                             tk_err *e) {
    *out = NULL;
    pthread_mutex_lock(&s->mu);
    run *r = find_run(s, run_id);
    if (r && !in_scope(r, acc, tk_wall_s())) r = NULL;
    if (r) *out = run_json(r, tk_wall_s());
    pthread_mutex_unlock(&s->mu);
    if (!r) return tk_err_set(e, TK_ENOTFOUND, "training run \"%s\" not found", run_id);
    if (!*out) return tk_err_set(e, TK_ENOMEM, "out of memory");
    return 0;
}

static int cmp_run_newest(const void *a, const void *b) {
    const run *x = *(run *const *)a, *y = *(run *const *)b;
    if (x->created_wall != y->created_wall) return (x->created_wall < y->created_wall) - (x->created_wall > y->created_wall);
    return strcmp(x->id, y->id);
}

static json_t *cursor_json(int64_t offset, int64_t limit, size_t total) {
    return json_pack("{s:I, s:I, s:I}", "offset", (json_int_t)offset, "limit", (json_int_t)limit,
                     "total_count", (json_int_t)total);
}

int tk_server_store_list_runs(tk_server_store *s, const tk_server_access *acc, int64_t offset, int64_t limit,
                              json_t **out, tk_err *e) {
    *out = NULL;
    json_t *arr = json_array();
    TK_VEC(run *) all = {0};
    int rc = arr ? 0 : TK_ENOMEM;
    pthread_mutex_lock(&s->mu);
    size_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    double now = tk_wall_s();
    while (!rc && tk_map_next(s->runs, &pos, &k, &kl, &v))
        if (in_scope(v, acc, now)) rc = tk_vec_push(&all, (run *)v);
    if (!rc) {
        if (all.len) qsort(all.data, all.len, sizeof *all.data, cmp_run_newest);
        for (size_t i = (size_t)offset; !rc && i < all.len && (int64_t)(i - (size_t)offset) < limit; i++) {
            json_t *j = run_json(all.data[i], now);
            if (!j || json_array_append_new(arr, j)) rc = TK_ENOMEM;
        }
    }
    size_t total = all.len;
    pthread_mutex_unlock(&s->mu);
    tk_vec_free(&all);
    if (!rc) {
        *out = json_pack("{s:o, s:o}", "training_runs", arr, "cursor", cursor_json(offset, limit, total));
        arr = NULL;
        if (!*out) rc = TK_ENOMEM;
    }
    json_decref(arr);
    return rc ? tk_err_set(e, rc, "listing training runs: out of memory") : 0;
}

/* ---- staging and commit ---------------------------------------------------------------------- */

int tk_server_store_stage(tk_server_store *s, const char *run_id, tk_server_ckpt_kind kind, const char *name,
                          bool overwrite, tk_server_stage **out, tk_err *e) {
    *out = NULL;
    int rc = tk_server_name_check("checkpoint name", name, false, e);
    if (rc) return rc;
    pthread_mutex_lock(&s->mu);
    run *r = find_run(s, run_id);
    ckpt *c = r ? find_ckpt(r, kind, name, NULL) : NULL;
    uint64_t n = ++s->counter;
    if (!r) rc = tk_err_set(e, TK_ENOTFOUND, "training run \"%s\" not found", run_id);
    else if (c && !expired(c, tk_wall_s()) && !overwrite)
        rc = tk_err_set(e, TK_EEXIST, "checkpoint tinker://%s/%s/%s already exists (save with another name, or "
                        "delete it first)", run_id, tk_server_ckpt_kind_dir(kind), name);
    pthread_mutex_unlock(&s->mu);
    if (rc) return rc;
    tk_server_stage *st = calloc(1, sizeof *st);
    if (!st) return tk_err_set(e, TK_ENOMEM, "out of memory");
    st->run_id = tk_strdup(run_id);
    st->kind = kind;
    snprintf(st->name, sizeof st->name, "%s", name);
    st->overwrite = overwrite;
    st->dir = pathf("%s/stage-%ld-%llu", s->tmp_dir, (long)getpid(), (unsigned long long)n);
    st->payload_dir = st->dir ? tk_path_join(st->dir, "payload") : NULL;
    if (!st->run_id || !st->payload_dir) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    if (!rc) rc = tk_mkdir_p(st->payload_dir, 0755, e);
    if (rc) { tk_server_store_abort(s, st); return rc; }
    *out = st;
    return 0;
}

const char *tk_server_stage_payload_dir(const tk_server_stage *st) { return st->payload_dir; }

static void stage_free(tk_server_stage *st) {
    free(st->run_id);
    free(st->dir);
    free(st->payload_dir);
    free(st);
}

void tk_server_store_abort(tk_server_store *s, tk_server_stage *st) {
    if (!st) return;
    tk_err e = {0};
    if (st->dir && tk_remove_tree(st->dir, &e)) tk_warn("checkpoint store: %s", e.msg);
    stage_free(st);
}

/* fsync every file below dir (and dir itself), adding up regular-file sizes. */
static int sync_tree(const char *dir, uint64_t *size, tk_err *e) {
    DIR *d = opendir(dir);
    if (!d) return tk_err_set(e, TK_EIO, "%s: cannot open directory: %s", dir, strerror(errno));
    struct dirent *de;
    int rc = 0;
    while (!rc && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char *p = tk_path_join(dir, de->d_name);
        struct stat st;
        if (!p) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
        else if (lstat(p, &st)) rc = tk_err_set(e, TK_EIO, "%s: %s", p, strerror(errno));
        else if (S_ISDIR(st.st_mode)) rc = sync_tree(p, size, e);
        else if (S_ISREG(st.st_mode)) {
            int fd = open(p, O_RDONLY | O_CLOEXEC);
            if (fd < 0 || fsync(fd)) rc = tk_err_set(e, TK_EIO, "%s: fsync failed: %s", p, strerror(errno));
            if (fd >= 0) close(fd);
            *size += (uint64_t)st.st_size;
        } else
            rc = tk_err_set(e, TK_EINVAL, "%s: not a regular file or directory", p);
        free(p);
    }
    closedir(d);
    if (!rc) rc = tk_fsync_dir(dir, e);
    return rc;
}

int tk_server_store_commit(tk_server_store *s, tk_server_stage *st, double ttl_s, const json_t *extra,
                           char *path_out, tk_err *e) {
    uint64_t size = 0;
    int rc = sync_tree(st->payload_dir, &size, e);
    ckpt *c = rc ? NULL : calloc(1, sizeof *c);
    if (!rc && !c) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    char *final = NULL, *kdir = NULL, *old = NULL;
    if (!rc) {
        c->kind = st->kind;
        snprintf(c->name, sizeof c->name, "%s", st->name);
        c->created_wall = tk_wall_s();
        c->size_bytes = size;
        c->expires_wall = ttl_s > 0 ? c->created_wall + ttl_s : 0;
        c->extra = json_is_object(extra) ? json_deep_copy(extra) : json_object();
        run tmp_run = {0};
        snprintf(tmp_run.id, sizeof tmp_run.id, "%s", st->run_id);
        char *meta = tk_path_join(st->dir, "checkpoint.json");
        json_t *j = ckpt_file_json(&tmp_run, c);
        rc = meta ? write_json_file(meta, j, e) : tk_err_set(e, TK_ENOMEM, "out of memory");
        json_decref(j);
        free(meta);
        if (!rc) rc = tk_fsync_dir(st->dir, e);
    }
    if (!rc) {
        final = ckpt_dir(s, st->run_id, st->kind, st->name);
        kdir = pathf("%s/%s/%s", s->runs_dir, st->run_id, tk_server_ckpt_kind_dir(st->kind));
        if (!final || !kdir) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    }
    if (!rc) {
        pthread_mutex_lock(&s->mu);
        run *r = find_run(s, st->run_id);
        size_t idx = 0;
        ckpt *prev = r ? find_ckpt(r, st->kind, st->name, &idx) : NULL;
        if (!r) rc = tk_err_set(e, TK_ENOTFOUND, "training run \"%s\" not found", st->run_id);
        else if (prev && !expired(prev, c->created_wall) && !st->overwrite)
            rc = tk_err_set(e, TK_EEXIST, "checkpoint tinker://%s/%s/%s already exists", st->run_id,
                            tk_server_ckpt_kind_dir(st->kind), st->name);
        if (!rc) rc = tk_mkdir_p(kdir, 0755, e);
        if (!rc) {
            if (tk_path_exists(final)) {
                /* swap old and new in one step: readers see one or the other, never neither */
                if (renameat2(AT_FDCWD, st->dir, AT_FDCWD, final, RENAME_EXCHANGE))
                    rc = tk_err_set(e, TK_EIO, "%s: atomic exchange failed: %s", final, strerror(errno));
                else
                    old = st->dir, st->dir = NULL; /* the stage path now holds the old checkpoint */
            } else if (rename(st->dir, final)) {
                rc = tk_err_set(e, TK_EIO, "%s: rename failed: %s", final, strerror(errno));
            } else {
                free(st->dir);
                st->dir = NULL;
            }
        }
        if (!rc) rc = tk_fsync_dir(kdir, e);
        if (!rc) {
            if (prev) {
                ckpt_free(prev);
                memmove(r->ckpts.data + idx, r->ckpts.data + idx + 1, (r->ckpts.len - idx - 1) * sizeof *r->ckpts.data);
                r->ckpts.len--;
            }
            if (tk_vec_push(&r->ckpts, c)) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
            else {
                if (r->last_request_wall < c->created_wall) r->last_request_wall = c->created_wall;
                tk_err e2 = {0};
                if (save_run_meta(s, r, &e2)) tk_warn("checkpoint store: %s", e2.msg);
                if (path_out)
                    snprintf(path_out, TK_SERVER_PATH_MAX, "tinker://%s/%s/%s", r->id,
                             tk_server_ckpt_kind_dir(c->kind), c->name);
                c = NULL;
            }
        }
        pthread_mutex_unlock(&s->mu);
    }
    if (old) {
        tk_err e2 = {0};
        if (tk_remove_tree(old, &e2)) tk_warn("checkpoint store: %s", e2.msg);
        free(old);
    }
    ckpt_free(c);
    free(final);
    free(kdir);
    if (rc) tk_err_prefix(e, "saving checkpoint %s/%s of run %s: ", tk_server_ckpt_kind_dir(st->kind),
                          st->name, st->run_id);
    tk_server_store_abort(s, st);
    return rc;
}

/* ---- lookups and edits ----------------------------------------------------------------------- */

/* Find a live checkpoint under the lock; fills e with a 404-style message when absent. */
static ckpt *live_ckpt(tk_server_store *s, const char *run_id, tk_server_ckpt_kind kind, const char *name,
                       run **r_out, size_t *idx, tk_err *e) {
    run *r = find_run(s, run_id);
    ckpt *c = r ? find_ckpt(r, kind, name, idx) : NULL;
    if (!r) tk_err_set(e, TK_ENOTFOUND, "training run \"%s\" not found", run_id);
    else if (!c || expired(c, tk_wall_s()))
        tk_err_set(e, TK_ENOTFOUND, "checkpoint tinker://%s/%s/%s not found", run_id, tk_server_ckpt_kind_dir(kind),
                   name);
    if (r_out) *r_out = r;
    return c && !expired(c, tk_wall_s()) ? c : NULL;
}

int tk_server_store_find(tk_server_store *s, const char *run_id, tk_server_ckpt_kind kind, const char *name,
                         char **payload_dir_out, json_t **info_out, tk_err *e) {
    if (payload_dir_out) *payload_dir_out = NULL;
    if (info_out) *info_out = NULL;
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    run *r = NULL;
    ckpt *c = live_ckpt(s, run_id, kind, name, &r, NULL, e);
    if (!c) rc = TK_ENOTFOUND;
    if (!rc && payload_dir_out) {
        char *d = ckpt_dir(s, run_id, kind, name);
        *payload_dir_out = d ? tk_path_join(d, "payload") : NULL;
        free(d);
        if (!*payload_dir_out) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    }
    if (!rc && info_out) {
        json_t *j = ckpt_json(r, c);
        if (!j || json_object_set(j, "extra", c->extra) || json_object_set(j, "run", r->meta)) {
            json_decref(j);
            rc = tk_err_set(e, TK_ENOMEM, "out of memory");
        } else
            *info_out = j;
    }
    pthread_mutex_unlock(&s->mu);
    if (rc && payload_dir_out) { free(*payload_dir_out); *payload_dir_out = NULL; }
    return rc;
}

int tk_server_store_check(tk_server_store *s, const char *run_id, tk_server_ckpt_kind kind, const char *name,
                          const char *owner, bool write, bool *forbidden, tk_err *e) {
    *forbidden = false;
    pthread_mutex_lock(&s->mu);
    run *r = NULL;
    ckpt *c = live_ckpt(s, run_id, kind, name, &r, NULL, e);
    int rc = c ? 0 : TK_ENOTFOUND;
    if (!rc && !owned_by(r, owner) && (write || !c->is_public)) {
        *forbidden = true;
        rc = tk_err_set(e, TK_EINVAL, "checkpoint tinker://%s/%s/%s belongs to another API key%s", run_id,
                        tk_server_ckpt_kind_dir(kind), name, write ? "" : " and is not public");
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int tk_server_store_find_path(tk_server_store *s, const char *tinker_path, char **payload_dir_out,
                              json_t **info_out, tk_err *e) {
    char run_id[TK_SERVER_ID_MAX], name[TK_SERVER_NAME_MAX];
    tk_server_ckpt_kind kind;
    int rc = tk_server_tinker_path_parse(tinker_path, run_id, &kind, name, e);
    if (rc) return rc;
    return tk_server_store_find(s, run_id, kind, name, payload_dir_out, info_out, e);
}

typedef struct ckpt_ref {
    const run *r;
    const ckpt *c;
} ckpt_ref;

static int cmp_ref_newest(const void *a, const void *b) {
    const ckpt_ref *x = a, *y = b;
    if (x->c->created_wall != y->c->created_wall)
        return (x->c->created_wall < y->c->created_wall) - (x->c->created_wall > y->c->created_wall);
    int k = strcmp(x->r->id, y->r->id);
    return k ? k : strcmp(x->c->name, y->c->name);
}

int tk_server_store_list_ckpts(tk_server_store *s, const char *run_id, const tk_server_access *acc, int64_t offset,
                               int64_t limit, json_t **out, tk_err *e) {
    *out = NULL;
    json_t *arr = json_array();
    TK_VEC(ckpt_ref) all = {0};
    int rc = arr ? 0 : TK_ENOMEM;
    pthread_mutex_lock(&s->mu);
    double now = tk_wall_s();
    if (run_id) {
        run *r = find_run(s, run_id);
        tk_server_access wide = {acc ? acc->owner : NULL, TK_SERVER_SCOPE_ACCESSIBLE};
        if (!r || !in_scope(r, &wide, now)) rc = TK_ENOTFOUND;
        bool mine = !rc && owned_by(r, acc ? acc->owner : NULL);
        for (size_t i = 0; !rc && i < r->ckpts.len; i++)
            if (!expired(r->ckpts.data[i], now) && (mine || r->ckpts.data[i]->is_public))
                rc = tk_vec_push(&all, ((ckpt_ref){r, r->ckpts.data[i]}));
    } else {
        size_t pos = 0;
        const void *k;
        size_t kl;
        void *v;
        while (!rc && tk_map_next(s->runs, &pos, &k, &kl, &v)) {
            run *r = v;
            if (!owned_by(r, acc ? acc->owner : NULL)) continue;
            for (size_t i = 0; !rc && i < r->ckpts.len; i++)
                if (!expired(r->ckpts.data[i], now)) rc = tk_vec_push(&all, ((ckpt_ref){r, r->ckpts.data[i]}));
        }
    }
    if (!rc) {
        if (all.len) qsort(all.data, all.len, sizeof *all.data, cmp_ref_newest);
        for (size_t i = (size_t)offset; !rc && i < all.len && (int64_t)(i - (size_t)offset) < limit; i++) {
            json_t *j = ckpt_json(all.data[i].r, all.data[i].c);
            if (!j || json_array_append_new(arr, j)) rc = TK_ENOMEM;
        }
    }
    size_t total = all.len;
    pthread_mutex_unlock(&s->mu);
    tk_vec_free(&all);
    if (rc == TK_ENOTFOUND) {
        json_decref(arr);
        return tk_err_set(e, rc, "training run \"%s\" not found", run_id);
    }
    if (!rc) {
        *out = json_pack("{s:o, s:o}", "checkpoints", arr, "cursor", cursor_json(offset, limit, total));
        arr = NULL;
        if (!*out) rc = TK_ENOMEM;
    }
    json_decref(arr);
    return rc ? tk_err_set(e, rc, "listing checkpoints: out of memory") : 0;
}

/* Unlink an indexed checkpoint and move its directory to tmp/ (caller holds the lock). The
 * returned trash path (caller frees, then removes the tree outside the lock) may be NULL. */
static char *detach_ckpt(tk_server_store *s, run *r, size_t idx) {
    ckpt *c = r->ckpts.data[idx];
    char *dir = ckpt_dir(s, r->id, c->kind, c->name);
    char *trash = pathf("%s/trash-%llu", s->tmp_dir, (unsigned long long)++s->counter);
    if (dir && trash && rename(dir, trash)) {
        tk_warn("checkpoint store: cannot move %s to %s: %s", dir, trash, strerror(errno));
        free(trash);
        trash = NULL;
    }
    memmove(r->ckpts.data + idx, r->ckpts.data + idx + 1, (r->ckpts.len - idx - 1) * sizeof *r->ckpts.data);
    r->ckpts.len--;
    ckpt_free(c);
    free(dir);
    return trash;
}

static void remove_trash(char *trash) {
    if (!trash) return;
    tk_err e = {0};
    if (tk_remove_tree(trash, &e)) tk_warn("checkpoint store: %s", e.msg);
    free(trash);
}

int tk_server_store_delete(tk_server_store *s, const char *run_id, tk_server_ckpt_kind kind, const char *name,
                           tk_err *e) {
    pthread_mutex_lock(&s->mu);
    run *r = NULL;
    size_t idx = 0;
    ckpt *c = live_ckpt(s, run_id, kind, name, &r, &idx, e);
    char *trash = c ? detach_ckpt(s, r, idx) : NULL;
    pthread_mutex_unlock(&s->mu);
    remove_trash(trash);
    return c ? 0 : TK_ENOTFOUND;
}

int tk_server_store_set_public(tk_server_store *s, const char *run_id, tk_server_ckpt_kind kind, const char *name,
                               bool pub, tk_err *e) {
    pthread_mutex_lock(&s->mu);
    run *r = NULL;
    ckpt *c = live_ckpt(s, run_id, kind, name, &r, NULL, e);
    int rc = c ? 0 : TK_ENOTFOUND;
    if (c && c->is_public != pub) {
        c->is_public = pub;
        rc = save_ckpt_meta(s, r, c, e);
        if (rc) c->is_public = !pub;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int tk_server_store_set_ttl(tk_server_store *s, const char *run_id, tk_server_ckpt_kind kind, const char *name,
                            double ttl_s, tk_err *e) {
    if (ttl_s == 0 || ttl_s != ttl_s)
        return tk_err_set(e, TK_EINVAL, "ttl_seconds must be positive (or null to remove the expiry)");
    pthread_mutex_lock(&s->mu);
    run *r = NULL;
    ckpt *c = live_ckpt(s, run_id, kind, name, &r, NULL, e);
    int rc = c ? 0 : TK_ENOTFOUND;
    if (c) {
        double before = c->expires_wall;
        c->expires_wall = ttl_s < 0 ? 0 : tk_wall_s() + ttl_s;
        rc = save_ckpt_meta(s, r, c, e);
        if (rc) c->expires_wall = before;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

size_t tk_server_store_expire(tk_server_store *s, double now_wall) {
    TK_VEC(char *) trash = {0};
    size_t n = 0;
    pthread_mutex_lock(&s->mu);
    size_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    while (tk_map_next(s->runs, &pos, &k, &kl, &v)) {
        run *r = v;
        for (size_t i = r->ckpts.len; i-- > 0;) {
            if (!expired(r->ckpts.data[i], now_wall)) continue;
            tk_info("checkpoint store: tinker://%s/%s/%s expired", r->id,
                    tk_server_ckpt_kind_dir(r->ckpts.data[i]->kind), r->ckpts.data[i]->name);
            char *t = detach_ckpt(s, r, i);
            n++;
            if (t && tk_vec_push(&trash, t)) remove_trash(t);
        }
    }
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; i < trash.len; i++) remove_trash(trash.data[i]);
    tk_vec_free(&trash);
    return n;
}

/* ---- archives -------------------------------------------------------------------------------- */

typedef struct file_list {
    TK_VEC(char *) names;
    TK_VEC(char *) paths;
} file_list;

static void file_list_free(file_list *l) {
    for (size_t i = 0; i < l->names.len; i++) free(l->names.data[i]);
    for (size_t i = 0; i < l->paths.len; i++) free(l->paths.data[i]);
    tk_vec_free(&l->names);
    tk_vec_free(&l->paths);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int list_files(const char *dir, const char *prefix, file_list *l, tk_err *e) {
    DIR *d = opendir(dir);
    if (!d) return tk_err_set(e, TK_EIO, "%s: cannot open directory: %s", dir, strerror(errno));
    TK_VEC(char *) entries = {0};
    struct dirent *de;
    int rc = 0;
    while (!rc && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char *n = tk_strdup(de->d_name);
        if (!n || tk_vec_push(&entries, n)) { free(n); rc = tk_err_set(e, TK_ENOMEM, "out of memory"); }
    }
    closedir(d);
    if (entries.len) qsort(entries.data, entries.len, sizeof *entries.data, cmp_str); /* stable order */
    for (size_t i = 0; !rc && i < entries.len; i++) {
        char *p = tk_path_join(dir, entries.data[i]);
        char *n = *prefix ? pathf("%s/%s", prefix, entries.data[i]) : tk_strdup(entries.data[i]);
        struct stat st;
        if (!p || !n) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
        else if (lstat(p, &st)) rc = tk_err_set(e, TK_EIO, "%s: %s", p, strerror(errno));
        else if (S_ISDIR(st.st_mode)) rc = list_files(p, n, l, e);
        else if (S_ISREG(st.st_mode)) {
            if (tk_vec_push(&l->names, n)) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
            else n = NULL;
            if (!rc && tk_vec_push(&l->paths, p)) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
            else if (!rc) p = NULL;
        }
        free(p);
        free(n);
    }
    for (size_t i = 0; i < entries.len; i++) free(entries.data[i]);
    tk_vec_free(&entries);
    return rc;
}

int tk_server_store_archive(tk_server_store *s, const char *run_id, tk_server_ckpt_kind kind, const char *name,
                            tk_server_targz **out, tk_err *e) {
    *out = NULL;
    file_list l = {0};
    pthread_mutex_lock(&s->mu);
    run *r = NULL;
    ckpt *c = live_ckpt(s, run_id, kind, name, &r, NULL, e);
    int rc = c ? 0 : TK_ENOTFOUND;
    char *dir = c ? ckpt_dir(s, run_id, kind, name) : NULL;
    char *payload = dir ? tk_path_join(dir, "payload") : NULL;
    if (c && !payload) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    if (!rc) rc = list_files(payload, "", &l, e);
    /* opened under the lock: a concurrent delete cannot remove the files between list and open */
    if (!rc)
        rc = tk_server_targz_open((const char *const *)l.names.data, (const char *const *)l.paths.data, l.names.len,
                                  (int64_t)c->created_wall, out, e);
    pthread_mutex_unlock(&s->mu);
    file_list_free(&l);
    free(dir);
    free(payload);
    return rc;
}
