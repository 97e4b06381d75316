/* safetensors reading (validated, memory-mapped) and writing.
 *
 * Layout: u64 little-endian header length N, N bytes of JSON, then the data area. The JSON maps
 * tensor name -> {"dtype", "shape", "data_offsets": [begin, end]} relative to the data area.
 * Like the reference implementation we insist that the tensors cover the data area exactly, which
 * rejects overlaps and gaps in one check. */
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- half-precision conversions -------------------------------------------------------------- */

static inline float bits_to_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t f32_to_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

float tk_bf16_to_f32(uint16_t b) { return bits_to_f32((uint32_t)b << 16); }

uint16_t tk_f32_to_bf16(float f) {
    uint32_t u = f32_to_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);   /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);                                             /* nearest even */
    return (uint16_t)(u >> 16);
}

float tk_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0x1f) return bits_to_f32(sign | 0x7f800000u | (man << 13));       /* inf / NaN */
    if (exp == 0) {                                                              /* subnormal */
        float v = (float)man * (1.0f / 16777216.0f);                             /* man * 2^-24 */
        return sign ? -v : v;
    }
    return bits_to_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

uint16_t tk_f32_to_f16(float f) {
    uint32_t u = f32_to_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return sign | 0x7e00u;                                  /* NaN */
    if (a >= 0x477ff000u) return sign | 0x7c00u;             /* rounds to >= 65520: infinity */
    if (a < 0x38800000u) {                                    /* below 2^-14: subnormal or zero */
        float v = bits_to_f32(a) * 16777216.0f;               /* units of 2^-24 */
        uint32_t m = (uint32_t)v;
        float frac = v - (float)m;
        if (frac > 0.5f || (frac == 0.5f && (m & 1u))) m++;
        return sign | (uint16_t)m;
    }
    uint32_t r = a + 0xfffu + ((a >> 13) & 1u);               /* nearest even on bit 13 */
    return sign | (uint16_t)((r - 0x38000000u) >> 13);
}

void tk_st_to_f32(const tk_st_tensor *t, float *dst) {
    const uint8_t *p = t->data;
    switch (t->dtype) {
    case TK_ENGINE_F32:
        memcpy(dst, p, t->numel * 4);   /* unaligned-safe */
        break;
    case TK_ENGINE_BF16:
        for (size_t i = 0; i < t->numel; i++) dst[i] = tk_bf16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
        break;
    case TK_ENGINE_F16:
        for (size_t i = 0; i < t->numel; i++) dst[i] = tk_f16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
        break;
    default:
        memset(dst, 0, t->numel * sizeof *dst);
        break;
    }
}

/* ---- parsing --------------------------------------------------------------------------------- */

static const struct { const char *name; size_t size; tk_engine_dtype dtype; } DTYPES[] = {
    {"F32", 4, TK_ENGINE_F32}, {"F16", 2, TK_ENGINE_F16}, {"BF16", 2, TK_ENGINE_BF16},
    {"I32", 4, TK_ENGINE_I32}, {"I64", 8, TK_ENGINE_I64}, {"F64", 8, 0}, {"I16", 2, 0},
    {"I8", 1, 0}, {"U8", 1, 0}, {"BOOL", 1, 0}, {"U16", 2, 0}, {"U32", 4, 0}, {"U64", 8, 0},
    {"F8_E4M3", 1, 0}, {"F8_E5M2", 1, 0},
};

static void st_free_tensors(tk_st_file *f) {
    for (size_t i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    free(f->tensors);
    f->tensors = NULL;
    f->n_tensors = 0;
}

static int cmp_begin(const void *a, const void *b) {
    const tk_st_tensor *x = a, *y = b;
    if (x->data != y->data) return x->data < y->data ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

static int parse_entry(const char *what, const char *name, json_t *v, const uint8_t *data,
                       size_t data_size, tk_st_tensor *t, tk_err *e) {
    if (!json_is_object(v)) return tk_err_set(e, TK_EPARSE, "%s: tensor \"%s\": expected an object", what, name);
    const char *k0;
    json_t *v0;
    json_object_foreach(v, k0, v0) {
        if (strcmp(k0, "dtype") && strcmp(k0, "shape") && strcmp(k0, "data_offsets"))
            return tk_err_set(e, TK_EPARSE, "%s: tensor \"%s\": unknown field \"%s\"", what, name, k0);
    }
    json_t *dt = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape"),
           *offs = json_object_get(v, "data_offsets");
    if (!json_is_string(dt)) return tk_err_set(e, TK_EPARSE, "%s: tensor \"%s\": dtype must be a string", what, name);
    const char *dname = json_string_value(dt);
    size_t k = 0, nd = sizeof DTYPES / sizeof DTYPES[0];
    while (k < nd && strcmp(DTYPES[k].name, dname)) k++;
    if (k == nd) return tk_err_set(e, TK_EPARSE, "%s: tensor \"%s\": unknown dtype \"%.15s\"", what, name, dname);
    snprintf(t->dtype_name, sizeof t->dtype_name, "%s", DTYPES[k].name);
    t->dtype = DTYPES[k].dtype;
    t->elem_size = DTYPES[k].size;
    if (!json_is_array(shape)) return tk_err_set(e, TK_EPARSE, "%s: tensor \"%s\": shape must be an array", what, name);
    if (json_array_size(shape) > TK_ST_MAX_DIMS)
        return tk_err_set(e, TK_EPARSE, "%s: tensor \"%s\": %zu dimensions (at most %d)", what, name,
                          json_array_size(shape), TK_ST_MAX_DIMS);
    t->ndim = (int)json_array_size(shape);
    size_t numel = 1;
    for (int d = 0; d < t->ndim; d++) {
        json_t *s = json_array_get(shape, (size_t)d);
        if (!json_is_integer(s) || json_integer_value(s) < 0)
            return tk_err_set(e, TK_EPARSE, "%s: tensor \"%s\": shape[%d] is not a non-negative integer", what, name, d);
        t->shape[d] = json_integer_value(s);
        if (!tk_mul_size(numel, (size_t)t->shape[d], &numel))
            return tk_err_set(e, TK_EPARSE, "%s: tensor \"%s\": shape overflows", what, name);
    }
    t->numel = numel;
    if (!json_is_array(offs) || json_array_size(offs) != 2 || !json_is_integer(json_array_get(offs, 0))
        || !json_is_integer(json_array_get(offs, 1)))
        return tk_err_set(e, TK_EPARSE, "%s: tensor \"%s\": data_offsets must be [begin, end]", what, name);
    json_int_t b = json_integer_value(json_array_get(offs, 0)), en = json_integer_value(json_array_get(offs, 1));
    if (b < 0 || en < b)
        return tk_err_set(e, TK_EPARSE, "%s: tensor \"%s\": data_offsets [%lld, %lld] are invalid", what, name,
                          (long long)b, (long long)en);
    if ((uint64_t)en > data_size)
        return tk_err_set(e, TK_EPARSE, "%s: tensor \"%s\": data_offsets end %lld is beyond the data (%zu bytes)",
                          what, name, (long long)en, data_size);
    size_t nbytes;
    if (!tk_mul_size(numel, t->elem_size, &nbytes) || nbytes != (size_t)(en - b))
        return tk_err_set(e, TK_EPARSE, "%s: tensor \"%s\": data_offsets cover %lld bytes but %s%s needs %zu",
                          what, name, (long long)(en - b), t->dtype_name, " x shape", numel * t->elem_size);
    t->data = data + b;
    t->nbytes = nbytes;
    return 0;
}

int tk_st_parse(const void *image, size_t size, const char *what, tk_st_file *f, tk_err *e) {
    memset(f, 0, sizeof *f);
    what = what ? what : "<memory>";
    const uint8_t *p = image;
    if (size < 8) return tk_err_set(e, TK_EPARSE, "%s: truncated safetensors file (%zu bytes, need at least 8)", what, size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | p[i];
    if (n > TK_ST_MAX_HEADER)
        return tk_err_set(e, TK_EPARSE, "%s: header length %llu exceeds the 100 MB limit", what, (unsigned long long)n);
    if (n > size - 8)
        return tk_err_set(e, TK_EPARSE, "%s: header length %llu is beyond the end of the file (%zu bytes)", what,
                          (unsigned long long)n, size);
    if (n < 2 || p[8] != '{') return tk_err_set(e, TK_EPARSE, "%s: header does not start with '{'", what);
    size_t bad;
    if (!tk_utf8_valid((const char *)p + 8, (size_t)n, &bad))
        return tk_err_set(e, TK_EPARSE, "%s: header is not valid UTF-8 (byte %zu)", what, bad);
    json_t *root = NULL;
    int rc = tk_json_parse((const char *)p + 8, (size_t)n, what, &root, e);
    if (rc) {
        if (e) e->code = TK_EPARSE;
        return TK_EPARSE;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        return tk_err_set(e, TK_EPARSE, "%s: header is not a JSON object", what);
    }
    const uint8_t *data = p + 8 + n;
    size_t data_size = size - 8 - (size_t)n;
    size_t cap = json_object_size(root);
    f->tensors = calloc(cap ? cap : 1, sizeof *f->tensors);
    if (!f->tensors) { json_decref(root); return tk_err_set(e, TK_ENOMEM, "%s: out of memory", what); }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (!strcmp(key, "__metadata__")) {
            const char *mk;
            json_t *mv;
            if (!json_is_object(v)) { rc = tk_err_set(e, TK_EPARSE, "%s: __metadata__ must be an object", what); break; }
            json_object_foreach(v, mk, mv) {
                if (!json_is_string(mv)) { rc = tk_err_set(e, TK_EPARSE, "%s: __metadata__.%s must be a string", what, mk); break; }
            }
            if (rc) break;
            continue;
        }
        tk_st_tensor *t = &f->tensors[f->n_tensors];
        rc = parse_entry(what, key, v, data, data_size, t, e);
        if (rc) break;
        if (!(t->name = tk_strdup(key))) { rc = tk_err_set(e, TK_ENOMEM, "%s: out of memory", what); break; }
        f->n_tensors++;
    }
    json_decref(root);
    if (rc) { st_free_tensors(f); return rc; }

    /* exact coverage: sorted by begin, each tensor starts where the previous ended */
    tk_st_tensor *sorted = tk_malloc_array(f->n_tensors ? f->n_tensors : 1, sizeof *sorted);
    if (!sorted) { st_free_tensors(f); return tk_err_set(e, TK_ENOMEM, "%s: out of memory", what); }
    memcpy(sorted, f->tensors, f->n_tensors * sizeof *sorted);
    qsort(sorted, f->n_tensors, sizeof *sorted, cmp_begin);
    size_t pos = 0;
    for (size_t i = 0; i < f->n_tensors && !rc; i++) {
        size_t b = (size_t)(sorted[i].data - data);
        if (b < pos)
            rc = tk_err_set(e, TK_EPARSE, "%s: tensor \"%s\" overlaps the previous tensor \"%s\" (offset %zu < %zu)",
                            what, sorted[i].name, sorted[i - 1].name, b, pos);
        else if (b > pos)
            rc = tk_err_set(e, TK_EPARSE, "%s: gap in the data area before tensor \"%s\" (offset %zu, expected %zu)",
                            what, sorted[i].name, b, pos);
        pos = b + sorted[i].nbytes;
    }
    if (!rc && pos != data_size)
        rc = tk_err_set(e, TK_EPARSE, "%s: tensors cover %zu bytes of a %zu-byte data area (truncated or trailing data)",
                        what, pos, data_size);
    free(sorted);
    if (rc) { st_free_tensors(f); return rc; }
    f->base = p;
    f->size = size;
    return 0;
}

int tk_st_open(const char *path, tk_st_file *f, tk_err *e) {
    memset(f, 0, sizeof *f);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return tk_err_set(e, errno == ENOENT ? TK_ENOTFOUND : TK_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st)) {
        int err = errno;
        close(fd);
        return tk_err_set(e, TK_EIO, "%s: cannot stat: %s", path, strerror(err));
    }
    size_t size = (size_t)st.st_size;
    void *img = NULL;
    if (size > 0) {
        img = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (img == MAP_FAILED) {
            int err = errno;
            close(fd);
            return tk_err_set(e, TK_EIO, "%s: mmap failed: %s", path, strerror(err));
        }
    }
    close(fd);
    static const uint8_t empty[1];
    int rc = tk_st_parse(img ? img : empty, size, path, f, e);
    if (rc) {
        if (img) munmap(img, size);
        return rc;
    }
    f->mapped = img != NULL;
    if (!(f->path = tk_strdup(path))) {
        tk_st_close(f);
        return tk_err_set(e, TK_ENOMEM, "%s: out of memory", path);
    }
    return 0;
}

void tk_st_close(tk_st_file *f) {
    if (!f) return;
    st_free_tensors(f);
    if (f->mapped && f->base) munmap((void *)f->base, f->size);
    free(f->path);
    memset(f, 0, sizeof *f);
}

const tk_st_tensor *tk_st_find(const tk_st_file *f, const char *name) {
    for (size_t i = 0; i < f->n_tensors; i++)
        if (!strcmp(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

/* ---- writing --------------------------------------------------------------------------------- */

int tk_st_write(const char *path, const tk_st_out *ts, size_t n, tk_engine_dtype dtype, tk_err *e) {
    const char *dname = dtype == TK_ENGINE_F32 ? "F32" : dtype == TK_ENGINE_F16 ? "F16" : dtype == TK_ENGINE_BF16 ? "BF16" : NULL;
    if (!dname) return tk_err_set(e, TK_EINVAL, "%s: can only write F32, F16 or BF16 tensors", path);
    size_t esz = dtype == TK_ENGINE_F32 ? 4 : 2;
    tk_buf hdr = {0};
    int rc = 0;
    size_t off = 0;
    rc |= tk_buf_putc(&hdr, '{');
    for (size_t i = 0; i < n && !rc; i++) {
        size_t numel = 1;
        for (int d = 0; d < ts[i].ndim; d++) numel *= (size_t)ts[i].shape[d];
        rc |= tk_buf_printf(&hdr, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", i ? "," : "", ts[i].name, dname);
        for (int d = 0; d < ts[i].ndim; d++) rc |= tk_buf_printf(&hdr, "%s%lld", d ? "," : "", (long long)ts[i].shape[d]);
        rc |= tk_buf_printf(&hdr, "],\"data_offsets\":[%zu,%zu]}", off, off + numel * esz);
        off += numel * esz;
    }
    rc |= tk_buf_putc(&hdr, '}');
    while (!rc && hdr.len % 8) rc |= tk_buf_putc(&hdr, ' ');
    if (rc) { tk_buf_free(&hdr); return tk_err_set(e, TK_ENOMEM, "%s: out of memory", path); }
    size_t total = 8 + hdr.len + off;
    uint8_t *img = malloc(total);
    if (!img) { tk_buf_free(&hdr); return tk_err_set(e, TK_ENOMEM, "%s: out of memory (%zu bytes)", path, total); }
    for (int i = 0; i < 8; i++) img[i] = (uint8_t)((uint64_t)hdr.len >> (8 * i));
    memcpy(img + 8, hdr.data, hdr.len);
    uint8_t *q = img + 8 + hdr.len;
    for (size_t i = 0; i < n; i++) {
        size_t numel = 1;
        for (int d = 0; d < ts[i].ndim; d++) numel *= (size_t)ts[i].shape[d];
        if (dtype == TK_ENGINE_F32) {
            memcpy(q, ts[i].data, numel * 4);
        } else {
            for (size_t k = 0; k < numel; k++) {
                uint16_t h = dtype == TK_ENGINE_F16 ? tk_f32_to_f16(ts[i].data[k]) : tk_f32_to_bf16(ts[i].data[k]);
                q[2 * k] = (uint8_t)h;
                q[2 * k + 1] = (uint8_t)(h >> 8);
            }
        }
        q += numel * esz;
    }
    rc = tk_file_write_atomic(path, img, total, 0644, e);
    free(img);
    tk_buf_free(&hdr);
    return rc;
}
