/* nemotron3 family (Nemotron-3 Nano/Super, and Ultra / 3.5 Lightning): the Qwen3.5 engine with
 * Nemotron's differences — an empty system block is always present, <think></think> on every
 * turn that shows no reasoning, one "\n" after </think> (none on Ultra), tool calls followed by
 * "\n", and XML tool declarations with the system prompt before them. */
#include "qwen3_5.h"

#include <jansson.h>

enum {
    V_N3 = 0, V_N3_DISABLE, V_N3_LOW, V_N3_PRESERVE,
    V_ULTRA, V_ULTRA_DISABLE, V_ULTRA_MEDIUM, V_ULTRA_PRESERVE,
};

/* The template always writes a system block, empty if the conversation has none. */
static int normalize(const tk_renderer *r, const tk_message *in, size_t n, tk_arena *a,
                     const tk_message **out, size_t *n_out, tk_err *e) {
    if (n && tk__role_is(&in[0], "system")) {
        *out = in;
        *n_out = n;
        return 0;
    }
    tk_message *m = tk_arena_alloc(a, (n + 1) * sizeof *m);
    if (!m) return tk_err_set(e, TK_ENOMEM, "%s: out of memory", r->name);
    m[0] = (tk_message){.role = "system", .content = ""};
    if (n) memcpy(m + 1, in, n * sizeof *m);
    *out = m;
    *n_out = n + 1;
    return 0;
}

/* Python's repr() of a JSON value, for str() of lists and dicts inside declarations. */
static int py_repr(const json_t *v, tk_buf *b) {
    int rc = 0;
    switch (json_typeof(v)) {
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        bool dq = memchr(s, '\'', n) && !memchr(s, '"', n);
        char q = dq ? '"' : '\'';
        rc = tk_buf_putc(b, q);
        for (size_t i = 0; !rc && i < n; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c == '\\' || c == (unsigned char)q) rc = tk_buf_printf(b, "\\%c", c);
            else if (c == '\n') rc = tk_buf_puts(b, "\\n");
            else if (c == '\r') rc = tk_buf_puts(b, "\\r");
            else if (c == '\t') rc = tk_buf_puts(b, "\\t");
            else if (c < 0x20 || c == 0x7f) rc = tk_buf_printf(b, "\\x%02x", c);
            else rc = tk_buf_putc(b, (char)c);
        }
        return rc ? rc : tk_buf_putc(b, q);
    }
    case JSON_ARRAY:
        rc = tk_buf_putc(b, '[');
        for (size_t i = 0; !rc && i < json_array_size(v); i++) {
            if (i) rc = tk_buf_puts(b, ", ");
            if (!rc) rc = py_repr(json_array_get(v, i), b);
        }
        return rc ? rc : tk_buf_putc(b, ']');
    case JSON_OBJECT: {
        const char *k;
        json_t *x;
        bool first = true;
        rc = tk_buf_putc(b, '{');
        json_object_foreach((json_t *)v, k, x) {
            json_t *ks = json_string(k);
            if (!ks) return TK_ENOMEM;
            if (!first) rc = tk_buf_puts(b, ", ");
            rc = rc ? rc : py_repr(ks, b);
            json_decref(ks);
            rc = rc ? rc : tk_buf_puts(b, ": ");
            rc = rc ? rc : py_repr(x, b);
            first = false;
            if (rc) break;
        }
        return rc ? rc : tk_buf_putc(b, '}');
    }
    default: return tk__pyjson_str(v, &TK__PYJSON_DEFAULT, b);
    }
}

/* str(): strings raw, containers as repr */
static int py_str(const json_t *v, tk_buf *b) {
    return json_is_string(v) ? tk_buf_append(b, json_string_value(v), json_string_length(v))
                             : py_repr(v, b);
}

static int put_stripped(tk_buf *b, const json_t *v) {
    if (!json_is_string(v)) return py_str(v, b);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    tk__py_strip(&s, &n, NULL);
    return tk_buf_append(b, s, n);
}

/* Other keys as <key>value</key>: JSON for containers, str() for scalars. */
static int extra_keys(const json_t *o, const char *const *handled, tk_buf *b) {
    const char *k;
    json_t *v;
    int rc = 0;
    json_object_foreach((json_t *)o, k, v) {
        bool skip = false;
        for (size_t i = 0; handled[i]; i++) skip |= !strcmp(handled[i], k);
        if (skip) continue;
        rc = tk_buf_printf(b, "\n<%s>", k);
        if (!rc) rc = json_is_object(v) || json_is_array(v) ? tk__pyjson_dump(v, &TK__PYJSON_DEFAULT, b)
                                                          : tk__pyjson_str(v, &TK__PYJSON_DEFAULT, b);
        if (!rc) rc = tk_buf_printf(b, "</%s>", k);
        if (rc) break;
    }
    return rc;
}

static int declare(const tk_tool_spec *t, tk_buf *b, tk_err *e) {
    json_t *params = NULL;
    int rc = tk__tool_params(t, &params, e);
    if (rc) return rc;
    const char *desc = tk__str(t->description);
    size_t dn = strlen(desc);
    tk__py_strip(&desc, &dn, NULL);
    rc = tk_buf_printf(b, "<function>\n<name>%s</name>", tk__str(t->name));
    if (!rc && dn) {
        rc = tk_buf_puts(b, "\n<description>");
        rc = rc ? rc : tk_buf_append(b, desc, dn);
        rc = rc ? rc : tk_buf_puts(b, "</description>");
    }
    if (!rc) rc = tk_buf_puts(b, "\n<parameters>");
    json_t *props = json_object_get(params, "properties");
    if (!rc && json_is_object(props)) {
        const char *pn;
        json_t *pf;
        json_object_foreach(props, pn, pf) {
            rc = tk_buf_printf(b, "\n<parameter>\n<name>%s</name>", pn);
            if (!rc && json_is_object(pf)) {
                json_t *x;
                if (!rc && (x = json_object_get(pf, "type"))) {
                    rc = tk_buf_puts(b, "\n<type>");
                    rc = rc ? rc : py_str(x, b);
                    rc = rc ? rc : tk_buf_puts(b, "</type>");
                }
                if (!rc && (x = json_object_get(pf, "description"))) {
                    rc = tk_buf_puts(b, "\n<description>");
                    rc = rc ? rc : put_stripped(b, x);
                    rc = rc ? rc : tk_buf_puts(b, "</description>");
                }
                if (!rc && (x = json_object_get(pf, "enum"))) {
                    rc = tk_buf_puts(b, "\n<enum>");
                    rc = rc ? rc : tk__pyjson_dump(x, &TK__PYJSON_DEFAULT, b);
                    rc = rc ? rc : tk_buf_puts(b, "</enum>");
                }
                static const char *const handled[] = {"name", "type", "description", "enum", NULL};
                if (!rc) rc = extra_keys(pf, handled, b);
            }
            if (!rc) rc = tk_buf_puts(b, "\n</parameter>");
            if (rc) break;
        }
    }
    static const char *const handled[] = {"type", "properties", "required", NULL};
    if (!rc) rc = extra_keys(params, handled, b);
    json_t *req = json_object_get(params, "required");
    if (!rc && req) {
        rc = tk_buf_puts(b, "\n<required>");
        rc = rc ? rc : tk__pyjson_dump(req, &TK__PYJSON_DEFAULT, b);
        rc = rc ? rc : tk_buf_puts(b, "</required>");
    }
    if (!rc) rc = tk_buf_puts(b, "\n</parameters>\n</function>");
    json_decref(params);
    return rc == TK_ENOMEM ? tk_err_set(e, rc, "out of memory") : rc;
}

static int tool_prefix(const tk_renderer *r, const tk_tool_spec *tools, size_t n, const char *sp,
                       tk_conversation *out, tk_err *e) {
    tk_buf b = {0};
    int rc = 0;
    if (n) {
        if (*sp) rc = tk_buf_printf(&b, "%s\n\n", sp);
        if (!rc) rc = tk_buf_puts(&b, "# Tools\n\nYou have access to the following functions:\n\n<tools>");
        for (size_t i = 0; !rc && i < n; i++) {
            rc = tk_buf_putc(&b, '\n');
            if (!rc) rc = declare(&tools[i], &b, e);
        }
        if (!rc) rc = tk_buf_printf(&b, "\n</tools>\n\n%s", tk__xml_tool_instructions);
    } else {
        rc = tk_buf_puts(&b, sp);
    }
    if (!rc) rc = tk__append_msg(out, "system", b.data ? b.data : "", e);
    tk_buf_free(&b);
    return rc;
}

int tk__nemotron3_init(tk_renderer *r, int variant, tk_err *e) {
    bool ultra = variant >= V_ULTRA;
    bool disable = variant == V_N3_DISABLE || variant == V_ULTRA_DISABLE;
    tk__q35_style st = {true, ultra, disable ? "<think></think>" : "<think>\n", "<think>\n", NULL};
    if (variant == V_N3_LOW) st.effort = "\n\n{reasoning effort: low}";
    if (variant == V_ULTRA_MEDIUM) st.effort = "\n\n{reasoning effort: efficient}";
    int rc = tk__q35_setup(r, &st, e);
    if (rc) return rc;
    if (variant == V_N3_PRESERVE || variant == V_ULTRA_PRESERVE) r->strip_history = false;
    r->disables_thinking = disable;
    /* With thinking off, every turn is written "<think></think>…" in history and in the prompt,
     * so prompts extend (the cookbook reports False for all Nemotron renderers). Thinking on, a
     * turn without reasoning is written <think></think> but prompted with <think>\n (#860). */
    r->extension = disable;
    r->ops.normalize = normalize;
    r->ops.tool_prefix = tool_prefix;
    return 0;
}
