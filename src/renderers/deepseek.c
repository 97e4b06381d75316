/* deepseekv3 (= deepseekv3_disable_thinking) and deepseekv3_thinking: the DeepSeek-V3.1 format.
 * A system message at index 0 follows BOS with no role token; user turns start <｜User｜>,
 * assistant turns <｜Assistant｜> (none right after a tool result), tool results sit between
 * <｜tool▁output▁begin｜> and <｜tool▁output▁end｜>. Non-thinking mode writes </think> in the
 * assistant header; thinking mode prefills <think> and keeps the produced turn's reasoning. */
#include "internal.h"

#include <jansson.h>

enum { V_NOTHINK = 0, V_THINK = 1 };

#define T_USER "<\xef\xbd\x9c" "User\xef\xbd\x9c>"
#define T_ASSISTANT "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>"
#define T_BOS "<\xef\xbd\x9c" "begin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"
#define T_EOS "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"
#define T_CALLS_BEGIN "<\xef\xbd\x9c" "tool\xe2\x96\x81" "calls\xe2\x96\x81" "begin\xef\xbd\x9c>"
#define T_CALLS_END "<\xef\xbd\x9c" "tool\xe2\x96\x81" "calls\xe2\x96\x81" "end\xef\xbd\x9c>"
#define T_CALL_BEGIN "<\xef\xbd\x9c" "tool\xe2\x96\x81" "call\xe2\x96\x81" "begin\xef\xbd\x9c>"
#define T_CALL_END "<\xef\xbd\x9c" "tool\xe2\x96\x81" "call\xe2\x96\x81" "end\xef\xbd\x9c>"
#define T_SEP "<\xef\xbd\x9c" "tool\xe2\x96\x81" "sep\xef\xbd\x9c>"
#define T_OUT_BEGIN "<\xef\xbd\x9c" "tool\xe2\x96\x81" "output\xe2\x96\x81" "begin\xef\xbd\x9c>"
#define T_OUT_END "<\xef\xbd\x9c" "tool\xe2\x96\x81" "output\xe2\x96\x81" "end\xef\xbd\x9c>"

/* Non-thinking mode drops reasoning: thinking parts, and <think>…</think> inside strings. */
static int strip_reasoning(const tk_message *m, tk_buf *b) {
    if (m->content_is_list) return tk__concat_parts(m, TK_PART_TEXT, b);
    const char *s = tk__str(m->content), *end = s + strlen(s);
    int rc = 0;
    while (!rc && s < end) {
        const char *o = tk__find(s, (size_t)(end - s), "<think>");
        const char *c = o ? tk__find(o + 7, (size_t)(end - o - 7), "</think>") : NULL;
        if (!o || !c) return tk_buf_append(b, s, (size_t)(end - s));
        rc = tk_buf_append(b, s, (size_t)(o - s));
        s = c + 8;
    }
    return rc;
}

static int render(const tk_renderer *r, const tk_message *m, const tk_render_context *ctx,
                  tk_rendered_message *out, tk_err *e) {
    int rc = tk__reject_images(m, r->name, ctx->idx, e);
    if (rc) return rc;
    bool follows_tool = ctx->prev && tk__role_is(ctx->prev, "tool");
    char where[96];
    snprintf(where, sizeof where, "%s: messages[%zu]", r->name, ctx->idx);
    const char *text;
    tk_buf b = {0};
    if (tk__role_is(m, "system")) {
        if ((rc = tk__ensure_text(m, where, &text, e))) return rc;
        if (ctx->idx > 0) {
            if (!r->opts.system_role_as_user)
                return tk_err_set(e, TK_EINVAL,
                                  "%s: only a system message at index 0 is supported (set "
                                  "system_role_as_user to render later ones as user turns)",
                                  where);
            rc = tk__rm_special(out, TK_SEG_HEADER, T_USER);
        }
        if (!rc) rc = tk__rm_ref(out, TK_SEG_OUTPUT, text, strlen(text));
    } else if (tk__role_is(m, "user")) {
        if ((rc = tk__ensure_text(m, where, &text, e))) return rc;
        rc = tk__rm_special(out, TK_SEG_HEADER, T_USER);
        if (!rc) rc = tk__rm_ref(out, TK_SEG_OUTPUT, text, strlen(text));
    } else if (tk__role_is(m, "tool")) {
        if ((rc = tk__ensure_text(m, where, &text, e))) return rc;
        rc = tk__rm_special(out, TK_SEG_HEADER, T_OUT_BEGIN);
        if (!rc) rc = tk__rm_ref(out, TK_SEG_OUTPUT, text, strlen(text));
        if (!rc) rc = tk__rm_special(out, TK_SEG_OUTPUT, T_OUT_END);
    } else if (tk__role_is(m, "assistant")) {
        bool think_mode = r->variant == V_THINK;
        /* reasoning parts kept in thinking mode (or after a tool result) are written below */
        bool parts_below = (think_mode || follows_tool) && m->content_is_list;
        if (!think_mode && !follows_tool) rc = strip_reasoning(m, &b);
        else if (!parts_below) rc = tk_buf_puts(&b, tk__str(m->content));
        if (!rc && !follows_tool) {
            rc = tk__rm_special(out, TK_SEG_HEADER, T_ASSISTANT);
            /* Non-thinking mode closes the think block in the header, as do earlier turns of
             * thinking mode (their reasoning is dropped). */
            if (!rc && (!think_mode || (r->strip_history && !ctx->is_last)))
                rc = tk__rm_special(out, TK_SEG_HEADER, "</think>");
            /* A produced turn that did not reason writes an empty block itself, so that it
             * continues the prompt's <think>; keeping history, every turn is written the way
             * it was sampled. (The cookbook leaves the block out of a turn that only calls
             * tools, and out of history, so neither extends its prompt.) */
            if (!rc && think_mode && (ctx->is_last || !r->strip_history) &&
                (tk__content_truthy(m) || m->n_tool_calls) && !tk__has_thinking(m)) {
                rc = tk__rm_special(out, TK_SEG_OUTPUT, "<think>");
                if (!rc) rc = tk__rm_special(out, TK_SEG_OUTPUT, "</think>");
            }
        }
        /* <think> and </think> are added tokens of V3.1's tokenizer, so text never merges
         * across them; they are encoded alone, which gives the same ids with that tokenizer
         * and the same boundaries with tokenizers that lack them (V3's). */
        if (parts_below) {
            bool strip = r->strip_history && !m->n_tool_calls && !ctx->is_last;
            for (size_t i = 0; !rc && i < m->n_parts; i++) {
                const tk_content_part *p = &m->parts[i];
                const char *t = tk__str(p->text);
                if (p->type == TK_PART_TEXT) {
                    rc = tk__rm_ref(out, TK_SEG_OUTPUT, t, strlen(t));
                } else if (!strip) {
                    rc = tk__rm_special(out, TK_SEG_OUTPUT, "<think>");
                    if (!rc) rc = tk__rm_ref(out, TK_SEG_OUTPUT, t, strlen(t));
                    if (!rc) rc = tk__rm_special(out, TK_SEG_OUTPUT, "</think>");
                }
            }
        }
        if (!rc && b.len) {
            char *c = tk__arena_buf(out->arena, &b);
            rc = c ? tk__rm_ref(out, TK_SEG_OUTPUT, c, b.len) : TK_ENOMEM;
        }
        for (size_t i = 0; !rc && i < m->n_tool_calls; i++) {
            const tk_tool_call *tc = &m->tool_calls[i];
            if (i == 0) rc = tk__rm_special(out, TK_SEG_OUTPUT, T_CALLS_BEGIN);
            if (!rc) rc = tk__rm_special(out, TK_SEG_OUTPUT, T_CALL_BEGIN);
            if (!rc) rc = tk__rm_ref(out, TK_SEG_OUTPUT, tk__str(tc->name), strlen(tk__str(tc->name)));
            if (!rc) rc = tk__rm_special(out, TK_SEG_OUTPUT, T_SEP);
            if (!rc) rc = tk__rm_ref(out, TK_SEG_OUTPUT, tk__str(tc->arguments), strlen(tk__str(tc->arguments)));
            if (!rc) rc = tk__rm_special(out, TK_SEG_OUTPUT, T_CALL_END);
            if (!rc && i + 1 == m->n_tool_calls) rc = tk__rm_special(out, TK_SEG_OUTPUT, T_CALLS_END);
        }
        /* Every assistant turn ends with EOS, tool-call turns included, as the template writes
         * it. (The cookbook omits it when the content is empty — a listed upstream bug.) */
        if (!rc) rc = tk__rm_special(out, TK_SEG_OUTPUT, T_EOS);
    } else {
        return tk_err_set(e, TK_EINVAL, "%s: unsupported role \"%s\"", where, m->role);
    }
    tk_buf_free(&b);
    return rc == TK_ENOMEM ? tk_err_set(e, rc, "%s: out of memory", r->name) : rc;
}

/* The header an empty assistant turn would get (never EOS). */
static int suffix(const tk_renderer *r, const char *role, const tk_render_context *ctx,
                  tk_rendered_message *out, tk_err *e) {
    if (!tk__streq(role, "assistant")) {
        tk_message m = {.role = role, .content = ""};
        return render(r, &m, ctx, out, e);
    }
    if (ctx->prev && tk__role_is(ctx->prev, "tool")) return 0; /* continues the tool output */
    int rc = tk__rm_special(out, TK_SEG_HEADER, T_ASSISTANT);
    if (!rc && r->variant == V_NOTHINK) rc = tk__rm_special(out, TK_SEG_HEADER, "</think>");
    return rc ? tk_err_set(e, rc, "%s: out of memory", r->name) : 0;
}

/* Thinking mode prefills <think>, except after a tool result (tool use stays non-thinking). */
static const char *prefill(const tk_renderer *r, const tk_message *msgs, size_t n) {
    if (r->variant != V_THINK || (n && tk__role_is(&msgs[n - 1], "tool"))) return NULL;
    return "<think>";
}

static bool is_word_byte(unsigned char c) {
    return c == '_' || (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z') || c >= 0x80;
}

static int parse(const tk_renderer *r, const int32_t *ids, size_t n, tk_parsed_response *out,
                 tk_err *e) {
    tk_buf text = {0}, content = {0};
    int rc = tk__split_at_stop(r, ids, n, r->stop_tokens.data[0], &text, &out->termination, e);
    if (rc) goto done;
    tk__msg_builder b = {out->arena, {0}, {0}, {0}};
    const char *s = text.data ? text.data : "";
    size_t len = text.len;
    if (out->termination == TK_PARSE_MALFORMED) {
        rc = tk__mb_finish(&b, out, false, s, len);
        goto done;
    }
    /* the prefilled <think> is not in the sampled text: restore it */
    if (r->variant == V_THINK && !tk__starts_with(s, len, "<think>") && tk__find(s, len, "</think>")) {
        tk_buf t = {0};
        rc = tk_buf_puts(&t, "<think>");
        rc = rc ? rc : tk_buf_append(&t, s, len);
        tk_buf_free(&text);
        text = t;
        s = text.data;
        len = text.len;
        if (rc) goto done;
    }
    /* <｜tool▁calls▁begin｜>(<｜tool▁call▁begin｜>name<｜tool▁sep｜>args<｜tool▁call▁end｜>)*<｜tool▁calls▁end｜> */
    const char *sec = tk__find(s, len, T_CALLS_BEGIN);
    const char *sec_end = sec ? tk__find(sec, (size_t)(s + len - sec), T_CALLS_END) : NULL;
    if (sec && sec_end) {
        const char *p = sec + strlen(T_CALLS_BEGIN);
        while (!rc && p < sec_end) {
            const char *cb = tk__find(p, (size_t)(sec_end - p), T_CALL_BEGIN);
            if (!cb) break;
            const char *name = cb + strlen(T_CALL_BEGIN), *q = name;
            while (q < sec_end && is_word_byte((unsigned char)*q)) q++;
            const char *ce = q > name && tk__starts_with(q, (size_t)(sec_end - q), T_SEP)
                                 ? tk__find(q, (size_t)(sec_end - q), T_CALL_END)
                                 : NULL;
            if (!ce) {
                p = cb + 1;
                continue;
            }
            const char *args = q + strlen(T_SEP);
            size_t an = (size_t)(ce - args);
            tk__py_strip(&args, &an, NULL);
            const char *raw_end = ce + strlen(T_CALL_END);
            char err[200], msg[260];
            json_t *v = tk__pyjson_loads(args, an, err, sizeof err);
            if (v) {
                rc = tk__mb_call(&b, NULL, name, (size_t)(q - name), args, an);
                json_decref(v);
            } else {
                snprintf(msg, sizeof msg, "Invalid JSON: %s", err);
                rc = tk__mb_unparsed(&b, cb, (size_t)(raw_end - cb), msg);
            }
            p = raw_end;
        }
    }
    bool dangling;
    if (!rc) rc = tk__detect_unterminated(&b, s, len, T_CALLS_BEGIN, T_CALLS_END, &dangling);
    if (!rc && !dangling) rc = tk__detect_unterminated(&b, s, len, T_CALL_BEGIN, T_CALL_END, &dangling);
    /* drop every complete tool-call section (and the whitespace before it) from the text */
    if (!rc && (b.calls.len || b.unparsed.len)) {
        const char *p = s, *end = s + len;
        while (!rc) {
            const char *o = tk__find(p, (size_t)(end - p), T_CALLS_BEGIN);
            const char *c = o ? tk__find(o, (size_t)(end - o), T_CALLS_END) : NULL;
            if (!o || !c) {
                rc = tk_buf_append(&content, p, (size_t)(end - p));
                break;
            }
            size_t keep = (size_t)(o - p);
            const char *kp = p;
            tk__py_rstrip(&kp, &keep, NULL);
            rc = tk_buf_append(&content, p, keep);
            p = c + strlen(T_CALLS_END);
        }
        const char *cs = content.data ? content.data : "";
        size_t cn = content.len;
        tk__py_strip(&cs, &cn, NULL);
        s = cs;
        len = cn;
    }
    bool found = false;
    if (!rc) rc = tk__parse_think_blocks(&b, s, len, &found);
    if (!rc) rc = tk__mb_finish(&b, out, found, s, len);
    else tk__mb_free(&b);
done:
    tk_buf_free(&text);
    tk_buf_free(&content);
    return rc == TK_ENOMEM ? tk_err_set(e, rc, "%s: out of memory", r->name) : rc;
}

static int tool_prefix(const tk_renderer *r, const tk_tool_spec *tools, size_t n, const char *sp,
                       tk_conversation *out, tk_err *e) {
    tk_buf b = {0};
    int rc = tk_buf_puts(&b, sp);
    if (!rc && n) {
        rc = tk_buf_puts(&b, "\n\n## Tools\nYou have access to the following tools:\n\n");
        for (size_t i = 0; !rc && i < n; i++) {
            json_t *params;
            if ((rc = tk__tool_params(&tools[i], &params, e))) break;
            rc = tk_buf_printf(&b, "%s### %s\nDescription: %s\n\nParameters: ", i ? "\n" : "",
                               tk__str(tools[i].name), tk__str(tools[i].description));
            rc = rc ? rc : tk__pyjson_dump(params, &TK__PYJSON_UNICODE, &b);
            json_decref(params);
        }
        if (!rc)
            rc = tk_buf_puts(&b, "\n\nIMPORTANT: ALWAYS adhere to this exact format for tool use:\n"
                                 T_CALLS_BEGIN T_CALL_BEGIN "tool_call_name" T_SEP
                                 "tool_call_arguments" T_CALL_END T_CALLS_END
                                 "\n\nWhere:\n- `tool_call_name` must be an exact match to one of "
                                 "the available tools\n- `tool_call_arguments` must be valid JSON "
                                 "that strictly follows the tool's Parameters Schema\n- For "
                                 "multiple tool calls, chain them directly without separators or "
                                 "spaces");
    }
    if (!rc) rc = tk__append_msg(out, "system", b.data ? b.data : "", e);
    tk_buf_free(&b);
    return rc;
}

int tk__deepseek_init(tk_renderer *r, int variant, tk_err *e) {
    r->variant = variant;
    r->strip_history = r->opts.keep_thinking_in_history <= 0;
    r->ops.render_message = render;
    r->ops.generation_suffix = suffix;
    r->ops.parse_response = parse;
    r->ops.tool_prefix = tool_prefix;
    r->ops.default_prefill = prefill;
    r->extension = variant == V_NOTHINK || !r->strip_history;
    r->add_bos = true;
    int32_t bos;
    int rc = tk__special_id(r, T_BOS, &bos, e);
    if (!rc) r->codec.bos_id = bos;
    return rc ? rc : tk__add_stop_token(r, T_EOS, e);
}
