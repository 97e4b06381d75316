/* gpt_oss_no_sysprompt and gpt_oss_{low,medium,high}_reasoning: OpenAI's Harmony format.
 * <|start|>role … <|message|>content<|end|>, no newlines between messages. A user "system"
 * message becomes a developer message with "# Instructions"; with a reasoning effort the
 * built-in system prompt (identity, knowledge cutoff, date, effort, channels) comes first.
 * Reasoning goes to the analysis channel (kept in history, as the cookbook does), answers to
 * final, tool calls to commentary addressed to=functions.NAME and ended with <|call|>. */
#include "internal.h"

#include <jansson.h>
#include <time.h>

#define INTERNAL_SYSTEM "_gptoss_internal_system"

static const char *const EFFORT[] = {NULL, "low", "medium", "high"};

static int S(tk_rendered_message *o, int seg, const char *tok) { return tk__rm_special(o, seg, tok); }
static int T(tk_rendered_message *o, int seg, const char *s) { return tk__rm_ref(o, seg, s, strlen(s)); }

static int render_tool_result(const tk_renderer *r, const tk_message *m,
                              const tk_render_context *ctx, tk_rendered_message *out, tk_err *e) {
    const char *name = m->name && *m->name ? m->name : NULL;
    if (!name) tk_warn("%s: messages[%zu]: tool message without \"name\"; rendering functions.unknown",
                       r->name, ctx->idx);
    char where[96];
    snprintf(where, sizeof where, "%s: messages[%zu]", r->name, ctx->idx);
    const char *text;
    int rc = tk__ensure_text(m, where, &text, e);
    if (rc) return rc;
    rc = S(out, TK_SEG_HEADER, "<|start|>");
    if (!rc) rc = tk__rm_printf(out, TK_SEG_HEADER, "%s%s to=assistant",
                                name && !strncmp(name, "functions.", 10) ? "" : "functions.",
                                name ? name : "unknown");
    if (!rc) rc = S(out, TK_SEG_OUTPUT, "<|channel|>");
    if (!rc) rc = T(out, TK_SEG_OUTPUT, "commentary");
    if (!rc) rc = S(out, TK_SEG_OUTPUT, "<|message|>");
    if (!rc) rc = T(out, TK_SEG_OUTPUT, text);
    if (!rc) rc = S(out, TK_SEG_OUTPUT, "<|end|>");
    return rc;
}

static int render(const tk_renderer *r, const tk_message *m, const tk_render_context *ctx,
                  tk_rendered_message *out, tk_err *e) {
    int rc = tk__reject_images(m, r->name, ctx->idx, e);
    if (rc) return rc;
    if (tk__role_is(m, "tool")) return render_tool_result(r, m, ctx, out, e);
    const char *role = tk__role_is(m, INTERNAL_SYSTEM) ? "system"
                       : tk__role_is(m, "system")      ? "developer"
                                                       : m->role;
    char where[96];
    snprintf(where, sizeof where, "%s: messages[%zu]", r->name, ctx->idx);
    rc = S(out, TK_SEG_HEADER, "<|start|>");
    if (!rc) rc = T(out, TK_SEG_HEADER, role);
    if (rc) return rc;
    if (tk__role_is(m, "assistant")) {
        tk_buf text = {0}, thinking = {0};
        if (tk__concat_parts(m, TK_PART_TEXT, &text) || tk__concat_parts(m, TK_PART_THINKING, &thinking)) {
            tk_buf_free(&text);
            tk_buf_free(&thinking);
            return tk_err_set(e, TK_ENOMEM, "out of memory");
        }
        char *tx = tk__arena_buf(out->arena, &text), *th = tk__arena_buf(out->arena, &thinking);
        tk_buf_free(&text);
        tk_buf_free(&thinking);
        if (!tx || !th) return tk_err_set(e, TK_ENOMEM, "out of memory");
        if (*th) {
            rc = S(out, TK_SEG_OUTPUT, "<|channel|>");
            if (!rc) rc = T(out, TK_SEG_OUTPUT, "analysis");
            if (!rc) rc = S(out, TK_SEG_OUTPUT, "<|message|>");
            if (!rc) rc = T(out, TK_SEG_OUTPUT, th);
            if (!rc) rc = S(out, TK_SEG_OUTPUT, "<|end|>");
            if (!rc) rc = S(out, TK_SEG_OUTPUT, "<|start|>");
            if (!rc) rc = T(out, TK_SEG_OUTPUT, "assistant");
        }
        if (m->n_tool_calls) {
            if (!rc && *tx) { /* text next to tool calls is a commentary preamble */
                rc = S(out, TK_SEG_OUTPUT, "<|channel|>");
                if (!rc) rc = T(out, TK_SEG_OUTPUT, "commentary");
                if (!rc) rc = S(out, TK_SEG_OUTPUT, "<|message|>");
                if (!rc) rc = T(out, TK_SEG_OUTPUT, tx);
                if (!rc) rc = S(out, TK_SEG_OUTPUT, "<|end|>");
                if (!rc) rc = S(out, TK_SEG_OUTPUT, "<|start|>");
                if (!rc) rc = T(out, TK_SEG_OUTPUT, "assistant");
            }
            for (size_t i = 0; !rc && i < m->n_tool_calls; i++) {
                const tk_tool_call *tc = &m->tool_calls[i];
                rc = tk__rm_printf(out, TK_SEG_OUTPUT, " to=functions.%s", tk__str(tc->name));
                if (!rc) rc = S(out, TK_SEG_OUTPUT, "<|channel|>");
                if (!rc) rc = T(out, TK_SEG_OUTPUT, "commentary ");
                if (!rc) rc = S(out, TK_SEG_OUTPUT, "<|constrain|>");
                if (!rc) rc = T(out, TK_SEG_OUTPUT, "json");
                if (!rc) rc = S(out, TK_SEG_OUTPUT, "<|message|>");
                if (!rc) rc = T(out, TK_SEG_OUTPUT, tk__str(tc->arguments));
                if (!rc) rc = S(out, TK_SEG_OUTPUT, "<|call|>");
                if (!rc && i + 1 < m->n_tool_calls) {
                    rc = S(out, TK_SEG_OUTPUT, "<|start|>");
                    if (!rc) rc = T(out, TK_SEG_OUTPUT, "assistant");
                }
            }
        } else {
            if (!rc) rc = S(out, TK_SEG_OUTPUT, "<|channel|>");
            if (!rc) rc = T(out, TK_SEG_OUTPUT, "final");
            if (!rc) rc = S(out, TK_SEG_OUTPUT, "<|message|>");
            if (!rc) rc = T(out, TK_SEG_OUTPUT, tx);
            if (!rc) rc = S(out, TK_SEG_OUTPUT, ctx->is_last ? "<|return|>" : "<|end|>");
        }
        return rc;
    }
    const char *text;
    if ((rc = tk__ensure_text(m, where, &text, e))) return rc;
    rc = S(out, TK_SEG_OUTPUT, "<|message|>");
    if (tk__role_is(m, "system")) {
        if (!rc) rc = T(out, TK_SEG_OUTPUT, "# Instructions\n\n");
        if (!rc) rc = T(out, TK_SEG_OUTPUT, text);
        if (!rc) rc = T(out, TK_SEG_OUTPUT, "\n\n");
    } else if (!rc) {
        rc = T(out, TK_SEG_OUTPUT, text);
    }
    if (!rc) rc = S(out, TK_SEG_OUTPUT, "<|end|>");
    return rc;
}

/* With a reasoning effort, the built-in system prompt comes first. */
static int normalize(const tk_renderer *r, const tk_message *in, size_t n, tk_arena *a,
                     const tk_message **out, size_t *n_out, tk_err *e) {
    *out = in;
    *n_out = n;
    const char *effort = EFFORT[r->variant];
    if (!effort) return 0;
    char date[32];
    const char *d = r->current_date;
    if (!d) {
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(date, sizeof date, "%Y-%m-%d", &tm);
        d = date;
    }
    char *content = tk_arena_printf(a,
                                    "You are ChatGPT, a large language model trained by OpenAI.\n"
                                    "Knowledge cutoff: 2024-06\nCurrent date: %s\n\nReasoning: %s\n\n"
                                    "# Valid channels: analysis, commentary, final. Channel must be "
                                    "included for every message.",
                                    d, effort);
    tk_message *m = tk_arena_alloc(a, (n + 1) * sizeof *m);
    if (!content || !m) return tk_err_set(e, TK_ENOMEM, "out of memory");
    if (n && tk__role_is(&in[0], "system"))
        tk_debug("%s: the conversation starts with a system message and the renderer adds its own "
                 "system prompt; the message is rendered as a developer message after it",
                 r->name);
    m[0] = (tk_message){.role = INTERNAL_SYSTEM, .content = content};
    if (n) memcpy(m + 1, in, n * sizeof *m);
    *out = m;
    *n_out = n + 1;
    return 0;
}

/* ---- parsing ------------------------------------------------------------------------------------ */

/* First occurrence in [s, end) of any Harmony end marker. */
static const char *next_end(const char *s, const char *end, const char **tok) {
    static const char *const ENDS[] = {"<|end|>", "<|call|>", "<|return|>"};
    const char *best = NULL;
    for (int i = 0; i < 3; i++) {
        const char *p = tk__find(s, (size_t)(end - s), ENDS[i]);
        if (p && (!best || p < best)) {
            best = p;
            *tok = ENDS[i];
        }
    }
    return best;
}

/* The value after `key` in header[0..n) up to whitespace or '<' (regex key([^\s<]+)). */
static bool header_field(const char *h, size_t n, const char *key, bool skip_ws, const char **v,
                         size_t *vn) {
    const char *p = tk__find(h, n, key);
    if (!p) return false;
    p += strlen(key);
    const char *end = h + n;
    if (skip_ws)
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    const char *q = p;
    while (q < end && *q != '<' && *q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') q++;
    if (q == p) return false;
    *v = p;
    *vn = (size_t)(q - p);
    return true;
}

static int parse_messages(tk__msg_builder *b, const char *s, size_t len) {
    const char *end = s + len, *p = s;
    int rc = 0;
    while (!rc) {
        const char *msg = tk__find(p, (size_t)(end - p), "<|message|>");
        if (!msg) break;
        /* the header starts at the last <|start|> before <|message|> (or where we are) */
        const char *hs = p, *q = p;
        while ((q = tk__find(q, (size_t)(msg - q), "<|start|>")) != NULL) hs = q++;
        const char *body = msg + 11, *etok = "";
        const char *be = next_end(body, end, &etok);
        if (!be) be = end, etok = "";
        size_t hn = (size_t)(msg - hs);
        const char *channel = NULL, *recipient = NULL;
        size_t cn = 0, rn = 0;
        header_field(hs, hn, "<|channel|>", false, &channel, &cn);
        header_field(hs, hn, "to=", false, &recipient, &rn);
        const char *content = body;
        size_t n = (size_t)(be - body);
        const char *t = content;
        size_t tn = n;
        tk__py_strip(&t, &tn, NULL);
        const char *raw_end = be + strlen(etok);
        if (tn) {
            if (recipient && rn >= 10 && !strncmp(recipient, "functions.", 10)) {
                char err[200], msgbuf[260];
                json_t *v = tk__pyjson_loads(content, n, err, sizeof err);
                if (v) {
                    rc = tk__mb_call(b, NULL, recipient + 10, rn - 10, t, tn);
                    json_decref(v);
                } else {
                    snprintf(msgbuf, sizeof msgbuf, "Invalid JSON: %s", err);
                    rc = tk__mb_unparsed(b, hs, (size_t)(raw_end - hs), msgbuf);
                }
            } else if (channel && cn == 8 && !strncmp(channel, "analysis", 8)) {
                rc = tk__mb_part(b, TK_PART_THINKING, content, n);
            } else if (channel && ((cn == 5 && !strncmp(channel, "final", 5)) ||
                                   (cn == 10 && !strncmp(channel, "commentary", 10)))) {
                rc = tk__mb_part(b, TK_PART_TEXT, content, n);
            }
        }
        p = raw_end;
        if (be == end) break;
    }
    return rc;
}

static int parse(const tk_renderer *r, const int32_t *ids, size_t n, tk_parsed_response *out,
                 tk_err *e) {
    int32_t ret = r->stop_tokens.data[0], call = r->stop_tokens.data[1];
    size_t n_ret = 0, n_call = 0, stop = n;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] == ret && !n_ret++ && i < stop) stop = i;
        if (ids[i] == call && !n_call++ && i < stop) stop = i;
    }
    if (n_ret > 1 || n_call > 1)
        return tk_err_set(e, TK_EINVAL,
                          "%s: parse_response: expected at most one <|return|> and one <|call|>, "
                          "got %zu and %zu; the sampler was probably not given this renderer's "
                          "stop sequences",
                          r->name, n_ret, n_call);
    tk_buf text = {0};
    int rc = tk__decode(r, ids, stop, &text, e);
    tk__msg_builder b = {out->arena, {0}, {0}, {0}};
    const char *s = text.data ? text.data : "";
    if (rc) goto done;
    if (!n_ret && !n_call) {
        out->termination = TK_PARSE_MALFORMED;
        rc = tk__mb_finish(&b, out, false, s, text.len);
        goto done;
    }
    out->termination = TK_PARSE_STOP_SEQUENCE;
    rc = parse_messages(&b, s, text.len);
    /* a to=functions. header that produced no call (no payload, or cut off by <|return|>) */
    size_t intents = tk__count(s, text.len, "to=functions.");
    if (!rc && intents > b.calls.len + b.unparsed.len) {
        const char *last = NULL, *p = s;
        while ((p = tk__find(p, (size_t)(s + text.len - p), "<|start|>")) != NULL) last = p++;
        const char *raw = last ? last : s;
        rc = tk__mb_unparsed(&b, raw, (size_t)(s + text.len - raw),
                             "unterminated tool block: 'to=functions.' tool-call header without a "
                             "parsable arguments payload");
    }
    /* With no final/analysis part, the cookbook returns the raw text as content even when a
     * tool call was parsed; a tool-call-only turn has empty content instead (see docs). */
    if (!rc) {
        if (b.parts.len) rc = tk__mb_finish(&b, out, true, NULL, 0);
        else if (b.calls.len) rc = tk__mb_finish(&b, out, false, "", 0);
        else rc = tk__mb_finish(&b, out, false, s, text.len);
    }
done:
    if (rc) tk__mb_free(&b);
    tk_buf_free(&text);
    return rc == TK_ENOMEM ? tk_err_set(e, rc, "%s: out of memory", r->name) : rc;
}

/* ---- tool declarations: TypeScript-ish `namespace functions { … }` -------------------------- */

static int ts_type(const json_t *schema, tk_buf *b);

static int ts_object_inline(const json_t *schema, tk_buf *b) {
    const json_t *type = json_object_get(schema, "type");
    if (!json_is_string(type) || strcmp(json_string_value(type), "object")) return tk_buf_puts(b, "any");
    const json_t *props = json_object_get(schema, "properties"), *req = json_object_get(schema, "required");
    int rc = tk_buf_puts(b, "{ ");
    const char *k;
    json_t *v;
    bool first = true;
    if (json_is_object(props)) json_object_foreach((json_t *)props, k, v) {
        bool required = false;
        for (size_t i = 0; json_is_array(req) && i < json_array_size(req); i++)
            required |= json_is_string(json_array_get(req, i)) && !strcmp(json_string_value(json_array_get(req, i)), k);
        rc = rc ? rc : tk_buf_printf(b, "%s%s%s: ", first ? "" : ", ", k, required ? "" : "?");
        rc = rc ? rc : ts_type(v, b);
        first = false;
    }
    return rc ? rc : tk_buf_puts(b, " }");
}

static int ts_union(const json_t *arr, tk_buf *b) {
    int rc = 0;
    for (size_t i = 0; !rc && i < json_array_size(arr); i++) {
        if (i) rc = tk_buf_puts(b, " | ");
        if (!rc) rc = ts_type(json_array_get(arr, i), b);
    }
    return rc;
}

static int ts_type(const json_t *schema, tk_buf *b) {
    if (!json_is_object(schema)) return tk_buf_puts(b, "any");
    const json_t *x;
    if (json_is_array(x = json_object_get(schema, "oneOf"))) return ts_union(x, b);
    if (json_is_array(x = json_object_get(schema, "anyOf"))) return ts_union(x, b);
    const json_t *type = json_object_get(schema, "type");
    int rc = 0;
    if (json_is_array(type)) {
        for (size_t i = 0; !rc && i < json_array_size(type); i++) {
            json_t *one = json_object();
            if (!one || json_object_set(one, "type", json_array_get(type, i))) {
                json_decref(one);
                return TK_ENOMEM;
            }
            if (i) rc = tk_buf_puts(b, " | ");
            if (!rc) rc = ts_type(one, b);
            json_decref(one);
        }
        return rc;
    }
    const char *t = json_is_string(type) ? json_string_value(type) : "any";
    if (!strcmp(t, "string")) {
        if (json_is_array(x = json_object_get(schema, "enum"))) {
            for (size_t i = 0; !rc && i < json_array_size(x); i++) {
                if (i) rc = tk_buf_puts(b, " | ");
                if (!rc) rc = tk__pyjson_dump(json_array_get(x, i), &TK__PYJSON_DEFAULT, b);
            }
            return rc;
        }
        rc = tk_buf_puts(b, "string");
    } else if (!strcmp(t, "number") || !strcmp(t, "integer")) {
        rc = tk_buf_puts(b, "number");
    } else if (!strcmp(t, "boolean")) {
        rc = tk_buf_puts(b, "boolean");
    } else if (!strcmp(t, "null")) { /* the cookbook writes any here; harmony (the format) null */
        rc = tk_buf_puts(b, "null");
    } else if (!strcmp(t, "array")) {
        x = json_object_get(schema, "items");
        json_t *empty = x ? NULL : json_object();
        rc = ts_type(x ? x : empty, b);
        json_decref(empty);
        rc = rc ? rc : tk_buf_puts(b, "[]");
    } else if (!strcmp(t, "object")) {
        rc = ts_object_inline(schema, b);
    } else {
        rc = tk_buf_puts(b, "any");
    }
    if (!rc && json_is_true(json_object_get(schema, "nullable"))) rc = tk_buf_puts(b, " | null");
    return rc;
}

static int ts_comments(const json_t *schema, tk_buf *b) {
    int rc = 0;
    const json_t *x;
    if (json_is_string(x = json_object_get(schema, "title")) && json_string_length(x))
        rc = tk_buf_printf(b, "// %s\n// \n", json_string_value(x));
    if (!rc && json_is_string(x = json_object_get(schema, "description")) && json_string_length(x))
        rc = tk_buf_printf(b, "// %s\n", json_string_value(x));
    if (!rc && json_is_array(x = json_object_get(schema, "examples")) && json_array_size(x)) {
        rc = tk_buf_puts(b, "// Examples:\n");
        for (size_t i = 0; !rc && i < json_array_size(x); i++) {
            rc = tk_buf_puts(b, "// - ");
            rc = rc ? rc : tk__pyjson_dump(json_array_get(x, i), &TK__PYJSON_DEFAULT, b);
            rc = rc ? rc : tk_buf_putc(b, '\n');
        }
    }
    return rc;
}

static int ts_function(const tk_tool_spec *t, tk_buf *b, tk_err *e) {
    json_t *params = NULL;
    int rc = tk__tool_params(t, &params, e);
    if (rc) return rc;
    if (t->description && *t->description) rc = tk_buf_printf(b, "// %s\n", t->description);
    rc = rc ? rc : tk_buf_printf(b, "type %s = ", tk__str(t->name));
    const json_t *type = json_object_get(params, "type"), *props = json_object_get(params, "properties");
    if (!json_is_string(type) || strcmp(json_string_value(type), "object") || !json_is_object(props) ||
        !json_object_size(props)) {
        rc = rc ? rc : tk_buf_puts(b, "()");
    } else {
        const json_t *desc = json_object_get(params, "description"), *req = json_object_get(params, "required");
        rc = rc ? rc : tk_buf_puts(b, "(_:");
        if (!rc && json_is_string(desc) && json_string_length(desc))
            rc = tk_buf_printf(b, " // %s", json_string_value(desc));
        rc = rc ? rc : tk_buf_puts(b, "\n{\n");
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)props, k, v) {
            if (rc) break;
            bool required = false;
            for (size_t i = 0; json_is_array(req) && i < json_array_size(req); i++)
                required |= json_is_string(json_array_get(req, i)) && !strcmp(json_string_value(json_array_get(req, i)), k);
            if (json_is_object(v)) rc = ts_comments(v, b);
            rc = rc ? rc : tk_buf_printf(b, "%s%s: ", k, required ? "" : "?");
            rc = rc ? rc : ts_type(v, b);
            rc = rc ? rc : tk_buf_putc(b, ',');
            json_t *def = json_is_object(v) ? json_object_get(v, "default") : NULL;
            if (!rc && def) {
                rc = tk_buf_puts(b, " // default: ");
                rc = rc ? rc : tk__pyjson_dump(def, &TK__PYJSON_DEFAULT, b);
            }
            rc = rc ? rc : tk_buf_putc(b, '\n');
        }
        rc = rc ? rc : tk_buf_puts(b, "})");
    }
    rc = rc ? rc : tk_buf_puts(b, " => any;");
    json_decref(params);
    return rc == TK_ENOMEM ? tk_err_set(e, rc, "out of memory") : rc;
}

static int tool_prefix(const tk_renderer *r, const tk_tool_spec *tools, size_t n, const char *sp,
                       tk_conversation *out, tk_err *e) {
    int rc = 0;
    if (n) rc = tk__append_msg(out, INTERNAL_SYSTEM,
                               "Calls to these tools must go to the commentary channel: 'functions'.", e);
    tk_buf b = {0};
    if (!rc && *sp) rc = tk_buf_printf(&b, "# Instructions\n\n%s", sp);
    if (!rc && n) {
        rc = tk_buf_printf(&b, "%s# Tools\n\n## functions\n\nnamespace functions {\n\n", b.len ? "\n\n" : "");
        for (size_t i = 0; !rc && i < n; i++) {
            if (i) rc = tk_buf_puts(&b, "\n\n");
            if (!rc) rc = ts_function(&tools[i], &b, e);
        }
        if (!rc) rc = tk_buf_puts(&b, "\n\n} // namespace functions");
    }
    if (!rc && b.len) rc = tk__append_msg(out, "developer", b.data, e);
    tk_buf_free(&b);
    return rc == TK_ENOMEM ? tk_err_set(e, rc, "%s: out of memory", r->name) : rc;
}

int tk__gpt_oss_init(tk_renderer *r, int variant, tk_err *e) {
    r->variant = variant;
    r->ops.render_message = render;
    r->ops.parse_response = parse;
    r->ops.normalize = normalize;
    r->ops.tool_prefix = tool_prefix;
    r->extension = false;
    int rc = tk__add_stop_token(r, "<|return|>", e);
    return rc ? rc : tk__add_stop_token(r, "<|call|>", e);
}
