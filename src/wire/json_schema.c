/* The descriptor-driven JSON codec: one walk over a message's field table decodes, another
 * encodes, a third sets defaults. §1.4's rules live here: absent optional fields are omitted,
 * defaults are always sent, "type" tags are written, unknown fields are refused in requests
 * (r->strict) and skipped in results. */
#include "json_internal.h"

#include <string.h>

_Static_assert(sizeof(tk_wire_loss_fn) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(tk_wire_checkpoint_type) == sizeof(int), "enums are stored as int");

#define AT(obj, off, T) ((T *)((char *)(obj) + (off)))
#define CAT(obj, off, T) ((const T *)((const char *)(obj) + (off)))

static const char *kind_name(const tk_field *f) {
    switch (f->kind) {
    case TK_FK_STR: case TK_FK_DATETIME: case TK_FK_ENUM: case TK_FK_TAG: return "string";
    case TK_FK_I64: return "integer";
    case TK_FK_F64: return "number";
    case TK_FK_BOOL: return "boolean";
    case TK_FK_STR_LIST: case TK_FK_OBJ_ARRAY: case TK_FK_I32_ARRAY: case TK_FK_F32_ARRAY: return "array";
    case TK_FK_STR_MAP: case TK_FK_F64_MAP: case TK_FK_RAW_OBJ: case TK_FK_OBJ: return "object";
    default: return "a value";
    }
}

/* ---- init ----------------------------------------------------------------------------------- */

void tk_schema_init(const tk_msg_desc *d, void *obj) {
    memset(obj, 0, d->info.size);
    for (size_t i = 0; i < d->n_fields; i++) {
        const tk_field *f = &d->fields[i];
        if (f->kind == TK_FK_OBJ) {
            tk_schema_init(f->aux, AT(obj, f->off, char));
            continue;
        }
        if (!(f->flags & TK_F_DEF) && f->dnum == 0 && !f->dstr) continue;
        switch (f->kind) {
        case TK_FK_I64: *AT(obj, f->off, int64_t) = (int64_t)f->dnum; break;
        case TK_FK_F64: *AT(obj, f->off, double) = f->dnum; break;
        case TK_FK_BOOL: *AT(obj, f->off, bool) = f->dnum != 0; break;
        case TK_FK_ENUM: *AT(obj, f->off, int) = (int)f->dnum; break;
        case TK_FK_STR: *AT(obj, f->off, char *) = (char *)f->dstr; break;
        default: break;
        }
    }
}

/* ---- decode --------------------------------------------------------------------------------- */

static bool iso8601_ok(const char *s) {
    /* YYYY-MM-DD, optionally followed by [T ]HH:MM and anything pydantic's parser accepts after */
    for (int i = 0; i < 10; i++) {
        char c = s[i];
        if (i == 4 || i == 7) { if (c != '-') return false; }
        else if (c < '0' || c > '9') return false;
    }
    if (s[10] == '\0') return true;
    if (s[10] != 'T' && s[10] != 't' && s[10] != ' ') return false;
    for (int i = 11; i < 16; i++) {
        char c = s[i];
        if (i == 13) { if (c != ':') return false; }
        else if (c < '0' || c > '9') return false;
    }
    return true;
}

static int decode_enum(tk_jr *r, const tk_field *f, int *out) {
    char *s;
    size_t n;
    int rc = tk_jr_str(r, &s, &n);
    if (rc) return rc;
    const char *const *names = f->aux;
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], s) == 0) { *out = i; return 0; }
    if (f->flags & TK_F_LENIENT) { *out = 0; return 0; }
    char list[256] = "";
    size_t used = 0;
    for (int i = 0; names[i] && used < sizeof list - 1; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s\"%s\"", i ? ", " : "", names[i]);
    return tk_jr_fail(r, TK_EINVAL, "unknown value \"%s\" (expected one of %s)", s, list);
}

static int decode_str_list(tk_jr *r, tk_wire_str_list *out) {
    int rc = tk_jr_arr_begin(r);
    if (rc) return rc;
    tk_jr_vec v = {.elem = sizeof(char *)};
    bool first = true;
    size_t i = 0;
    while ((rc = tk_jr_arr_next(r, &first)) == 1) {
        char **slot = tk_jr_vec_push(r, &v);
        if (!slot) { rc = TK_ENOMEM; break; }
        size_t saved = tk_jr_push_index(r, i++);
        if ((rc = tk_jr_str(r, slot, NULL))) break;
        tk_jr_pop(r, saved);
    }
    if (rc == 0) rc = tk_jr_vec_finish(r, &v, (void **)&out->items, &out->n);
    free(v.data);
    return rc;
}

/* Object members into an array of (char *key, T value) pairs of size elem; dup keys refused. */
static int decode_map(tk_jr *r, tk_jr_vec *v, int (*value)(tk_jr *r, void *slot)) {
    int rc = tk_jr_obj_begin(r);
    if (rc) return rc;
    bool first = true;
    const char *k;
    size_t kl;
    tk_map *seen = NULL;
    while ((rc = tk_jr_obj_next(r, &first, &k, &kl)) == 1) {
        if (!seen && !(seen = tk_map_new(16))) { rc = tk_jr_fail(r, TK_ENOMEM, "out of memory"); break; }
        size_t saved = tk_jr_push_key(r, k, kl);
        if (tk_map_get(seen, k, kl, NULL)) { rc = tk_jr_fail(r, TK_EINVAL, "duplicate key"); break; }
        if (tk_map_put(seen, k, kl, NULL)) { rc = tk_jr_fail(r, TK_ENOMEM, "out of memory"); break; }
        char **slot = tk_jr_vec_push(r, v);
        if (!slot) { rc = TK_ENOMEM; break; }
        if (!(*slot = tk_arena_strndup(r->a, k, kl))) { rc = tk_jr_fail(r, TK_ENOMEM, "out of memory"); break; }
        if ((rc = value(r, slot))) break;
        tk_jr_pop(r, saved);
    }
    tk_map_free(seen);
    return rc;
}

static int f64_value(tk_jr *r, void *slot) { return tk_jr_f64(r, &((tk_wire_kv_f64 *)slot)->value); }
static int str_value(tk_jr *r, void *slot) { return tk_jr_str(r, &((tk_wire_kv_str *)slot)->value, NULL); }

static int decode_f64_map(tk_jr *r, tk_wire_f64_map *m) {
    tk_jr_vec v = {.elem = sizeof(tk_wire_kv_f64)};
    int rc = decode_map(r, &v, f64_value);
    if (rc == 0) rc = tk_jr_vec_finish(r, &v, (void **)&m->items, &m->n);
    free(v.data);
    m->present = rc == 0;
    return rc;
}

static int decode_str_map(tk_jr *r, tk_wire_str_map *m) {
    tk_jr_vec v = {.elem = sizeof(tk_wire_kv_str)};
    int rc = decode_map(r, &v, str_value);
    if (rc == 0) rc = tk_jr_vec_finish(r, &v, (void **)&m->items, &m->n);
    free(v.data);
    m->present = rc == 0;
    return rc;
}

static int decode_obj_array(tk_jr *r, const tk_msg_desc *d, void **items, size_t *n) {
    int rc = tk_jr_arr_begin(r);
    if (rc) return rc;
    tk_jr_vec v = {.elem = d->info.size};
    bool first = true;
    size_t i = 0;
    while ((rc = tk_jr_arr_next(r, &first)) == 1) {
        void *slot = tk_jr_vec_push(r, &v);
        if (!slot) { rc = TK_ENOMEM; break; }
        size_t saved = tk_jr_push_index(r, i++);
        if ((rc = tk_schema_decode(r, d, slot))) break;
        tk_jr_pop(r, saved);
    }
    if (rc == 0) rc = tk_jr_vec_finish(r, &v, items, n);
    free(v.data);
    return rc;
}

static void set_has(void *obj, const tk_field *f) {
    if (f->has_off >= 0) *AT(obj, f->has_off, bool) = true;
}

static int decode_field(tk_jr *r, const tk_field *f, void *obj) {
    int rc = 0;
    switch (f->kind) {
    case TK_FK_STR: {
        char *s;
        if ((rc = tk_jr_str(r, &s, NULL))) return rc;
        if ((f->flags & TK_F_LITERAL) && strcmp(s, (const char *)f->aux) != 0)
            return tk_jr_fail(r, TK_EINVAL, "expected \"%s\", got \"%s\"", (const char *)f->aux, s);
        *AT(obj, f->off, char *) = s;
        return 0;
    }
    case TK_FK_DATETIME: {
        char *s;
        if ((rc = tk_jr_str(r, &s, NULL))) return rc;
        if (!iso8601_ok(s)) return tk_jr_fail(r, TK_EINVAL, "\"%s\" is not an ISO-8601 date-time", s);
        *AT(obj, f->off, char *) = s;
        return 0;
    }
    case TK_FK_I64:
        if ((rc = tk_jr_i64(r, AT(obj, f->off, int64_t)))) return rc;
        set_has(obj, f);
        return 0;
    case TK_FK_F64:
        if ((rc = tk_jr_f64(r, AT(obj, f->off, double)))) return rc;
        set_has(obj, f);
        return 0;
    case TK_FK_BOOL:
        if ((rc = tk_jr_bool(r, AT(obj, f->off, bool)))) return rc;
        set_has(obj, f);
        return 0;
    case TK_FK_ENUM:
        if ((rc = decode_enum(r, f, AT(obj, f->off, int)))) return rc;
        set_has(obj, f);
        return 0;
    case TK_FK_TAG: {
        if (!r->strict) return tk_jr_skip(r);
        char *s;
        if ((rc = tk_jr_str(r, &s, NULL))) return rc;
        if (strcmp(s, (const char *)f->aux) != 0)
            return tk_jr_fail(r, TK_EINVAL, "expected \"%s\", got \"%s\"", (const char *)f->aux, s);
        return 0;
    }
    case TK_FK_STR_LIST:
        if ((rc = decode_str_list(r, AT(obj, f->off, tk_wire_str_list)))) return rc;
        set_has(obj, f);
        return 0;
    case TK_FK_STR_MAP: return decode_str_map(r, AT(obj, f->off, tk_wire_str_map));
    case TK_FK_F64_MAP: return decode_f64_map(r, AT(obj, f->off, tk_wire_f64_map));
    case TK_FK_RAW_OBJ: return tk_jr_raw_object(r, AT(obj, f->off, char *));
    case TK_FK_OBJ:
        if ((rc = tk_schema_decode(r, f->aux, AT(obj, f->off, char)))) return rc;
        set_has(obj, f);
        return 0;
    case TK_FK_OBJ_ARRAY:
        return decode_obj_array(r, f->aux, AT(obj, f->off, void *), AT(obj, f->n_off, size_t));
    case TK_FK_I32_ARRAY:
        if ((rc = tk_jr_i32_array(r, AT(obj, f->off, int32_t *), AT(obj, f->n_off, size_t)))) return rc;
        set_has(obj, f);
        return 0;
    case TK_FK_F32_ARRAY:
        if ((rc = tk_jr_f32_array(r, AT(obj, f->off, float *), AT(obj, f->n_off, size_t)))) return rc;
        set_has(obj, f);
        return 0;
    case TK_FK_CUSTOM: return ((const tk_custom_codec *)f->aux)->decode(r, obj, f);
    }
    return tk_jr_fail(r, TK_EINTERNAL, "bad field kind %d", f->kind);
}

int tk_schema_decode(tk_jr *r, const tk_msg_desc *d, void *obj) {
    if (d->decode) return d->decode(r, obj);
    tk_schema_init(d, obj);
    int rc = tk_jr_obj_begin(r);
    if (rc) return rc;
    uint64_t seen = 0;
    bool first = true;
    const char *k;
    size_t kl;
    while ((rc = tk_jr_obj_next(r, &first, &k, &kl)) == 1) {
        size_t i;
        for (i = 0; i < d->n_fields; i++)
            if (strlen(d->fields[i].name) == kl && memcmp(d->fields[i].name, k, kl) == 0) break;
        size_t saved = tk_jr_push_key(r, k, kl);
        if (i == d->n_fields) {
            if (r->strict) {
                tk_jr_pop(r, saved);
                return tk_jr_fail(r, TK_EINVAL, "unknown field \"%.*s\"", (int)kl, k);
            }
            if ((rc = tk_jr_skip(r))) return rc;
            tk_jr_pop(r, saved);
            continue;
        }
        const tk_field *f = &d->fields[i];
        if (seen & (1ull << i)) return tk_jr_fail(r, TK_EINVAL, "duplicate key");
        seen |= 1ull << i;
        if (tk_jr_null(r)) {
            /* None: fine for optional fields (and for a result's type tag); not for the others */
            if (!(f->flags & (TK_F_OPT | TK_F_NULL)) && !(f->kind == TK_FK_TAG && !r->strict) &&
                !(f->kind == TK_FK_RAW_OBJ)) {
                r->p -= 4;
                return tk_jr_type_error(r, kind_name(f));
            }
        } else if ((rc = decode_field(r, f, obj))) {
            return rc;
        }
        tk_jr_pop(r, saved);
    }
    if (rc < 0) return rc;
    for (size_t i = 0; i < d->n_fields; i++) {
        const tk_field *f = &d->fields[i];
        if ((f->flags & TK_F_REQ) && !(seen & (1ull << i))) {
            size_t saved = tk_jr_push_key(r, f->name, strlen(f->name));
            rc = tk_jr_fail(r, TK_EINVAL, "required field is missing");
            tk_jr_pop(r, saved);
            return rc;
        }
    }
    if (d->check_decoded) return d->check_decoded(r, obj);
    return 0;
}

/* ---- encode --------------------------------------------------------------------------------- */

bool tk_schema_present(const void *obj, const tk_field *f) {
    if (f->has_off >= 0) return *CAT(obj, f->has_off, bool);
    switch (f->kind) {
    case TK_FK_STR:
        return *CAT(obj, f->off, char *) != NULL || (f->flags & TK_F_LITERAL);
    case TK_FK_DATETIME:
        return *CAT(obj, f->off, char *) != NULL;
    case TK_FK_RAW_OBJ:
        return *CAT(obj, f->off, char *) != NULL || (f->flags & TK_F_REQ);
    case TK_FK_STR_MAP:
        return !(f->flags & TK_F_OPT) || CAT(obj, f->off, tk_wire_str_map)->present;
    case TK_FK_F64_MAP:
        return !(f->flags & TK_F_OPT) || CAT(obj, f->off, tk_wire_f64_map)->present;
    case TK_FK_CUSTOM: {
        const tk_custom_codec *cc = f->aux;
        return cc->present ? cc->present(obj, f) : true;
    }
    default:
        return true;
    }
}

static int encode_enum(tk_jw *w, const tk_field *f, int v) {
    const char *const *names = f->aux;
    int n = 0;
    while (names[n]) n++;
    if (v < 0 || v >= n) return tk_jw_fail(w, TK_EINVAL, "invalid enum value %d", v);
    return tk_jw_str(w, names[v]);
}

static int need_items(tk_jw *w, const void *items, size_t n) {
    if (n && !items) return tk_jw_fail(w, TK_EINVAL, "%zu items but a NULL array", n);
    return 0;
}

static int encode_str_list(tk_jw *w, const tk_wire_str_list *l) {
    int rc = need_items(w, l->items, l->n);
    if (rc || (rc = tk_jw_raw(w, "[", 1))) return rc;
    for (size_t i = 0; i < l->n; i++) {
        if (i && (rc = tk_jw_raw(w, ",", 1))) return rc;
        size_t saved = tk_jw_push_index(w, i);
        if (!l->items[i]) return tk_jw_fail(w, TK_EINVAL, "NULL string");
        if ((rc = tk_jw_str(w, l->items[i]))) return rc;
        tk_jw_pop(w, saved);
    }
    return tk_jw_raw(w, "]", 1);
}

static int encode_field(tk_jw *w, const tk_field *f, const void *obj) {
    int rc;
    switch (f->kind) {
    case TK_FK_STR: {
        const char *s = *CAT(obj, f->off, char *);
        if (!s) s = f->aux;
        return tk_jw_str(w, s);
    }
    case TK_FK_DATETIME: return tk_jw_str(w, *CAT(obj, f->off, char *));
    case TK_FK_I64: return tk_jw_i64(w, *CAT(obj, f->off, int64_t));
    case TK_FK_F64: return tk_jw_f64(w, *CAT(obj, f->off, double));
    case TK_FK_BOOL: return tk_jw_bool(w, *CAT(obj, f->off, bool));
    case TK_FK_ENUM: return encode_enum(w, f, *CAT(obj, f->off, int));
    case TK_FK_TAG: return tk_jw_str(w, f->aux);
    case TK_FK_STR_LIST: return encode_str_list(w, CAT(obj, f->off, tk_wire_str_list));
    case TK_FK_STR_MAP: {
        const tk_wire_str_map *m = CAT(obj, f->off, tk_wire_str_map);
        bool first = true;
        if ((rc = need_items(w, m->items, m->n)) || (rc = tk_jw_raw(w, "{", 1))) return rc;
        for (size_t i = 0; i < m->n; i++) {
            if (!m->items[i].key || !m->items[i].value)
                return tk_jw_fail(w, TK_EINVAL, "entry %zu has a NULL key or value", i);
            if ((rc = tk_jw_key(w, &first, m->items[i].key))) return rc;
            size_t saved = tk_jw_push_key(w, m->items[i].key);
            if ((rc = tk_jw_str(w, m->items[i].value))) return rc;
            tk_jw_pop(w, saved);
        }
        return tk_jw_raw(w, "}", 1);
    }
    case TK_FK_F64_MAP: {
        const tk_wire_f64_map *m = CAT(obj, f->off, tk_wire_f64_map);
        bool first = true;
        if ((rc = need_items(w, m->items, m->n)) || (rc = tk_jw_raw(w, "{", 1))) return rc;
        for (size_t i = 0; i < m->n; i++) {
            if (!m->items[i].key) return tk_jw_fail(w, TK_EINVAL, "entry %zu has a NULL key", i);
            if ((rc = tk_jw_key(w, &first, m->items[i].key))) return rc;
            size_t saved = tk_jw_push_key(w, m->items[i].key);
            if ((rc = tk_jw_f64(w, m->items[i].value))) return rc;
            tk_jw_pop(w, saved);
        }
        return tk_jw_raw(w, "}", 1);
    }
    case TK_FK_RAW_OBJ: return tk_jw_raw_object(w, *CAT(obj, f->off, char *));
    case TK_FK_OBJ: return tk_schema_encode(w, f->aux, CAT(obj, f->off, char));
    case TK_FK_OBJ_ARRAY: {
        const tk_msg_desc *d = f->aux;
        const char *items = *CAT(obj, f->off, char *);
        size_t n = *CAT(obj, f->n_off, size_t);
        if ((rc = need_items(w, items, n)) || (rc = tk_jw_raw(w, "[", 1))) return rc;
        for (size_t i = 0; i < n; i++) {
            if (i && (rc = tk_jw_raw(w, ",", 1))) return rc;
            size_t saved = tk_jw_push_index(w, i);
            if ((rc = tk_schema_encode(w, d, items + i * d->info.size))) return rc;
            tk_jw_pop(w, saved);
        }
        return tk_jw_raw(w, "]", 1);
    }
    case TK_FK_I32_ARRAY: {
        const int32_t *v = *CAT(obj, f->off, int32_t *);
        size_t n = *CAT(obj, f->n_off, size_t);
        if ((rc = need_items(w, v, n))) return rc;
        return tk_jw_i32_array(w, v, n);
    }
    case TK_FK_F32_ARRAY: {
        const float *v = *CAT(obj, f->off, float *);
        size_t n = *CAT(obj, f->n_off, size_t);
        if ((rc = need_items(w, v, n))) return rc;
        return tk_jw_f32_array(w, v, n);
    }
    case TK_FK_CUSTOM: return ((const tk_custom_codec *)f->aux)->encode(w, obj, f);
    }
    return tk_jw_fail(w, TK_EINTERNAL, "bad field kind %d", f->kind);
}

int tk_schema_encode(tk_jw *w, const tk_msg_desc *d, const void *obj) {
    if (d->encode) return d->encode(w, obj);
    int rc;
    if (d->check_encode && (rc = d->check_encode(w, obj))) return rc;
    if ((rc = tk_jw_raw(w, "{", 1))) return rc;
    bool first = true;
    for (size_t i = 0; i < d->n_fields; i++) {
        const tk_field *f = &d->fields[i];
        size_t saved = tk_jw_push_key(w, f->name);
        if (!tk_schema_present(obj, f)) {
            if (f->flags & TK_F_NULL) {
                if ((rc = tk_jw_key(w, &first, f->name)) || (rc = tk_jw_raw(w, "null", 4))) return rc;
            } else if (f->flags & TK_F_REQ) {
                return tk_jw_fail(w, TK_EINVAL, "required field is not set");
            }
            tk_jw_pop(w, saved);
            continue;
        }
        if ((rc = tk_jw_key(w, &first, f->name)) || (rc = encode_field(w, f, obj))) return rc;
        tk_jw_pop(w, saved);
    }
    return tk_jw_raw(w, "}", 1);
}
