/*
 * Internal interfaces of the tokenizer layer. Nothing here is public; see
 * include/tinkerc/tokenizer.h for the API and docs/tokenizer.md for the pipeline.
 *
 * Text representation: every stage works on raw UTF-8 bytes. The byte-level alphabet of HF
 * tokenizers (GPT-2's bytes_to_unicode) is undone once at load time, so the BPE model, the
 * merge table and the decoder all see the bytes a token stands for; the token *strings* are kept
 * only for token <-> id lookups.
 */
#ifndef TK_TOKENIZER_INTERNAL_H
#define TK_TOKENIZER_INTERNAL_H

#include "tinkerc/tokenizer.h"

#include <stdatomic.h>
#include <string.h>

/* ============================================================================================= */
/* Unicode classes (unicode_class.c)                                                             */
/* ============================================================================================= */

/* Per-code-point flags: Unicode 16.0 general categories as the regexes see them (\p{Lu} ...
 * \p{S}; Oniguruma in HF tokenizers has Unicode 16.0 tables), White_Space (what \s means for
 * Oniguruma, Rust's regex and our PCRE2 rewrite), whether the code point can change under NFC in
 * some context (the normalizer's quick check), and whether it is newer than Unicode 9.0 (what HF's
 * normalizer knows). Built from the generated runs in unicode_data.c. */
enum {
    TKU_LU = 1 << 0,
    TKU_LL = 1 << 1,
    TKU_LT = 1 << 2,
    TKU_LM = 1 << 3,
    TKU_LO = 1 << 4,
    TKU_M = 1 << 5,
    TKU_N = 1 << 6,
    TKU_P = 1 << 7,
    TKU_S = 1 << 8,
    TKU_WS = 1 << 9,
    TKU_NFC_UNSAFE = 1 << 10,
    TKU_ND = 1 << 11,
    TKU_PC = 1 << 12,
    TKU_NEW9 = 1 << 13,     /* unassigned in Unicode 9.0, the version of HF's normalizer tables */
};
#define TKU_L (TKU_LU | TKU_LL | TKU_LT | TKU_LM | TKU_LO)

extern const uint32_t tku_n_runs;
extern const uint32_t tku_run_start[];
extern const uint16_t tku_run_flags[];

/* Build the tables once per process (thread-safe, idempotent). Returns 0 or TK_ENOMEM. */
int tku_init(void);
extern const uint16_t *tku_stage1; /* [0x1100] block index per 256 code points */
extern const uint16_t *tku_stage2; /* [n_blocks * 256] flags */

static inline uint16_t tku_class(uint32_t cp) {
    return tku_stage2[(size_t)tku_stage1[cp >> 8] * 256 + (cp & 255)];
}

/* Decode one code point from valid UTF-8 (the caller guarantees validity); returns its length. */
static inline int tku_decode(const unsigned char *s, uint32_t *cp) {
    unsigned char c = s[0];
    if (c < 0x80) { *cp = c; return 1; }
    if (c < 0xE0) { *cp = (uint32_t)(c & 0x1F) << 6 | (s[1] & 0x3F); return 2; }
    if (c < 0xF0) {
        *cp = (uint32_t)(c & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
        return 3;
    }
    *cp = (uint32_t)(c & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 | (uint32_t)(s[2] & 0x3F) << 6
          | (s[3] & 0x3F);
    return 4;
}

/* Length of a UTF-8 sequence from its (valid) lead byte. */
static inline int tku_seq_len(unsigned char c) {
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

/* Append the UTF-8 form of cp (<= 0x10FFFF) to p; returns the number of bytes written. */
int tku_encode(uint32_t cp, char *p);

/* True if s[0..n) is well-formed UTF-8 (tk_utf8_valid, with an ASCII fast path). */
bool tk_utf8_check(const char *s, size_t n);
/* Replace every maximal ill-formed subsequence of s[0..n) by U+FFFD (the WHATWG / Rust
 * from_utf8_lossy rule) and append the result to out. */
int tk_utf8_lossy(const char *s, size_t n, tk_buf *out);
/* Length of the longest prefix of s[0..n) after which only a valid-but-unfinished sequence
 * remains (so lossy(prefix) is final). */
size_t tk_utf8_stable_prefix(const char *s, size_t n);

/* ============================================================================================= */
/* The byte-level alphabet (GPT-2 bytes_to_unicode)                                              */
/* ============================================================================================= */

/* byte -> code point of its printable stand-in, and back (-1 for code points outside). */
uint32_t tk_bytelevel_char(unsigned char b);
int tk_bytelevel_byte(uint32_t cp);
/* The code point -> byte table behind tk_bytelevel_byte ([512], -1 outside the alphabet). */
const int16_t *tk_bytelevel_table(void);
/* Map raw bytes to the byte-level string form (appended to out). */
int tk_bytelevel_encode(const char *bytes, size_t n, tk_buf *out);
/* Map a byte-level string back to bytes; false (out unchanged) if a char is outside the alphabet
 * or the string is not valid UTF-8. */
bool tk_bytelevel_decode(const char *s, size_t n, tk_buf *out); /* s must be valid UTF-8 */

/* ============================================================================================= */
/* Byte-string -> id hash table (vocab.c)                                                        */
/* ============================================================================================= */

uint64_t tk_tok_hash(const void *p, size_t n);

/* A byte range [start, end) of a JSON text. */
typedef struct tk_json_span {
    size_t start, end;
} tk_json_span;

/* A string in a tokenizer's pool: offset and length. */
typedef struct tk_strref {
    uint32_t off, len;
} tk_strref;

/* Open addressing over keys that live in a string pool: each slot holds the key's 32-bit hash,
 * its place in the pool and the id, so a lookup touches the slot and the key bytes only. The
 * capacity is any size (kept at most ~70% full); the hash picks the home slot by multiply-shift. */
typedef struct tk_idslot {
    uint32_t hash;
    int32_t id1;            /* id + 1; 0 = empty */
    uint32_t off, len;
} tk_idslot;

typedef struct tk_idtab {
    tk_idslot *slots;
    size_t cap;
    size_t count;
} tk_idtab;

int tk_idtab_init(tk_idtab *t, size_t expected);
void tk_idtab_free(tk_idtab *t);
/* The id of key in a table over `pool`, or -1. */
int32_t tk_idtab_get(const tk_idtab *t, const char *pool, const char *key, size_t len);
/* The same with the key's hash already computed (tk_idtab_hash), and a prefetch of its slot for
 * batched lookups. */
static inline uint32_t tk_idtab_hash(const char *key, size_t len);
int32_t tk_idtab_get_h(const tk_idtab *t, const char *pool, const char *key, size_t len, uint32_t h);
void tk_idtab_prefetch(const tk_idtab *t, uint32_t h);
/* Insert pool[key.off, +key.len) -> id unless the key is present; *existing gets the id already
 * there or -1. 0 or TK_ENOMEM. */
int tk_idtab_put(tk_idtab *t, const char *pool, tk_strref key, int32_t id, int32_t *existing);

static inline uint32_t tk_idtab_hash(const char *key, size_t len) {
    return (uint32_t)(tk_tok_hash(key, len) >> 32);
}

/* ============================================================================================= */
/* Merge table: (left id, right id) -> (rank, merged id)                                         */
/* ============================================================================================= */

typedef struct tk_merge_slot {
    uint64_t key;    /* (uint64)left << 32 | right; UINT64_MAX = empty */
    uint32_t rank;
    int32_t id;
} tk_merge_slot;

typedef struct tk_merges {
    tk_merge_slot *slots;
    size_t cap;                 /* any size; kept at most ~70% full */
    size_t count;
} tk_merges;

int tk_merges_init(tk_merges *m, size_t expected);   /* sized for `expected` entries */
void tk_merges_free(tk_merges *m);
static inline void tk_merges_prefetch(const tk_merges *m, int32_t a, int32_t b);
/* Insert or replace (a later duplicate pair wins, as in HF's HashMap). */
int tk_merges_put(tk_merges *m, int32_t a, int32_t b, uint32_t rank, int32_t id);

/* Slot index of a key: multiply-shift hashing reduced to [0, cap) without a division. */
static inline size_t tk_merges_home(uint64_t key, size_t cap) {
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    h ^= h >> 29;
    return (size_t)(((unsigned __int128)h * cap) >> 64);
}

static inline void tk_merges_prefetch(const tk_merges *m, int32_t a, int32_t b) {
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    __builtin_prefetch(&m->slots[tk_merges_home(key, m->cap)], 1);
}

static inline const tk_merge_slot *tk_merges_get(const tk_merges *m, int32_t a, int32_t b) {
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    size_t i = tk_merges_home(key, m->cap);
    for (;;) {
        const tk_merge_slot *s = &m->slots[i];
        if (s->key == key) return s;
        if (s->key == UINT64_MAX) return NULL;
        if (++i == m->cap) i = 0;
    }
}

/* ============================================================================================= */
/* Regular expressions and pre-tokenizer splitters (regex.c, split_fast.c, pretokenize.c)        */
/* ============================================================================================= */

/* A piece of text: [start, end) byte offsets. */
typedef struct tk_span {
    uint32_t start, end;
} tk_span;
typedef TK_VEC(tk_span) tk_spanvec;

/* A match list entry: a span and whether it matched the pattern (HF's (Offsets, bool)). */
typedef struct tk_mspan {
    uint32_t start, end;
    uint32_t is_match;
} tk_mspan;
typedef TK_VEC(tk_mspan) tk_mspanvec;

/* A compiled PCRE2 pattern (shareable between threads). */
typedef struct tk_regex tk_regex;
/* Compile an Oniguruma-style pattern as HF writes them: \s and \S are rewritten to Unicode
 * White_Space so PCRE2 agrees with Oniguruma on U+0085 and friends. `what` names the JSON path. */
int tk_regex_compile(const char *pattern, size_t len, const char *what, tk_regex **out, tk_err *e);
void tk_regex_free(tk_regex *re);
/* Hand-written matchers for the patterns the reference tokenizers use; each is checked against
 * PCRE2 by tests/tokenizer/test_tokenizer_split.c. */
typedef enum tk_fast_split {
    TK_FAST_NONE = 0,
    TK_FAST_LLAMA3,     /* cl100k-style with \p{N}{1,3} (Llama 3) */
    TK_FAST_QWEN2,      /* the same with single \p{N} (Qwen2/2.5/3) */
    TK_FAST_O200K,      /* o200k (gpt-oss, OpenAI) */
    TK_FAST_DIGITS3,    /* \p{N}{1,3} (DeepSeek V3 stage 1) */
    TK_FAST_CJK_DS,     /* [一-龥぀-ゟ゠-ヿ]+ (DeepSeek V3 stage 2) */
    TK_FAST_DS3,        /* DeepSeek V3 stage 3 */
    TK_FAST_GPT2,       /* GPT-2's ByteLevel regex */
} tk_fast_split;
tk_fast_split tk_fast_split_detect(const char *pattern, size_t len);
const char *tk_fast_split_name(tk_fast_split k);
/* The pattern text a fast splitter implements (for the differential test). */
const char *tk_fast_split_pattern(tk_fast_split k);

/* Per-thread scratch state for encoding (pretokenize.c). */
typedef struct tk_tstate tk_tstate;
tk_tstate *tk_tstate_get(void);           /* NULL on OOM */

/* Find the matches of a PCRE2 pattern / fast splitter in s[0..n) (valid UTF-8) and append the
 * HF-style match list (gaps and matches, covering s, offsets shifted by base). */
int tk_regex_find(const tk_regex *re, tk_tstate *ts, const char *s, uint32_t n, uint32_t base,
                  tk_mspanvec *out, tk_err *e);
int tk_fast_find(tk_fast_split k, const char *s, uint32_t n, uint32_t base, tk_mspanvec *out);
/* The same from byte `from` (0 or where an earlier call stopped), stopping after max_matches
 * matches; *next is where to resume (n when done, the trailing gap then included). */
int tk_fast_find_from(tk_fast_split k, const char *s, uint32_t n, uint32_t base, uint32_t from,
                      size_t max_matches, tk_mspanvec *out, uint32_t *next);
/* The end of the leftmost-first match starting exactly at s[i], or -1 (fast splitters only). */
int64_t tk_fast_match_at(tk_fast_split k, const unsigned char *s, uint32_t n, uint32_t i);

/* ============================================================================================= */
/* The tokenizer                                                                                 */
/* ============================================================================================= */

typedef enum tk_split_behavior {
    TK_SPLIT_REMOVED,
    TK_SPLIT_ISOLATED,
    TK_SPLIT_MERGED_WITH_PREVIOUS,
    TK_SPLIT_MERGED_WITH_NEXT,
    TK_SPLIT_CONTIGUOUS,
} tk_split_behavior;

typedef enum tk_pretok_kind {
    TK_PRETOK_SPLIT,      /* Split with a regex (or an escaped literal string) */
    TK_PRETOK_BYTELEVEL,  /* ByteLevel: optional prefix space, optional GPT-2 regex */
    TK_PRETOK_DIGITS,     /* Digits: isolate (or group) \p{N} characters */
} tk_pretok_kind;

typedef struct tk_pretok_step {
    tk_pretok_kind kind;
    tk_split_behavior behavior;
    bool invert;
    bool add_prefix_space;      /* ByteLevel */
    bool use_regex;             /* ByteLevel */
    bool individual_digits;     /* Digits */
    tk_fast_split fast;         /* a hand-written matcher for this pattern, or NONE */
    const char *pattern;        /* the regex as written (arena), for messages and tests */
    tk_regex *re;               /* PCRE2 pattern, compiled only when there is no fast matcher */
} tk_pretok_step;

typedef enum tk_norm_kind { TK_NORM_NFC, TK_NORM_NFD, TK_NORM_NFKC, TK_NORM_NFKD } tk_norm_kind;

enum {
    TK_ADDED_LSTRIP = 1,
    TK_ADDED_RSTRIP = 2,
    TK_ADDED_SINGLE_WORD = 4,
    TK_ADDED_NORMALIZED = 8,
    TK_ADDED_SPECIAL = 16,
};

typedef struct tk_added {
    const char *content;        /* as written (arena) */
    uint32_t len;
    const char *pattern;        /* what is matched: content, or its normalized form */
    uint32_t pattern_len;
    int32_t id;
    uint32_t flags;
} tk_added;

/* Leftmost-longest matcher over a set of added tokens. */
typedef struct tk_added_set {
    uint32_t *order;            /* indices into tk_tokenizer.added, grouped by first byte, longest
                                   first */
    uint32_t start[257];        /* order[start[b] .. start[b+1]) begin with byte b */
    uint32_t n;
    int first_byte;             /* the one byte every pattern starts with, or -1 */
} tk_added_set;

enum { TK_SELF_UNKNOWN = 0, TK_SELF_YES = 1, TK_SELF_NO = 2 };

/* Per-id information. */
enum {
    TK_ID_PRESENT = 1,          /* some token has this id */
    TK_ID_MODEL = 2,            /* in the model vocabulary */
    TK_ID_ADDED = 4,            /* an added token */
    TK_ID_SPECIAL = 8,          /* an added token marked special */
};

typedef struct tk_template_item {
    bool is_sequence;           /* $A; otherwise a special token */
    int32_t *ids;               /* the special token's ids (arena) */
    uint32_t n_ids;
} tk_template_item;

struct tk_tokenizer {
    tk_arena *arena;            /* strings, tables of small things */
    char *source;

    /* ids */
    int32_t n_ids;              /* largest id + 1 */
    uint8_t *id_flags;          /* [n_ids] */
    tk_strref *id_str;          /* [n_ids] token string form, into pool (NUL-terminated) */
    tk_strref *id_bytes;        /* [n_ids] bytes it decodes to, into pool */
    tk_buf pool;                /* all token strings and bytes, NUL after each */
    int32_t n_model;            /* number of model vocabulary entries (HF get_vocab_size) */

    /* lookups */
    tk_idtab model_bytes;       /* model token bytes -> id (BPE, and string lookups through the
                                   byte-level alphabet) */
    tk_idtab model_odd;         /* model tokens outside the byte-level alphabet: string -> id */
    tk_idtab added_str;         /* added token content -> id */

    /* model */
    _Atomic uint8_t *self_state; /* [n_ids] does BPE rebuild this token from its own bytes?
                                    (TK_SELF_*, learned while encoding; racing writers store
                                    the same value) */
    bool byte_level;            /* the vocabulary is in byte-level form */
    bool ignore_merges;
    bool byte_fallback;
    bool fuse_unk;
    int32_t unk_id;             /* -1 if none */
    int32_t byte_id[256];       /* id of each single byte, -1 if absent */
    int32_t fallback_ids[256][2]; /* byte_fallback: ids of "<0xXX>" for each UTF-8 byte of the
                                     byte's stand-in character */
    uint8_t fallback_n[256];    /* 0 = no fallback for this byte */
    tk_merges merges;

    /* pipeline */
    tk_norm_kind *norms;        /* normalizer sequence */
    uint32_t n_norms;
    tk_pretok_step *steps;      /* flattened pre-tokenizer sequence */
    uint32_t n_steps;
    tk_added *added;
    uint32_t n_added;
    tk_added_set set_raw;       /* added tokens matched before normalization */
    tk_added_set set_norm;      /* added tokens matched on the normalized text */
    tk_template_item *tmpl;     /* post-processor for one sequence; NULL = no change */
    uint32_t n_tmpl;

    /* tokenizer_config.json */
    int32_t bos_id, eos_id, pad_id;
    char *chat_template;
    bool clean_up_spaces;

    uint64_t serial;            /* distinguishes tokenizers in the per-thread caches */
};

/* Loading pieces (vocab.c, load.c, tiktoken.c). */
int tk_tok_new(tk_tokenizer **out, const char *source, tk_err *e);
/* Allocate the per-id tables for ids [0, cap); n_ids starts at 0. */
int tk_tok_alloc_ids(tk_tokenizer *t, int32_t cap, tk_err *e);
/* Append a string (and a NUL) to the pool. */
int tk_tok_pool_add(tk_tokenizer *t, const char *s, size_t n, tk_strref *ref);
/* An added token as tokenizer.json describes it. */
typedef struct tk_added_spec {
    const char *content;
    size_t len;
    int64_t file_id;
    uint32_t flags;
} tk_added_spec;
/* Fill the id tables from model.vocab and model.merges (spans located in text) and assign ids to
 * the added tokens the way HF does (added_ids[k] receives added[k]'s id). */
int tk_tok_build_vocab(tk_tokenizer *t, const char *text, size_t len, tk_json_span vocab_sp,
                       tk_json_span merges_sp, const char *what, const tk_added_spec *added,
                       size_t n_added, int32_t *added_ids, tk_err *e);
/* Record an added token in the id tables (after its id is known). */
int tk_tok_add_added(tk_tokenizer *t, int32_t id, const char *content, size_t len, bool special,
                     tk_err *e);
/* Build a tokenizer from tokenizer.json text (and optionally tokenizer_config.json text); `what`
 * and `cfg_what` name them in messages (load.c). */
int tk_tok_load_texts(const char *json, size_t len, const char *what, const char *cfg, size_t cfg_len,
                      const char *cfg_what, const char *source, tk_tokenizer **out, tk_err *e);
/* Id of a model-vocabulary token given in its string form (valid UTF-8), or -1. */
int32_t tk_tok_model_lookup(const tk_tokenizer *t, const char *s, size_t n);
/* Lookups that need both the single bytes and byte_fallback tables filled (after the vocab). */
void tk_tok_fill_byte_tables(tk_tokenizer *t);
int tk_tok_build_added_sets(tk_tokenizer *t, tk_err *e);

/* Fast streaming parsers for the two big members of tokenizer.json (json_fast.c). */
typedef int (*tk_vocab_cb)(void *ctx, const char *tok, size_t len, int64_t id, size_t index,
                           tk_err *e);
/* A merge callback gets the merge's rank, its index in the array and its byte offset in the
 * text; its error messages are used as they are (it names the place itself). */
typedef int (*tk_merge_cb)(void *ctx, const char *a, size_t alen, const char *b, size_t blen,
                           size_t rank, size_t index, size_t at, tk_err *e);
/* Locate model.vocab and model.merges in a tokenizer.json text: their value spans, or
 * {0,0} when absent. The rest of the document is checked by jansson afterwards. */
int tk_json_find_model_members(const char *text, size_t len, const char *what,
                               tk_json_span *vocab, tk_json_span *merges, tk_err *e);
int tk_json_parse_vocab(const char *text, size_t len, tk_json_span sp, const char *what,
                        tk_vocab_cb cb, void *ctx, tk_err *e);
int tk_json_parse_merges(const char *text, size_t len, tk_json_span sp, const char *what,
                         tk_merge_cb cb, void *ctx, tk_err *e);
/* "line:column" of a byte offset, for messages. */
void tk_json_linecol(const char *text, size_t off, int *line, int *col);

/* Cut s[0..n) into added tokens (ids[k] >= 0) and the text between them (ids[k] == -1), appended
 * to spans / ids (added.c). TK_ENOMEM is the only failure. */
int tk_added_split(const tk_tokenizer *t, const tk_added_set *set, const char *s, uint32_t n,
                   bool split_special, tk_spanvec *spans, tk_vec_i32 *ids);

/* Encoding internals (encode.c, bpe.c, normalize.c). */
int tk_bpe_piece(const tk_tokenizer *t, tk_tstate *ts, const char *s, uint32_t n,
                 tk_vec_i32 *out, tk_err *e);
int tk_normalize(const tk_tokenizer *t, const char *s, size_t n, tk_buf *out, bool *changed,
                 tk_err *e);
int tk_pretokenize_and_bpe(const tk_tokenizer *t, tk_tstate *ts, const char *s, uint32_t n,
                           tk_vec_i32 *out, tk_err *e);

/* Limits. */
#define TK_TOK_MAX_PIECE (16u << 20)        /* longest pre-token BPE will merge (bytes) */
#define TK_TOK_MAX_INPUT 0xFFFFFFF0u        /* offsets are 32-bit */

#endif
