/* Kimi K2.5's TypeScript-style tool declarations ("# Tools\n\n## functions\nnamespace functions
 * {…}"): JSON-Schema parameters become TypeScript object types with // comments for
 * descriptions, constraints and defaults; required fields first, each group sorted by name;
 * $defs become interfaces. */
#include "internal.h"

#include <jansson.h>

#define INDENT "  "

typedef struct ts_ctx {
    const json_t *defs; /* {name: schema} gathered from $defs */
    json_t *defs_owned;
    bool self_ref;
    tk_err *e;
} ts_ctx;

static int type_to_ts(ts_ctx *c, const json_t *schema, const char *indent, tk_buf *b);

/* "// line" per line of s (empty lines stay empty), prefixed by indent. */
static int put_description(const char *s, const char *indent, tk_buf *b) {
    int rc = 0;
    for (;;) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);
        if (n) rc = tk_buf_printf(b, "%s// %.*s", indent, (int)n, s);
        if (rc || !nl) return rc;
        rc = tk_buf_putc(b, '\n');
        s = nl + 1;
    }
}

static bool is_kind(const json_t *schema, const char *type) {
    const json_t *t = json_object_get(schema, "type");
    return json_is_string(t) && !strcmp(json_string_value(t), type);
}

/* description and constraint comments of a schema, each line ending "\n" */
static int docstring(const json_t *schema, const char *indent, tk_buf *b) {
    if (!json_is_object(schema)) return 0;
    int rc = 0;
    const json_t *d = json_object_get(schema, "description");
    if (json_is_string(d) && json_string_length(d)) {
        rc = put_description(json_string_value(d), indent, b);
        rc = rc ? rc : tk_buf_putc(b, '\n');
    }
    /* constraints: only for scalar and array types, sorted by key */
    static const char *const STR[] = {"maxLength", "minLength", "pattern", NULL};
    static const char *const NUM[] = {"maximum", "minimum", NULL};
    static const char *const ARR[] = {"maxItems", "minItems", NULL};
    const char *const *keys = NULL;
    if (json_object_get(schema, "enum") || json_object_get(schema, "anyOf") ||
        json_is_array(json_object_get(schema, "type")) || json_object_get(schema, "$ref"))
        keys = NULL;
    else if (is_kind(schema, "string")) keys = STR;
    else if (is_kind(schema, "number") || is_kind(schema, "integer")) keys = NUM;
    else if (is_kind(schema, "array")) keys = ARR;
    bool any = false;
    for (size_t i = 0; !rc && keys && keys[i]; i++) {
        const json_t *v = json_object_get(schema, keys[i]);
        if (!v) continue;
        rc = any ? tk_buf_printf(b, ", %s: ", keys[i]) : tk_buf_printf(b, "%s// %s: ", indent, keys[i]);
        rc = rc ? rc : tk__pyjson_str(v, &TK__PYJSON_DEFAULT, b);
        any = true;
    }
    if (!rc && any) rc = tk_buf_putc(b, '\n');
    return rc;
}

typedef struct prop {
    const char *name;
    const json_t *schema;
    bool optional;
} prop;

static int cmp_prop(const void *a, const void *b) {
    const prop *x = a, *y = b;
    if (x->optional != y->optional) return x->optional - y->optional;
    return strcmp(x->name, y->name);
}

static int param_to_ts(ts_ctx *c, const prop *p, const char *indent, tk_buf *b) {
    int rc = docstring(p->schema, indent, b);
    const json_t *def = json_is_object(p->schema) ? json_object_get(p->schema, "default") : NULL;
    if (!rc && def && !json_is_null(def)) {
        rc = tk_buf_printf(b, "%s// Default: ", indent);
        if (!rc) rc = json_is_number(def) || json_is_boolean(def) ? tk__pyjson_str(def, &TK__PYJSON_DEFAULT, b)
                                                                   : tk__pyjson_dump(def, &TK__PYJSON_UNICODE, b);
        rc = rc ? rc : tk_buf_putc(b, '\n');
    }
    rc = rc ? rc : tk_buf_printf(b, "%s%s%s: ", indent, p->name, p->optional ? "?" : "");
    return rc ? rc : type_to_ts(c, p->schema, indent, b);
}

static int object_to_ts(ts_ctx *c, const json_t *schema, const char *indent, tk_buf *b) {
    const json_t *defs = json_object_get(schema, "$defs");
    if (json_is_object(defs)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)defs, k, v)
            if (json_object_set(c->defs_owned, k, v)) return TK_ENOMEM;
    }
    const json_t *props = json_object_get(schema, "properties"), *req = json_object_get(schema, "required");
    size_t n = json_is_object(props) ? json_object_size(props) : 0, k = 0;
    prop *ps = tk_malloc_array(n ? n : 1, sizeof *ps);
    if (!ps) return TK_ENOMEM;
    const char *name;
    json_t *v;
    if (n) json_object_foreach((json_t *)props, name, v) {
        bool required = false;
        for (size_t i = 0; json_is_array(req) && i < json_array_size(req); i++)
            required |= json_is_string(json_array_get(req, i)) && !strcmp(json_string_value(json_array_get(req, i)), name);
        ps[k++] = (prop){name, v, !required};
    }
    qsort(ps, n, sizeof *ps, cmp_prop);
    char inner[64];
    snprintf(inner, sizeof inner, "%s" INDENT, indent);
    tk_buf body = {0};
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        if (i) rc = tk_buf_puts(&body, ",\n");
        if (!rc) rc = param_to_ts(c, &ps[i], inner, &body);
    }
    free(ps);
    const json_t *ap = json_object_get(schema, "additionalProperties");
    if (!rc && ap && !json_is_null(ap)) {
        if (body.len) rc = tk_buf_puts(&body, ",\n");
        rc = rc ? rc : tk_buf_printf(&body, "%s[k: string]: ", inner);
        if (!rc) rc = json_is_true(ap) ? tk_buf_puts(&body, "any")
                      : json_is_false(ap) ? tk_buf_puts(&body, "never")
                      : type_to_ts(c, ap, inner, &body);
    }
    if (!rc) rc = body.len ? tk_buf_printf(b, "{\n%s\n%s}", body.data, indent) : tk_buf_puts(b, "{}");
    tk_buf_free(&body);
    return rc;
}

static int type_to_ts(ts_ctx *c, const json_t *schema, const char *indent, tk_buf *b) {
    if (json_is_true(schema)) return tk_buf_puts(b, "any");
    if (json_is_false(schema)) return tk_buf_puts(b, "null");
    if (!json_is_object(schema))
        return tk_err_set(c->e, TK_EINVAL, "invalid JSON Schema value (%s)", tk_json_type_name(schema));
    const json_t *x;
    int rc = 0;
    if (json_is_string(x = json_object_get(schema, "$ref"))) {
        const char *ref = json_string_value(x);
        if (!strcmp(ref, "#")) {
            c->self_ref = true;
            return tk_buf_puts(b, "parameters");
        }
        if (strncmp(ref, "#/$defs/", 8))
            return tk_err_set(c->e, TK_EINVAL, "unsupported $ref \"%s\"", ref);
        if (!json_object_get(c->defs_owned, ref + 8))
            return tk_err_set(c->e, TK_EINVAL, "$ref \"%s\" not found in $defs", ref);
        return tk_buf_puts(b, ref + 8);
    }
    if (json_is_array(x = json_object_get(schema, "anyOf"))) {
        for (size_t i = 0; !rc && i < json_array_size(x); i++) {
            if (i) rc = tk_buf_puts(b, " | ");
            if (!rc) rc = type_to_ts(c, json_array_get(x, i), indent, b);
        }
        return rc;
    }
    if (json_is_array(x = json_object_get(schema, "enum"))) {
        for (size_t i = 0; !rc && i < json_array_size(x); i++) {
            json_t *v = json_array_get(x, i);
            if (i) rc = tk_buf_puts(b, " | ");
            if (!rc) rc = json_is_string(v) ? tk_buf_printf(b, "\"%s\"", json_string_value(v))
                                            : tk__pyjson_str(v, &TK__PYJSON_DEFAULT, b);
        }
        return rc;
    }
    const json_t *type = json_object_get(schema, "type");
    if (json_is_array(type)) {
        for (size_t i = 0; !rc && i < json_array_size(type); i++) {
            const char *t = json_string_value(json_array_get(type, i));
            const char *ts = !t ? "any" : !strcmp(t, "integer") ? "number" : !strcmp(t, "object") ? "{}"
                             : !strcmp(t, "array") ? "Array<any>" : t;
            if (i) rc = tk_buf_puts(b, " | ");
            if (!rc) rc = tk_buf_puts(b, ts);
        }
        return rc;
    }
    if (json_is_string(type)) {
        const char *t = json_string_value(type);
        if (!strcmp(t, "object")) return object_to_ts(c, schema, indent, b);
        if (!strcmp(t, "array")) {
            const json_t *items = json_object_get(schema, "items");
            json_t *any = NULL;
            if (!items || (json_is_object(items) && !json_object_size(items))) items = any = json_object();
            char inner[64];
            snprintf(inner, sizeof inner, "%s" INDENT, indent);
            tk_buf doc = {0};
            rc = docstring(items, inner, &doc);
            if (!rc && doc.len) {
                rc = tk_buf_printf(b, "Array<\n%s%s", doc.data, inner);
                rc = rc ? rc : type_to_ts(c, items, inner, b);
                rc = rc ? rc : tk_buf_printf(b, "\n%s>", indent);
            } else if (!rc) {
                rc = tk_buf_puts(b, "Array<");
                rc = rc ? rc : (any ? tk_buf_puts(b, "any") : type_to_ts(c, items, indent, b));
                rc = rc ? rc : tk_buf_putc(b, '>');
            }
            tk_buf_free(&doc);
            json_decref(any);
            return rc;
        }
        return tk_buf_puts(b, !strcmp(t, "integer") ? "number" : t);
    }
    if (!json_object_size(schema)) return tk_buf_puts(b, "any");
    return tk_err_set(c->e, TK_EINVAL, "invalid JSON Schema object (no type, enum, anyOf or $ref)");
}

static int function_to_ts(const tk_tool_spec *t, tk_buf *b, tk_err *e) {
    json_t *params = NULL;
    int rc = tk__tool_params(t, &params, e);
    if (rc) return rc;
    ts_ctx c = {NULL, json_object(), false, e};
    tk_buf type = {0}, ifaces = {0};
    if (!c.defs_owned) rc = TK_ENOMEM;
    if (!rc) rc = object_to_ts(&c, params, "", &type);
    /* $defs become interfaces */
    const char *k;
    json_t *v;
    size_t i = 0;
    json_t *defs = rc ? NULL : json_copy(c.defs_owned); /* printing may register nested $defs */
    if (!rc && !defs) rc = TK_ENOMEM;
    if (!rc) json_object_foreach(defs, k, v) {
        if (rc) break;
        if (i++) rc = tk_buf_putc(&ifaces, '\n');
        const json_t *d = json_object_get(v, "description");
        if (!rc && json_is_string(d) && json_string_length(d)) {
            rc = put_description(json_string_value(d), "", &ifaces);
            rc = rc ? rc : tk_buf_putc(&ifaces, '\n');
        }
        rc = rc ? rc : tk_buf_printf(&ifaces, "interface %s ", k);
        rc = rc ? rc : type_to_ts(&c, v, "", &ifaces);
    }
    if (!rc && c.self_ref)
        rc = tk_err_set(e, TK_EUNSUPPORTED, "tool \"%s\": self-referencing schemas ($ref \"#\") are not supported",
                        tk__str(t->name));
    if (!rc && ifaces.len) rc = tk_buf_printf(b, "%s\n", ifaces.data);
    if (!rc && t->description && *t->description) {
        rc = put_description(t->description, "", b);
        rc = rc ? rc : tk_buf_putc(b, '\n');
    }
    if (!rc) rc = tk_buf_printf(b, "type %s = (_: %s) => any;", tk__str(t->name), type.data ? type.data : "{}");
    tk_buf_free(&type);
    tk_buf_free(&ifaces);
    json_decref(defs);
    json_decref(c.defs_owned);
    json_decref(params);
    if (rc && e && !e->code) tk_err_set(e, rc, "tool \"%s\": out of memory", tk__str(t->name));
    return rc;
}

int tk__kimi_ts_tools(const tk_tool_spec *tools, size_t n, tk_buf *out, tk_err *e) {
    int rc = tk_buf_puts(out, "# Tools\n\n## functions\nnamespace functions {\n");
    for (size_t i = 0; !rc && i < n; i++) {
        if (i) rc = tk_buf_putc(out, '\n');
        if (!rc) rc = function_to_ts(&tools[i], out, e);
    }
    rc = rc ? rc : tk_buf_puts(out, "\n}\n");
    return rc;
}
