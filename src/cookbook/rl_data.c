/* Advantages, datums and the KL quantities of RL (rl/data_processing.py, rl/metrics.py). */
#include "tinkerc/rl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void tk_rl_compute_advantages(const tk_rl_group *g, double *adv) {
    double mean = 0;
    for (size_t i = 0; i < g->n; i++) mean += tk_rl_group_total_reward(g, i);
    if (g->n) mean /= (double)g->n;
    for (size_t i = 0; i < g->n; i++) adv[i] = tk_rl_group_total_reward(g, i) - mean;
}

bool tk_rl_group_is_constant(const tk_rl_group *g) {
    for (size_t i = 1; i < g->n; i++)
        if (tk_rl_group_total_reward(g, i) != tk_rl_group_total_reward(g, 0)) return false;
    return true;
}

/* The sequence being accumulated into one datum. */
typedef struct seq {
    tk_vec_i32 tok;
    tk_vec_f32 lp, adv, mask;
} seq;

static void seq_clear(seq *s) { s->tok.len = s->lp.len = s->adv.len = s->mask.len = 0; }
static void seq_free(seq *s) {
    tk_vec_free(&s->tok);
    tk_vec_free(&s->lp);
    tk_vec_free(&s->adv);
    tk_vec_free(&s->mask);
}

static int push4(seq *s, int32_t t, float lp, float adv, float mask) {
    if (tk_vec_push(&s->tok, t) || tk_vec_push(&s->lp, lp) || tk_vec_push(&s->adv, adv) || tk_vec_push(&s->mask, mask))
        return TK_ENOMEM;
    return 0;
}

/* Close the sequence into a datum (the right shift) and start a new one. */
static int close_datum(seq *s, size_t group, size_t traj, tk_arena *a, tk_rl_datums *out, tk_err *e) {
    size_t len = s->tok.len;
    if (len < 2) {
        seq_clear(s);
        return 0;
    }
    size_t n = len - 1;
    int32_t *in = tk_arena_alloc(a, n * sizeof *in);
    int64_t *tgt = tk_arena_alloc(a, n * sizeof *tgt);
    float *lp = tk_arena_alloc(a, n * sizeof *lp), *adv = tk_arena_alloc(a, n * sizeof *adv);
    float *mask = tk_arena_alloc(a, n * sizeof *mask);
    tk_wire_chunk *c = tk_arena_zalloc(a, sizeof *c);
    tk_wire_named_tensor *inputs = tk_arena_zalloc(a, 3 * sizeof *inputs);
    if (!in || !tgt || !lp || !adv || !mask || !c || !inputs) return tk_err_set(e, TK_ENOMEM, "out of memory");
    memcpy(in, s->tok.data, n * sizeof *in);
    for (size_t i = 0; i < n; i++) {
        tgt[i] = s->tok.data[i + 1];
        lp[i] = s->lp.data[i + 1];
        adv[i] = s->adv.data[i + 1];
        mask[i] = s->mask.data[i + 1];
    }
    c->type = TK_WIRE_CHUNK_ENCODED_TEXT;
    c->tokens = in;
    c->n_tokens = n;
    inputs[0] = (tk_wire_named_tensor){"target_tokens", tk_wire_tensor_view_i64(tgt, n)};
    inputs[1] = (tk_wire_named_tensor){"logprobs", tk_wire_tensor_view_f32(lp, n)};
    inputs[2] = (tk_wire_named_tensor){"advantages", tk_wire_tensor_view_f32(adv, n)};
    tk_rl_datum d = {.datum = {{c, 1}, {inputs, 3}}, .mask = mask, .n = n, .group = group, .traj = traj};
    seq_clear(s);
    return tk_vec_push(out, d) ? tk_err_set(e, TK_ENOMEM, "out of memory") : 0;
}

static bool is_prefix(const tk_vec_i32 *p, const tk_vec_i32 *of) {
    return p->len <= of->len && (p->len == 0 || !memcmp(p->data, of->data, p->len * sizeof *p->data));
}

int tk_rl_trajectory_to_data(const tk_rl_trajectory *t, double adv, size_t group, size_t traj, tk_arena *a,
                             tk_rl_datums *out, tk_err *e) {
    seq s = {0};
    int rc = 0;
    for (size_t k = 0; !rc && k < t->t.len; k++) {
        const tk_rl_transition *x = &t->t.data[k];
        if (x->ac_logprobs.len != x->ac.len) {
            rc = tk_err_set(e, TK_EINVAL, "group %zu trajectory %zu step %zu: %zu action tokens but %zu logprobs (the "
                                          "sampler must return logprobs)", group, traj, k, x->ac.len, x->ac_logprobs.len);
            break;
        }
        size_t from = 0;
        if (s.tok.len && is_prefix(&s.tok, &x->ob)) from = s.tok.len;   /* only the new suffix */
        else if (s.tok.len) rc = close_datum(&s, group, traj, a, out, e);
        for (size_t i = from; !rc && i < x->ob.len; i++)
            if (push4(&s, x->ob.data[i], 0, 0, 0)) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
        float A = x->parse_error_masked ? 0.0f : (float)adv, m = x->parse_error_masked ? 0.0f : 1.0f;
        for (size_t i = 0; !rc && i < x->ac.len; i++)
            if (push4(&s, x->ac.data[i], x->ac_logprobs.data[i], A, m)) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    }
    if (!rc && s.tok.len) rc = close_datum(&s, group, traj, a, out, e);
    seq_free(&s);
    return rc;
}

static const float *input_f32(const tk_rl_datum *d, const char *name) {
    const tk_wire_tensor *t = tk_wire_tensor_map_get(&d->datum.loss_fn_inputs, name);
    return t ? t->data.f32 : NULL;
}

void tk_rl_kl_sample_train(const tk_rl_datum *data, size_t n, const float *const *training, tk_rl_kl_metrics *out) {
    double s1 = 0, s2 = 0, ent = 0, cnt = 0;
    for (size_t i = 0; i < n; i++) {
        const float *lp = input_f32(&data[i], "logprobs");
        for (size_t k = 0; lp && k < data[i].n; k++) {
            if (!(data[i].mask[k] > 0)) continue;
            double d = (double)lp[k] - (double)training[i][k];
            s1 += d;
            s2 += d * d;
            ent -= lp[k];
            cnt += 1;
        }
    }
    out->kl_v1 = cnt ? s1 / cnt : NAN;
    out->kl_v2 = cnt ? 0.5 * s2 / cnt : NAN;
    out->entropy = cnt ? ent / cnt : NAN;
}

void tk_rl_apply_kl_penalty(tk_rl_datum *data, size_t n, const float *const *base, double coef, double discount,
                            double *kl_avg) {
    double sum = 0, msum = 0;
    for (size_t i = 0; i < n; i++) {
        const float *lp = input_f32(&data[i], "logprobs");
        for (size_t k = 0; k < data[i].n; k++) {
            sum += ((double)lp[k] - (double)base[i][k]) * data[i].mask[k];
            msum += data[i].mask[k];
        }
    }
    double avg = msum > 0 ? sum / msum : 0.0;
    if (kl_avg) *kl_avg = msum > 0 ? avg : NAN;
    for (size_t i = 0; i < n; i++) {
        const tk_wire_tensor *at = tk_wire_tensor_map_get(&data[i].datum.loss_fn_inputs, "advantages");
        const float *lp = input_f32(&data[i], "logprobs");
        float *adv = at->data.f32;
        double future = 0;
        /* x_t = coef·mask·(avg − d_t); with a discount, the sum x_t + γ·x_{t+1} + … (from the end) */
        for (size_t kk = data[i].n; kk-- > 0;) {
            double d = ((double)lp[kk] - (double)base[i][kk]) * data[i].mask[kk];
            double x = coef * data[i].mask[kk] * (avg - d);
            if (discount > 0) {
                future = x + discount * future;
                x = future;
            }
            adv[kk] = (float)((double)adv[kk] + x);
        }
    }
}
