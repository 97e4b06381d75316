/* Token choice from one row of logits. The procedure (docs/ENGINE.md "Sampling procedure"):
 *
 *   greedy (T < TK_ENGINE_GREEDY_TEMPERATURE): argmax z, lowest id on ties; no draw.
 *   w_j = exp(((double)z_j - (double)zmax) / T)
 *   order: (w desc, id asc)
 *   K = the first top_k tokens in that order (all when top_k is off)
 *   W_K = sum of w over K in ascending id order
 *   F = the shortest prefix of K in that order whose running sum (in that order) is >= top_p·W_K
 *       (K when top_p >= 1)
 *   u = tk_rng_f64(rng); target = u · W_F (W_F summed in ascending id order)
 *   the token is the first of F in ascending id order whose running sum exceeds target (the last
 *   one of F if rounding leaves none)
 *
 * The fast version avoids sorting the vocabulary: without top-k/top-p it is one pass; top-k and
 * top-p sort only the tokens above a weight threshold that is lowered until the set provably
 * contains the answer. tk_choose_token_naive sorts everything; the tests check they agree. */
#include "sampling.h"

#include "tinkerc/engine.h"

#include <math.h>
#include <string.h>

int tk_sampling_scratch_reserve(tk_sampling_scratch *s, size_t V) {
    if (V <= s->cap) return 0;
    double *w = realloc(s->w, V * sizeof *w);
    if (w) s->w = w;
    uint8_t *k = realloc(s->keep, V);
    if (k) s->keep = k;
    tk_cand *c = realloc(s->cand, V * sizeof *c);
    if (c) s->cand = c;
    if (!w || !k || !c) return TK_ENOMEM;
    s->cap = V;
    return 0;
}

void tk_sampling_scratch_free(tk_sampling_scratch *s) {
    free(s->w);
    free(s->keep);
    free(s->cand);
    memset(s, 0, sizeof *s);
}

float tk_row_lse(const float *z, int32_t V) {
    float mx = z[0];
    for (int32_t j = 1; j < V; j++) mx = z[j] > mx ? z[j] : mx;
    double sum = 0;
    for (int32_t j = 0; j < V; j++) sum += expf(z[j] - mx);
    return mx + (float)log(sum);
}

static int32_t argmax(const float *z, int32_t V) {
    int32_t best = 0;
    for (int32_t j = 1; j < V; j++)
        if (z[j] > z[best]) best = j;
    return best;
}

static int cand_cmp(const void *a, const void *b) {
    const tk_cand *x = a, *y = b;
    if (x->w != y->w) return x->w > y->w ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static bool is_greedy(const tk_choice_params *p) { return !(p->temperature >= TK_ENGINE_GREEDY_TEMPERATURE); }

/* weights into w[] (the max weight is exactly 1). Each element is independent, so splitting the
 * vocabulary over threads changes no bit; inside the decode loop's per-row parallel region this
 * runs on the calling thread only. */
static void weights(const float *z, int32_t V, double T, double *w) {
    float mx = z[0];
    for (int32_t j = 1; j < V; j++) mx = z[j] > mx ? z[j] : mx;
#pragma omp parallel for schedule(static) if (V >= 16384)
    for (int32_t j = 0; j < V; j++) w[j] = exp(((double)z[j] - (double)mx) / T);
}

/* The final draw over the kept tokens (keep[j] != 0), ascending ids. */
static int32_t draw(const double *w, const uint8_t *keep, int32_t V, tk_rng *rng) {
    double total = 0;
    int32_t last = -1;
    for (int32_t j = 0; j < V; j++)
        if (!keep || keep[j]) {
            total += w[j];
            last = j;
        }
    double target = tk_rng_f64(rng) * total, cum = 0;
    for (int32_t j = 0; j < V; j++)
        if (!keep || keep[j]) {
            cum += w[j];
            if (cum > target) return j;
        }
    return last;
}

/* Candidates of `keep` (all when NULL) with w >= t, sorted; returns their count. */
static size_t collect(const double *w, const uint8_t *keep, int32_t V, double t, tk_cand *out) {
    size_t n = 0;
    for (int32_t j = 0; j < V; j++)
        if ((!keep || keep[j]) && w[j] >= t) out[n++] = (tk_cand){w[j], j};
    qsort(out, n, sizeof *out, cand_cmp);
    return n;
}

int32_t tk_choose_token(const float *z, int32_t V, const tk_choice_params *p, tk_rng *rng, tk_sampling_scratch *s) {
    if (V <= 1 || is_greedy(p)) return V <= 1 ? 0 : argmax(z, V);
    double *w = s->w;
    weights(z, V, p->temperature, w);
    bool use_k = p->top_k > 0 && p->top_k < V, use_p = p->top_p < 1.0;
    if (!use_k && !use_p) return draw(w, NULL, V, rng);
    uint8_t *keep = s->keep;
    tk_cand *c = s->cand;
    size_t n = 0;   /* c[0..n) is the sorted list K (when top-k) or a sorted prefix of it */
    if (use_k) {
        /* lower t until at least k tokens have w >= t; those contain the top k */
        double t = 1e-3;
        for (;;) {
            size_t cnt = 0;
            for (int32_t j = 0; j < V; j++) cnt += w[j] >= t;
            if (cnt >= (size_t)p->top_k || t == 0) break;
            t = t > 1e-300 ? t * 1e-3 : 0;
        }
        n = collect(w, NULL, V, t, c);
        if (n > (size_t)p->top_k) n = (size_t)p->top_k;
        memset(keep, 0, (size_t)V);
        for (size_t i = 0; i < n; i++) keep[c[i].id] = 1;
    } else {
        memset(keep, 1, (size_t)V);
    }
    if (!use_p) return draw(w, keep, V, rng);
    double wk = 0;
    for (int32_t j = 0; j < V; j++)
        if (keep[j]) wk += w[j];
    const double goal = p->top_p * wk;
    size_t take = 0;
    if (use_k) {
        double cum = 0;
        for (take = 0; take < n;) {
            cum += c[take++].w;
            if (cum >= goal) break;
        }
    } else {
        /* the nucleus is a prefix of the order; tokens with w >= t form a prefix too, so sort
         * only those, lowering t until the prefix sum reaches the goal inside them */
        double t = 1e-3;
        for (;;) {
            n = collect(w, NULL, V, t, c);
            double cum = 0;
            bool reached = false;
            for (take = 0; take < n;) {
                cum += c[take++].w;
                if (cum >= goal) { reached = true; break; }
            }
            if (reached || n == (size_t)V || t == 0) break;
            t = t > 1e-300 ? t * 1e-3 : 0;
        }
    }
    memset(keep, 0, (size_t)V);
    for (size_t i = 0; i < take; i++) keep[c[i].id] = 1;
    return draw(w, keep, V, rng);
}

int32_t tk_choose_token_naive(const float *z, int32_t V, const tk_choice_params *p, tk_rng *rng) {
    if (V <= 1 || is_greedy(p)) return V <= 1 ? 0 : argmax(z, V);
    double *w = malloc((size_t)V * sizeof *w);
    tk_cand *c = malloc((size_t)V * sizeof *c);
    uint8_t *keep = calloc((size_t)V, 1);
    weights(z, V, p->temperature, w);
    for (int32_t j = 0; j < V; j++) c[j] = (tk_cand){w[j], j};
    qsort(c, (size_t)V, sizeof *c, cand_cmp);
    size_t k = p->top_k > 0 && p->top_k < V ? (size_t)p->top_k : (size_t)V;
    for (size_t i = 0; i < k; i++) keep[c[i].id] = 1;
    size_t take = k;
    if (p->top_p < 1.0) {
        double wk = 0, cum = 0;
        for (int32_t j = 0; j < V; j++)
            if (keep[j]) wk += w[j];
        for (take = 0; take < k;) {
            cum += c[take++].w;
            if (cum >= p->top_p * wk) break;
        }
        memset(keep, 0, (size_t)V);
        for (size_t i = 0; i < take; i++) keep[c[i].id] = 1;
    }
    int32_t tok = draw(w, keep, V, rng);
    free(w);
    free(c);
    free(keep);
    return tok;
}

void tk_row_topk(const float *z, int32_t V, float lse, int k, int32_t *ids, float *lps) {
    int n = 0;   /* ids[0..n) sorted best first */
    for (int32_t j = 0; j < V; j++) {
        float v = z[j];
        if (n == k && !(v > z[ids[n - 1]])) continue;   /* ties keep the lower id already in */
        int pos = n < k ? n++ : k - 1;
        while (pos > 0 && v > z[ids[pos - 1]]) {
            ids[pos] = ids[pos - 1];
            pos--;
        }
        ids[pos] = j;
    }
    for (int i = 0; i < n; i++) lps[i] = z[ids[i]] - lse;
    for (int i = n; i < k; i++) {
        ids[i] = TK_ENGINE_TOPK_EMPTY_ID;
        lps[i] = TK_ENGINE_TOPK_EMPTY_LOGPROB;
    }
}
