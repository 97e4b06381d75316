/* Finding a tokenizer by model name: a path, the Hugging Face cache, or a download from the hub
 * into that cache (the layout huggingface_hub uses, so both share one cache):
 *
 *   <cache>/models--Org--Name/refs/main               the commit "main" points at
 *   <cache>/models--Org--Name/blobs/<etag>            file contents
 *   <cache>/models--Org--Name/snapshots/<commit>/F    symlink to ../../blobs/<etag>
 *
 * <cache> is $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
 * ~/.cache/huggingface/hub. Downloads come from $HF_ENDPOINT (https://huggingface.co by default)
 * with $HF_TOKEN as bearer token, unless $HF_HUB_OFFLINE is set. */
#include "internal.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DOWNLOAD (1u << 30)

/* The cookbook loads an ungated copy of the Llama 3 tokenizer for every meta-llama/Llama-3* model. */
static const char *const k_llama3_prefix = "meta-llama/Llama-3";
static const char *const k_llama3_mirror = "thinkingmachineslabinc/meta-llama-3-instruct-tokenizer";

static bool env_true(const char *name) {
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") && strcasecmp(v, "false") && strcasecmp(v, "no") && strcasecmp(v, "off");
}

/* The hub cache directory (caller frees). */
static char *hub_cache_dir(void) {
    const char *v = getenv("HF_HUB_CACHE");
    if (v && *v) return tk_path_expand_user(v);
    v = getenv("HF_HOME");
    if (v && *v) {
        char *home = tk_path_expand_user(v);
        char *d = home ? tk_path_join(home, "hub") : NULL;
        free(home);
        return d;
    }
    v = getenv("XDG_CACHE_HOME");
    if (v && *v) {
        char *d = tk_path_join(v, "huggingface/hub");
        return d;
    }
    return tk_path_expand_user("~/.cache/huggingface/hub");
}

/* "Org/Name" with characters the hub allows; anything else is not a model name. */
static bool valid_repo_id(const char *s) {
    const char *slash = strchr(s, '/');
    if (!slash || slash == s || !slash[1] || strchr(slash + 1, '/')) return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'
              || c == '.' || c == '/'))
            return false;
    }
    return !strstr(s, "..") && s[0] != '.' && slash[1] != '.';
}

static bool valid_ref(const char *s) {
    if (!*s || strlen(s) > 128 || s[0] == '.') return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
            return false;
    return true;
}

/* <cache>/models--Org--Name (caller frees). */
static char *repo_dir(const char *cache, const char *repo) {
    tk_buf b = {0};
    if (tk_buf_puts(&b, "models--")) return NULL;
    for (const char *p = repo; *p; p++)
        if (*p == '/' ? tk_buf_puts(&b, "--") : tk_buf_putc(&b, *p)) {
            tk_buf_free(&b);
            return NULL;
        }
    char *d = tk_path_join(cache, b.data);
    tk_buf_free(&b);
    return d;
}

/* A snapshot directory of the repo holding tokenizer.json: the one refs/main names, else the most
 * recently modified one. NULL (and a reason in why) when there is none. */
static char *find_snapshot(const char *rdir, tk_buf *why) {
    char *refp = tk_path_join(rdir, "refs/main");
    char *snaps = tk_path_join(rdir, "snapshots");
    char *found = NULL;
    tk_buf ref = {0};
    tk_err e = {0};
    if (!refp || !snaps) goto out;
    if (!tk_path_is_dir(rdir)) {
        if (tk_buf_printf(why, "%s does not exist", rdir)) goto out;
        goto out;
    }
    if (tk_path_exists(refp) && tk_file_read(refp, &ref, 4096, &e) == 0) {
        while (ref.len && (ref.data[ref.len - 1] == '\n' || ref.data[ref.len - 1] == '\r' || ref.data[ref.len - 1] == ' '))
            ref.data[--ref.len] = '\0';
        if (valid_ref(ref.data)) {
            char *snap = tk_path_join(snaps, ref.data);
            char *tj = snap ? tk_path_join(snap, "tokenizer.json") : NULL;
            if (tj && tk_path_exists(tj)) {
                found = snap;
                snap = NULL;
            }
            free(snap);
            free(tj);
            if (found) goto out;
        }
    }
    DIR *d = opendir(snaps);
    if (!d) {
        if (tk_buf_printf(why, "%s has no snapshots", rdir)) goto out;
        goto out;
    }
    struct dirent *de;
    time_t best = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char *snap = tk_path_join(snaps, de->d_name);
        char *tj = snap ? tk_path_join(snap, "tokenizer.json") : NULL;
        struct stat st;
        if (tj && stat(tj, &st) == 0 && (!found || st.st_mtime > best)) {
            free(found);
            found = snap;
            snap = NULL;
            best = st.st_mtime;
        }
        free(snap);
        free(tj);
    }
    closedir(d);
    if (!found && tk_buf_printf(why, "no snapshot in %s has a tokenizer.json", snaps)) goto out;
out:
    free(refp);
    free(snaps);
    tk_buf_free(&ref);
    return found;
}

/* ---- download ------------------------------------------------------------------------------ */

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static CURLcode g_curl_rc;
static void curl_init(void) { g_curl_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

typedef struct fetch {
    tk_buf body;
    char commit[129];
    char etag[129];
    bool too_big;
} fetch;

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    fetch *f = ud;
    size_t len = size * n;
    if (f->body.len + len > MAX_DOWNLOAD) {
        f->too_big = true;
        return 0;
    }
    return tk_buf_append(&f->body, p, len) ? 0 : len;
}

/* Copy a header value (trimmed, quotes and W/ removed) when it is safe as a file name. */
static void header_value(const char *v, size_t n, char *dst, size_t cap) {
    while (n && (*v == ' ' || *v == '\t')) v++, n--;
    while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ')) n--;
    if (n >= 2 && v[0] == 'W' && v[1] == '/') v += 2, n -= 2;
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') v++, n -= 2;
    if (n == 0 || n >= cap) return;
    char tmp[129];
    memcpy(tmp, v, n);
    tmp[n] = '\0';
    if (valid_ref(tmp)) memcpy(dst, tmp, n + 1);
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
    fetch *f = ud;
    size_t len = size * n;
    static const char *const names[3] = {"x-repo-commit:", "x-linked-etag:", "etag:"};
    for (int k = 0; k < 3; k++) {
        size_t l = strlen(names[k]);
        if (len > l && !strncasecmp(p, names[k], l)) {
            if (k == 0) header_value(p + l, len - l, f->commit, sizeof f->commit);
            else if (k == 1 || !f->etag[0]) header_value(p + l, len - l, f->etag, sizeof f->etag);
        }
    }
    return len;
}

/* GET url; 0 with the body, or TK_ENOTFOUND (404), TK_EHTTP, TK_ENET. */
static int http_get(const char *url, fetch *f, long *status, tk_err *e) {
    pthread_once(&g_curl_once, curl_init);
    if (g_curl_rc != CURLE_OK) return tk_err_set(e, TK_EINTERNAL, "curl_global_init: %s", curl_easy_strerror(g_curl_rc));
    CURL *c = curl_easy_init();
    if (!c) return tk_err_set(e, TK_ENOMEM, "curl_easy_init failed");
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = NULL;
    const char *token = getenv("HF_TOKEN");
    if (!token || !*token) token = getenv("HUGGING_FACE_HUB_TOKEN");
    tk_buf auth = {0};
    if (token && *token) {
        if (tk_buf_printf(&auth, "Authorization: Bearer %s", token)) {
            curl_easy_cleanup(c);
            return tk_err_set(e, TK_ENOMEM, "out of memory");
        }
        hdrs = curl_slist_append(hdrs, auth.data);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 15000L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "tinkerc");
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, f);
    if (hdrs) curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    CURLcode cr = curl_easy_perform(c);
    *status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    tk_buf_free(&auth);
    if (f->too_big) return tk_err_set(e, TK_ENOMEM, "GET %s: the file is over %u bytes", url, MAX_DOWNLOAD);
    if (cr != CURLE_OK)
        return tk_err_set(e, TK_ENET, "GET %s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(cr));
    if (*status == 404) return tk_err_set(e, TK_ENOTFOUND, "GET %s: 404 not found", url);
    if (*status == 401 || *status == 403)
        return tk_err_set(e, TK_EHTTP, "GET %s: %ld (gated or private repository: accept its terms on the hub and "
                          "set HF_TOKEN)", url, *status);
    if (*status != 200) return tk_err_set(e, TK_EHTTP, "GET %s: HTTP %ld", url, *status);
    return 0;
}

/* Store one downloaded file in the cache layout. */
static int store(const char *rdir, const char *commit, const char *file, fetch *f, tk_err *e) {
    char etag[160];
    if (f->etag[0]) snprintf(etag, sizeof etag, "%s", f->etag);
    else snprintf(etag, sizeof etag, "tinkerc-%016llx", (unsigned long long)tk_tok_hash(f->body.data, f->body.len));
    char *blobs = tk_path_join(rdir, "blobs");
    char *blob = blobs ? tk_path_join(blobs, etag) : NULL;
    char *snaps = tk_path_join(rdir, "snapshots");
    char *snap = snaps ? tk_path_join(snaps, commit) : NULL;
    char *link = snap ? tk_path_join(snap, file) : NULL;
    char *refs = tk_path_join(rdir, "refs");
    char *refmain = refs ? tk_path_join(refs, "main") : NULL;
    char target[512];
    snprintf(target, sizeof target, "../../blobs/%s", etag);
    int rc = 0;
    if (!blob || !link || !refmain) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    if (!rc) rc = tk_mkdir_p(blobs, 0755, e);
    if (!rc) rc = tk_mkdir_p(snap, 0755, e);
    if (!rc) rc = tk_mkdir_p(refs, 0755, e);
    if (!rc) rc = tk_file_write_atomic(blob, f->body.data ? f->body.data : "", f->body.len, 0644, e);
    if (!rc) {
        /* replace the link atomically: a new name, then rename over the old one */
        char tmp[1024];
        snprintf(tmp, sizeof tmp, "%s.tmp%ld", link, (long)getpid());
        unlink(tmp);
        if (symlink(target, tmp) || rename(tmp, link)) {
            rc = tk_err_set(e, TK_EIO, "%s: cannot link to %s: %s", link, target, strerror(errno));
            unlink(tmp);
        }
    }
    if (!rc) rc = tk_file_write_atomic(refmain, commit, strlen(commit), 0644, e);
    free(blobs);
    free(blob);
    free(snaps);
    free(snap);
    free(link);
    free(refs);
    free(refmain);
    return rc;
}

/* Download tokenizer.json (required) and tokenizer_config.json / chat_template.jinja (if the
 * repository has them) into the cache; *snapshot gets the snapshot directory. */
static int download(const char *endpoint, const char *repo, const char *rdir, char **snapshot, tk_err *e) {
    static const char *const files[3] = {"tokenizer.json", "tokenizer_config.json", "chat_template.jinja"};
    char commit[129] = "";
    int rc = 0;
    for (int k = 0; k < 3 && !rc; k++) {
        char url[1024];
        snprintf(url, sizeof url, "%s/%s/resolve/%s/%s", endpoint, repo, commit[0] ? commit : "main", files[k]);
        fetch f = {0};
        long status;
        rc = http_get(url, &f, &status, e);
        if (rc == TK_ENOTFOUND && k > 0) rc = 0; /* optional files */
        else if (!rc) {
            if (k == 0) {
                if (!f.commit[0]) {
                    tk_buf_free(&f.body);
                    return tk_err_set(e, TK_EHTTP, "GET %s: the response has no X-Repo-Commit header", url);
                }
                memcpy(commit, f.commit, sizeof commit);
            }
            rc = store(rdir, commit, files[k], &f, e);
        }
        tk_buf_free(&f.body);
    }
    if (rc) return rc;
    char *snaps = tk_path_join(rdir, "snapshots");
    *snapshot = snaps ? tk_path_join(snaps, commit) : NULL;
    free(snaps);
    return *snapshot ? 0 : tk_err_set(e, TK_ENOMEM, "out of memory");
}

int tk_tokenizer_load_by_name(const char *name_or_path, tk_tokenizer **out, tk_err *e) {
    tk_err local = {0};
    if (!e) e = &local;
    if (!name_or_path || !out) return tk_err_set(e, TK_EINVAL, "tokenizer: NULL argument");
    *out = NULL;
    if (!*name_or_path) return tk_err_set(e, TK_EINVAL, "tokenizer: empty name");
    /* 1. a file or a directory */
    if (tk_path_exists(name_or_path)) return tk_tokenizer_load(name_or_path, out, e);

    /* 2. a model name, without any ":suffix" */
    char *repo = tk_strdup(name_or_path);
    if (!repo) return tk_err_set(e, TK_ENOMEM, "out of memory");
    char *colon = strchr(repo, ':');
    if (colon) *colon = '\0';
    if (!valid_repo_id(repo)) {
        free(repo);
        return tk_err_set(e, TK_ENOTFOUND,
                          "tokenizer \"%s\": no such file or directory, and not a model name like "
                          "\"Org/Name\"; pass a tokenizer.json, a model directory or a Hugging Face model name",
                          name_or_path);
    }
    if (!strncmp(repo, k_llama3_prefix, strlen(k_llama3_prefix))) {
        free(repo);
        repo = tk_strdup(k_llama3_mirror);
        if (!repo) return tk_err_set(e, TK_ENOMEM, "out of memory");
    }
    char *cache = hub_cache_dir();
    char *rdir = cache ? repo_dir(cache, repo) : NULL;
    tk_buf why = {0};
    char *snapshot = NULL;
    int rc;
    if (!rdir) {
        rc = tk_err_set(e, TK_ENOMEM, "out of memory");
        goto out;
    }
    snapshot = find_snapshot(rdir, &why);
    if (snapshot) {
        rc = tk_tokenizer_load(snapshot, out, e);
        goto out;
    }
    /* 3. the hub */
    const char *endpoint = getenv("HF_ENDPOINT");
    if (!endpoint || !*endpoint) endpoint = "https://huggingface.co";
    char ep[512];
    snprintf(ep, sizeof ep, "%s", endpoint);
    while (*ep && ep[strlen(ep) - 1] == '/') ep[strlen(ep) - 1] = '\0';
    tk_err de = {0};
    if (env_true("HF_HUB_OFFLINE")) {
        tk_err_set(&de, TK_ENOTFOUND, "HF_HUB_OFFLINE is set, so nothing was downloaded");
    } else if (download(ep, repo, rdir, &snapshot, &de) == 0) {
        rc = tk_tokenizer_load(snapshot, out, e);
        goto out;
    }
    rc = tk_err_set(e, TK_ENOTFOUND,
                    "tokenizer \"%s\" (model %s) not found: no such file or directory; not in the Hugging Face "
                    "cache (%s); download failed (%s). Pass a tokenizer.json or a model directory, or put the "
                    "files in the cache (huggingface-cli download %s tokenizer.json tokenizer_config.json), or "
                    "set HF_HOME / HF_HUB_CACHE to the cache that has them, or HF_TOKEN for a gated model",
                    name_or_path, repo, why.data ? why.data : rdir, de.msg, repo);
out:
    free(repo);
    free(cache);
    free(rdir);
    free(snapshot);
    tk_buf_free(&why);
    return rc;
}
