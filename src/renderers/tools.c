/* Tool specs as JSON, and the helper that appends declaration messages. */
#include "internal.h"

#include <jansson.h>

int tk__tool_params(const tk_tool_spec *t, json_t **out, tk_err *e) {
    const char *p = t->parameters && *t->parameters ? t->parameters : "{}";
    char err[200];
    json_t *v = tk__pyjson_loads(p, strlen(p), err, sizeof err);
    if (!v)
        return tk_err_set(e, TK_EINVAL, "tool \"%s\": parameters are not valid JSON: %s",
                          tk__str(t->name), err);
    if (!json_is_object(v)) {
        json_decref(v);
        return tk_err_set(e, TK_EINVAL, "tool \"%s\": parameters must be a JSON object",
                          tk__str(t->name));
    }
    *out = v;
    return 0;
}

int tk__tool_json(const tk_tool_spec *t, json_t **out, tk_err *e) {
    json_t *params = NULL;
    int rc = tk__tool_params(t, &params, e);
    if (rc) return rc;
    json_t *o = json_object();
    if (!o || json_object_set_new(o, "name", json_string(tk__str(t->name))) ||
        json_object_set_new(o, "description", json_string(tk__str(t->description))) ||
        json_object_set_new(o, "parameters", params)) {
        json_decref(o);
        return tk_err_set(e, TK_ENOMEM, "out of memory");
    }
    *out = o;
    return 0;
}

int tk__append_msg(tk_conversation *c, const char *role, const char *content, tk_err *e) {
    tk_message m = {.role = role, .content = content};
    return tk_conversation_append(c, &m, e);
}
