/* tinker://<run>/<weights|sampler_weights>/<name> paths (§1.5) and REST checkpoint ids. */
#include "wire_internal.h"

#include <string.h>

static const char k_scheme[] = "tinker://";

/* A run id or checkpoint name: non-empty, no '/', no control characters, valid UTF-8. */
static int check_part(const char *what, const char *s, size_t n, const char *full, tk_err *e) {
    if (n == 0) return tk_err_set(e, TK_EINVAL, "tinker path \"%s\": empty %s", full, what);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '/') return tk_err_set(e, TK_EINVAL, "tinker path \"%s\": '/' in %s", full, what);
        if (c < 0x20 || c == 0x7F)
            return tk_err_set(e, TK_EINVAL, "tinker path \"%s\": control character in %s", full, what);
    }
    if (!tk_utf8_valid(s, n, NULL)) return tk_err_set(e, TK_EINVAL, "tinker path: %s is not valid UTF-8", what);
    return 0;
}

static int kind_from(const char *s, size_t n, tk_wire_checkpoint_type *kind) {
    if (n == 7 && memcmp(s, "weights", 7) == 0) { *kind = TK_WIRE_CHECKPOINT_TRAINING; return 0; }
    if (n == 15 && memcmp(s, "sampler_weights", 15) == 0) { *kind = TK_WIRE_CHECKPOINT_SAMPLER; return 0; }
    return -1;
}

static const char *kind_text(tk_wire_checkpoint_type kind) {
    return kind == TK_WIRE_CHECKPOINT_TRAINING ? "weights" : "sampler_weights";
}

int tk_wire_tinker_path_parse(const char *s, tk_arena *a, tk_wire_tinker_path *out, tk_err *e) {
    memset(out, 0, sizeof *out);
    if (!s) return tk_err_set(e, TK_EINVAL, "tinker path: NULL");
    if (strncmp(s, k_scheme, sizeof k_scheme - 1) != 0)
        return tk_err_set(e, TK_EINVAL, "tinker path \"%s\": must start with tinker://", s);
    const char *run = s + sizeof k_scheme - 1;
    const char *s1 = strchr(run, '/');
    const char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
    if (!s1 || !s2 || strchr(s2 + 1, '/'))
        return tk_err_set(e, TK_EINVAL, "tinker path \"%s\": expected tinker://<run>/<weights|sampler_weights>/<name>", s);
    int rc;
    if ((rc = check_part("run id", run, (size_t)(s1 - run), s, e))) return rc;
    if (kind_from(s1 + 1, (size_t)(s2 - s1 - 1), &out->kind))
        return tk_err_set(e, TK_EINVAL, "tinker path \"%s\": the kind must be weights or sampler_weights", s);
    if ((rc = check_part("checkpoint name", s2 + 1, strlen(s2 + 1), s, e))) return rc;
    out->run_id = tk_arena_strndup(a, run, (size_t)(s1 - run));
    out->name = tk_arena_strdup(a, s2 + 1);
    out->checkpoint_id = tk_arena_strdup(a, s1 + 1);
    if (!out->run_id || !out->name || !out->checkpoint_id) return tk_err_set(e, TK_ENOMEM, "tinker path: out of memory");
    return 0;
}

int tk_wire_tinker_path_format(const char *run_id, tk_wire_checkpoint_type kind, const char *name, tk_buf *out,
                               tk_err *e) {
    if (!run_id || !name) return tk_err_set(e, TK_EINVAL, "tinker path: NULL run id or name");
    if (kind != TK_WIRE_CHECKPOINT_TRAINING && kind != TK_WIRE_CHECKPOINT_SAMPLER)
        return tk_err_set(e, TK_EINVAL, "tinker path: invalid checkpoint kind %d", (int)kind);
    int rc;
    if ((rc = check_part("run id", run_id, strlen(run_id), run_id, e))) return rc;
    if ((rc = check_part("checkpoint name", name, strlen(name), name, e))) return rc;
    if (tk_buf_printf(out, "%s%s/%s/%s", k_scheme, run_id, kind_text(kind), name))
        return tk_err_set(e, TK_ENOMEM, "tinker path: out of memory");
    return 0;
}

int tk_wire_checkpoint_id_parse(const char *s, tk_wire_checkpoint_type *kind, const char **name, tk_err *e) {
    const char *slash = s ? strchr(s, '/') : NULL;
    if (!slash || kind_from(s, (size_t)(slash - s), kind))
        return tk_err_set(e, TK_EINVAL, "checkpoint id \"%s\": expected weights/<name> or sampler_weights/<name>",
                          s ? s : "(null)");
    int rc = check_part("checkpoint name", slash + 1, strlen(slash + 1), s, e);
    if (rc) return rc;
    *name = slash + 1;
    return 0;
}
