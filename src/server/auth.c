/* API-key checks (see auth.h). */
#include "auth.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

struct tk_server_auth {
    tk_map *keys; /* NULL in prefix mode */
};

int tk_server_auth_new(const char *path, tk_server_auth **out, tk_err *e) {
    *out = NULL;
    tk_server_auth *a = calloc(1, sizeof *a);
    if (!a) return tk_err_set(e, TK_ENOMEM, "out of memory");
    if (!path) { *out = a; return 0; }
    tk_buf b = {0};
    int rc = tk_file_read(path, &b, 1 << 20, e);
    if (rc) {
        tk_err_prefix(e, "--api-key-file: ");
        free(a);
        tk_buf_free(&b);
        return TK_EINVAL;
    }
    a->keys = tk_map_new(16);
    if (!a->keys) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    char *save = NULL;
    int line = 0;
    for (char *l = strtok_r(b.data, "\n", &save); l && !rc; l = strtok_r(NULL, "\n", &save)) {
        line++;
        while (*l && isspace((unsigned char)*l)) l++;
        size_t n = strlen(l);
        while (n && isspace((unsigned char)l[n - 1])) l[--n] = '\0';
        if (!n || l[0] == '#') continue;
        if (tk_map_put(a->keys, l, n, (void *)1)) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    }
    tk_buf_free(&b);
    if (!rc && tk_map_len(a->keys) == 0) rc = tk_err_set(e, TK_EINVAL, "--api-key-file %s: no keys in the file", path);
    if (rc) { tk_server_auth_free(a); return rc; }
    *out = a;
    return 0;
}

void tk_server_auth_free(tk_server_auth *a) {
    if (!a) return;
    tk_map_free(a->keys);
    free(a);
}

int tk_server_auth_check(const tk_server_auth *a, const char *key, tk_err *e) {
    if (!key || !*key) return tk_err_set(e, TK_EINVAL, "missing API key: send it in the X-API-Key header");
    if (a->keys) {
        if (tk_map_get(a->keys, key, strlen(key), NULL)) return 0;
        return tk_err_set(e, TK_EINVAL, "API key not accepted by this server (it is not in its --api-key-file)");
    }
    if (strncmp(key, "tml-", 4)) return tk_err_set(e, TK_EINVAL, "API key must start with \"tml-\" (any such key works here, e.g. tml-local)");
    return 0;
}

void tk_server_auth_fingerprint(const char *key, char out[24]) {
    uint64_t h = tk_hash_bytes(key ? key : "", key ? strlen(key) : 0);
    snprintf(out, 24, "key-%08x", (unsigned)(h >> 32));
}
