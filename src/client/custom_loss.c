/* forward_backward_custom (§6.8): a forward pass with cross_entropy, the caller's callback on
 * the logprobs, then a forward_backward with weights = -grad. Both passes take their seq_ids at
 * submit time; the lane is held from the first pass until the second is POSTed (training.c), so
 * requests submitted meanwhile keep their seq order on the wire. If the first pass or the
 * callback fails, or the task is cancelled, the second pass still goes out, with zero weights:
 * a zero gradient, and no gap in the model's seq_ids. */
#include "internal.h"
#include "sdk.h"

#include <string.h>

typedef struct custom_ctx {
    tk_client_training *tc;       /* a reference */
    tk_arena *arena;              /* the datums' copies, decoded outputs, the callback's metrics */
    tk_wire_datum *data;          /* the copies: target_tokens and weights (zeros if absent) */
    size_t n;
    tk_chunks ch;
    int64_t seq2;                 /* first seq_id of the second pass */
    tk_client_custom_loss_fn fn;
    void *user;
    int stage;                    /* 1: forward pass in flight, 2: the second pass */
    /* under tc->mu */
    bool hold_opened;             /* the first pass was POSTed and holds the lane */
    bool sent2;                   /* the second pass (real or zero) has been handed over */
    tk_wire_f64_map metrics;      /* the callback's */
} custom_ctx;

static void ctx_free(void *p) {
    custom_ctx *x = p;
    if (!x) return;
    if (x->tc) tk_training_unref(x->tc);
    tk_arena_free(x->arena);
    free(x->ch.start);
    free(x);
}

const tk_wire_f64_map *tk_custom_loss_metrics(tk_task *t);
const tk_wire_f64_map *tk_custom_loss_metrics(tk_task *t) {
    custom_ctx *x = t->ctx;
    return x ? &x->metrics : NULL;
}

/* ---- copying and checking the datums --------------------------------------------------------- */

static int copy_chunk(tk_arena *a, const tk_wire_chunk *src, tk_wire_chunk *dst) {
    *dst = *src;
    if (src->n_tokens) {
        dst->tokens = tk_arena_alloc(a, src->n_tokens * sizeof *dst->tokens);
        if (!dst->tokens) return TK_ENOMEM;
        memcpy(dst->tokens, src->tokens, src->n_tokens * sizeof *dst->tokens);
    }
    if (src->n_data) {
        dst->data = tk_arena_alloc(a, src->n_data);
        if (!dst->data) return TK_ENOMEM;
        memcpy(dst->data, src->data, src->n_data);
    }
    if (src->format && !(dst->format = tk_arena_strdup(a, src->format))) return TK_ENOMEM;
    if (src->location && !(dst->location = tk_arena_strdup(a, src->location))) return TK_ENOMEM;
    return 0;
}

/* Check datum i (only target_tokens and weights, both 1-D of the input's length) and copy it
 * with weights present, as the first pass sends it. */
static int copy_datum(tk_arena *a, const tk_wire_datum *src, size_t i, tk_wire_datum *dst,
                      tk_err *e) {
    int64_t len = 0;
    int rc = tk_wire_model_input_length(&src->model_input, &len, e);
    if (rc) return tk_err_prefix(e, "data[%zu].model_input: ", i);
    const tk_wire_tensor *tt = NULL, *w = NULL;
    for (size_t k = 0; k < src->loss_fn_inputs.n; k++) {
        const char *name = src->loss_fn_inputs.items[k].name;
        if (!strcmp(name, "target_tokens")) tt = &src->loss_fn_inputs.items[k].tensor;
        else if (!strcmp(name, "weights")) w = &src->loss_fn_inputs.items[k].tensor;
        else
            return tk_err_set(e, TK_EINVAL, "data[%zu].loss_fn_inputs.%s: a custom loss takes "
                              "only target_tokens and weights", i, name);
    }
    if (!tt)
        return tk_err_set(e, TK_EINVAL, "data[%zu].loss_fn_inputs: target_tokens is required",
                          i);
    int64_t dims[1] = {len};
    char where[64];
    snprintf(where, sizeof where, "data[%zu].loss_fn_inputs.target_tokens", i);
    if ((rc = tk_wire_tensor_validate(tt, where, e)) ||
        (rc = tk_wire_tensor_check_shape(tt, where, TK_WIRE_INT64, 1, dims, e)))
        return rc;
    if (w) {
        snprintf(where, sizeof where, "data[%zu].loss_fn_inputs.weights", i);
        if ((rc = tk_wire_tensor_validate(w, where, e)) ||
            (rc = tk_wire_tensor_check_shape(w, where, TK_WIRE_FLOAT32, 1, dims, e)))
            return rc;
    }
    size_t n = (size_t)len;
    dst->model_input.n_chunks = src->model_input.n_chunks;
    dst->model_input.chunks = tk_arena_zalloc(a, (src->model_input.n_chunks + 1) *
                                                     sizeof *dst->model_input.chunks);
    dst->loss_fn_inputs.items = tk_arena_zalloc(a, 2 * sizeof *dst->loss_fn_inputs.items);
    int64_t *targets = tk_arena_alloc(a, (n ? n : 1) * sizeof *targets);
    float *weights = tk_arena_zalloc(a, (n ? n : 1) * sizeof *weights);
    if (!dst->model_input.chunks || !dst->loss_fn_inputs.items || !targets || !weights)
        return tk_err_set(e, TK_ENOMEM, "forward_backward_custom: out of memory");
    for (size_t k = 0; k < src->model_input.n_chunks; k++)
        if (copy_chunk(a, &src->model_input.chunks[k], &dst->model_input.chunks[k]))
            return tk_err_set(e, TK_ENOMEM, "forward_backward_custom: out of memory");
    if (n) memcpy(targets, tt->data.i64, n * sizeof *targets);
    if (w && n) memcpy(weights, w->data.f32, n * sizeof *weights);
    dst->loss_fn_inputs.n = 2;
    dst->loss_fn_inputs.items[0].name = "target_tokens";
    dst->loss_fn_inputs.items[0].tensor = tk_wire_tensor_view_i64(targets, n);
    dst->loss_fn_inputs.items[1].name = "weights";
    dst->loss_fn_inputs.items[1].tensor = tk_wire_tensor_view_f32(weights, n);
    return 0;
}

/* ---- the second pass ------------------------------------------------------------------------- */

/* Build and hand over the second pass; weights NULL sends zeros (the gap filler). Call with
 * tc->mu held, once (sent2 guards it). */
static int send_second_pass(tk_task *t, custom_ctx *x, float *const *weights, tk_err *e) {
    tk_client_training *tc = x->tc;
    x->sent2 = true;
    tk_wire_datum *d2 = tk_arena_zalloc(x->arena, x->n * sizeof *d2);
    if (!d2) return tk_err_set(e, TK_ENOMEM, "forward_backward_custom: out of memory");
    for (size_t i = 0; i < x->n; i++) {
        const tk_wire_datum *src = &x->data[i];
        tk_wire_named_tensor *items = tk_arena_alloc(x->arena, 2 * sizeof *items);
        if (!items) return tk_err_set(e, TK_ENOMEM, "forward_backward_custom: out of memory");
        size_t len = src->loss_fn_inputs.items[0].tensor.n;
        float *w = tk_arena_zalloc(x->arena, (len ? len : 1) * sizeof *w);
        if (!w) return tk_err_set(e, TK_ENOMEM, "forward_backward_custom: out of memory");
        for (size_t k = 0; weights && k < len; k++) w[k] = -weights[i][k];
        items[0] = src->loss_fn_inputs.items[0];
        items[1].name = "weights";
        items[1].tensor = tk_wire_tensor_view_f32(w, len);
        d2[i].model_input = src->model_input;
        d2[i].loss_fn_inputs.items = items;
        d2[i].loss_fn_inputs.n = 2;
    }
    size_t m = x->ch.n_chunks;
    tk_client_call_spec *specs = tk_calloc_array(m, sizeof *specs);
    size_t *datums = tk_calloc_array(m, sizeof *datums);
    int rc = specs && datums ? 0 : tk_err_set(e, TK_ENOMEM, "forward_backward_custom: out of memory");
    if (!rc) {
        for (size_t k = 0; k < m; k++) datums[k] = x->ch.start[k + 1] - x->ch.start[k];
        rc = tk_fwdbwd_build_specs(tc, d2, &x->ch, false, TK_WIRE_LOSS_CROSS_ENTROPY, NULL,
                                   x->seq2, specs, e);
    }
    if (!rc) {
        if (x->hold_opened) {
            rc = tk_training_submit_now_locked(tc, specs, m, true, datums, t, e);
            tk_training_release_hold_locked(tc);
        } else {
            /* the first pass is still waiting in the client: it must no longer hold the lane
             * once sent, and this goes right behind it */
            for (tk_deferred *d = tc->dhead; d; d = d->next)
                if (d->task == t) d->hold_opened = NULL;
            rc = tk_training_submit_locked(tc, specs, m, true, datums, t, NULL, e);
        }
    } else if (x->hold_opened) {
        tk_training_release_hold_locked(tc);   /* nothing to send: at least free the lane */
    }
    free(specs);
    free(datums);
    return rc;
}

static void custom_failed(tk_task *t) {
    custom_ctx *x = t->ctx;
    pthread_mutex_lock(&x->tc->mu);
    if (!x->sent2) {
        tk_err e = {0};
        if (send_second_pass(t, x, NULL, &e))
            tk_warn("forward_backward_custom (model %s): the zero-weight second pass could not "
                    "be sent: %s", x->tc->model_id, e.msg);
    }
    pthread_mutex_unlock(&x->tc->mu);
}

static int custom_advance(tk_task *t, tk_err *e) {
    custom_ctx *x = t->ctx;
    if (x->stage == 2) return 0;
    /* the forward pass's logprobs, datum by datum */
    size_t m = x->ch.n_chunks;
    const float **lp = tk_arena_zalloc(x->arena, (x->n + 1) * sizeof *lp);
    size_t *len = tk_arena_zalloc(x->arena, (x->n + 1) * sizeof *len);
    float **grad = tk_arena_zalloc(x->arena, (x->n + 1) * sizeof *grad);
    if (!lp || !len || !grad) return tk_err_set(e, TK_ENOMEM, "%s: out of memory", t->what);
    for (size_t k = 0; k < m; k++) {
        tk_wire_forward_backward_output o;
        int rc = tk_task_decode(t, tk_task_part_response(t, k),
                                TK_WIRE_MSG_FORWARD_BACKWARD_OUTPUT, x->arena, &o, e);
        if (rc) return tk_err_prefix(e, "forward pass, chunk %zu: ", k);
        size_t first = x->ch.start[k], cnt = x->ch.start[k + 1] - first;
        if (o.n_loss_fn_outputs != cnt)
            return tk_err_set(e, TK_EPARSE, "%s: forward pass, chunk %zu: %zu loss_fn_outputs "
                              "for %zu datums", t->what, k, o.n_loss_fn_outputs, cnt);
        for (size_t j = 0; j < cnt; j++) {
            size_t i = first + j;
            const tk_wire_tensor *lt = tk_wire_tensor_map_get(&o.loss_fn_outputs[j], "logprobs");
            size_t want = x->data[i].loss_fn_inputs.items[0].tensor.n;
            if (!lt || lt->dtype != TK_WIRE_FLOAT32 || lt->n != want)
                return tk_err_set(e, TK_EPARSE, "%s: forward pass: loss_fn_outputs[%zu]."
                                  "logprobs: expected %zu float32 values", t->what, i, want);
            lp[i] = lt->data.f32;
            len[i] = want;
            grad[i] = tk_arena_zalloc(x->arena, (want ? want : 1) * sizeof *grad[i]);
            if (!grad[i]) return tk_err_set(e, TK_ENOMEM, "%s: out of memory", t->what);
        }
    }
    tk_client_custom_loss_io io = {.data = x->data, .n = x->n, .logprobs = lp, .len = len,
                                   .grad = grad, .arena = x->arena};
    tk_err ue = {0};
    int rc = x->fn(&io, x->user, &ue);
    if (rc) {
        return tk_err_set(e, rc < 0 ? rc : TK_EINVAL, "%s: the loss callback failed: %s",
                          t->what, ue.msg[0] ? ue.msg : tk_strerror(rc));
    }
    for (size_t i = 0; i < io.metrics.n; i++)
        if (!io.metrics.items || !io.metrics.items[i].key)
            return tk_err_set(e, TK_EINVAL, "%s: the loss callback's metric %zu has no key",
                              t->what, i);
    x->metrics = io.metrics;
    tk_task_clear_parts(t);
    x->stage = 2;
    pthread_mutex_lock(&x->tc->mu);
    rc = x->sent2 ? tk_err_set(e, TK_ECANCELED, "%s: cancelled", t->what)
                  : send_second_pass(t, x, grad, e);
    pthread_mutex_unlock(&x->tc->mu);
    return rc ? rc : TK_TASK_CONTINUE;
}

static const tk_task_ops custom_ops = {.advance = custom_advance, .failed = custom_failed,
                                       .free_ctx = ctx_free};

int tk_client_training_forward_backward_custom(tk_client_training *t, const tk_wire_datum *data,
                                               size_t n, tk_client_custom_loss_fn fn,
                                               void *user, tk_client_task **out, tk_err *e) {
    *out = NULL;
    const char *what = "forward_backward_custom";
    if (!data || n == 0) return tk_err_set(e, TK_EINVAL, "%s: no data", what);
    if (!fn) return tk_err_set(e, TK_EINVAL, "%s: no loss callback", what);
    custom_ctx *x = calloc(1, sizeof *x);
    if (!x || !(x->arena = tk_arena_new(0)) ||
        !(x->data = tk_arena_zalloc(x->arena, n * sizeof *x->data))) {
        if (x) tk_arena_free(x->arena);
        free(x);
        return tk_err_set(e, TK_ENOMEM, "%s: out of memory", what);
    }
    x->n = n;
    x->fn = fn;
    x->user = user;
    x->stage = 1;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) rc = copy_datum(x->arena, &data[i], i, &x->data[i], e);
    if (!rc) rc = tk_fwdbwd_split(t->svc, x->data, n, &x->ch, e);
    if (rc) {
        ctx_free(x);
        return tk_err_prefix(e, "%s: ", what);
    }
    x->tc = t;
    tk_training_ref(t);
    char name[160];
    snprintf(name, sizeof name, "%s (model %.100s, %zu datum%s)", what, t->model_id, n,
             n == 1 ? "" : "s");
    tk_task *task = tk_task_new(t->svc, TK_CLIENT_TASK_FORWARD_BACKWARD_CUSTOM,
                                TK_WIRE_MSG_FORWARD_BACKWARD_OUTPUT, name);
    size_t m = x->ch.n_chunks;
    tk_client_call_spec *specs = tk_calloc_array(m, sizeof *specs);
    size_t *datums = tk_calloc_array(m, sizeof *datums);
    if (!task || !specs || !datums) {
        free(specs);
        free(datums);
        if (task) tk_client_task_release(task);
        ctx_free(x);
        return tk_err_set(e, TK_ENOMEM, "%s: out of memory", what);
    }
    task->ops = &custom_ops;
    task->ctx = x;
    for (size_t k = 0; k < m; k++) datums[k] = x->ch.start[k + 1] - x->ch.start[k];
    pthread_mutex_lock(&t->mu);
    rc = tk_fwdbwd_build_specs(t, x->data, &x->ch, true, TK_WIRE_LOSS_CROSS_ENTROPY, NULL,
                               t->seq + 1, specs, e);
    if (!rc) {
        x->seq2 = t->seq + 1 + (int64_t)m;
        rc = tk_training_submit_locked(t, specs, m, true, datums, task, &x->hold_opened, e);
    }
    if (!rc) t->seq += 2 * (int64_t)m;
    else x->sent2 = true;   /* nothing was taken: no second pass owed */
    pthread_mutex_unlock(&t->mu);
    free(specs);
    free(datums);
    if (rc) {
        tk_client_task_release(task);
        return rc;
    }
    *out = task;
    return 0;
}
