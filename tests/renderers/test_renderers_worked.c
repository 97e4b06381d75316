/* Every renderer against the worked examples of the cookbook reference (§2.6 plain and thinking
 * conversations, §2.7 tool calling): exact text, per-character weights (⟦…⟧), example counts,
 * generation prompts, stop sequences, the sampled completion and what parse_response makes of
 * it. The examples were produced by the Python cookbook with a character-level tokenizer; the
 * char codec here reproduces that setting. Places where tinkerc fixes a bug the reference lists
 * are asserted explicitly below, with the reason. */
#include "render_util.h"

#include <jansson.h>

#include "char_codec.h"

static json_t *g_fixture;

static int setup(void **state) {
    json_error_t je;
    g_fixture = json_load_file("tests/data/renderers/worked_examples.json", 0, &je);
    if (!g_fixture) fprintf(stderr, "worked_examples.json: %s\n", je.text);
    return g_fixture ? 0 : -1;
}

static int teardown(void **state) {
    json_decref(g_fixture);
    return 0;
}

static tk_renderer *make(const char *name) {
    bool llama = !strcmp(name, "role_colon") || !strcmp(name, "llama3");
    tk_renderer_codec c = char_codec(llama);
    tk_renderer_opts o = {.current_date = "2025-01-01"};
    tk_renderer *r = NULL;
    tk_err e = {0};
    if (tk_renderer_new_with_codec(name, &c, &o, &r, &e)) fail_msg("%s: %s", name, e.msg);
    return r;
}

/* tinkerc claims the extension property wherever it holds (test_renderers_props checks both
 * directions); the cookbook reports False for the whole Kimi and Nemotron families. These
 * renderers write every turn the way it was sampled: kimi_k26_preserve_thinking keeps history
 * reasoning, and the thinking-off variants have no reasoning to lose. With the property,
 * build_supervised_examples needs one example, not one per turn. */
static bool claims_more(const char *name) {
    return !strcmp(name, "kimi_k26_preserve_thinking") || !strcmp(name, "kimi_k25_disable_thinking") ||
           !strcmp(name, "nemotron3_disable_thinking");
}

static bool check_sft(const tk_renderer *r, const tk_message *m, size_t n, tk_train_on_what w,
                      const char *want, const char *label) {
    tk_vec_i32 t = {0};
    tk_vec_f32 wt = {0};
    tk_err e = {0};
    if (tk_renderer_build_supervised_example(r, m, n, w, &t, &wt, &e)) {
        fprintf(stderr, "%s: %s\n", label, e.msg);
        return false;
    }
    assert_int_equal(t.len, wt.len);
    char *got = annotate(r, &t, &wt);
    bool ok = same_text(label, got, want);
    free(got);
    tk_vec_free(&t);
    tk_vec_free(&wt);
    return ok;
}

/* parse(encode(text)) must give termination + the message (compared as JSON values). */
static bool check_parse(const tk_renderer *r, const char *text, const char *want_term,
                        const json_t *want_msg, const char *label) {
    tk_vec_i32 ids = {0};
    tk_err e = {0};
    const tk_renderer_codec *c = tk_renderer_get_codec(r);
    assert_int_equal(c->encode(c->ctx, text, strlen(text), false, &ids, &e), 0);
    tk_parsed_response p;
    bool ok = tk_renderer_parse_response(r, ids.data, ids.len, &p, &e) == 0;
    if (!ok) fprintf(stderr, "%s: parse failed: %s\n", label, e.msg);
    if (ok && strcmp(tk_parse_termination_name(p.termination), want_term)) {
        fprintf(stderr, "%s: termination %s, want %s\n", label, tk_parse_termination_name(p.termination), want_term);
        ok = false;
    }
    if (ok) {
        tk_buf b = {0};
        assert_int_equal(tk_message_dump(&p.message, &b), 0);
        json_t *got = json_loads(b.data, 0, NULL);
        if (!json_equal(got, (json_t *)want_msg)) {
            char *w = json_dumps(want_msg, JSON_COMPACT);
            fprintf(stderr, "%s: parsed %s\n   want %s\n", label, b.data, w);
            free(w);
            ok = false;
        }
        json_decref(got);
        tk_buf_free(&b);
        tk_parsed_response_free(&p);
    }
    tk_vec_free(&ids);
    return ok;
}

/* The completion a sampler would return for the last message: SFT tokens after the prompt. */
static char *completion(const tk_renderer *r, const tk_message *m, size_t n, bool *prefix_ok) {
    tk_vec_i32 t = {0}, p = {0};
    tk_vec_f32 w = {0};
    tk_err e = {0};
    if (tk_renderer_build_supervised_example(r, m, n, TK_TRAIN_LAST_ASSISTANT_MESSAGE, &t, &w, &e))
        fail_msg("%s", e.msg);
    if (tk_renderer_build_generation_prompt(r, m, n - 1, NULL, NULL, &p, &e)) fail_msg("%s", e.msg);
    *prefix_ok = p.len <= t.len && (!p.len || !memcmp(p.data, t.data, p.len * sizeof(int32_t)));
    char *s = decode_all(r, t.data + p.len, *prefix_ok ? t.len - p.len : 0);
    tk_vec_free(&t);
    tk_vec_free(&p);
    tk_vec_free(&w);
    return s;
}

static int check_conversation(const char *name, const char *conv, const json_t *ex) {
    tk_renderer *r = make(name);
    tk_message m[5];
    std_conversation(m, !strcmp(conv, "think"));
    char label[128];
    int failures = 0;
    const json_t *x;
    tk_err e = {0};
    if (json_is_true(json_object_get(ex, "sft_raises"))) {
        tk_vec_i32 t = {0};
        tk_vec_f32 w = {0};
        int rc = tk_renderer_build_supervised_example(r, m, 5, TK_TRAIN_LAST_ASSISTANT_MESSAGE, &t, &w, &e);
        if (rc != TK_EINVAL || !strstr(e.msg, "thinking turned off")) {
            fprintf(stderr, "%s/%s: expected a refusal, got rc=%d (%s)\n", name, conv, rc, e.msg);
            failures++;
        }
        assert_int_equal(t.len, 0); /* nothing appended on failure */
        tk_vec_free(&t);
        tk_vec_free(&w);
    }
    if ((x = json_object_get(ex, "sft_last_message"))) {
        snprintf(label, sizeof label, "%s/%s SFT(last_assistant_message)", name, conv);
        failures += !check_sft(r, m, 5, TK_TRAIN_LAST_ASSISTANT_MESSAGE, json_string_value(x), label);
    }
    if ((x = json_object_get(ex, "sft_all_assistant"))) {
        snprintf(label, sizeof label, "%s/%s SFT(all_assistant_messages)", name, conv);
        failures += !check_sft(r, m, 5, TK_TRAIN_ALL_ASSISTANT_MESSAGES, json_string_value(x), label);
    }
    if ((x = json_object_get(ex, "n_examples_all_assistant"))) {
        tk_supervised_examples v = {0};
        if (tk_renderer_build_supervised_examples(r, m, 5, TK_TRAIN_ALL_ASSISTANT_MESSAGES, &v, &e))
            fail_msg("%s: %s", name, e.msg);
        json_int_t want = json_integer_value(x);
        if (claims_more(name) && strncmp(name, "kimi", 4)) want = 1; /* Kimi splits by user turn anyway */
        if ((json_int_t)v.len != want) {
            fprintf(stderr, "%s/%s: %zu examples, want %lld\n", name, conv, v.len, (long long)want);
            failures++;
        }
        tk_supervised_examples_free(&v);
    }
    if ((x = json_object_get(ex, "generation_prompt"))) {
        tk_vec_i32 t = {0};
        if (tk_renderer_build_generation_prompt(r, m, 4, NULL, NULL, &t, &e)) fail_msg("%s: %s", name, e.msg);
        char *got = decode_all(r, t.data, t.len);
        snprintf(label, sizeof label, "%s/%s generation prompt", name, conv);
        failures += !same_text(label, got, json_string_value(x));
        free(got);
        tk_vec_free(&t);
    }
    if ((x = json_object_get(ex, "stop"))) {
        tk_stop_sequences s;
        tk_renderer_stop_sequences(r, &s);
        size_t n = s.n_tokens + s.n_strings;
        bool ok = n == json_array_size(x);
        for (size_t i = 0; ok && i < n; i++) {
            char *got = i < s.n_tokens ? decode_all(r, &s.tokens[i], 1) : strdup(s.strings[i - s.n_tokens]);
            ok = !strcmp(got, json_string_value(json_array_get(x, i)));
            free(got);
        }
        if (!ok) {
            fprintf(stderr, "%s: stop sequences differ\n", name);
            failures++;
        }
    }
    if ((x = json_object_get(ex, "sampled"))) {
        bool prefix_ok;
        char *got = completion(r, m, 5, &prefix_ok);
        snprintf(label, sizeof label, "%s/%s sampled completion", name, conv);
        if (!prefix_ok) fprintf(stderr, "%s: SFT does not start with the generation prompt\n", label);
        failures += !prefix_ok || !same_text(label, got, json_string_value(x));
        free(got);
        snprintf(label, sizeof label, "%s/%s parse_response", name, conv);
        failures += !check_parse(r, json_string_value(x),
                                 json_string_value(json_object_get(ex, "parse_termination")),
                                 json_object_get(ex, "parse_message"), label);
    }
    if (json_object_get(ex, "note")) { /* nemotron3 (#860): the SFT does not extend the prompt */
        bool prefix_ok;
        free(completion(r, m, 5, &prefix_ok));
        if (prefix_ok) {
            fprintf(stderr, "%s/%s: expected the SFT sequence not to start with the prompt\n", name, conv);
            failures++;
        }
    }
    bool ext = json_is_true(json_object_get(json_object_get(json_object_get(g_fixture, "renderers"), name), "extension"));
    if (claims_more(name)) ext = true;
    if (tk_renderer_has_extension_property(r) != ext) {
        fprintf(stderr, "%s: has_extension_property %d, want %d\n", name, tk_renderer_has_extension_property(r), ext);
        failures++;
    }
    tk_renderer_free(r);
    return failures;
}

static bool implemented(const char *name) {
    return strncmp(name, "qwen3_8", 7) != 0; /* Qwen3.8 is out of scope */
}

static void test_plain_and_think(void **state) {
    const json_t *rs = json_object_get(g_fixture, "renderers");
    const char *name;
    json_t *v;
    int failures = 0, checked = 0;
    json_object_foreach((json_t *)rs, name, v) {
        if (!implemented(name)) continue;
        for (int k = 0; k < 2; k++) {
            const char *conv = k ? "think" : "plain";
            json_t *ex = json_object_get(v, conv);
            if (!ex) continue;
            failures += check_conversation(name, conv, ex);
            checked++;
        }
    }
    assert_true(checked >= 30);
    assert_int_equal(failures, 0);
}

/* ---- §2.7 tool calling ---- */

static const tk_tool_spec GET_WEATHER = {
    "get_weather", "Get weather",
    "{\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}"};

/* prefix + user + assistant tool call + tool result + answer (n = 4 or fewer messages after the
 * prefix) into conv. */
static void tool_conversation(const tk_renderer *r, bool kimi, tk_conversation *c) {
    tk_err e = {0};
    memset(c, 0, sizeof *c);
    if (tk_renderer_tool_prefix(r, &GET_WEATHER, 1, "Be brief.", c, &e)) fail_msg("%s", e.msg);
    const char *id = kimi ? "functions.get_weather:0" : "call_1";
    tk_tool_call call = {id, "get_weather", "{\"city\": \"Paris\"}"};
    tk_message m[] = {
        {.role = "user", .content = "Weather in Paris?"},
        {.role = "assistant", .content = "", .tool_calls = &call, .n_tool_calls = 1},
        {.role = "tool", .content = "18C sunny", .name = "get_weather", .tool_call_id = id},
        {.role = "assistant", .content = "It is 18C and sunny."},
    };
    for (size_t i = 0; i < 4; i++) assert_ok(tk_conversation_append(c, &m[i], &e), &e);
}

static char *replace(const char *s, const char *from, const char *to) {
    tk_buf b = {0};
    const char *p;
    while ((p = strstr(s, from))) {
        assert_int_equal(tk_buf_append(&b, s, (size_t)(p - s)), 0);
        assert_int_equal(tk_buf_puts(&b, to), 0);
        s = p + strlen(from);
    }
    assert_int_equal(tk_buf_puts(&b, s), 0);
    return tk_buf_detach(&b, NULL);
}

#define EOS_DS "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"
#define CALLS_END_DS "<\xef\xbd\x9ctool\xe2\x96\x81" "calls\xe2\x96\x81" "end\xef\xbd\x9c>"

static void test_tool_calling(void **state) {
    const json_t *ts = json_object_get(g_fixture, "tools");
    const char *name;
    json_t *ex;
    int failures = 0, checked = 0;
    json_object_foreach((json_t *)ts, name, ex) {
        if (!implemented(name)) continue;
        tk_renderer *r = make(name);
        bool kimi = !strncmp(name, "kimi", 4), deepseek = !strncmp(name, "deepseek", 8);
        tk_conversation c;
        tool_conversation(r, kimi, &c);
        char label[128];
        snprintf(label, sizeof label, "%s tool SFT(last_assistant_turn)", name);
        char *want = strdup(json_string_value(json_object_get(ex, "sft")));
        if (deepseek) {
            /* Listed upstream bug: the cookbook writes no EOS after a tool-call-only assistant
             * turn, while the model's template (and tinkerc) end every assistant turn with it. */
            char *fixed = replace(want, CALLS_END_DS CLOSE_MARK, CALLS_END_DS EOS_DS CLOSE_MARK);
            assert_string_not_equal(fixed, want);
            free(want);
            want = fixed;
        }
        failures += !check_sft(r, c.messages, c.n_messages, TK_TRAIN_LAST_ASSISTANT_TURN, want, label);
        free(want);
        json_t *sampled = json_object_get(ex, "sampled_tool_call");
        if (sampled) {
            size_t n_tc = c.n_messages - 2; /* up to the tool-call turn */
            bool prefix_ok;
            char *got = completion(r, c.messages, n_tc, &prefix_ok);
            const char *want_s = json_string_value(sampled);
            char *fixed = deepseek ? replace(want_s, CALLS_END_DS, CALLS_END_DS EOS_DS) : strdup(want_s);
            snprintf(label, sizeof label, "%s sampled tool-call turn", name);
            failures += !prefix_ok || !same_text(label, got, fixed);
            json_t *want_msg = json_deep_copy(json_object_get(ex, "parse_message"));
            const char *term = json_string_value(json_object_get(ex, "parse_termination"));
            if (deepseek) {
                /* with the EOS the turn parses cleanly into its tool call */
                json_decref(want_msg);
                want_msg = json_loads("{\"role\": \"assistant\", \"content\": \"\", \"tool_calls\": "
                                      "[{\"type\": \"function\", \"id\": null, \"function\": {\"name\": "
                                      "\"get_weather\", \"arguments\": \"{\\\"city\\\": \\\"Paris\\\"}\"}}]}",
                                      0, NULL);
                term = "stop_sequence";
            }
            if (!strncmp(name, "gpt_oss", 7)) {
                /* the cookbook returns the raw text as content when a response holds only a tool
                 * call; tinkerc returns empty content so the turn round-trips */
                json_object_set_new(want_msg, "content", json_string(""));
            }
            snprintf(label, sizeof label, "%s tool-call parse_response", name);
            failures += !check_parse(r, fixed, term, want_msg, label);
            json_decref(want_msg);
            free(fixed);
            free(got);
        }
        tk_conversation_free(&c);
        tk_renderer_free(r);
        checked++;
    }
    assert_true(checked >= 8);
    assert_int_equal(failures, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_and_think),
        cmocka_unit_test(test_tool_calling),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
