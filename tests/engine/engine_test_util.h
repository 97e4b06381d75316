/* Helpers shared by the engine tests: fixture access and tolerant comparisons. */
#ifndef TK_ENGINE_TEST_UTIL_H
#define TK_ENGINE_TEST_UTIL_H

#include "test_util.h"

#include <math.h>

#include "engine/internal.h"
#include "engine/safetensors.h"

/* A tensor of an expected.safetensors fixture widened to fp32 (malloc'd; NULL if absent). */
static inline float *fx_get(const tk_st_file *f, const char *name, size_t *numel) {
    const tk_st_tensor *t = tk_st_find(f, name);
    if (!t) return NULL;
    float *p = malloc((t->numel ? t->numel : 1) * sizeof(float));
    tk_st_to_f32(t, p);
    if (numel) *numel = t->numel;
    return p;
}

/* Normalised max error: max|a-b| / max(max|b|, floor). Returns it; fails when > tol. */
static inline double check_close(const char *what, const float *got, const float *want, size_t n, double tol,
                                 double floor_) {
    double md = 0, mref = floor_;
    size_t worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= md)) { md = d; worst = i; }   /* NaN-safe */
        if (fabs(want[i]) > mref) mref = fabs(want[i]);
    }
    double rel = md / mref;
    if (getenv("TK_TEST_VERBOSE")) print_message("%-60s err %.3g\n", what, rel);
    if (!(rel <= tol))
        fail_msg("%s: normalised error %.3g > %.1g (at [%zu]: got %.7g want %.7g)", what, rel, tol, worst,
                 (double)got[worst], (double)want[worst]);
    return rel;
}

#endif
