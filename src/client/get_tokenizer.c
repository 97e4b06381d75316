/* get_tokenizer for training and sampling clients (§3.3, §3.8): ask the server which tokenizer
 * the model uses (get_info's model_data.tokenizer_id, cut at its first ':' as the SDK does, else
 * the model name; a sampler's base model), then load it through the tokenizer layer (a path, the
 * Hugging Face cache, or the hub). Loading runs on the caller's thread, never the I/O thread. */
#include "internal.h"
#include "sdk.h"

#include <string.h>

#include "tinkerc/tokenizer.h"

/* Try each non-empty, distinct candidate in order; the last error is reported. */
static int load_first(const char *const *names, size_t n, const char *what, tk_tokenizer **out,
                      tk_err *e) {
    int rc = tk_err_set(e, TK_ENOTFOUND, "%s: the server named no tokenizer", what);
    for (size_t i = 0; i < n; i++) {
        if (!names[i] || !*names[i]) continue;
        bool seen = false;
        for (size_t k = 0; k < i; k++) seen = seen || (names[k] && !strcmp(names[k], names[i]));
        if (seen) continue;
        tk_err le = {0};
        if (!(rc = tk_tokenizer_load_by_name(names[i], out, &le))) return 0;
        *e = le;
        tk_err_prefix(e, "%s: tokenizer \"%s\": ", what, names[i]);
    }
    return rc;
}

int tk_client_training_get_tokenizer(tk_client_training *t, double timeout_s, tk_tokenizer **out,
                                     tk_err *e) {
    *out = NULL;
    tk_client_task *task = NULL;
    int rc = tk_client_training_get_info(t, &task, e);
    if (rc) return rc;
    tk_arena *a = tk_arena_new(0);
    tk_wire_get_info_response gi;
    rc = a ? tk_client_task_result(task, timeout_s, a, TK_WIRE_MSG_GET_INFO_RESPONSE, &gi, e)
           : tk_err_set(e, TK_ENOMEM, "get_tokenizer: out of memory");
    tk_client_task_release(task);
    if (!rc) {
        char *tid = gi.model_data.tokenizer_id;
        if (tid) {
            char *colon = strchr(tid, ':');
            if (colon) *colon = 0;
        }
        const char *names[] = {tid, gi.model_data.model_name, gi.model_name, t->base_model};
        rc = load_first(names, 4, "get_tokenizer", out, e);
    }
    tk_arena_free(a);
    return rc;
}

int tk_client_sampling_get_tokenizer(tk_client_sampling *s, double timeout_s, tk_tokenizer **out,
                                     tk_err *e) {
    *out = NULL;
    tk_client_task *task = NULL;
    int rc = tk_client_rest_get_sampler(s->svc, s->session_id, &task, e);
    if (rc) return rc;
    tk_arena *a = tk_arena_new(0);
    tk_wire_sampler_response sr;
    rc = a ? tk_client_task_result(task, timeout_s, a, TK_WIRE_MSG_SAMPLER_RESPONSE, &sr, e)
           : tk_err_set(e, TK_ENOMEM, "get_tokenizer: out of memory");
    tk_client_task_release(task);
    if (!rc) {
        const char *names[] = {sr.base_model};
        rc = load_first(names, 1, "get_tokenizer", out, e);
    }
    tk_arena_free(a);
    return rc;
}
