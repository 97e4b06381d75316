/* key=value options and JSON config files mapped onto a C struct through a table of tk_opt. */
#include "tinkerc/cookbook.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void *field(void *cfg, const tk_opt *o) { return (char *)cfg + o->offset; }
static const void *cfield(const void *cfg, const tk_opt *o) { return (const char *)cfg + o->offset; }

static bool is_none(const char *v) { return !strcasecmp(v, "none") || !strcasecmp(v, "null"); }

/* Levenshtein distance, capped: only used to suggest a close option name. */
static size_t edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) return 99;
    size_t prev[65], cur[65];
    for (size_t j = 0; j <= lb; j++) prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof prev[0]);
    }
    return prev[lb];
}

static const tk_opt *find_opt(const tk_opt *opts, const char *key) {
    for (const tk_opt *o = opts; o->name; o++)
        if (!strcmp(o->name, key)) return o;
    return NULL;
}

static int unknown_key(const tk_opt *opts, const char *key, tk_err *e) {
    const tk_opt *best = NULL;
    size_t best_d = 4;
    for (const tk_opt *o = opts; o->name; o++) {
        size_t d = edit_distance(key, o->name);
        if (d < best_d) { best_d = d; best = o; }
    }
    if (best) return tk_err_set(e, TK_EINVAL, "unknown option \"%s\" (did you mean %s?)", key, best->name);
    return tk_err_set(e, TK_EINVAL, "unknown option \"%s\" (see --help for the list)", key);
}

static int set_value(const tk_opt *o, void *cfg, const char *value, tk_err *e) {
    void *f = field(cfg, o);
    if (o->nullable && is_none(value)) {
        switch (o->type) {
        case TK_OPT_STRING:
        case TK_OPT_CHOICE: free(*(char **)f); *(char **)f = NULL; return 0;
        case TK_OPT_INT: *(int64_t *)f = TK_OPT_UNSET_INT; return 0;
        case TK_OPT_FLOAT: *(double *)f = NAN; return 0;
        case TK_OPT_BOOL: break;
        }
    }
    switch (o->type) {
    case TK_OPT_STRING: {
        char *s = tk_strdup(value);
        if (!s) return tk_err_set(e, TK_ENOMEM, "out of memory");
        free(*(char **)f);
        *(char **)f = s;
        return 0;
    }
    case TK_OPT_CHOICE: {
        for (const char *const *c = o->choices; c && *c; c++) {
            if (!strcmp(*c, value)) {
                char *s = tk_strdup(value);
                if (!s) return tk_err_set(e, TK_ENOMEM, "out of memory");
                free(*(char **)f);
                *(char **)f = s;
                return 0;
            }
        }
        char list[256] = "";
        for (const char *const *c = o->choices; c && *c; c++) {
            strncat(list, *c, sizeof list - strlen(list) - 1);
            if (c[1]) strncat(list, ", ", sizeof list - strlen(list) - 1);
        }
        return tk_err_set(e, TK_EINVAL, "%s=%s: must be one of %s", o->name, value, list);
    }
    case TK_OPT_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (errno || end == value || *end)
            return tk_err_set(e, TK_EINVAL, "%s=%s: expected an integer%s", o->name, value,
                              o->nullable ? " or none" : "");
        *(int64_t *)f = v;
        return 0;
    }
    case TK_OPT_FLOAT: {
        char *end;
        errno = 0;
        double v = strtod(value, &end);
        if (errno || end == value || *end || !isfinite(v))
            return tk_err_set(e, TK_EINVAL, "%s=%s: expected a number%s", o->name, value,
                              o->nullable ? " or none" : "");
        *(double *)f = v;
        return 0;
    }
    case TK_OPT_BOOL: {
        if (!strcasecmp(value, "true") || !strcmp(value, "1") || !strcasecmp(value, "yes")) *(bool *)f = true;
        else if (!strcasecmp(value, "false") || !strcmp(value, "0") || !strcasecmp(value, "no")) *(bool *)f = false;
        else return tk_err_set(e, TK_EINVAL, "%s=%s: expected true or false", o->name, value);
        return 0;
    }
    }
    return tk_err_set(e, TK_EINTERNAL, "%s: bad option type", o->name);
}

int tk_opts_defaults(const tk_opt *opts, void *cfg, tk_err *e) {
    for (const tk_opt *o = opts; o->name; o++) {
        void *f = field(cfg, o);
        if (!o->def) {
            switch (o->type) {
            case TK_OPT_STRING:
            case TK_OPT_CHOICE: free(*(char **)f); *(char **)f = NULL; break;
            case TK_OPT_INT: *(int64_t *)f = TK_OPT_UNSET_INT; break;
            case TK_OPT_FLOAT: *(double *)f = NAN; break;
            case TK_OPT_BOOL: *(bool *)f = false; break;
            }
            continue;
        }
        int rc = set_value(o, cfg, o->def, e);
        if (rc) return tk_err_prefix(e, "default of ");
    }
    return 0;
}

int tk_opts_set(const tk_opt *opts, void *cfg, const char *key, const char *value, tk_err *e) {
    const tk_opt *o = find_opt(opts, key);
    if (!o) return unknown_key(opts, key, e);
    return set_value(o, cfg, value, e);
}

int tk_opts_apply_json(const tk_opt *opts, void *cfg, const json_t *obj, const char *what, tk_err *e) {
    if (!json_is_object(obj))
        return tk_err_set(e, TK_EINVAL, "%s: expected a JSON object of options, got %s", what,
                          tk_json_type_name(obj));
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        const tk_opt *o = find_opt(opts, key);
        if (!o) {
            unknown_key(opts, key, e);
            return tk_err_prefix(e, "%s: ", what);
        }
        char num[64];
        const char *text;
        if (json_is_string(v)) text = json_string_value(v);
        else if (json_is_null(v)) text = "none";
        else if (json_is_true(v)) text = "true";
        else if (json_is_false(v)) text = "false";
        else if (json_is_integer(v)) { snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v)); text = num; }
        else if (json_is_real(v)) { snprintf(num, sizeof num, "%.17g", json_real_value(v)); text = num; }
        else return tk_err_set(e, TK_EINVAL, "%s: %s: expected a string, number or boolean, got %s",
                               what, key, tk_json_type_name(v));
        if (json_is_null(v) && !o->nullable)
            return tk_err_set(e, TK_EINVAL, "%s: %s: null is not allowed", what, key);
        int rc = set_value(o, cfg, text, e);
        if (rc) return tk_err_prefix(e, "%s: ", what);
    }
    return 0;
}

int tk_opts_parse_args(const tk_opt *opts, void *cfg, int argc, char **argv, tk_err *e) {
    /* config files first, so explicit keys override them */
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "config=", 7)) continue;
        json_t *obj;
        int rc = tk_json_load_file(argv[i] + 7, &obj, e);
        if (rc) return rc;
        rc = tk_opts_apply_json(opts, cfg, obj, argv[i] + 7, e);
        json_decref(obj);
        if (rc) return rc;
    }
    for (int i = 0; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        if (!eq || eq == argv[i])
            return tk_err_set(e, TK_EINVAL, "argument \"%s\": expected key=value", argv[i]);
        if (!strncmp(argv[i], "config=", 7)) continue;
        char key[128];
        size_t klen = (size_t)(eq - argv[i]);
        if (klen >= sizeof key) return tk_err_set(e, TK_EINVAL, "argument \"%.40s...\": key too long", argv[i]);
        memcpy(key, argv[i], klen);
        key[klen] = '\0';
        int rc = tk_opts_set(opts, cfg, key, eq + 1, e);
        if (rc) return rc;
    }
    return 0;
}

json_t *tk_opts_to_json(const tk_opt *opts, const void *cfg) {
    json_t *obj = json_object();
    if (!obj) return NULL;
    for (const tk_opt *o = opts; o->name; o++) {
        const void *f = cfield(cfg, o);
        json_t *v = NULL;
        switch (o->type) {
        case TK_OPT_STRING:
        case TK_OPT_CHOICE: v = *(char *const *)f ? json_string(*(char *const *)f) : json_null(); break;
        case TK_OPT_INT: {
            int64_t x = *(const int64_t *)f;
            v = x == TK_OPT_UNSET_INT ? json_null() : json_integer(x);
            break;
        }
        case TK_OPT_FLOAT: {
            double x = *(const double *)f;
            v = isnan(x) ? json_null() : json_real(x);
            break;
        }
        case TK_OPT_BOOL: v = json_boolean(*(const bool *)f); break;
        }
        if (tk_json_set_new(obj, o->name, v)) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

void tk_opts_usage(const tk_opt *opts, FILE *out) {
    for (const tk_opt *o = opts; o->name; o++) {
        char left[96];
        snprintf(left, sizeof left, "%s=%s", o->name, o->def ? o->def : "none");
        fprintf(out, "  %-34s %s", left, o->help ? o->help : "");
        if (o->type == TK_OPT_CHOICE && o->choices) {
            fprintf(out, " (");
            for (const char *const *c = o->choices; *c; c++) fprintf(out, "%s%s", *c, c[1] ? "|" : "");
            fprintf(out, ")");
        }
        fputc('\n', out);
    }
}

void tk_opts_free(const tk_opt *opts, void *cfg) {
    for (const tk_opt *o = opts; o->name; o++) {
        if (o->type == TK_OPT_STRING || o->type == TK_OPT_CHOICE) {
            char **f = field(cfg, o);
            free(*f);
            *f = NULL;
        }
    }
}
