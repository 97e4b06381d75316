/* Byte-pair encoding of one pre-token.
 *
 * The result must equal HF's Word::merge_all: repeatedly apply the mergeable adjacent pair with
 * the lowest rank, the leftmost one on ties. Short pieces (almost all) use a linear scan over a
 * small array; long ones use HF's scheme (linked symbols and a min-heap of (rank, position) with
 * stale entries skipped). Both apply merges in the same order. A per-thread word cache skips the
 * work for pieces seen recently; with ignore_merges a piece that is itself a token is emitted
 * whole first, as HF and tiktoken do. */
#include "internal.h"
#include "tstate.h"

#define SCAN_MAX 48     /* pieces up to this many symbols use the scan */

/* ---- initial symbols ------------------------------------------------------------------- */

/* The symbols of a piece before merging: one per byte, with HF's byte_fallback and unk rules
 * for bytes the vocabulary lacks. */
static int initial_symbols(const tk_tokenizer *t, tk_tstate *ts, const unsigned char *s, uint32_t n,
                           tk_err *e) {
    if (tk_vec_reserve(&ts->syms, 2 * (size_t)n + 1)) return tk_err_set(e, TK_ENOMEM, "encode: out of memory");
    tk_bpe_sym *sym = ts->syms.data;
    uint32_t m = 0;
    int32_t unk_len = 0;
    for (uint32_t i = 0; i < n; i++) {
        int32_t id = t->byte_id[s[i]];
        if (id >= 0) {
            if (unk_len) {
                sym[m++] = (tk_bpe_sym){t->unk_id, 0, 0, (uint32_t)unk_len};
                unk_len = 0;
            }
            sym[m++] = (tk_bpe_sym){id, 0, 0, 1};
            continue;
        }
        if (t->byte_fallback && t->fallback_n[s[i]]) {
            /* HF falls back on the UTF-8 bytes of the byte-level *character* ("<0xC4>",
               "<0xA0>" for the space's stand-in U+0120) */
            if (unk_len) {
                sym[m++] = (tk_bpe_sym){t->unk_id, 0, 0, (uint32_t)unk_len};
                unk_len = 0;
            }
            for (int k = 0; k < t->fallback_n[s[i]]; k++)
                sym[m++] = (tk_bpe_sym){t->fallback_ids[s[i]][k], 0, 0, 1};
            continue;
        }
        if (t->unk_id >= 0) {
            if (unk_len && !t->fuse_unk) {
                sym[m++] = (tk_bpe_sym){t->unk_id, 0, 0, (uint32_t)unk_len};
                unk_len = 0;
            }
            unk_len += 1;
        }
        /* otherwise the byte is dropped, as HF does without unk_token */
    }
    if (unk_len) sym[m++] = (tk_bpe_sym){t->unk_id, 0, 0, (uint32_t)unk_len};
    ts->syms.len = m;
    return 0;
}

/* ---- merging --------------------------------------------------------------------------- */

static void merge_scan(const tk_tokenizer *t, tk_tstate *ts) {
    tk_bpe_sym *sym = ts->syms.data;
    uint32_t m = (uint32_t)ts->syms.len;
    uint32_t rank[SCAN_MAX];
    int32_t nid[SCAN_MAX];
    for (uint32_t k = 0; k + 1 < m; k++) {
        const tk_merge_slot *ms = tk_merges_get(&t->merges, sym[k].id, sym[k + 1].id);
        rank[k] = ms ? ms->rank : UINT32_MAX;
        nid[k] = ms ? ms->id : -1;
    }
    while (m > 1) {
        uint32_t best = UINT32_MAX, at = 0;
        for (uint32_t k = 0; k + 1 < m; k++)
            if (rank[k] < best) {
                best = rank[k];
                at = k;
            }
        if (best == UINT32_MAX) break;
        sym[at].id = nid[at];
        for (uint32_t k = at + 1; k + 1 < m; k++) {
            sym[k] = sym[k + 1];
            rank[k] = rank[k + 1];
            nid[k] = nid[k + 1];
        }
        m--;
        if (at > 0) {
            const tk_merge_slot *ms = tk_merges_get(&t->merges, sym[at - 1].id, sym[at].id);
            rank[at - 1] = ms ? ms->rank : UINT32_MAX;
            nid[at - 1] = ms ? ms->id : -1;
        }
        if (at + 1 < m) {
            const tk_merge_slot *ms = tk_merges_get(&t->merges, sym[at].id, sym[at + 1].id);
            rank[at] = ms ? ms->rank : UINT32_MAX;
            nid[at] = ms ? ms->id : -1;
        }
    }
    ts->syms.len = m;
}

/* Binary min-heap on key = rank << 32 | position (room is reserved by the caller). */
static void heap_push(tk_tstate *ts, uint64_t key, int32_t id) {
    tk_heap_ent *h = ts->heap.data;
    size_t i = ts->heap.len++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p].key <= key) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = (tk_heap_ent){key, id};
}

static tk_heap_ent heap_pop(tk_tstate *ts) {
    tk_heap_ent *h = ts->heap.data;
    tk_heap_ent top = h[0], last = h[--ts->heap.len];
    size_t n = ts->heap.len, i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && h[c + 1].key < h[c].key) c++;
        if (last.key <= h[c].key) break;
        h[i] = h[c];
        i = c;
    }
    if (n) h[i] = last;
    return top;
}

static int merge_heap(const tk_tokenizer *t, tk_tstate *ts, tk_err *e) {
    size_t m = ts->syms.len;
    /* the initial pairs; each merge pops one entry and pushes at most two, so room for two more
       is checked before each merge */
    if (tk_vec_reserve(&ts->heap, m + 2)) return tk_err_set(e, TK_ENOMEM, "encode: out of memory");
    ts->heap.len = 0;
    tk_bpe_sym *sym = ts->syms.data;
    for (size_t k = 0; k < m; k++) {
        sym[k].prev = (int32_t)k - 1;
        sym[k].next = k + 1 < m ? (int32_t)k + 1 : -1;
    }
    for (size_t k = 0; k + 1 < m; k++) {
        const tk_merge_slot *ms = tk_merges_get(&t->merges, sym[k].id, sym[k + 1].id);
        if (ms) heap_push(ts, (uint64_t)ms->rank << 32 | k, ms->id);
    }
    while (ts->heap.len) {
        if (tk_vec_reserve(&ts->heap, ts->heap.len + 2)) return tk_err_set(e, TK_ENOMEM, "encode: out of memory");
        tk_heap_ent top = heap_pop(ts);
        uint32_t pos = (uint32_t)top.key;
        if (sym[pos].len == 0 || sym[pos].next < 0) continue;
        int32_t nx = sym[pos].next;
        const tk_merge_slot *cur = tk_merges_get(&t->merges, sym[pos].id, sym[nx].id);
        if (!cur || cur->id != top.new_id) continue; /* stale */
        sym[pos].id = top.new_id;
        sym[pos].len += sym[nx].len;
        sym[pos].next = sym[nx].next;
        sym[nx].len = 0;
        if (sym[pos].next >= 0) sym[sym[pos].next].prev = (int32_t)pos;
        if (sym[pos].prev >= 0) {
            int32_t pv = sym[pos].prev;
            const tk_merge_slot *ms = tk_merges_get(&t->merges, sym[pv].id, sym[pos].id);
            if (ms) heap_push(ts, (uint64_t)ms->rank << 32 | (uint32_t)pv, ms->id);
        }
        if (sym[pos].next >= 0) {
            const tk_merge_slot *ms = tk_merges_get(&t->merges, sym[pos].id, sym[sym[pos].next].id);
            if (ms) heap_push(ts, (uint64_t)ms->rank << 32 | pos, ms->id);
        }
    }
    /* compact the surviving symbols */
    size_t o = 0;
    for (int32_t k = m ? 0 : -1; k >= 0; k = sym[k].next) sym[o++] = sym[k];
    ts->syms.len = o;
    return 0;
}

/* ---- word cache -------------------------------------------------------------------------- */

static tk_cache_slot *cache_slot(tk_tstate *ts, uint64_t h) {
    if (!ts->cache) {
        ts->cache = calloc(TK_CACHE_SLOTS, sizeof *ts->cache);
        if (!ts->cache) return NULL;
    }
    return &ts->cache[h & (TK_CACHE_SLOTS - 1)];
}

static inline bool key_eq(const char *a, const unsigned char *b, uint32_t n) {
    uint64_t x, y;
    while (n >= 8) {
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (x != y) return false;
        a += 8;
        b += 8;
        n -= 8;
    }
    while (n--)
        if (*a++ != (char)*b++) return false;
    return true;
}

static int push_ids(tk_vec_i32 *out, const int32_t *ids, size_t n, tk_err *e) {
    if (!n) return 0;
    if (tk_vec_reserve(out, out->len + n)) return tk_err_set(e, TK_ENOMEM, "encode: out of memory");
    memcpy(out->data + out->len, ids, n * sizeof(int32_t));
    out->len += n;
    return 0;
}

int tk_bpe_piece(const tk_tokenizer *t, tk_tstate *ts, const char *str, uint32_t n, tk_vec_i32 *out,
                 tk_err *e) {
    const unsigned char *s = (const unsigned char *)str;
    if (n == 0) return 0;
    if (n == 1 && t->byte_id[s[0]] >= 0) return push_ids(out, &t->byte_id[s[0]], 1, e);
    uint64_t h = tk_tok_hash(s, n);
    uint32_t h32 = (uint32_t)(h >> 32);
    /* 1. the word cache (recent pieces of this thread) */
    tk_cache_slot *slot = NULL;
    if (n <= TK_CACHE_KEY) {
        slot = cache_slot(ts, h);
        if (slot && slot->serial == t->serial && slot->hash == h32 && slot->len == n && key_eq(slot->key, s, n))
            return push_ids(out, slot->ids, slot->n_ids, e);
    }
    /* 2. the piece is a token: emitted whole with ignore_merges; otherwise only once BPE is known
          to rebuild that token from its bytes (remembered per token) */
    int32_t whole = tk_idtab_get_h(&t->model_bytes, t->pool.data, str, n, h32);
    uint8_t state = TK_SELF_UNKNOWN;
    if (whole >= 0) {
        if (t->ignore_merges) return push_ids(out, &whole, 1, e);
        state = atomic_load_explicit(&t->self_state[whole], memory_order_relaxed);
        if (state == TK_SELF_YES) return push_ids(out, &whole, 1, e);
    }
    /* 3. BPE */
    if (n > TK_TOK_MAX_PIECE)
        return tk_err_set(e, TK_ERANGE,
                          "encode: a pre-token of %u bytes (one word with no break) is longer than "
                          "the %u MiB that BPE merges in one piece",
                          n, TK_TOK_MAX_PIECE >> 20);
    int rc = initial_symbols(t, ts, s, n, e);
    if (rc) return rc;
    if (ts->syms.len <= SCAN_MAX) merge_scan(t, ts);
    else if ((rc = merge_heap(t, ts, e))) return rc;
    size_t m = ts->syms.len;
    if (m == 0) return 0; /* every byte dropped (no byte token, no unk) */
    if (tk_vec_reserve(out, out->len + m)) return tk_err_set(e, TK_ENOMEM, "encode: out of memory");
    for (size_t k = 0; k < m; k++) out->data[out->len + k] = ts->syms.data[k].id;
    if (whole >= 0 && state == TK_SELF_UNKNOWN)
        atomic_store_explicit(&t->self_state[whole],
                              (uint8_t)(m == 1 && out->data[out->len] == whole ? TK_SELF_YES : TK_SELF_NO),
                              memory_order_relaxed);
    if (slot && m <= TK_CACHE_IDS) {
        slot->serial = t->serial;
        slot->hash = h32;
        slot->len = (uint8_t)n;
        slot->n_ids = (uint8_t)m;
        memcpy(slot->key, s, n);
        memcpy(slot->ids, out->data + out->len, m * sizeof(int32_t));
    }
    out->len += m;
    return 0;
}
