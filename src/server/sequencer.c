/* seq_id ordering (see sequencer.h). Records live in one vector sorted by seq: arrivals are
 * nearly in order, so inserts land at or near the end, and the window bounds its length. */
#include "sequencer.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

enum { REC_BUFFERED, REC_RELEASED, REC_REJECTED };

void tk_server_seq_init(tk_server_seq *q, int64_t first) {
    memset(q, 0, sizeof *q);
    q->next = first;
}

void tk_server_seq_free(tk_server_seq *q) {
    for (size_t i = 0; i < q->recs.len; i++) free(q->recs.data[i].msg);
    tk_vec_free(&q->recs);
    q->n_buffered = 0;
}

/* Index of the first record with seq >= s. */
static size_t lower_bound(const tk_server_seq *q, int64_t s) {
    size_t lo = 0, hi = q->recs.len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (q->recs.data[mid].seq < s) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static tk_server_seq_rec *find(tk_server_seq *q, int64_t s) {
    size_t i = lower_bound(q, s);
    return i < q->recs.len && q->recs.data[i].seq == s ? &q->recs.data[i] : NULL;
}

static int insert(tk_server_seq *q, const tk_server_seq_rec *r) {
    if (tk_vec_reserve(&q->recs, q->recs.len + 1)) return TK_ENOMEM;
    size_t i = lower_bound(q, r->seq);
    memmove(q->recs.data + i + 1, q->recs.data + i, (q->recs.len - i) * sizeof *q->recs.data);
    q->recs.data[i] = *r;
    q->recs.len++;
    return 0;
}

/* Release everything contiguous from next; drop records that fell out of the retry window. */
static int advance(tk_server_seq *q, double now, tk_server_ptr_vec *released) {
    int64_t before = q->next;
    tk_server_seq_rec *r;
    while ((r = find(q, q->next)) != NULL) {
        if (r->state == REC_BUFFERED) {
            if (tk_vec_push(released, r->job)) return TK_ENOMEM;
            r->job = NULL;
            r->state = REC_RELEASED;
            q->n_buffered--;
        }
        q->next++;
    }
    size_t drop = 0;
    while (drop < q->recs.len && q->recs.data[drop].seq < q->next - TK_SERVER_SEQ_KEEP) free(q->recs.data[drop++].msg);
    if (drop) {
        memmove(q->recs.data, q->recs.data + drop, (q->recs.len - drop) * sizeof *q->recs.data);
        q->recs.len -= drop;
    }
    if (q->n_buffered == 0) q->blocked_since = 0;
    else if (q->blocked_since == 0 || q->next != before) q->blocked_since = now; /* progress restarts the clock */
    return 0;
}

/* What a request for an already recorded seq gets. */
static void answer_existing(const tk_server_seq_rec *r, const char *model_id, uint64_t hash, tk_server_seq_result *res) {
    if (r->state == REC_REJECTED) {
        res->outcome = TK_SERVER_SEQ_REFUSED;
        snprintf(res->msg, sizeof res->msg, "%s", r->msg ? r->msg : "rejected");
    } else if (hash && r->hash && hash != r->hash) {
        res->outcome = TK_SERVER_SEQ_REFUSED;
        snprintf(res->msg, sizeof res->msg,
                 "seq_id %" PRId64 " of model %s was already used by a different request (request_id %s); "
                 "each request needs its own seq_id", r->seq, model_id, r->rid);
    } else {
        res->outcome = TK_SERVER_SEQ_DUPLICATE;
        memcpy(res->rid, r->rid, sizeof res->rid);
    }
}

/* Common checks: 1 = answered in res (no change), 0 = the seq is new and inside the window. */
static int precheck(tk_server_seq *q, const char *model_id, int64_t seq, uint64_t hash, tk_server_seq_result *res) {
    memset(res, 0, sizeof *res);
    tk_server_seq_rec *r = find(q, seq);
    if (r) {
        answer_existing(r, model_id, hash, res);
        return 1;
    }
    res->outcome = TK_SERVER_SEQ_REFUSED;
    if (seq < q->next) {
        snprintf(res->msg, sizeof res->msg,
                 "seq_id %" PRId64 " of model %s is behind the queue (next expected seq_id %" PRId64
                 "): it was skipped after a gap timeout, or is older than the retry window", seq, model_id, q->next);
        return 1;
    }
    if (seq - q->next >= TK_SERVER_SEQ_MAX_AHEAD) {
        snprintf(res->msg, sizeof res->msg,
                 "seq_id %" PRId64 " of model %s is too far ahead of the next expected seq_id %" PRId64
                 " (at most %d ahead)", seq, model_id, q->next, TK_SERVER_SEQ_MAX_AHEAD);
        return 1;
    }
    res->outcome = TK_SERVER_SEQ_QUEUED;
    return 0;
}

int tk_server_seq_submit(tk_server_seq *q, const char *model_id, int64_t seq, uint64_t hash, const char *rid,
                         void *job, double now, tk_server_ptr_vec *released, tk_server_seq_result *res) {
    if (precheck(q, model_id, seq, hash, res)) return 0;
    tk_server_seq_rec r = {.seq = seq, .hash = hash, .state = REC_BUFFERED, .job = job};
    snprintf(r.rid, sizeof r.rid, "%s", rid);
    if (insert(q, &r)) return TK_ENOMEM;
    q->n_buffered++;
    memcpy(res->rid, r.rid, sizeof res->rid);
    return advance(q, now, released);
}

int tk_server_seq_reject(tk_server_seq *q, const char *model_id, int64_t seq, uint64_t hash, const char *msg,
                         double now, tk_server_ptr_vec *released, tk_server_seq_result *res) {
    if (precheck(q, model_id, seq, hash, res)) return 0;
    tk_server_seq_rec r = {.seq = seq, .hash = hash, .state = REC_REJECTED, .msg = tk_strdup(msg ? msg : "rejected")};
    if (!r.msg || insert(q, &r)) {
        free(r.msg);
        return TK_ENOMEM;
    }
    res->outcome = TK_SERVER_SEQ_REFUSED;
    snprintf(res->msg, sizeof res->msg, "%s", r.msg);
    return advance(q, now, released);
}

int64_t tk_server_seq_expire(tk_server_seq *q, double now, double timeout_s, tk_server_ptr_vec *released) {
    if (q->n_buffered == 0 || q->blocked_since == 0 || now - q->blocked_since < timeout_s) return 0;
    size_t i = lower_bound(q, q->next);
    while (i < q->recs.len && q->recs.data[i].state != REC_BUFFERED) i++;
    if (i == q->recs.len) return 0;
    int64_t skipped = q->recs.data[i].seq - q->next;
    q->next = q->recs.data[i].seq;
    if (advance(q, now, released)) return -1;
    return skipped;
}

int tk_server_seq_drain(tk_server_seq *q, tk_server_ptr_vec *jobs) {
    for (size_t i = 0; i < q->recs.len; i++) {
        tk_server_seq_rec *r = &q->recs.data[i];
        if (r->state != REC_BUFFERED) continue;
        if (tk_vec_push(jobs, r->job)) return TK_ENOMEM;
        r->job = NULL;
        r->state = REC_REJECTED; /* a retry of a drained seq is refused */
        free(r->msg);
        r->msg = tk_strdup("the model was unloaded before this request ran");
        q->n_buffered--;
    }
    q->blocked_since = 0;
    return 0;
}
