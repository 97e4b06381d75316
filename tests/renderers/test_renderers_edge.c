/* Edge cases of the cookbook reference (§2.4, §2.7, §9) and the bad inputs a renderer must
 * refuse with a clear error: role_colon's EOS / stop / malformed parses, literal special-token
 * text inside messages, empty content, unterminated and invalid tool blocks, reasoning-off
 * renderers refusing reasoning turns, conversations without a user message, every TrainOnWhat
 * mode, prefills, and Python-compatible JSON in prompts. Expected strings follow the models'
 * templates and Python's json module (checked with python3 when written). */
#include "render_util.h"

#include <jansson.h>

#include "char_codec.h"
#include "renderers/internal.h"

static tk_renderer *mk(const char *name) {
    tk_renderer_codec c = char_codec(!strcmp(name, "role_colon") || !strcmp(name, "llama3"));
    tk_renderer *r;
    tk_err e = {0};
    tk_renderer_opts o = {.current_date = "2025-01-01"};
    if (tk_renderer_new_with_codec(name, &c, &o, &r, &e)) fail_msg("%s", e.msg);
    return r;
}

static tk_vec_i32 enc(const tk_renderer *r, const char *text) {
    tk_vec_i32 v = {0};
    tk_err e = {0};
    const tk_renderer_codec *c = tk_renderer_get_codec(r);
    assert_int_equal(c->encode(c->ctx, text, strlen(text), false, &v, &e), 0);
    return v;
}

static void parse_text(const tk_renderer *r, const char *text, tk_parsed_response *p) {
    tk_vec_i32 v = enc(r, text);
    tk_err e = {0};
    assert_ok(tk_renderer_parse_response(r, v.data, v.len, p, &e), &e);
    tk_vec_free(&v);
}

static char *sft(const tk_renderer *r, const tk_message *m, size_t n, tk_train_on_what w) {
    tk_vec_i32 t = {0};
    tk_vec_f32 wt = {0};
    tk_err e = {0};
    assert_ok(tk_renderer_build_supervised_example(r, m, n, w, &t, &wt, &e), &e);
    char *s = annotate(r, &t, &wt);
    tk_vec_free(&t);
    tk_vec_free(&wt);
    return s;
}

static char *prompt(const tk_renderer *r, const tk_message *m, size_t n, const char *prefill) {
    tk_vec_i32 t = {0};
    tk_err e = {0};
    assert_ok(tk_renderer_build_generation_prompt(r, m, n, NULL, prefill, &t, &e), &e);
    char *s = decode_all(r, t.data, t.len);
    tk_vec_free(&t);
    return s;
}

/* ---- role_colon termination (§2.4) ---- */

static void test_role_colon_terminations(void **state) {
    tk_renderer *r = mk("role_colon");
    int32_t eos = char_id("<|end_of_text|>");
    struct { const char *text; bool eos; tk_parse_termination t; const char *content; } cases[] = {
        {" 6\n\nUser:", false, TK_PARSE_STOP_SEQUENCE, "6"},
        {" 6", true, TK_PARSE_EOS, "6"},           /* base model ended with EOS: clean */
        {" 6", false, TK_PARSE_MALFORMED, "6"},    /* truncated */
        {" 6\n\nUser:", true, TK_PARSE_MALFORMED, "6"}, /* EOS after the stop: wrong stops */
        {" 6\n\nUser: x\n\nUser:", false, TK_PARSE_MALFORMED, "6"}, /* two stops */
        {" two\n\nlines\n\n", true, TK_PARSE_EOS, "two\n\nlines"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tk_vec_i32 v = enc(r, cases[i].text);
        if (cases[i].eos) assert_int_equal(tk_vec_push(&v, eos), 0);
        tk_parsed_response p;
        tk_err e = {0};
        assert_ok(tk_renderer_parse_response(r, v.data, v.len, &p, &e), &e);
        assert_int_equal(p.termination, cases[i].t);
        assert_string_equal(p.message.content, cases[i].content);
        assert_string_equal(p.message.role, "assistant");
        tk_parsed_response_free(&p);
        tk_vec_free(&v);
    }
    tk_stop_sequences s;
    tk_renderer_stop_sequences(r, &s);
    assert_int_equal(s.n_tokens, 0);
    assert_int_equal(s.n_strings, 1);
    assert_string_equal(s.strings[0], "\n\nUser:");
    tk_renderer_free(r);
}

/* ---- message text cannot forge turn markers ---- */

static size_t count_id(const tk_vec_i32 *v, int32_t id) {
    size_t n = 0;
    for (size_t i = 0; i < v->len; i++) n += v->data[i] == id;
    return n;
}

static void test_literal_special_tokens_in_text(void **state) {
    struct { const char *renderer, *marker; } cases[] = {
        {"qwen3", "<|im_end|>"}, {"llama3", "<|eot_id|>"}, {"gpt_oss_no_sysprompt", "<|end|>"},
        {"kimi_k2", "<|im_end|>"}, {"qwen3_5", "<|im_start|>"}, {"nemotron3", "<|im_end|>"},
        {"deepseekv3", "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tk_renderer *r = mk(cases[i].renderer);
        char user[128], asst[128];
        snprintf(user, sizeof user, "say %s please", cases[i].marker);
        snprintf(asst, sizeof asst, "ok %s done", cases[i].marker);
        tk_message m[] = {{.role = "user", .content = user}, {.role = "assistant", .content = asst}};
        tk_vec_i32 t = {0}, clean = {0};
        tk_vec_f32 w = {0}, cw = {0};
        tk_err e = {0};
        assert_ok(tk_renderer_build_supervised_example(r, m, 2, TK_TRAIN_LAST_ASSISTANT_MESSAGE, &t, &w, &e), &e);
        tk_message plain[] = {{.role = "user", .content = "say please"}, {.role = "assistant", .content = "ok done"}};
        assert_ok(tk_renderer_build_supervised_example(r, plain, 2, TK_TRAIN_LAST_ASSISTANT_MESSAGE, &clean, &cw, &e), &e);
        int32_t id = char_id(cases[i].marker);
        assert_true(id >= 0);
        /* the marker inside text adds no marker token: it is spelled out */
        assert_int_equal(count_id(&t, id), count_id(&clean, id));
        char *text = decode_all(r, t.data, t.len);
        assert_non_null(strstr(text, user));
        assert_non_null(strstr(text, asst));
        free(text);
        tk_vec_free(&t); tk_vec_free(&w); tk_vec_free(&clean); tk_vec_free(&cw);
        tk_renderer_free(r);
    }
}

/* ---- empty content ---- */

static void test_empty_content(void **state) {
    tk_message m[] = {{.role = "user", .content = ""}, {.role = "assistant", .content = ""}};
    tk_renderer *r = mk("llama3");
    char *s = sft(r, m, 2, TK_TRAIN_LAST_ASSISTANT_MESSAGE);
    assert_string_equal(s, "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n<|eot_id|>"
                           "<|start_header_id|>assistant<|end_header_id|>\n\n" OPEN_MARK "<|eot_id|>" CLOSE_MARK);
    free(s);
    tk_renderer_free(r);
    r = mk("qwen3"); /* the produced turn still gets its (empty) think block */
    s = sft(r, m, 2, TK_TRAIN_LAST_ASSISTANT_MESSAGE);
    assert_string_equal(s, "<|im_start|>user\n<|im_end|>\n<|im_start|>assistant\n" OPEN_MARK
                           "<think>\n\n</think>\n\n<|im_end|>" CLOSE_MARK);
    free(s);
    tk_renderer_free(r);
    r = mk("role_colon");
    s = sft(r, m, 2, TK_TRAIN_LAST_ASSISTANT_MESSAGE);
    assert_string_equal(s, "<|begin_of_text|>User: \n\nAssistant:" OPEN_MARK " \n\nUser:" CLOSE_MARK);
    free(s);
    tk_renderer_free(r);
    /* an empty list is content too */
    tk_message l[] = {{.role = "user", .content = "hi"}, {.role = "assistant", .content_is_list = true}};
    r = mk("kimi_k2");
    s = sft(r, l, 2, TK_TRAIN_LAST_ASSISTANT_MESSAGE);
    assert_non_null(strstr(s, "<|im_assistant|>assistant<|im_middle|>" OPEN_MARK "<think></think><|im_end|>" CLOSE_MARK));
    free(s);
    tk_renderer_free(r);
}

/* ---- tool blocks that do not parse ---- */

static void expect_unparsed(const char *renderer, const char *text, const char *error_prefix) {
    tk_renderer *r = mk(renderer);
    tk_parsed_response p;
    parse_text(r, text, &p);
    if (p.termination != TK_PARSE_STOP_SEQUENCE || p.message.n_unparsed_tool_calls != 1 ||
        strncmp(p.message.unparsed_tool_calls[0].error, error_prefix, strlen(error_prefix)))
        fail_msg("%s: %s → termination %s, %zu unparsed (%s)", renderer, text,
                 tk_parse_termination_name(p.termination), p.message.n_unparsed_tool_calls,
                 p.message.n_unparsed_tool_calls ? p.message.unparsed_tool_calls[0].error : "");
    assert_int_equal(p.message.n_tool_calls, 0);
    assert_true(strlen(p.message.unparsed_tool_calls[0].raw_text) > 0);
    tk_parsed_response_free(&p);
    tk_renderer_free(r);
}

#define DS_CALLS "<\xef\xbd\x9ctool\xe2\x96\x81" "calls\xe2\x96\x81" "begin\xef\xbd\x9c>"
#define DS_CALL "<\xef\xbd\x9ctool\xe2\x96\x81" "call\xe2\x96\x81" "begin\xef\xbd\x9c>"
#define DS_SEP "<\xef\xbd\x9ctool\xe2\x96\x81" "sep\xef\xbd\x9c>"
#define DS_CALL_END "<\xef\xbd\x9ctool\xe2\x96\x81" "call\xe2\x96\x81" "end\xef\xbd\x9c>"
#define DS_CALLS_END "<\xef\xbd\x9ctool\xe2\x96\x81" "calls\xe2\x96\x81" "end\xef\xbd\x9c>"
#define DS_EOS "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"

static void test_unterminated_tool_blocks(void **state) {
    expect_unparsed("qwen3", "<think>\n\n</think>\n\n<tool_call>\n{\"name\": \"f\", \"arguments\": {}}<|im_end|>",
                    "unterminated tool block: '<tool_call>'");
    expect_unparsed("qwen3_5", "\n</think>\n\n<tool_call>\n<function=f>\n<parameter=a>\n1<|im_end|>",
                    "unterminated tool block");
    expect_unparsed("nemotron3", "Go.\n</think>\n<tool_call>\n<function=f><|im_end|>", "unterminated tool block");
    expect_unparsed("deepseekv3", "x" DS_CALLS DS_CALL "f" DS_SEP "{}" DS_EOS, "unterminated tool block");
    expect_unparsed("kimi_k2", "<think></think><|tool_calls_section_begin|><|tool_call_begin|>functions.f:0"
                               "<|tool_call_argument_begin|>{}<|im_end|>",
                    "unterminated tool block");
    expect_unparsed("gpt_oss_no_sysprompt", " to=functions.f<|channel|>commentary <|constrain|>json<|message|><|call|>",
                    "unterminated tool block");
}

static void test_invalid_tool_json(void **state) {
    expect_unparsed("qwen3", "<tool_call>\n{\"name\": \"f\", \"arguments\": {bad}}\n</tool_call><|im_end|>", "Invalid JSON");
    expect_unparsed("qwen3", "<tool_call>\n[1, 2]\n</tool_call><|im_end|>", "Tool call is not a JSON object");
    expect_unparsed("qwen3", "<tool_call>\n{\"arguments\": {}}\n</tool_call><|im_end|>", "Missing or invalid 'name'");
    expect_unparsed("qwen3", "<tool_call>\n{\"name\": \"f\", \"arguments\": 3}\n</tool_call><|im_end|>",
                    "Missing or invalid 'arguments'");
    expect_unparsed("qwen3_5", "<tool_call>\n<function=f>\nstray\n<parameter=a>\n1\n</parameter>\n</function>\n</tool_call><|im_end|>",
                    "Unexpected non-parameter content");
    expect_unparsed("deepseekv3", DS_CALLS DS_CALL "f" DS_SEP "{nope" DS_CALL_END DS_CALLS_END DS_EOS, "Invalid JSON");
    expect_unparsed("kimi_k2", "<|tool_calls_section_begin|><|tool_call_begin|>functions.f:0<|tool_call_argument_begin|>"
                               "{nope<|tool_call_end|><|tool_calls_section_end|><|im_end|>", "Invalid JSON");
    expect_unparsed("gpt_oss_no_sysprompt", " to=functions.f<|channel|>commentary <|constrain|>json<|message|>{nope<|call|>",
                    "Invalid JSON");
}

/* several calls, text before them, ids and XML values */
static void test_tool_calls_parse(void **state) {
    tk_renderer *r = mk("qwen3");
    tk_parsed_response p;
    parse_text(r, "<think>\nplan\n</think>\n\nChecking.\n<tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": 1}}\n"
                  "</tool_call>\n<tool_call>\n{\"name\": \"b\", \"arguments\": {\"y\": \"\xc3\xa9\"}, \"id\": \"c7\"}\n</tool_call><|im_end|>",
               &p);
    assert_int_equal(p.message.n_tool_calls, 2);
    assert_string_equal(p.message.tool_calls[0].name, "a");
    assert_string_equal(p.message.tool_calls[0].arguments, "{\"x\": 1}");
    assert_string_equal(p.message.tool_calls[1].arguments, "{\"y\": \"\xc3\xa9\"}");
    assert_string_equal(p.message.tool_calls[1].id, "c7");
    assert_int_equal(p.message.n_parts, 3); /* thinking, "Checking.", "" between the calls */
    assert_string_equal(p.message.parts[0].text, "plan");
    assert_string_equal(p.message.parts[1].text, "Checking.");
    tk_parsed_response_free(&p);
    tk_renderer_free(r);

    r = mk("qwen3_5"); /* values are JSON-decoded when they can be */
    parse_text(r, "\n</think>\n\n<tool_call>\n<function=f>\n<parameter=n>\n3\n</parameter>\n<parameter=s>\nParis, "
                  "France\n</parameter>\n<parameter=o>\n{\"k\": [1]}\n</parameter>\n</function>\n</tool_call><|im_end|>",
               &p);
    assert_int_equal(p.message.n_tool_calls, 1);
    assert_string_equal(p.message.tool_calls[0].arguments, "{\"n\": 3, \"s\": \"Paris, France\", \"o\": {\"k\": [1]}}");
    tk_parsed_response_free(&p);
    tk_renderer_free(r);

    r = mk("kimi_k2");
    parse_text(r, "<think>hm</think>ok<|tool_calls_section_begin|><|tool_call_begin|>functions.get_x:0"
                  "<|tool_call_argument_begin|>{\"a\": 1}<|tool_call_end|><|tool_call_begin|> functions.get_y:1 "
                  "<|tool_call_argument_begin|> {} <|tool_call_end|><|tool_calls_section_end|><|im_end|>",
               &p);
    assert_int_equal(p.message.n_tool_calls, 2);
    assert_string_equal(p.message.tool_calls[1].name, "get_y");
    assert_string_equal(p.message.tool_calls[1].id, "functions.get_y:1");
    assert_string_equal(p.message.tool_calls[1].arguments, "{}");
    assert_int_equal(p.message.n_parts, 2);
    tk_parsed_response_free(&p);
    tk_renderer_free(r);
}

/* ---- multiple stop tokens mean the sampler had the wrong stops ---- */

static void test_multiple_stop_tokens(void **state) {
    const char *names[] = {"qwen3", "llama3", "deepseekv3", "kimi_k2", "gpt_oss_no_sysprompt"};
    const char *texts[] = {"a<|im_end|>b<|im_end|>", "a<|eot_id|>b<|eot_id|>", "a" DS_EOS "b" DS_EOS,
                           "a<|im_end|>b<|im_end|>", "<|channel|>final<|message|>a<|return|>b<|return|>"};
    for (size_t i = 0; i < 5; i++) {
        tk_renderer *r = mk(names[i]);
        tk_vec_i32 v = enc(r, texts[i]);
        tk_parsed_response p;
        tk_err e = {0};
        assert_err(tk_renderer_parse_response(r, v.data, v.len, &p, &e), TK_EINVAL, &e, "stop");
        tk_vec_free(&v);
        tk_renderer_free(r);
    }
    /* truncated responses are MALFORMED, with the raw text as content */
    tk_renderer *r = mk("qwen3");
    tk_parsed_response p;
    parse_text(r, "<think>\nunfinished", &p);
    assert_int_equal(p.termination, TK_PARSE_MALFORMED);
    assert_string_equal(p.message.content, "<think>\nunfinished");
    tk_parsed_response_free(&p);
    tk_renderer_free(r);
}

/* ---- reasoning-off renderers refuse a turn that reasoned ---- */

static void test_reasoning_off_refuses(void **state) {
    const char *names[] = {"qwen3_disable_thinking", "qwen3_5_disable_thinking", "kimi_k25_disable_thinking",
                           "nemotron3_disable_thinking", "nemotron3_ultra_disable_thinking"};
    static const tk_content_part parts[] = {{TK_PART_THINKING, "hmm"}, {TK_PART_TEXT, "4"}};
    tk_message m[] = {{.role = "user", .content = "2+2?"},
                      {.role = "assistant", .content_is_list = true, .parts = parts, .n_parts = 2}};
    for (size_t i = 0; i < 5; i++) {
        tk_renderer *r = mk(names[i]);
        assert_true(tk_renderer_disables_thinking(r));
        tk_vec_i32 t = {0};
        tk_vec_f32 w = {0};
        tk_err e = {0};
        assert_err(tk_renderer_build_supervised_example(r, m, 2, TK_TRAIN_LAST_ASSISTANT_MESSAGE, &t, &w, &e),
                   TK_EINVAL, &e, "thinking turned off");
        assert_non_null(strstr(e.msg, names[i]));
        assert_int_equal(t.len, 0);
        assert_int_equal(w.len, 0);
        /* reasoning in history is fine: it is not the produced turn */
        tk_message h[] = {m[0], m[1], {.role = "user", .content = "again"}, {.role = "assistant", .content = "4"}};
        assert_ok(tk_renderer_build_supervised_example(r, h, 4, TK_TRAIN_LAST_ASSISTANT_MESSAGE, &t, &w, &e), &e);
        tk_vec_free(&t); tk_vec_free(&w);
        tk_renderer_free(r);
    }
}

/* ---- conversations without a user message ---- */

static void test_no_user_message(void **state) {
    tk_message m[] = {{.role = "system", .content = "S"}, {.role = "assistant", .content = "A"}};
    tk_renderer *r = mk("qwen3"); /* the template frames nothing when no user message exists */
    char *s = sft(r, m, 2, TK_TRAIN_LAST_ASSISTANT_MESSAGE);
    assert_string_equal(s, "<|im_start|>system\nS<|im_end|>\n<|im_start|>assistant\n" OPEN_MARK "A<|im_end|>" CLOSE_MARK);
    free(s);
    /* the turn starts at the first message: every assistant message is trained */
    tk_message two[] = {{.role = "assistant", .content = "A"}, {.role = "assistant", .content = "B"}};
    s = sft(r, two, 2, TK_TRAIN_LAST_ASSISTANT_TURN);
    assert_string_equal(s, "<|im_start|>assistant\n" OPEN_MARK "A<|im_end|>" CLOSE_MARK "\n<|im_start|>assistant\n"
                           OPEN_MARK "B<|im_end|>" CLOSE_MARK);
    free(s);
    tk_renderer_free(r);
    r = mk("qwen3_disable_thinking"); /* its prompt opens a block the document would not have */
    tk_vec_i32 t = {0};
    tk_vec_f32 w = {0};
    tk_err e = {0};
    assert_err(tk_renderer_build_supervised_example(r, m, 2, TK_TRAIN_LAST_ASSISTANT_MESSAGE, &t, &w, &e),
               TK_EINVAL, &e, "no user message");
    assert_int_equal(t.len, 0); /* nothing appended; the vectors stay the caller's to free */
    tk_vec_free(&t);
    tk_vec_free(&w);
    tk_renderer_free(r);
    r = mk("llama3");
    s = sft(r, m, 2, TK_TRAIN_LAST_ASSISTANT_MESSAGE);
    assert_non_null(strstr(s, OPEN_MARK "A<|eot_id|>" CLOSE_MARK));
    free(s);
    tk_renderer_free(r);
    /* an empty conversation prompts the first turn */
    r = mk("kimi_k2");
    s = prompt(r, NULL, 0, NULL);
    assert_string_equal(s, "<|im_system|>system<|im_middle|>You are Kimi, an AI assistant created by Moonshot AI.<|im_end|>"
                           "<|im_assistant|>assistant<|im_middle|>");
    free(s);
    tk_renderer_free(r);
}

/* ---- every TrainOnWhat ---- */

static void test_train_on_what_modes(void **state) {
    tk_renderer *r = mk("llama3");
    tk_message m[] = {{.role = "system", .content = "S"}, {.role = "user", .content = "U"},
                      {.role = "assistant", .content = "A"}, {.role = "user", .content = "V"},
                      {.role = "assistant", .content = "B"}};
#define H(role) "<|start_header_id|>" role "<|end_header_id|>\n\n"
#define O OPEN_MARK
#define C CLOSE_MARK
    struct { tk_train_on_what w; const char *want; } cases[] = {
        {TK_TRAIN_LAST_ASSISTANT_MESSAGE, "<|begin_of_text|>" H("system") "S<|eot_id|>" H("user") "U<|eot_id|>" H("assistant") "A<|eot_id|>" H("user") "V<|eot_id|>" H("assistant") O "B<|eot_id|>" C},
        {TK_TRAIN_LAST_ASSISTANT_TURN, "<|begin_of_text|>" H("system") "S<|eot_id|>" H("user") "U<|eot_id|>" H("assistant") "A<|eot_id|>" H("user") "V<|eot_id|>" H("assistant") O "B<|eot_id|>" C},
        {TK_TRAIN_ALL_ASSISTANT_MESSAGES, "<|begin_of_text|>" H("system") "S<|eot_id|>" H("user") "U<|eot_id|>" H("assistant") O "A<|eot_id|>" C H("user") "V<|eot_id|>" H("assistant") O "B<|eot_id|>" C},
        {TK_TRAIN_ALL_MESSAGES, "<|begin_of_text|>" H("system") O "S<|eot_id|>" C H("user") O "U<|eot_id|>" C H("assistant") O "A<|eot_id|>" C H("user") O "V<|eot_id|>" C H("assistant") O "B<|eot_id|>" C},
        {TK_TRAIN_ALL_TOKENS, "<|begin_of_text|>" O H("system") "S<|eot_id|>" H("user") "U<|eot_id|>" H("assistant") "A<|eot_id|>" H("user") "V<|eot_id|>" H("assistant") "B<|eot_id|>" C},
        {TK_TRAIN_ALL_USER_AND_SYSTEM_MESSAGES, "<|begin_of_text|>" H("system") O "S<|eot_id|>" C H("user") O "U<|eot_id|>" C H("assistant") "A<|eot_id|>" H("user") O "V<|eot_id|>" C H("assistant") "B<|eot_id|>"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *s = sft(r, m, 5, cases[i].w);
        if (strcmp(s, cases[i].want)) fail_msg("%s:\n got  %s\n want %s", tk_train_on_what_name(cases[i].w), s, cases[i].want);
        free(s);
    }
    /* customized: every message says; absent anywhere is an error, and so is present elsewhere */
    tk_message c[5];
    memcpy(c, m, sizeof c);
    for (size_t i = 0; i < 5; i++) c[i].trainable = i == 1 || i == 4 ? TK_TRAINABLE_TRUE : TK_TRAINABLE_FALSE;
    char *s = sft(r, c, 5, TK_TRAIN_CUSTOMIZED);
    assert_string_equal(s, "<|begin_of_text|>" H("system") "S<|eot_id|>" H("user") O "U<|eot_id|>" C H("assistant") "A<|eot_id|>" H("user") "V<|eot_id|>" H("assistant") O "B<|eot_id|>" C);
    free(s);
    tk_vec_i32 t = {0};
    tk_vec_f32 w = {0};
    tk_err e = {0};
    c[2].trainable = TK_TRAINABLE_UNSET;
    assert_err(tk_renderer_build_supervised_example(r, c, 5, TK_TRAIN_CUSTOMIZED, &t, &w, &e), TK_EINVAL, &e,
               "messages[2]: train_on_what=customized needs \"trainable\"");
    assert_err(tk_renderer_build_supervised_example(r, c, 5, TK_TRAIN_ALL_MESSAGES, &t, &w, &e), TK_EINVAL, &e,
               "\"trainable\" is only read with train_on_what=customized");
    assert_err(tk_renderer_build_supervised_example(r, m, 5, (tk_train_on_what)42, &t, &w, &e), TK_EINVAL, &e,
               "unknown train_on_what");
    assert_int_equal(t.len, 0);
    /* names */
    tk_train_on_what x;
    assert_ok(tk_train_on_what_parse("LAST_ASSISTANT_TURN", &x, &e), &e);
    assert_int_equal(x, TK_TRAIN_LAST_ASSISTANT_TURN);
    assert_err(tk_train_on_what_parse("everything", &x, &e), TK_EINVAL, &e, "all_user_and_system_messages");
    assert_string_equal(tk_train_on_what_name(TK_TRAIN_CUSTOMIZED), "customized");
    tk_renderer_free(r);
#undef H
#undef O
#undef C
}

/* LAST_ASSISTANT_TURN covers every assistant message after the last user message (tool calls too) */
static void test_last_assistant_turn_with_tools(void **state) {
    tk_renderer *r = mk("qwen3_instruct");
    tk_tool_call call = {"c1", "f", "{\"q\": 1}"};
    tk_message m[] = {{.role = "user", .content = "U"},
                      {.role = "assistant", .content = "", .tool_calls = &call, .n_tool_calls = 1},
                      {.role = "tool", .content = "R", .tool_call_id = "c1", .name = "f"},
                      {.role = "assistant", .content = "A"}};
    char *s = sft(r, m, 4, TK_TRAIN_LAST_ASSISTANT_TURN);
    assert_string_equal(s, "<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n" OPEN_MARK
                           "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"q\": 1}}\n</tool_call><|im_end|>" CLOSE_MARK
                           "\n<|im_start|>user\n<tool_response>\nR\n</tool_response><|im_end|>\n<|im_start|>assistant\n"
                           OPEN_MARK "A<|im_end|>" CLOSE_MARK);
    free(s);
    tk_renderer_free(r);
}

/* ---- prefills ---- */

static void test_prefill(void **state) {
    tk_message m[] = {{.role = "user", .content = "U"}};
    tk_renderer *r = mk("deepseekv3_thinking"); /* the caller's prefill follows the format's <think> */
    char *s = prompt(r, m, 1, "Let me");
    assert_string_equal(s, "<\xef\xbd\x9c" "begin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c><\xef\xbd\x9cUser\xef\xbd\x9c>U"
                           "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c><think>Let me");
    free(s);
    tk_renderer_free(r);
    r = mk("qwen3");
    s = prompt(r, m, 1, "<think>\n");
    assert_string_equal(s, "<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n<think>\n");
    free(s);
    tk_renderer_free(r);
    /* a generation prompt for another role */
    r = mk("llama3");
    tk_vec_i32 t = {0};
    tk_err e = {0};
    assert_ok(tk_renderer_build_generation_prompt(r, m, 1, "user", NULL, &t, &e), &e);
    s = decode_all(r, t.data, t.len);
    assert_string_equal(s, "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nU<|eot_id|>"
                           "<|start_header_id|>user<|end_header_id|>\n\n");
    free(s);
    tk_vec_free(&t);
    tk_renderer_free(r);
}

/* ---- what formats refuse ---- */

static void test_refusals(void **state) {
    tk_err e = {0};
    tk_conversation out = {0};
    tk_tool_spec t = {"f", "d", "{}"};
    tk_renderer *r = mk("llama3");
    assert_err(tk_renderer_tool_prefix(r, &t, 1, NULL, &out, &e), TK_EUNSUPPORTED, &e, "no tool-calling convention");
    static const tk_content_part img[] = {{TK_PART_IMAGE, "data:image/png;base64,AAAA"}};
    tk_message m[] = {{.role = "user", .content_is_list = true, .parts = img, .n_parts = 1}};
    tk_vec_i32 v = {0};
    tk_renderer_free(r);
    r = mk("qwen3");
    assert_err(tk_renderer_build_generation_prompt(r, m, 1, NULL, NULL, &v, &e), TK_EUNSUPPORTED, &e,
               "messages[0].content[0]: image parts are not supported");
    tk_tool_spec bad = {"f", "d", "[1]"};
    assert_err(tk_renderer_tool_prefix(r, &bad, 1, NULL, &out, &e), TK_EINVAL, &e, "tool \"f\": parameters must be a JSON object");
    tk_tool_spec noname = {NULL, "d", "{}"};
    assert_err(tk_renderer_tool_prefix(r, &noname, 1, NULL, &out, &e), TK_EINVAL, &e, "tools[0]: name is missing");
    tk_tool_call badargs = {"c", "f", "{not json"};
    tk_message tc[] = {{.role = "user", .content = "u"}, {.role = "assistant", .content = "", .tool_calls = &badargs, .n_tool_calls = 1}};
    assert_err(tk_renderer_build_generation_prompt(r, tc, 2, NULL, NULL, &v, &e), TK_EINVAL, &e,
               "messages[1].tool_calls[0]: tool call \"f\": arguments are not valid JSON");
    tk_message norole[] = {{.content = "x"}};
    assert_err(tk_renderer_build_generation_prompt(r, norole, 1, NULL, NULL, &v, &e), TK_EINVAL, &e, "messages[0]: role is missing");
    assert_int_equal(v.len, 0);
    tk_renderer_free(r);
    /* DeepSeek: a system message after index 0 needs system_role_as_user */
    r = mk("deepseekv3");
    tk_message late[] = {{.role = "user", .content = "u"}, {.role = "system", .content = "s"}};
    assert_err(tk_renderer_build_generation_prompt(r, late, 2, NULL, NULL, &v, &e), TK_EINVAL, &e, "system_role_as_user");
    tk_message odd[] = {{.role = "narrator", .content = "x"}};
    assert_err(tk_renderer_build_generation_prompt(r, odd, 1, NULL, NULL, &v, &e), TK_EINVAL, &e, "unsupported role \"narrator\"");
    tk_renderer_free(r);
    tk_renderer_codec c = char_codec(false);
    tk_renderer_opts o = {.system_role_as_user = true};
    assert_ok(tk_renderer_new_with_codec("deepseekv3", &c, &o, &r, &e), &e);
    assert_ok(tk_renderer_build_generation_prompt(r, late, 2, NULL, NULL, &v, &e), &e);
    char *s = decode_all(r, v.data, v.len);
    assert_non_null(strstr(s, "u<\xef\xbd\x9cUser\xef\xbd\x9c>s"));
    free(s);
    tk_vec_free(&v);
    tk_renderer_free(r);
    /* role_colon and llama3 have no reasoning */
    static const tk_content_part think[] = {{TK_PART_THINKING, "t"}, {TK_PART_TEXT, "a"}};
    tk_message th[] = {{.role = "user", .content = "u"}, {.role = "assistant", .content_is_list = true, .parts = think, .n_parts = 2}};
    r = mk("role_colon");
    tk_vec_f32 w = {0};
    assert_err(tk_renderer_build_supervised_example(r, th, 2, TK_TRAIN_LAST_ASSISTANT_MESSAGE, &v, &w, &e), TK_EINVAL, &e,
               "role_colon: messages[1]: expected text content");
    tk_vec_free(&v);
    tk_vec_free(&w);
    /* splitting modes that are not produced turns is refused on renderers without the property */
    tk_renderer_free(r);
    r = mk("qwen3");
    tk_supervised_examples ex = {0};
    assert_err(tk_renderer_build_supervised_examples(r, th, 2, TK_TRAIN_ALL_MESSAGES, &ex, &e), TK_EUNSUPPORTED, &e, "cannot split");
    assert_int_equal(ex.len, 0);
    tk_renderer_free(r);
}

/* ---- DeepSeek ends every assistant turn with EOS (listed upstream bug, fixed) ---- */

static void test_deepseek_tool_call_eos(void **state) {
    tk_renderer *r = mk("deepseekv3");
    tk_tool_call call = {NULL, "f", "{\"a\": 1}"};
    tk_message m[] = {{.role = "user", .content = "U"}, {.role = "assistant", .content = "", .tool_calls = &call, .n_tool_calls = 1}};
    char *s = sft(r, m, 2, TK_TRAIN_LAST_ASSISTANT_MESSAGE);
    assert_non_null(strstr(s, DS_CALLS_END DS_EOS CLOSE_MARK));
    free(s);
    tk_renderer_free(r);
}

/* ---- JSON inside prompts is Python's json.dumps ---- */

static void test_python_json(void **state) {
    const char *cases[][2] = {
        {"1.0", "1.0"}, {"1e16", "1e+16"}, {"1.5e-05", "1.5e-05"}, {"0.1", "0.1"}, {"1e5", "100000.0"},
        {"123456789012345678.0", "1.2345678901234568e+17"}, {"-0.0", "-0.0"}, {"2.5e-7", "2.5e-07"},
        {"1e-4", "0.0001"}, {"0.0001234", "0.0001234"}, {"1e15", "1000000000000000.0"}, {"12345.678", "12345.678"},
        {"{\"b\": \"\xc3\xa9\\n\\t\\\"\\\\\\u0001\\u007f\xf0\x9f\x98\x80\", \"a\": [1, true, null, 2.5]}",
         "{\"b\": \"\\u00e9\\n\\t\\\"\\\\\\u0001\\u007f\\ud83d\\ude00\", \"a\": [1, true, null, 2.5]}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *v = tk__pyjson_loads(cases[i][0], strlen(cases[i][0]), NULL, 0);
        assert_non_null(v);
        tk_buf b = {0};
        assert_int_equal(tk__pyjson_dump(v, &TK__PYJSON_DEFAULT, &b), 0);
        if (strcmp(b.data, cases[i][1])) fail_msg("json.dumps(%s) = %s, want %s", cases[i][0], b.data, cases[i][1]);
        tk_buf_free(&b);
        json_decref(v);
    }
    json_t *v = json_loads("{\"b\": 1, \"a\": {\"d\": 2, \"c\": 3}}", 0, NULL);
    tk__pyjson_style compact = {",", ":", true, true};
    tk_buf b = {0};
    assert_int_equal(tk__pyjson_dump(v, &compact, &b), 0);
    assert_string_equal(b.data, "{\"a\":{\"c\":3,\"d\":2},\"b\":1}");
    tk_buf_clear(&b);
    json_decref(v);
    v = json_loads("{\"b\": \"\xc3\xa9\xf0\x9f\x98\x80\", \"a\": [1]}", 0, NULL);
    assert_int_equal(tk__pyjson_dump(v, &TK__PYJSON_UNICODE, &b), 0);
    assert_string_equal(b.data, "{\"b\": \"\xc3\xa9\xf0\x9f\x98\x80\", \"a\": [1]}");
    json_decref(v);
    tk_buf_clear(&b);
    /* str(): True None 3.0 1e+16 */
    const char *scalars[][2] = {{"true", "True"}, {"null", "None"}, {"3.0", "3.0"}, {"1e16", "1e+16"}, {"\"s\"", "s"}};
    for (size_t i = 0; i < 5; i++) {
        json_t *x = tk__pyjson_loads(scalars[i][0], strlen(scalars[i][0]), NULL, 0);
        tk_buf_clear(&b);
        assert_int_equal(tk__pyjson_str(x, &TK__PYJSON_DEFAULT, &b), 0);
        assert_string_equal(b.data, scalars[i][1]);
        json_decref(x);
    }
    tk_buf_free(&b);
}

/* ---- Python's str.strip on Unicode whitespace (Qwen3.5 strips string content) ---- */

static void test_python_strip(void **state) {
    const char *s = "\xe3\x80\x80 \t\nx y\xc2\xa0\n";
    size_t n = strlen(s);
    tk__py_strip(&s, &n, NULL);
    assert_int_equal(n, 3);
    assert_memory_equal(s, "x y", 3);
    const char *t = "\n\nab\n";
    n = strlen(t);
    tk__py_lstrip(&t, &n, "\n");
    assert_int_equal(n, 3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_role_colon_terminations),
        cmocka_unit_test(test_literal_special_tokens_in_text),
        cmocka_unit_test(test_empty_content),
        cmocka_unit_test(test_unterminated_tool_blocks),
        cmocka_unit_test(test_invalid_tool_json),
        cmocka_unit_test(test_tool_calls_parse),
        cmocka_unit_test(test_multiple_stop_tokens),
        cmocka_unit_test(test_reasoning_off_refuses),
        cmocka_unit_test(test_no_user_message),
        cmocka_unit_test(test_train_on_what_modes),
        cmocka_unit_test(test_last_assistant_turn_with_tools),
        cmocka_unit_test(test_prefill),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_deepseek_tool_call_eos),
        cmocka_unit_test(test_python_json),
        cmocka_unit_test(test_python_strip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
