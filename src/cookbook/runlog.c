/* Run directories, as the cookbook lays them out: config.json, metrics.jsonl, checkpoints.jsonl. */
#include "tinkerc/cookbook.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int tk_logdir_behavior_parse(const char *name, tk_logdir_behavior *out, tk_err *e) {
    if (!strcmp(name, "resume")) *out = TK_LOGDIR_RESUME;
    else if (!strcmp(name, "delete")) *out = TK_LOGDIR_DELETE;
    else if (!strcmp(name, "ask")) *out = TK_LOGDIR_ASK;
    else if (!strcmp(name, "raise")) *out = TK_LOGDIR_RAISE;
    else return tk_err_set(e, TK_EINVAL, "behavior_if_log_dir_exists=%s: must be resume, delete, ask or raise", name);
    return 0;
}

static bool has_file(const char *dir, const char *name) {
    char *p = tk_path_join(dir, name);
    bool ok = p && tk_path_exists(p);
    free(p);
    return ok;
}

int tk_logdir_check(const char *log_path, tk_logdir_behavior behavior, FILE *in, FILE *out,
                    tk_logdir_action *action, tk_err *e) {
    *action = TK_LOGDIR_NEW;
    if (tk_path_exists(log_path) && !tk_path_is_dir(log_path))
        return tk_err_set(e, TK_EINVAL, "log_path %s exists and is not a directory", log_path);
    bool exists = tk_path_is_dir(log_path) &&
                  (has_file(log_path, "metrics.jsonl") || has_file(log_path, "checkpoints.jsonl"));
    if (!exists) return 0;
    if (behavior == TK_LOGDIR_ASK) {
        in = in ? in : stdin;
        out = out ? out : stderr;
        if (!isatty(fileno(in))) {
            behavior = TK_LOGDIR_RAISE;
        } else {
            fprintf(out, "log_path %s already holds a run. [r]esume, [d]elete and start over, or [q]uit? ",
                    log_path);
            fflush(out);
            char line[32] = "";
            if (!fgets(line, sizeof line, in)) line[0] = 'q';
            behavior = line[0] == 'r' ? TK_LOGDIR_RESUME : line[0] == 'd' ? TK_LOGDIR_DELETE : TK_LOGDIR_RAISE;
        }
    }
    switch (behavior) {
    case TK_LOGDIR_RESUME: *action = TK_LOGDIR_CONTINUE; return 0;
    case TK_LOGDIR_DELETE: *action = TK_LOGDIR_REPLACE; return 0;
    case TK_LOGDIR_RAISE:
    case TK_LOGDIR_ASK: break;
    }
    return tk_err_set(e, TK_EEXIST,
                      "log_path %s already holds a run; pass behavior_if_log_dir_exists=resume to "
                      "continue it or =delete to start over", log_path);
}

int tk_logdir_prepare(const char *log_path, tk_logdir_behavior behavior, FILE *in, FILE *out,
                      bool *resuming, tk_err *e) {
    *resuming = false;
    tk_logdir_action action;
    int rc = tk_logdir_check(log_path, behavior, in, out, &action, e);
    if (rc) return rc;
    if (action == TK_LOGDIR_CONTINUE) *resuming = true;
    if (action == TK_LOGDIR_REPLACE && (rc = tk_remove_tree(log_path, e))) return rc;
    return tk_mkdir_p(log_path, 0755, e);
}

int tk_runlog_write_config(const char *log_path, const json_t *config, tk_err *e) {
    char *s = json_dumps(config, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    char *path = tk_path_join(log_path, "config.json");
    int rc;
    if (!s || !path) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    else {
        size_t n = strlen(s);
        s[n] = '\0';
        /* end the file with a newline like every other text file */
        char *withnl = malloc(n + 2);
        if (!withnl) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
        else {
            memcpy(withnl, s, n);
            withnl[n] = '\n';
            rc = tk_file_write_atomic(path, withnl, n + 1, 0644, e);
            free(withnl);
        }
    }
    free(s);
    free(path);
    return rc;
}

static int append_json_line(const char *log_path, const char *file, const json_t *row, tk_err *e) {
    tk_buf b = {0};
    char *path = tk_path_join(log_path, file);
    int rc;
    if (!path || tk_json_dump(row, &b)) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    else rc = tk_file_append_line(path, b.data, b.len, e);
    tk_buf_free(&b);
    free(path);
    return rc;
}

int tk_runlog_append_metrics(const char *log_path, int64_t step, const json_t *metrics, tk_err *e) {
    json_t *row = json_object();
    if (!row || tk_json_set_new(row, "step", json_integer(step))) {
        json_decref(row);
        return tk_err_set(e, TK_ENOMEM, "out of memory");
    }
    if (metrics && json_object_update((json_t *)row, (json_t *)metrics)) {
        json_decref(row);
        return tk_err_set(e, TK_ENOMEM, "out of memory");
    }
    int rc = append_json_line(log_path, "metrics.jsonl", row, e);
    json_decref(row);
    return rc;
}

int tk_runlog_append_checkpoint(const char *log_path, const json_t *record, tk_err *e) {
    if (!json_is_object(record) || !json_is_string(json_object_get(record, "name")))
        return tk_err_set(e, TK_EINVAL, "checkpoint record needs a \"name\" string");
    return append_json_line(log_path, "checkpoints.jsonl", record, e);
}

/* Parse a JSONL file into an array of objects. A last line without its newline that does not
 * parse is a torn write: skipped with a warning. */
static int read_jsonl(const char *path, json_t **rows_out, tk_err *e) {
    *rows_out = NULL;
    tk_buf b = {0};
    int rc = tk_file_read(path, &b, 0, e);
    if (rc == TK_ENOTFOUND) {
        tk_buf_free(&b);
        *rows_out = json_array();
        return *rows_out ? 0 : tk_err_set(e, TK_ENOMEM, "out of memory");
    }
    if (rc) return rc;
    json_t *rows = json_array();
    tk_lines it = tk_lines_of(b.data, b.len);
    const char *s;
    size_t n;
    while (!rc && tk_lines_next(&it, &s, &n)) {
        json_t *v = NULL;
        tk_err pe = {0};
        int prc = tk_json_parse(s, n, path, &v, &pe);
        if (prc == 0 && json_is_object(v)) {
            if (json_array_append_new(rows, v)) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
        } else {
            if (prc == 0) json_decref(v);
            if (!it.terminated)
                tk_warn("%s:%lld: ignoring a torn last line (an interrupted write)", path, (long long)it.line_no);
            else
                rc = tk_err_set(e, TK_EPARSE, "%s:%lld: not a JSON object%s%s", path, (long long)it.line_no,
                                pe.code ? ": " : "", pe.code ? pe.msg : "");
        }
    }
    tk_buf_free(&b);
    if (rc) {
        json_decref(rows);
        return rc;
    }
    *rows_out = rows;
    return 0;
}

int tk_runlog_last_checkpoint(const char *log_path, const char *required_key, json_t **out, tk_err *e) {
    *out = NULL;
    char *path = tk_path_join(log_path, "checkpoints.jsonl");
    if (!path) return tk_err_set(e, TK_ENOMEM, "out of memory");
    json_t *rows;
    int rc = read_jsonl(path, &rows, e);
    free(path);
    if (rc) return rc;
    for (size_t i = json_array_size(rows); i-- > 0;) {
        json_t *r = json_array_get(rows, i);
        if (!required_key || json_object_get(r, required_key)) {
            *out = json_incref(r);
            break;
        }
    }
    json_decref(rows);
    return 0;
}

int tk_runlog_read_metrics(const char *log_path, json_t **rows_out, tk_err *e) {
    char *path = tk_path_join(log_path, "metrics.jsonl");
    if (!path) return tk_err_set(e, TK_ENOMEM, "out of memory");
    int rc = read_jsonl(path, rows_out, e);
    free(path);
    return rc;
}

int tk_runlog_truncate_metrics(const char *log_path, int64_t first_step, size_t *dropped, tk_err *e) {
    if (dropped) *dropped = 0;
    char *path = tk_path_join(log_path, "metrics.jsonl");
    if (!path) return tk_err_set(e, TK_ENOMEM, "out of memory");
    if (!tk_path_exists(path)) {
        free(path);
        return 0;
    }
    json_t *rows;
    int rc = read_jsonl(path, &rows, e);
    tk_buf out = {0};
    size_t n_dropped = 0;
    for (size_t i = 0; !rc && i < json_array_size(rows); i++) {
        json_t *r = json_array_get(rows, i);
        json_t *step = json_object_get(r, "step");
        if (json_is_integer(step) && json_integer_value(step) >= first_step) {
            n_dropped++;
            continue;
        }
        if (tk_json_dump(r, &out) || tk_buf_putc(&out, '\n')) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    }
    /* rewrite even when nothing was dropped: that also removes a torn last line, which the next
     * append would otherwise glue to its own line */
    if (!rc) rc = tk_file_write_atomic(path, out.data ? out.data : "", out.len, 0644, e);
    if (!rc && dropped) *dropped = n_dropped;
    tk_buf_free(&out);
    json_decref(rows);
    free(path);
    return rc;
}
