/* The supervised recipe's dataset and metrics, with the real Qwen3 tokenizer:
 *   - datums: reduction=mean weights sum to 1 per example, the shift (targets = tokens[1:]);
 *   - split and shuffles are deterministic; test_size >= rows gives no test set; batches are full;
 *   - bad input (point 8): not JSON, no "messages", an unknown role, bad content, a top-level
 *     array, an over-long example, nothing to train on, an empty file: an error naming
 *     file:line, or with skip_bad a count; truncate_long cuts instead;
 *   - mean NLL and BPB against hand computations from their definitions (cookbook §3.1). */
#include "test_util.h"

#include <jansson.h>
#include <math.h>

#include "qwen3_fixture.h"

#define CONV(u, a) "{\"messages\": [{\"role\": \"user\", \"content\": \"" u "\"}, {\"role\": \"assistant\", \"content\": \"" a "\"}]}\n"

static tk_sl_dataset_options opts(const char *path) {
    tk_sl_dataset_options o = {.path = path, .train_on_what = TK_TRAIN_ALL_ASSISTANT_MESSAGES, .max_length = 0};
    return o;
}

static void test_datums_split_batches(void **state) {
    tk_buf text = {0};
    for (int i = 0; i < 10; i++)
        assert_ok(tk_buf_printf(&text, CONV("Question %d?", "Answer %d."), i, i), NULL);
    assert_ok(tk_buf_puts(&text, "\n   \n"), NULL);   /* blank lines are not examples */
    char *p = write_file("ten.jsonl", text.data);
    tk_buf_free(&text);
    tk_err e = {0};
    tk_sl_dataset_options o = opts(p);
    o.test_size = 3;
    o.shuffle_seed = 5;
    tk_sl_dataset *d;
    assert_ok(tk_sl_dataset_load(&o, &d, &e), &e);
    assert_ok(tk_sl_dataset_render(d, g_r, &e), &e);
    const tk_sl_dataset_stats *st = tk_sl_dataset_get_stats(d);
    assert_int_equal(st->lines, 10);
    assert_int_equal(st->train, 7);
    assert_int_equal(st->test, 3);
    assert_int_equal(tk_sl_dataset_n_train(d), 7);
    size_t nt;
    const tk_wire_datum *test = tk_sl_dataset_test(d, &nt);
    assert_int_equal(nt, 3);
    /* each datum: the tokens of the rendered example shifted by one, weights summing to 1 */
    for (size_t i = 0; i < nt; i++) {
        const tk_wire_tensor *w = tk_wire_tensor_map_get(&test[i].loss_fn_inputs, "weights");
        const tk_wire_tensor *t = tk_wire_tensor_map_get(&test[i].loss_fn_inputs, "target_tokens");
        assert_non_null(w);
        assert_non_null(t);
        assert_int_equal(w->n, test[i].model_input.chunks[0].n_tokens);
        double sum = 0;
        for (size_t k = 0; k < w->n; k++) sum += w->data.f32[k];
        assert_true(fabs(sum - 1.0) < 1e-5);
        for (size_t k = 0; k + 1 < t->n; k++) assert_int_equal(t->data.i64[k], test[i].model_input.chunks[0].tokens[k + 1]);
    }
    /* batches: only full ones; epochs reshuffle deterministically */
    tk_wire_datum b[3];
    int64_t lines_e0[3], lines_e1[3], again[3];
    assert_ok(tk_sl_dataset_get_batch(d, 1, 3, b, lines_e0, &e), &e);
    assert_err(tk_sl_dataset_get_batch(d, 2, 3, b, NULL, &e), TK_ERANGE, &e, "2 full batches");
    tk_sl_dataset_set_epoch(d, 1);
    assert_ok(tk_sl_dataset_get_batch(d, 1, 3, b, lines_e1, &e), &e);
    tk_sl_dataset_set_epoch(d, 0);
    assert_ok(tk_sl_dataset_get_batch(d, 1, 3, b, again, &e), &e);
    assert_memory_equal(lines_e0, again, sizeof again);
    assert_memory_not_equal(lines_e0, lines_e1, sizeof again);
    /* the same shuffle_seed gives the same split; test lines are not training lines */
    tk_sl_dataset *d2;
    assert_ok(tk_sl_dataset_load(&o, &d2, &e), &e);
    assert_ok(tk_sl_dataset_render(d2, g_r, &e), &e);
    size_t nt2;
    const tk_wire_datum *test2 = tk_sl_dataset_test(d2, &nt2);
    for (size_t i = 0; i < nt; i++)
        assert_int_equal(test[i].model_input.chunks[0].n_tokens, test2[i].model_input.chunks[0].n_tokens);
    tk_sl_dataset_free(d2);
    tk_sl_dataset_free(d);

    /* test_size >= rows: no test set, everything trains (as upstream) */
    o.test_size = 10;
    tk_log_set_hook(quiet, NULL);
    assert_ok(tk_sl_dataset_load(&o, &d, &e), &e);
    tk_log_set_hook(NULL, NULL);
    assert_ok(tk_sl_dataset_render(d, g_r, &e), &e);
    assert_null(tk_sl_dataset_test(d, &nt));
    assert_int_equal(nt, 0);
    assert_int_equal(tk_sl_dataset_n_train(d), 10);
    tk_sl_dataset_free(d);
    free(p);
}

/* One bad line among good ones: raise names file:line; skip counts it. */
static void check_bad(const char *bad_line, int code, const char *needle, bool at_render) {
    tk_buf text = {0};
    assert_ok(tk_buf_puts(&text, CONV("Hi", "Hello!")), NULL);
    assert_ok(tk_buf_puts(&text, CONV("Bye", "Goodbye!")), NULL);
    assert_ok(tk_buf_puts(&text, bad_line), NULL);
    assert_ok(tk_buf_puts(&text, "\n"), NULL);
    char *p = write_file("bad.jsonl", text.data);
    tk_buf_free(&text);
    tk_err e = {0};
    tk_sl_dataset_options o = opts(p);
    o.max_length = 40;
    tk_sl_dataset *d = NULL;
    char where[600];
    snprintf(where, sizeof where, "%s:3", p);
    if (at_render) {
        assert_ok(tk_sl_dataset_load(&o, &d, &e), &e);
        assert_err(tk_sl_dataset_render(d, g_r, &e), code, &e, needle);
        assert_non_null(strstr(e.msg, where));
        tk_sl_dataset_free(d);
    } else {
        assert_err(tk_sl_dataset_load(&o, &d, &e), code, &e, needle);
        assert_non_null(strstr(e.msg, where));
        assert_null(d);
    }
    o.skip_bad = true;
    tk_log_set_hook(quiet, NULL);
    assert_ok(tk_sl_dataset_load(&o, &d, &e), &e);
    assert_ok(tk_sl_dataset_render(d, g_r, &e), &e);
    tk_log_set_hook(NULL, NULL);
    const tk_sl_dataset_stats *st = tk_sl_dataset_get_stats(d);
    assert_int_equal(st->skipped, 1);
    assert_int_equal(st->train, 2);
    assert_non_null(strstr(st->first_skipped, where));
    tk_sl_dataset_free(d);
    free(p);
}

static void test_bad_examples(void **state) {
    check_bad("{\"messages\": [", TK_EPARSE, "invalid JSON", false);
    check_bad("not json at all", TK_EPARSE, "bad.jsonl:3", false);
    check_bad("{\"conversation\": []}", TK_EINVAL, "no \"messages\" key", false);
    check_bad("[{\"role\": \"user\", \"content\": \"x\"}]", TK_EINVAL, "expected a JSON object", false);
    check_bad("{\"messages\": []}", TK_EINVAL, "\"messages\" is empty", false);
    check_bad("{\"messages\": [{\"role\": \"wizard\", \"content\": \"x\"}]}", TK_EINVAL, "unknown role \"wizard\"", false);
    check_bad("{\"messages\": [{\"role\": \"user\", \"content\": 42}]}", TK_EINVAL, "messages[0].content", false);
    check_bad("{\"messages\": [{\"content\": \"no role\"}]}", TK_EINVAL, "role", false);
    check_bad("{\"messages\": \"hello\"}", TK_EINVAL, "messages", false);
    /* found when rendering: nothing to train on, longer than max_length (40) */
    check_bad("{\"messages\": [{\"role\": \"user\", \"content\": \"a user turn and no answer\"}]}", TK_EINVAL,
              "nothing to train on", true);
    check_bad(CONV("Tell me a long story about a dragon who lived in the mountains and collected shiny gold coins "
                   "for a thousand years until a brave knight came",
                   "Once upon a time there was a dragon who lived in the mountains and collected shiny gold coins."),
              TK_ERANGE, "longer than max_length=40", true);
}

static void test_truncate_and_empty(void **state) {
    char *p = write_file("long.jsonl", CONV("Tell me a long story about a dragon who lived in the mountains for many "
                                            "years and never left", "Once upon a time there was a dragon, and he "
                                            "lived in the mountains for many years, and then he left."));
    tk_err e = {0};
    tk_sl_dataset_options o = opts(p);
    o.max_length = 30;
    o.truncate_long = true;
    tk_sl_dataset *d;
    assert_ok(tk_sl_dataset_load(&o, &d, &e), &e);
    assert_ok(tk_sl_dataset_render(d, g_r, &e), &e);
    tk_wire_datum b[1];
    assert_ok(tk_sl_dataset_get_batch(d, 0, 1, b, NULL, &e), &e);
    assert_int_equal(b[0].model_input.chunks[0].n_tokens, 29);   /* cut to 30, then shifted */
    tk_sl_dataset_free(d);
    free(p);

    p = write_file("empty.jsonl", "\n\n");
    o = opts(p);
    assert_err(tk_sl_dataset_load(&o, &d, &e), TK_EINVAL, &e, "the file is empty");
    free(p);
    p = write_file("allbad.jsonl", "nope\n");
    o = opts(p);
    o.skip_bad = true;
    tk_log_set_hook(quiet, NULL);
    assert_err(tk_sl_dataset_load(&o, &d, &e), TK_EINVAL, &e, "no examples left after skipping");
    tk_log_set_hook(NULL, NULL);
    free(p);
    o = opts("/nonexistent/data.jsonl");
    assert_err(tk_sl_dataset_load(&o, &d, &e), TK_ENOTFOUND, &e, "/nonexistent/data.jsonl");
    o = opts(NULL);
    assert_err(tk_sl_dataset_load(&o, &d, &e), TK_EINVAL, &e, "dataset is required");
}

/* ---- metrics against their definitions ------------------------------------------------------ */

typedef struct fake {
    tk_wire_datum d;
    tk_wire_named_tensor in[2];
    int64_t tgt[8];
    float w[8];
    int32_t tok[8];
    tk_wire_chunk ch;
} fake;

static void make(fake *f, const int32_t *targets, const float *w, size_t n) {
    for (size_t i = 0; i < n; i++) {
        f->tgt[i] = targets[i];
        f->w[i] = w[i];
        f->tok[i] = 0;
    }
    f->ch = (tk_wire_chunk){.type = TK_WIRE_CHUNK_ENCODED_TEXT, .tokens = f->tok, .n_tokens = n};
    f->in[0] = (tk_wire_named_tensor){"weights", tk_wire_tensor_view_f32(f->w, n)};
    f->in[1] = (tk_wire_named_tensor){"target_tokens", tk_wire_tensor_view_i64(f->tgt, n)};
    f->d.model_input = (tk_wire_model_input){&f->ch, 1};
    f->d.loss_fn_inputs = (tk_wire_tensor_map){f->in, 2};
}

static void test_nll_bpb(void **state) {
    tk_err e = {0};
    /* "Hello world" in Qwen3 tokens, then <|im_end|> (special) */
    tk_vec_i32 ids = {0};
    assert_ok(tk_tokenizer_encode(g_tok, "Hello world", 11, (tk_encode_opts){0}, &ids, &e), &e);
    assert_int_equal(ids.len, 2);   /* "Hello", " world" */
    int32_t im_end = tk_tokenizer_token_to_id(g_tok, "<|im_end|>", 10);
    assert_true(im_end > 0);
    assert_true(tk_tokenizer_is_special(g_tok, im_end));
    fake a, b;
    int32_t ta[3] = {ids.data[0], ids.data[1], im_end};
    float wa[3] = {1.f / 3, 1.f / 3, 1.f / 3};
    make(&a, ta, wa, 3);
    int32_t tb[2] = {ids.data[0], ids.data[1]};
    float wb[2] = {0.5f, 0.0f};   /* " world" untrained: only "Hello" counts */
    make(&b, tb, wb, 2);
    tk_wire_datum data[2] = {a.d, b.d};
    float la[3] = {-1.0f, -2.0f, -4.0f}, lb[2] = {-3.0f, -8.0f};
    const float *lp[2] = {la, lb};
    size_t lens[2] = {3, 2};
    double nll, bpb;
    assert_ok(tk_sl_mean_nll(data, lp, lens, 2, &nll, &e), &e);
    /* -Σ lp·w / Σ w with the float32 weights as stored */
    double num = (1.0 * wa[0] + 2.0 * wa[1] + 4.0 * wa[2]) + 3.0 * (double)wb[0];
    double den = (double)wa[0] + wa[1] + wa[2] + wb[0];
    assert_true(fabs(nll - num / den) < 1e-12);
    assert_ok(tk_sl_bpb(data, lp, lens, 2, g_tok, &bpb, &e), &e);
    /* counted: "Hello world" (11 bytes, nats 1+2) and "Hello" (5 bytes, nats 3); <|im_end|> and
     * the zero-weight " world" are out of both sides */
    assert_true(fabs(bpb - (1.0 + 2.0 + 3.0) / (log(2.0) * 16.0)) < 1e-12);
    /* nothing weighted: NaN, as upstream */
    float wz[2] = {0, 0};
    make(&b, tb, wz, 2);
    assert_ok(tk_sl_mean_nll(&b.d, lp + 1, lens + 1, 1, &nll, &e), &e);
    assert_true(isnan(nll));
    assert_ok(tk_sl_bpb(&b.d, lp + 1, lens + 1, 1, g_tok, &bpb, &e), &e);
    assert_true(isnan(bpb));
    /* mismatched lengths name the datum */
    size_t bad_len[1] = {5};
    assert_err(tk_sl_mean_nll(&b.d, lp, bad_len, 1, &nll, &e), TK_EINVAL, &e, "data[0]");
    tk_vec_free(&ids);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_datums_split_batches),
        cmocka_unit_test(test_bad_examples),
        cmocka_unit_test(test_truncate_and_empty),
        cmocka_unit_test(test_nll_bpb),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
