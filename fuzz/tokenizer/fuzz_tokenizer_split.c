/* Fuzz the hand-written pre-tokenizer matchers against PCRE2 running the regex each implements:
 * on any valid UTF-8 (ill-formed input is replaced first, as encode does) the match lists must be
 * identical. The first byte picks the matcher. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/internal.h"

static tk_regex *g_re[TK_FAST_GPT2 + 1];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    if (tku_init()) abort();
    for (int k = TK_FAST_LLAMA3; k <= TK_FAST_GPT2; k++) {
        const char *p = tk_fast_split_pattern((tk_fast_split)k);
        tk_err e = {0};
        if (tk_regex_compile(p, strlen(p), "fuzz", &g_re[k], &e)) {
            fprintf(stderr, "%s\n", e.msg);
            abort();
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    tk_fast_split k = (tk_fast_split)(TK_FAST_LLAMA3 + data[0] % (TK_FAST_GPT2 - TK_FAST_LLAMA3 + 1));
    tk_buf text = {0};
    if (tk_utf8_lossy((const char *)data + 1, size - 1, &text)) abort();
    tk_mspanvec a = {0}, b = {0};
    tk_err e = {0};
    tk_tstate *ts = tk_tstate_get();
    if (!ts || tk_fast_find(k, text.data, (uint32_t)text.len, 0, &a)
        || tk_regex_find(g_re[k], ts, text.data, (uint32_t)text.len, 0, &b, &e))
        abort();
    if (a.len != b.len) abort();
    for (size_t i = 0; i < a.len; i++)
        if (a.data[i].start != b.data[i].start || a.data[i].end != b.data[i].end || a.data[i].is_match != b.data[i].is_match) {
            fprintf(stderr, "%s: matcher and PCRE2 disagree at span %zu\n", tk_fast_split_name(k), i);
            abort();
        }
    tk_vec_free(&a);
    tk_vec_free(&b);
    tk_buf_free(&text);
    return 0;
}
