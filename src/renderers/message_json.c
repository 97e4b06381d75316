/* Conversations in the cookbook's JSON shape: parsing with path-named errors, deep copies into an
 * arena, and serialisation. */
#include "internal.h"

#include <jansson.h>
#include <stdio.h>

#define PATH_MAX_ 256

static int ensure_arena(tk_conversation *c, tk_err *e) {
    if (c->arena) return 0;
    c->arena = tk_arena_new(0);
    return c->arena ? 0 : tk_err_set(e, TK_ENOMEM, "conversation: out of memory");
}

static char *dup_str(tk_conversation *c, const char *s) {
    return s ? tk_arena_strdup(c->arena, s) : NULL;
}

int tk_conversation_append(tk_conversation *c, const tk_message *m, tk_err *e) {
    int rc = ensure_arena(c, e);
    if (rc) return rc;
    if (c->n_messages == c->cap_) {
        size_t cap = c->cap_ ? c->cap_ * 2 : 8;
        tk_message *nm = tk_realloc_array(c->messages, cap, sizeof *nm);
        if (!nm) return tk_err_set(e, TK_ENOMEM, "conversation: out of memory");
        c->messages = nm;
        c->cap_ = cap;
    }
    tk_arena *a = c->arena;
    tk_message d = {0};
    d.role = dup_str(c, tk__str(m->role));
    d.content = m->content ? dup_str(c, m->content) : NULL;
    d.content_is_list = m->content_is_list;
    bool oom = !d.role || (m->content && !d.content);
    if (m->n_parts) {
        tk_content_part *p = tk_arena_alloc(a, m->n_parts * sizeof *p);
        oom |= !p;
        for (size_t i = 0; p && i < m->n_parts; i++) {
            p[i].type = m->parts[i].type;
            p[i].text = dup_str(c, tk__str(m->parts[i].text));
            oom |= !p[i].text;
        }
        d.parts = p;
        d.n_parts = m->n_parts;
    }
    if (m->n_tool_calls) {
        tk_tool_call *t = tk_arena_alloc(a, m->n_tool_calls * sizeof *t);
        oom |= !t;
        for (size_t i = 0; t && i < m->n_tool_calls; i++) {
            t[i].id = dup_str(c, m->tool_calls[i].id);
            t[i].name = dup_str(c, tk__str(m->tool_calls[i].name));
            t[i].arguments = dup_str(c, tk__str(m->tool_calls[i].arguments));
            oom |= !t[i].name || !t[i].arguments;
        }
        d.tool_calls = t;
        d.n_tool_calls = m->n_tool_calls;
    }
    if (m->n_unparsed_tool_calls) {
        tk_unparsed_tool_call *u = tk_arena_alloc(a, m->n_unparsed_tool_calls * sizeof *u);
        oom |= !u;
        for (size_t i = 0; u && i < m->n_unparsed_tool_calls; i++) {
            u[i].raw_text = dup_str(c, tk__str(m->unparsed_tool_calls[i].raw_text));
            u[i].error = dup_str(c, tk__str(m->unparsed_tool_calls[i].error));
            oom |= !u[i].raw_text || !u[i].error;
        }
        d.unparsed_tool_calls = u;
        d.n_unparsed_tool_calls = m->n_unparsed_tool_calls;
    }
    d.trainable = m->trainable;
    d.tool_call_id = dup_str(c, m->tool_call_id);
    d.name = dup_str(c, m->name);
    if (oom) return tk_err_set(e, TK_ENOMEM, "conversation: out of memory");
    c->messages[c->n_messages++] = d;
    return 0;
}

int tk_conversation_append_tool(tk_conversation *c, const tk_tool_spec *t, tk_err *e) {
    int rc = ensure_arena(c, e);
    if (rc) return rc;
    if (c->n_tools == c->tools_cap_) {
        size_t cap = c->tools_cap_ ? c->tools_cap_ * 2 : 4;
        tk_tool_spec *nt = tk_realloc_array(c->tools, cap, sizeof *nt);
        if (!nt) return tk_err_set(e, TK_ENOMEM, "conversation: out of memory");
        c->tools = nt;
        c->tools_cap_ = cap;
    }
    tk_tool_spec d = {dup_str(c, tk__str(t->name)), dup_str(c, tk__str(t->description)),
                      dup_str(c, t->parameters ? t->parameters : "{}")};
    if (!d.name || !d.description || !d.parameters)
        return tk_err_set(e, TK_ENOMEM, "conversation: out of memory");
    c->tools[c->n_tools++] = d;
    return 0;
}

void tk_conversation_free(tk_conversation *c) {
    if (!c) return;
    free(c->messages);
    free(c->tools);
    tk_arena_free(c->arena);
    memset(c, 0, sizeof *c);
}

/* ---- parsing ------------------------------------------------------------------------------------ */

/* A required or optional string without NUL bytes, copied to the arena. */
static int get_string(tk_conversation *c, const json_t *obj, const char *key, const char *path,
                      bool required, const char **out, tk_err *e) {
    const char *s = NULL;
    bool present = true;
    int rc = required ? tk_json_get_str(obj, key, path, &s, e)
                      : tk_json_opt_str(obj, key, path, &s, &present, e);
    if (rc) return rc;
    if (!present) {
        *out = NULL;
        return 0;
    }
    json_t *v = json_object_get(obj, key);
    if (json_string_length(v) != strlen(s))
        return tk_err_set(e, TK_EINVAL, "%s%s%s: string contains a NUL character", path,
                          *path ? "." : "", key);
    *out = tk_arena_strdup(c->arena, s);
    return *out ? 0 : tk_err_set(e, TK_ENOMEM, "conversation: out of memory");
}

static int parse_parts(tk_conversation *c, const json_t *arr, const char *path, tk_message *m,
                       tk_err *e) {
    size_t n = json_array_size(arr);
    tk_content_part *parts = n ? tk_arena_zalloc(c->arena, n * sizeof *parts) : NULL;
    if (n && !parts) return tk_err_set(e, TK_ENOMEM, "conversation: out of memory");
    for (size_t i = 0; i < n; i++) {
        char p[PATH_MAX_];
        snprintf(p, sizeof p, "%s[%zu]", path, i);
        json_t *part = json_array_get(arr, i);
        if (!json_is_object(part))
            return tk_err_set(e, TK_EINVAL, "%s: expected object, got %s", p, tk_json_type_name(part));
        const char *type;
        int rc = tk_json_get_str(part, "type", p, &type, e);
        if (rc) return rc;
        const char *key;
        if (!strcmp(type, "text")) {
            parts[i].type = TK_PART_TEXT;
            key = "text";
        } else if (!strcmp(type, "thinking")) {
            parts[i].type = TK_PART_THINKING;
            key = "thinking";
        } else if (!strcmp(type, "image")) {
            parts[i].type = TK_PART_IMAGE;
            key = "image";
        } else {
            return tk_err_set(e, TK_EINVAL,
                              "%s.type: unknown content part type \"%s\" (expected text, thinking "
                              "or image)",
                              p, type);
        }
        const char *allowed[] = {"type", key, NULL};
        if ((rc = tk_json_check_keys(part, p, allowed, e))) return rc;
        if ((rc = get_string(c, part, key, p, true, &parts[i].text, e))) return rc;
    }
    m->parts = parts;
    m->n_parts = n;
    m->content_is_list = true;
    return 0;
}

static int parse_tool_calls(tk_conversation *c, const json_t *arr, const char *path, tk_message *m,
                            tk_err *e) {
    size_t n = json_array_size(arr);
    tk_tool_call *calls = n ? tk_arena_zalloc(c->arena, n * sizeof *calls) : NULL;
    if (n && !calls) return tk_err_set(e, TK_ENOMEM, "conversation: out of memory");
    for (size_t i = 0; i < n; i++) {
        char p[PATH_MAX_], fp[PATH_MAX_ + 16];
        snprintf(p, sizeof p, "%s[%zu]", path, i);
        snprintf(fp, sizeof fp, "%s.function", p);
        json_t *tc = json_array_get(arr, i), *fn;
        if (!json_is_object(tc))
            return tk_err_set(e, TK_EINVAL, "%s: expected object, got %s", p, tk_json_type_name(tc));
        static const char *const allowed[] = {"type", "id", "function", NULL};
        static const char *const fallowed[] = {"name", "arguments", NULL};
        int rc = tk_json_check_keys(tc, p, allowed, e);
        const char *type = NULL;
        bool present;
        if (!rc) rc = tk_json_opt_str(tc, "type", p, &type, &present, e);
        if (!rc && present && strcmp(type, "function"))
            rc = tk_err_set(e, TK_EINVAL, "%s.type: expected \"function\", got \"%s\"", p, type);
        if (!rc) rc = get_string(c, tc, "id", p, false, &calls[i].id, e);
        if (!rc) rc = tk_json_get_obj(tc, "function", p, &fn, e);
        if (!rc) rc = tk_json_check_keys(fn, fp, fallowed, e);
        if (!rc) rc = get_string(c, fn, "name", fp, true, &calls[i].name, e);
        if (rc) return rc;
        json_t *args = json_object_get(fn, "arguments");
        if (json_is_string(args)) {
            rc = get_string(c, fn, "arguments", fp, true, &calls[i].arguments, e);
            if (rc) return rc;
        } else if (json_is_object(args)) {
            tk_buf b = {0};
            rc = tk__pyjson_dump(args, &TK__PYJSON_UNICODE, &b);
            calls[i].arguments = rc ? NULL : tk__arena_buf(c->arena, &b);
            tk_buf_free(&b);
            if (!calls[i].arguments) return tk_err_set(e, TK_ENOMEM, "conversation: out of memory");
        } else {
            return tk_err_set(e, TK_EINVAL,
                              "%s.arguments: expected a JSON string or object, got %s", fp,
                              args ? tk_json_type_name(args) : "nothing (required field is missing)");
        }
    }
    m->tool_calls = calls;
    m->n_tool_calls = n;
    return 0;
}

static int parse_unparsed(tk_conversation *c, const json_t *arr, const char *path, tk_message *m,
                          tk_err *e) {
    size_t n = json_array_size(arr);
    tk_unparsed_tool_call *u = n ? tk_arena_zalloc(c->arena, n * sizeof *u) : NULL;
    if (n && !u) return tk_err_set(e, TK_ENOMEM, "conversation: out of memory");
    for (size_t i = 0; i < n; i++) {
        char p[PATH_MAX_];
        snprintf(p, sizeof p, "%s[%zu]", path, i);
        json_t *o = json_array_get(arr, i);
        if (!json_is_object(o))
            return tk_err_set(e, TK_EINVAL, "%s: expected object, got %s", p, tk_json_type_name(o));
        static const char *const allowed[] = {"raw_text", "error", NULL};
        int rc = tk_json_check_keys(o, p, allowed, e);
        if (!rc) rc = get_string(c, o, "raw_text", p, true, &u[i].raw_text, e);
        if (!rc) rc = get_string(c, o, "error", p, true, &u[i].error, e);
        if (rc) return rc;
    }
    m->unparsed_tool_calls = u;
    m->n_unparsed_tool_calls = n;
    return 0;
}

static int parse_message(tk_conversation *c, const json_t *o, const char *p, tk_err *e) {
    if (!json_is_object(o))
        return tk_err_set(e, TK_EINVAL, "%s: expected object, got %s", p, tk_json_type_name(o));
    static const char *const allowed[] = {"role", "content", "tool_calls", "unparsed_tool_calls",
                                          "trainable", "tool_call_id", "name", NULL};
    int rc = tk_json_check_keys(o, p, allowed, e);
    if (rc) return rc;
    tk_message m = {0};
    if ((rc = get_string(c, o, "role", p, true, &m.role, e))) return rc;
    char sub[PATH_MAX_ + 32];
    json_t *content = json_object_get(o, "content");
    snprintf(sub, sizeof sub, "%s.content", p);
    if (!content || json_is_null(content)) {
        m.content = "";
    } else if (json_is_string(content)) {
        if ((rc = get_string(c, o, "content", p, true, &m.content, e))) return rc;
    } else if (json_is_array(content)) {
        if ((rc = parse_parts(c, content, sub, &m, e))) return rc;
    } else {
        return tk_err_set(e, TK_EINVAL, "%s: expected a string or a list of parts, got %s", sub,
                          tk_json_type_name(content));
    }
    json_t *arr;
    bool present;
    if ((rc = tk_json_opt_arr(o, "tool_calls", p, &arr, &present, e))) return rc;
    snprintf(sub, sizeof sub, "%s.tool_calls", p);
    if (present && (rc = parse_tool_calls(c, arr, sub, &m, e))) return rc;
    if ((rc = tk_json_opt_arr(o, "unparsed_tool_calls", p, &arr, &present, e))) return rc;
    snprintf(sub, sizeof sub, "%s.unparsed_tool_calls", p);
    if (present && (rc = parse_unparsed(c, arr, sub, &m, e))) return rc;
    bool trainable;
    if ((rc = tk_json_opt_bool(o, "trainable", p, &trainable, &present, e))) return rc;
    if (present) m.trainable = trainable ? TK_TRAINABLE_TRUE : TK_TRAINABLE_FALSE;
    if ((rc = get_string(c, o, "tool_call_id", p, false, &m.tool_call_id, e))) return rc;
    if ((rc = get_string(c, o, "name", p, false, &m.name, e))) return rc;
    /* strings are already in the arena; append copies them again, so store directly */
    if (c->n_messages == c->cap_) {
        size_t cap = c->cap_ ? c->cap_ * 2 : 8;
        tk_message *nm = tk_realloc_array(c->messages, cap, sizeof *nm);
        if (!nm) return tk_err_set(e, TK_ENOMEM, "conversation: out of memory");
        c->messages = nm;
        c->cap_ = cap;
    }
    c->messages[c->n_messages++] = m;
    return 0;
}

static int parse_tool(tk_conversation *c, const json_t *o, const char *p, tk_err *e) {
    if (!json_is_object(o))
        return tk_err_set(e, TK_EINVAL, "%s: expected object, got %s", p, tk_json_type_name(o));
    char fp[PATH_MAX_ + 16];
    const json_t *spec = o;
    int rc;
    if (json_object_get(o, "function")) { /* OpenAI shape */
        static const char *const outer[] = {"type", "function", NULL};
        if ((rc = tk_json_check_keys(o, p, outer, e))) return rc;
        json_t *fn;
        if ((rc = tk_json_get_obj(o, "function", p, &fn, e))) return rc;
        spec = fn;
        snprintf(fp, sizeof fp, "%s.function", p);
        p = fp;
    }
    static const char *const allowed[] = {"name", "description", "parameters", NULL};
    if ((rc = tk_json_check_keys(spec, p, allowed, e))) return rc;
    tk_tool_spec t = {0};
    if ((rc = get_string(c, spec, "name", p, true, &t.name, e))) return rc;
    if ((rc = get_string(c, spec, "description", p, false, &t.description, e))) return rc;
    json_t *params = json_object_get(spec, "parameters");
    tk_buf b = {0};
    if (params && !json_is_null(params)) {
        if (!json_is_object(params))
            return tk_err_set(e, TK_EINVAL, "%s.parameters: expected object, got %s", p,
                              tk_json_type_name(params));
        if (tk__pyjson_dump(params, &TK__PYJSON_UNICODE, &b)) {
            tk_buf_free(&b);
            return tk_err_set(e, TK_ENOMEM, "conversation: out of memory");
        }
    }
    t.parameters = b.len ? b.data : "{}";
    rc = tk_conversation_append_tool(c, &t, e);
    tk_buf_free(&b);
    return rc;
}

int tk_conversation_from_json(const json_t *v, const char *path, tk_conversation *out, tk_err *e) {
    tk_conversation c = {0};
    int rc = ensure_arena(&c, e);
    if (rc) return rc;
    const json_t *msgs = v, *tools = NULL;
    char base[PATH_MAX_];
    snprintf(base, sizeof base, "%s%s", path ? path : "", path && *path ? ": " : "");
    if (json_is_object(v)) {
        static const char *const allowed[] = {"messages", "tools", NULL};
        rc = tk_json_check_keys(v, path ? path : "", allowed, e);
        json_t *m = NULL, *t = NULL;
        bool present = false;
        if (!rc) rc = tk_json_get_arr(v, "messages", path ? path : "", &m, e);
        if (!rc) rc = tk_json_opt_arr(v, "tools", path ? path : "", &t, &present, e);
        msgs = m;
        tools = present ? t : NULL;
    } else if (!json_is_array(v)) {
        rc = tk_err_set(e, TK_EINVAL, "%sexpected {\"messages\": [...]} or an array of messages, got %s",
                        base, tk_json_type_name(v));
    }
    for (size_t i = 0; !rc && i < json_array_size(msgs); i++) {
        char p[PATH_MAX_];
        snprintf(p, sizeof p, "%smessages[%zu]", base, i);
        rc = parse_message(&c, json_array_get(msgs, i), p, e);
    }
    for (size_t i = 0; !rc && tools && i < json_array_size(tools); i++) {
        char p[PATH_MAX_];
        snprintf(p, sizeof p, "%stools[%zu]", base, i);
        rc = parse_tool(&c, json_array_get(tools, i), p, e);
    }
    if (rc) {
        tk_conversation_free(&c);
        return rc;
    }
    *out = c;
    return 0;
}

int tk_conversation_parse(const char *text, size_t len, const char *what, tk_conversation *out,
                          tk_err *e) {
    json_t *v = NULL;
    int rc = tk_json_parse(text, len, what ? what : "conversation", &v, e);
    if (rc) return rc;
    rc = tk_conversation_from_json(v, what ? what : "conversation", out, e);
    json_decref(v);
    return rc;
}

/* ---- serialisation ------------------------------------------------------------------------------ */

static int put_key(tk_buf *b, const char *key) {
    int rc = tk__pyjson_quote(key, strlen(key), false, b);
    return rc ? rc : tk_buf_putc(b, ':');
}

static int put_str(tk_buf *b, const char *s) {
    return s ? tk__pyjson_quote(s, strlen(s), false, b) : tk_buf_puts(b, "null");
}

int tk_message_dump(const tk_message *m, tk_buf *b) {
    int rc = tk_buf_putc(b, '{');
    rc = rc ? rc : put_key(b, "role");
    rc = rc ? rc : put_str(b, tk__str(m->role));
    rc = rc ? rc : tk_buf_putc(b, ',');
    rc = rc ? rc : put_key(b, "content");
    if (!m->content_is_list) {
        rc = rc ? rc : put_str(b, tk__str(m->content));
    } else {
        rc = rc ? rc : tk_buf_putc(b, '[');
        for (size_t i = 0; !rc && i < m->n_parts; i++) {
            static const char *const types[] = {"text", "thinking", "image"};
            const char *t = types[m->parts[i].type];
            rc = tk_buf_printf(b, "%s{\"type\":\"%s\",\"%s\":", i ? "," : "", t, t);
            rc = rc ? rc : put_str(b, tk__str(m->parts[i].text));
            rc = rc ? rc : tk_buf_putc(b, '}');
        }
        rc = rc ? rc : tk_buf_putc(b, ']');
    }
    if (m->n_tool_calls) {
        rc = rc ? rc : tk_buf_puts(b, ",\"tool_calls\":[");
        for (size_t i = 0; !rc && i < m->n_tool_calls; i++) {
            const tk_tool_call *t = &m->tool_calls[i];
            rc = tk_buf_printf(b, "%s{\"type\":\"function\",\"id\":", i ? "," : "");
            rc = rc ? rc : put_str(b, t->id);
            rc = rc ? rc : tk_buf_puts(b, ",\"function\":{\"name\":");
            rc = rc ? rc : put_str(b, tk__str(t->name));
            rc = rc ? rc : tk_buf_puts(b, ",\"arguments\":");
            rc = rc ? rc : put_str(b, tk__str(t->arguments));
            rc = rc ? rc : tk_buf_puts(b, "}}");
        }
        rc = rc ? rc : tk_buf_putc(b, ']');
    }
    if (m->n_unparsed_tool_calls) {
        rc = rc ? rc : tk_buf_puts(b, ",\"unparsed_tool_calls\":[");
        for (size_t i = 0; !rc && i < m->n_unparsed_tool_calls; i++) {
            rc = tk_buf_printf(b, "%s{\"raw_text\":", i ? "," : "");
            rc = rc ? rc : put_str(b, tk__str(m->unparsed_tool_calls[i].raw_text));
            rc = rc ? rc : tk_buf_puts(b, ",\"error\":");
            rc = rc ? rc : put_str(b, tk__str(m->unparsed_tool_calls[i].error));
            rc = rc ? rc : tk_buf_putc(b, '}');
        }
        rc = rc ? rc : tk_buf_putc(b, ']');
    }
    if (m->trainable != TK_TRAINABLE_UNSET)
        rc = rc ? rc : tk_buf_printf(b, ",\"trainable\":%s",
                                     m->trainable == TK_TRAINABLE_TRUE ? "true" : "false");
    if (m->tool_call_id) {
        rc = rc ? rc : tk_buf_puts(b, ",\"tool_call_id\":");
        rc = rc ? rc : put_str(b, m->tool_call_id);
    }
    if (m->name) {
        rc = rc ? rc : tk_buf_puts(b, ",\"name\":");
        rc = rc ? rc : put_str(b, m->name);
    }
    return rc ? rc : tk_buf_putc(b, '}');
}

int tk_messages_dump(const tk_message *msgs, size_t n, tk_buf *b) {
    int rc = tk_buf_putc(b, '[');
    for (size_t i = 0; !rc && i < n; i++) {
        if (i) rc = tk_buf_putc(b, ',');
        if (!rc) rc = tk_message_dump(&msgs[i], b);
    }
    return rc ? rc : tk_buf_putc(b, ']');
}
