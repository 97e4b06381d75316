/* JSON codecs of TensorData, loss_fn_inputs / loss_fn_outputs maps, ModelInput and its chunks.
 *
 * TensorData's "data" may come before "dtype" (pydantic's field order puts it first), and the
 * element parser depends on the dtype; when that happens the array is skipped once and parsed
 * after the object has been read. */
#include "json_internal.h"
#include "wire_internal.h"

#include <string.h>

/* ---- TensorData ----------------------------------------------------------------------------- */

static int parse_data(tk_jr *r, tk_wire_dtype dt, tk_wire_tensor *t) {
    if (dt == TK_WIRE_INT64) return tk_jr_i64_array(r, &t->data.i64, &t->n);
    return tk_jr_f32_array(r, &t->data.f32, &t->n);
}

static int parse_dims(tk_jr *r, int64_t **v, size_t *n, bool is_shape) {
    int rc = tk_jr_i64_array(r, v, n);
    if (rc) return rc;
    if (is_shape && *n > TK_WIRE_MAX_NDIM)
        return tk_jr_fail(r, TK_EINVAL, "%zu dimensions (at most %d)", *n, TK_WIRE_MAX_NDIM);
    if (is_shape)
        for (size_t i = 0; i < *n; i++)
            if ((*v)[i] < 0) {
                tk_jr_push_index(r, i);
                return tk_jr_fail(r, TK_EINVAL, "negative dimension %lld", (long long)(*v)[i]);
            }
    return 0;
}

static void fmt_shape(char *buf, size_t n, const int64_t *shape, int ndim) {
    size_t used = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%lld", i ? "," : "", (long long)shape[i]);
    if (used < n) snprintf(buf + used, n - used, "]");
}

int tk_json_tensor_decode(tk_jr *r, tk_wire_tensor *t) {
    memset(t, 0, sizeof *t);
    int rc = tk_jr_obj_begin(r);
    if (rc) return rc;
    bool first = true, has_dtype = false, has_data = false, has_shape = false;
    const char *deferred = NULL;
    int64_t *shape = NULL, *crow = NULL, *col = NULL;
    size_t ndim = 0, n_crow = 0, n_col = 0;
    bool has_crow = false, has_col = false;
    const char *k;
    size_t kl;
    while ((rc = tk_jr_obj_next(r, &first, &k, &kl)) == 1) {
        size_t saved = tk_jr_push_key(r, k, kl);
#define IS(lit) (kl == sizeof(lit) - 1 && memcmp(k, lit, kl) == 0)
        if (IS("dtype")) {
            char *s;
            if (has_dtype) return tk_jr_fail(r, TK_EINVAL, "duplicate key");
            if ((rc = tk_jr_str(r, &s, NULL))) return rc;
            if (strcmp(s, "int64") == 0) t->dtype = TK_WIRE_INT64;
            else if (strcmp(s, "float32") == 0) t->dtype = TK_WIRE_FLOAT32;
            else return tk_jr_fail(r, TK_EINVAL, "unknown dtype \"%s\" (expected \"int64\" or \"float32\")", s);
            has_dtype = true;
        } else if (IS("data")) {
            if (has_data) return tk_jr_fail(r, TK_EINVAL, "duplicate key");
            has_data = true;
            if (has_dtype) {
                if ((rc = parse_data(r, t->dtype, t))) return rc;
            } else {
                if (tk_jr_peek(r) != '[') return tk_jr_type_error(r, "array");
                deferred = r->p;
                if ((rc = tk_jr_skip_numbers(r))) return rc;
            }
        } else if (IS("shape")) {
            if (has_shape) return tk_jr_fail(r, TK_EINVAL, "duplicate key");
            if (!tk_jr_null(r)) {
                has_shape = true;
                if ((rc = parse_dims(r, &shape, &ndim, true))) return rc;
            }
        } else if (IS("sparse_crow_indices")) {
            if (has_crow) return tk_jr_fail(r, TK_EINVAL, "duplicate key");
            if (!tk_jr_null(r)) {
                has_crow = true;
                if ((rc = parse_dims(r, &crow, &n_crow, false))) return rc;
            }
        } else if (IS("sparse_col_indices")) {
            if (has_col) return tk_jr_fail(r, TK_EINVAL, "duplicate key");
            if (!tk_jr_null(r)) {
                has_col = true;
                if ((rc = parse_dims(r, &col, &n_col, false))) return rc;
            }
        } else if (r->strict) {
            tk_jr_pop(r, saved);
            return tk_jr_fail(r, TK_EINVAL, "unknown field \"%.*s\"", (int)kl, k);
        } else if ((rc = tk_jr_skip(r))) {
            return rc;
        }
#undef IS
        tk_jr_pop(r, saved);
    }
    if (rc < 0) return rc;
    if (!has_dtype) {
        size_t saved = tk_jr_push_key(r, "dtype", 5);
        rc = tk_jr_fail(r, TK_EINVAL, "required field is missing");
        tk_jr_pop(r, saved);
        return rc;
    }
    if (!has_data) {
        size_t saved = tk_jr_push_key(r, "data", 4);
        rc = tk_jr_fail(r, TK_EINVAL, "required field is missing");
        tk_jr_pop(r, saved);
        return rc;
    }
    if (deferred) {
        const char *resume = r->p;
        r->p = deferred;
        size_t saved = tk_jr_push_key(r, "data", 4);
        if ((rc = parse_data(r, t->dtype, t))) return rc;
        tk_jr_pop(r, saved);
        r->p = resume;
    }
    if (has_crow != has_col)
        return tk_jr_fail(r, TK_EINVAL, "sparse_crow_indices and sparse_col_indices must come together");
    if (has_crow) {
        if (!has_shape) return tk_jr_fail(r, TK_EINVAL, "a sparse tensor needs \"shape\"");
        char where[TK_JSON_PATH_MAX];
        snprintf(where, sizeof where, "%s", r->path_len ? r->path : "(root)");
        tk_wire_tensor dense;
        rc = tk_wire_csr_expand(r->a, t->dtype, t->data.ptr, t->n, crow, n_crow, col, n_col, shape,
                                (int)ndim, &dense, where, r->e);
        if (rc) return rc;
        *t = dense;
        return 0;
    }
    if (!has_shape) {
        t->ndim = 1;
        t->shape[0] = (int64_t)t->n;
        return 0;
    }
    t->ndim = (int)ndim;
    if (ndim) memcpy(t->shape, shape, ndim * sizeof(int64_t));
    size_t numel;
    if (!tk_wire_shape_numel(t->shape, t->ndim, &numel))
        return tk_jr_fail(r, TK_ERANGE, "shape overflows");
    if (numel != t->n) {
        char sh[160];
        fmt_shape(sh, sizeof sh, t->shape, t->ndim);
        return tk_jr_fail(r, TK_EINVAL, "data has %zu elements but shape %s needs %zu", t->n, sh, numel);
    }
    return 0;
}

int tk_json_tensor_encode(tk_jw *w, const tk_wire_tensor *t) {
    tk_err e2 = {0};
    if (tk_wire_tensor_validate(t, "tensor", &e2)) return tk_jw_fail(w, e2.code, "%s", e2.msg);
    int rc;
    if ((rc = tk_jw_lit(w, "{\"data\":"))) return rc;
    if (t->dtype == TK_WIRE_INT64) {
        rc = tk_jw_i64_array(w, t->data.i64, t->n);
    } else {
        size_t saved = tk_jw_push_key(w, "data");
        rc = tk_jw_f32_array(w, t->data.f32, t->n);
        if (!rc) tk_jw_pop(w, saved);
    }
    if (rc) return rc;
    if ((rc = tk_jw_lit(w, t->dtype == TK_WIRE_INT64 ? ",\"dtype\":\"int64\",\"shape\":"
                                                     : ",\"dtype\":\"float32\",\"shape\":")))
        return rc;
    if ((rc = tk_jw_i64_array(w, t->shape, (size_t)t->ndim))) return rc;
    return tk_jw_raw(w, "}", 1);
}

/* ---- maps of tensors ------------------------------------------------------------------------ */

#define MAX_TENSORS_PER_MAP 4096

static int tensor_map_decode_at(tk_jr *r, tk_wire_tensor_map *m) {
    int rc = tk_jr_obj_begin(r);
    if (rc) return rc;
    tk_jr_vec v = {.elem = sizeof(tk_wire_named_tensor)};
    bool first = true;
    const char *k;
    size_t kl;
    while ((rc = tk_jr_obj_next(r, &first, &k, &kl)) == 1) {
        size_t saved = tk_jr_push_key(r, k, kl);
        tk_wire_named_tensor *items = (tk_wire_named_tensor *)v.data;
        for (size_t i = 0; i < v.len; i++)
            if (strlen(items[i].name) == kl && memcmp(items[i].name, k, kl) == 0) {
                rc = tk_jr_fail(r, TK_EINVAL, "duplicate key");
                goto out;
            }
        if (v.len >= MAX_TENSORS_PER_MAP) {
            rc = tk_jr_fail(r, TK_EINVAL, "more than %d tensors", MAX_TENSORS_PER_MAP);
            goto out;
        }
        tk_wire_named_tensor *nt = tk_jr_vec_push(r, &v);
        if (!nt) { rc = TK_ENOMEM; goto out; }
        if (!(nt->name = tk_arena_strndup(r->a, k, kl))) { rc = tk_jr_fail(r, TK_ENOMEM, "out of memory"); goto out; }
        if ((rc = tk_json_tensor_decode(r, &nt->tensor))) goto out;
        tk_jr_pop(r, saved);
    }
    if (rc == 0) rc = tk_jr_vec_finish(r, &v, (void **)&m->items, &m->n);
out:
    free(v.data);
    return rc;
}

static int tensor_map_encode_at(tk_jw *w, const tk_wire_tensor_map *m) {
    int rc;
    if (m->n && !m->items) return tk_jw_fail(w, TK_EINVAL, "%zu tensors but a NULL array", m->n);
    if ((rc = tk_jw_raw(w, "{", 1))) return rc;
    bool first = true;
    for (size_t i = 0; i < m->n; i++) {
        if (!m->items[i].name) return tk_jw_fail(w, TK_EINVAL, "tensor %zu has no name", i);
        if ((rc = tk_jw_key(w, &first, m->items[i].name))) return rc;
        size_t saved = tk_jw_push_key(w, m->items[i].name);
        if ((rc = tk_json_tensor_encode(w, &m->items[i].tensor))) return rc;
        tk_jw_pop(w, saved);
    }
    return tk_jw_raw(w, "}", 1);
}

static int tm_decode(tk_jr *r, void *obj, const tk_field *f) {
    return tensor_map_decode_at(r, (tk_wire_tensor_map *)((char *)obj + f->off));
}
static int tm_encode(tk_jw *w, const void *obj, const tk_field *f) {
    return tensor_map_encode_at(w, (const tk_wire_tensor_map *)((const char *)obj + f->off));
}
const tk_custom_codec tk_cc_tensor_map = {tm_decode, tm_encode, NULL};

static int tma_decode(tk_jr *r, void *obj, const tk_field *f) {
    tk_wire_tensor_map **items = (tk_wire_tensor_map **)((char *)obj + f->off);
    size_t *n = (size_t *)((char *)obj + f->n_off);
    int rc = tk_jr_arr_begin(r);
    if (rc) return rc;
    tk_jr_vec v = {.elem = sizeof(tk_wire_tensor_map)};
    bool first = true;
    size_t i = 0;
    while ((rc = tk_jr_arr_next(r, &first)) == 1) {
        tk_wire_tensor_map *m = tk_jr_vec_push(r, &v);
        if (!m) { rc = TK_ENOMEM; break; }
        size_t saved = tk_jr_push_index(r, i++);
        if ((rc = tensor_map_decode_at(r, m))) break;
        tk_jr_pop(r, saved);
    }
    if (rc == 0) rc = tk_jr_vec_finish(r, &v, (void **)items, n);
    free(v.data);
    return rc;
}

static int tma_encode(tk_jw *w, const void *obj, const tk_field *f) {
    const tk_wire_tensor_map *items = *(tk_wire_tensor_map *const *)((const char *)obj + f->off);
    size_t n = *(const size_t *)((const char *)obj + f->n_off);
    int rc;
    if (n && !items) return tk_jw_fail(w, TK_EINVAL, "%zu outputs but a NULL array", n);
    if ((rc = tk_jw_raw(w, "[", 1))) return rc;
    for (size_t i = 0; i < n; i++) {
        if (i && (rc = tk_jw_raw(w, ",", 1))) return rc;
        size_t saved = tk_jw_push_index(w, i);
        if ((rc = tensor_map_encode_at(w, &items[i]))) return rc;
        tk_jw_pop(w, saved);
    }
    return tk_jw_raw(w, "]", 1);
}
const tk_custom_codec tk_cc_tensor_map_array = {tma_decode, tma_encode, NULL};

/* ---- chunks and ModelInput ------------------------------------------------------------------ */

enum { CK_TYPE = 1, CK_TOKENS = 2, CK_DATA = 4, CK_FORMAT = 8, CK_LOCATION = 16, CK_EXPECTED = 32 };

static const char *const k_chunk_types[] = {"encoded_text", "image", "image_asset_pointer", NULL};

static int chunk_decode(tk_jr *r, tk_wire_chunk *c) {
    memset(c, 0, sizeof *c);
    int rc = tk_jr_obj_begin(r);
    if (rc) return rc;
    unsigned seen = 0;
    int type = -1;
    bool first = true;
    const char *k;
    size_t kl;
    while ((rc = tk_jr_obj_next(r, &first, &k, &kl)) == 1) {
        size_t saved = tk_jr_push_key(r, k, kl);
        unsigned bit = 0;
#define IS(lit) (kl == sizeof(lit) - 1 && memcmp(k, lit, kl) == 0)
        if (IS("type")) bit = CK_TYPE;
        else if (IS("tokens")) bit = CK_TOKENS;
        else if (IS("data")) bit = CK_DATA;
        else if (IS("format")) bit = CK_FORMAT;
        else if (IS("location")) bit = CK_LOCATION;
        else if (IS("expected_tokens")) bit = CK_EXPECTED;
        else if (IS("dmel")) return tk_jr_fail(r, TK_EUNSUPPORTED, "\"dmel\" (audio) chunks are not supported");
#undef IS
        if (!bit) {
            if (r->strict) {
                tk_jr_pop(r, saved);
                return tk_jr_fail(r, TK_EINVAL, "unknown field \"%.*s\"", (int)kl, k);
            }
            if ((rc = tk_jr_skip(r))) return rc;
            tk_jr_pop(r, saved);
            continue;
        }
        if (seen & bit) return tk_jr_fail(r, TK_EINVAL, "duplicate key");
        seen |= bit;
        if (bit == CK_EXPECTED && tk_jr_null(r)) { tk_jr_pop(r, saved); continue; }
        switch (bit) {
        case CK_TYPE: {
            char *s;
            if ((rc = tk_jr_str(r, &s, NULL))) return rc;
            for (int i = 0; k_chunk_types[i]; i++)
                if (strcmp(s, k_chunk_types[i]) == 0) type = i;
            if (strcmp(s, "dmel") == 0)
                return tk_jr_fail(r, TK_EUNSUPPORTED, "\"dmel\" (audio) chunks are not supported");
            if (type < 0)
                return tk_jr_fail(r, TK_EINVAL, "unknown chunk type \"%s\" (expected \"encoded_text\", "
                                  "\"image\" or \"image_asset_pointer\")", s);
            break;
        }
        case CK_TOKENS: rc = tk_jr_i32_array(r, &c->tokens, &c->n_tokens); break;
        case CK_DATA: {
            char *s;
            size_t n;
            if ((rc = tk_jr_str(r, &s, &n))) return rc;
            tk_buf b = {0};
            tk_err e2 = {0};
            rc = tk_base64_decode(s, n, &b, &e2);
            if (rc) {
                tk_buf_free(&b);
                return tk_jr_fail(r, TK_EPARSE, "invalid base64: %s", e2.msg);
            }
            c->n_data = b.len;
            c->data = b.len ? tk_arena_alloc(r->a, b.len) : NULL;
            if (b.len && !c->data) rc = tk_jr_fail(r, TK_ENOMEM, "out of memory");
            else if (b.len) memcpy(c->data, b.data, b.len);
            tk_buf_free(&b);
            break;
        }
        case CK_FORMAT:
            if ((rc = tk_jr_str(r, &c->format, NULL))) return rc;
            if (!tk_wire_image_format_ok(c->format))
                return tk_jr_fail(r, TK_EINVAL, "unknown image format \"%s\" (expected \"png\" or \"jpeg\")", c->format);
            break;
        case CK_LOCATION: rc = tk_jr_str(r, &c->location, NULL); break;
        case CK_EXPECTED:
            if ((rc = tk_jr_i64(r, &c->expected_tokens))) return rc;
            if (c->expected_tokens < 0) return tk_jr_fail(r, TK_EINVAL, "negative expected_tokens");
            c->has_expected_tokens = true;
            break;
        }
        if (rc) return rc;
        tk_jr_pop(r, saved);
    }
    if (rc < 0) return rc;
    if (type < 0) {
        /* no "type": infer it from the keys, as SkyRL does */
        if (seen & CK_TOKENS) type = TK_WIRE_CHUNK_ENCODED_TEXT;
        else if (seen & CK_LOCATION) type = TK_WIRE_CHUNK_IMAGE_ASSET_POINTER;
        else if (seen & CK_DATA) type = TK_WIRE_CHUNK_IMAGE;
        else return tk_jr_fail(r, TK_EINVAL, "chunk without \"type\" and without tokens, data or location");
    }
    c->type = (tk_wire_chunk_type)type;
    static const unsigned need[] = {CK_TOKENS, CK_DATA | CK_FORMAT, CK_LOCATION | CK_FORMAT};
    static const unsigned allow[] = {CK_TYPE | CK_TOKENS, CK_TYPE | CK_DATA | CK_FORMAT | CK_EXPECTED,
                                     CK_TYPE | CK_LOCATION | CK_FORMAT | CK_EXPECTED};
    static const char *const names[] = {"tokens", "data", "format", "location", "expected_tokens"};
    static const unsigned bits[] = {CK_TOKENS, CK_DATA, CK_FORMAT, CK_LOCATION, CK_EXPECTED};
    for (int i = 0; i < 5; i++) {
        if ((need[type] & bits[i]) && !(seen & bits[i])) {
            size_t saved = tk_jr_push_key(r, names[i], strlen(names[i]));
            rc = tk_jr_fail(r, TK_EINVAL, "required field is missing for a %s chunk", k_chunk_types[type]);
            tk_jr_pop(r, saved);
            return rc;
        }
        if (r->strict && !(allow[type] & bits[i]) && (seen & bits[i]))
            return tk_jr_fail(r, TK_EINVAL, "unknown field \"%s\" for a %s chunk", names[i], k_chunk_types[type]);
    }
    if (type != TK_WIRE_CHUNK_ENCODED_TEXT) { c->tokens = NULL; c->n_tokens = 0; }
    return 0;
}

static int chunk_encode(tk_jw *w, const tk_wire_chunk *c) {
    int rc;
    switch (c->type) {
    case TK_WIRE_CHUNK_ENCODED_TEXT:
        if (c->n_tokens && !c->tokens) return tk_jw_fail(w, TK_EINVAL, "%zu tokens but a NULL array", c->n_tokens);
        if ((rc = tk_jw_lit(w, "{\"tokens\":")) || (rc = tk_jw_i32_array(w, c->tokens, c->n_tokens)))
            return rc;
        return tk_jw_lit(w, ",\"type\":\"encoded_text\"}");
    case TK_WIRE_CHUNK_IMAGE: {
        if (!c->format || !tk_wire_image_format_ok(c->format))
            return tk_jw_fail(w, TK_EINVAL, "image format must be \"png\" or \"jpeg\"");
        if (c->n_data && !c->data) return tk_jw_fail(w, TK_EINVAL, "%zu bytes but a NULL array", c->n_data);
        if ((rc = tk_jw_lit(w, "{\"data\":\""))) return rc;
        if (tk_base64_encode(c->data, c->n_data, w->b)) return tk_jw_fail(w, TK_ENOMEM, "out of memory");
        if ((rc = tk_jw_lit(w, "\",\"format\":")) || (rc = tk_jw_str(w, c->format))) return rc;
        break;
    }
    case TK_WIRE_CHUNK_IMAGE_ASSET_POINTER:
        if (!c->format || !tk_wire_image_format_ok(c->format))
            return tk_jw_fail(w, TK_EINVAL, "image format must be \"png\" or \"jpeg\"");
        if (!c->location) return tk_jw_fail(w, TK_EINVAL, "image_asset_pointer chunk without location");
        if ((rc = tk_jw_lit(w, "{\"format\":")) || (rc = tk_jw_str(w, c->format)) ||
            (rc = tk_jw_lit(w, ",\"location\":")) || (rc = tk_jw_str(w, c->location)))
            return rc;
        break;
    default: return tk_jw_fail(w, TK_EINVAL, "invalid chunk type %d", (int)c->type);
    }
    if (c->has_expected_tokens) {
        if (c->expected_tokens < 0) return tk_jw_fail(w, TK_EINVAL, "negative expected_tokens");
        if ((rc = tk_jw_lit(w, ",\"expected_tokens\":")) || (rc = tk_jw_i64(w, c->expected_tokens))) return rc;
    }
    if ((rc = tk_jw_lit(w, ",\"type\":")) || (rc = tk_jw_str(w, k_chunk_types[c->type]))) return rc;
    return tk_jw_raw(w, "}", 1);
}

int tk_json_model_input_decode(tk_jr *r, tk_wire_model_input *mi) {
    memset(mi, 0, sizeof *mi);
    int rc = tk_jr_obj_begin(r);
    if (rc) return rc;
    bool first = true, seen = false;
    const char *k;
    size_t kl;
    while ((rc = tk_jr_obj_next(r, &first, &k, &kl)) == 1) {
        size_t saved = tk_jr_push_key(r, k, kl);
        if (!(kl == 6 && memcmp(k, "chunks", 6) == 0)) {
            if (r->strict) {
                tk_jr_pop(r, saved);
                return tk_jr_fail(r, TK_EINVAL, "unknown field \"%.*s\"", (int)kl, k);
            }
            if ((rc = tk_jr_skip(r))) return rc;
            tk_jr_pop(r, saved);
            continue;
        }
        if (seen) return tk_jr_fail(r, TK_EINVAL, "duplicate key");
        seen = true;
        if ((rc = tk_jr_arr_begin(r))) return rc;
        tk_jr_vec v = {.elem = sizeof(tk_wire_chunk)};
        bool afirst = true;
        size_t i = 0;
        while ((rc = tk_jr_arr_next(r, &afirst)) == 1) {
            tk_wire_chunk *c = tk_jr_vec_push(r, &v);
            if (!c) { rc = TK_ENOMEM; break; }
            size_t s2 = tk_jr_push_index(r, i++);
            if ((rc = chunk_decode(r, c))) break;
            tk_jr_pop(r, s2);
        }
        if (rc == 0) rc = tk_jr_vec_finish(r, &v, (void **)&mi->chunks, &mi->n_chunks);
        free(v.data);
        if (rc) return rc;
        tk_jr_pop(r, saved);
    }
    if (rc < 0) return rc;
    if (!seen) {
        size_t saved = tk_jr_push_key(r, "chunks", 6);
        rc = tk_jr_fail(r, TK_EINVAL, "required field is missing");
        tk_jr_pop(r, saved);
        return rc;
    }
    return 0;
}

int tk_json_model_input_encode(tk_jw *w, const tk_wire_model_input *mi) {
    int rc;
    if (mi->n_chunks && !mi->chunks) return tk_jw_fail(w, TK_EINVAL, "%zu chunks but a NULL array", mi->n_chunks);
    if ((rc = tk_jw_lit(w, "{\"chunks\":["))) return rc;
    size_t saved = tk_jw_push_key(w, "chunks");
    for (size_t i = 0; i < mi->n_chunks; i++) {
        if (i && (rc = tk_jw_raw(w, ",", 1))) return rc;
        size_t s2 = tk_jw_push_index(w, i);
        if ((rc = chunk_encode(w, &mi->chunks[i]))) return rc;
        tk_jw_pop(w, s2);
    }
    tk_jw_pop(w, saved);
    return tk_jw_lit(w, "]}");
}

static int mi_decode(tk_jr *r, void *obj, const tk_field *f) {
    return tk_json_model_input_decode(r, (tk_wire_model_input *)((char *)obj + f->off));
}
static int mi_encode(tk_jw *w, const void *obj, const tk_field *f) {
    return tk_json_model_input_encode(w, (const tk_wire_model_input *)((const char *)obj + f->off));
}
const tk_custom_codec tk_cc_model_input = {mi_decode, mi_encode, NULL};
