/* A character-level codec for renderer tests, like the one the cookbook reference used for its
 * worked examples: every byte is one id (0..255) and every known special or added token is one
 * id (1000 + its index). With split_special, tokens marked special are spelled out byte by byte;
 * added non-special tokens (Qwen's <think>, <tool_call>, ...) still match, as in HF tokenizers. */
#ifndef TK_TEST_CHAR_CODEC_H
#define TK_TEST_CHAR_CODEC_H

#include <string.h>

#include "tinkerc/renderers.h"

typedef struct char_token {
    const char *text;
    bool special;
} char_token;

static const char_token CHAR_TOKENS[] = {
    /* Llama 3 */
    {"<|begin_of_text|>", true}, {"<|end_of_text|>", true}, {"<|start_header_id|>", true},
    {"<|end_header_id|>", true}, {"<|eot_id|>", true},
    /* Qwen / Nemotron */
    {"<|im_start|>", true}, {"<|im_end|>", true}, {"<|endoftext|>", true},
    {"<think>", false}, {"</think>", false}, {"<tool_call>", false}, {"</tool_call>", false},
    {"<tool_response>", false}, {"</tool_response>", false},
    /* DeepSeek V3.1 */
    {"<\xef\xbd\x9c" "begin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>", true},
    {"<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>", true},
    {"<\xef\xbd\x9c" "User\xef\xbd\x9c>", false}, {"<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>", false},
    {"<\xef\xbd\x9ctool\xe2\x96\x81" "calls\xe2\x96\x81" "begin\xef\xbd\x9c>", false},
    {"<\xef\xbd\x9ctool\xe2\x96\x81" "calls\xe2\x96\x81" "end\xef\xbd\x9c>", false},
    {"<\xef\xbd\x9ctool\xe2\x96\x81" "call\xe2\x96\x81" "begin\xef\xbd\x9c>", false},
    {"<\xef\xbd\x9ctool\xe2\x96\x81" "call\xe2\x96\x81" "end\xef\xbd\x9c>", false},
    {"<\xef\xbd\x9ctool\xe2\x96\x81" "sep\xef\xbd\x9c>", false},
    {"<\xef\xbd\x9ctool\xe2\x96\x81" "output\xe2\x96\x81" "begin\xef\xbd\x9c>", false},
    {"<\xef\xbd\x9ctool\xe2\x96\x81" "output\xe2\x96\x81" "end\xef\xbd\x9c>", false},
    /* Harmony (gpt-oss) */
    {"<|startoftext|>", true}, {"<|start|>", true}, {"<|end|>", true}, {"<|message|>", true},
    {"<|channel|>", true}, {"<|constrain|>", true}, {"<|return|>", true}, {"<|call|>", true},
    /* Kimi */
    {"<|im_user|>", true}, {"<|im_assistant|>", true}, {"<|im_system|>", true},
    {"<|im_middle|>", true}, {"<|tool_calls_section_begin|>", true},
    {"<|tool_calls_section_end|>", true}, {"<|tool_call_section_begin|>", true},
    {"<|tool_call_section_end|>", true}, {"<|tool_call_begin|>", true},
    {"<|tool_call_argument_begin|>", true}, {"<|tool_call_end|>", true},
};
#define N_CHAR_TOKENS (sizeof CHAR_TOKENS / sizeof CHAR_TOKENS[0])
#define CHAR_TOKEN_BASE 1000

static inline int char_id(const char *tok) {
    for (size_t i = 0; i < N_CHAR_TOKENS; i++)
        if (!strcmp(CHAR_TOKENS[i].text, tok)) return (int)(CHAR_TOKEN_BASE + i);
    return -1;
}

static inline int char_encode(void *ctx, const char *text, size_t len, bool split_special, tk_vec_i32 *out,
                       tk_err *e) {
    (void)ctx;
    for (size_t i = 0; i < len;) {
        int best = -1;
        size_t best_len = 0;
        for (size_t k = 0; text[i] == '<' && k < N_CHAR_TOKENS; k++) { /* every token starts '<' */
            if (split_special && CHAR_TOKENS[k].special) continue;
            size_t n = strlen(CHAR_TOKENS[k].text);
            if (n > best_len && n <= len - i && !memcmp(text + i, CHAR_TOKENS[k].text, n)) {
                best = (int)k;
                best_len = n;
            }
        }
        int32_t id = best >= 0 ? CHAR_TOKEN_BASE + best : (unsigned char)text[i];
        if (tk_vec_push(out, id)) return tk_err_set(e, TK_ENOMEM, "oom");
        i += best >= 0 ? best_len : 1;
    }
    return 0;
}

static inline int char_decode(void *ctx, const int32_t *ids, size_t n, tk_buf *out, tk_err *e) {
    (void)ctx;
    for (size_t i = 0; i < n; i++) {
        int rc;
        if (ids[i] >= 0 && ids[i] < 256)
            rc = tk_buf_putc(out, (char)ids[i]);
        else if (ids[i] >= CHAR_TOKEN_BASE && ids[i] < CHAR_TOKEN_BASE + (int)N_CHAR_TOKENS)
            rc = tk_buf_puts(out, CHAR_TOKENS[ids[i] - CHAR_TOKEN_BASE].text);
        else
            return tk_err_set(e, TK_ERANGE, "char codec: id %d out of range", (int)ids[i]);
        if (rc) return rc;
    }
    return 0;
}

/* A codec whose BOS/EOS are Llama 3's (the cookbook's worked examples used a Llama tokenizer for
 * role_colon), or none. */
static inline tk_renderer_codec char_codec(bool llama_bos) {
    tk_renderer_codec c = {NULL, char_encode, char_decode, -1, -1};
    if (llama_bos) {
        c.bos_id = char_id("<|begin_of_text|>");
        c.eos_id = char_id("<|end_of_text|>");
    }
    return c;
}

#endif
