/* AdamW over an adapter's flat buffers, as torch.optim.AdamW (decoupled weight decay, bias
 * correction) preceded by torch.nn.utils.clip_grad_norm_ (global L2 norm, coefficient
 * c / (norm + 1e-6) when below 1). The accumulator is zeroed afterwards. */
#include "internal.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

void tk_engine_adam_default(tk_engine_adam *p) {
    p->learning_rate = 1e-4;
    p->beta1 = 0.9;
    p->beta2 = 0.95;
    p->eps = 1e-12;
    p->weight_decay = 0.0;
    p->grad_clip_norm = 0.0;
}

static int check(const char *name, double v, bool unit, tk_err *e) {
    if (!isfinite(v) || v < 0 || (unit && v >= 1))
        return tk_err_set(e, TK_EINVAL, "adam_params.%s: %g is out of range (%s)", name, v,
                          unit ? "need 0 <= value < 1" : "need a finite value >= 0");
    return 0;
}

int tk_engine_optim_step(tk_engine_adapter *a, const tk_engine_adam *p, tk_engine_optim_stats *stats, tk_err *e) {
    int rc = 0;
    if ((rc = check("learning_rate", p->learning_rate, false, e)) || (rc = check("beta1", p->beta1, true, e))
        || (rc = check("beta2", p->beta2, true, e)) || (rc = check("eps", p->eps, false, e))
        || (rc = check("weight_decay", p->weight_decay, false, e))
        || (rc = check("grad_clip_norm", p->grad_clip_norm, false, e)))
        return rc;
    const size_t n = a->n_params;
    float *g = a->grads, *w = a->params, *m = a->m, *v = a->v;
    /* global norm: per-thread partial sums in double over fixed static chunks, then summed in
     * thread order, so a fixed thread count gives the same bits */
    int nt = omp_get_max_threads();
    double *part = calloc((size_t)nt, sizeof *part);
    if (!part) return tk_err_set(e, TK_ENOMEM, "optim_step: out of memory");
#pragma omp parallel num_threads(nt)
    {
        int id = omp_get_thread_num(), k = omp_get_num_threads();
        size_t lo = n * (size_t)id / (size_t)k, hi = n * (size_t)(id + 1) / (size_t)k;
        double s = 0;
        for (size_t i = lo; i < hi; i++) s += (double)g[i] * g[i];
        part[id] = s;
    }
    double sq = 0;
    for (int i = 0; i < nt; i++) sq += part[i];
    free(part);
    double norm = sqrt(sq);
    bool clipped = false;
    if (p->grad_clip_norm > 0) {
        double coef = p->grad_clip_norm / (norm + 1e-6);
        if (coef < 1.0) {
            clipped = true;
            float cf = (float)coef;
#pragma omp parallel for schedule(static)
            for (size_t i = 0; i < n; i++) g[i] *= cf;
        }
    }
    a->step++;
    const double t = (double)a->step;
    const float decay = (float)(1.0 - p->learning_rate * p->weight_decay);
    const float b1 = (float)p->beta1, b2 = (float)p->beta2;
    const double bc1 = 1.0 - pow(p->beta1, t), bc2 = 1.0 - pow(p->beta2, t);
    const float step_size = (float)(p->learning_rate / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float eps = (float)p->eps;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        w[i] *= decay;
        m[i] += (g[i] - m[i]) * (1.0f - b1);
        v[i] = v[i] * b2 + (1.0f - b2) * g[i] * g[i];
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        w[i] -= step_size * (m[i] / denom);
    }
    tk_engine_adapter_zero_grad(a);
    if (stats) {
        stats->grad_norm = norm;
        stats->clipped = clipped;
        stats->step = a->step;
    }
    return 0;
}

/* ---- threads ------------------------------------------------------------------------------ */

void tk_engine_set_num_threads(int n) {
    if (n <= 0) n = tk_num_cpus();
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int tk_engine_num_threads(void) { return omp_get_max_threads(); }

const char *tk_engine_blas_info(void) {
    static char buf[256];   /* rewritten on each call: call it from the engine's thread */
    int par = openblas_get_parallel();
    snprintf(buf, sizeof buf, "OpenBLAS %s (%s, %d threads)", openblas_get_config(),
             par == 2 ? "openmp" : par == 1 ? "pthreads" : "serial", openblas_get_num_threads());
    return buf;
}
