/* The routing table: METHOD + '/'-separated pattern with {param} segments -> handler. Paths are
 * matched segment by segment (empty segments are ignored, so "//api/v1/x/" matches "/api/v1/x"),
 * which is what lets a checkpoint id of two segments ("weights/<name>") sit in the middle of a
 * path with nothing special. */
#include "router.h"

#include <string.h>

#define MAX_SEGS 16

struct tk_server_route {
    char method[8];
    char *pattern;
    char *segs[MAX_SEGS]; /* NULL = a {param} segment */
    int nseg;
    tk_server_handler fn;
    void *user;
    int flags;
};

int tk_server_route_add(tk_server *s, const char *method, const char *pattern, tk_server_handler fn, void *user,
                        int flags, tk_err *e) {
    if (!method || strlen(method) >= 8 || !pattern || pattern[0] != '/' || !fn)
        return tk_err_set(e, TK_EINVAL, "route %s %s: bad method, pattern or handler", method ? method : "?",
                          pattern ? pattern : "?");
    tk_server_route *r = calloc(1, sizeof *r);
    char *copy = tk_strdup(pattern);
    if (!r || !copy) { free(r); free(copy); return tk_err_set(e, TK_ENOMEM, "out of memory"); }
    strcpy(r->method, method);
    r->pattern = tk_strdup(pattern);
    r->fn = fn;
    r->user = user;
    r->flags = flags;
    int rc = r->pattern ? 0 : tk_err_set(e, TK_ENOMEM, "out of memory");
    char *save = NULL;
    for (char *seg = strtok_r(copy, "/", &save); seg && !rc; seg = strtok_r(NULL, "/", &save)) {
        if (r->nseg == MAX_SEGS) { rc = tk_err_set(e, TK_EINVAL, "route %s: too many segments", pattern); break; }
        size_t n = strlen(seg);
        if (seg[0] == '{') {
            if (n < 3 || seg[n - 1] != '}') { rc = tk_err_set(e, TK_EINVAL, "route %s: bad segment %s", pattern, seg); break; }
            r->segs[r->nseg++] = NULL;
        } else if (!(r->segs[r->nseg++] = tk_strdup(seg)))
            rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    }
    free(copy);
    if (!rc && tk_vec_push(&s->routes, r)) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    if (rc) {
        for (int i = 0; i < r->nseg; i++) free(r->segs[i]);
        free(r->pattern);
        free(r);
    }
    return rc;
}

void tk_server_routes_free(tk_server *s) {
    for (size_t i = 0; i < s->routes.len; i++) {
        tk_server_route *r = s->routes.data[i];
        for (int k = 0; k < r->nseg; k++) free(r->segs[k]);
        free(r->pattern);
        free(r);
    }
    tk_vec_free(&s->routes);
}

const tk_server_route *tk_server_route_match(tk_server *s, const char *method, char *path, tk_server_route_match_out *m) {
    const char *segs[MAX_SEGS + 1];
    int n = 0;
    m->path_known = false;
    m->allow[0] = '\0';
    char *save = NULL;
    for (char *seg = strtok_r(path, "/", &save); seg; seg = strtok_r(NULL, "/", &save)) {
        if (n > MAX_SEGS) return NULL;
        segs[n++] = seg;
    }
    if (n > MAX_SEGS) return NULL;
    const tk_server_route *hit = NULL;
    for (size_t i = 0; i < s->routes.len; i++) {
        const tk_server_route *r = s->routes.data[i];
        if (r->nseg != n) continue;
        int np = 0;
        bool ok = true;
        const char *params[TK_SERVER_MAX_PARAMS];
        for (int k = 0; k < n && ok; k++) {
            if (r->segs[k]) ok = !strcmp(r->segs[k], segs[k]);
            else if (np < TK_SERVER_MAX_PARAMS) params[np++] = segs[k];
            else ok = false;
        }
        if (!ok) continue;
        if (strcmp(r->method, method)) {
            m->path_known = true;
            size_t al = strlen(m->allow);
            if (!strstr(m->allow, r->method) && al + strlen(r->method) + 3 < sizeof m->allow)
                snprintf(m->allow + al, sizeof m->allow - al, "%s%s", al ? ", " : "", r->method);
            continue;
        }
        if (!hit) {
            hit = r;
            m->n_params = np;
            memcpy(m->params, params, (size_t)np * sizeof *params);
        }
    }
    return hit;
}

tk_server_handler tk_server_route_handler(const tk_server_route *r, void **user, int *flags) {
    *user = r->user;
    *flags = r->flags;
    return r->fn;
}
