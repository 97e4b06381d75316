/* JSON helpers over jansson: parsing with positions, typed getters that name the JSON path in
 * their errors, unknown-field rejection, and dumping. */
#include "tinkerc/base.h"

#include <jansson.h>
#include <string.h>

const char *tk_json_type_name(const json_t *v) {
    if (!v) return "missing";
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "real";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "unknown";
}

int tk_json_parse(const char *text, size_t len, const char *what, json_t **out, tk_err *e) {
    json_error_t je;
    json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!v)
        return tk_err_set(e, TK_EPARSE, "%s:%d:%d: invalid JSON: %s", what ? what : "JSON",
                          je.line, je.column, je.text);
    *out = v;
    return 0;
}

int tk_json_load_file(const char *path, json_t **out, tk_err *e) {
    tk_buf b = {0};
    int rc = tk_file_read(path, &b, 0, e);
    if (rc == 0) rc = tk_json_parse(b.data ? b.data : "", b.len, path, out, e);
    tk_buf_free(&b);
    return rc;
}

static int dump_cb(const char *buffer, size_t size, void *data) {
    return tk_buf_append((tk_buf *)data, buffer, size) ? -1 : 0;
}

int tk_json_dump(const json_t *v, tk_buf *out) {
    if (json_dump_callback(v, dump_cb, out, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17)
                                                 | JSON_ENCODE_ANY))
        return TK_ENOMEM;
    return 0;
}

/* "path.key" for messages; path may be "" (root). */
static void field_name(char *buf, size_t n, const char *path, const char *key) {
    if (path && *path) snprintf(buf, n, "%s.%s", path, key);
    else snprintf(buf, n, "%s", key);
}

static int wrong_type(tk_err *e, const char *path, const char *key, const char *want, const json_t *got) {
    char f[512];
    field_name(f, sizeof f, path, key);
    return tk_err_set(e, TK_EINVAL, "%s: expected %s, got %s", f, want, tk_json_type_name(got));
}

static int missing(tk_err *e, const char *path, const char *key) {
    char f[512];
    field_name(f, sizeof f, path, key);
    return tk_err_set(e, TK_EINVAL, "%s: required field is missing", f);
}

static int not_object(tk_err *e, const char *path, const json_t *obj) {
    return tk_err_set(e, TK_EINVAL, "%s: expected object, got %s", path && *path ? path : "(root)",
                      tk_json_type_name(obj));
}

/* Shared body of the getters: look up key; a missing key or null is "absent". */
static int lookup(const json_t *obj, const char *key, const char *path, json_t **v, tk_err *e) {
    if (!json_is_object(obj)) return not_object(e, path, obj);
    *v = json_object_get(obj, key);
    if (*v && json_is_null(*v)) *v = NULL;
    return 0;
}

#define DEFINE_GETTERS(suffix, ctype, test, want, extract)                                          \
    int tk_json_opt_##suffix(const json_t *obj, const char *key, const char *path, ctype *out,     \
                             bool *present, tk_err *e) {                                           \
        json_t *v = NULL;                                                                          \
        int rc = lookup(obj, key, path, &v, e);                                                    \
        if (present) *present = false;                                                             \
        if (rc) return rc;                                                                         \
        if (!v) return 0;                                                                          \
        if (!(test)) return wrong_type(e, path, key, want, v);                                     \
        *out = extract;                                                                            \
        if (present) *present = true;                                                              \
        return 0;                                                                                  \
    }                                                                                              \
    int tk_json_get_##suffix(const json_t *obj, const char *key, const char *path, ctype *out,     \
                             tk_err *e) {                                                          \
        bool present;                                                                              \
        int rc = tk_json_opt_##suffix(obj, key, path, out, &present, e);                           \
        if (rc) return rc;                                                                         \
        return present ? 0 : missing(e, path, key);                                               \
    }

DEFINE_GETTERS(obj, json_t *, json_is_object(v), "object", v)
DEFINE_GETTERS(arr, json_t *, json_is_array(v), "array", v)
DEFINE_GETTERS(str, const char *, json_is_string(v), "string", json_string_value(v))
DEFINE_GETTERS(i64, int64_t, json_is_integer(v), "integer", (int64_t)json_integer_value(v))
DEFINE_GETTERS(f64, double, json_is_number(v), "number", json_number_value(v))
DEFINE_GETTERS(bool, bool, json_is_boolean(v), "boolean", json_is_true(v))

int tk_json_check_keys(const json_t *obj, const char *path, const char *const *allowed, tk_err *e) {
    if (!json_is_object(obj)) return not_object(e, path, obj);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(*a, key) == 0) { ok = true; break; }
        if (!ok)
            return tk_err_set(e, TK_EINVAL, "%s: unknown field \"%s\"", path && *path ? path : "(root)", key);
    }
    return 0;
}

int tk_json_set_new(json_t *obj, const char *key, json_t *v) {
    if (!v) return TK_ENOMEM;
    return json_object_set_new(obj, key, v) ? TK_ENOMEM : 0;
}

int tk_json_append_new(json_t *arr, json_t *v) {
    if (!v) return TK_ENOMEM;
    return json_array_append_new(arr, v) ? TK_ENOMEM : 0;
}
