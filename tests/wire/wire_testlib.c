/* Random objects, deep equality and JSON comparison for the wire tests. */
#include "wire_testlib.h"

#include "wire/json_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define AT(obj, off, T) ((T *)((char *)(obj) + (off)))
#define CAT(obj, off, T) ((const T *)((const char *)(obj) + (off)))

/* ---- random values -------------------------------------------------------------------------- */

static bool coin(tk_rng *r) { return tk_rng_u64(r) & 1; }
static int below(tk_rng *r, int n) { return (int)tk_rng_below(r, (uint64_t)n); }

static char *rand_str(tk_rng *r, tk_arena *a) {
    static const char *const pieces[] = {"a", "b", "z", "Q", "0", "9", " ", "_", ":", "/", "-", "\"", "\\", "\n",
                                         "\t", "\x01", "\x1f", "\xc3\xa9", "\xe4\xb8\xad", "\xf0\x9f\x98\x80",
                                         "tinker://", "{", "}", "[", ","};
    char buf[128];
    size_t n = 0;
    int len = below(r, 9);
    for (int i = 0; i < len; i++) {
        const char *p = pieces[below(r, (int)(sizeof pieces / sizeof pieces[0]))];
        size_t l = strlen(p);
        memcpy(buf + n, p, l);
        n += l;
    }
    buf[n] = '\0';
    return tk_arena_strdup(a, buf);
}

static char *rand_datetime(tk_rng *r, tk_arena *a) {
    return tk_arena_printf(a, "20%02d-%02d-%02dT%02d:%02d:%02d.%06dZ", below(r, 100), 1 + below(r, 12),
                           1 + below(r, 28), below(r, 24), below(r, 60), below(r, 60), below(r, 1000000));
}

static int64_t rand_i64(tk_rng *r) {
    switch (below(r, 5)) {
    case 0: return (int64_t)below(r, 2001) - 1000;
    case 1: return (int64_t)tk_rng_u64(r);
    case 2: return coin(r) ? INT64_MAX : INT64_MIN;
    case 3: return (int64_t)(tk_rng_u64(r) >> below(r, 64));
    default: return below(r, 10);
    }
}

static double rand_f64(tk_rng *r) {
    for (;;) {
        double d;
        switch (below(r, 6)) {
        case 0: d = tk_rng_f64(r) * 2 - 1; break;
        case 1: d = (tk_rng_f64(r) * 2 - 1) * pow(10, below(r, 61) - 30); break;
        case 2: d = (double)((int64_t)below(r, 200001) - 100000); break;
        case 3: { uint64_t u = tk_rng_u64(r); memcpy(&d, &u, 8); break; }
        case 4: d = coin(r) ? -0.0 : 0.0; break;
        default: d = (double)below(r, 1000) / 8; break;
        }
        if (isfinite(d)) return d;
    }
}

static float rand_f32(tk_rng *r) {
    for (;;) {
        float f;
        switch (below(r, 6)) {
        case 0: f = (float)(tk_rng_f64(r) * 2 - 1); break;
        case 1: f = (float)((tk_rng_f64(r) * 2 - 1) * pow(10, below(r, 79) - 40)); break;
        case 2: f = (float)below(r, 3); break;
        case 3: { uint32_t u = (uint32_t)tk_rng_u64(r); memcpy(&f, &u, 4); break; }
        case 4: f = coin(r) ? -0.0f : 0.0f; break;
        default: f = -(float)tk_rng_f64(r) * 20; break;
        }
        if (isfinite(f)) return f;
    }
}

/* ---- random custom pieces ------------------------------------------------------------------- */

static void rand_tensor(tk_rng *r, tk_arena *a, tk_wire_tensor *t, unsigned flags, int ndim, const int64_t *trailing) {
    memset(t, 0, sizeof *t);
    t->dtype = coin(r) ? TK_WIRE_INT64 : TK_WIRE_FLOAT32;
    t->ndim = ndim >= 0 ? ndim : below(r, 4) + ((flags & TW_FOR_PROTO) ? 1 : 0);
    if (t->ndim > 3) t->ndim = 3;
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++) {
        t->shape[i] = (trailing && i > 0) ? trailing[i - 1] : below(r, 5);
        n *= (size_t)t->shape[i];
    }
    t->n = n;
    if (n) t->data.ptr = tk_arena_alloc(a, n * 8);
    for (size_t i = 0; i < n; i++) {
        if (t->dtype == TK_WIRE_INT64) t->data.i64[i] = rand_i64(r);
        else t->data.f32[i] = rand_f32(r);
    }
}

static void rand_tensor_map(tk_rng *r, tk_arena *a, tk_wire_tensor_map *m, unsigned flags) {
    static const char *const names[] = {"target_tokens", "weights", "logprobs", "advantages", "x", "\xc3\xa9"};
    m->n = (size_t)below(r, 4);
    m->items = m->n ? tk_arena_zalloc(a, m->n * sizeof *m->items) : NULL;
    int start = below(r, 6);
    for (size_t i = 0; i < m->n; i++) {
        m->items[i].name = tk_arena_strdup(a, names[(start + (int)i) % 6]);
        rand_tensor(r, a, &m->items[i].tensor, flags, -1, NULL);
    }
}

static void rand_outputs(tk_rng *r, tk_arena *a, tk_wire_tensor_map **items, size_t *n, unsigned flags) {
    *n = (size_t)below(r, 5);
    *items = *n ? tk_arena_zalloc(a, *n * sizeof **items) : NULL;
    if (!(flags & TW_FOR_PROTO)) {
        for (size_t i = 0; i < *n; i++) rand_tensor_map(r, a, &(*items)[i], flags);
        return;
    }
    /* protobuf: the same fields in every datum, ndim >= 1, no zero trailing dims */
    size_t nf = (size_t)below(r, 3);
    static const char *const names[] = {"logprobs", "elementwise_loss", "ids"};
    tk_wire_dtype dt[3];
    int ndim[3];
    int64_t trailing[3][2];
    for (size_t f = 0; f < nf; f++) {
        dt[f] = coin(r) ? TK_WIRE_INT64 : TK_WIRE_FLOAT32;
        ndim[f] = 1 + below(r, 3);
        trailing[f][0] = 1 + below(r, 3);
        trailing[f][1] = 1 + below(r, 2);
    }
    for (size_t i = 0; i < *n; i++) {
        tk_wire_tensor_map *m = &(*items)[i];
        m->n = nf;
        m->items = nf ? tk_arena_zalloc(a, nf * sizeof *m->items) : NULL;
        bool change = below(r, 4) == 0;   /* sometimes a new layout: a new ArrayRecord */
        for (size_t f = 0; f < nf; f++) {
            if (change && f == 0) trailing[f][0] = 1 + below(r, 3);
            m->items[f].name = tk_arena_strdup(a, names[f]);
            rand_tensor(r, a, &m->items[f].tensor, flags, ndim[f], trailing[f]);
            m->items[f].tensor.dtype = dt[f];
            for (size_t k = 0; k < m->items[f].tensor.n; k++) {
                if (dt[f] == TK_WIRE_INT64) m->items[f].tensor.data.i64[k] = rand_i64(r);
                else m->items[f].tensor.data.f32[k] = rand_f32(r);
            }
        }
    }
}

static void rand_chunk(tk_rng *r, tk_arena *a, tk_wire_chunk *c, unsigned flags) {
    memset(c, 0, sizeof *c);
    int kind = below(r, (flags & TW_FOR_PROTO) ? 2 : 3);
    c->type = (tk_wire_chunk_type)kind;
    if (kind == TK_WIRE_CHUNK_ENCODED_TEXT) {
        c->n_tokens = (size_t)below(r, 7);
        c->tokens = c->n_tokens ? tk_arena_alloc(a, c->n_tokens * 4) : NULL;
        for (size_t i = 0; i < c->n_tokens; i++) c->tokens[i] = (int32_t)tk_rng_u64(r) >> below(r, 32);
        return;
    }
    c->format = tk_arena_strdup(a, coin(r) ? "png" : "jpeg");
    c->has_expected_tokens = coin(r);
    c->expected_tokens = c->has_expected_tokens ? below(r, 5000) : 0;
    if (kind == TK_WIRE_CHUNK_IMAGE) {
        c->n_data = (size_t)below(r, 12);
        c->data = c->n_data ? tk_arena_alloc(a, c->n_data) : NULL;
        for (size_t i = 0; i < c->n_data; i++) c->data[i] = (uint8_t)tk_rng_u64(r);
    } else {
        c->location = rand_str(r, a);
    }
}

static void rand_model_input(tk_rng *r, tk_arena *a, tk_wire_model_input *mi, unsigned flags) {
    mi->n_chunks = (size_t)below(r, 4);
    mi->chunks = mi->n_chunks ? tk_arena_zalloc(a, mi->n_chunks * sizeof *mi->chunks) : NULL;
    for (size_t i = 0; i < mi->n_chunks; i++) rand_chunk(r, a, &mi->chunks[i], flags);
}

static void rand_stop(tk_rng *r, tk_arena *a, tk_wire_sampling_params *sp) {
    sp->stop_kind = (tk_wire_stop_kind)below(r, 4);
    if (sp->stop_kind == TK_WIRE_STOP_STRING || sp->stop_kind == TK_WIRE_STOP_STRINGS) {
        sp->n_stop_strings = sp->stop_kind == TK_WIRE_STOP_STRING ? 1 : (size_t)below(r, 4);
        sp->stop_strings = tk_arena_zalloc(a, (sp->n_stop_strings + 1) * sizeof(char *));
        for (size_t i = 0; i < sp->n_stop_strings; i++) sp->stop_strings[i] = rand_str(r, a);
    } else if (sp->stop_kind == TK_WIRE_STOP_TOKENS) {
        sp->n_stop_tokens = 1 + (size_t)below(r, 3);
        sp->stop_tokens = tk_arena_alloc(a, sp->n_stop_tokens * 4);
        for (size_t i = 0; i < sp->n_stop_tokens; i++) sp->stop_tokens[i] = (int32_t)tk_rng_u64(r);
    }
}

static void rand_prompt_logprobs(tk_rng *r, tk_arena *a, tk_wire_sample_response *s, unsigned flags) {
    s->has_prompt_logprobs = coin(r);
    if (!s->has_prompt_logprobs) return;
    s->n_prompt_logprobs = (size_t)below(r, 6) + ((flags & TW_FOR_PROTO) ? 1 : 0);
    s->prompt_logprobs = s->n_prompt_logprobs ? tk_arena_alloc(a, s->n_prompt_logprobs * 4) : NULL;
    for (size_t i = 0; i < s->n_prompt_logprobs; i++)
        s->prompt_logprobs[i] = (i == 0 || below(r, 5) == 0) ? NAN : rand_f32(r);
}

static void rand_topk(tk_rng *r, tk_arena *a, tk_wire_sample_response *s, unsigned flags) {
    s->has_topk_prompt_logprobs = coin(r);
    if (!s->has_topk_prompt_logprobs) return;
    tk_wire_topk_prompt_logprobs *t = &s->topk_prompt_logprobs;
    bool proto = flags & TW_FOR_PROTO;
    t->n_positions = (size_t)below(r, 5) + (proto ? 1 : 0);
    t->k = t->n_positions ? (size_t)below(r, 4) + (proto ? 1 : 0) : 0;
    size_t cells = t->n_positions * t->k;
    if (!cells) return;
    t->token_ids = tk_arena_alloc(a, cells * 4);
    t->logprobs = tk_arena_alloc(a, cells * 4);
    size_t full = (size_t)below(r, (int)t->n_positions);   /* this row has all k cells */
    for (size_t row = 0; row < t->n_positions; row++) {
        size_t m = row == full ? t->k : (size_t)below(r, (int)t->k + 1);
        for (size_t c = 0; c < t->k; c++) {
            bool real = c < m;
            t->token_ids[row * t->k + c] = real ? 1 + below(r, 200000) : 0;
            t->logprobs[row * t->k + c] = real ? -(float)tk_rng_f64(r) * 30 : TK_WIRE_TOPK_MASK_LOGPROB;
        }
    }
}

static const char *const k_raw_objects[] = {"{}", "{\"a\":1}", "{\"k\":\"v\",\"n\":[1,2.5,{\"x\":null}],\"t\":true}",
                                            "{\"u\":\"\\u00e9\\\"q\",\"neg\":-0.0}"};

/* ---- generic random ------------------------------------------------------------------------- */

static void rand_desc(const tk_msg_desc *d, tk_rng *r, tk_arena *a, void *obj, unsigned flags, int depth);

static void rand_field(const tk_field *f, tk_rng *r, tk_arena *a, void *obj, unsigned flags, int depth) {
    bool opt = f->flags & (TK_F_OPT | TK_F_NULL);
    bool on = !opt || coin(r);
    if (f->has_off >= 0) *AT(obj, f->has_off, bool) = on;
    switch (f->kind) {
    case TK_FK_TAG: break;
    case TK_FK_STR:
        if (f->flags & TK_F_LITERAL) *AT(obj, f->off, char *) = (char *)f->aux;
        else *AT(obj, f->off, char *) = on ? rand_str(r, a) : NULL;
        break;
    case TK_FK_DATETIME: *AT(obj, f->off, char *) = on ? rand_datetime(r, a) : NULL; break;
    case TK_FK_I64: *AT(obj, f->off, int64_t) = on ? rand_i64(r) : 0; break;
    case TK_FK_F64: *AT(obj, f->off, double) = rand_f64(r); break;
    case TK_FK_BOOL: *AT(obj, f->off, bool) = on && coin(r); break;
    case TK_FK_ENUM: {
        const char *const *names = f->aux;
        int n = 0;
        while (names[n]) n++;
        *AT(obj, f->off, int) = below(r, n);
        break;
    }
    case TK_FK_STR_LIST: {
        tk_wire_str_list *l = AT(obj, f->off, tk_wire_str_list);
        l->n = (size_t)below(r, 4);
        l->items = l->n ? tk_arena_zalloc(a, l->n * sizeof(char *)) : NULL;
        for (size_t i = 0; i < l->n; i++) l->items[i] = rand_str(r, a);
        break;
    }
    case TK_FK_STR_MAP: {
        tk_wire_str_map *m = AT(obj, f->off, tk_wire_str_map);
        m->present = on;
        if (!on) break;
        m->n = (size_t)below(r, 4);
        m->items = m->n ? tk_arena_zalloc(a, m->n * sizeof *m->items) : NULL;
        for (size_t i = 0; i < m->n; i++) {
            m->items[i].key = tk_arena_printf(a, "%s%zu", rand_str(r, a), i);
            m->items[i].value = rand_str(r, a);
        }
        break;
    }
    case TK_FK_F64_MAP: {
        tk_wire_f64_map *m = AT(obj, f->off, tk_wire_f64_map);
        m->present = on;
        if (!on) break;
        m->n = (size_t)below(r, 4);
        if ((flags & TW_FOR_PROTO) && m->n == 0) m->present = false;   /* proto: {} reads as absent */
        m->items = m->n ? tk_arena_zalloc(a, m->n * sizeof *m->items) : NULL;
        for (size_t i = 0; i < m->n; i++) {
            m->items[i].key = tk_arena_printf(a, "%s:%zu", rand_str(r, a), i);
            m->items[i].value = rand_f64(r);
        }
        break;
    }
    case TK_FK_RAW_OBJ:
        *AT(obj, f->off, char *) = (on || (f->flags & TK_F_REQ)) ? (char *)k_raw_objects[below(r, 4)] : NULL;
        break;
    case TK_FK_OBJ:
        rand_desc(f->aux, r, a, AT(obj, f->off, char), flags, depth + 1);
        break;
    case TK_FK_OBJ_ARRAY: {
        const tk_msg_desc *sub = f->aux;
        size_t n = depth > 3 ? 0 : (size_t)below(r, 4);
        char *items = n ? tk_arena_zalloc(a, n * sub->info.size) : NULL;
        for (size_t i = 0; i < n; i++) rand_desc(sub, r, a, items + i * sub->info.size, flags, depth + 1);
        *AT(obj, f->off, char *) = items;
        *AT(obj, f->n_off, size_t) = n;
        break;
    }
    case TK_FK_I32_ARRAY: {
        size_t n = (size_t)below(r, 9);
        int32_t *v = n ? tk_arena_alloc(a, n * 4) : NULL;
        for (size_t i = 0; i < n; i++) v[i] = (int32_t)tk_rng_u64(r) >> below(r, 32);
        *AT(obj, f->off, int32_t *) = v;
        *AT(obj, f->n_off, size_t) = n;
        break;
    }
    case TK_FK_F32_ARRAY: {
        size_t n = on ? (size_t)below(r, 9) + ((flags & TW_FOR_PROTO) ? 1 : 0) : 0;
        float *v = n ? tk_arena_alloc(a, n * 4) : NULL;
        for (size_t i = 0; i < n; i++) v[i] = rand_f32(r);
        *AT(obj, f->off, float *) = v;
        *AT(obj, f->n_off, size_t) = n;
        break;
    }
    case TK_FK_CUSTOM: {
        const tk_custom_codec *cc = f->aux;
        if (cc == &tk_cc_tensor_map) rand_tensor_map(r, a, AT(obj, f->off, tk_wire_tensor_map), flags);
        else if (cc == &tk_cc_tensor_map_array)
            rand_outputs(r, a, AT(obj, f->off, tk_wire_tensor_map *), AT(obj, f->n_off, size_t), flags);
        else if (cc == &tk_cc_model_input) rand_model_input(r, a, AT(obj, f->off, tk_wire_model_input), flags);
        else if (cc == &tk_cc_stop) rand_stop(r, a, obj);
        else if (cc == &tk_cc_prompt_logprobs) rand_prompt_logprobs(r, a, obj, flags);
        else if (cc == &tk_cc_topk) rand_topk(r, a, obj, flags);
        break;
    }
    }
}

static void rand_desc(const tk_msg_desc *d, tk_rng *r, tk_arena *a, void *obj, unsigned flags, int depth) {
    memset(obj, 0, d->info.size);
    for (size_t i = 0; i < d->n_fields; i++) rand_field(&d->fields[i], r, a, obj, flags, depth);
    if (strcmp(d->info.name, "telemetry event") == 0) {
        tk_wire_telemetry_event *ev = obj;
        if (ev->event == TK_WIRE_EVENT_SESSION_END && !ev->duration) ev->duration = rand_str(r, a);
        if (ev->event == TK_WIRE_EVENT_UNHANDLED_EXCEPTION) {
            if (!ev->error_type) ev->error_type = rand_str(r, a);
            if (!ev->error_message) ev->error_message = rand_str(r, a);
        }
        if (ev->event == TK_WIRE_EVENT_GENERIC_EVENT && !ev->event_name) ev->event_name = rand_str(r, a);
    }
}

void tw_random(tk_wire_msg type, tk_rng *r, tk_arena *a, void *obj, unsigned flags) {
    const tk_msg_desc *d = tk_wire_msg_desc(type);
    switch (type) {
    case TK_WIRE_MSG_TENSOR_DATA: rand_tensor(r, a, obj, flags, -1, NULL); return;
    case TK_WIRE_MSG_MODEL_INPUT: rand_model_input(r, a, obj, flags); return;
    case TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST: {
        tk_wire_forward_backward_request *q = obj;
        memset(q, 0, sizeof *q);
        q->model_id = rand_str(r, a);
        q->has_seq_id = (flags & TW_FOR_PROTO) || coin(r);
        q->seq_id = q->has_seq_id ? ((flags & TW_FOR_PROTO) ? (int32_t)tk_rng_u64(r) : rand_i64(r)) : 0;
        q->forward_only = coin(r);
        rand_desc(&tk_desc_forward_backward_input, r, a, &q->input, flags, 0);
        return;
    }
    default: break;
    }
    rand_desc(d, r, a, obj, flags, 0);
    if (flags & TW_FOR_PROTO) {
        if (type == TK_WIRE_MSG_SAMPLE_RESPONSE) {
            tk_wire_sample_response *s = obj;
            s->prompt_cache_hit_tokens = (int32_t)s->prompt_cache_hit_tokens;
        }
        if (type == TK_WIRE_MSG_FORWARD_BACKWARD_OUTPUT) {
            tk_wire_forward_backward_output *o = obj;
            char *t = o->loss_fn_output_type;
            for (char *p = t; *p; p++)
                if (*p == ':') *p = '_';
            if (!*t) o->loss_fn_output_type = tk_arena_strdup(a, "TorchLossReturn");
        }
    }
}

/* ---- equality ------------------------------------------------------------------------------- */

#define DIFF(...) (snprintf(why, why_len, __VA_ARGS__), false)

static bool str_eq(const char *x, const char *y) { return (!x && !y) || (x && y && strcmp(x, y) == 0); }

static bool tensor_eq(const tk_wire_tensor *x, const tk_wire_tensor *y, const char *where, char *why, size_t why_len) {
    if (x->dtype != y->dtype) return DIFF("%s: dtype %d vs %d", where, x->dtype, y->dtype);
    if (x->ndim != y->ndim) return DIFF("%s: ndim %d vs %d", where, x->ndim, y->ndim);
    for (int i = 0; i < x->ndim; i++)
        if (x->shape[i] != y->shape[i]) return DIFF("%s: shape[%d] %lld vs %lld", where, i, (long long)x->shape[i], (long long)y->shape[i]);
    if (x->n != y->n) return DIFF("%s: n %zu vs %zu", where, x->n, y->n);
    if (x->n && memcmp(x->data.ptr, y->data.ptr, x->n * (x->dtype == TK_WIRE_INT64 ? 8 : 4)))
        return DIFF("%s: data differs", where);
    return true;
}

static bool tmap_eq(const tk_wire_tensor_map *x, const tk_wire_tensor_map *y, const char *where, char *why, size_t why_len) {
    if (x->n != y->n) return DIFF("%s: %zu vs %zu tensors", where, x->n, y->n);
    for (size_t i = 0; i < x->n; i++) {
        const tk_wire_tensor *t = tk_wire_tensor_map_get(y, x->items[i].name);
        char w[200];
        snprintf(w, sizeof w, "%s.%s", where, x->items[i].name);
        if (!t) return DIFF("%s: missing", w);
        if (!tensor_eq(&x->items[i].tensor, t, w, why, why_len)) return false;
    }
    return true;
}

static bool mi_eq(const tk_wire_model_input *x, const tk_wire_model_input *y, const char *where, char *why, size_t why_len) {
    if (x->n_chunks != y->n_chunks) return DIFF("%s: %zu vs %zu chunks", where, x->n_chunks, y->n_chunks);
    for (size_t i = 0; i < x->n_chunks; i++) {
        const tk_wire_chunk *a = &x->chunks[i], *b = &y->chunks[i];
        if (a->type != b->type) return DIFF("%s.chunks[%zu]: type", where, i);
        if (a->type == TK_WIRE_CHUNK_ENCODED_TEXT) {
            if (a->n_tokens != b->n_tokens || (a->n_tokens && memcmp(a->tokens, b->tokens, a->n_tokens * 4)))
                return DIFF("%s.chunks[%zu]: tokens", where, i);
            continue;
        }
        if (!str_eq(a->format, b->format)) return DIFF("%s.chunks[%zu]: format", where, i);
        if (a->has_expected_tokens != b->has_expected_tokens || a->expected_tokens != b->expected_tokens)
            return DIFF("%s.chunks[%zu]: expected_tokens", where, i);
        if (a->type == TK_WIRE_CHUNK_IMAGE &&
            (a->n_data != b->n_data || (a->n_data && memcmp(a->data, b->data, a->n_data))))
            return DIFF("%s.chunks[%zu]: data", where, i);
        if (a->type == TK_WIRE_CHUNK_IMAGE_ASSET_POINTER && !str_eq(a->location, b->location))
            return DIFF("%s.chunks[%zu]: location", where, i);
    }
    return true;
}

static bool desc_eq(const tk_msg_desc *d, const void *x, const void *y, const char *where, char *why, size_t why_len);

static bool field_eq(const tk_field *f, const void *x, const void *y, const char *where, char *why, size_t why_len) {
    char w[300];
    snprintf(w, sizeof w, "%s.%s", where, f->name);
    if (f->has_off >= 0) {
        bool hx = *CAT(x, f->has_off, bool), hy = *CAT(y, f->has_off, bool);
        if (hx != hy) return DIFF("%s: present %d vs %d", w, hx, hy);
        if (!hx) return true;
    }
    switch (f->kind) {
    case TK_FK_TAG: return true;
    case TK_FK_STR: case TK_FK_DATETIME: case TK_FK_RAW_OBJ:
        if (!str_eq(*CAT(x, f->off, char *), *CAT(y, f->off, char *)))
            return DIFF("%s: \"%s\" vs \"%s\"", w, *CAT(x, f->off, char *) ? *CAT(x, f->off, char *) : "(null)",
                        *CAT(y, f->off, char *) ? *CAT(y, f->off, char *) : "(null)");
        return true;
    case TK_FK_I64:
        if (*CAT(x, f->off, int64_t) != *CAT(y, f->off, int64_t)) return DIFF("%s: %lld vs %lld", w,
            (long long)*CAT(x, f->off, int64_t), (long long)*CAT(y, f->off, int64_t));
        return true;
    case TK_FK_F64:
        if (memcmp(CAT(x, f->off, double), CAT(y, f->off, double), 8))
            return DIFF("%s: %.17g vs %.17g", w, *CAT(x, f->off, double), *CAT(y, f->off, double));
        return true;
    case TK_FK_BOOL:
        if (*CAT(x, f->off, bool) != *CAT(y, f->off, bool)) return DIFF("%s: bool", w);
        return true;
    case TK_FK_ENUM:
        if (*CAT(x, f->off, int) != *CAT(y, f->off, int)) return DIFF("%s: %d vs %d", w, *CAT(x, f->off, int), *CAT(y, f->off, int));
        return true;
    case TK_FK_STR_LIST: {
        const tk_wire_str_list *a = CAT(x, f->off, tk_wire_str_list), *b = CAT(y, f->off, tk_wire_str_list);
        if (a->n != b->n) return DIFF("%s: %zu vs %zu strings", w, a->n, b->n);
        for (size_t i = 0; i < a->n; i++)
            if (!str_eq(a->items[i], b->items[i])) return DIFF("%s[%zu]", w, i);
        return true;
    }
    case TK_FK_STR_MAP: {
        const tk_wire_str_map *a = CAT(x, f->off, tk_wire_str_map), *b = CAT(y, f->off, tk_wire_str_map);
        if ((f->flags & TK_F_OPT) && a->present != b->present) return DIFF("%s: present", w);
        if (a->n != b->n) return DIFF("%s: %zu vs %zu entries", w, a->n, b->n);
        for (size_t i = 0; i < a->n; i++) {
            bool found = false;
            for (size_t j = 0; j < b->n; j++)
                if (str_eq(a->items[i].key, b->items[j].key)) found = str_eq(a->items[i].value, b->items[j].value);
            if (!found) return DIFF("%s.%s", w, a->items[i].key);
        }
        return true;
    }
    case TK_FK_F64_MAP: {
        const tk_wire_f64_map *a = CAT(x, f->off, tk_wire_f64_map), *b = CAT(y, f->off, tk_wire_f64_map);
        if ((f->flags & TK_F_OPT) && a->present != b->present) return DIFF("%s: present %d vs %d", w, a->present, b->present);
        if (a->n != b->n) return DIFF("%s: %zu vs %zu entries", w, a->n, b->n);
        for (size_t i = 0; i < a->n; i++) {
            const double *v = tk_wire_f64_map_get(b, a->items[i].key);
            if (!v || memcmp(v, &a->items[i].value, 8)) return DIFF("%s.%s", w, a->items[i].key);
        }
        return true;
    }
    case TK_FK_OBJ: return desc_eq(f->aux, CAT(x, f->off, char), CAT(y, f->off, char), w, why, why_len);
    case TK_FK_OBJ_ARRAY: {
        const tk_msg_desc *sub = f->aux;
        size_t n = *CAT(x, f->n_off, size_t);
        if (n != *CAT(y, f->n_off, size_t)) return DIFF("%s: %zu vs %zu items", w, n, *CAT(y, f->n_off, size_t));
        const char *ix = *CAT(x, f->off, char *), *iy = *CAT(y, f->off, char *);
        for (size_t i = 0; i < n; i++) {
            char wi[320];
            snprintf(wi, sizeof wi, "%s[%zu]", w, i);
            if (!desc_eq(sub, ix + i * sub->info.size, iy + i * sub->info.size, wi, why, why_len)) return false;
        }
        return true;
    }
    case TK_FK_I32_ARRAY: case TK_FK_F32_ARRAY: {
        size_t n = *CAT(x, f->n_off, size_t);
        if (n != *CAT(y, f->n_off, size_t)) return DIFF("%s: %zu vs %zu", w, n, *CAT(y, f->n_off, size_t));
        if (n && memcmp(*CAT(x, f->off, void *), *CAT(y, f->off, void *), n * 4)) return DIFF("%s: values", w);
        return true;
    }
    case TK_FK_CUSTOM: {
        const tk_custom_codec *cc = f->aux;
        if (cc == &tk_cc_tensor_map) return tmap_eq(CAT(x, f->off, tk_wire_tensor_map), CAT(y, f->off, tk_wire_tensor_map), w, why, why_len);
        if (cc == &tk_cc_model_input) return mi_eq(CAT(x, f->off, tk_wire_model_input), CAT(y, f->off, tk_wire_model_input), w, why, why_len);
        if (cc == &tk_cc_tensor_map_array) {
            size_t n = *CAT(x, f->n_off, size_t);
            if (n != *CAT(y, f->n_off, size_t)) return DIFF("%s: %zu vs %zu", w, n, *CAT(y, f->n_off, size_t));
            const tk_wire_tensor_map *a = *CAT(x, f->off, tk_wire_tensor_map *), *b = *CAT(y, f->off, tk_wire_tensor_map *);
            for (size_t i = 0; i < n; i++) {
                char wi[320];
                snprintf(wi, sizeof wi, "%s[%zu]", w, i);
                if (!tmap_eq(&a[i], &b[i], wi, why, why_len)) return false;
            }
            return true;
        }
        if (cc == &tk_cc_stop) {
            const tk_wire_sampling_params *a = x, *b = y;
            if (a->stop_kind != b->stop_kind) return DIFF("%s: kind %d vs %d", w, a->stop_kind, b->stop_kind);
            if (a->stop_kind == TK_WIRE_STOP_TOKENS)
                return a->n_stop_tokens == b->n_stop_tokens && !memcmp(a->stop_tokens, b->stop_tokens, a->n_stop_tokens * 4)
                           ? true : DIFF("%s: tokens", w);
            if (a->stop_kind != TK_WIRE_STOP_NONE) {
                if (a->n_stop_strings != b->n_stop_strings) return DIFF("%s: count", w);
                for (size_t i = 0; i < a->n_stop_strings; i++)
                    if (!str_eq(a->stop_strings[i], b->stop_strings[i])) return DIFF("%s[%zu]", w, i);
            }
            return true;
        }
        if (cc == &tk_cc_prompt_logprobs) {
            const tk_wire_sample_response *a = x, *b = y;
            if (a->has_prompt_logprobs != b->has_prompt_logprobs) return DIFF("%s: present", w);
            if (a->n_prompt_logprobs != b->n_prompt_logprobs) return DIFF("%s: count", w);
            if (a->n_prompt_logprobs && memcmp(a->prompt_logprobs, b->prompt_logprobs, a->n_prompt_logprobs * 4))
                return DIFF("%s: values", w);
            return true;
        }
        if (cc == &tk_cc_topk) {
            const tk_wire_sample_response *a = x, *b = y;
            const tk_wire_topk_prompt_logprobs *ta = &a->topk_prompt_logprobs, *tb = &b->topk_prompt_logprobs;
            if (a->has_topk_prompt_logprobs != b->has_topk_prompt_logprobs) return DIFF("%s: present", w);
            if (!a->has_topk_prompt_logprobs) return true;
            if (ta->n_positions != tb->n_positions || ta->k != tb->k)
                return DIFF("%s: %zux%zu vs %zux%zu", w, ta->n_positions, ta->k, tb->n_positions, tb->k);
            size_t cells = ta->n_positions * ta->k;
            if (cells && (memcmp(ta->token_ids, tb->token_ids, cells * 4) || memcmp(ta->logprobs, tb->logprobs, cells * 4)))
                return DIFF("%s: cells", w);
            return true;
        }
        return DIFF("%s: unknown custom codec", w);
    }
    }
    return DIFF("%s: unknown kind", w);
}

static bool desc_eq(const tk_msg_desc *d, const void *x, const void *y, const char *where, char *why, size_t why_len) {
    for (size_t i = 0; i < d->n_fields; i++)
        if (!field_eq(&d->fields[i], x, y, where, why, why_len)) return false;
    return true;
}

bool tw_equal(tk_wire_msg type, const void *x, const void *y, char *why, size_t why_len) {
    why[0] = '\0';
    switch (type) {
    case TK_WIRE_MSG_TENSOR_DATA: return tensor_eq(x, y, "tensor", why, why_len);
    case TK_WIRE_MSG_MODEL_INPUT: return mi_eq(x, y, "model_input", why, why_len);
    case TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST: {
        const tk_wire_forward_backward_request *a = x, *b = y;
        if (!str_eq(a->model_id, b->model_id)) return DIFF("model_id");
        if (a->has_seq_id != b->has_seq_id || a->seq_id != b->seq_id) return DIFF("seq_id %lld vs %lld", (long long)a->seq_id, (long long)b->seq_id);
        if (a->forward_only != b->forward_only) return DIFF("forward_only");
        return desc_eq(&tk_desc_forward_backward_input, &a->input, &b->input, "input", why, why_len);
    }
    default: return desc_eq(tk_wire_msg_desc(type), x, y, "", why, why_len);
    }
}

/* ---- files and JSON ------------------------------------------------------------------------- */

char *tw_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    fclose(f);
    if (!buf) return NULL;
    buf[n] = '\0';
    if (len) *len = (size_t)n;
    return buf;
}

static bool jsame(json_t *a, json_t *b, const char *where, char *why, size_t why_len) {
    if (json_is_number(a) && json_is_number(b)) {
        if (json_number_value(a) != json_number_value(b))
            return DIFF("%s: %.17g vs %.17g", where, json_number_value(a), json_number_value(b));
        return true;
    }
    if (json_typeof(a) != json_typeof(b)) return DIFF("%s: types differ", where);
    char w[400];
    switch (json_typeof(a)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *v;
        json_object_foreach(a, k, v) {
            json_t *u = json_object_get(b, k);
            snprintf(w, sizeof w, "%s.%s", where, k);
            if (json_is_null(v) && (!u || json_is_null(u))) continue;
            if (!u) return DIFF("%s: missing on the right", w);
            if (!jsame(v, u, w, why, why_len)) return false;
        }
        json_object_foreach(b, k, v) {
            snprintf(w, sizeof w, "%s.%s", where, k);
            if (!json_is_null(v) && !json_object_get(a, k)) return DIFF("%s: missing on the left", w);
        }
        return true;
    }
    case JSON_ARRAY:
        if (json_array_size(a) != json_array_size(b)) return DIFF("%s: array sizes differ", where);
        for (size_t i = 0; i < json_array_size(a); i++) {
            snprintf(w, sizeof w, "%s[%zu]", where, i);
            if (!jsame(json_array_get(a, i), json_array_get(b, i), w, why, why_len)) return false;
        }
        return true;
    case JSON_STRING:
        if (strcmp(json_string_value(a), json_string_value(b))) return DIFF("%s: \"%s\" vs \"%s\"", where, json_string_value(a), json_string_value(b));
        return true;
    default: return true;
    }
}

bool tw_json_same(const char *a, size_t alen, const char *b, size_t blen, char *why, size_t why_len) {
    json_error_t je;
    json_t *ja = json_loadb(a, alen, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!ja) return DIFF("left is not JSON: %s", je.text);
    json_t *jb = json_loadb(b, blen, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!jb) { json_decref(ja); return DIFF("right is not JSON: %s", je.text); }
    bool ok = jsame(ja, jb, "", why, why_len);
    json_decref(ja);
    json_decref(jb);
    return ok;
}
