/* tiktoken-style encodings: a ranks file ("<base64 bytes> <rank>" per line), a split pattern and
 * special tokens (OpenAI's o200k/cl100k, Kimi K2).
 *
 * tiktoken merges the adjacent pair whose concatenation has the lowest rank (leftmost on ties)
 * after trying the whole piece as one token. That is our BPE with ignore_merges and a merge table
 * holding, for every token and every way to cut it into two tokens, (left, right) -> (rank of
 * the token, token), so the same engine serves both formats. */
#include "internal.h"

#include <errno.h>

#define MAX_RANKS_FILE (256u << 20)

static int parse_ranks(tk_tokenizer *t, const char *path, const char *text, size_t len, tk_err *e) {
    /* first pass: count lines to size the tables */
    size_t lines = 1;
    for (const char *p = text; (p = memchr(p, '\n', (size_t)(text + len - p))); p++) lines++;
    if (tk_tok_alloc_ids(t, (int32_t)(lines + 16), e)) return e->code;
    int32_t cap = (int32_t)(lines + 16);
    if (tk_idtab_init(&t->model_bytes, lines) || tk_merges_init(&t->merges, lines * 2))
        return tk_err_set(e, TK_ENOMEM, "%s: out of memory", path);
    tk_buf bytes = {0}, str = {0};
    size_t line_no = 0, i = 0;
    int rc = 0;
    int32_t max_id = -1;
    while (i < len && !rc) {
        size_t start = i;
        const char *nl = memchr(text + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - text) : len;
        i = end + 1;
        line_no++;
        size_t l_end = end;
        if (l_end > start && text[l_end - 1] == '\r') l_end--;
        if (l_end == start) continue; /* blank line */
        const char *sp = memchr(text + start, ' ', l_end - start);
        if (!sp) {
            rc = tk_err_set(e, TK_EPARSE, "%s:%zu: expected \"<base64 token> <rank>\"", path, line_no);
            break;
        }
        tk_buf_clear(&bytes);
        tk_err be = {0};
        if (tk_base64_decode(text + start, (size_t)(sp - text - (ptrdiff_t)start), &bytes, &be)) {
            rc = tk_err_set(e, TK_EPARSE, "%s:%zu: %s", path, line_no, be.msg);
            break;
        }
        if (bytes.len == 0) {
            rc = tk_err_set(e, TK_EPARSE, "%s:%zu: empty token", path, line_no);
            break;
        }
        int64_t rank = 0;
        const char *q = sp + 1;
        if (q >= text + l_end) rank = -1;
        for (; q < text + l_end && rank >= 0; q++) {
            if (*q < '0' || *q > '9' || rank > INT32_MAX / 10) rank = -1;
            else rank = rank * 10 + (*q - '0');
        }
        if (rank < 0 || rank >= INT32_MAX - 1) {
            rc = tk_err_set(e, TK_EPARSE, "%s:%zu: the rank must be a non-negative integer", path, line_no);
            break;
        }
        if (rank >= (int64_t)lines + (1 << 20)) {
            rc = tk_err_set(e, TK_ERANGE, "%s:%zu: rank %lld is far beyond the number of lines", path,
                            line_no, (long long)rank);
            break;
        }
        int32_t id = (int32_t)rank;
        if (id >= cap) {
            rc = tk_err_set(e, TK_ERANGE, "%s:%zu: rank %d is larger than the number of lines", path, line_no, id);
            break;
        }
        if (t->id_flags[id] & TK_ID_PRESENT) {
            rc = tk_err_set(e, TK_EPARSE, "%s:%zu: rank %d appears twice", path, line_no, id);
            break;
        }
        tk_strref bref, sref;
        tk_buf_clear(&str);
        if (tk_tok_pool_add(t, bytes.data, bytes.len, &bref) || tk_bytelevel_encode(bytes.data, bytes.len, &str)
            || tk_tok_pool_add(t, str.data, str.len, &sref)) {
            rc = tk_err_set(e, TK_ENOMEM, "%s: out of memory", path);
            break;
        }
        int32_t existing;
        if (tk_idtab_put(&t->model_bytes, t->pool.data, bref, id, &existing)) {
            rc = tk_err_set(e, TK_ENOMEM, "%s: out of memory", path);
            break;
        }
        if (existing >= 0) {
            rc = tk_err_set(e, TK_EPARSE, "%s:%zu: the token of rank %d repeats rank %d", path, line_no, id, existing);
            break;
        }
        t->id_flags[id] = TK_ID_PRESENT | TK_ID_MODEL;
        t->id_str[id] = sref;
        t->id_bytes[id] = bref;
        if (id > max_id) max_id = id;
        t->n_model++;
    }
    tk_buf_free(&bytes);
    tk_buf_free(&str);
    if (rc) return rc;
    if (t->n_model == 0) return tk_err_set(e, TK_EPARSE, "%s: no tokens", path);
    t->n_ids = max_id + 1;
    /* the merge table: every way to cut each token into two tokens */
    for (int32_t id = 0; id <= max_id; id++) {
        if (!(t->id_flags[id] & TK_ID_PRESENT)) continue;
        tk_strref r = t->id_bytes[id];
        for (uint32_t k = 1; k < r.len; k++) {
            const char *s = t->pool.data + r.off;
            int32_t a = tk_idtab_get(&t->model_bytes, t->pool.data, s, k);
            if (a < 0) continue;
            int32_t b = tk_idtab_get(&t->model_bytes, t->pool.data, s + k, r.len - k);
            if (b < 0) continue;
            if (tk_merges_put(&t->merges, a, b, (uint32_t)id, id)) return tk_err_set(e, TK_ENOMEM, "%s: out of memory", path);
        }
    }
    return 0;
}

int tk_tokenizer_load_tiktoken(const char *ranks_path, const char *pattern,
                               const char *const *special_names, const int32_t *special_ids,
                               size_t n_special, tk_tokenizer **out, tk_err *e) {
    tk_err local = {0};
    if (!e) e = &local;
    if (!ranks_path || !pattern || !out || (n_special && (!special_names || !special_ids)))
        return tk_err_set(e, TK_EINVAL, "tiktoken: NULL argument");
    *out = NULL;
    tk_tokenizer *t;
    int rc = tk_tok_new(&t, ranks_path, e);
    if (rc) return rc;
    t->byte_level = true;     /* token strings are shown in the byte-level alphabet, as HF does */
    t->ignore_merges = true;  /* a piece that is a token is emitted whole */
    tk_buf text = {0};
    if ((rc = tk_file_read(ranks_path, &text, MAX_RANKS_FILE, e))) goto out;
    if ((rc = parse_ranks(t, ranks_path, text.data ? text.data : "", text.len, e))) goto out;

    tk_pretok_step st = {0};
    st.kind = TK_PRETOK_SPLIT;
    st.behavior = TK_SPLIT_ISOLATED;
    st.fast = tk_fast_split_detect(pattern, strlen(pattern));
    st.pattern = tk_arena_strdup(t->arena, pattern);
    if (!st.pattern) {
        rc = tk_err_set(e, TK_ENOMEM, "tiktoken: out of memory");
        goto out;
    }
    if (st.fast == TK_FAST_NONE && (rc = tk_regex_compile(pattern, strlen(pattern), "tiktoken pattern", &st.re, e)))
        goto out;
    t->steps = tk_arena_alloc(t->arena, sizeof *t->steps);
    if (!t->steps) {
        tk_regex_free(st.re);
        rc = tk_err_set(e, TK_ENOMEM, "tiktoken: out of memory");
        goto out;
    }
    t->steps[0] = st;
    t->n_steps = 1;

    /* special tokens: added tokens with the ids given */
    int32_t max_id = t->n_ids - 1;
    for (size_t k = 0; k < n_special; k++) {
        if (!special_names[k] || !*special_names[k] || special_ids[k] < 0 || special_ids[k] >= INT32_MAX - 1) {
            rc = tk_err_set(e, TK_EINVAL, "tiktoken: special token %zu: empty name or bad id", k);
            goto out;
        }
        if (special_ids[k] > max_id) max_id = special_ids[k];
    }
    if (max_id + 1 > t->n_ids) {
        /* grow the id tables to cover the special ids */
        int32_t cap = max_id + 1;
        uint8_t *f = tk_realloc_array(t->id_flags, (size_t)cap, 1);
        if (f) t->id_flags = f;
        tk_strref *s1 = tk_realloc_array(t->id_str, (size_t)cap, sizeof *s1);
        if (s1) t->id_str = s1;
        tk_strref *s2 = tk_realloc_array(t->id_bytes, (size_t)cap, sizeof *s2);
        if (s2) t->id_bytes = s2;
        if (!f || !s1 || !s2) {
            rc = tk_err_set(e, TK_ENOMEM, "tiktoken: out of memory");
            goto out;
        }
        for (int32_t k = t->n_ids; k < cap; k++) {
            t->id_flags[k] = 0;
            t->id_str[k] = t->id_bytes[k] = (tk_strref){0, 0};
        }
    }
    t->added = tk_arena_zalloc(t->arena, (n_special + 1) * sizeof *t->added);
    if (!t->added) {
        rc = tk_err_set(e, TK_ENOMEM, "tiktoken: out of memory");
        goto out;
    }
    for (size_t k = 0; k < n_special; k++) {
        int32_t id = special_ids[k];
        size_t len = strlen(special_names[k]);
        if (t->id_flags[id] & TK_ID_PRESENT) {
            rc = tk_err_set(e, TK_EINVAL, "tiktoken: special token \"%s\" has id %d, which is already taken",
                            special_names[k], id);
            goto out;
        }
        if (!tk_utf8_valid(special_names[k], len, NULL)) {
            rc = tk_err_set(e, TK_EINVAL, "tiktoken: special token %zu is not valid UTF-8", k);
            goto out;
        }
        if ((rc = tk_tok_add_added(t, id, special_names[k], len, true, e))) goto out;
        /* the token stands for its own text */
        t->id_bytes[id] = t->id_str[id];
        tk_added *a = &t->added[t->n_added++];
        a->content = a->pattern = tk_arena_strdup(t->arena, special_names[k]);
        if (!a->content) {
            rc = tk_err_set(e, TK_ENOMEM, "tiktoken: out of memory");
            goto out;
        }
        a->len = a->pattern_len = (uint32_t)len;
        a->id = id;
        a->flags = TK_ADDED_SPECIAL;
    }
    if (max_id + 1 > t->n_ids) t->n_ids = max_id + 1;
    tk_tok_fill_byte_tables(t);
    t->self_state = calloc((size_t)t->n_ids, 1);
    if (!t->self_state) {
        rc = tk_err_set(e, TK_ENOMEM, "tiktoken: out of memory");
        goto out;
    }
    rc = tk_tok_build_added_sets(t, e);
out:
    tk_buf_free(&text);
    if (rc) {
        tk_tokenizer_free(t);
        return rc;
    }
    *out = t;
    return 0;
}
