/* Added tokens: finding them in text the way HF's AddedVocabulary does.
 *
 * HF runs an Aho-Corasick automaton in leftmost-longest mode over the token contents and walks
 * its non-overlapping matches; a match is then dropped (special tokens when
 * split_special_tokens is on, single_word tokens inside words) or widened (lstrip / rstrip).
 * Added-token sets are small (at most a few thousand entries), so a per-first-byte candidate list
 * ordered longest-first gives the same matches. */
#include "internal.h"
#include "tstate.h"

static int cmp_len_desc(const void *a, const void *b, void *ctx) {
    const tk_tokenizer *t = ctx;
    const tk_added *x = &t->added[*(const uint32_t *)a], *y = &t->added[*(const uint32_t *)b];
    unsigned char bx = (unsigned char)x->pattern[0], by = (unsigned char)y->pattern[0];
    if (bx != by) return bx < by ? -1 : 1;
    if (x->pattern_len != y->pattern_len) return x->pattern_len > y->pattern_len ? -1 : 1;
    return 0;
}

static int build_set(tk_tokenizer *t, tk_added_set *set, bool normalized) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->n_added; i++)
        if (!!(t->added[i].flags & TK_ADDED_NORMALIZED) == normalized && t->added[i].pattern_len) n++;
    set->n = n;
    set->order = n ? tk_arena_alloc(t->arena, n * sizeof *set->order) : NULL;
    if (n && !set->order) return TK_ENOMEM;
    uint32_t o = 0;
    for (uint32_t i = 0; i < t->n_added; i++)
        if (!!(t->added[i].flags & TK_ADDED_NORMALIZED) == normalized && t->added[i].pattern_len)
            set->order[o++] = i;
    if (n) qsort_r(set->order, n, sizeof *set->order, cmp_len_desc, t);
    uint32_t k = 0;
    for (int b = 0; b <= 256; b++) {
        while (k < n && (unsigned char)t->added[set->order[k]].pattern[0] < b) k++;
        set->start[b] = k;
    }
    set->start[256] = n;
    set->first_byte = -1;
    for (int b = 0; b < 256; b++)
        if (set->start[b + 1] > set->start[b]) set->first_byte = set->first_byte == -1 ? b : -2;
    if (set->first_byte == -2) set->first_byte = -1;
    return 0;
}

int tk_tok_build_added_sets(tk_tokenizer *t, tk_err *e) {
    if (build_set(t, &t->set_raw, false) || build_set(t, &t->set_norm, true))
        return tk_err_set(e, TK_ENOMEM, "added_tokens: out of memory");
    return 0;
}

/* Rust regex \w (Unicode): letters, marks, decimal digits, connector punctuation, joiners. */
static bool is_word_cp(uint32_t cp) {
    return (tku_class(cp) & (TKU_L | TKU_M | TKU_ND | TKU_PC)) || cp == 0x200C || cp == 0x200D;
}

static uint32_t last_cp(const char *s, uint32_t end) {
    uint32_t i = end;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) i--;
    if (i > 0) i--;
    uint32_t cp;
    tku_decode((const unsigned char *)s + i, &cp);
    return cp;
}

/* Start of the run of White_Space that ends at `end`. */
static uint32_t ws_run_start(const char *s, uint32_t end) {
    while (end > 0) {
        uint32_t i = end;
        while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) i--;
        if (i == 0) break;
        i--;
        uint32_t cp;
        tku_decode((const unsigned char *)s + i, &cp);
        if (!(tku_class(cp) & TKU_WS)) break;
        end = i;
    }
    return end;
}

static uint32_t ws_run_end(const char *s, uint32_t n, uint32_t i) {
    while (i < n) {
        uint32_t cp;
        int l = tku_decode((const unsigned char *)s + i, &cp);
        if (!(tku_class(cp) & TKU_WS)) break;
        i += (uint32_t)l;
    }
    return i;
}

int tk_added_split(const tk_tokenizer *t, const tk_added_set *set, const char *s, uint32_t n,
                   bool split_special, tk_spanvec *spans, tk_vec_i32 *ids) {
    uint32_t start_offset = 0, pos = 0;
    const unsigned char *u = (const unsigned char *)s;
    if (set->n) {
        while (pos < n) {
            if (set->first_byte >= 0) {
                /* usually every added token starts with '<': jump between them */
                const char *q = memchr(s + pos, set->first_byte, n - pos);
                if (!q) break;
                pos = (uint32_t)(q - s);
            }
            unsigned char b = u[pos];
            uint32_t c0 = set->start[b], c1 = set->start[b + 1];
            if (c0 == c1) {
                pos++;
                continue;
            }
            const tk_added *hit = NULL;
            for (uint32_t c = c0; c < c1; c++) {
                const tk_added *a = &t->added[set->order[c]];
                if (a->pattern_len <= n - pos && !memcmp(s + pos, a->pattern, a->pattern_len)) {
                    hit = a;
                    break;
                }
            }
            if (!hit) {
                pos++;
                continue;
            }
            uint32_t mstart = pos, mend = pos + hit->pattern_len;
            pos = mend; /* the automaton resumes after the match, whatever happens to it */
            if (split_special && (hit->flags & TK_ADDED_SPECIAL)) continue;
            if (hit->flags & TK_ADDED_SINGLE_WORD) {
                bool start_space = mstart == 0 || !is_word_cp(last_cp(s, mstart));
                uint32_t cp = 0;
                if (mend < n) tku_decode(u + mend, &cp);
                bool stop_space = mend == n || !is_word_cp(cp);
                if (!start_space || !stop_space) continue;
            }
            uint32_t start = mstart, stop = mend;
            if (hit->flags & TK_ADDED_LSTRIP) {
                uint32_t ns = ws_run_start(s, mstart);
                start = ns > start_offset ? ns : start_offset;
            }
            if (hit->flags & TK_ADDED_RSTRIP) stop = ws_run_end(s, n, mend);
            if (start < start_offset) start = start_offset;
            if (start_offset < start) {
                if (tk_vec_push(spans, ((tk_span){start_offset, start})) || tk_vec_push(ids, -1))
                    return TK_ENOMEM;
            }
            if (tk_vec_push(spans, ((tk_span){start, stop})) || tk_vec_push(ids, hit->id)) return TK_ENOMEM;
            start_offset = stop;
            if (pos < stop) pos = stop;
        }
    }
    if (start_offset < n) {
        if (tk_vec_push(spans, ((tk_span){start_offset, n})) || tk_vec_push(ids, -1)) return TK_ENOMEM;
    }
    return 0;
}
