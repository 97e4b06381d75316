/* qwen3 (hybrid thinking, enable_thinking=True), qwen3_disable_thinking and qwen3_instruct
 * (2507): <|im_start|>role\n content <|im_end|>, turns separated by "\n". The produced turn is
 * framed <think>\n…\n</think>\n\n as the template frames it (an empty block when it did not
 * reason); reasoning of earlier turns is dropped. Tool calls are Hermes JSON in <tool_call>. */
#include "internal.h"

#include <jansson.h>

enum { V_QWEN3 = 0, V_DISABLE = 1, V_INSTRUCT = 2 };

static bool frames_thinking(const tk_renderer *r) { return r->variant != V_INSTRUCT; }

/* <think>\n{reasoning stripped of \n}\n</think>\n\n */
static int put_frame(tk_buf *b, const char *s, size_t n) {
    tk__py_strip(&s, &n, "\n");
    int rc = tk_buf_puts(b, "<think>\n");
    rc = rc ? rc : tk_buf_append(b, s, n);
    return rc ? rc : tk_buf_puts(b, "\n</think>\n\n");
}

/* {"name": "...", "arguments": {...}} as json.dumps writes it (non-ASCII kept, as the
 * template's tojson does). */
int tk__qwen_tool_call_json(const tk_tool_call *tc, tk_buf *out, tk_err *e) {
    char err[200];
    const char *args = tk__str(tc->arguments);
    json_t *a = tk__pyjson_loads(args, strlen(args), err, sizeof err);
    if (!a)
        return tk_err_set(e, TK_EINVAL, "tool call \"%s\": arguments are not valid JSON: %s",
                          tk__str(tc->name), err);
    const char *name = tk__str(tc->name);
    int rc = tk_buf_puts(out, "{\"name\": ");
    rc = rc ? rc : tk__pyjson_quote(name, strlen(name), false, out);
    rc = rc ? rc : tk_buf_puts(out, ", \"arguments\": ");
    rc = rc ? rc : tk__pyjson_dump(a, &TK__PYJSON_UNICODE, out);
    rc = rc ? rc : tk_buf_putc(out, '}');
    json_decref(a);
    return rc ? tk_err_set(e, TK_ENOMEM, "out of memory") : 0;
}

static int render(const tk_renderer *r, const tk_message *m, const tk_render_context *ctx,
                  tk_rendered_message *out, tk_err *e) {
    int rc = tk__reject_images(m, r->name, ctx->idx, e);
    if (rc) return rc;
    bool asst = tk__role_is(m, "assistant"), tool = tk__role_is(m, "tool");
    if (r->variant == V_DISABLE && asst && ctx->is_last && tk__content_truthy(m) &&
        ctx->last_user_index < 0)
        return tk_err_set(e, TK_EINVAL,
                          "%s: messages[%zu]: this conversation has no user message, so Qwen3's "
                          "template writes no empty think block on the produced turn, but the "
                          "generation prompt always opens one; add a user message or use qwen3",
                          r->name, ctx->idx);
    /* consecutive tool results share one user block, as in the template */
    bool continues = tool && ctx->prev && tk__role_is(ctx->prev, "tool");
    bool keep_open = tool && ctx->next && tk__role_is(ctx->next, "tool");
    if (ctx->idx > 0) rc = tk__rm_ref(out, TK_SEG_HEADER, "\n", 1);
    if (!rc && !continues) rc = tk__rm_special(out, TK_SEG_HEADER, "<|im_start|>");
    if (!rc && !continues) rc = tk__rm_printf(out, TK_SEG_HEADER, "%s\n", tool ? "user" : m->role);
    if (rc) return rc;

    /* The template frames the turn after the last user message: the produced message always,
     * earlier messages of that turn (tool calls) when they reasoned; keeping history, every
     * assistant turn alike. A conversation without a user message is never framed. Reasoning
     * is dropped only before the last user message. (The cookbook also drops it from the
     * current turn's tool-call messages, which the template keeps.) */
    bool reasoned = tk__has_thinking(m);
    bool after_query = ctx->last_user_index >= 0 && (ptrdiff_t)ctx->idx > ctx->last_user_index;
    bool frames = frames_thinking(r) && asst && ctx->last_user_index >= 0 &&
                  (ctx->is_last || !r->strip_history || (after_query && reasoned));
    tk_buf b = {0};
    /* bytes of answer text (a framed reasoning block not counted): the template separates tool
     * calls from the content with "\n" only when there is such text */
    size_t text_len = 0;
    if (m->content_is_list) {
        bool strip = r->strip_history && asst && !ctx->is_last && !after_query, after_block = false;
        for (size_t i = 0; !rc && i < m->n_parts; i++) {
            const tk_content_part *p = &m->parts[i];
            const char *s = tk__str(p->text);
            size_t n = strlen(s);
            if (p->type == TK_PART_THINKING) {
                if (strip) continue;
                if (frames) {
                    rc = put_frame(&b, s, n);
                } else {
                    rc = tk_buf_puts(&b, "<think>");
                    rc = rc ? rc : tk_buf_append(&b, s, n);
                    rc = rc ? rc : tk_buf_puts(&b, "</think>");
                }
                after_block = frames;
            } else {
                if (after_block) tk__py_lstrip(&s, &n, "\n");
                rc = tk_buf_append(&b, s, n);
                text_len += n;
                after_block = false;
            }
        }
    } else {
        const char *s = tk__str(m->content);
        const char *close = frames ? strstr(s, "</think>") : NULL;
        if (close) {
            /* an inline block is normalised the way the template normalises it */
            const char *open = s, *p = s;
            while ((p = tk__find(p, (size_t)(close - p), "<think>")) != NULL) open = (p += 7);
            const char *rest = close + 8;
            size_t rn = strlen(rest);
            tk__py_lstrip(&rest, &rn, "\n");
            rc = put_frame(&b, open, (size_t)(close - open));
            rc = rc ? rc : tk_buf_append(&b, rest, rn);
            text_len = rn;
        } else {
            rc = tk_buf_puts(&b, s);
            text_len = strlen(s);
        }
    }
    bool has_text = frames ? text_len > 0 : b.len > 0;
    if (!rc && frames && !reasoned) { /* the produced turn always gets a block */
        tk_buf framed = {0};
        const char *s = b.data ? b.data : "";
        size_t n = b.len;
        tk__py_lstrip(&s, &n, "\n");
        rc = put_frame(&framed, "", 0);
        rc = rc ? rc : tk_buf_append(&framed, s, n);
        tk_buf_free(&b);
        b = framed;
    }
    if (!rc && tool) {
        tk_buf w = {0};
        rc = tk_buf_puts(&w, "<tool_response>\n");
        rc = rc ? rc : tk_buf_append(&w, b.data ? b.data : "", b.len);
        rc = rc ? rc : tk_buf_puts(&w, "\n</tool_response>");
        tk_buf_free(&b);
        b = w;
    }
    if (!rc && m->n_tool_calls) {
        if (has_text) rc = tk_buf_putc(&b, '\n');
        for (size_t i = 0; !rc && i < m->n_tool_calls; i++) {
            rc = tk_buf_puts(&b, i ? "\n<tool_call>\n" : "<tool_call>\n");
            if (rc) break;
            if ((rc = tk__qwen_tool_call_json(&m->tool_calls[i], &b, e))) {
                tk_err_prefix(e, "%s: messages[%zu].tool_calls[%zu]: ", r->name, ctx->idx, i);
                tk_buf_free(&b);
                return rc;
            }
            rc = tk_buf_puts(&b, "\n</tool_call>");
        }
    }
    if (!rc && b.len) {
        char *c = tk__arena_buf(out->arena, &b);
        rc = c ? tk__rm_ref(out, TK_SEG_OUTPUT, c, b.len) : TK_ENOMEM;
    }
    tk_buf_free(&b);
    if (!rc && !keep_open) rc = tk__rm_special(out, TK_SEG_OUTPUT, "<|im_end|>");
    return rc == TK_ENOMEM ? tk_err_set(e, rc, "%s: out of memory", r->name) : rc;
}

static int suffix_disable(const tk_renderer *r, const char *role, const tk_render_context *ctx,
                          tk_rendered_message *out, tk_err *e) {
    int rc = ctx->idx > 0 ? tk__rm_ref(out, TK_SEG_HEADER, "\n", 1) : 0;
    if (!rc) rc = tk__rm_special(out, TK_SEG_HEADER, "<|im_start|>");
    if (!rc) rc = tk__rm_printf(out, TK_SEG_HEADER, "%s\n<think>\n\n</think>\n\n", role);
    return rc ? tk_err_set(e, rc, "%s: out of memory", r->name) : 0;
}

/* Undo the framing so render → parse is the identity: reasoning loses its \n padding, an empty
 * block disappears, and text right after a block loses the \n the block wrote. */
static void unframe(tk_parsed_response *out) {
    tk_message *m = &out->message;
    if (!m->content_is_list) return;
    tk_content_part *parts = (tk_content_part *)m->parts;
    size_t k = 0;
    bool after = false;
    for (size_t i = 0; i < m->n_parts; i++) {
        tk_content_part p = parts[i];
        const char *s = p.text;
        size_t n = strlen(s);
        if (p.type == TK_PART_THINKING) {
            tk__py_strip(&s, &n, "\n");
            if (n) parts[k++] = (tk_content_part){TK_PART_THINKING, tk__arena_slice(out->arena, s, n)};
            after = true;
        } else {
            if (after && p.type == TK_PART_TEXT) {
                tk__py_lstrip(&s, &n, "\n");
                p.text = tk__arena_slice(out->arena, s, n);
            }
            parts[k++] = p;
            after = false;
        }
    }
    m->n_parts = k;
}

/* Shared by qwen3 and qwen3_5/nemotron3: stop split, then blocks, tool calls, dangling blocks. */
int tk__qwen_parse(const tk_renderer *r, const int32_t *ids, size_t n, tk_parsed_response *out,
                   const char *restore_prefix, bool unframe_thinking, const tk__tool_seps *seps,
                   tk_err *e) {
    tk_buf text = {0};
    int rc = tk__split_at_stop(r, ids, n, r->stop_tokens.data[0], &text, &out->termination, e);
    if (rc) goto done;
    tk__msg_builder b = {out->arena, {0}, {0}, {0}};
    if (out->termination == TK_PARSE_MALFORMED) {
        rc = tk__mb_finish(&b, out, false, text.data, text.len);
        goto done;
    }
    /* a prompt that ends in a prefill (<think>\n) left it out of the sampled text: restore it */
    if (restore_prefix && text.len && !tk__starts_with(text.data, text.len, restore_prefix) &&
        tk__find(text.data, text.len, "</think>")) {
        tk_buf t = {0};
        rc = tk_buf_puts(&t, restore_prefix);
        rc = rc ? rc : tk_buf_append(&t, text.data, text.len);
        tk_buf_free(&text);
        text = t;
        if (rc) goto done;
    }
    const char *s = text.data ? text.data : "";
    bool found;
    rc = tk__parse_content_blocks(&b, s, text.len, seps, &found);
    bool dangling;
    if (!rc) rc = tk__detect_unterminated(&b, s, text.len, "<tool_call>", "</tool_call>", &dangling);
    if (!rc) rc = tk__mb_finish(&b, out, found, s, text.len);
    else tk__mb_free(&b);
    if (!rc && found && unframe_thinking) unframe(out);
done:
    tk_buf_free(&text);
    return rc == TK_ENOMEM ? tk_err_set(e, rc, "%s: out of memory", r->name) : rc;
}

static int parse(const tk_renderer *r, const int32_t *ids, size_t n, tk_parsed_response *out,
                 tk_err *e) {
    /* the template writes "\n" between text and the first call, and between calls */
    static const tk__tool_seps seps = {"\n", "\n", NULL};
    return tk__qwen_parse(r, ids, n, out, NULL, frames_thinking(r), &seps, e);
}

static int tool_prefix(const tk_renderer *r, const tk_tool_spec *tools, size_t n, const char *sp,
                       tk_conversation *out, tk_err *e) {
    tk_buf b = {0};
    int rc = 0;
    if (*sp) rc = tk_buf_printf(&b, "%s\n\n", sp);
    if (!rc && n) {
        rc = tk_buf_puts(&b, "# Tools\n\nYou may call one or more functions to assist with the user "
                             "query.\n\nYou are provided with function signatures within "
                             "<tools></tools> XML tags:\n<tools>");
        for (size_t i = 0; !rc && i < n; i++) {
            json_t *spec = NULL;
            if ((rc = tk__tool_json(&tools[i], &spec, e))) break;
            rc = tk_buf_puts(&b, "\n{\"type\": \"function\", \"function\": ");
            rc = rc ? rc : tk__pyjson_dump(spec, &TK__PYJSON_UNICODE, &b);
            rc = rc ? rc : tk_buf_putc(&b, '}');
            json_decref(spec);
        }
        if (!rc)
            rc = tk_buf_puts(&b, "\n</tools>\n\nFor each function call, return a json object with "
                                 "function name and arguments within <tool_call></tool_call> XML "
                                 "tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
                                 "<args-json-object>}\n</tool_call>");
    }
    if (!rc) rc = tk__append_msg(out, "system", b.data ? b.data : "", e);
    tk_buf_free(&b);
    return rc;
}

int tk__qwen3_init(tk_renderer *r, int variant, tk_err *e) {
    r->variant = variant;
    r->strip_history = r->opts.keep_thinking_in_history <= 0;
    r->ops.render_message = render;
    r->ops.parse_response = parse;
    r->ops.tool_prefix = tool_prefix;
    if (variant == V_DISABLE) {
        r->ops.generation_suffix = suffix_disable;
        r->disables_thinking = true;
    }
    r->extension = variant == V_INSTRUCT || !r->strip_history;
    return tk__add_stop_token(r, "<|im_end|>", e);
}
