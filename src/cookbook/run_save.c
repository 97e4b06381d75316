/* Checkpoints of a run: save_state and/or save_weights_for_sampler, then a checkpoints.jsonl
 * record appended only once every save has completed. */
#include "tinkerc/cookbook.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

struct tk_run_saving {
    tk_run *run;
    char *name;
    json_t *loop;               /* loop state (owned copy) */
    tk_client_task *state;      /* save_state, or NULL */
    tk_client_task *sampler;    /* save_weights_for_sampler, or NULL */
};

void tk_run_save_abandon(tk_run_saving *s) {
    if (!s) return;
    tk_client_task_release(s->state);
    tk_client_task_release(s->sampler);
    json_decref(s->loop);
    free(s->name);
    free(s);
}

int tk_run_save_submit(tk_run *r, const char *name, tk_ckpt_kind kind, int64_t ttl_seconds,
                       const json_t *loop_state, tk_run_saving **out, tk_err *e) {
    *out = NULL;
    if (!name || !*name) return tk_err_set(e, TK_EINVAL, "checkpoint name is empty");
    if (!(kind & TK_CKPT_BOTH)) return tk_err_set(e, TK_EINVAL, "checkpoint %s: nothing to save (kind %d)", name, (int)kind);
    if (loop_state && !json_is_object(loop_state))
        return tk_err_set(e, TK_EINVAL, "checkpoint %s: loop state must be a JSON object", name);
    tk_run_saving *s = calloc(1, sizeof *s);
    if (!s) return tk_err_set(e, TK_ENOMEM, "out of memory");
    s->run = r;
    s->name = tk_strdup(name);
    s->loop = loop_state ? json_deep_copy(loop_state) : json_object();
    int rc = (!s->name || !s->loop) ? tk_err_set(e, TK_ENOMEM, "out of memory") : 0;
    if (!rc && (kind & TK_CKPT_STATE))
        rc = tk_client_training_save_state(r->training, name, ttl_seconds, &s->state, e);
    if (!rc && (kind & TK_CKPT_SAMPLER))
        rc = tk_client_training_save_weights_for_sampler(r->training, name, ttl_seconds, &s->sampler, e);
    if (rc) {
        tk_err_prefix(e, "saving checkpoint %s: ", name);
        tk_run_save_abandon(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* The record in the cookbook's key order: name, batch, epoch, final, the paths, then the rest of
 * the loop state. */
static json_t *make_record(const tk_run_saving *s, const char *state_path, const char *sampler_path) {
    json_t *rec = json_object();
    if (!rec || tk_json_set_new(rec, "name", json_string(s->name))) goto oom;
    static const char *const known[] = {"batch", "epoch", "final", NULL};
    for (const char *const *k = known; *k; k++) {
        json_t *v = json_object_get(s->loop, *k);
        if (v && !json_is_null(v) && json_object_set(rec, *k, v)) goto oom;
    }
    if (state_path && tk_json_set_new(rec, "state_path", json_string(state_path))) goto oom;
    if (sampler_path && tk_json_set_new(rec, "sampler_path", json_string(sampler_path))) goto oom;
    const char *key;
    json_t *v;
    json_object_foreach(s->loop, key, v) {
        if (json_object_get(rec, key)) continue;
        if (!strcmp(key, "state_path") || !strcmp(key, "sampler_path") || !strcmp(key, "name")) continue;
        if (json_object_set(rec, key, v)) goto oom;
    }
    return rec;
oom:
    json_decref(rec);
    return NULL;
}

int tk_run_save_finish(tk_run_saving *s, json_t **record_out, tk_err *e) {
    if (record_out) *record_out = NULL;
    tk_arena *a = tk_arena_new(0);
    int rc = a ? 0 : tk_err_set(e, TK_ENOMEM, "out of memory");
    const char *state_path = NULL, *sampler_path = NULL;
    tk_wire_save_weights_response st;
    tk_wire_save_weights_for_sampler_response sp;
    if (!rc && s->state && !(rc = tk_client_save_result(s->state, -1, a, &st, e))) state_path = st.path;
    if (!rc && s->sampler && !(rc = tk_client_sampler_save_result(s->sampler, -1, a, &sp, e))) sampler_path = sp.path;
    if (!rc && ((s->state && !state_path) || (s->sampler && !sampler_path)))
        rc = tk_err_set(e, TK_EPARSE, "the service answered without a checkpoint path");
    json_t *rec = NULL;
    if (!rc && !(rec = make_record(s, state_path, sampler_path))) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    if (!rc) rc = tk_runlog_append_checkpoint(s->run->log_path, rec, e);
    if (rc) tk_err_prefix(e, "saving checkpoint %s: ", s->name);
    if (!rc && record_out) *record_out = json_incref(rec);
    json_decref(rec);
    tk_arena_free(a);
    tk_run_save_abandon(s);
    return rc;
}

int tk_run_save(tk_run *r, const char *name, tk_ckpt_kind kind, int64_t ttl_seconds,
                const json_t *loop_state, json_t **record_out, tk_err *e) {
    tk_run_saving *s;
    int rc = tk_run_save_submit(r, name, kind, ttl_seconds, loop_state, &s, e);
    return rc ? rc : tk_run_save_finish(s, record_out, e);
}
