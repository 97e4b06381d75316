/* Merging the metrics of the chunks of one forward_backward call (§6.5), bit for bit as the
 * SDK's combine_fwd_bwd_output_results: numpy's pairwise summation order for sum/mean, numpy's
 * np.average for the weighted mean, and CPython's tuple/int hashing for hash_unordered. */
#include "wire_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* numpy's pairwise_sum for float64 (8-way unrolled blocks of up to 128, split in halves above). */
static double pairwise_sum(const double *a, size_t n) {
    if (n < 8) {
        double res = 0.;
        for (size_t i = 0; i < n; i++) res += a[i];
        return res;
    }
    if (n <= 128) {
        double r[8];
        for (int j = 0; j < 8; j++) r[j] = a[j];
        size_t i;
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    }
    size_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

/* np.sum: the reduction starts from the identity 0.0. */
static double np_sum(const double *a, size_t n) { return 0.0 + pairwise_sum(a, n); }

/* CPython's hash of int(v) for an integral double v (64-bit build): |v| mod (2^61 - 1), signed. */
static uint64_t py_int_hash(double v) {
    const uint64_t P = (1ull << 61) - 1;
    double a = fabs(v);
    int exp;
    double m = frexp(a, &exp);        /* a = m * 2^exp, m in [0.5, 1) */
    uint64_t mant = (uint64_t)ldexp(m, 53);
    exp -= 53;                         /* a = mant * 2^exp */
    uint64_t x;
    if (exp <= 0) {
        x = (mant >> -exp) % P;       /* v is integral, so no bits are lost */
    } else {
        x = mant % P;
        unsigned e = (unsigned)exp % 61;   /* 2^61 == 1 mod P */
        x = ((x << e) & P) | (x >> (61 - e));
        if (x >= P) x -= P;
    }
    int64_t h = (int64_t)x;
    if (v < 0) h = -h;
    if (h == -1) h = -2;
    return (uint64_t)h;
}

/* np.max / np.min: NaN wins. */
static double np_extreme(const double *v, size_t n, bool want_max) {
    double r = v[0];
    for (size_t c = 1; c < n; c++) {
        if (isnan(r)) break;
        if (isnan(v[c]) || (want_max ? v[c] > r : v[c] < r)) r = v[c];
    }
    return r;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* hash(tuple(sorted(int(x) for x in xs))) */
static int order_insensitive_hash(const double *vals, size_t n, double *out, const char *key, tk_err *e) {
    double *ints = tk_malloc_array(n ? n : 1, sizeof(double));
    if (!ints) return tk_err_set(e, TK_ENOMEM, "metrics: out of memory");
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(vals[i])) {
            free(ints);
            return tk_err_set(e, TK_EINVAL, "metrics: %s: cannot hash the non-finite value %g", key, vals[i]);
        }
        ints[i] = trunc(vals[i]);
    }
    qsort(ints, n, sizeof(double), cmp_double);
    const uint64_t P1 = 11400714785074694791ull, P2 = 14029467366897019727ull, P5 = 2870177450012600261ull;
    uint64_t acc = P5;
    for (size_t i = 0; i < n; i++) {
        acc += py_int_hash(ints[i]) * P2;
        acc = (acc << 31) | (acc >> 33);
        acc *= P1;
    }
    acc += (uint64_t)n ^ (P5 ^ 3527539ull);
    if (acc == UINT64_MAX) acc = 1546275796;
    *out = (double)(int64_t)acc;
    free(ints);
    return 0;
}

static const char *const k_reductions[] = {"mean", "sum", "min", "max", "slack", "hash_unordered", "unique", NULL};

static int push(tk_arena *a, tk_wire_kv_f64 *items, size_t *n, const char *key, double v, tk_err *e) {
    if (!(items[*n].key = tk_arena_strdup(a, key))) return tk_err_set(e, TK_ENOMEM, "metrics: out of memory");
    items[*n].value = v;
    (*n)++;
    return 0;
}

int tk_wire_metrics_merge(const tk_wire_f64_map *const *chunks, const size_t *datum_counts, size_t n_chunks,
                          tk_arena *a, tk_wire_f64_map *out, tk_err *e) {
    memset(out, 0, sizeof *out);
    out->present = true;
    if (n_chunks == 0) return 0;
    const tk_wire_f64_map *m0 = chunks[0];
    /* worst case: every key of chunk 0 is unique and spawns n_chunks entries */
    size_t cap;
    if (!tk_mul_size(m0->n, n_chunks, &cap)) return tk_err_set(e, TK_ENOMEM, "metrics: too many");
    out->items = cap ? tk_arena_alloc(a, cap * sizeof *out->items) : NULL;
    double *vals = tk_malloc_array(n_chunks, sizeof(double));
    double *wv = tk_malloc_array(n_chunks, sizeof(double));
    double *w = tk_malloc_array(n_chunks, sizeof(double));
    int rc = 0;
    if ((cap && !out->items) || !vals || !wv || !w) {
        rc = tk_err_set(e, TK_ENOMEM, "metrics: out of memory");
        goto done;
    }
    for (size_t c = 0; c < n_chunks; c++) w[c] = (double)datum_counts[c];
    for (size_t i = 0; i < m0->n; i++) {
        const char *key = m0->items[i].key;
        const char *colon = strchr(key, ':');
        if (!colon || strchr(colon + 1, ':')) {
            rc = tk_err_set(e, TK_EINVAL, "metrics: key \"%s\" must have the form name:reduction (exactly one ':')", key);
            goto done;
        }
        const char *red = colon + 1;
        int kind = -1;
        for (int k = 0; k_reductions[k]; k++)
            if (strcmp(k_reductions[k], red) == 0) kind = k;
        if (kind < 0) {
            tk_debug("metrics: dropping %s: unknown reduction \"%s\"", key, red);
            continue;
        }
        bool everywhere = true;
        for (size_t c = 0; c < n_chunks && everywhere; c++) {
            const double *v = tk_wire_f64_map_get(chunks[c], key);
            if (!v) everywhere = false;
            else vals[c] = *v;
        }
        if (!everywhere) continue;
        double r = 0;
        switch (kind) {
        case 0: case 4: { /* mean, slack: np.average(values, weights=datum counts) */
            double scl = np_sum(w, n_chunks);
            if (scl == 0.0) {
                rc = tk_err_set(e, TK_EINVAL, "metrics: %s: the chunks' datum counts sum to zero", key);
                goto done;
            }
            for (size_t c = 0; c < n_chunks; c++) wv[c] = vals[c] * w[c];
            double avg = np_sum(wv, n_chunks) / scl;
            if (kind == 0) {
                r = avg;
            } else {
                r = np_extreme(vals, n_chunks, true) - avg;
            }
            break;
        }
        case 1: r = np_sum(vals, n_chunks); break;
        case 2: case 3: r = np_extreme(vals, n_chunks, kind == 3); break;
        case 5:
            if ((rc = order_insensitive_hash(vals, n_chunks, &r, key, e))) goto done;
            break;
        case 6: {
            if ((rc = push(a, out->items, &out->n, key, vals[0], e))) goto done;
            for (size_t c = 1; c < n_chunks; c++) {
                char name[512];
                snprintf(name, sizeof name, "%s_%zu", key, c);
                if ((rc = push(a, out->items, &out->n, name, vals[c], e))) goto done;
            }
            continue;
        }
        }
        if ((rc = push(a, out->items, &out->n, key, r, e))) goto done;
    }
done:
    free(vals);
    free(wv);
    free(w);
    return rc;
}

int tk_wire_forward_backward_output_merge(const tk_wire_forward_backward_output *chunks, size_t n, tk_arena *a,
                                          tk_wire_forward_backward_output *out, tk_err *e) {
    memset(out, 0, sizeof *out);
    out->metrics.present = true;
    if (n == 0) {
        out->loss_fn_output_type = tk_arena_strdup(a, "");
        return out->loss_fn_output_type ? 0 : tk_err_set(e, TK_ENOMEM, "merge: out of memory");
    }
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        if (!tk_add_size(total, chunks[i].n_loss_fn_outputs, &total))
            return tk_err_set(e, TK_ENOMEM, "merge: too many outputs");
    const tk_wire_f64_map **maps = tk_malloc_array(n, sizeof *maps);
    size_t *counts = tk_malloc_array(n, sizeof *counts);
    int rc = 0;
    if (!maps || !counts) { rc = tk_err_set(e, TK_ENOMEM, "merge: out of memory"); goto done; }
    out->loss_fn_output_type = chunks[0].loss_fn_output_type;
    out->n_loss_fn_outputs = total;
    if (total && !(out->loss_fn_outputs = tk_arena_alloc(a, total * sizeof *out->loss_fn_outputs))) {
        rc = tk_err_set(e, TK_ENOMEM, "merge: out of memory");
        goto done;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < chunks[i].n_loss_fn_outputs; j++) out->loss_fn_outputs[k++] = chunks[i].loss_fn_outputs[j];
        maps[i] = &chunks[i].metrics;
        counts[i] = chunks[i].n_loss_fn_outputs;
    }
    rc = tk_wire_metrics_merge(maps, counts, n, a, &out->metrics, e);
done:
    free(maps);
    free(counts);
    return rc;
}
