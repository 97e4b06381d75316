/* Route matching, used by the HTTP front end (registration is in http.h). Internal. */
#ifndef TK_SERVER_ROUTER_H
#define TK_SERVER_ROUTER_H

#include "server_internal.h"

typedef struct tk_server_route_match_out {
    const char *params[TK_SERVER_MAX_PARAMS];
    int n_params;
    bool path_known;  /* some route has this path with another method (answer 405) */
    char allow[64];   /* those methods, for the Allow header */
} tk_server_route_match_out;

/* Match method + path. path is modified (split in place) and params point into it. NULL if no
 * route matches. */
const tk_server_route *tk_server_route_match(tk_server *s, const char *method, char *path, tk_server_route_match_out *m);
tk_server_handler tk_server_route_handler(const tk_server_route *r, void **user, int *flags);

#endif
