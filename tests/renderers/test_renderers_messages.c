/* Messages in the cookbook's JSON shape: every field parses, serialisation round-trips, and
 * malformed input fails with an error that names the JSON path, without leaking. Also the
 * renderer registry (built-in names, custom renderers) and the model → renderer table. */
#include "render_util.h"

#include <jansson.h>

#include "char_codec.h"

static const char FULL[] =
    "{\"messages\": ["
    "{\"role\": \"system\", \"content\": \"Be brief.\"},"
    "{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"Look:\"}, {\"type\": \"image\", \"image\": \"https://x/y.png\"}]},"
    "{\"role\": \"assistant\", \"content\": [{\"type\": \"thinking\", \"thinking\": \"hm \\u00e9\"}, {\"type\": \"text\", \"text\": \"\"}],"
    " \"tool_calls\": [{\"type\": \"function\", \"id\": \"call_1\", \"function\": {\"name\": \"get\", \"arguments\": \"{\\\"a\\\": 1}\"}},"
    "                {\"function\": {\"name\": \"put\", \"arguments\": {\"b\": [1, 2.5, \"\\u00e9\"]}}}],"
    " \"unparsed_tool_calls\": [{\"raw_text\": \"<tool_call>x\", \"error\": \"Invalid JSON\"}], \"trainable\": true},"
    "{\"role\": \"tool\", \"content\": \"42\", \"tool_call_id\": \"call_1\", \"name\": \"get\", \"trainable\": false},"
    "{\"role\": \"assistant\", \"content\": null}],"
    " \"tools\": [{\"name\": \"get\", \"description\": \"Get\", \"parameters\": {\"type\": \"object\"}},"
    "            {\"type\": \"function\", \"function\": {\"name\": \"put\", \"description\": \"Put\"}}]}";

static void test_parse_all_fields(void **state) {
    tk_conversation c;
    tk_err e = {0};
    assert_ok(tk_conversation_parse(FULL, strlen(FULL), "conv.json", &c, &e), &e);
    assert_int_equal(c.n_messages, 5);
    assert_int_equal(c.n_tools, 2);
    const tk_message *m = c.messages;
    assert_false(m[0].content_is_list);
    assert_string_equal(m[0].content, "Be brief.");
    assert_true(m[1].content_is_list);
    assert_int_equal(m[1].n_parts, 2);
    assert_int_equal(m[1].parts[1].type, TK_PART_IMAGE);
    assert_string_equal(m[1].parts[1].text, "https://x/y.png");
    assert_int_equal(m[2].parts[0].type, TK_PART_THINKING);
    assert_string_equal(m[2].parts[0].text, "hm \xc3\xa9");
    assert_int_equal(m[2].n_tool_calls, 2);
    assert_string_equal(m[2].tool_calls[0].id, "call_1");
    assert_string_equal(m[2].tool_calls[0].arguments, "{\"a\": 1}");
    assert_null(m[2].tool_calls[1].id);
    /* an arguments object is serialised the way json.dumps would write it */
    assert_string_equal(m[2].tool_calls[1].arguments, "{\"b\": [1, 2.5, \"\xc3\xa9\"]}");
    assert_int_equal(m[2].n_unparsed_tool_calls, 1);
    assert_int_equal(m[2].trainable, TK_TRAINABLE_TRUE);
    assert_int_equal(m[3].trainable, TK_TRAINABLE_FALSE);
    assert_int_equal(m[0].trainable, TK_TRAINABLE_UNSET);
    assert_string_equal(m[3].tool_call_id, "call_1");
    assert_string_equal(m[3].name, "get");
    assert_null(m[0].name);
    assert_string_equal(m[4].content, ""); /* null content is empty */
    assert_string_equal(c.tools[1].name, "put");
    assert_string_equal(c.tools[1].parameters, "{}");
    assert_string_equal(c.tools[0].parameters, "{\"type\": \"object\"}");
    tk_buf text = {0};
    assert_int_equal(tk_message_text(&m[1], &text), 0);
    assert_string_equal(text.data, "Look:");
    tk_buf_free(&text);

    /* dump → parse → dump is stable and keeps every field */
    tk_buf a = {0}, b = {0};
    assert_int_equal(tk_messages_dump(c.messages, c.n_messages, &a), 0);
    tk_conversation c2;
    assert_ok(tk_conversation_parse(a.data, a.len, "dump", &c2, &e), &e);
    assert_int_equal(tk_messages_dump(c2.messages, c2.n_messages, &b), 0);
    assert_string_equal(a.data, b.data);
    json_t *ja = json_loads(a.data, 0, NULL);
    assert_true(json_is_true(json_object_get(json_array_get(ja, 2), "trainable")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(ja, 3), "tool_call_id")), "call_1");
    json_decref(ja);
    tk_buf_free(&a);
    tk_buf_free(&b);
    tk_conversation_free(&c2);

    /* append deep-copies: the copy outlives its source */
    tk_conversation d = {0};
    char *role = strdup("user"), *content = strdup("temporary");
    tk_message tmp = {.role = role, .content = content};
    assert_ok(tk_conversation_append(&d, &tmp, &e), &e);
    assert_ok(tk_conversation_append(&d, &m[2], &e), &e);
    free(role);
    free(content);
    assert_string_equal(d.messages[0].content, "temporary");
    assert_string_equal(d.messages[1].tool_calls[1].name, "put");
    tk_conversation_free(&d);
    tk_conversation_free(&c);

    /* a bare array works too */
    const char *arr = "[{\"role\": \"user\", \"content\": \"hi\"}]";
    assert_ok(tk_conversation_parse(arr, strlen(arr), "a", &c, &e), &e);
    assert_int_equal(c.n_messages, 1);
    tk_conversation_free(&c);
}

static void test_bad_input(void **state) {
    struct { const char *json, *needle; int code; } cases[] = {
        {"{\"messages\": [", "bad.json:1:", TK_EPARSE},
        {"", "bad.json", TK_EPARSE},
        {"42", "bad.json", TK_EPARSE},
        {"\"x\"", "bad.json", TK_EPARSE},
        {"{\"msgs\": []}", "unknown field \"msgs\"", TK_EINVAL},
        {"{\"messages\": {}}", "messages: expected array, got object", TK_EINVAL},
        {"{\"messages\": [3]}", "messages[0]: expected object, got integer", TK_EINVAL},
        {"{\"messages\": [{\"content\": \"x\"}]}", "messages[0].role: required field is missing", TK_EINVAL},
        {"{\"messages\": [{\"role\": 1, \"content\": \"x\"}]}", "messages[0].role: expected string, got integer", TK_EINVAL},
        {"{\"messages\": [{\"role\": \"user\", \"content\": 5}]}", "messages[0].content: expected a string or a list of parts, got integer", TK_EINVAL},
        {"{\"messages\": [{\"role\": \"user\", \"content\": \"a\", \"contents\": 1}]}", "messages[0]: unknown field \"contents\"", TK_EINVAL},
        {"{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"video\", \"video\": \"v\"}]}]}", "messages[0].content[0].type: unknown content part type \"video\"", TK_EINVAL},
        {"{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\"}]}]}", "messages[0].content[0].text: required field is missing", TK_EINVAL},
        {"{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"a\", \"extra\": 1}]}]}", "messages[0].content[0]: unknown field \"extra\"", TK_EINVAL},
        {"{\"messages\": [{\"role\": \"user\", \"content\": [\"a\"]}]}", "messages[0].content[0]: expected object, got string", TK_EINVAL},
        {"{\"messages\": [{\"role\": \"user\", \"content\": \"a\\u0000b\"}]}", "messages[0].content: string contains a NUL character", TK_EINVAL},
        {"{\"messages\": [{\"role\": \"assistant\", \"content\": \"\", \"tool_calls\": {}}]}", "messages[0].tool_calls: expected array, got object", TK_EINVAL},
        {"{\"messages\": [{\"role\": \"assistant\", \"content\": \"\", \"tool_calls\": [{\"id\": \"x\"}]}]}", "messages[0].tool_calls[0].function: required field is missing", TK_EINVAL},
        {"{\"messages\": [{\"role\": \"assistant\", \"content\": \"\", \"tool_calls\": [{\"type\": \"code\", \"function\": {\"name\": \"f\", \"arguments\": \"{}\"}}]}]}", "messages[0].tool_calls[0].type: expected \"function\"", TK_EINVAL},
        {"{\"messages\": [{\"role\": \"assistant\", \"content\": \"\", \"tool_calls\": [{\"function\": {\"name\": \"f\", \"arguments\": 3}}]}]}", "messages[0].tool_calls[0].function.arguments: expected a JSON string or object, got integer", TK_EINVAL},
        {"{\"messages\": [{\"role\": \"assistant\", \"content\": \"\", \"tool_calls\": [{\"function\": {\"arguments\": \"{}\"}}]}]}", "messages[0].tool_calls[0].function.name: required field is missing", TK_EINVAL},
        {"{\"messages\": [{\"role\": \"user\", \"content\": \"\", \"trainable\": \"yes\"}]}", "messages[0].trainable: expected boolean, got string", TK_EINVAL},
        {"{\"messages\": [{\"role\": \"tool\", \"content\": \"\", \"tool_call_id\": 7}]}", "messages[0].tool_call_id: expected string, got integer", TK_EINVAL},
        {"{\"messages\": [{\"role\": \"user\", \"content\": \"\", \"unparsed_tool_calls\": [{\"raw_text\": \"x\"}]}]}", "messages[0].unparsed_tool_calls[0].error: required field is missing", TK_EINVAL},
        {"{\"messages\": [], \"tools\": [{\"description\": \"d\"}]}", "tools[0].name: required field is missing", TK_EINVAL},
        {"{\"messages\": [], \"tools\": [{\"name\": \"f\", \"parameters\": [1]}]}", "tools[0].parameters: expected object, got array", TK_EINVAL},
        {"{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"user\", \"content\": \"b\", \"name\": {}}]}", "messages[1].name: expected string, got object", TK_EINVAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tk_conversation c = {0};
        tk_err e = {0};
        int rc = tk_conversation_parse(cases[i].json, strlen(cases[i].json), "bad.json", &c, &e);
        if (rc != cases[i].code || !strstr(e.msg, cases[i].needle))
            fail_msg("case %zu: rc %s, message \"%s\" (want %s, \"%s\")", i, tk_code_name(rc), e.msg,
                     tk_code_name(cases[i].code), cases[i].needle);
        assert_int_equal(c.n_messages, 0);
        assert_null(c.arena);
    }
}

/* ---- registry ---- */

static int custom_render(const tk_renderer *r, const tk_message *m, const tk_render_context *ctx,
                         tk_rendered_message *out, tk_err *e) {
    const char *text = m->content_is_list ? "" : m->content;
    int rc = tk_rendered_text(out, TK_SEG_HEADER, m->role, strlen(m->role));
    if (!rc) rc = tk_rendered_text(out, TK_SEG_HEADER, "> ", 2);
    if (!rc) rc = tk_rendered_text(out, TK_SEG_OUTPUT, text, strlen(text));
    if (!rc) rc = tk_rendered_special(out, TK_SEG_OUTPUT, "<|eot_id|>");
    return rc;
}

static int custom_parse(const tk_renderer *r, const int32_t *ids, size_t n, tk_parsed_response *out, tk_err *e) {
    tk_buf b = {0};
    const tk_renderer_codec *c = tk_renderer_get_codec(r);
    int rc = c->decode(c->ctx, ids, n && ids[n - 1] == char_id("<|eot_id|>") ? n - 1 : n, &b, e);
    out->termination = n && ids[n - 1] == char_id("<|eot_id|>") ? TK_PARSE_STOP_SEQUENCE : TK_PARSE_MALFORMED;
    out->message.role = "assistant";
    out->message.content = tk_arena_strdup(out->arena, b.data ? b.data : "");
    tk_buf_free(&b);
    return rc;
}

static int g_destroyed;
static void custom_destroy(void *state) {
    g_destroyed++;
    free(state);
}

static int factory(const tk_renderer_codec *codec, const tk_renderer_opts *opts, void *user, tk_renderer **out, tk_err *e) {
    int32_t stop = char_id("<|eot_id|>");
    tk_renderer_vtable vt = {.render_message = custom_render, .parse_response = custom_parse,
                             .destroy = custom_destroy, .has_extension_property = true,
                             .stop_tokens = &stop, .n_stop_tokens = 1};
    return tk_renderer_new_custom((const char *)user, &vt, malloc(8), codec, out, e);
}

static void test_custom_renderer(void **state) {
    tk_err e = {0};
    tk_renderer_codec c = char_codec(false);
    tk_renderer *r = NULL;
    assert_false(tk_renderer_is_registered("acme/arrow"));
    assert_err(tk_renderer_new_with_codec("acme/arrow", &c, NULL, &r, &e), TK_ENOTFOUND, &e, "unknown renderer \"acme/arrow\"");
    assert_non_null(strstr(e.msg, "qwen3_5")); /* the message lists what exists */
    assert_ok(tk_renderer_register("acme/arrow", factory, "acme/arrow", &e), &e);
    assert_true(tk_renderer_is_registered("acme/arrow"));
    assert_ok(tk_renderer_new_with_codec("acme/arrow", &c, NULL, &r, &e), &e);
    assert_string_equal(tk_renderer_name(r), "acme/arrow");
    assert_true(tk_renderer_has_extension_property(r));
    tk_message m[] = {{.role = "user", .content = "hi"}, {.role = "assistant", .content = "yo"}};
    tk_vec_i32 t = {0};
    tk_vec_f32 w = {0};
    assert_ok(tk_renderer_build_supervised_example(r, m, 2, TK_TRAIN_LAST_ASSISTANT_MESSAGE, &t, &w, &e), &e);
    char *s = annotate(r, &t, &w);
    assert_string_equal(s, "user> hi<|eot_id|>assistant> " OPEN_MARK "yo<|eot_id|>" CLOSE_MARK);
    free(s);
    tk_parsed_response p;
    assert_ok(tk_renderer_parse_response(r, t.data + 20, t.len - 20, &p, &e), &e);
    assert_string_equal(p.message.content, "yo");
    assert_int_equal(p.termination, TK_PARSE_STOP_SEQUENCE);
    tk_parsed_response_free(&p);
    tk_supervised_examples ex = {0};
    assert_ok(tk_renderer_build_supervised_examples(r, m, 2, TK_TRAIN_ALL_ASSISTANT_MESSAGES, &ex, &e), &e);
    assert_int_equal(ex.len, 1);
    tk_supervised_examples_free(&ex);
    tk_stop_sequences st;
    tk_renderer_stop_sequences(r, &st);
    assert_int_equal(st.n_tokens, 1);
    tk_conversation out = {0};
    assert_err(tk_renderer_tool_prefix(r, NULL, 0, NULL, &out, &e), TK_EUNSUPPORTED, &e, "acme/arrow");
    tk_vec_free(&t);
    tk_vec_free(&w);
    g_destroyed = 0;
    tk_renderer_free(r);
    assert_int_equal(g_destroyed, 1);
    /* registered names shadow built-in ones, and unregistering restores them */
    assert_ok(tk_renderer_register("llama3", factory, "shadow", &e), &e);
    assert_ok(tk_renderer_new_with_codec("llama3", &c, NULL, &r, &e), &e);
    assert_string_equal(tk_renderer_name(r), "shadow");
    tk_renderer_free(r);
    assert_true(tk_renderer_unregister("llama3"));
    assert_true(tk_renderer_unregister("acme/arrow"));
    assert_false(tk_renderer_unregister("acme/arrow"));
    assert_ok(tk_renderer_new_with_codec("llama3", &c, NULL, &r, &e), &e);
    assert_string_equal(tk_renderer_name(r), "llama3");
    tk_renderer_free(r);
    assert_err(tk_renderer_register("", factory, NULL, &e), TK_EINVAL, &e, "required");
    tk_renderer_vtable bad = {0};
    assert_err(tk_renderer_new_custom("x", &bad, NULL, &c, &r, &e), TK_EINVAL, &e, "render_message");
}

static void test_builtin_names(void **state) {
    tk_renderer_codec c = char_codec(false);
    tk_err e = {0};
    size_t n = 0;
    for (const char *const *p = tk_renderer_builtin_names(); *p; p++, n++) {
        tk_renderer *r;
        assert_ok(tk_renderer_new_with_codec(*p, &c, NULL, &r, &e), &e);
        assert_string_equal(tk_renderer_name(r), *p);
        tk_renderer_free(r);
    }
    assert_int_equal(n, 28);
    tk_renderer *r = NULL;
    assert_err(tk_renderer_new_with_codec("qwen3_vl", &c, NULL, &r, &e), TK_EUNSUPPORTED, &e, "does not implement");
    assert_err(tk_renderer_new_with_codec("tml_v0", &c, NULL, &r, &e), TK_EUNSUPPORTED, &e, "tml_v0");
    /* a codec without the format's special tokens is refused up front */
    tk_renderer_codec bytes = c;
    bytes.encode = NULL;
    assert_err(tk_renderer_new_with_codec("qwen3", &bytes, NULL, &r, &e), TK_EINVAL, &e, "encode and decode");
}

static int encode_bytes(void *ctx, const char *text, size_t len, bool split, tk_vec_i32 *out, tk_err *e) {
    for (size_t i = 0; i < len; i++) (void)!tk_vec_push(out, (unsigned char)text[i]);
    return 0;
}

static void test_missing_special_tokens(void **state) {
    tk_renderer_codec c = char_codec(false);
    c.encode = encode_bytes; /* knows no special token */
    tk_renderer *r;
    tk_err e = {0};
    assert_err(tk_renderer_new_with_codec("qwen3", &c, NULL, &r, &e), TK_EINVAL, &e,
               "does not encode \"<|im_end|>\" as one token");
    assert_err(tk_renderer_new_with_codec("gpt_oss_no_sysprompt", &c, NULL, &r, &e), TK_EINVAL, &e, "<|return|>");
}

static void test_model_table(void **state) {
    struct { const char *model, *renderer; } cases[] = {
        {"meta-llama/Llama-3.1-8B-Instruct", "llama3"}, {"meta-llama/Llama-3.2-1B", "role_colon"},
        {"Qwen/Qwen3-8B", "qwen3"}, {"Qwen/Qwen3-30B-A3B-Instruct-2507", "qwen3_instruct"},
        {"Qwen/Qwen3-8B-Base", "role_colon"}, {"Qwen/Qwen3.5-27B", "qwen3_5"}, {"Qwen/Qwen3.6-35B-A3B", "qwen3_5"},
        {"deepseek-ai/DeepSeek-V3.1", "deepseekv3"}, {"deepseek-ai/DeepSeek-V3.1-Base", "role_colon"},
        {"openai/gpt-oss-20b", "gpt_oss_no_sysprompt"}, {"moonshotai/Kimi-K2-Thinking", "kimi_k2"},
        {"moonshotai/Kimi-K2.5", "kimi_k25"}, {"moonshotai/Kimi-K2.6", "kimi_k26"},
        {"nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16", "nemotron3"},
        {"nvidia/NVIDIA-Nemotron-3.5-Lightning-30B-A3B-BF16", "nemotron3_ultra"},
        {"Qwen/Qwen3-8B:peft:abc123", "qwen3"}, /* ":suffix" removed first */
        {"thinkingmachines/Inkling-Small", "tml_v0"},
    };
    tk_err e = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *r = NULL;
        assert_ok(tk_renderer_for_model(cases[i].model, &r, &e), &e);
        assert_string_equal(r, cases[i].renderer);
    }
    const char *const *all;
    assert_ok(tk_renderer_recommended_for_model("nvidia/NVIDIA-Nemotron-3-Super-120B-A12B-BF16", &all, &e), &e);
    assert_string_equal(all[3], "nemotron3_low_thinking");
    assert_null(all[4]);
    const char *r;
    assert_err(tk_renderer_for_model("Qwen/Qwen9-1B", &r, &e), TK_ENOTFOUND, &e, "Qwen/Qwen9-1B");
    assert_err(tk_renderer_for_model("llama", &r, &e), TK_EINVAL, &e, "org/model");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_all_fields),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_custom_renderer),
        cmocka_unit_test(test_builtin_names),
        cmocka_unit_test(test_missing_special_tokens),
        cmocka_unit_test(test_model_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
