/* The id tables of a tokenizer: per-id token string and bytes in one pool, the lookups built
 * over them, and the model vocabulary / merges readers that fill them. */
#include "internal.h"

static atomic_uint_fast64_t g_serial;

int tk_tok_new(tk_tokenizer **out, const char *source, tk_err *e) {
    int rc = tku_init();
    if (rc) return tk_err_set(e, rc, "tokenizer: out of memory building the Unicode tables");
    tk_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return tk_err_set(e, TK_ENOMEM, "tokenizer: out of memory");
    t->arena = tk_arena_new(0);
    t->source = tk_strdup(source ? source : "");
    if (!t->arena || !t->source) {
        tk_tokenizer_free(t);
        return tk_err_set(e, TK_ENOMEM, "tokenizer: out of memory");
    }
    t->unk_id = t->bos_id = t->eos_id = t->pad_id = -1;
    for (int b = 0; b < 256; b++) t->byte_id[b] = -1;
    t->serial = atomic_fetch_add(&g_serial, 1) + 1;
    *out = t;
    return 0;
}

void tk_tokenizer_free(tk_tokenizer *t) {
    if (!t) return;
    for (uint32_t k = 0; k < t->n_steps; k++) tk_regex_free(t->steps[k].re);
    tk_idtab_free(&t->model_odd);
    tk_idtab_free(&t->model_bytes);
    tk_idtab_free(&t->added_str);
    tk_merges_free(&t->merges);
    free((void *)t->self_state);
    free(t->id_flags);
    free(t->id_str);
    free(t->id_bytes);
    tk_buf_free(&t->pool);
    free(t->source);
    tk_arena_free(t->arena);
    free(t);
}

int tk_tok_alloc_ids(tk_tokenizer *t, int32_t cap, tk_err *e) {
    if (cap < 1) cap = 1;
    t->id_flags = tk_calloc_array((size_t)cap, sizeof *t->id_flags);
    t->id_str = tk_calloc_array((size_t)cap, sizeof *t->id_str);
    t->id_bytes = tk_calloc_array((size_t)cap, sizeof *t->id_bytes);
    if (!t->id_flags || !t->id_str || !t->id_bytes)
        return tk_err_set(e, TK_ENOMEM, "tokenizer: out of memory for %d ids", cap);
    t->n_ids = 0;
    return 0;
}

int tk_tok_pool_add(tk_tokenizer *t, const char *s, size_t n, tk_strref *ref) {
    if (n >= UINT32_MAX || t->pool.len + n + 1 > UINT32_MAX) return TK_ENOMEM;
    ref->off = (uint32_t)t->pool.len;
    ref->len = (uint32_t)n;
    if (tk_buf_append(&t->pool, s, n) || tk_buf_putc(&t->pool, '\0')) return TK_ENOMEM;
    return 0;
}

/* Printable rendering of a token for messages (truncated). */
static const char *shown(const char *s, size_t n, char *buf, size_t cap) {
    size_t o = 0;
    for (size_t k = 0; k < n && o + 8 < cap; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(buf + o, cap - o, "\\u%04x", c);
        } else {
            buf[o++] = (char)c;
        }
    }
    if (o + 8 >= cap) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

/* ---- model.vocab ------------------------------------------------------------------------ */

/* Byte-level string -> bytes into buf (cap bytes); the length, or -1 if a character is outside
 * the alphabet or the result does not fit. */
static int64_t bl_decode(const char *s, size_t n, char *buf, size_t cap) {
    const int16_t *c2b = tk_bytelevel_table();
    size_t i = 0, k = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        uint32_t cp;
        if (c < 0x80) {
            cp = c;
            i++;
        } else {
            i += (size_t)tku_decode((const unsigned char *)s + i, &cp);
        }
        if (cp >= 512 || c2b[cp] < 0 || k >= cap) return -1;
        buf[k++] = (char)c2b[cp];
    }
    return (int64_t)k;
}

int32_t tk_tok_model_lookup(const tk_tokenizer *t, const char *s, size_t n) {
    if (!t->byte_level) return tk_idtab_get(&t->model_bytes, t->pool.data, s, n);
    char small[256];
    int64_t k = bl_decode(s, n, small, sizeof small);
    if (k >= 0) return tk_idtab_get(&t->model_bytes, t->pool.data, small, (size_t)k);
    if (n > sizeof small) {
        tk_buf big = {0};
        int32_t id = -1;
        if (tk_bytelevel_decode(s, n, &big)) {
            id = tk_idtab_get(&t->model_bytes, t->pool.data, big.data, big.len);
            tk_buf_free(&big);
            return id;
        }
        tk_buf_free(&big);
    }
    return tk_idtab_get(&t->model_odd, t->pool.data, s, n);
}

#define VOCAB_BATCH 64

typedef struct pending_token {
    int32_t id;
    tk_strref sref, key;
    bool representable;
    uint32_t h;
} pending_token;

typedef struct vocab_ctx {
    tk_tokenizer *t;
    const char *what;
    int32_t cap;            /* size of the id tables */
    int32_t max_id;
    size_t count;
    size_t estimate;
    tk_buf bytes;
    pending_token p[VOCAB_BATCH];
    int n;
} vocab_ctx;

static int grow_ids(tk_tokenizer *t, int32_t old_cap, int32_t cap) {
    uint8_t *f = tk_realloc_array(t->id_flags, (size_t)cap, sizeof *f);
    if (f) t->id_flags = f;
    tk_strref *s = tk_realloc_array(t->id_str, (size_t)cap, sizeof *s);
    if (s) t->id_str = s;
    tk_strref *b = tk_realloc_array(t->id_bytes, (size_t)cap, sizeof *b);
    if (b) t->id_bytes = b;
    if (!f || !s || !b) return TK_ENOMEM;
    memset(f + old_cap, 0, (size_t)(cap - old_cap));
    memset(s + old_cap, 0, (size_t)(cap - old_cap) * sizeof *s);
    memset(b + old_cap, 0, (size_t)(cap - old_cap) * sizeof *b);
    return 0;
}

/* Insert a batch of vocabulary entries (their table slots were prefetched when they arrived). */
static int flush_vocab(vocab_ctx *vc, tk_err *e) {
    tk_tokenizer *t = vc->t;
    char sh[96], sh2[96];
    for (int k = 0; k < vc->n; k++) {
        pending_token *pt = &vc->p[k];
        int32_t id = pt->id;
        const char *tok = t->pool.data + pt->sref.off;
        if (t->id_flags[id] & TK_ID_PRESENT) {
            tk_strref o = t->id_str[id];
            return tk_err_set(e, TK_EPARSE, "%s: model.vocab: id %d is used by both \"%s\" and \"%s\"",
                              vc->what, id, shown(t->pool.data + o.off, o.len, sh, sizeof sh),
                              shown(tok, pt->sref.len, sh2, sizeof sh2));
        }
        tk_idtab *tab = pt->representable ? &t->model_bytes : &t->model_odd;
        int32_t existing;
        if (tk_idtab_put(tab, t->pool.data, pt->key, id, &existing))
            return tk_err_set(e, TK_ENOMEM, "%s: model.vocab: out of memory", vc->what);
        if (existing >= 0)
            return tk_err_set(e, TK_EPARSE, "%s: model.vocab: duplicate token \"%s\" (ids %d and %d)", vc->what,
                              shown(tok, pt->sref.len, sh, sizeof sh), existing, id);
        t->id_flags[id] = TK_ID_PRESENT | TK_ID_MODEL;
        t->id_str[id] = pt->sref;
        t->id_bytes[id] = pt->representable ? pt->key : pt->sref;
        if (id > vc->max_id) vc->max_id = id;
        vc->count++;
    }
    vc->n = 0;
    return 0;
}

static int on_vocab(void *ctx, const char *tok, size_t len, int64_t id64, size_t index, tk_err *e) {
    vocab_ctx *vc = ctx;
    tk_tokenizer *t = vc->t;
    char sh[96];
    (void)index;
    if ((uint64_t)id64 >= (uint64_t)vc->estimate + (1u << 20))
        return tk_err_set(e, TK_ERANGE,
                          "model.vocab[\"%s\"]: id %lld is far beyond the number of entries (about "
                          "%zu); ids must be dense", shown(tok, len, sh, sizeof sh), (long long)id64, vc->estimate);
    int32_t id = (int32_t)id64;
    if (id >= vc->cap) {
        int32_t cap = vc->cap * 2 > id + 1 ? vc->cap * 2 : id + 1 + 1024;
        if (grow_ids(t, vc->cap, cap)) return tk_err_set(e, TK_ENOMEM, "model.vocab: out of memory");
        vc->cap = cap;
    }
    pending_token *pt = &vc->p[vc->n];
    if (tk_tok_pool_add(t, tok, len, &pt->sref)) return tk_err_set(e, TK_ENOMEM, "model.vocab: out of memory");
    pt->id = id;
    pt->key = pt->sref;
    pt->representable = true;
    if (t->byte_level) {
        tk_buf_clear(&vc->bytes);
        pt->representable = tk_bytelevel_decode(tok, len, &vc->bytes);
        if (pt->representable && (vc->bytes.len != len || memcmp(vc->bytes.data, tok, len))
            && tk_tok_pool_add(t, vc->bytes.data, vc->bytes.len, &pt->key))
            return tk_err_set(e, TK_ENOMEM, "model.vocab: out of memory");
    }
    /* bytes outside the byte-level alphabet decode to the token's own UTF-8 and never come out of
       BPE; such tokens are found by their string */
    pt->h = tk_idtab_hash(t->pool.data + pt->key.off, pt->key.len);
    tk_idtab_prefetch(pt->representable ? &t->model_bytes : &t->model_odd, pt->h);
    return ++vc->n == VOCAB_BATCH ? flush_vocab(vc, e) : 0;
}

/* ---- model.merges ----------------------------------------------------------------------- */

/* Merges are resolved in batches: the three lookups of each merge (left, right, merged) are
 * hashed and their table slots prefetched as the merges are read; the lookups and the merge-table
 * inserts (also prefetched) run once the batch is full. Loading is dominated by these random
 * memory accesses. */
#define MERGE_BATCH 64

typedef struct pending_merge {
    uint32_t off[3], len[3];    /* left, right, left+right bytes in the batch scratch */
    uint32_t h[3];
    size_t rank, index, at;
} pending_merge;

typedef struct merges_ctx {
    tk_tokenizer *t;
    const char *text;
    const char *what;
    tk_buf scratch;
    pending_merge p[MERGE_BATCH];
    int n;
} merges_ctx;

static int merge_error(merges_ctx *mc, const pending_merge *pm, bool merged, const char *tok,
                       size_t len, tk_err *e) {
    char sh[96];
    int line, col;
    tk_json_linecol(mc->text, pm->at, &line, &col);
    tk_buf tmp = {0};
    /* show the token in its byte-level string form, as written in the file */
    if (tk_bytelevel_encode(tok, len, &tmp)) {
        tk_buf_free(&tmp);
        return tk_err_set(e, TK_ENOMEM, "out of memory");
    }
    shown(tmp.data, tmp.len, sh, sizeof sh);
    tk_buf_free(&tmp);
    return tk_err_set(e, TK_EPARSE, "%s:%d:%d: model.merges[%zu]: %stoken \"%s\" is not in the vocabulary",
                      mc->what, line, col, pm->index, merged ? "the merged " : "", sh);
}

static int flush_merges(merges_ctx *mc, tk_err *e) {
    tk_tokenizer *t = mc->t;
    const char *sc = mc->scratch.data;
    int32_t ids[MERGE_BATCH][3];
    for (int k = 0; k < mc->n; k++) {
        pending_merge *pm = &mc->p[k];
        for (int j = 0; j < 3; j++) {
            ids[k][j] = tk_idtab_get_h(&t->model_bytes, t->pool.data, sc + pm->off[j], pm->len[j], pm->h[j]);
            if (ids[k][j] < 0) return merge_error(mc, pm, j == 2, sc + pm->off[j], pm->len[j], e);
        }
        if (pm->rank >= UINT32_MAX) return tk_err_set(e, TK_ERANGE, "%s: model.merges: too many merges", mc->what);
        tk_merges_prefetch(&t->merges, ids[k][0], ids[k][1]);
    }
    for (int k = 0; k < mc->n; k++)
        if (tk_merges_put(&t->merges, ids[k][0], ids[k][1], (uint32_t)mc->p[k].rank, ids[k][2]))
            return tk_err_set(e, TK_ENOMEM, "%s: out of memory", mc->what);
    mc->n = 0;
    tk_buf_clear(&mc->scratch);
    return 0;
}

/* A merge whose tokens are outside the byte-level alphabet: looked up by string, after the batch. */
static int odd_merge(merges_ctx *mc, const char *a, size_t alen, const char *b, size_t blen, size_t rank,
                     size_t index, size_t at, tk_err *e) {
    tk_tokenizer *t = mc->t;
    int rc = flush_merges(mc, e);
    if (rc) return rc;
    tk_buf cat = {0};
    if (tk_buf_append(&cat, a, alen) || tk_buf_append(&cat, b, blen)) {
        tk_buf_free(&cat);
        return tk_err_set(e, TK_ENOMEM, "out of memory");
    }
    int32_t ia = tk_tok_model_lookup(t, a, alen), ib = tk_tok_model_lookup(t, b, blen);
    int32_t ic = tk_tok_model_lookup(t, cat.data, cat.len);
    const char *bad = ia < 0 ? a : ib < 0 ? b : ic < 0 ? cat.data : NULL;
    size_t bad_len = ia < 0 ? alen : ib < 0 ? blen : cat.len;
    if (bad) {
        char sh[96];
        int line, col;
        tk_json_linecol(mc->text, at, &line, &col);
        rc = tk_err_set(e, TK_EPARSE, "%s:%d:%d: model.merges[%zu]: %stoken \"%s\" is not in the vocabulary",
                        mc->what, line, col, index, ic < 0 && ia >= 0 && ib >= 0 ? "the merged " : "",
                        shown(bad, bad_len, sh, sizeof sh));
    } else if (rank >= UINT32_MAX) {
        rc = tk_err_set(e, TK_ERANGE, "%s: model.merges: too many merges", mc->what);
    } else if (tk_merges_put(&t->merges, ia, ib, (uint32_t)rank, ic)) {
        rc = tk_err_set(e, TK_ENOMEM, "%s: out of memory", mc->what);
    }
    tk_buf_free(&cat);
    return rc;
}

static int on_merge(void *ctx, const char *a, size_t alen, const char *b, size_t blen, size_t rank,
                    size_t index, size_t at, tk_err *e) {
    merges_ctx *mc = ctx;
    tk_tokenizer *t = mc->t;
    if (!t->byte_level) return odd_merge(mc, a, alen, b, blen, rank, index, at, e);
    if (tk_buf_reserve(&mc->scratch, alen + blen + 8)) return tk_err_set(e, TK_ENOMEM, "out of memory");
    char *base = mc->scratch.data;
    size_t off = mc->scratch.len;
    int64_t la = bl_decode(a, alen, base + off, alen);
    int64_t lb = la < 0 ? -1 : bl_decode(b, blen, base + off + la, blen);
    if (la < 0 || lb < 0) return odd_merge(mc, a, alen, b, blen, rank, index, at, e);
    mc->scratch.len += (size_t)(la + lb);
    pending_merge *pm = &mc->p[mc->n++];
    pm->off[0] = (uint32_t)off;
    pm->len[0] = (uint32_t)la;
    pm->off[1] = (uint32_t)(off + (size_t)la);
    pm->len[1] = (uint32_t)lb;
    pm->off[2] = (uint32_t)off; /* left and right are adjacent: the merged bytes for free */
    pm->len[2] = (uint32_t)(la + lb);
    pm->rank = rank;
    pm->index = index;
    pm->at = at;
    for (int j = 0; j < 3; j++) {
        pm->h[j] = tk_idtab_hash(base + pm->off[j], pm->len[j]);
        tk_idtab_prefetch(&t->model_bytes, pm->h[j]);
    }
    return mc->n == MERGE_BATCH ? flush_merges(mc, e) : 0;
}

/* Upper bound on the number of strings in a JSON span (each has two quotes). */
static size_t count_strings(const char *text, tk_json_span sp) {
    size_t q = 0;
    const char *p = text + sp.start, *end = text + sp.end;
    while ((p = memchr(p, '"', (size_t)(end - p)))) {
        q++;
        p++;
    }
    return q / 2;
}

int tk_tok_build_vocab(tk_tokenizer *t, const char *text, size_t len, tk_json_span vocab_sp,
                       tk_json_span merges_sp, const char *what, const tk_added_spec *added,
                       size_t n_added, int32_t *added_ids, tk_err *e) {
    char sh[96];
    size_t est = count_strings(text, vocab_sp);
    if (est > (size_t)INT32_MAX / 4) return tk_err_set(e, TK_ERANGE, "%s: model.vocab: too many entries", what);
    vocab_ctx *vcp = calloc(1, sizeof *vcp);
    if (!vcp) return tk_err_set(e, TK_ENOMEM, "%s: out of memory", what);
    vocab_ctx vc0 = {t, what, (int32_t)(est + n_added + 16), -1, 0, est, {0}, {{0}}, 0};
    *vcp = vc0;
    int rc = tk_tok_alloc_ids(t, vcp->cap, e);
    if (rc) {
        free(vcp);
        return rc;
    }
    /* the pool holds every string twice at most; a little more for escapes and added tokens */
    size_t merges_est = count_strings(text, merges_sp);
    {
        /* [["a","b"], ...] has two strings per merge, ["a b", ...] one */
        size_t k = merges_sp.start + 1;
        while (k < merges_sp.end && (text[k] == ' ' || text[k] == '\n' || text[k] == '\r' || text[k] == '\t')) k++;
        if (k < merges_sp.end && text[k] == '[') merges_est /= 2;
    }
    if (tk_buf_reserve(&t->pool, (vocab_sp.end - vocab_sp.start) + 4096) || tk_idtab_init(&t->model_bytes, est)
        || tk_idtab_init(&t->added_str, n_added) || tk_merges_init(&t->merges, merges_est)) {
        free(vcp);
        return tk_err_set(e, TK_ENOMEM, "%s: out of memory", what);
    }
    rc = tk_json_parse_vocab(text, len, vocab_sp, what, on_vocab, vcp, e);
    if (!rc) rc = flush_vocab(vcp, e);
    tk_buf_free(&vcp->bytes);
    vocab_ctx vc = *vcp;
    free(vcp);
    if (rc) return rc;
    t->n_model = (int32_t)vc.count;
    t->n_ids = vc.max_id + 1;
    if (merges_sp.end > merges_sp.start) {
        merges_ctx *mc = calloc(1, sizeof *mc);
        if (!mc) return tk_err_set(e, TK_ENOMEM, "%s: out of memory", what);
        mc->t = t;
        mc->text = text;
        mc->what = what;
        rc = tk_json_parse_merges(text, len, merges_sp, what, on_merge, mc, e);
        if (!rc) rc = flush_merges(mc, e);
        tk_buf_free(&mc->scratch);
        free(mc);
        if (rc) return rc;
    }
    /* added tokens take the id HF's AddedVocabulary gives them: the id of the same string if it
       is already known, else the next id counting from the number of vocabulary entries */
    int32_t next_id = t->n_model;
    for (size_t k = 0; k < n_added; k++) {
        const tk_added_spec *a = &added[k];
        int32_t id = -1;
        for (size_t j = 0; j < k && id < 0; j++)
            if (added[j].len == a->len && !memcmp(added[j].content, a->content, a->len)) id = added_ids[j];
        if (id < 0) id = tk_tok_model_lookup(t, a->content, a->len);
        if (id < 0) id = next_id++;
        if (a->file_id != id)
            tk_warn("%s: added_tokens[%zu] \"%s\" has id %lld in the file but gets id %d, as in HF "
                    "tokenizers", what, k, shown(a->content, a->len, sh, sizeof sh),
                    (long long)a->file_id, id);
        if (id >= vc.cap) {
            int32_t cap = id + 1024;
            if (grow_ids(t, vc.cap, cap)) return tk_err_set(e, TK_ENOMEM, "%s: out of memory", what);
            vc.cap = cap;
        }
        added_ids[k] = id;
        if (id >= t->n_ids) t->n_ids = id + 1;
    }
    return 0;
}

int tk_tok_add_added(tk_tokenizer *t, int32_t id, const char *content, size_t len, bool special,
                     tk_err *e) {
    tk_strref sref, bref;
    tk_buf bytes = {0};
    int rc = tk_tok_pool_add(t, content, len, &sref);
    bref = sref;
    if (!rc && t->byte_level && tk_bytelevel_decode(content, len, &bytes)
        && (bytes.len != len || memcmp(bytes.data, content, len)))
        rc = tk_tok_pool_add(t, bytes.data, bytes.len, &bref);
    tk_buf_free(&bytes);
    if (rc) return tk_err_set(e, TK_ENOMEM, "added_tokens: out of memory");
    int32_t existing;
    if (tk_idtab_put(&t->added_str, t->pool.data, sref, id, &existing))
        return tk_err_set(e, TK_ENOMEM, "added_tokens: out of memory");
    t->id_str[id] = sref;
    t->id_bytes[id] = bref;
    t->id_flags[id] |= TK_ID_PRESENT | TK_ID_ADDED | (special ? TK_ID_SPECIAL : 0);
    return 0;
}

void tk_tok_fill_byte_tables(tk_tokenizer *t) {
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        t->byte_id[b] = tk_idtab_get(&t->model_bytes, t->pool.data, &c, 1);
        t->fallback_n[b] = 0;
        if (!t->byte_fallback) continue;
        /* HF's byte_fallback looks up "<0xXX>" for each UTF-8 byte of the byte-level character */
        char utf8[4];
        int n = t->byte_level ? tku_encode(tk_bytelevel_char((unsigned char)b), utf8) : 1;
        if (!t->byte_level) utf8[0] = c;
        int32_t ids[2];
        bool ok = n <= 2;
        for (int k = 0; k < n && ok; k++) {
            char name[8];
            snprintf(name, sizeof name, "<0x%02X>", (unsigned char)utf8[k]);
            ids[k] = tk_tok_model_lookup(t, name, strlen(name));
            ok = ids[k] >= 0;
        }
        if (ok) {
            t->fallback_n[b] = (uint8_t)n;
            for (int k = 0; k < n; k++) t->fallback_ids[b][k] = ids[k];
        }
    }
}
