/* Pre-tokenization: the pre_tokenizer steps applied as successive refinement (each step splits
 * every piece the previous one produced), then BPE on each final piece. Also owns the
 * per-thread scratch state. */
#include "internal.h"
#include "tstate.h"

#include <pthread.h>

/* ---- per-thread state ------------------------------------------------------------------- */

static pthread_key_t g_key;
static pthread_once_t g_key_once = PTHREAD_ONCE_INIT;
static int g_key_rc;
/* Also kept in a thread-local so leak checkers see the state as reachable. */
static _Thread_local tk_tstate *tl_state;

static void tstate_destroy(void *p) {
    tk_tstate *ts = p;
    if (!ts) return;
    tk_tstate_free_regex(ts);
    for (int i = 0; i < TK_MAX_STEPS; i++) {
        tk_vec_free(&ts->level[i]);
        tk_buf_free(&ts->level_text[i]);
    }
    tk_buf_free(&ts->sanitized);
    tk_buf_free(&ts->normalized);
    tk_vec_free(&ts->syms);
    tk_vec_free(&ts->pair_rank);
    tk_vec_free(&ts->heap);
    tk_vec_free(&ts->segs);
    tk_vec_free(&ts->seg_ids);
    tk_vec_free(&ts->segs2);
    tk_vec_free(&ts->seg_ids2);
    free(ts->cache);
    free(ts);
    if (tl_state == ts) tl_state = NULL;
}

static void make_key(void) { g_key_rc = pthread_key_create(&g_key, tstate_destroy); }

tk_tstate *tk_tstate_get(void) {
    if (tl_state) return tl_state;
    pthread_once(&g_key_once, make_key);
    if (g_key_rc) return NULL;
    tk_tstate *ts = calloc(1, sizeof *ts);
    if (!ts) return NULL;
    if (pthread_setspecific(g_key, ts)) {
        free(ts);
        return NULL;
    }
    tl_state = ts;
    return ts;
}

#define TRIM_BYTES (4u << 20)

static void trim_vec(void **data, size_t *len, size_t *cap, size_t elem) {
    if (*cap * elem > TRIM_BYTES) {
        free(*data);
        *data = NULL;
        *len = *cap = 0;
    }
}
#define TRIM(v) trim_vec((void **)&(v)->data, &(v)->len, &(v)->cap, sizeof *(v)->data)

void tk_tstate_trim(tk_tstate *ts) {
    for (int i = 0; i < TK_MAX_STEPS; i++) {
        TRIM(&ts->level[i]);
        if (ts->level_text[i].cap > TRIM_BYTES) tk_buf_free(&ts->level_text[i]);
    }
    if (ts->sanitized.cap > TRIM_BYTES) tk_buf_free(&ts->sanitized);
    if (ts->normalized.cap > TRIM_BYTES) tk_buf_free(&ts->normalized);
    TRIM(&ts->syms);
    TRIM(&ts->pair_rank);
    TRIM(&ts->heap);
    TRIM(&ts->segs);
    TRIM(&ts->seg_ids);
    TRIM(&ts->segs2);
    TRIM(&ts->seg_ids2);
}

/* ---- split behaviours (HF NormalizedString::split) --------------------------------------- */

/* Turn a match list into pieces in place (m->data[0..*np) become the pieces, is_match unused). */
static void apply_behavior(tk_split_behavior b, bool invert, tk_mspanvec *m) {
    tk_mspan *v = m->data;
    size_t n = m->len, o = 0;
    if (invert)
        for (size_t k = 0; k < n; k++) v[k].is_match = !v[k].is_match;
    switch (b) {
    case TK_SPLIT_ISOLATED:
        for (size_t k = 0; k < n; k++)
            if (v[k].end > v[k].start) v[o++] = v[k];
        break;
    case TK_SPLIT_REMOVED:
        for (size_t k = 0; k < n; k++)
            if (!v[k].is_match && v[k].end > v[k].start) v[o++] = v[k];
        break;
    case TK_SPLIT_CONTIGUOUS: {
        bool prev = false;
        for (size_t k = 0; k < n; k++) {
            bool is = v[k].is_match;
            if (is == prev && o > 0) v[o - 1].end = v[k].end;
            else v[o++] = v[k];
            prev = is;
        }
        break;
    }
    case TK_SPLIT_MERGED_WITH_PREVIOUS: {
        bool prev = false;
        for (size_t k = 0; k < n; k++) {
            bool is = v[k].is_match;
            if (is && !prev && o > 0) v[o - 1].end = v[k].end;
            else v[o++] = v[k];
            prev = is;
        }
        break;
    }
    case TK_SPLIT_MERGED_WITH_NEXT: {
        /* walk backwards: a match glues onto the piece after it */
        bool prev = false;
        size_t w = n; /* pieces are built at the end of the array, then moved down */
        for (size_t k = n; k-- > 0;) {
            bool is = v[k].is_match;
            if (is && !prev && w < n) v[w].start = v[k].start;
            else v[--w] = v[k];
            prev = is;
        }
        for (size_t k = w; k < n; k++) v[o++] = v[k];
        break;
    }
    }
    /* drop empty pieces (HF filters them when splitting) */
    size_t q = 0;
    for (size_t k = 0; k < o; k++)
        if (v[k].end > v[k].start) v[q++] = v[k];
    m->len = q;
}

/* Digits: every \p{N} code point is its own match, runs of the rest are gaps. */
static int find_digits(const char *str, uint32_t n, uint32_t base, tk_mspanvec *out) {
    const unsigned char *s = (const unsigned char *)str;
    uint32_t i = 0, gap = 0;
    if (n == 0) return tk_vec_push(out, ((tk_mspan){base, base, 0})) ? TK_ENOMEM : 0;
    while (i < n) {
        uint32_t cp;
        int l = tku_decode(s + i, &cp);
        if (tku_class(cp) & TKU_N) {
            if (gap < i && tk_vec_push(out, ((tk_mspan){base + gap, base + i, 0}))) return TK_ENOMEM;
            if (tk_vec_push(out, ((tk_mspan){base + i, base + i + (uint32_t)l, 1}))) return TK_ENOMEM;
            gap = i + (uint32_t)l;
        }
        i += (uint32_t)l;
    }
    if (gap < n && tk_vec_push(out, ((tk_mspan){base + gap, base + n, 0}))) return TK_ENOMEM;
    return 0;
}

#define CHUNK_BYTES (1u << 20)
#define CHUNK_PIECES 65536

static int run_level(const tk_tokenizer *t, tk_tstate *ts, uint32_t level, const char *text,
                     uint32_t start, uint32_t end, tk_vec_i32 *out, tk_err *e) {
    if (level == t->n_steps) return tk_bpe_piece(t, ts, text + start, end - start, out, e);
    const tk_pretok_step *st = &t->steps[level];
    tk_split_behavior behavior = st->behavior;
    bool invert = st->invert;
    if (st->kind == TK_PRETOK_BYTELEVEL) {
        if (st->add_prefix_space && text[start] != ' ') {
            tk_buf *b = &ts->level_text[level];
            tk_buf_clear(b);
            if (tk_buf_putc(b, ' ') || tk_buf_append(b, text + start, end - start))
                return tk_err_set(e, TK_ENOMEM, "encode: out of memory");
            text = b->data;
            end = (uint32_t)b->len;
            start = 0;
        }
        if (!st->use_regex) return run_level(t, ts, level + 1, text, start, end, out, e);
        behavior = TK_SPLIT_ISOLATED;
        invert = false;
    }
    tk_mspanvec *m = &ts->level[level];
    m->len = 0;
    int rc;
    if (st->fast != TK_FAST_NONE && behavior == TK_SPLIT_ISOLATED && !invert && end - start > CHUNK_BYTES) {
        /* a long text is split and encoded a chunk of pieces at a time, so the piece list stays
           small (Isolated keeps every piece as it is, so chunks cannot interact) */
        uint32_t pos = 0, n = end - start;
        while (pos < n) {
            m->len = 0;
            if (tk_fast_find_from(st->fast, text + start, n, start, pos, CHUNK_PIECES, m, &pos))
                return tk_err_set(e, TK_ENOMEM, "encode: out of memory");
            for (size_t k = 0; k < m->len; k++) {
                tk_mspan p = m->data[k];
                if (p.end > p.start && (rc = run_level(t, ts, level + 1, text, p.start, p.end, out, e))) return rc;
            }
        }
        return 0;
    }
    if (st->kind == TK_PRETOK_DIGITS) rc = find_digits(text + start, end - start, start, m);
    else if (st->fast != TK_FAST_NONE) rc = tk_fast_find(st->fast, text + start, end - start, start, m);
    else rc = tk_regex_find(st->re, ts, text + start, end - start, start, m, e);
    if (rc) return rc == TK_ENOMEM ? tk_err_set(e, TK_ENOMEM, "encode: out of memory") : rc;
    apply_behavior(behavior, invert, m);
    for (size_t k = 0; k < m->len; k++) {
        tk_mspan p = m->data[k];
        if ((rc = run_level(t, ts, level + 1, text, p.start, p.end, out, e))) return rc;
    }
    return 0;
}

int tk_pretokenize_and_bpe(const tk_tokenizer *t, tk_tstate *ts, const char *s, uint32_t n,
                           tk_vec_i32 *out, tk_err *e) {
    if (n == 0) return 0;
    return run_level(t, ts, 0, s, 0, n, out, e);
}
