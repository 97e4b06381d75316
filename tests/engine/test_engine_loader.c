/* safetensors and model loading: dtype conversions against torch's own rounding, save/load round
 * trips, and bad input (corrupt headers, offsets, dtypes, shapes against config.json, truncated
 * files, unknown architectures, broken shard indexes) — each a clear error naming the tensor or
 * field, no crash, no leak. */
#include "engine_test_util.h"

#include <sys/stat.h>

/* ---- conversions against torch ------------------------------------------------------------ */

static void test_dtypes_vs_torch(void **state) {
    tk_err e = {0};
    tk_st_file f;
    assert_ok(tk_st_open("tests/data/engine/dtypes.safetensors", &f, &e), &e);
    size_t n;
    float *vals = fx_get(&f, "f32", &n);
    float *want16 = fx_get(&f, "f16_as_f32", NULL), *wantb = fx_get(&f, "bf16_as_f32", NULL);
    float *got16 = fx_get(&f, "f16", NULL), *gotb = fx_get(&f, "bf16", NULL);
    /* reading: our widening of torch's F16/BF16 bytes equals torch's .float() */
    assert_memory_equal(got16, want16, n * sizeof(float));
    assert_memory_equal(gotb, wantb, n * sizeof(float));
    /* writing: our rounding of the F32 values gives torch's bytes */
    const tk_st_tensor *t16 = tk_st_find(&f, "f16"), *tb = tk_st_find(&f, "bf16");
    for (size_t i = 0; i < n; i++) {
        uint16_t h = (uint16_t)(t16->data[2 * i] | t16->data[2 * i + 1] << 8);
        uint16_t b = (uint16_t)(tb->data[2 * i] | tb->data[2 * i + 1] << 8);
        if (tk_f32_to_f16(vals[i]) != h) fail_msg("f16 of %g: ours 0x%04x, torch 0x%04x", vals[i], tk_f32_to_f16(vals[i]), h);
        if (tk_f32_to_bf16(vals[i]) != b) fail_msg("bf16 of %g: ours 0x%04x, torch 0x%04x", vals[i], tk_f32_to_bf16(vals[i]), b);
    }
    free(vals); free(want16); free(wantb); free(got16); free(gotb);
    tk_st_close(&f);
}

/* ---- model round trips ---------------------------------------------------------------------- */

static void tiny_config(tk_engine_config *c, tk_engine_arch arch) {
    tk_engine_config_default(c, arch);
    c->vocab_size = 50;
    c->hidden_size = 16;
    c->intermediate_size = 24;
    c->num_layers = 2;
    c->num_heads = 4;
    c->num_kv_heads = 2;
    c->head_dim = 4;
    c->bos_token_id = 1;
}

static void test_roundtrip(void **state) {
    tk_err e = {0};
    char *dir = tk_test_tmpdir();
    const tk_engine_dtype dts[] = {TK_ENGINE_F32, TK_ENGINE_BF16, TK_ENGINE_F16};
    for (int arch = 1; arch <= 2; arch++)
        for (int k = 0; k < 3; k++) {
            tk_engine_config c;
            tiny_config(&c, (tk_engine_arch)arch);
            if (arch == TK_ENGINE_ARCH_LLAMA) {
                c.rope_llama3 = true;
                c.rope_factor = 32;
                c.rope_low_freq_factor = 1;
                c.rope_high_freq_factor = 4;
                c.rope_original_max_position = 8192;
            }
            tk_engine_model *m, *m2;
            assert_ok(tk_engine_model_random(&c, 42, &m, &e), &e);
            assert_ok(tk_engine_model_save(m, dir, dts[k], &e), &e);
            assert_ok(tk_engine_model_load(dir, &m2, &e), &e);
            const tk_engine_config *c2 = tk_engine_model_config(m2);
            assert_int_equal(c2->arch, c.arch);
            assert_int_equal(c2->hidden_size, 16);
            assert_int_equal(c2->tie_word_embeddings, c.tie_word_embeddings);
            assert_int_equal(c2->rope_llama3, c.rope_llama3);
            assert_true(c2->rope_factor == c.rope_factor);
            assert_true(c2->rope_theta == c.rope_theta);
            assert_int_equal(tk_engine_model_num_params(m), tk_engine_model_num_params(m2));
            for (size_t i = 0; i < m->n_params; i++) {
                float want = dts[k] == TK_ENGINE_F32 ? m->params[i]
                             : dts[k] == TK_ENGINE_BF16 ? tk_bf16_to_f32(tk_f32_to_bf16(m->params[i]))
                                                        : tk_f16_to_f32(tk_f32_to_f16(m->params[i]));
                if (m2->params[i] != want) fail_msg("param %zu: %g != %g", i, m2->params[i], want);
            }
            tk_engine_model_free(m);
            tk_engine_model_free(m2);
        }
    /* the same seed gives the same weights */
    tk_engine_config c;
    tiny_config(&c, TK_ENGINE_ARCH_QWEN3);
    tk_engine_model *a, *b;
    assert_ok(tk_engine_model_random(&c, 7, &a, &e), &e);
    assert_ok(tk_engine_model_random(&c, 7, &b, &e), &e);
    assert_memory_equal(a->params, b->params, a->n_params * sizeof(float));
    tk_engine_model_free(a);
    tk_engine_model_free(b);
    assert_ok(tk_remove_tree(dir, &e), &e);
    free(dir);
}

/* ---- corrupt safetensors images ------------------------------------------------------------ */

/* header + data area of given size */
static size_t image(uint8_t *buf, const char *header, size_t data_bytes) {
    size_t n = strlen(header);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(buf + 8, header, n);
    memset(buf + 8 + n, 0x3c, data_bytes);
    return 8 + n + data_bytes;
}

static void expect_parse_error(const char *header, size_t data_bytes, const char *needle) {
    uint8_t buf[4096];
    size_t n = image(buf, header, data_bytes);
    tk_st_file f;
    tk_err e = {0};
    assert_err(tk_st_parse(buf, n, "bad.safetensors", &f, &e), TK_EPARSE, &e, needle);
    assert_non_null(strstr(e.msg, "bad.safetensors"));
    tk_st_close(&f);
}

static void test_corrupt_headers(void **state) {
    uint8_t buf[64] = {0};
    tk_st_file f;
    tk_err e = {0};
    assert_err(tk_st_parse(buf, 5, "x", &f, &e), TK_EPARSE, &e, "truncated");
    /* header length beyond the file */
    memset(buf, 0, sizeof buf);
    buf[0] = 200;
    assert_err(tk_st_parse(buf, 40, "x", &f, &e), TK_EPARSE, &e, "beyond the end of the file");
    buf[0] = 0;
    buf[5] = 1;   /* > 100 MB */
    assert_err(tk_st_parse(buf, 40, "x", &f, &e), TK_EPARSE, &e, "100 MB");
    expect_parse_error("[1,2]", 0, "does not start with '{'");
    expect_parse_error("{\"a\":", 0, "invalid JSON");
    expect_parse_error("{\"a\":{\"dtype\":\"Q9\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype");
    expect_parse_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4, "unknown field");
    expect_parse_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "shape[0]");
    expect_parse_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "needs 8");
    expect_parse_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,400]}}", 4, "beyond the data");
    expect_parse_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, "invalid");
    expect_parse_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "overlaps");
    expect_parse_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "gap");
    expect_parse_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 12, "trailing");
    expect_parse_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,4]}}", 4,
                       "overflows");
    expect_parse_error("{\"__metadata__\":{\"k\":1}}", 0, "__metadata__.k");
    expect_parse_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{}}", 4, "invalid JSON");
    /* a valid one parses */
    uint8_t ok[256];
    size_t n = image(ok, "{\"__metadata__\":{\"format\":\"pt\"},\"w\":{\"dtype\":\"BF16\",\"shape\":[2],"
                         "\"data_offsets\":[0,4]}}", 4);
    assert_ok(tk_st_parse(ok, n, "ok", &f, &e), &e);
    assert_int_equal(f.n_tensors, 1);
    assert_int_equal(tk_st_find(&f, "w")->numel, 2);
    tk_st_close(&f);
}

/* ---- model directories with something wrong ------------------------------------------------ */

static void write_text(const char *dir, const char *name, const char *text) {
    char *p = tk_path_join(dir, name);
    tk_err e = {0};
    assert_ok(tk_file_write_atomic(p, text, strlen(text), 0644, &e), &e);
    free(p);
}

static char *read_text(const char *dir, const char *name) {
    char *p = tk_path_join(dir, name);
    tk_buf b = {0};
    tk_err e = {0};
    assert_ok(tk_file_read(p, &b, 0, &e), &e);
    free(p);
    return tk_buf_detach(&b, NULL);
}

static void replace_in_config(const char *dir, const char *from, const char *to) {
    char *cfg = read_text(dir, "config.json");
    char *at = strstr(cfg, from);
    assert_non_null(at);
    tk_buf out = {0};
    assert_int_equal(tk_buf_append(&out, cfg, (size_t)(at - cfg)), 0);
    assert_int_equal(tk_buf_puts(&out, to), 0);
    assert_int_equal(tk_buf_puts(&out, at + strlen(from)), 0);
    write_text(dir, "config.json", out.data);
    tk_buf_free(&out);
    free(cfg);
}

static void expect_load_error(const char *dir, int code, const char *needle) {
    tk_engine_model *m = NULL;
    tk_err e = {0};
    assert_err(tk_engine_model_load(dir, &m, &e), code, &e, needle);
    assert_null(m);
}

static void fresh_model(const char *dir, tk_engine_arch arch) {
    tk_engine_config c;
    tiny_config(&c, arch);
    tk_engine_model *m;
    tk_err e = {0};
    assert_ok(tk_engine_model_random(&c, 1, &m, &e), &e);
    assert_ok(tk_engine_model_save(m, dir, TK_ENGINE_F32, &e), &e);
    tk_engine_model_free(m);
}

static void test_bad_models(void **state) {
    char *dir = tk_test_tmpdir();
    tk_err e = {0};
    fresh_model(dir, TK_ENGINE_ARCH_QWEN3);
    /* shape disagrees with config: the tensor and both shapes are named */
    replace_in_config(dir, "\"intermediate_size\": 24", "\"intermediate_size\": 25");
    expect_load_error(dir, TK_EINVAL, "model.layers.0.mlp.gate_proj.weight\" has shape [24, 16] but config.json implies [25, 16]");
    fresh_model(dir, TK_ENGINE_ARCH_QWEN3);
    replace_in_config(dir, "\"Qwen3ForCausalLM\"", "\"MixtralForCausalLM\"");
    expect_load_error(dir, TK_EUNSUPPORTED, "unsupported architecture \"MixtralForCausalLM\"");
    fresh_model(dir, TK_ENGINE_ARCH_QWEN3);
    replace_in_config(dir, "\"tie_word_embeddings\": true", "\"tie_word_embeddings\": false");
    expect_load_error(dir, TK_EINVAL, "\"lm_head.weight\" is missing");
    fresh_model(dir, TK_ENGINE_ARCH_LLAMA);
    replace_in_config(dir, "\"rope_scaling\": null", "\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4}");
    expect_load_error(dir, TK_EUNSUPPORTED, "rope_scaling.rope_type: \"yarn\"");
    fresh_model(dir, TK_ENGINE_ARCH_LLAMA);
    replace_in_config(dir, "\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3");
    expect_load_error(dir, TK_EINVAL, "not a multiple of num_key_value_heads");
    fresh_model(dir, TK_ENGINE_ARCH_LLAMA);
    replace_in_config(dir, "\"hidden_size\": 16", "\"hidden_size\": \"16\"");
    expect_load_error(dir, TK_EINVAL, "hidden_size: expected a 32-bit integer, got string");
    fresh_model(dir, TK_ENGINE_ARCH_LLAMA);
    replace_in_config(dir, "\"attention_bias\": false", "\"attention_bias\": true");
    expect_load_error(dir, TK_EUNSUPPORTED, "attention_bias");
    write_text(dir, "config.json", "{\"architectures\": [\"LlamaForCausalLM\"]");
    expect_load_error(dir, TK_EPARSE, "config.json");

    /* truncated weights file */
    fresh_model(dir, TK_ENGINE_ARCH_LLAMA);
    char *st = tk_path_join(dir, "model.safetensors");
    struct stat sb;
    assert_int_equal(stat(st, &sb), 0);
    assert_int_equal(truncate(st, sb.st_size - 10), 0);
    expect_load_error(dir, TK_EPARSE, "\"lm_head.weight\": data_offsets end 22080 is beyond the data");
    /* an I64 tensor where a weight belongs */
    uint8_t buf[256];
    size_t n = image(buf, "{\"model.embed_tokens.weight\":{\"dtype\":\"I64\",\"shape\":[50,16],\"data_offsets\":[0,6400]}}",
                     0);
    uint8_t *big = calloc(1, n + 6400);
    memcpy(big, buf, n);
    assert_ok(tk_file_write_atomic(st, big, n + 6400, 0644, &e), &e);
    free(big);
    expect_load_error(dir, TK_EINVAL, "\"model.embed_tokens.weight\": dtype I64 is not supported");
    unlink(st);
    expect_load_error(dir, TK_ENOTFOUND, "model.safetensors");
    free(st);

    /* sharded: the index names a shard that does not exist / a tensor the index lacks */
    fresh_model(dir, TK_ENGINE_ARCH_LLAMA);
    write_text(dir, "model.safetensors.index.json", "{\"weight_map\": {\"model.embed_tokens.weight\": \"nope.safetensors\"}}");
    expect_load_error(dir, TK_ENOTFOUND, "nope.safetensors");
    write_text(dir, "model.safetensors.index.json", "{\"weight_map\": {\"model.embed_tokens.weight\": \"model.safetensors\"}}");
    expect_load_error(dir, TK_EINVAL, "missing from the index weight_map");
    write_text(dir, "model.safetensors.index.json", "{\"weight_map\": {\"x\": \"../etc/passwd\"}}");
    expect_load_error(dir, TK_EINVAL, "not a plain file name");
    write_text(dir, "model.safetensors.index.json", "{\"weight_map\": 3}");
    expect_load_error(dir, TK_EINVAL, "weight_map");
    assert_ok(tk_remove_tree(dir, &e), &e);
    free(dir);
    expect_load_error("/nonexistent/model", TK_ENOTFOUND, "config.json");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtypes_vs_torch), cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_corrupt_headers), cmocka_unit_test(test_bad_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
