/* Per-thread scratch state for encoding: PCRE2 match data, the pre-tokenizer's per-level piece
 * lists, BPE work arrays and the word cache. One per thread, shared by every tokenizer in the
 * process (cache entries carry the tokenizer's serial), freed when the thread exits. This is
 * what makes tk_tokenizer_encode safe to call from many threads on one tokenizer. */
#ifndef TK_TOKENIZER_TSTATE_H
#define TK_TOKENIZER_TSTATE_H

#include "internal.h"

#define TK_MAX_STEPS 16

/* Word cache: direct-mapped, keyed by (tokenizer serial, piece bytes). */
#define TK_CACHE_SLOTS 8192
#define TK_CACHE_KEY 22
#define TK_CACHE_IDS 8

typedef struct tk_cache_slot {
    uint64_t serial;        /* 0 = empty */
    uint32_t hash;
    uint8_t len;
    uint8_t n_ids;
    char key[TK_CACHE_KEY];
    int32_t ids[TK_CACHE_IDS];
} tk_cache_slot;

typedef struct tk_bpe_sym {
    int32_t id;
    int32_t prev, next;     /* linked list over the piece (heap path) */
    uint32_t len;           /* bytes covered; 0 = merged away */
} tk_bpe_sym;

typedef struct tk_heap_ent {
    uint64_t key;           /* rank << 32 | pos: the min-heap order of HF's Word::merge_all */
    int32_t new_id;
} tk_heap_ent;

struct tk_tstate {
    void *match_data;       /* pcre2_match_data * */
    void *match_ctx;        /* pcre2_match_context * */
    void *jit_stack;        /* pcre2_jit_stack *, created on demand */
    tk_mspanvec level[TK_MAX_STEPS];
    tk_buf level_text[TK_MAX_STEPS];
    tk_buf sanitized;       /* input with invalid UTF-8 replaced */
    tk_buf normalized;
    TK_VEC(tk_bpe_sym) syms;
    TK_VEC(uint32_t) pair_rank;
    TK_VEC(tk_heap_ent) heap;
    tk_spanvec segs;        /* added-token split, pass 1 */
    tk_vec_i32 seg_ids;
    tk_spanvec segs2;       /* pass 2 inside one normalized segment */
    tk_vec_i32 seg_ids2;
    tk_cache_slot *cache;   /* [TK_CACHE_SLOTS], allocated on first use */
};

void tk_tstate_free_regex(tk_tstate *ts);
/* Give back memory a huge input made the scratch arrays grow to. */
void tk_tstate_trim(tk_tstate *ts);

#endif
