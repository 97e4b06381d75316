/* qwen3_5 / qwen3_5_disable_thinking (Qwen3.5 and 3.6): Qwen3's <|im_start|> layout with the
 * produced turn sampled after a prefilled "<think>\n", an empty <think>\n\n</think>\n\n on turns
 * after the last user message that did not reason, string content stripped, consecutive tool
 * results in one user block, and XML tool calls (<function=…><parameter=…>). The nemotron3
 * family reuses this engine with the differences in tk__q35_style. */
#include "qwen3_5.h"

#include <jansson.h>
#include <stdio.h>

/* Emit s into seg, with <|im_start|> / <|im_end|> as special tokens. */
static int emit_structural(tk_rendered_message *out, int seg, const char *s) {
    int rc = 0;
    while (!rc && *s) {
        const char *a = strstr(s, "<|im_start|>"), *b = strstr(s, "<|im_end|>");
        const char *t = a && (!b || a < b) ? a : b;
        if (!t) return tk__rm_text(out, seg, s);
        if (t > s) {
            char *c = tk_arena_strndup(out->arena, s, (size_t)(t - s));
            rc = c ? tk__rm_ref(out, seg, c, (size_t)(t - s)) : TK_ENOMEM;
        }
        const char *tok = t == a ? "<|im_start|>" : "<|im_end|>";
        if (!rc) rc = tk__rm_special(out, seg, tok);
        s = t + strlen(tok);
    }
    return rc;
}

static const tk__q35_style *style(const tk_renderer *r) { return r->state; }

static bool has_nonempty_text_part(const tk_message *m) {
    if (!m->content_is_list) return false;
    for (size_t i = 0; i < m->n_parts; i++)
        if (m->parts[i].type == TK_PART_TEXT && m->parts[i].text && m->parts[i].text[0]) return true;
    return false;
}

static bool has_thinking_part(const tk_message *m) {
    if (!m->content_is_list) return false;
    for (size_t i = 0; i < m->n_parts; i++)
        if (m->parts[i].type == TK_PART_THINKING) return true;
    return false;
}

static const char *header_suffix(const tk_renderer *r, const tk_message *m,
                                 const tk_render_context *ctx) {
    const tk__q35_style *st = style(r);
    bool think = tk__has_thinking(m);
    if (!st->nemotron) {
        if ((ptrdiff_t)ctx->idx <= ctx->last_user_index) return "";
        return think ? "" : "<think>\n\n</think>\n\n";
    }
    bool historical = (ptrdiff_t)ctx->idx < ctx->last_user_index;
    if (think && (!historical || !r->strip_history)) return "";
    if (!st->ultra && historical && think && has_nonempty_text_part(m) && !m->n_tool_calls)
        return "<think></think>\n";
    return "<think></think>";
}

static int put_thinking(const tk__q35_style *st, const char *th, tk_buf *b) {
    const char *close = st->ultra ? "</think>" : st->nemotron ? "\n</think>\n" : "\n</think>\n\n";
    int rc = tk_buf_puts(b, "<think>\n");
    rc = rc ? rc : tk_buf_puts(b, th);
    return rc ? rc : tk_buf_puts(b, close);
}

/* One value of an XML tool call: JSON for objects and arrays, Python str() for the rest. */
static int put_xml_call(const tk_tool_call *tc, tk_buf *b, tk_err *e) {
    const char *args = tk__str(tc->arguments);
    json_t *a = NULL;
    char err[200];
    if (*args) {
        a = tk__pyjson_loads(args, strlen(args), err, sizeof err);
        if (!a)
            return tk_err_set(e, TK_EINVAL, "tool call \"%s\": arguments are not valid JSON: %s",
                              tk__str(tc->name), err);
        if (!json_is_object(a)) {
            json_decref(a);
            return tk_err_set(e, TK_EINVAL, "tool call \"%s\": arguments must be a JSON object",
                              tk__str(tc->name));
        }
    }
    int rc = tk_buf_printf(b, "<tool_call>\n<function=%s>", tk__str(tc->name));
    const char *key;
    json_t *val;
    if (a) json_object_foreach(a, key, val) {
        if (rc) break;
        rc = tk_buf_printf(b, "\n<parameter=%s>\n", key);
        rc = rc ? rc : tk__pyjson_str(val, &TK__PYJSON_UNICODE, b);
        rc = rc ? rc : tk_buf_puts(b, "\n</parameter>");
    }
    json_decref(a);
    rc = rc ? rc : tk_buf_puts(b, "\n</function>\n</tool_call>");
    return rc ? tk_err_set(e, TK_ENOMEM, "out of memory") : 0;
}

static int put_tool_calls(const tk_renderer *r, const tk_message *m, const char *content,
                          tk_buf *b, tk_err *e) {
    const tk__q35_style *st = style(r);
    int rc = 0;
    if (!st->nemotron) {
        /* a blank line before the first call only when there is visible content */
        bool visible = false;
        if (!m->content_is_list) {
            const char *s = content;
            size_t n = strlen(s);
            tk__py_strip(&s, &n, NULL);
            visible = n > 0;
        } else {
            for (size_t i = 0; i < m->n_parts; i++) {
                const char *s = tk__str(m->parts[i].text);
                size_t n = strlen(s);
                tk__py_strip(&s, &n, NULL);
                if (m->parts[i].type == TK_PART_TEXT && n) visible = true;
            }
        }
        if (visible) rc = tk_buf_puts(b, "\n\n");
        for (size_t i = 0; !rc && i < m->n_tool_calls; i++) {
            if (i) rc = tk_buf_putc(b, '\n');
            if (!rc) rc = put_xml_call(&m->tool_calls[i], b, e);
        }
        return rc;
    }
    /* Nemotron: one "\n" before the calls (none after a bare thinking block, which ends in
     * "\n"; Ultra always writes it), and "\n" after each. */
    bool prefix = st->ultra || !(has_thinking_part(m) && !has_nonempty_text_part(m));
    if (prefix) rc = tk_buf_putc(b, '\n');
    for (size_t i = 0; !rc && i < m->n_tool_calls; i++) {
        rc = put_xml_call(&m->tool_calls[i], b, e);
        if (!rc) rc = tk_buf_putc(b, '\n');
    }
    return rc;
}

static int render(const tk_renderer *r, const tk_message *m, const tk_render_context *ctx_in,
                  tk_rendered_message *out, tk_err *e) {
    const tk__q35_style *st = style(r);
    tk_render_context ctx = *ctx_in;
    int rc = tk__reject_images(m, r->name, ctx.idx, e);
    if (rc) return rc;
    bool asst = tk__role_is(m, "assistant"), tool = tk__role_is(m, "tool");
    /* Nemotron strips reasoning only before the last user message; the cookbook gets there by
     * treating later assistant turns as "last". */
    if (st->nemotron && asst && (ptrdiff_t)ctx.idx >= ctx.last_user_index && !ctx.is_last)
        ctx.is_last = true;

    tk_buf content = {0}; /* string content after effort suffix and strip */
    if (!m->content_is_list) {
        const char *s = tk__str(m->content);
        if (st->effort && tk__role_is(m, "user") && (ptrdiff_t)ctx.idx == ctx.last_user_index) {
            if (tk_buf_puts(&content, s) || tk_buf_puts(&content, st->effort)) goto oom;
            s = content.data;
        }
        size_t n = strlen(s);
        tk__py_strip(&s, &n, NULL);
        tk_buf t = {0};
        if (tk_buf_append(&t, s, n)) goto oom;
        tk_buf_free(&content);
        content = t;
    } else if (st->effort && tk__role_is(m, "user") && (ptrdiff_t)ctx.idx == ctx.last_user_index) {
        return tk_err_set(e, TK_EINVAL,
                          "%s: messages[%zu]: the reasoning-effort suffix needs string content",
                          r->name, ctx.idx);
    }
    const char *text = content.data ? content.data : "";

    /* header */
    tk_buf h = {0};
    bool cont = tool && ctx.prev && tk__role_is(ctx.prev, "tool");
    if (cont) {
        if (!st->nemotron && tk_buf_putc(&h, '\n')) goto oom_h;
    } else {
        if (tk_buf_printf(&h, "%s<|im_start|>%s\n", ctx.idx > 0 ? "\n" : "", tool ? "user" : m->role))
            goto oom_h;
        if (asst && tk_buf_puts(&h, header_suffix(r, m, &ctx))) goto oom_h;
    }

    /* output */
    tk_buf o = {0};
    /* reasoning is dropped before the last user message only: the template keeps it on the
     * current turn's tool-call messages (the cookbook drops it there too) */
    bool strip = r->strip_history && asst && !ctx.is_last &&
                 (ctx.last_user_index < 0 || (ptrdiff_t)ctx.idx < ctx.last_user_index);
    if (tool && tk_buf_puts(&o, "<tool_response>\n")) goto oom_o;
    if (!m->content_is_list) {
        if (tk_buf_puts(&o, text)) goto oom_o;
    } else {
        for (size_t i = 0; i < m->n_parts; i++) {
            const tk_content_part *p = &m->parts[i];
            if (p->type == TK_PART_TEXT) {
                if (tk_buf_puts(&o, tk__str(p->text))) goto oom_o;
            } else if (!strip) {
                if (put_thinking(st, tk__str(p->text), &o)) goto oom_o;
            }
        }
    }
    if (tool && tk_buf_puts(&o, st->nemotron ? "\n</tool_response>\n" : "\n</tool_response>"))
        goto oom_o;
    if (m->n_tool_calls && (rc = put_tool_calls(r, m, text, &o, e))) {
        tk_err_prefix(e, "%s: messages[%zu]: ", r->name, ctx.idx);
        goto fail;
    }
    bool keep_open = tool && ctx.next && tk__role_is(ctx.next, "tool");

    /* A produced turn is sampled after the generation prompt, so the part of its header the
     * prompt already wrote stays in the header and the rest moves to the output. */
    const char *hs = h.data ? h.data : "";
    const char *rest = NULL;
    if (asst && ctx.is_last) {
        char prefix[256];
        snprintf(prefix, sizeof prefix, "%s<|im_start|>%s\n%s", ctx.idx > 0 ? "\n" : "", m->role,
                 st->header_move);
        size_t pl = strlen(prefix);
        if (tk__starts_with(hs, h.len, prefix)) {
            rest = tk_arena_strdup(out->arena, hs + pl);
            if (!rest) goto oom_o;
            h.len = pl;
            h.data[pl] = 0;
        }
    }
    rc = emit_structural(out, TK_SEG_HEADER, hs);
    if (!rc && rest && *rest) {
        rc = emit_structural(out, TK_SEG_OUTPUT, rest);
        if (!rc) rc = tk__rm_break(out, TK_SEG_OUTPUT);
    }
    if (!rc && o.len) {
        char *c = tk__arena_buf(out->arena, &o);
        rc = c ? tk__rm_ref(out, TK_SEG_OUTPUT, c, o.len) : TK_ENOMEM;
    }
    if (!rc && !keep_open) rc = tk__rm_special(out, TK_SEG_OUTPUT, "<|im_end|>");
    tk_buf_free(&o);
    tk_buf_free(&h);
    tk_buf_free(&content);
    return rc ? tk_err_set(e, rc, "%s: out of memory", r->name) : 0;
oom_o:
    rc = TK_ENOMEM;
fail:
    tk_buf_free(&o);
    tk_buf_free(&h);
    tk_buf_free(&content);
    return rc == TK_ENOMEM ? tk_err_set(e, rc, "%s: out of memory", r->name) : rc;
oom_h:
    tk_buf_free(&h);
oom:
    tk_buf_free(&content);
    return tk_err_set(e, TK_ENOMEM, "%s: out of memory", r->name);
}

static int suffix(const tk_renderer *r, const char *role, const tk_render_context *ctx,
                  tk_rendered_message *out, tk_err *e) {
    tk_buf b = {0};
    int rc = tk_buf_printf(&b, "%s<|im_start|>%s\n%s", ctx->idx > 0 ? "\n" : "", role,
                           style(r)->suffix_tail);
    if (!rc) rc = emit_structural(out, TK_SEG_HEADER, b.data);
    tk_buf_free(&b);
    return rc ? tk_err_set(e, rc, "%s: out of memory", r->name) : 0;
}

/* ---- parsing ------------------------------------------------------------------------------------ */

static void skip_ws(const char **s, size_t *n) { tk__py_lstrip(s, n, NULL); }

/* <tool_call> <function=NAME> (<parameter=P> VALUE </parameter>)* </function> </tool_call> */
static int parse_xml_call(tk__msg_builder *b, const char *raw, size_t raw_len, bool *ok) {
    *ok = false;
    const char *s = raw;
    size_t n = raw_len;
    const char *err = "Malformed Qwen3.5 tool call XML";
    tk__py_strip(&s, &n, NULL);
    if (!tk__starts_with(s, n, "<tool_call>")) goto bad;
    s += 11, n -= 11;
    skip_ws(&s, &n);
    if (!tk__starts_with(s, n, "<function=")) goto bad;
    s += 10, n -= 10;
    const char *name = s;
    while (n && *s != '>' && *s != '\n') s++, n--;
    if (!n || *s != '>' || s == name) goto bad;
    size_t name_len = (size_t)(s - name);
    s++, n--;
    skip_ws(&s, &n);
    /* the body ends at the last </function> that is followed only by </tool_call> */
    size_t end = n;
    if (end < 12 || memcmp(s + end - 12, "</tool_call>", 12)) goto bad;
    end -= 12;
    const char *bs = s;
    size_t bn = end;
    tk__py_rstrip(&bs, &bn, NULL);
    if (bn < 11 || memcmp(bs + bn - 11, "</function>", 11)) goto bad;
    bn -= 11;
    tk__py_rstrip(&bs, &bn, NULL);
    tk__py_strip(&name, &name_len, NULL);
    if (!name_len) {
        err = "Missing function name";
        goto bad;
    }
    json_t *args = json_object();
    if (!args) return TK_ENOMEM;
    size_t pos = 0;
    while (pos < bn) {
        const char *p = tk__find(bs + pos, bn - pos, "<parameter=");
        const char *between = bs + pos;
        size_t between_n = p ? (size_t)(p - between) : bn - pos;
        tk__py_strip(&between, &between_n, NULL);
        if (between_n) {
            err = p ? "Unexpected non-parameter content inside <function> block"
                    : "Unexpected trailing content inside <function> block";
            json_decref(args);
            goto bad;
        }
        if (!p) break;
        const char *pn = p + 11, *q = pn;
        while (q < bs + bn && *q != '>' && *q != '\n') q++;
        const char *close = q < bs + bn && *q == '>' ? tk__find(q, (size_t)(bs + bn - q), "</parameter>") : NULL;
        if (!close || q == pn) {
            /* not a parameter block: the rest is unexpected content */
            err = "Unexpected trailing content inside <function> block";
            json_decref(args);
            goto bad;
        }
        const char *pname = pn;
        size_t pname_n = (size_t)(q - pn);
        tk__py_strip(&pname, &pname_n, NULL);
        if (!pname_n) {
            err = "Empty parameter name";
            json_decref(args);
            goto bad;
        }
        const char *v = q + 1;
        size_t vn = (size_t)(close - v);
        tk__py_lstrip(&v, &vn, NULL);
        tk__py_rstrip(&v, &vn, NULL);
        tk__py_strip(&v, &vn, "\n");
        json_t *val = tk__pyjson_loads(v, vn, NULL, 0);
        if (!val) val = json_stringn(v, vn);
        char *key = tk_strndup(pname, pname_n);
        if (!val || !key || json_object_set_new(args, key, val)) {
            free(key);
            json_decref(args);
            return TK_ENOMEM;
        }
        free(key);
        pos = (size_t)(close + 12 - bs);
    }
    tk_buf a = {0};
    int rc = tk__pyjson_dump(args, &TK__PYJSON_UNICODE, &a);
    json_decref(args);
    if (!rc) rc = tk__mb_call(b, NULL, name, name_len, a.data ? a.data : "{}", a.len);
    tk_buf_free(&a);
    *ok = rc == 0;
    return rc;
bad:
    return tk__mb_unparsed(b, raw, raw_len, err);
}

static int parse(const tk_renderer *r, const int32_t *ids, size_t n, tk_parsed_response *out,
                 tk_err *e) {
    const tk__q35_style *st = style(r);
    /* separators put_tool_calls writes around calls */
    static const tk__tool_seps q35 = {"\n\n", "\n", NULL}, nemo = {"\n", NULL, "\n"};
    int rc = tk__qwen_parse(r, ids, n, out, "<think>\n", true, st->nemotron ? &nemo : &q35, e);
    if (rc || out->termination == TK_PARSE_MALFORMED) return rc;
    tk_message *m = &out->message;
    if (m->content_is_list) {
        tk_content_part *parts = (tk_content_part *)m->parts;
        /* Nemotron writes one "\n" after </think>, Qwen3.5 two */
        if (st->nemotron && !st->ultra) {
            bool seen = false;
            for (size_t i = 0; i < m->n_parts; i++) {
                if (parts[i].type == TK_PART_THINKING) seen = true;
                else if (seen && parts[i].type == TK_PART_TEXT) {
                    if (parts[i].text[0] == '\n') parts[i].text++;
                    break;
                }
            }
        }
        bool seen = false;
        for (size_t i = 0; i < m->n_parts; i++) {
            if (parts[i].type == TK_PART_THINKING) {
                const char *s = parts[i].text;
                size_t len = strlen(s);
                tk__py_strip(&s, &len, NULL);
                parts[i].text = tk__arena_slice(out->arena, s, len);
                if (!parts[i].text) return tk_err_set(e, TK_ENOMEM, "out of memory");
                seen = true;
            } else if (seen && parts[i].type == TK_PART_TEXT) {
                if (tk__starts_with(parts[i].text, strlen(parts[i].text), "\n\n")) parts[i].text += 2;
                break;
            }
        }
    }
    /* XML tool calls came through the JSON parser as unparsed entries: convert them */
    if (!m->n_unparsed_tool_calls) return 0;
    tk__msg_builder b = {out->arena, {0}, {0}, {0}};
    for (size_t i = 0; !rc && i < m->n_tool_calls; i++) rc = tk_vec_push(&b.calls, m->tool_calls[i]);
    TK_VEC(tk_unparsed_tool_call) keep = {0};
    for (size_t i = 0; !rc && i < m->n_unparsed_tool_calls; i++) {
        const tk_unparsed_tool_call *u = &m->unparsed_tool_calls[i];
        if (tk__starts_with(u->error, strlen(u->error), "unterminated tool block") ||
            !strstr(u->raw_text, "<function=")) {
            rc = tk_vec_push(&keep, *u);
            continue;
        }
        bool ok;
        size_t before = b.unparsed.len;
        rc = parse_xml_call(&b, u->raw_text, strlen(u->raw_text), &ok);
        if (!rc && !ok && b.unparsed.len > before) {
            rc = tk_vec_push(&keep, b.unparsed.data[--b.unparsed.len]);
        }
    }
    if (!rc) {
        m->tool_calls = NULL;
        m->n_tool_calls = 0;
        m->unparsed_tool_calls = NULL;
        m->n_unparsed_tool_calls = 0;
        if (b.calls.len) {
            tk_tool_call *c = tk_arena_alloc(out->arena, b.calls.len * sizeof *c);
            if (!c) rc = TK_ENOMEM;
            else {
                memcpy(c, b.calls.data, b.calls.len * sizeof *c);
                m->tool_calls = c;
                m->n_tool_calls = b.calls.len;
            }
        }
        if (!rc && keep.len) {
            tk_unparsed_tool_call *u = tk_arena_alloc(out->arena, keep.len * sizeof *u);
            if (!u) rc = TK_ENOMEM;
            else {
                memcpy(u, keep.data, keep.len * sizeof *u);
                m->unparsed_tool_calls = u;
                m->n_unparsed_tool_calls = keep.len;
            }
        }
    }
    tk_vec_free(&keep);
    tk__mb_free(&b);
    return rc ? tk_err_set(e, rc, "%s: out of memory", r->name) : 0;
}

static int tool_prefix(const tk_renderer *r, const tk_tool_spec *tools, size_t n, const char *sp,
                       tk_conversation *out, tk_err *e) {
    tk_buf b = {0};
    int rc = 0;
    if (n) {
        rc = tk_buf_puts(&b, "# Tools\n\nYou have access to the following functions:\n\n<tools>");
        for (size_t i = 0; !rc && i < n; i++) {
            json_t *spec = NULL;
            if ((rc = tk__tool_json(&tools[i], &spec, e))) break;
            rc = tk_buf_putc(&b, '\n');
            rc = rc ? rc : tk__pyjson_dump(spec, &TK__PYJSON_UNICODE, &b);
            json_decref(spec);
        }
        if (!rc) rc = tk_buf_printf(&b, "\n</tools>\n\n%s", tk__xml_tool_instructions);
        if (!rc && *sp) rc = tk_buf_printf(&b, "\n\n%s", sp);
    } else {
        rc = tk_buf_puts(&b, sp);
    }
    if (!rc) rc = tk__append_msg(out, "system", b.data ? b.data : "", e);
    tk_buf_free(&b);
    return rc;
}

/* The calling-convention text Qwen3.5 and Nemotron put after their tool list. */
const char tk__xml_tool_instructions[] =
    "If you choose to call a function ONLY reply in the following format with NO suffix:\n\n"
    "<tool_call>\n<function=example_function_name>\n<parameter=example_parameter_1>\nvalue_1\n"
    "</parameter>\n<parameter=example_parameter_2>\nThis is the value for the second parameter\n"
    "that can span\nmultiple lines\n</parameter>\n</function>\n</tool_call>\n\n<IMPORTANT>\n"
    "Reminder:\n- Function calls MUST follow the specified format: an inner <function=...>"
    "</function> block must be nested within <tool_call></tool_call> XML tags\n- Required "
    "parameters MUST be specified\n- You may provide optional reasoning for your function call in "
    "natural language BEFORE the function call, but NOT after\n- If there is no function call "
    "available, answer the question like normal with your current knowledge and do not tell the "
    "user about function calls\n</IMPORTANT>";

int tk__q35_setup(tk_renderer *r, const tk__q35_style *st, tk_err *e) {
    tk__q35_style *copy = malloc(sizeof *copy);
    if (!copy) return tk_err_set(e, TK_ENOMEM, "out of memory");
    *copy = *st;
    r->state = copy;
    r->ops.destroy = free;
    r->ops.render_message = render;
    r->ops.generation_suffix = suffix;
    r->ops.parse_response = parse;
    r->ops.tool_prefix = tool_prefix;
    r->strip_history = r->opts.keep_thinking_in_history <= 0;
    r->extension = false;
    return tk__add_stop_token(r, "<|im_end|>", e);
}

int tk__qwen3_5_init(tk_renderer *r, int variant, tk_err *e) {
    tk__q35_style st = {false, false, variant ? "<think>\n\n</think>\n\n" : "<think>\n",
                        variant ? "<think>\n\n</think>\n\n" : "<think>\n", NULL};
    r->disables_thinking = variant == 1;
    return tk__q35_setup(r, &st, e);
}
