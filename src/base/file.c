/* File helpers: whole-file reads, atomic writes, durable appends, directories. */
#include "tinkerc/base.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int tk_file_read(const char *path, tk_buf *out, size_t max_bytes, tk_err *e) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tk_err_set(e, errno == ENOENT ? TK_ENOTFOUND : TK_EIO, "%s: cannot open: %s", path,
                          strerror(errno));
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        return tk_err_set(e, TK_EIO, "%s: is a directory, expected a file", path);
    }
    if (max_bytes && st.st_size > 0 && (size_t)st.st_size > max_bytes) {
        close(fd);
        return tk_err_set(e, TK_ENOMEM, "%s: file is %lld bytes, over the limit of %zu", path,
                          (long long)st.st_size, max_bytes);
    }
    if (st.st_size > 0 && tk_buf_reserve(out, (size_t)st.st_size)) {
        close(fd);
        return tk_err_set(e, TK_ENOMEM, "%s: out of memory reading %lld bytes", path, (long long)st.st_size);
    }
    size_t start = out->len;
    for (;;) {
        if (tk_buf_reserve(out, 65536)) {
            close(fd);
            return tk_err_set(e, TK_ENOMEM, "%s: out of memory", path);
        }
        ssize_t r = read(fd, out->data + out->len, out->cap - out->len - 1);
        if (r < 0) {
            if (errno == EINTR) continue;
            int err = errno;
            close(fd);
            return tk_err_set(e, TK_EIO, "%s: read failed: %s", path, strerror(err));
        }
        if (r == 0) break;
        out->len += (size_t)r;
        if (max_bytes && out->len - start > max_bytes) {
            close(fd);
            return tk_err_set(e, TK_ENOMEM, "%s: file is over the limit of %zu bytes", path, max_bytes);
        }
    }
    out->data[out->len] = '\0';
    close(fd);
    return 0;
}

static int write_all(int fd, const void *data, size_t n) {
    const char *p = data;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Directory part of path ("." if none); caller frees. */
static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return tk_strdup(".");
    if (slash == path) return tk_strdup("/");
    return tk_strndup(path, (size_t)(slash - path));
}

int tk_fsync_dir(const char *dir, tk_err *e) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return tk_err_set(e, TK_EIO, "%s: cannot open directory: %s", dir, strerror(errno));
    int rc = fsync(fd);
    int err = errno;
    close(fd);
    if (rc && err != EINVAL) return tk_err_set(e, TK_EIO, "%s: fsync failed: %s", dir, strerror(err));
    return 0;
}

int tk_file_write_atomic(const char *path, const void *data, size_t n, int mode, tk_err *e) {
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    if (!tmp) return tk_err_set(e, TK_ENOMEM, "%s: out of memory", path);
    snprintf(tmp, plen + 32, "%s.tmp.XXXXXX", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        free(tmp);
        return tk_err_set(e, TK_EIO, "%s: cannot create temporary file: %s", path, strerror(err));
    }
    int rc = 0;
    if (fchmod(fd, (mode_t)mode) || write_all(fd, data, n) || fsync(fd)) {
        rc = tk_err_set(e, TK_EIO, "%s: write failed: %s", path, strerror(errno));
    }
    if (close(fd) && !rc) rc = tk_err_set(e, TK_EIO, "%s: close failed: %s", path, strerror(errno));
    if (!rc && rename(tmp, path)) rc = tk_err_set(e, TK_EIO, "%s: rename failed: %s", path, strerror(errno));
    if (rc) {
        unlink(tmp);
    } else {
        char *dir = dir_of(path);
        if (!dir) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
        else rc = tk_fsync_dir(dir, e);
        free(dir);
    }
    free(tmp);
    return rc;
}

int tk_file_append_line(const char *path, const char *line, size_t n, tk_err *e) {
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return tk_err_set(e, TK_EIO, "%s: cannot open for append: %s", path, strerror(errno));
    /* one write() for line + '\n' so concurrent appenders never interleave within a line */
    char *tmp = malloc(n + 1);
    if (!tmp) { close(fd); return tk_err_set(e, TK_ENOMEM, "out of memory"); }
    memcpy(tmp, line, n);
    tmp[n] = '\n';
    int rc = 0;
    if (write_all(fd, tmp, n + 1) || fsync(fd)) rc = tk_err_set(e, TK_EIO, "%s: append failed: %s", path, strerror(errno));
    free(tmp);
    close(fd);
    return rc;
}

int tk_mkdir_p(const char *path, int mode, tk_err *e) {
    char *p = tk_strdup(path);
    if (!p) return tk_err_set(e, TK_ENOMEM, "out of memory");
    size_t len = strlen(p);
    while (len > 1 && p[len - 1] == '/') p[--len] = '\0';
    for (char *s = p + 1; ; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, (mode_t)mode) && errno != EEXIST) {
                int err = errno;
                int rc = tk_err_set(e, TK_EIO, "%s: cannot create directory: %s", p, strerror(err));
                free(p);
                return rc;
            }
            *s = c;
            if (!c) break;
        }
    }
    int rc = 0;
    if (!tk_path_is_dir(p)) rc = tk_err_set(e, TK_EIO, "%s: exists and is not a directory", p);
    free(p);
    return rc;
}

static int remove_rec(const char *path, tk_err *e) {
    struct stat st;
    if (lstat(path, &st)) {
        if (errno == ENOENT) return 0;
        return tk_err_set(e, TK_EIO, "%s: %s", path, strerror(errno));
    }
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d) return tk_err_set(e, TK_EIO, "%s: cannot open directory: %s", path, strerror(errno));
        struct dirent *de;
        int rc = 0;
        while (!rc && (de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
            char *child = tk_path_join(path, de->d_name);
            if (!child) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
            else rc = remove_rec(child, e);
            free(child);
        }
        closedir(d);
        if (rc) return rc;
        if (rmdir(path)) return tk_err_set(e, TK_EIO, "%s: cannot remove: %s", path, strerror(errno));
        return 0;
    }
    if (unlink(path)) return tk_err_set(e, TK_EIO, "%s: cannot remove: %s", path, strerror(errno));
    return 0;
}

int tk_remove_tree(const char *path, tk_err *e) {
    size_t n = strlen(path);
    if (n == 0 || strcmp(path, "/") == 0 || (n >= 3 && strcmp(path + n - 3, "/..") == 0) ||
        strcmp(path, "..") == 0 || strcmp(path, ".") == 0)
        return tk_err_set(e, TK_EINVAL, "refusing to remove \"%s\"", path);
    return remove_rec(path, e);
}

bool tk_path_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

bool tk_path_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

char *tk_path_join(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    while (la > 1 && a[la - 1] == '/') la--;
    while (lb && *b == '/') { b++; lb--; }
    char *p = malloc(la + lb + 2);
    if (!p) return NULL;
    memcpy(p, a, la);
    size_t o = la;
    if (la && a[la - 1] != '/') p[o++] = '/';
    memcpy(p + o, b, lb);
    p[o + lb] = '\0';
    return p;
}

char *tk_path_expand_user(const char *path) {
    if (path[0] == '~' && (path[1] == '/' || path[1] == '\0')) {
        const char *home = getenv("HOME");
        if (home && *home) return tk_path_join(home, path[1] ? path + 2 : "");
    }
    return tk_strdup(path);
}
