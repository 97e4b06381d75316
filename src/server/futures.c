/* Futures table (see futures.h). One mutex guards the map; each future has its own condition
 * variable so a completion wakes only that future's waiters, not every long-poll in the server. */
#include "futures.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

tk_server_blob *tk_server_blob_from_buf(tk_buf *b) {
    tk_server_blob *bl = malloc(sizeof *bl);
    if (!bl) { tk_buf_free(b); return NULL; }
    size_t n = 0;
    bl->data = tk_buf_detach(b, &n);
    if (!bl->data) { free(bl); return NULL; }
    bl->len = n;
    atomic_init(&bl->refs, 1);
    return bl;
}

tk_server_blob *tk_server_blob_new(const void *p, size_t n) {
    tk_buf b = {0};
    if (tk_buf_append(&b, p, n)) { tk_buf_free(&b); return NULL; }
    return tk_server_blob_from_buf(&b);
}

tk_server_blob *tk_server_blob_ref(tk_server_blob *b) {
    if (b) atomic_fetch_add(&b->refs, 1);
    return b;
}

void tk_server_blob_unref(tk_server_blob *b) {
    if (b && atomic_fetch_sub(&b->refs, 1) == 1) {
        free(b->data);
        free(b);
    }
}

const char *tk_server_category_name(tk_server_category c) { return c == TK_SERVER_CAT_SERVER ? "server" : "user"; }

typedef enum { ST_PENDING, ST_DONE, ST_FAILED } fstate;

typedef struct entry {
    char id[TK_SERVER_ID_MAX];
    char type[32];
    fstate state;
    tk_server_blob *json, *proto;
    char *error;
    tk_server_category category;
    double settled_at; /* tk_now_s */
    int waiters;
    pthread_cond_t cv;
} entry;

struct tk_server_futures {
    pthread_mutex_t mu;
    tk_map *map;
    char prefix[16];   /* random per instance, so ids of a previous server are never mistaken */
    uint64_t next;
    bool closing;
};

tk_server_futures *tk_server_futures_new(void) {
    tk_server_futures *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->map = tk_map_new(256);
    if (!f->map) { free(f); return NULL; }
    pthread_mutex_init(&f->mu, NULL);
    char u[37];
    tk_uuid4(u);
    memcpy(f->prefix, u, 8);
    f->prefix[8] = '\0';
    f->next = 1;
    return f;
}

static void entry_free(entry *en) {
    tk_server_blob_unref(en->json);
    tk_server_blob_unref(en->proto);
    free(en->error);
    pthread_cond_destroy(&en->cv);
    free(en);
}

void tk_server_futures_free(tk_server_futures *f) {
    if (!f) return;
    size_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    while (tk_map_next(f->map, &pos, &k, &kl, &v)) entry_free(v);
    tk_map_free(f->map);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

int tk_server_futures_create(tk_server_futures *f, const char *type, char id_out[TK_SERVER_ID_MAX], tk_err *e) {
    entry *en = calloc(1, sizeof *en);
    if (!en) return tk_err_set(e, TK_ENOMEM, "futures: out of memory");
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&en->cv, &ca);
    pthread_condattr_destroy(&ca);
    snprintf(en->type, sizeof en->type, "%s", type ? type : "");
    en->state = ST_PENDING;
    pthread_mutex_lock(&f->mu);
    snprintf(en->id, sizeof en->id, "%s-%" PRIu64, f->prefix, f->next++);
    int rc = tk_map_sput(f->map, en->id, en);
    pthread_mutex_unlock(&f->mu);
    if (rc) {
        entry_free(en);
        return tk_err_set(e, TK_ENOMEM, "futures: out of memory");
    }
    memcpy(id_out, en->id, sizeof en->id);
    return 0;
}

void tk_server_futures_discard(tk_server_futures *f, const char *id) {
    pthread_mutex_lock(&f->mu);
    void *v = NULL;
    if (tk_map_sget(f->map, id, &v) && ((entry *)v)->waiters == 0) {
        tk_map_del(f->map, id, strlen(id));
        entry_free(v);
    }
    pthread_mutex_unlock(&f->mu);
}

static entry *settle_begin(tk_server_futures *f, const char *id) {
    void *v = NULL;
    if (!tk_map_sget(f->map, id, &v)) return NULL;
    entry *en = v;
    return en->state == ST_PENDING ? en : NULL;
}

void tk_server_futures_succeed(tk_server_futures *f, const char *id, tk_server_blob *json, tk_server_blob *proto) {
    pthread_mutex_lock(&f->mu);
    entry *en = settle_begin(f, id);
    if (en) {
        en->json = json;
        en->proto = proto;
        json = proto = NULL;
        en->state = ST_DONE;
        en->settled_at = tk_now_s();
        pthread_cond_broadcast(&en->cv);
    }
    pthread_mutex_unlock(&f->mu);
    tk_server_blob_unref(json);
    tk_server_blob_unref(proto);
}

void tk_server_futures_fail(tk_server_futures *f, const char *id, tk_server_category cat, const char *msg) {
    char *m = tk_strdup(msg ? msg : "request failed");
    pthread_mutex_lock(&f->mu);
    entry *en = settle_begin(f, id);
    if (en) {
        en->error = m;
        m = NULL;
        en->category = cat;
        en->state = ST_FAILED;
        en->settled_at = tk_now_s();
        pthread_cond_broadcast(&en->cv);
    }
    pthread_mutex_unlock(&f->mu);
    free(m);
}

/* Was this id issued by this instance (and so, if absent now, expired)? */
static bool issued_here(const tk_server_futures *f, const char *id) {
    size_t pl = strlen(f->prefix);
    if (strncmp(id, f->prefix, pl) || id[pl] != '-' || !id[pl + 1]) return false;
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(id + pl + 1, &end, 10);
    return !errno && *end == '\0' && id[pl + 1] != '0' && n > 0 && n < f->next;
}

tk_server_wait_status tk_server_futures_wait(tk_server_futures *f, const char *id, double timeout_s,
                                             tk_server_future_view *out) {
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    if (timeout_s > 0) {
        double whole = (double)(int64_t)timeout_s;
        deadline.tv_sec += (time_t)whole;
        deadline.tv_nsec += (long)((timeout_s - whole) * 1e9);
        if (deadline.tv_nsec >= 1000000000L) { deadline.tv_sec++; deadline.tv_nsec -= 1000000000L; }
    }
    tk_server_wait_status st;
    pthread_mutex_lock(&f->mu);
    void *v = NULL;
    if (!tk_map_sget(f->map, id, &v)) {
        st = issued_here(f, id) ? TK_SERVER_WAIT_EXPIRED : TK_SERVER_WAIT_UNKNOWN;
        pthread_mutex_unlock(&f->mu);
        return st;
    }
    entry *en = v;
    en->waiters++; /* pins the entry: expiry skips futures with waiters */
    while (en->state == ST_PENDING && !f->closing && timeout_s > 0) {
        int rc = pthread_cond_timedwait(&en->cv, &f->mu, &deadline);
        if (rc == ETIMEDOUT) break;
    }
    en->waiters--;
    memcpy(out->type, en->type, sizeof out->type);
    if (en->state == ST_DONE) {
        out->json = tk_server_blob_ref(en->json);
        out->proto = tk_server_blob_ref(en->proto);
        st = TK_SERVER_WAIT_DONE;
    } else if (en->state == ST_FAILED) {
        out->error = tk_strdup(en->error);
        out->category = en->category;
        st = TK_SERVER_WAIT_FAILED;
    } else
        st = TK_SERVER_WAIT_PENDING;
    pthread_mutex_unlock(&f->mu);
    return st;
}

void tk_server_future_view_clear(tk_server_future_view *v) {
    tk_server_blob_unref(v->json);
    tk_server_blob_unref(v->proto);
    free(v->error);
    memset(v, 0, sizeof *v);
}

void tk_server_futures_close(tk_server_futures *f) {
    pthread_mutex_lock(&f->mu);
    f->closing = true;
    size_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    while (tk_map_next(f->map, &pos, &k, &kl, &v)) pthread_cond_broadcast(&((entry *)v)->cv);
    pthread_mutex_unlock(&f->mu);
}

size_t tk_server_futures_expire(tk_server_futures *f, double now, double ttl_s) {
    size_t n = 0;
    pthread_mutex_lock(&f->mu);
    size_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    while (tk_map_next(f->map, &pos, &k, &kl, &v)) {
        entry *en = v;
        if (en->state == ST_PENDING || en->waiters > 0 || now - en->settled_at < ttl_s) continue;
        tk_map_del(f->map, k, kl); /* deleting the current key while iterating is allowed */
        entry_free(en);
        n++;
    }
    pthread_mutex_unlock(&f->mu);
    return n;
}

size_t tk_server_futures_count(tk_server_futures *f) {
    pthread_mutex_lock(&f->mu);
    size_t n = tk_map_len(f->map);
    pthread_mutex_unlock(&f->mu);
    return n;
}
