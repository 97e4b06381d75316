/* Fuzz encode/decode on arbitrary bytes with the real tokenizers (or the synthetic ones when
 * .cache/tokenizers is absent). The first byte picks the tokenizer and the options. Properties:
 * encoding never fails on input this small, every id is in range, decode(encode(x)) is x with
 * ill-formed UTF-8 replaced by U+FFFD (for tokenizers without a normalizer; with NFC, encoding
 * the decoded text again gives the same ids), and streaming decode gives what decode gives. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinkerc/tokenizer.h"
#include "tokenizer/internal.h"

static tk_tokenizer *g_tok[8];
static bool g_nfc[8];
static int g_n;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    static const char *const real[] = {".cache/tokenizers/llama3", ".cache/tokenizers/qwen3",
                                       ".cache/tokenizers/deepseek_v3", ".cache/tokenizers/gptoss"};
    static const char *const synth[] = {"tests/data/tokenizer/synthetic/gpt2", "tests/data/tokenizer/synthetic/added_flags",
                                        "tests/data/tokenizer/synthetic/behaviors", "tests/data/tokenizer/synthetic/fallback"};
    const char *const *dirs = tk_path_exists(real[3]) ? real : synth;
    for (int k = 0; k < 4; k++) {
        tk_err e = {0};
        if (tk_tokenizer_load(dirs[k], &g_tok[g_n], &e)) {
            fprintf(stderr, "fuzz_tokenizer_encode: %s\n", e.msg);
            abort();
        }
        g_nfc[g_n] = strstr(dirs[k], "qwen3") || strstr(dirs[k], "added_flags") || strstr(dirs[k], "behaviors");
        g_n++;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const tk_tokenizer *t = g_tok[data[0] % g_n];
    bool nfc = g_nfc[data[0] % g_n];
    tk_encode_opts opts = {(data[0] >> 3) & 1, (data[0] >> 4) & 1};
    const char *text = (const char *)data + 1;
    size_t n = size - 1;
    tk_vec_i32 ids = {0};
    tk_buf out = {0}, want = {0}, streamed = {0};
    tk_err e = {0};
    if (tk_tokenizer_encode(t, text, n, opts, &ids, &e)) {
        fprintf(stderr, "encode failed: %s\n", e.msg);
        abort();
    }
    int32_t vs = tk_tokenizer_vocab_size(t);
    for (size_t k = 0; k < ids.len; k++)
        if (ids.data[k] < 0 || ids.data[k] >= vs || !tk_tokenizer_id_to_token(t, ids.data[k], NULL)) abort();
    if (tk_tokenizer_decode(t, ids.data, ids.len, false, &out, &e)) abort();
    if (!opts.add_special_tokens) {
        if (tk_utf8_lossy(text, n, &want)) abort();
        bool same = out.len == want.len && !memcmp(out.data, want.data, want.len);
        if (!same && !nfc) {
            fprintf(stderr, "decode(encode(x)) != x\n");
            abort();
        }
        if (!same) {
            tk_vec_i32 again = {0};
            if (tk_tokenizer_encode(t, out.data, out.len, opts, &again, &e)) abort();
            if (again.len != ids.len || memcmp(again.data, ids.data, ids.len * sizeof(int32_t))) {
                fprintf(stderr, "encode(decode(ids)) != ids after NFC\n");
                abort();
            }
            tk_vec_free(&again);
        }
    }
    tk_stream_decoder *d = tk_stream_decoder_new(t, false);
    if (!d) abort();
    for (size_t k = 0; k < ids.len; k++)
        if (tk_stream_decoder_push(d, &ids.data[k], 1, &streamed, &e)) abort();
    if (tk_stream_decoder_finish(d, &streamed, &e)) abort();
    tk_stream_decoder_free(d);
    if (streamed.len != out.len || (out.len && memcmp(streamed.data, out.data, out.len))) abort();
    tk_vec_free(&ids);
    tk_buf_free(&out);
    tk_buf_free(&want);
    tk_buf_free(&streamed);
    return 0;
}
