/* Name validation and tinker:// path parsing. */
#include "names.h"

#include <string.h>

static bool name_char_ok(unsigned char c, bool allow_colon) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    if (strchr("._+=@,-", c) && c) return true;
    return allow_colon && c == ':';
}

int tk_server_name_check(const char *what, const char *s, bool allow_colon, tk_err *e) {
    if (!s || !*s) return tk_err_set(e, TK_EINVAL, "%s: must not be empty", what);
    size_t n = strlen(s);
    size_t max = allow_colon ? TK_SERVER_ID_MAX : TK_SERVER_NAME_MAX;
    if (n >= max) return tk_err_set(e, TK_EINVAL, "%s: %zu bytes long, the limit is %zu", what, n, max - 1);
    if (s[0] == '.') return tk_err_set(e, TK_EINVAL, "%s \"%s\": must not start with '.'", what, s);
    if (strstr(s, "..")) return tk_err_set(e, TK_EINVAL, "%s \"%s\": must not contain \"..\"", what, s);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!name_char_ok(c, allow_colon)) {
            if (c == '/') return tk_err_set(e, TK_EINVAL, "%s \"%s\": must not contain '/'", what, s);
            if (c < 0x20 || c >= 0x7f)
                return tk_err_set(e, TK_EINVAL, "%s: byte 0x%02x at offset %zu is not allowed", what, c, i);
            return tk_err_set(e, TK_EINVAL, "%s \"%s\": character '%c' at offset %zu is not allowed "
                              "(use letters, digits and ._+=@,-%s)", what, s, c, i, allow_colon ? ":" : "");
        }
    }
    return 0;
}

int tk_server_ckpt_kind_parse(const char *s, tk_server_ckpt_kind *out, tk_err *e) {
    if (s && !strcmp(s, "weights")) { *out = TK_SERVER_CKPT_WEIGHTS; return 0; }
    if (s && !strcmp(s, "sampler_weights")) { *out = TK_SERVER_CKPT_SAMPLER; return 0; }
    return tk_err_set(e, TK_EINVAL, "checkpoint kind \"%s\": expected \"weights\" or \"sampler_weights\"",
                      s ? s : "");
}

const char *tk_server_ckpt_kind_dir(tk_server_ckpt_kind k) {
    return k == TK_SERVER_CKPT_SAMPLER ? "sampler_weights" : "weights";
}

const char *tk_server_ckpt_kind_type(tk_server_ckpt_kind k) {
    return k == TK_SERVER_CKPT_SAMPLER ? "sampler" : "training";
}

int tk_server_tinker_path_parse(const char *path, char *run, tk_server_ckpt_kind *kind, char *name,
                                tk_err *e) {
    static const char scheme[] = "tinker://";
    if (!path || strncmp(path, scheme, sizeof scheme - 1))
        return tk_err_set(e, TK_EINVAL, "checkpoint path \"%s\": must start with tinker://", path ? path : "");
    const char *p = path + sizeof scheme - 1;
    const char *s1 = strchr(p, '/');
    const char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
    if (!s1 || !s2 || strchr(s2 + 1, '/'))
        return tk_err_set(e, TK_EINVAL, "checkpoint path \"%s\": expected tinker://<run>/<weights|"
                          "sampler_weights>/<name>", path);
    size_t lr = (size_t)(s1 - p), lk = (size_t)(s2 - s1 - 1);
    if (lr >= TK_SERVER_ID_MAX || lk >= 32)
        return tk_err_set(e, TK_EINVAL, "checkpoint path \"%s\": a part is too long", path);
    char kbuf[32];
    memcpy(run, p, lr);
    run[lr] = '\0';
    memcpy(kbuf, s1 + 1, lk);
    kbuf[lk] = '\0';
    if (strlen(s2 + 1) >= TK_SERVER_NAME_MAX)
        return tk_err_set(e, TK_EINVAL, "checkpoint path \"%s\": name too long", path);
    strcpy(name, s2 + 1);
    int rc = tk_server_ckpt_kind_parse(kbuf, kind, e);
    if (!rc) rc = tk_server_name_check("run id", run, true, e);
    if (!rc) rc = tk_server_name_check("checkpoint name", name, false, e);
    if (rc) tk_err_prefix(e, "checkpoint path \"%s\": ", path);
    return rc;
}
