/* The TensorData bridge: C arrays in and out of tk_wire_tensor, shape checks, and the expansion
 * of the sparse CSR form. Also the small lookups over tensors, maps and model inputs. */
#include "wire_internal.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

const char *tk_wire_dtype_name(tk_wire_dtype d) {
    return d == TK_WIRE_INT64 ? "int64" : d == TK_WIRE_FLOAT32 ? "float32" : "?";
}

bool tk_wire_shape_numel(const int64_t *shape, int ndim, size_t *out) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return false;
        if (!tk_mul_size(n, (size_t)shape[i], &n)) return false;
    }
    *out = n;
    return true;
}

int tk_wire_tensor_validate(const tk_wire_tensor *t, const char *name, tk_err *e) {
    if (t->dtype != TK_WIRE_INT64 && t->dtype != TK_WIRE_FLOAT32)
        return tk_err_set(e, TK_EINVAL, "%s: invalid dtype %d", name, (int)t->dtype);
    if (t->ndim < 0 || t->ndim > TK_WIRE_MAX_NDIM)
        return tk_err_set(e, TK_EINVAL, "%s: ndim %d is outside 0..%d", name, t->ndim, TK_WIRE_MAX_NDIM);
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] < 0)
            return tk_err_set(e, TK_EINVAL, "%s: negative dimension %lld at shape[%d]", name,
                              (long long)t->shape[i], i);
    size_t numel;
    if (!tk_wire_shape_numel(t->shape, t->ndim, &numel))
        return tk_err_set(e, TK_ERANGE, "%s: the shape's element count overflows", name);
    if (numel != t->n)
        return tk_err_set(e, TK_EINVAL, "%s: %zu elements but the shape needs %zu", name, t->n, numel);
    if (t->n && !t->data.ptr) return tk_err_set(e, TK_EINVAL, "%s: %zu elements but no data", name, t->n);
    return 0;
}

int tk_wire_tensor_check_shape(const tk_wire_tensor *t, const char *name, tk_wire_dtype dtype, int ndim,
                               const int64_t *dims, tk_err *e) {
    int rc = tk_wire_tensor_validate(t, name, e);
    if (rc) return rc;
    if (t->dtype != dtype)
        return tk_err_set(e, TK_EINVAL, "%s: dtype %s, expected %s", name, tk_wire_dtype_name(t->dtype),
                          tk_wire_dtype_name(dtype));
    if (t->ndim != ndim) return tk_err_set(e, TK_EINVAL, "%s: %d dimensions, expected %d", name, t->ndim, ndim);
    for (int i = 0; i < ndim; i++)
        if (dims && dims[i] >= 0 && dims[i] != t->shape[i])
            return tk_err_set(e, TK_EINVAL, "%s: shape[%d] is %lld, expected %lld", name, i,
                              (long long)t->shape[i], (long long)dims[i]);
    return 0;
}

/* Shared front half of the from_* constructors: shape, count, allocation. */
static int start(tk_arena *a, tk_wire_dtype dt, size_t n, const int64_t *shape, int ndim, tk_wire_tensor *out,
                 tk_err *e) {
    memset(out, 0, sizeof *out);
    out->dtype = dt;
    if (!shape) {
        out->ndim = 1;
        out->shape[0] = (int64_t)n;
    } else {
        if (ndim < 0 || ndim > TK_WIRE_MAX_NDIM)
            return tk_err_set(e, TK_EINVAL, "tensor: ndim %d is outside 0..%d", ndim, TK_WIRE_MAX_NDIM);
        out->ndim = ndim;
        memcpy(out->shape, shape, (size_t)ndim * sizeof(int64_t));
    }
    out->n = n;
    size_t numel;
    if (!tk_wire_shape_numel(out->shape, out->ndim, &numel))
        return tk_err_set(e, TK_EINVAL, "tensor: negative or overflowing shape");
    if (numel != n) return tk_err_set(e, TK_EINVAL, "tensor: %zu elements but the shape needs %zu", n, numel);
    if (n) {
        size_t bytes;
        if (!tk_mul_size(n, dt == TK_WIRE_INT64 ? 8 : 4, &bytes) || !(out->data.ptr = tk_arena_alloc(a, bytes)))
            return tk_err_set(e, TK_ENOMEM, "tensor: out of memory for %zu elements", n);
    }
    return 0;
}

int tk_wire_tensor_from_i32(tk_arena *a, const int32_t *src, size_t n, const int64_t *shape, int ndim,
                            tk_wire_tensor *out, tk_err *e) {
    int rc = start(a, TK_WIRE_INT64, n, shape, ndim, out, e);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) out->data.i64[i] = src[i];
    return 0;
}

int tk_wire_tensor_from_i64(tk_arena *a, const int64_t *src, size_t n, const int64_t *shape, int ndim,
                            tk_wire_tensor *out, tk_err *e) {
    int rc = start(a, TK_WIRE_INT64, n, shape, ndim, out, e);
    if (rc) return rc;
    if (n) memcpy(out->data.i64, src, n * sizeof(int64_t));
    return 0;
}

int tk_wire_tensor_from_f32(tk_arena *a, const float *src, size_t n, const int64_t *shape, int ndim,
                            tk_wire_tensor *out, tk_err *e) {
    int rc = start(a, TK_WIRE_FLOAT32, n, shape, ndim, out, e);
    if (rc) return rc;
    if (n) memcpy(out->data.f32, src, n * sizeof(float));
    return 0;
}

int tk_wire_tensor_from_f64(tk_arena *a, const double *src, size_t n, const int64_t *shape, int ndim,
                            tk_wire_tensor *out, tk_err *e) {
    int rc = start(a, TK_WIRE_FLOAT32, n, shape, ndim, out, e);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) {
        double d = src[i];
        float f = (float)d;
        if (isinf(f) && isfinite(d))
            return tk_err_set(e, TK_ERANGE, "tensor: element %zu (%g) is out of float32 range", i, d);
        out->data.f32[i] = f;
    }
    return 0;
}

int tk_wire_tensor_from_bf16(tk_arena *a, const uint16_t *src, size_t n, const int64_t *shape, int ndim,
                             tk_wire_tensor *out, tk_err *e) {
    int rc = start(a, TK_WIRE_FLOAT32, n, shape, ndim, out, e);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) {
        uint32_t bits = (uint32_t)src[i] << 16;
        memcpy(&out->data.f32[i], &bits, sizeof bits);
    }
    return 0;
}

static int out_check(const tk_wire_tensor *t, const char *name, tk_wire_dtype want, size_t n, tk_err *e) {
    if (!name) name = "tensor";
    if (t->dtype != want)
        return tk_err_set(e, TK_EINVAL, "%s: dtype %s, expected %s", name, tk_wire_dtype_name(t->dtype),
                          tk_wire_dtype_name(want));
    if (n != t->n) return tk_err_set(e, TK_EINVAL, "%s: has %zu elements, the destination %zu", name, t->n, n);
    return 0;
}

int tk_wire_tensor_to_i64(const tk_wire_tensor *t, const char *name, int64_t *dst, size_t n, tk_err *e) {
    int rc = out_check(t, name, TK_WIRE_INT64, n, e);
    if (rc) return rc;
    if (n) memcpy(dst, t->data.i64, n * sizeof(int64_t));
    return 0;
}

int tk_wire_tensor_to_i32(const tk_wire_tensor *t, const char *name, int32_t *dst, size_t n, tk_err *e) {
    int rc = out_check(t, name, TK_WIRE_INT64, n, e);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) {
        int64_t v = t->data.i64[i];
        if (v < INT32_MIN || v > INT32_MAX)
            return tk_err_set(e, TK_ERANGE, "%s[%zu]: %lld does not fit in int32", name ? name : "tensor", i,
                              (long long)v);
        dst[i] = (int32_t)v;
    }
    return 0;
}

int tk_wire_tensor_to_f32(const tk_wire_tensor *t, const char *name, float *dst, size_t n, tk_err *e) {
    int rc = out_check(t, name, TK_WIRE_FLOAT32, n, e);
    if (rc) return rc;
    if (n) memcpy(dst, t->data.f32, n * sizeof(float));
    return 0;
}

int tk_wire_tensor_to_f64(const tk_wire_tensor *t, const char *name, double *dst, size_t n, tk_err *e) {
    int rc = out_check(t, name, TK_WIRE_FLOAT32, n, e);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) dst[i] = t->data.f32[i];
    return 0;
}

int tk_wire_csr_expand(tk_arena *a, tk_wire_dtype dtype, const void *values, size_t nnz, const int64_t *crow,
                       size_t n_crow, const int64_t *col, size_t n_col, const int64_t *shape, int ndim,
                       tk_wire_tensor *out, const char *where, tk_err *e) {
    if (ndim != 2) return tk_err_set(e, TK_EINVAL, "%s: a sparse CSR tensor must be 2-D, shape has %d dims", where, ndim);
    int64_t rows = shape[0], cols = shape[1];
    size_t numel;
    if (!tk_wire_shape_numel(shape, 2, &numel) || numel > TK_WIRE_MAX_DENSE_ELEMS)
        return tk_err_set(e, TK_ERANGE, "%s: dense shape [%lld,%lld] is too large (at most %zu elements)", where,
                          (long long)rows, (long long)cols, TK_WIRE_MAX_DENSE_ELEMS);
    if (n_crow != (size_t)rows + 1)
        return tk_err_set(e, TK_EINVAL, "%s: sparse_crow_indices has %zu entries, expected rows+1 = %lld", where,
                          n_crow, (long long)rows + 1);
    if (n_col != nnz)
        return tk_err_set(e, TK_EINVAL, "%s: sparse_col_indices has %zu entries but data has %zu values", where,
                          n_col, nnz);
    if (crow[0] != 0) return tk_err_set(e, TK_EINVAL, "%s: sparse_crow_indices[0] must be 0", where);
    for (size_t r = 0; r < (size_t)rows; r++) {
        if (crow[r + 1] < crow[r])
            return tk_err_set(e, TK_EINVAL, "%s: sparse_crow_indices decreases at %zu", where, r + 1);
        if ((uint64_t)crow[r + 1] > nnz)
            return tk_err_set(e, TK_EINVAL, "%s: sparse_crow_indices[%zu] = %lld is past the %zu values", where,
                              r + 1, (long long)crow[r + 1], nnz);
    }
    for (size_t r = 0; r < (size_t)rows; r++)
        for (int64_t j = crow[r]; j < crow[r + 1]; j++) {
            if (col[j] < 0 || col[j] >= cols)
                return tk_err_set(e, TK_EINVAL, "%s: sparse_col_indices[%lld] = %lld is outside [0,%lld)", where,
                                  (long long)j, (long long)col[j], (long long)cols);
            if (j > crow[r] && col[j] <= col[j - 1])
                return tk_err_set(e, TK_EINVAL, "%s: sparse_col_indices not increasing in row %zu", where, r);
        }
    if ((size_t)crow[rows] != nnz)
        return tk_err_set(e, TK_EINVAL, "%s: sparse_crow_indices ends at %lld but there are %zu values", where,
                          (long long)crow[rows], nnz);
    memset(out, 0, sizeof *out);
    out->dtype = dtype;
    out->ndim = 2;
    out->shape[0] = rows;
    out->shape[1] = cols;
    out->n = numel;
    size_t es = dtype == TK_WIRE_INT64 ? 8 : 4;
    if (numel) {
        if (!(out->data.ptr = tk_arena_zalloc(a, numel * es)))
            return tk_err_set(e, TK_ENOMEM, "%s: out of memory expanding a sparse tensor", where);
    }
    for (size_t r = 0; r < (size_t)rows; r++)
        for (int64_t j = crow[r]; j < crow[r + 1]; j++)
            memcpy((char *)out->data.ptr + (r * (size_t)cols + (size_t)col[j]) * es, (const char *)values + (size_t)j * es, es);
    return 0;
}

const tk_wire_tensor *tk_wire_tensor_map_get(const tk_wire_tensor_map *m, const char *name) {
    for (size_t i = 0; i < m->n; i++)
        if (m->items[i].name && strcmp(m->items[i].name, name) == 0) return &m->items[i].tensor;
    return NULL;
}

const double *tk_wire_f64_map_get(const tk_wire_f64_map *m, const char *key) {
    for (size_t i = 0; i < m->n; i++)
        if (m->items[i].key && strcmp(m->items[i].key, key) == 0) return &m->items[i].value;
    return NULL;
}

bool tk_wire_image_format_ok(const char *s) { return strcmp(s, "png") == 0 || strcmp(s, "jpeg") == 0; }

int tk_wire_model_input_length(const tk_wire_model_input *mi, int64_t *len, tk_err *e) {
    int64_t total = 0;
    for (size_t i = 0; i < mi->n_chunks; i++) {
        const tk_wire_chunk *c = &mi->chunks[i];
        int64_t l;
        if (c->type == TK_WIRE_CHUNK_ENCODED_TEXT) {
            l = (int64_t)c->n_tokens;
        } else if (c->has_expected_tokens) {
            l = c->expected_tokens;
        } else {
            return tk_err_set(e, TK_EINVAL, "chunks[%zu]: an image chunk needs expected_tokens to have a length", i);
        }
        if (l < 0 || __builtin_add_overflow(total, l, &total))
            return tk_err_set(e, TK_ERANGE, "chunks[%zu]: length overflows", i);
    }
    *len = total;
    return 0;
}
