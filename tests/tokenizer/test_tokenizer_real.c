/* The real Llama 3, Qwen3, DeepSeek V3 and gpt-oss files: vocabulary facts against what HF's Rust
 * tokenizers and transformers.js report (tests/data/tokenizer/reference.json, "meta"), many
 * threads encoding with one tokenizer, and streaming decode of real text. */
#include "tok_test_util.h"

#include <jansson.h>
#include <pthread.h>

static json_t *g_fx;

static int setup(void **state) {
    (void)state;
    tk_err e = {0};
    if (!tk_test_have_real_tokenizers()) {
        fprintf(stderr, ".cache/tokenizers is missing; run scripts/install-deps.sh\n");
        return -1;
    }
    if (tk_json_load_file("tests/data/tokenizer/reference.json", &g_fx, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    json_decref(g_fx);
    return 0;
}

static tk_tokenizer *load(const char *fam) {
    char dir[256];
    tk_test_family_dir(fam, dir, sizeof dir);
    tk_err e = {0};
    tk_tokenizer *t = NULL;
    assert_ok(tk_tokenizer_load(dir, &t, &e), &e);
    return t;
}

static void test_vocabulary_facts(void **state) {
    (void)state;
    for (int fi = 0; fi < 4; fi++) {
        const char *fam = tk_test_families[fi];
        tk_tokenizer *t = load(fam);
        json_t *m = json_object_get(json_object_get(json_object_get(g_fx, "families"), fam), "meta");
        assert_int_equal(tk_tokenizer_vocab_size(t), json_integer_value(json_object_get(m, "vocab_size")));
        const char *key;
        json_t *v;
        json_object_foreach(json_object_get(m, "id_to_token"), key, v) {
            int32_t id = atoi(key);
            size_t len = 0;
            const char *tok = tk_tokenizer_id_to_token(t, id, &len);
            if (json_is_null(v)) {
                assert_null(tok);
                continue;
            }
            if (!tok || len != json_string_length(v) || memcmp(tok, json_string_value(v), len))
                fail_msg("%s: id_to_token(%d) = %s, HF says %s", fam, id, tok ? tok : "NULL", json_string_value(v));
            assert_int_equal(tok[len], '\0');
            /* and back */
            assert_int_equal(tk_tokenizer_token_to_id(t, tok, len), id);
        }
        json_object_foreach(json_object_get(m, "token_to_id"), key, v) {
            int32_t want = json_is_null(v) ? -1 : (int32_t)json_integer_value(v);
            if (tk_tokenizer_token_to_id(t, key, strlen(key)) != want)
                fail_msg("%s: token_to_id(\"%s\") = %d, HF says %d", fam, key, tk_tokenizer_token_to_id(t, key, strlen(key)), want);
        }
        size_t idx;
        json_array_foreach(json_object_get(m, "special_ids"), idx, v) assert_true(tk_tokenizer_is_special(t, (int32_t)json_integer_value(v)));
        assert_false(tk_tokenizer_is_special(t, 100));
        assert_false(tk_tokenizer_is_special(t, -1));
        /* BOS/EOS as tokenizer_config.json gives them (read by transformers.js). transformers.js
           falls back to EOS for a missing pad_token; Python's tokenizers leave it unset, as we do. */
        assert_int_equal(tk_tokenizer_bos_id(t), json_integer_value(json_object_get(m, "bos")));
        assert_int_equal(tk_tokenizer_eos_id(t), json_integer_value(json_object_get(m, "eos")));
        char cfgp[256];
        snprintf(cfgp, sizeof cfgp, ".cache/tokenizers/%s/tokenizer_config.json", fam);
        json_t *cfg = NULL;
        tk_err e = {0};
        assert_ok(tk_json_load_file(cfgp, &cfg, &e), &e);
        int32_t want_pad = json_object_get(cfg, "pad_token") ? (int32_t)json_integer_value(json_object_get(m, "pad")) : -1;
        assert_int_equal(tk_tokenizer_pad_id(t), want_pad);
        assert_int_equal(tk_tokenizer_chat_template(t) != NULL, json_is_true(json_object_get(m, "has_chat_template")));
        assert_int_equal(tk_tokenizer_clean_up_tokenization_spaces(t), json_is_true(json_object_get(cfg, "clean_up_tokenization_spaces")));
        json_decref(cfg);
        /* the bytes of a byte-level token */
        int32_t id = tk_tokenizer_token_to_id(t, "\xc4\xa0hello", 7);
        size_t n = 0;
        const char *b = tk_tokenizer_id_to_bytes(t, id, &n);
        assert_non_null(b);
        assert_int_equal(n, 6);
        assert_memory_equal(b, " hello", 6);
        assert_null(tk_tokenizer_id_to_bytes(t, tk_tokenizer_vocab_size(t), &n));
        assert_non_null(strstr(tk_tokenizer_source(t), fam));
        tk_tokenizer_free(t);
    }
}

/* ---- many threads, one tokenizer ------------------------------------------------------------- */

static const char *const k_texts[] = {
    "The quick brown fox jumps over the lazy dog. It's 2024, isn't it?",
    "<|im_start|>user\nWhat's 12345 * 678?<|im_end|>\n<|im_start|>assistant\n<think>\n</think>\n\n",
    "Привет, мир! Καλημέρα κόσμε. 你好，世界。こんにちは。안녕하세요 🙂👍🏽👨‍👩‍👧",
    "def f(x):\n\treturn [i ** 2 for i in range(x) if i % 3 == 0]  # squares\r\n",
    "   leading spaces\u00a0and\u3000others\xc2\x85" "   ",
    "cafe\u0301 na\u00efve \u212b \uff21\uff22\uff23 \u1100\u1161\u11a8",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "<｜User｜>hi<｜Assistant｜><|begin_of_text|><|endoftext|><|start|>x<|end|>",
};
#define N_TEXTS (sizeof k_texts / sizeof k_texts[0])

typedef struct job {
    const tk_tokenizer *t;
    tk_vec_i32 out[N_TEXTS][2];
    int rounds;
    int failed;
} job;

static void *worker(void *arg) {
    job *j = arg;
    tk_err e = {0};
    for (int r = 0; r < j->rounds; r++)
        for (size_t k = 0; k < N_TEXTS; k++)
            for (int split = 0; split < 2; split++) {
                tk_vec_i32 *v = &j->out[k][split];
                v->len = 0;
                if (tk_tokenizer_encode(j->t, k_texts[k], strlen(k_texts[k]), (tk_encode_opts){true, split}, v, &e))
                    j->failed = 1;
            }
    return NULL;
}

static void test_threads(void **state) {
    (void)state;
    for (int fi = 0; fi < 4; fi++) {
        tk_tokenizer *t = load(tk_test_families[fi]);
        job ref = {t, {{{0}}}, 1, 0};
        worker(&ref);
        assert_int_equal(ref.failed, 0);
        enum { NT = 4 };
        job jobs[NT];
        tk_thread th[NT];
        tk_err e = {0};
        for (int i = 0; i < NT; i++) {
            memset(&jobs[i], 0, sizeof jobs[i]);
            jobs[i].t = t;
            jobs[i].rounds = 20;
            assert_ok(tk_thread_start(&th[i], worker, &jobs[i], &e), &e);
        }
        for (int i = 0; i < NT; i++) tk_thread_join(&th[i]);
        for (int i = 0; i < NT; i++) {
            assert_int_equal(jobs[i].failed, 0);
            for (size_t k = 0; k < N_TEXTS; k++)
                for (int s = 0; s < 2; s++) {
                    assert_int_equal(jobs[i].out[k][s].len, ref.out[k][s].len);
                    assert_memory_equal(jobs[i].out[k][s].data, ref.out[k][s].data, ref.out[k][s].len * sizeof(int32_t));
                    tk_vec_free(&jobs[i].out[k][s]);
                }
        }
        for (size_t k = 0; k < N_TEXTS; k++)
            for (int s = 0; s < 2; s++) tk_vec_free(&ref.out[k][s]);
        tk_tokenizer_free(t);
    }
}

/* Two tokenizers used alternately by one thread share its word cache: results must not mix. */
static void test_two_tokenizers_one_thread(void **state) {
    (void)state;
    tk_tokenizer *a = load("qwen3"), *b = load("deepseek_v3");
    tk_err e = {0};
    tk_vec_i32 first[2] = {{0}}, again = {0};
    tk_tokenizer *ts[2] = {a, b};
    for (int k = 0; k < 2; k++)
        assert_ok(tk_tokenizer_encode(ts[k], k_texts[0], strlen(k_texts[0]), (tk_encode_opts){false, false}, &first[k], &e), &e);
    assert_false(first[0].len == first[1].len && !memcmp(first[0].data, first[1].data, first[0].len * 4));
    for (int r = 0; r < 6; r++) {
        again.len = 0;
        assert_ok(tk_tokenizer_encode(ts[r & 1], k_texts[0], strlen(k_texts[0]), (tk_encode_opts){false, false}, &again, &e), &e);
        assert_int_equal(again.len, first[r & 1].len);
        assert_memory_equal(again.data, first[r & 1].data, again.len * 4);
    }
    tk_vec_free(&first[0]);
    tk_vec_free(&first[1]);
    tk_vec_free(&again);
    tk_tokenizer_free(a);
    tk_tokenizer_free(b);
}

/* Streaming decode of real text one id at a time: only whole characters come out, and all of
 * them together are the text. */
static void test_stream_decode(void **state) {
    (void)state;
    for (int fi = 0; fi < 4; fi++) {
        tk_tokenizer *t = load(tk_test_families[fi]);
        tk_err e = {0};
        for (size_t k = 0; k < N_TEXTS; k++) {
            tk_vec_i32 ids = {0};
            assert_ok(tk_tokenizer_encode(t, k_texts[k], strlen(k_texts[k]), (tk_encode_opts){false, false}, &ids, &e), &e);
            tk_buf full = {0}, streamed = {0};
            assert_ok(tk_tokenizer_decode(t, ids.data, ids.len, false, &full, &e), &e);
            tk_stream_decoder *d = tk_stream_decoder_new(t, false);
            assert_non_null(d);
            for (size_t i = 0; i < ids.len; i++) {
                size_t before = streamed.len;
                assert_ok(tk_stream_decoder_push(d, &ids.data[i], 1, &streamed, &e), &e);
                assert_true(tk_utf8_valid(streamed.data + before, streamed.len - before, NULL));
            }
            assert_ok(tk_stream_decoder_finish(d, &streamed, &e), &e);
            assert_int_equal(streamed.len, full.len);
            assert_memory_equal(streamed.data, full.data, full.len);
            /* an out-of-range id is an error naming it, and the stream goes on afterwards */
            int32_t bad = tk_tokenizer_vocab_size(t) + 5;
            assert_err(tk_stream_decoder_push(d, &bad, 1, &streamed, &e), TK_ERANGE, &e, "ids[0]");
            tk_stream_decoder_free(d);
            tk_buf_free(&full);
            tk_buf_free(&streamed);
            tk_vec_free(&ids);
        }
        tk_tokenizer_free(t);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vocabulary_facts),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_two_tokenizers_one_thread),
        cmocka_unit_test(test_stream_decode),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
