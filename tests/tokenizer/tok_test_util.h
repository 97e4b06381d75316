/* Helpers shared by the tokenizer tests: the corpus reader, the id digest the reference script
 * uses (tests/reference/tokenizer-reference.js), and paths to the real tokenizer files. */
#ifndef TK_TOK_TEST_UTIL_H
#define TK_TOK_TEST_UTIL_H

#include "test_util.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include "tinkerc/tokenizer.h"

static const char *const tk_test_families[4] = {"llama3", "qwen3", "deepseek_v3", "gptoss"};

/* .cache/tokenizers/<family> (tests run from the repository root). */
static inline void tk_test_family_dir(const char *fam, char *buf, size_t n) {
    snprintf(buf, n, ".cache/tokenizers/%s", fam);
}

static inline bool tk_test_have_real_tokenizers(void) {
    return tk_path_exists(".cache/tokenizers/gptoss/tokenizer.json");
}

/* The reference script's 64-bit digest of 32-bit values, as 16 hex digits. */
static inline void tk_test_digest_u32(const uint32_t *v, size_t n, int stride_bytes, const void *base,
                                      char out[17]) {
    uint32_t h1 = 0x811c9dc5u ^ (uint32_t)n, h2 = 0x5bd1e995u ^ (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        uint32_t x;
        if (base) x = ((const unsigned char *)base)[i * (size_t)stride_bytes];
        else x = v[i];
        h1 = (h1 ^ x) * 0x9e3779b1u;
        h1 ^= h1 >> 16;
        h2 = (h2 + x + 0x7f4a7c15u) * 0x85ebca77u;
        h2 ^= h2 >> 13;
    }
    snprintf(out, 17, "%08x%08x", h1, h2);
}
static inline void tk_test_digest_ids(const int32_t *ids, size_t n, char out[17]) {
    tk_test_digest_u32((const uint32_t *)ids, n, 0, NULL, out);
}
static inline void tk_test_digest_bytes(const char *p, size_t n, char out[17]) {
    tk_test_digest_u32(NULL, n, 1, p, out);
}

typedef struct tk_test_doc {
    const char *name;   /* "category/index" (points into the corpus buffer, not terminated) */
    uint32_t name_len;
    const char *data;
    uint32_t len;
} tk_test_doc;

typedef struct tk_test_corpus {
    tk_buf raw;
    tk_test_doc *docs;
    size_t n;
} tk_test_corpus;

static inline int tk_test_corpus_load(const char *path, tk_test_corpus *c) {
    memset(c, 0, sizeof *c);
    tk_err e = {0};
    if (tk_file_read(path, &c->raw, 0, &e)) return -1;
    if (c->raw.len < 10 || memcmp(c->raw.data, "TKCORPUS1\n", 10)) return -1;
    size_t o = 10, cap = 0;
    while (o + 8 <= c->raw.len) {
        uint32_t nl, l;
        memcpy(&nl, c->raw.data + o, 4);
        if (o + 4 + nl + 4 > c->raw.len) return -1;
        const char *name = c->raw.data + o + 4;
        memcpy(&l, c->raw.data + o + 4 + nl, 4);
        o += 8 + nl;
        if (o + l > c->raw.len) return -1;
        if (c->n == cap) {
            cap = cap ? cap * 2 : 1024;
            c->docs = realloc(c->docs, cap * sizeof *c->docs);
            if (!c->docs) return -1;
        }
        c->docs[c->n++] = (tk_test_doc){name, nl, c->raw.data + o, l};
        o += l;
    }
    return o == c->raw.len ? 0 : -1;
}

static inline void tk_test_corpus_free(tk_test_corpus *c) {
    tk_buf_free(&c->raw);
    free(c->docs);
    memset(c, 0, sizeof *c);
}

/* Run a shell command, returning its exit status (-1 if it could not run). */
static inline int tk_test_run(const char *cmd) {
    int st = system(cmd);
    return st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Where the test writes generated inputs: $TK_BUILD_DIR/tokenizer-test (or /tmp). */
static inline void tk_test_work_dir(char *buf, size_t n) {
    const char *b = getenv("TK_BUILD_DIR");
    snprintf(buf, n, "%s/tokenizer-test", b && *b ? b : "/tmp/tinkerc-build");
}

#endif
