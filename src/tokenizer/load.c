/* Loading a Hugging Face tokenizer.json (+ tokenizer_config.json).
 *
 * model.vocab and model.merges go through the streaming reader (json_fast.c); everything else is
 * parsed with jansson from a copy of the document in which those two values are replaced by
 * {} and []. Each component is checked against what HF tokenizers accepts; one we do not
 * implement is TK_EUNSUPPORTED naming its type and JSON path. */
#include "internal.h"

#include <jansson.h>

/* ---- helpers ----------------------------------------------------------------------------- */

static const char *type_of(const json_t *obj) {
    json_t *ty = json_object_get(obj, "type");
    return json_is_string(ty) ? json_string_value(ty) : NULL;
}

static int need_object(const json_t *v, const char *what, const char *path, tk_err *e) {
    if (!json_is_object(v))
        return tk_err_set(e, TK_EPARSE, "%s: %s: expected an object, got %s", what, path, tk_json_type_name(v));
    return 0;
}

static int get_bool(const json_t *obj, const char *key, bool dflt, bool *out, const char *what,
                    const char *path, tk_err *e) {
    bool present = false;
    *out = dflt;
    int rc = tk_json_opt_bool(obj, key, path, out, &present, e);
    if (rc) return tk_err_prefix(e, "%s: ", what);
    return 0;
}

/* ---- normalizer -------------------------------------------------------------------------- */

static int add_norm(tk_tokenizer *t, tk_norm_kind k) {
    tk_norm_kind *n = tk_arena_alloc(t->arena, (t->n_norms + 1) * sizeof *n);
    if (!n) return TK_ENOMEM;
    if (t->n_norms) memcpy(n, t->norms, t->n_norms * sizeof *n);
    n[t->n_norms++] = k;
    t->norms = n;
    return 0;
}

static int parse_normalizer(tk_tokenizer *t, const json_t *v, const char *what, const char *path, int depth,
                            tk_err *e) {
    if (json_is_null(v) || !v) return 0;
    if (depth > 16) return tk_err_set(e, TK_EUNSUPPORTED, "%s: %s: nested too deeply", what, path);
    int rc = need_object(v, what, path, e);
    if (rc) return rc;
    const char *ty = type_of(v);
    if (!ty) return tk_err_set(e, TK_EPARSE, "%s: %s.type: missing or not a string", what, path);
    if (!strcmp(ty, "Sequence")) {
        json_t *list = json_object_get(v, "normalizers");
        if (!json_is_array(list))
            return tk_err_set(e, TK_EPARSE, "%s: %s.normalizers: expected an array", what, path);
        for (size_t k = 0; k < json_array_size(list); k++) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s.normalizers[%zu]", path, k);
            if ((rc = parse_normalizer(t, json_array_get(list, k), what, sub, depth + 1, e))) return rc;
        }
        return 0;
    }
    static const struct { const char *name; tk_norm_kind k; } forms[] = {
        {"NFC", TK_NORM_NFC}, {"NFD", TK_NORM_NFD}, {"NFKC", TK_NORM_NFKC}, {"NFKD", TK_NORM_NFKD}};
    for (size_t k = 0; k < sizeof forms / sizeof forms[0]; k++)
        if (!strcmp(ty, forms[k].name))
            return add_norm(t, forms[k].k) ? tk_err_set(e, TK_ENOMEM, "%s: out of memory", what) : 0;
    return tk_err_set(e, TK_EUNSUPPORTED, "%s: %s: unsupported type \"%s\"", what, path, ty);
}

/* ---- pre-tokenizer ----------------------------------------------------------------------- */

static int add_step(tk_tokenizer *t, const tk_pretok_step *st, const char *what, tk_err *e) {
    if (t->n_steps >= 16)
        return tk_err_set(e, TK_EUNSUPPORTED, "%s: pre_tokenizer: more than 16 steps", what);
    tk_pretok_step *n = tk_arena_alloc(t->arena, (t->n_steps + 1) * sizeof *n);
    if (!n) return tk_err_set(e, TK_ENOMEM, "%s: out of memory", what);
    if (t->n_steps) memcpy(n, t->steps, t->n_steps * sizeof *n);
    n[t->n_steps++] = *st;
    t->steps = n;
    return 0;
}

static int parse_behavior(const json_t *v, tk_split_behavior *out, const char *what, const char *path,
                          tk_err *e) {
    json_t *b = json_object_get(v, "behavior");
    static const struct { const char *name; tk_split_behavior b; } names[] = {
        {"Removed", TK_SPLIT_REMOVED},
        {"Isolated", TK_SPLIT_ISOLATED},
        {"MergedWithPrevious", TK_SPLIT_MERGED_WITH_PREVIOUS},
        {"MergedWithNext", TK_SPLIT_MERGED_WITH_NEXT},
        {"Contiguous", TK_SPLIT_CONTIGUOUS},
    };
    if (!json_is_string(b)) return tk_err_set(e, TK_EPARSE, "%s: %s.behavior: expected a string", what, path);
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if (!strcmp(json_string_value(b), names[k].name)) {
            *out = names[k].b;
            return 0;
        }
    return tk_err_set(e, TK_EUNSUPPORTED, "%s: %s.behavior: unknown behavior \"%s\"", what, path,
                      json_string_value(b));
}

/* Escape a literal for PCRE2: every ASCII punctuation character gets a backslash. */
static char *escape_literal(const char *s, size_t n, size_t *out_len) {
    char *o = malloc(2 * n + 1);
    if (!o) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80 && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
            if (c < 0x20 || c == 0x7F) {
                k += (size_t)sprintf(o + k, "\\x{%x}", c);
                continue;
            }
            o[k++] = '\\';
        }
        o[k++] = (char)c;
    }
    o[k] = '\0';
    *out_len = k;
    return o;
}

static int parse_pretok(tk_tokenizer *t, const json_t *v, const char *what, const char *path, int depth,
                        bool *saw_bytelevel, tk_err *e) {
    if (json_is_null(v) || !v) return 0;
    if (depth > 16) return tk_err_set(e, TK_EUNSUPPORTED, "%s: %s: nested too deeply", what, path);
    int rc = need_object(v, what, path, e);
    if (rc) return rc;
    const char *ty = type_of(v);
    if (!ty) return tk_err_set(e, TK_EPARSE, "%s: %s.type: missing or not a string", what, path);
    tk_pretok_step st = {0};
    char sub[256];
    if (*saw_bytelevel && strcmp(ty, "Sequence"))
        return tk_err_set(e, TK_EUNSUPPORTED, "%s: %s: a \"%s\" step after the ByteLevel step is not "
                          "supported (it would see the byte-level alphabet)", what, path, ty);
    if (!strcmp(ty, "Sequence")) {
        json_t *list = json_object_get(v, "pretokenizers");
        if (!json_is_array(list))
            return tk_err_set(e, TK_EPARSE, "%s: %s.pretokenizers: expected an array", what, path);
        for (size_t k = 0; k < json_array_size(list); k++) {
            snprintf(sub, sizeof sub, "%s.pretokenizers[%zu]", path, k);
            if ((rc = parse_pretok(t, json_array_get(list, k), what, sub, depth + 1, saw_bytelevel, e)))
                return rc;
        }
        return 0;
    }
    if (!strcmp(ty, "Split")) {
        st.kind = TK_PRETOK_SPLIT;
        if ((rc = parse_behavior(v, &st.behavior, what, path, e))) return rc;
        if ((rc = get_bool(v, "invert", false, &st.invert, what, path, e))) return rc;
        json_t *pat = json_object_get(v, "pattern");
        json_t *re = json_is_object(pat) ? json_object_get(pat, "Regex") : NULL;
        json_t *lit = json_is_object(pat) ? json_object_get(pat, "String") : NULL;
        snprintf(sub, sizeof sub, "%s.pattern", path);
        char where[300];
        snprintf(where, sizeof where, "%s: %s", what, sub);
        if (json_is_string(re)) {
            const char *p = json_string_value(re);
            size_t n = json_string_length(re);
            st.fast = tk_fast_split_detect(p, n);
            st.pattern = tk_arena_strndup(t->arena, p, n);
            if (!st.pattern) return tk_err_set(e, TK_ENOMEM, "%s: out of memory", what);
            if (st.fast == TK_FAST_NONE) rc = tk_regex_compile(p, n, where, &st.re, e);
        } else if (json_is_string(lit)) {
            size_t n;
            char *esc = escape_literal(json_string_value(lit), json_string_length(lit), &n);
            if (!esc) return tk_err_set(e, TK_ENOMEM, "%s: out of memory", what);
            st.pattern = tk_arena_strndup(t->arena, esc, n);
            rc = st.pattern ? tk_regex_compile(esc, n, where, &st.re, e)
                            : tk_err_set(e, TK_ENOMEM, "%s: out of memory", what);
            free(esc);
        } else {
            return tk_err_set(e, TK_EPARSE, "%s: %s: expected {\"Regex\": ...} or {\"String\": ...}", what, sub);
        }
        if (rc) return rc;
        if ((rc = add_step(t, &st, what, e))) tk_regex_free(st.re);
        return rc;
    }
    if (!strcmp(ty, "ByteLevel")) {
        *saw_bytelevel = true;
        st.kind = TK_PRETOK_BYTELEVEL;
        st.behavior = TK_SPLIT_ISOLATED;
        if ((rc = get_bool(v, "add_prefix_space", true, &st.add_prefix_space, what, path, e))
            || (rc = get_bool(v, "use_regex", true, &st.use_regex, what, path, e)))
            return rc;
        if (!st.add_prefix_space && !st.use_regex) return 0; /* only the alphabet: nothing to do on bytes */
        if (st.use_regex) {
            st.fast = TK_FAST_GPT2;
            st.pattern = tk_fast_split_pattern(TK_FAST_GPT2);
        }
        if ((rc = add_step(t, &st, what, e))) tk_regex_free(st.re);
        return rc;
    }
    if (!strcmp(ty, "Digits")) {
        st.kind = TK_PRETOK_DIGITS;
        if ((rc = get_bool(v, "individual_digits", false, &st.individual_digits, what, path, e))) return rc;
        st.behavior = st.individual_digits ? TK_SPLIT_ISOLATED : TK_SPLIT_CONTIGUOUS;
        return add_step(t, &st, what, e);
    }
    return tk_err_set(e, TK_EUNSUPPORTED, "%s: %s: unsupported type \"%s\"", what, path, ty);
}

/* ---- post-processor ----------------------------------------------------------------------- */

static int set_template(tk_tokenizer *t, tk_template_item *items, uint32_t n, const char *what,
                        const char *path, tk_err *e) {
    if (t->tmpl)
        return tk_err_set(e, TK_EUNSUPPORTED, "%s: %s: more than one processor adds special tokens",
                          what, path);
    t->tmpl = items;
    t->n_tmpl = n;
    return 0;
}

static int special_ids(tk_tokenizer *t, const json_t *specials, const char *name, tk_template_item *it,
                       const char *what, const char *path, tk_err *e) {
    json_t *ent = json_object_get(specials, name);
    json_t *ids = json_is_object(ent) ? json_object_get(ent, "ids") : NULL;
    if (!json_is_array(ids))
        return tk_err_set(e, TK_EPARSE, "%s: %s.special_tokens: no entry with \"ids\" for \"%s\"", what,
                          path, name);
    it->n_ids = (uint32_t)json_array_size(ids);
    it->ids = tk_arena_alloc(t->arena, (it->n_ids + 1) * sizeof *it->ids);
    if (!it->ids) return tk_err_set(e, TK_ENOMEM, "%s: out of memory", what);
    for (uint32_t k = 0; k < it->n_ids; k++) {
        json_t *x = json_array_get(ids, k);
        if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) >= INT32_MAX)
            return tk_err_set(e, TK_EPARSE, "%s: %s.special_tokens[\"%s\"].ids[%u]: expected a token id",
                              what, path, name, k);
        it->ids[k] = (int32_t)json_integer_value(x);
    }
    return 0;
}

static int parse_template(tk_tokenizer *t, const json_t *v, const char *what, const char *path, tk_err *e) {
    json_t *single = json_object_get(v, "single");
    json_t *specials = json_object_get(v, "special_tokens");
    if (!json_is_array(single)) return tk_err_set(e, TK_EPARSE, "%s: %s.single: expected an array", what, path);
    uint32_t n = (uint32_t)json_array_size(single);
    tk_template_item *items = tk_arena_zalloc(t->arena, (n + 1) * sizeof *items);
    if (!items) return tk_err_set(e, TK_ENOMEM, "%s: out of memory", what);
    bool seen_a = false;
    for (uint32_t k = 0; k < n; k++) {
        json_t *item = json_array_get(single, k);
        json_t *sp = json_object_get(item, "SpecialToken");
        json_t *seq = json_object_get(item, "Sequence");
        json_t *id = json_object_get(sp ? sp : seq, "id");
        if ((!sp && !seq) || !json_is_string(id))
            return tk_err_set(e, TK_EPARSE, "%s: %s.single[%u]: expected {\"SpecialToken\": {\"id\": ...}} "
                              "or {\"Sequence\": {\"id\": \"A\"}}", what, path, k);
        if (seq) {
            if (strcmp(json_string_value(id), "A"))
                return tk_err_set(e, TK_EPARSE, "%s: %s.single[%u]: a single-sequence template can only "
                                  "use sequence A", what, path, k);
            items[k].is_sequence = true;
            seen_a = true;
        } else {
            char sub[256];
            snprintf(sub, sizeof sub, "%s", path);
            int rc = special_ids(t, specials, json_string_value(id), &items[k], what, sub, e);
            if (rc) return rc;
        }
    }
    if (!seen_a) return tk_err_set(e, TK_EPARSE, "%s: %s.single: no {\"Sequence\": {\"id\": \"A\"}}", what, path);
    return set_template(t, items, n, what, path, e);
}

/* RobertaProcessing / BertProcessing: cls $A sep. */
static int parse_cls_sep(tk_tokenizer *t, const json_t *v, const char *what, const char *path, tk_err *e) {
    tk_template_item *items = tk_arena_zalloc(t->arena, 3 * sizeof *items);
    if (!items) return tk_err_set(e, TK_ENOMEM, "%s: out of memory", what);
    const char *keys[2] = {"cls", "sep"};
    for (int k = 0; k < 2; k++) {
        json_t *pair = json_object_get(v, keys[k]);
        json_t *id = json_array_get(pair, 1);
        if (!json_is_array(pair) || json_array_size(pair) != 2 || !json_is_integer(id) || json_integer_value(id) < 0
            || json_integer_value(id) >= INT32_MAX)
            return tk_err_set(e, TK_EPARSE, "%s: %s.%s: expected [token, id]", what, path, keys[k]);
        tk_template_item *it = &items[k == 0 ? 0 : 2];
        it->ids = tk_arena_alloc(t->arena, sizeof *it->ids);
        if (!it->ids) return tk_err_set(e, TK_ENOMEM, "%s: out of memory", what);
        it->ids[0] = (int32_t)json_integer_value(id);
        it->n_ids = 1;
    }
    items[1].is_sequence = true;
    return set_template(t, items, 3, what, path, e);
}

static int parse_post(tk_tokenizer *t, const json_t *v, const char *what, const char *path, int depth,
                      tk_err *e) {
    if (json_is_null(v) || !v) return 0;
    if (depth > 16) return tk_err_set(e, TK_EUNSUPPORTED, "%s: %s: nested too deeply", what, path);
    int rc = need_object(v, what, path, e);
    if (rc) return rc;
    const char *ty = type_of(v);
    if (!ty) return tk_err_set(e, TK_EPARSE, "%s: %s.type: missing or not a string", what, path);
    if (!strcmp(ty, "ByteLevel")) return 0; /* only adjusts offsets */
    if (!strcmp(ty, "TemplateProcessing")) return parse_template(t, v, what, path, e);
    if (!strcmp(ty, "RobertaProcessing") || !strcmp(ty, "BertProcessing")) return parse_cls_sep(t, v, what, path, e);
    if (!strcmp(ty, "Sequence")) {
        json_t *list = json_object_get(v, "processors");
        if (!json_is_array(list))
            return tk_err_set(e, TK_EPARSE, "%s: %s.processors: expected an array", what, path);
        for (size_t k = 0; k < json_array_size(list); k++) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s.processors[%zu]", path, k);
            if ((rc = parse_post(t, json_array_get(list, k), what, sub, depth + 1, e))) return rc;
        }
        return 0;
    }
    return tk_err_set(e, TK_EUNSUPPORTED, "%s: %s: unsupported type \"%s\"", what, path, ty);
}

/* ---- decoder ---------------------------------------------------------------------------- */

/* The decoder must undo the byte-level alphabet (ByteLevel, alone or in a Sequence) or be absent;
 * decode always maps ids to their bytes. */
static int parse_decoder(const json_t *v, const char *what, const char *path, int depth, bool *bytelevel,
                         tk_err *e) {
    if (json_is_null(v) || !v) return 0;
    if (depth > 16) return tk_err_set(e, TK_EUNSUPPORTED, "%s: %s: nested too deeply", what, path);
    int rc = need_object(v, what, path, e);
    if (rc) return rc;
    const char *ty = type_of(v);
    if (!ty) return tk_err_set(e, TK_EPARSE, "%s: %s.type: missing or not a string", what, path);
    if (!strcmp(ty, "ByteLevel")) {
        *bytelevel = true;
        return 0;
    }
    if (!strcmp(ty, "Sequence")) {
        json_t *list = json_object_get(v, "decoders");
        if (!json_is_array(list)) return tk_err_set(e, TK_EPARSE, "%s: %s.decoders: expected an array", what, path);
        for (size_t k = 0; k < json_array_size(list); k++) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s.decoders[%zu]", path, k);
            if ((rc = parse_decoder(json_array_get(list, k), what, sub, depth + 1, bytelevel, e))) return rc;
        }
        return 0;
    }
    return tk_err_set(e, TK_EUNSUPPORTED, "%s: %s: unsupported type \"%s\"", what, path, ty);
}

/* ---- model (everything but vocab and merges) ---------------------------------------------- */

static int parse_model(tk_tokenizer *t, const json_t *m, const char *what, char **unk_token, tk_err *e) {
    if (!m) return tk_err_set(e, TK_EPARSE, "%s: model: missing", what);
    int rc = need_object(m, what, "model", e);
    if (rc) return rc;
    json_t *ty = json_object_get(m, "type");
    if (ty && !json_is_string(ty)) return tk_err_set(e, TK_EPARSE, "%s: model.type: expected a string", what);
    if (ty && strcmp(json_string_value(ty), "BPE"))
        return tk_err_set(e, TK_EUNSUPPORTED, "%s: model: unsupported type \"%s\" (only BPE)", what,
                          json_string_value(ty));
    json_t *dropout = json_object_get(m, "dropout");
    if (dropout && !json_is_null(dropout) && !(json_is_number(dropout) && json_number_value(dropout) == 0.0))
        return tk_err_set(e, TK_EUNSUPPORTED, "%s: model.dropout: BPE dropout is not supported", what);
    static const char *const affixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int k = 0; k < 2; k++) {
        json_t *a = json_object_get(m, affixes[k]);
        if (a && !json_is_null(a) && !(json_is_string(a) && json_string_length(a) == 0))
            return tk_err_set(e, TK_EUNSUPPORTED, "%s: model.%s: only null or \"\" is supported", what, affixes[k]);
    }
    if ((rc = get_bool(m, "fuse_unk", false, &t->fuse_unk, what, "model", e))
        || (rc = get_bool(m, "byte_fallback", false, &t->byte_fallback, what, "model", e))
        || (rc = get_bool(m, "ignore_merges", false, &t->ignore_merges, what, "model", e)))
        return rc;
    json_t *unk = json_object_get(m, "unk_token");
    if (unk && !json_is_null(unk)) {
        if (!json_is_string(unk)) return tk_err_set(e, TK_EPARSE, "%s: model.unk_token: expected a string", what);
        *unk_token = tk_arena_strdup(t->arena, json_string_value(unk));
        if (!*unk_token) return tk_err_set(e, TK_ENOMEM, "%s: out of memory", what);
    }
    return 0;
}

/* ---- added tokens ------------------------------------------------------------------------- */

static int parse_added(const json_t *list, const char *what, tk_added_spec **out, size_t *n_out, tk_err *e) {
    *out = NULL;
    *n_out = 0;
    if (!list || json_is_null(list)) return 0;
    if (!json_is_array(list)) return tk_err_set(e, TK_EPARSE, "%s: added_tokens: expected an array", what);
    size_t n = json_array_size(list);
    tk_added_spec *a = tk_calloc_array(n ? n : 1, sizeof *a);
    if (!a) return tk_err_set(e, TK_ENOMEM, "%s: out of memory", what);
    for (size_t k = 0; k < n; k++) {
        json_t *o = json_array_get(list, k);
        char path[64];
        snprintf(path, sizeof path, "added_tokens[%zu]", k);
        if (!json_is_object(o)) {
            free(a);
            return tk_err_set(e, TK_EPARSE, "%s: %s: expected an object", what, path);
        }
        const char *content;
        int64_t id;
        int rc = tk_json_get_str(o, "content", path, &content, e);
        if (!rc) rc = tk_json_get_i64(o, "id", path, &id, e);
        if (rc) {
            free(a);
            return tk_err_prefix(e, "%s: ", what);
        }
        if (id < 0 || id >= INT32_MAX) {
            free(a);
            return tk_err_set(e, TK_ERANGE, "%s: %s.id: %lld is not a valid token id", what, path, (long long)id);
        }
        bool special = false, lstrip = false, rstrip = false, single = false, normalized;
        if ((rc = get_bool(o, "special", false, &special, what, path, e))
            || (rc = get_bool(o, "lstrip", false, &lstrip, what, path, e))
            || (rc = get_bool(o, "rstrip", false, &rstrip, what, path, e))
            || (rc = get_bool(o, "single_word", false, &single, what, path, e))
            || (rc = get_bool(o, "normalized", !special, &normalized, what, path, e))) {
            free(a);
            return rc;
        }
        a[k].content = content;
        a[k].len = json_string_length(json_object_get(o, "content"));
        a[k].file_id = id;
        a[k].flags = (special ? TK_ADDED_SPECIAL : 0) | (lstrip ? TK_ADDED_LSTRIP : 0)
                     | (rstrip ? TK_ADDED_RSTRIP : 0) | (single ? TK_ADDED_SINGLE_WORD : 0)
                     | (normalized ? TK_ADDED_NORMALIZED : 0);
    }
    *out = a;
    *n_out = n;
    return 0;
}

static int install_added(tk_tokenizer *t, const tk_added_spec *spec, const int32_t *ids, size_t n,
                         const char *what, tk_err *e) {
    t->added = tk_arena_zalloc(t->arena, (n + 1) * sizeof *t->added);
    if (!t->added) return tk_err_set(e, TK_ENOMEM, "%s: out of memory", what);
    tk_buf norm = {0};
    for (size_t k = 0; k < n; k++) {
        if (spec[k].len == 0) continue; /* HF ignores empty added tokens */
        bool dup = false;
        for (uint32_t j = 0; j < t->n_added; j++)
            if (t->added[j].len == spec[k].len && !memcmp(t->added[j].content, spec[k].content, spec[k].len)) {
                /* the later entry's flags win, as in HF's map update */
                t->added[j].flags = spec[k].flags;
                dup = true;
            }
        int rc = tk_tok_add_added(t, ids[k], spec[k].content, spec[k].len, spec[k].flags & TK_ADDED_SPECIAL, e);
        if (rc) {
            tk_buf_free(&norm);
            return rc;
        }
        if (dup) continue;
        tk_added *a = &t->added[t->n_added++];
        a->content = tk_arena_strndup(t->arena, spec[k].content, spec[k].len);
        if (!a->content) {
            tk_buf_free(&norm);
            return tk_err_set(e, TK_ENOMEM, "%s: out of memory", what);
        }
        a->len = (uint32_t)spec[k].len;
        a->id = ids[k];
        a->flags = spec[k].flags;
        a->pattern = a->content;
        a->pattern_len = a->len;
    }
    /* normalized tokens are matched in their normalized form */
    for (uint32_t k = 0; k < t->n_added; k++) {
        tk_added *a = &t->added[k];
        if (!(a->flags & TK_ADDED_NORMALIZED) || !t->n_norms) continue;
        bool changed;
        tk_buf_clear(&norm);
        int rc = tk_normalize(t, a->content, a->len, &norm, &changed, e);
        if (rc) {
            tk_buf_free(&norm);
            return rc;
        }
        if (changed) {
            a->pattern = tk_arena_strndup(t->arena, norm.data, norm.len);
            a->pattern_len = (uint32_t)norm.len;
            if (!a->pattern) {
                tk_buf_free(&norm);
                return tk_err_set(e, TK_ENOMEM, "%s: out of memory", what);
            }
        }
    }
    tk_buf_free(&norm);
    return 0;
}

/* ---- tokenizer_config.json ---------------------------------------------------------------- */

static int config_token(const tk_tokenizer *t, const json_t *cfg, const char *key, int32_t *out,
                        bool *present, const char *cfg_what, tk_err *e) {
    json_t *v = json_object_get(cfg, key);
    *present = v != NULL;
    if (!v || json_is_null(v)) {
        if (v) *out = -1;
        return 0;
    }
    json_t *content = json_is_object(v) ? json_object_get(v, "content") : v;
    if (!json_is_string(content))
        return tk_err_set(e, TK_EPARSE, "%s: %s: expected a string or {\"content\": ...}", cfg_what, key);
    int32_t id = tk_tokenizer_token_to_id(t, json_string_value(content), json_string_length(content));
    if (id < 0) tk_warn("%s: %s \"%s\" is not a token", cfg_what, key, json_string_value(content));
    *out = id;
    return 0;
}

static int parse_config(tk_tokenizer *t, const char *cfg_text, size_t cfg_len, const char *cfg_what,
                        tk_err *e) {
    json_t *cfg = NULL;
    int rc = tk_json_parse(cfg_text, cfg_len, cfg_what, &cfg, e);
    if (rc) return rc;
    if (!json_is_object(cfg)) {
        json_decref(cfg);
        return tk_err_set(e, TK_EPARSE, "%s: expected an object", cfg_what);
    }
    bool present;
    int32_t id;
    static const char *const keys[3] = {"bos_token", "eos_token", "pad_token"};
    int32_t *dst[3] = {&t->bos_id, &t->eos_id, &t->pad_id};
    for (int k = 0; k < 3 && !rc; k++) {
        id = *dst[k];
        rc = config_token(t, cfg, keys[k], &id, &present, cfg_what, e);
        if (!rc && present) *dst[k] = id;
    }
    json_t *tmpl = json_object_get(cfg, "chat_template");
    if (!rc && json_is_string(tmpl)) {
        t->chat_template = tk_arena_strdup(t->arena, json_string_value(tmpl));
    } else if (!rc && json_is_array(tmpl)) {
        /* a list of named templates: take "default", else the first */
        for (size_t k = 0; k < json_array_size(tmpl); k++) {
            json_t *it = json_array_get(tmpl, k);
            json_t *name = json_object_get(it, "name"), *body = json_object_get(it, "template");
            if (!json_is_string(body)) continue;
            if (!t->chat_template || (json_is_string(name) && !strcmp(json_string_value(name), "default")))
                t->chat_template = tk_arena_strdup(t->arena, json_string_value(body));
        }
    }
    json_t *clean = json_object_get(cfg, "clean_up_tokenization_spaces");
    if (json_is_boolean(clean)) t->clean_up_spaces = json_is_true(clean);
    json_decref(cfg);
    return rc;
}

/* ---- the whole document ------------------------------------------------------------------- */

/* A copy of text with the vocab and merges values replaced by {} and []. */
static char *reduced_copy(const char *text, size_t len, tk_json_span v, tk_json_span m, size_t *out_len) {
    char *o = malloc(len + 8);
    if (!o) return NULL;
    tk_json_span spans[2] = {v, m};
    const char *repl[2] = {"{}", "[]"};
    if (spans[0].start > spans[1].start) {
        tk_json_span ts = spans[0];
        spans[0] = spans[1];
        spans[1] = ts;
        const char *tr = repl[0];
        repl[0] = repl[1];
        repl[1] = tr;
    }
    size_t at = 0, k = 0;
    for (int s = 0; s < 2; s++) {
        if (spans[s].end == 0) continue;
        memcpy(o + k, text + at, spans[s].start - at);
        k += spans[s].start - at;
        memcpy(o + k, repl[s], 2);
        k += 2;
        at = spans[s].end;
    }
    memcpy(o + k, text + at, len - at);
    k += len - at;
    o[k] = '\0';
    *out_len = k;
    return o;
}

static int load_document(tk_tokenizer *t, const char *text, size_t len, const char *what,
                         const char *cfg_text, size_t cfg_len, const char *cfg_what, tk_err *e) {
    tk_json_span vsp, msp;
    int rc = tk_json_find_model_members(text, len, what, &vsp, &msp, e);
    if (rc) return rc;
    size_t rlen;
    char *reduced = reduced_copy(text, len, vsp, msp, &rlen);
    if (!reduced) return tk_err_set(e, TK_ENOMEM, "%s: out of memory", what);
    json_t *root = NULL;
    rc = tk_json_parse(reduced, rlen, what, &root, e);
    free(reduced);
    if (rc) return rc;
    tk_added_spec *added = NULL;
    size_t n_added = 0;
    int32_t *added_ids = NULL;
    char *unk = NULL;
    bool pre_bl = false, dec_bl = false;
    if (!json_is_object(root)) {
        rc = tk_err_set(e, TK_EPARSE, "%s: expected a JSON object at the top level", what);
        goto out;
    }
    json_t *ver = json_object_get(root, "version");
    if (ver && !(json_is_string(ver) && !strcmp(json_string_value(ver), "1.0"))) {
        rc = tk_err_set(e, TK_EUNSUPPORTED, "%s: version: only \"1.0\" is supported", what);
        goto out;
    }
    json_t *model = json_object_get(root, "model");
    if ((rc = parse_model(t, model, what, &unk, e))) goto out;
    if (vsp.end == 0) {
        rc = tk_err_set(e, TK_EPARSE, "%s: model.vocab: missing", what);
        goto out;
    }
    if (msp.end == 0) {
        rc = tk_err_set(e, TK_EPARSE, "%s: model.merges: missing", what);
        goto out;
    }
    if ((rc = parse_normalizer(t, json_object_get(root, "normalizer"), what, "normalizer", 0, e))
        || (rc = parse_pretok(t, json_object_get(root, "pre_tokenizer"), what, "pre_tokenizer", 0, &pre_bl, e))
        || (rc = parse_decoder(json_object_get(root, "decoder"), what, "decoder", 0, &dec_bl, e))
        || (rc = parse_post(t, json_object_get(root, "post_processor"), what, "post_processor", 0, e)))
        goto out;
    if (!pre_bl) {
        rc = tk_err_set(e, TK_EUNSUPPORTED,
                        "%s: pre_tokenizer: no ByteLevel step: only byte-level BPE tokenizers are supported",
                        what);
        goto out;
    }
    t->byte_level = true;
    if ((rc = parse_added(json_object_get(root, "added_tokens"), what, &added, &n_added, e))) goto out;
    added_ids = tk_calloc_array(n_added ? n_added : 1, sizeof *added_ids);
    if (!added_ids) {
        rc = tk_err_set(e, TK_ENOMEM, "%s: out of memory", what);
        goto out;
    }
    if ((rc = tk_tok_build_vocab(t, text, len, vsp, msp, what, added, n_added, added_ids, e))) goto out;
    if ((rc = install_added(t, added, added_ids, n_added, what, e))) goto out;
    if (unk) {
        t->unk_id = tk_tok_model_lookup(t, unk, strlen(unk));
        if (t->unk_id < 0) tk_warn("%s: model.unk_token \"%s\" is not in the vocabulary", what, unk);
    }
    tk_tok_fill_byte_tables(t);
    t->self_state = calloc((size_t)t->n_ids, 1);
    if (!t->self_state) {
        rc = tk_err_set(e, TK_ENOMEM, "%s: out of memory", what);
        goto out;
    }
    for (uint32_t k = 0; k < t->n_tmpl; k++)
        for (uint32_t j = 0; j < t->tmpl[k].n_ids; j++)
            if (t->tmpl[k].ids[j] >= t->n_ids || !(t->id_flags[t->tmpl[k].ids[j]] & TK_ID_PRESENT)) {
                rc = tk_err_set(e, TK_ERANGE, "%s: post_processor: special token id %d is not a token of "
                                "the vocabulary (%d ids)", what, t->tmpl[k].ids[j], t->n_ids);
                goto out;
            }
    /* BOS from the template unless the config says otherwise */
    if (t->tmpl && !t->tmpl[0].is_sequence && t->tmpl[0].n_ids) t->bos_id = t->tmpl[0].ids[0];
    if ((rc = tk_tok_build_added_sets(t, e))) goto out;
    if (cfg_text) rc = parse_config(t, cfg_text, cfg_len, cfg_what, e);
out:
    json_decref(root);
    free(added);
    free(added_ids);
    return rc;
}

int tk_tok_load_texts(const char *json, size_t len, const char *what, const char *cfg, size_t cfg_len,
                      const char *cfg_what, const char *source, tk_tokenizer **out, tk_err *e) {
    *out = NULL;
    tk_tokenizer *t;
    int rc = tk_tok_new(&t, source, e);
    if (rc) return rc;
    rc = load_document(t, json ? json : "", len, what, cfg, cfg_len, cfg_what, e);
    if (rc) {
        tk_tokenizer_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

int tk_tokenizer_load_from_memory(const char *json, size_t len, const char *config_json, size_t config_len,
                                  const char *source, tk_tokenizer **out, tk_err *e) {
    tk_err local = {0};
    if (!e) e = &local;
    if (!out || (!json && len) || (!config_json && config_len))
        return tk_err_set(e, TK_EINVAL, "tokenizer: NULL argument");
    const char *what = source && *source ? source : "tokenizer.json";
    char cfg_what[1024];
    snprintf(cfg_what, sizeof cfg_what, "%s: tokenizer_config.json", what);
    return tk_tok_load_texts(json, len, what, config_json, config_len, cfg_what, source, out, e);
}
