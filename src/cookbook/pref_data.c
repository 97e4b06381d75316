/* Preference data: a JSONL file of labeled comparisons in the cookbook's shape
 * ({"comparison": {...}, "label": ...}, ComparisonBuilderFromJsonl) or the common
 * {"prompt", "chosen", "rejected"} shape, checked row by row, ties set aside, shuffled with
 * shuffle_seed and split (the first test_size comparisons are the test set). */
#include "tinkerc/cookbook.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

struct tk_pref_dataset {
    tk_pref_dataset_options o;
    char *path;
    TK_VEC(tk_pref_comparison) rows;
    size_t n_test;
    tk_pref_dataset_stats stats;
};

static const char *const k_roles[] = {"system", "user", "assistant", "tool", "developer", NULL};

static void comparison_free(tk_pref_comparison *c) {
    tk_conversation_free(&c->prompt);
    tk_conversation_free(&c->a);
    tk_conversation_free(&c->b);
}

void tk_pref_dataset_free(tk_pref_dataset *d) {
    if (!d) return;
    for (size_t i = 0; i < d->rows.len; i++) comparison_free(&d->rows.data[i]);
    tk_vec_free(&d->rows);
    free(d->path);
    free(d);
}

int tk_pref_dataset_skip(tk_pref_dataset *d, int rc, const tk_err *why, tk_err *e) {
    if (!d->o.skip_bad) {
        if (e) *e = *why;
        return rc;
    }
    d->stats.skipped++;
    if (d->stats.skipped <= 20) tk_warn("skipping a bad comparison (on_bad_example=skip): %s", why->msg);
    else if (d->stats.skipped == 21) tk_warn("skipping more bad comparisons; only the count is reported from here on");
    if (d->stats.skipped == 1) snprintf(d->stats.first_skipped, sizeof d->stats.first_skipped, "%s", why->msg);
    return 0;
}

/* A message list (or, where allowed, a string standing for one message of `role`). */
static int parse_messages(const json_t *v, const char *where, const char *key, const char *string_role,
                          bool need_assistant, tk_conversation *out, tk_err *e) {
    if (!v) return tk_err_set(e, TK_EINVAL, "%s: no \"%s\"", where, key);
    json_t *list = NULL;
    int rc = 0;
    if (json_is_string(v) && string_role) {
        list = json_pack("[{s:s,s:O}]", "role", string_role, "content", v);
        if (!list) return tk_err_set(e, TK_ENOMEM, "out of memory");
        v = list;
    }
    char path[1200];
    snprintf(path, sizeof path, "%s: %s", where, key);
    if (!json_is_array(v))
        rc = tk_err_set(e, TK_EINVAL, "%s: expected a list of messages%s, got %s", path,
                        string_role ? " or a string" : "", tk_json_type_name(v));
    else if (json_array_size(v) == 0 && need_assistant)
        rc = tk_err_set(e, TK_EINVAL, "%s: the completion is empty (no messages)", path);
    if (!rc) rc = tk_conversation_from_json(v, path, out, e);
    json_decref(list);
    for (size_t i = 0; !rc && i < out->n_messages; i++) {
        const char *role = out->messages[i].role;
        bool ok = false;
        for (const char *const *r = k_roles; *r && !ok; r++) ok = role && !strcmp(role, *r);
        if (!ok)
            rc = tk_err_set(e, TK_EINVAL, "%s[%zu].role: unknown role \"%s\"", path, i, role ? role : "");
    }
    if (!rc && need_assistant) {
        bool has = false;
        for (size_t i = 0; i < out->n_messages; i++) has |= !strcmp(out->messages[i].role, "assistant");
        if (!has) rc = tk_err_set(e, TK_EINVAL, "%s: the completion has no assistant message", path);
    }
    if (rc) tk_conversation_free(out);
    return rc;
}

static int parse_row(const json_t *v, const char *where, tk_pref_comparison *c, tk_err *e) {
    if (!json_is_object(v))
        return tk_err_set(e, TK_EINVAL, "%s: expected a JSON object ({\"comparison\": ..., \"label\": ...} or "
                                        "{\"prompt\", \"chosen\", \"rejected\"}), got %s", where, tk_json_type_name(v));
    const json_t *cmp = json_object_get(v, "comparison");
    int rc;
    if (cmp) {
        if (!json_is_object(cmp))
            return tk_err_set(e, TK_EINVAL, "%s: comparison: expected an object, got %s", where, tk_json_type_name(cmp));
        const json_t *label = json_object_get(v, "label");
        const char *l = json_string_value(label);
        if (!label) return tk_err_set(e, TK_EINVAL, "%s: no \"label\" (expected \"A\", \"B\" or \"Tie\")", where);
        if (!l || (strcmp(l, "A") && strcmp(l, "B") && strcmp(l, "Tie"))) {
            char *s = json_dumps(label, JSON_ENCODE_ANY);
            rc = tk_err_set(e, TK_EINVAL, "%s: label: %s is not \"A\", \"B\" or \"Tie\"", where, s ? s : "?");
            free(s);
            return rc;
        }
        c->label = !strcmp(l, "A") ? TK_PREF_LABEL_A : !strcmp(l, "B") ? TK_PREF_LABEL_B : TK_PREF_LABEL_TIE;
        rc = parse_messages(json_object_get(cmp, "prompt_conversation"), where, "comparison.prompt_conversation", NULL,
                            false, &c->prompt, e);
        if (!rc) rc = parse_messages(json_object_get(cmp, "completion_A"), where, "comparison.completion_A", NULL, true, &c->a, e);
        if (!rc) rc = parse_messages(json_object_get(cmp, "completion_B"), where, "comparison.completion_B", NULL, true, &c->b, e);
    } else if (json_object_get(v, "chosen") || json_object_get(v, "rejected")) {
        c->label = TK_PREF_LABEL_A;
        rc = parse_messages(json_object_get(v, "prompt"), where, "prompt", "user", false, &c->prompt, e);
        if (!rc) rc = parse_messages(json_object_get(v, "chosen"), where, "chosen", "assistant", true, &c->a, e);
        if (!rc) rc = parse_messages(json_object_get(v, "rejected"), where, "rejected", "assistant", true, &c->b, e);
    } else {
        return tk_err_set(e, TK_EINVAL, "%s: neither \"comparison\" nor \"chosen\"/\"rejected\" (each line must be "
                                        "{\"comparison\": {...}, \"label\": ...} or {\"prompt\", \"chosen\", \"rejected\"})", where);
    }
    if (rc) comparison_free(c);
    return rc;
}

int tk_pref_dataset_load(const tk_pref_dataset_options *o, tk_pref_dataset **out, tk_err *e) {
    *out = NULL;
    if (!o->path || !*o->path) return tk_err_set(e, TK_EINVAL, "dataset is required (a JSONL file of comparisons)");
    if (o->test_size < 0) return tk_err_set(e, TK_EINVAL, "test_size=%lld: must be >= 0", (long long)o->test_size);
    tk_pref_dataset *d = calloc(1, sizeof *d);
    if (!d) return tk_err_set(e, TK_ENOMEM, "out of memory");
    d->o = *o;
    d->path = tk_path_expand_user(o->path);
    d->o.path = d->path;
    tk_buf text = {0};
    int rc = d->path ? 0 : tk_err_set(e, TK_ENOMEM, "out of memory");
    if (!rc && (rc = tk_file_read(d->path, &text, 0, e))) tk_err_prefix(e, "dataset: ");
    tk_lines it = tk_lines_of(text.data, text.len);
    const char *s;
    size_t n;
    while (!rc && tk_lines_next(&it, &s, &n)) {
        int64_t line = it.line_no;
        d->stats.lines++;
        char where[1100];
        snprintf(where, sizeof where, "%s:%lld", d->path, (long long)line);
        tk_pref_comparison c = {.line = line};
        tk_err why = {0};
        json_t *v = NULL;
        int prc = tk_json_parse(s, n, where, &v, &why);
        if (!prc) prc = parse_row(v, where, &c, &why);
        json_decref(v);
        if (prc == TK_ENOMEM) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
        else if (prc) rc = tk_pref_dataset_skip(d, prc, &why, e);
        else if (c.label == TK_PREF_LABEL_TIE && !o->keep_ties) {
            d->stats.ties++;
            comparison_free(&c);
        } else if (tk_vec_push(&d->rows, c)) {
            comparison_free(&c);
            rc = tk_err_set(e, TK_ENOMEM, "out of memory");
        }
    }
    tk_buf_free(&text);
    if (!rc && d->rows.len == 0)
        rc = tk_err_set(e, TK_EINVAL, "dataset %s: no comparisons%s", d->path,
                        d->stats.lines == 0 ? " (the file is empty)"
                        : d->stats.ties && !d->stats.skipped ? " left after setting aside the ties"
                                                             : " left after skipping the bad ones");
    if (rc) {
        tk_pref_dataset_free(d);
        return rc;
    }
    tk_rng rng;
    tk_rng_seed(&rng, o->shuffle_seed);
    tk_rng_shuffle(&rng, d->rows.data, d->rows.len, sizeof *d->rows.data);
    if (o->test_size > 0 && (size_t)o->test_size < d->rows.len) d->n_test = (size_t)o->test_size;
    else if (o->test_size > 0)
        tk_warn("test_size=%lld is not smaller than the %zu comparisons of %s: no test set", (long long)o->test_size,
                d->rows.len, d->path);
    *out = d;
    return 0;
}

const tk_pref_comparison *tk_pref_dataset_comparisons(const tk_pref_dataset *d, size_t *n, size_t *n_test) {
    *n = d->rows.len;
    if (n_test) *n_test = d->n_test;
    return d->rows.data;
}

const tk_pref_dataset_stats *tk_pref_dataset_get_stats(const tk_pref_dataset *d) { return &d->stats; }
const char *tk_pref_dataset_path(const tk_pref_dataset *d) { return d->path; }
