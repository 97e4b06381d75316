/* Bad input: malformed, truncated and inconsistent tokenizer.json / tokenizer_config.json /
 * tiktoken files, components we do not implement, bad arguments, invalid UTF-8 and NUL bytes in
 * text, out-of-range ids. Every case is a clear error naming what and where (or a correct
 * result), never a crash or a leak (this test also runs under ASan). */
#include "tok_test_util.h"

#define SYNTH "tests/data/tokenizer/synthetic/gpt2/tokenizer.json"

static tk_buf g_base;   /* a small valid tokenizer.json */

static int setup(void **state) {
    (void)state;
    tk_err e = {0};
    return tk_file_read(SYNTH, &g_base, 0, &e) ? -1 : 0;
}

static int teardown(void **state) {
    (void)state;
    tk_buf_free(&g_base);
    return 0;
}

/* g_base with the first occurrence of `from` replaced by `to` (caller frees). */
static char *patched(const char *from, const char *to, size_t *len) {
    const char *at = strstr(g_base.data, from);
    assert_non_null(at);
    tk_buf b = {0};
    assert_int_equal(tk_buf_append(&b, g_base.data, (size_t)(at - g_base.data)), 0);
    assert_int_equal(tk_buf_puts(&b, to), 0);
    assert_int_equal(tk_buf_puts(&b, at + strlen(from)), 0);
    return tk_buf_detach(&b, len);
}

/* Load a patched document and check the error code and message. */
static void expect_patch_error(const char *from, const char *to, int code, const char *needle) {
    size_t n;
    char *json = patched(from, to, &n);
    tk_err e = {0};
    tk_tokenizer *t = (tk_tokenizer *)0x1;
    int rc = tk_tokenizer_load_from_memory(json, n, NULL, 0, "bad.json", &t, &e);
    if (rc != code || !strstr(e.msg, needle))
        fail_msg("patch %s -> %s: got %s \"%s\", expected %s containing \"%s\"", from, to, tk_code_name(rc), e.msg,
                 tk_code_name(code), needle);
    assert_null(t);
    free(json);
}

static void test_truncated_everywhere(void **state) {
    (void)state;
    /* every prefix shorter than the document is an error that names the file and a position */
    size_t step = g_base.len / 600 + 1;
    for (size_t n = 0; n < g_base.len; n += (n < 200 ? 1 : step)) {
        tk_err e = {0};
        tk_tokenizer *t = NULL;
        int rc = tk_tokenizer_load_from_memory(g_base.data, n, NULL, 0, "cut.json", &t, &e);
        if (rc == 0) {
            tk_tokenizer_free(t);
            fail_msg("a document cut at %zu of %zu bytes loaded", n, g_base.len);
        }
        assert_int_equal(rc, TK_EPARSE);
        assert_non_null(strstr(e.msg, "cut.json"));
    }
}

static void test_malformed_json(void **state) {
    (void)state;
    const char *docs[] = {"", "hello", "[]", "{", "{\"model\": }", "\xef\xbb\xbf{}", "{\"a\":1}{}", "{\"model\":{\"vocab\":{\"a\":1,}}}",
                          "{\"model\":{\"vocab\":{\"a\":01}}}", "{\"model\":{\"vocab\":{\"a\\q\":1}}}", "{\"model\":{\"vocab\":{\"\xff\":1}}}",
                          "{\"model\":{\"vocab\":{\"\\ud800\":1}}}", "{\"model\":{\"vocab\":{\"a\":1},\"merges\":[\"a b\"]}} x"};
    for (size_t k = 0; k < sizeof docs / sizeof docs[0]; k++) {
        tk_err e = {0};
        tk_tokenizer *t = NULL;
        int rc = tk_tokenizer_load_from_memory(docs[k], strlen(docs[k]), NULL, 0, "m.json", &t, &e);
        if (rc != TK_EPARSE) fail_msg("document %zu: %s (%s), expected TK_EPARSE", k, tk_code_name(rc), e.msg);
        assert_non_null(strstr(e.msg, "m.json"));
    }
    /* positions are line:column */
    size_t n;
    char *d = patched("\"vocab\":{", "\"vocab\":{\n\n  \"a\": 1.5,", &n);
    tk_err e = {0};
    tk_tokenizer *t = NULL;
    assert_err(tk_tokenizer_load_from_memory(d, n, NULL, 0, "pos.json", &t, &e), TK_EPARSE, &e, "pos.json:3:8: ");
    assert_non_null(strstr(e.msg, "model.vocab[\"a\"]"));
    free(d);
}

static void test_vocab_and_merges(void **state) {
    (void)state;
    /* merges naming unknown tokens */
    expect_patch_error("\"merges\":[\"Ġ t\"", "\"merges\":[\"Ġ zzz\"", TK_EPARSE, "model.merges[0]: token \"zzz\" is not in the vocabulary");
    expect_patch_error("\"merges\":[\"Ġ t\"", "\"merges\":[\"Ġ t\",\"t h q\"", TK_EPARSE, "model.merges[1]: expected \"left right\"");
    expect_patch_error("\"merges\":[\"Ġ t\"", "\"merges\":[\"Ġ t\",[\"a\",\"b\"]", TK_EPARSE, "model.merges[1]: a pair among");
    expect_patch_error("\"merges\":[\"Ġ t\"", "\"merges\":[\"t Ġ\"", TK_EPARSE, "the merged token \"tĠ\" is not in the vocabulary");
    expect_patch_error("\"merges\":[", "\"merges\":[7,", TK_EPARSE, "model.merges[0]");
    expect_patch_error("\"merges\":", "\"merges_x\":", TK_EPARSE, "model.merges: missing");
    expect_patch_error("\"vocab\":", "\"vocab_x\":", TK_EPARSE, "model.vocab: missing");
    /* duplicate ids, duplicate tokens, ids out of range, wrong types */
    expect_patch_error("\"vocab\":{", "\"vocab\":{\"zz_dup\":5,", TK_EPARSE, "id 5 is used by both");
    expect_patch_error("\"vocab\":{", "\"vocab\":{\"a\":900,", TK_EPARSE, "duplicate token \"a\"");
    expect_patch_error("\"vocab\":{", "\"vocab\":{\"far\":2000000000,", TK_ERANGE, "ids must be dense");
    expect_patch_error("\"vocab\":{", "\"vocab\":{\"neg\":-1,", TK_EPARSE, "model.vocab[\"neg\"]");
    expect_patch_error("\"vocab\":{", "\"vocab\":{\"str\":\"1\",", TK_EPARSE, "model.vocab[\"str\"]");
    expect_patch_error("\"vocab\":{", "\"vocab\":[],\"v\":{", TK_EPARSE, "model.vocab: expected an object");
    expect_patch_error("\"merges\":[", "\"merges\":{},\"m\":[", TK_EPARSE, "model.merges: expected an array");
    expect_patch_error("\"vocab\":{", "\"vocab\":{\"a\\u0000b\":1000,\"\\ud83d\\ude00\":1001,\"\\ud83d\":1002,", TK_EPARSE,
                       "lone high surrogate");
}

static void test_unsupported_components(void **state) {
    (void)state;
    expect_patch_error("\"pre_tokenizer\":{\"type\":\"ByteLevel\"", "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Metaspace\"},{\"type\":\"ByteLevel\"}]},\"x\":{\"type\":\"ByteLevel\"",
                       TK_EUNSUPPORTED, "pre_tokenizer.pretokenizers[0]: unsupported type \"Metaspace\"");
    expect_patch_error("\"pre_tokenizer\":{\"type\":\"ByteLevel\"", "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"ByteLevel\"},{\"type\":\"Digits\"}]},\"x\":{\"type\":\"ByteLevel\"",
                       TK_EUNSUPPORTED, "pre_tokenizer.pretokenizers[1]: a \"Digits\" step after the ByteLevel step");
    expect_patch_error("\"normalizer\":null", "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFC\"},{\"type\":\"Lowercase\"}]}",
                       TK_EUNSUPPORTED, "normalizer.normalizers[1]: unsupported type \"Lowercase\"");
    expect_patch_error("\"type\":\"BPE\"", "\"type\":\"Unigram\"", TK_EUNSUPPORTED, "model: unsupported type \"Unigram\"");
    expect_patch_error("\"decoder\":{\"type\":\"ByteLevel\"", "\"decoder\":{\"type\":\"WordPiece\"", TK_EUNSUPPORTED,
                       "decoder: unsupported type \"WordPiece\"");
    expect_patch_error("\"post_processor\":null", "\"post_processor\":{\"type\":\"Sequence\",\"processors\":[{\"type\":\"Magic\"}]}",
                       TK_EUNSUPPORTED, "post_processor.processors[0]: unsupported type \"Magic\"");
    expect_patch_error("\"continuing_subword_prefix\":null", "\"continuing_subword_prefix\":\"##\"", TK_EUNSUPPORTED,
                       "model.continuing_subword_prefix");
    expect_patch_error("\"dropout\":null", "\"dropout\":0.1", TK_EUNSUPPORTED, "model.dropout");
    expect_patch_error("\"version\":\"1.0\"", "\"version\":\"2.0\"", TK_EUNSUPPORTED, "version");
    expect_patch_error("\"pre_tokenizer\":{\"type\":\"ByteLevel\"", "\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(unclosed\"},\"behavior\":\"Isolated\",\"invert\":false},\"x\":{\"type\":\"ByteLevel\"",
                       TK_EUNSUPPORTED, "pre_tokenizer.pattern: cannot compile the regex");
    expect_patch_error("\"pre_tokenizer\":{\"type\":\"ByteLevel\"", "\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"x\"},\"behavior\":\"Sideways\",\"invert\":false},\"x\":{\"type\":\"ByteLevel\"",
                       TK_EUNSUPPORTED, "pre_tokenizer.behavior: unknown behavior \"Sideways\"");
    /* only byte-level BPE */
    expect_patch_error("\"pre_tokenizer\":{\"type\":\"ByteLevel\"", "\"pre_tokenizer\":null,\"x\":{\"type\":\"ByteLevel\"", TK_EUNSUPPORTED,
                       "only byte-level BPE");
}

static void test_bad_added_tokens_and_templates(void **state) {
    (void)state;
    expect_patch_error("\"content\":\"<|endoftext|>\"", "\"content\":5", TK_EINVAL, "added_tokens[0].content");
    expect_patch_error("\"added_tokens\":[{\"id\":", "\"added_tokens\":[{\"id\":-4,\"x\":", TK_ERANGE, "added_tokens[0].id");
    expect_patch_error("\"added_tokens\":[", "\"added_tokens\":[7,", TK_EPARSE, "added_tokens[0]: expected an object");
    expect_patch_error("\"special\":true", "\"special\":\"yes\"", TK_EINVAL, "added_tokens[0].special");
    expect_patch_error("\"post_processor\":null",
                       "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"special_tokens\":{}}",
                       TK_EPARSE, "no entry with \"ids\" for \"<s>\"");
    expect_patch_error("\"post_processor\":null",
                       "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"special_tokens\":{\"<s>\":{\"id\":\"<s>\",\"ids\":[99999999],\"tokens\":[\"<s>\"]}}}",
                       TK_ERANGE, "special token id 99999999 is not a token");
    expect_patch_error("\"post_processor\":null", "\"post_processor\":{\"type\":\"RobertaProcessing\",\"cls\":[\"<s>\"],\"sep\":[\"</s>\",2]}",
                       TK_EPARSE, "post_processor.cls: expected [token, id]");
    /* an added token whose id in the file is not the one HF gives it loads, with HF's id */
    size_t n;
    char *json = patched("\"added_tokens\":[{\"id\":", "\"added_tokens\":[{\"id\":7777,\"x\":", &n);
    tk_err e = {0};
    tk_tokenizer *t = NULL;
    tk_log_set_level(TK_LOG_OFF);
    assert_ok(tk_tokenizer_load_from_memory(json, n, NULL, 0, "ids.json", &t, &e), &e);
    tk_log_set_level(TK_LOG_INFO);
    assert_int_equal(tk_tokenizer_token_to_id(t, "<|endoftext|>", 13), tk_tokenizer_vocab_size(t) - 1);
    tk_tokenizer_free(t);
    free(json);
}

static void test_bad_config(void **state) {
    (void)state;
    const char *cfgs[] = {"{", "[]", "{\"bos_token\": 5}", "{\"eos_token\": {\"nope\": 1}}"};
    int codes[] = {TK_EPARSE, TK_EPARSE, TK_EPARSE, TK_EPARSE};
    for (size_t k = 0; k < 4; k++) {
        tk_err e = {0};
        tk_tokenizer *t = NULL;
        int rc = tk_tokenizer_load_from_memory(g_base.data, g_base.len, cfgs[k], strlen(cfgs[k]), "c", &t, &e);
        if (rc != codes[k] || !strstr(e.msg, "tokenizer_config.json"))
            fail_msg("config %zu: %s \"%s\"", k, tk_code_name(rc), e.msg);
    }
    /* a token the vocabulary lacks is a warning and -1, not an error */
    tk_err e = {0};
    tk_tokenizer *t = NULL;
    tk_log_set_level(TK_LOG_OFF);
    const char *cfg = "{\"bos_token\": \"<nope>\", \"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"}, {\"name\": \"default\", \"template\": \"D\"}]}";
    assert_ok(tk_tokenizer_load_from_memory(g_base.data, g_base.len, cfg, strlen(cfg), "c", &t, &e), &e);
    tk_log_set_level(TK_LOG_INFO);
    assert_int_equal(tk_tokenizer_bos_id(t), -1);
    assert_string_equal(tk_tokenizer_chat_template(t), "D");
    tk_tokenizer_free(t);
}

static void test_files(void **state) {
    (void)state;
    tk_err e = {0};
    tk_tokenizer *t = NULL;
    assert_err(tk_tokenizer_load("/nonexistent/tokenizer.json", &t, &e), TK_ENOTFOUND, &e, "/nonexistent/tokenizer.json");
    assert_err(tk_tokenizer_load("tests", &t, &e), TK_ENOTFOUND, &e, "no tokenizer.json in this directory");
    assert_err(tk_tokenizer_load(NULL, &t, &e), TK_EINVAL, &e, "NULL");
    assert_err(tk_tokenizer_load_from_memory(NULL, 5, NULL, 0, "x", &t, &e), TK_EINVAL, &e, "NULL");
}

/* ---- encoding and decoding --------------------------------------------------------------- */

static void test_text_edge_cases(void **state) {
    (void)state;
    tk_err e = {0};
    tk_tokenizer *t = NULL;
    assert_ok(tk_tokenizer_load(SYNTH, &t, &e), &e);
    tk_vec_i32 ids = {0};
    tk_buf text = {0};
    /* NUL bytes are text like any other */
    const char nul[] = "a\0b\0\0c";
    assert_ok(tk_tokenizer_encode(t, nul, sizeof nul - 1, (tk_encode_opts){false, false}, &ids, &e), &e);
    assert_ok(tk_tokenizer_decode(t, ids.data, ids.len, false, &text, &e), &e);
    assert_int_equal(text.len, sizeof nul - 1);
    assert_memory_equal(text.data, nul, sizeof nul - 1);
    /* ill-formed UTF-8: each maximal ill-formed subsequence becomes U+FFFD (as the reference
       sees such bytes when they are decoded to text with replacement) */
    const char bad[] = "a\xff" "b\xe2\x82" "c\xed\xa0\x80" "d\xf0\x9f\x98";
    ids.len = 0;
    tk_buf_clear(&text);
    assert_ok(tk_tokenizer_encode(t, bad, sizeof bad - 1, (tk_encode_opts){false, false}, &ids, &e), &e);
    assert_ok(tk_tokenizer_decode(t, ids.data, ids.len, false, &text, &e), &e);
    assert_string_equal(text.data, "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "d\xef\xbf\xbd");
    /* empty input, NULL text with length 0 */
    ids.len = 0;
    assert_ok(tk_tokenizer_encode(t, NULL, 0, (tk_encode_opts){true, false}, &ids, &e), &e);
    assert_int_equal(ids.len, 0);
    assert_err(tk_tokenizer_encode(t, NULL, 3, (tk_encode_opts){false, false}, &ids, &e), TK_EINVAL, &e, "NULL");
    assert_err(tk_tokenizer_encode(NULL, "a", 1, (tk_encode_opts){false, false}, &ids, &e), TK_EINVAL, &e, "NULL");
    /* out-of-range ids name their index; the output is left as it was */
    int32_t bad_ids[] = {10, 11, -1};
    tk_buf_clear(&text);
    assert_ok(tk_buf_puts(&text, "kept"), 0);
    assert_err(tk_tokenizer_decode(t, bad_ids, 3, false, &text, &e), TK_ERANGE, &e, "ids[2] = -1");
    assert_string_equal(text.data, "kept");
    int32_t big[] = {tk_tokenizer_vocab_size(t)};
    assert_err(tk_tokenizer_decode(t, big, 1, false, &text, &e), TK_ERANGE, &e, "ids[0]");
    int32_t huge[] = {INT32_MAX};
    assert_err(tk_tokenizer_decode(t, huge, 1, false, &text, &e), TK_ERANGE, &e, "ids[0]");
    assert_null(tk_tokenizer_id_to_token(t, -1, NULL));
    assert_null(tk_tokenizer_id_to_token(t, INT32_MAX, NULL));
    assert_int_equal(tk_tokenizer_token_to_id(t, "\xff", 1), -1);
    assert_int_equal(tk_tokenizer_token_to_id(t, NULL, 0), -1);
    assert_null(tk_stream_decoder_new(NULL, false));
    tk_vec_free(&ids);
    tk_buf_free(&text);
    tk_tokenizer_free(t);
}

/* ---- tiktoken files --------------------------------------------------------------------------- */

static void write_file(const char *dir, const char *name, const char *content, char *path, size_t n) {
    snprintf(path, n, "%s/%s", dir, name);
    tk_err e = {0};
    assert_ok(tk_file_write_atomic(path, content, strlen(content), 0644, &e), &e);
}

static void test_bad_tiktoken(void **state) {
    (void)state;
    char *dir = tk_test_tmpdir();
    assert_non_null(dir);
    char path[512];
    const char *names[] = {"<|end|>"};
    int32_t ids[] = {300};
    struct { const char *content; int code; const char *needle; } cases[] = {
        {"YQ== 0\nYg== x\n", TK_EPARSE, ":2: the rank must be a non-negative integer"},
        {"YQ== 0\n!!!! 1\n", TK_EPARSE, ":2: base64"},
        {"YQ== 0\nYg== 0\n", TK_EPARSE, ":2: rank 0 appears twice"},
        {"YQ== 0\nYQ== 1\n", TK_EPARSE, ":2: the token of rank 1 repeats rank 0"},
        {"YQ==0\n", TK_EPARSE, ":1: expected \"<base64 token> <rank>\""},
        {"", TK_EPARSE, "no tokens"},
        {"YQ== 99999999\n", TK_ERANGE, "rank 99999999"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        write_file(dir, "r.tiktoken", cases[k].content, path, sizeof path);
        tk_err e = {0};
        tk_tokenizer *t = NULL;
        int rc = tk_tokenizer_load_tiktoken(path, "\\w+|\\s+", names, ids, 1, &t, &e);
        if (rc != cases[k].code || !strstr(e.msg, cases[k].needle))
            fail_msg("case %zu: %s \"%s\", expected %s with \"%s\"", k, tk_code_name(rc), e.msg, tk_code_name(cases[k].code),
                     cases[k].needle);
    }
    /* a special token on an id the ranks already use */
    write_file(dir, "r.tiktoken", "YQ== 0\nYg== 1\n", path, sizeof path);
    tk_err e = {0};
    tk_tokenizer *t = NULL;
    int32_t taken[] = {1};
    assert_err(tk_tokenizer_load_tiktoken(path, "\\w+", names, taken, 1, &t, &e), TK_EINVAL, &e, "already taken");
    assert_err(tk_tokenizer_load_tiktoken(path, "(", names, ids, 1, &t, &e), TK_EUNSUPPORTED, &e, "cannot compile");
    assert_err(tk_tokenizer_load_tiktoken("/nonexistent.tiktoken", "\\w+", names, ids, 1, &t, &e), TK_ENOTFOUND, &e,
               "/nonexistent.tiktoken");
    /* a good one: specials, merges from ranks, gaps in the id space */
    write_file(dir, "r.tiktoken", "YQ== 0\nYg== 1\nYWI= 2\nIA== 3\n", path, sizeof path);
    assert_ok(tk_tokenizer_load_tiktoken(path, "\\S+|\\s+", names, ids, 1, &t, &e), &e);
    tk_vec_i32 out = {0};
    assert_ok(tk_tokenizer_encode(t, "ab a<|end|>", 11, (tk_encode_opts){false, false}, &out, &e), &e);
    /* "ab" " " "a" then <|end|>: special tokens are cut out before the pattern splits */
    assert_int_equal(out.len, 4);
    assert_int_equal(out.data[0], 2);
    assert_int_equal(out.data[1], 3);
    assert_int_equal(out.data[2], 0);
    assert_int_equal(out.data[3], 300);
    assert_int_equal(tk_tokenizer_vocab_size(t), 301);
    int32_t gap[] = {100};
    tk_buf text = {0};
    assert_err(tk_tokenizer_decode(t, gap, 1, false, &text, &e), TK_ERANGE, &e, "ids[0] = 100");
    tk_buf_free(&text);
    tk_vec_free(&out);
    tk_tokenizer_free(t);
    tk_remove_tree(dir, &e);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_malformed_json),
        cmocka_unit_test(test_vocab_and_merges),
        cmocka_unit_test(test_unsupported_components),
        cmocka_unit_test(test_bad_added_tokens_and_templates),
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_text_edge_cases),
        cmocka_unit_test(test_bad_tiktoken),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
