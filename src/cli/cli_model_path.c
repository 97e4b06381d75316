/* Model directory lookup for the CLI: a path, or a name in the Hugging Face cache. */
#include "cli_model_path.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinkerc/base.h"

static char *hub_dir(void) {
    const char *c = getenv("HF_HUB_CACHE");
    if (c && *c) return tk_strdup(c);
    const char *h = getenv("HF_HOME");
    if (h && *h) return tk_path_join(h, "hub");
    return tk_path_expand_user("~/.cache/huggingface/hub");
}

char *tk_cli_find_model_dir(const char *name, char *err, size_t n) {
    if (tk_path_is_dir(name)) return tk_strdup(name);
    char base[512];
    snprintf(base, sizeof base, "%s", name);
    char *colon = strchr(base, ':');
    if (colon) *colon = 0;
    char repo[600] = "models--";
    for (size_t i = 0, o = strlen(repo); base[i] && o + 2 < sizeof repo; i++) {
        if (base[i] == '/') {
            repo[o++] = '-';
            repo[o++] = '-';
        } else {
            repo[o++] = base[i];
        }
        repo[o] = 0;
    }
    char *hub = hub_dir(), *rdir = hub ? tk_path_join(hub, repo) : NULL;
    char *snaps = rdir ? tk_path_join(rdir, "snapshots") : NULL, *found = NULL;
    if (snaps) {
        char *ref = tk_path_join(rdir, "refs/main");
        tk_buf rev = {0};
        tk_err e = {0};
        if (ref && tk_path_exists(ref) && !tk_file_read(ref, &rev, 256, &e)) {
            while (rev.len && (rev.data[rev.len - 1] == '\n' || rev.data[rev.len - 1] == ' ')) rev.data[--rev.len] = 0;
            char *p = tk_path_join(snaps, rev.data);
            if (p && tk_path_is_dir(p)) found = p;
            else free(p);
        }
        tk_buf_free(&rev);
        free(ref);
        if (!found) {   /* no refs/main: the only snapshot, if there is exactly one */
            DIR *d = opendir(snaps);
            struct dirent *de;
            int count = 0;
            char only[256] = "";
            while (d && (de = readdir(d)))
                if (de->d_name[0] != '.') {
                    count++;
                    snprintf(only, sizeof only, "%s", de->d_name);
                }
            if (d) closedir(d);
            if (count == 1) found = tk_path_join(snaps, only);
        }
    }
    if (!found)
        snprintf(err, n, "model \"%s\": not a directory, and not in the Hugging Face cache (%s/%s/snapshots); "
                         "nothing is downloaded", name, hub ? hub : "?", repo);
    free(hub);
    free(rdir);
    free(snaps);
    return found;
}
