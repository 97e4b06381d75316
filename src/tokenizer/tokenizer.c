/* Loading from files and the small public accessors. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_TOKENIZER_JSON (1u << 30)   /* 1 GiB: far above any real tokenizer.json */
#define MAX_CONFIG_JSON (64u << 20)

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* The directory part of path (caller frees). */
static char *dir_of(const char *path) {
    char *copy = tk_strdup(path);
    if (!copy) return NULL;
    char *d = tk_strdup(dirname(copy));
    free(copy);
    return d;
}

/* The file's bytes: mapped when it is a regular file (no copy, no zeroed pages: loading is
 * dominated by memory traffic), read into buf otherwise. */
typedef struct file_view {
    const char *data;
    size_t len;
    void *map;
    tk_buf buf;
} file_view;

static int view_open(const char *path, size_t max, file_view *v, tk_err *e) {
    memset(v, 0, sizeof *v);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tk_err_set(e, errno == ENOENT ? TK_ENOTFOUND : TK_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
        if ((uint64_t)st.st_size > max) {
            close(fd);
            return tk_err_set(e, TK_ENOMEM, "%s: %lld bytes is over the %zu-byte limit", path,
                              (long long)st.st_size, max);
        }
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m != MAP_FAILED) {
            close(fd);
            v->map = m;
            v->data = m;
            v->len = (size_t)st.st_size;
            return 0;
        }
    }
    close(fd);
    int rc = tk_file_read(path, &v->buf, max, e);
    v->data = v->buf.data ? v->buf.data : "";
    v->len = v->buf.len;
    return rc;
}

static void view_close(file_view *v) {
    if (v->map) munmap(v->map, v->len);
    tk_buf_free(&v->buf);
    memset(v, 0, sizeof *v);
}

int tk_tokenizer_load(const char *path, tk_tokenizer **out, tk_err *e) {
    tk_err local = {0};
    if (!e) e = &local;
    if (!path || !out) return tk_err_set(e, TK_EINVAL, "tokenizer: NULL argument");
    *out = NULL;
    char *json_path = NULL, *dir = NULL, *cfg_path = NULL, *tmpl_path = NULL;
    file_view json = {0};
    tk_buf cfg = {0}, tmpl = {0};
    int rc;
    if (tk_path_is_dir(path)) {
        dir = tk_strdup(path);
        json_path = tk_path_join(path, "tokenizer.json");
        if (json_path && !tk_path_exists(json_path)) {
            rc = tk_err_set(e, TK_ENOTFOUND, "%s: no tokenizer.json in this directory", path);
            goto out;
        }
    } else {
        json_path = tk_strdup(path);
        /* a tokenizer.json inside a model directory picks up its tokenizer_config.json */
        if (ends_with(path, "/tokenizer.json") || !strcmp(path, "tokenizer.json")) dir = dir_of(path);
    }
    if (!json_path) {
        rc = tk_err_set(e, TK_ENOMEM, "tokenizer: out of memory");
        goto out;
    }
    if ((rc = view_open(json_path, MAX_TOKENIZER_JSON, &json, e))) goto out;
    if (dir) {
        cfg_path = tk_path_join(dir, "tokenizer_config.json");
        tmpl_path = tk_path_join(dir, "chat_template.jinja");
        if (!cfg_path || !tmpl_path) {
            rc = tk_err_set(e, TK_ENOMEM, "tokenizer: out of memory");
            goto out;
        }
        if (tk_path_exists(cfg_path) && (rc = tk_file_read(cfg_path, &cfg, MAX_CONFIG_JSON, e))) goto out;
        if (tk_path_exists(tmpl_path) && (rc = tk_file_read(tmpl_path, &tmpl, MAX_CONFIG_JSON, e))) goto out;
    }
    rc = tk_tok_load_texts(json.data, json.len, json_path, cfg.data ? cfg.data : NULL, cfg.len,
                           cfg_path ? cfg_path : "tokenizer_config.json", dir ? dir : json_path, out, e);
    /* newer checkpoints keep the chat template in its own file */
    if (!rc && tmpl.data && !(*out)->chat_template) {
        (*out)->chat_template = tk_arena_strndup((*out)->arena, tmpl.data, tmpl.len);
        if (!(*out)->chat_template) {
            tk_tokenizer_free(*out);
            *out = NULL;
            rc = tk_err_set(e, TK_ENOMEM, "tokenizer: out of memory");
        }
    }
out:
    free(json_path);
    free(dir);
    free(cfg_path);
    free(tmpl_path);
    view_close(&json);
    tk_buf_free(&cfg);
    tk_buf_free(&tmpl);
    return rc;
}

int32_t tk_tokenizer_vocab_size(const tk_tokenizer *t) { return t ? t->n_ids : 0; }

int32_t tk_tokenizer_token_to_id(const tk_tokenizer *t, const char *token, size_t len) {
    if (!t || (!token && len)) return -1;
    if (!token) token = "";
    int32_t id = tk_idtab_get(&t->added_str, t->pool.data, token, len);
    if (id >= 0) return id;
    if (!tk_utf8_valid(token, len, NULL)) return -1; /* no token string is invalid UTF-8 */
    return tk_tok_model_lookup(t, token, len);
}

const char *tk_tokenizer_id_to_token(const tk_tokenizer *t, int32_t id, size_t *len) {
    if (!t || id < 0 || id >= t->n_ids || !(t->id_flags[id] & TK_ID_PRESENT)) return NULL;
    if (len) *len = t->id_str[id].len;
    return t->pool.data + t->id_str[id].off;
}

const char *tk_tokenizer_id_to_bytes(const tk_tokenizer *t, int32_t id, size_t *len) {
    if (!t || id < 0 || id >= t->n_ids || !(t->id_flags[id] & TK_ID_PRESENT)) return NULL;
    if (len) *len = t->id_bytes[id].len;
    return t->pool.data + t->id_bytes[id].off;
}

bool tk_tokenizer_is_special(const tk_tokenizer *t, int32_t id) {
    return t && id >= 0 && id < t->n_ids && (t->id_flags[id] & TK_ID_SPECIAL);
}

int32_t tk_tokenizer_bos_id(const tk_tokenizer *t) { return t ? t->bos_id : -1; }
int32_t tk_tokenizer_eos_id(const tk_tokenizer *t) { return t ? t->eos_id : -1; }
int32_t tk_tokenizer_pad_id(const tk_tokenizer *t) { return t ? t->pad_id : -1; }
const char *tk_tokenizer_chat_template(const tk_tokenizer *t) { return t ? t->chat_template : NULL; }
bool tk_tokenizer_clean_up_tokenization_spaces(const tk_tokenizer *t) { return t && t->clean_up_spaces; }
const char *tk_tokenizer_source(const tk_tokenizer *t) { return t ? t->source : NULL; }
