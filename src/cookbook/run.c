/* The run setup every recipe shares: log_path, the service, the training client (fresh, from
 * weights, or resumed with its optimizer), the tokenizer, the renderer, the default LR. */
#include "tinkerc/cookbook.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void tk_run_options_init(tk_run_options *o) {
    memset(o, 0, sizeof *o);
    o->if_exists = TK_LOGDIR_ASK;
    o->lora_rank = 32;
    o->resume_key = "state_path";
    o->tokenizer_timeout_s = 120;
}

/* The last resumable record of a run being continued. */
static int find_resume(tk_run *r, const char *key, tk_err *e) {
    int rc = tk_runlog_last_checkpoint(r->log_path, key, &r->resume, e);
    if (rc) return tk_err_prefix(e, "resuming %s: ", r->log_path);
    if (!r->resume) return 0;
    json_t *path = json_object_get(r->resume, key);
    if (!json_is_string(path) || !*json_string_value(path))
        return tk_err_set(e, TK_EINVAL, "resuming %s: checkpoints.jsonl's last record has a \"%s\" that is "
                                        "not a tinker:// path", r->log_path, key);
    r->resuming = true;
    return 0;
}

static int open_service(tk_run *r, const tk_run_options *o, tk_err *e) {
    tk_client_service_options so;
    tk_client_service_options_init(&so);
    so.client.base_url = o->base_url;
    char *meta = NULL;
    if (o->recipe_name) {
        json_t *m = json_pack("{s:s}", "recipe_name", o->recipe_name);
        meta = m ? json_dumps(m, JSON_COMPACT) : NULL;
        json_decref(m);
        if (!meta) return tk_err_set(e, TK_ENOMEM, "out of memory");
    }
    so.user_metadata = meta;
    int rc = tk_client_service_open(&so, &r->service, e);
    free(meta);
    if (rc) tk_err_prefix(e, "connecting to the Tinker service: ");
    return rc;
}

static int create_training(tk_run *r, const tk_run_options *o, const char *renderer_name, tk_err *e) {
    tk_client_task *task = NULL;
    int rc;
    const char *what;
    char *meta = NULL;
    if (r->resuming) {
        what = json_string_value(json_object_get(r->resume, o->resume_key));
        rc = tk_client_service_create_training_client_from_state_with_optimizer(r->service, what, &task, e);
    } else if (o->load_checkpoint_path) {
        what = o->load_checkpoint_path;
        rc = tk_client_service_create_training_client_from_state(r->service, what, &task, e);
    } else {
        what = r->model.base_model;
        tk_wire_lora_config lora;
        tk_wire_init(TK_WIRE_MSG_LORA_CONFIG, &lora);
        if (o->lora_rank > 0) lora.rank = o->lora_rank;
        lora.has_seed = o->has_seed;
        lora.seed = o->seed;
        /* as upstream: the renderer is recorded with the run, so a later load can check it */
        if (renderer_name) {
            json_t *m = json_pack("{s:s}", "renderer_name", renderer_name);
            meta = m ? json_dumps(m, JSON_COMPACT) : NULL;
            json_decref(m);
            if (!meta) return tk_err_set(e, TK_ENOMEM, "out of memory");
        }
        rc = tk_client_service_create_lora_training_client(r->service, what, &lora, meta, &task, e);
    }
    if (!rc) rc = tk_client_training_result(task, -1, &r->training, e);
    tk_client_task_release(task);
    free(meta);
    if (rc)
        return tk_err_prefix(e, "%s %s: ", r->resuming ? "resuming from" :
                                           o->load_checkpoint_path ? "loading weights from" :
                                           "creating a LoRA training client on", what);
    const char *base = tk_client_training_base_model(r->training);
    if ((r->resuming || o->load_checkpoint_path) && base && strcmp(base, r->model.base_model))
        tk_warn("%s was trained on %s, not on model_name=%s; training continues on %s", what, base,
                r->model.name, base);
    return 0;
}

int tk_run_open(const tk_run_options *o, tk_run **out, tk_err *e) {
    *out = NULL;
    if (!o->log_path || !*o->log_path) return tk_err_set(e, TK_EINVAL, "log_path is required");
    tk_run *r = calloc(1, sizeof *r);
    if (!r) return tk_err_set(e, TK_ENOMEM, "out of memory");
    r->default_lr = NAN;
    int rc = 0;
    if (!(r->log_path = tk_path_expand_user(o->log_path))) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    if (!rc) rc = tk_logdir_check(r->log_path, o->if_exists, o->ask_in, o->ask_out, &r->logdir, e);
    if (!rc && r->logdir == TK_LOGDIR_CONTINUE) rc = find_resume(r, o->resume_key ? o->resume_key : "state_path", e);
    if (!rc) rc = tk_model_ref_resolve(o->model_name, &r->model, e);

    /* the renderer's name first: a fresh adapter records it */
    const char *rname = NULL;
    if (!rc && !o->no_renderer) {
        rname = o->renderer_name;
        if (!rname) rc = tk_model_ref_default_renderer(&r->model, &rname, e);
        if (!rc && !(r->renderer_name = tk_strdup(rname))) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    }
    if (!rc) rc = open_service(r, o, e);
    if (!rc) rc = create_training(r, o, rname, e);
    if (!rc && (rc = tk_client_training_get_tokenizer(r->training, o->tokenizer_timeout_s, &r->tokenizer, e)))
        tk_err_prefix(e, "the tokenizer of %s: ", r->model.name);
    if (!rc && !o->no_renderer && (rc = tk_renderer_new(rname, r->tokenizer, NULL, &r->renderer, e)))
        tk_err_prefix(e, "renderer_name=%s: ", rname);
    if (!rc) {
        tk_err le = {0};
        if (tk_model_ref_default_lr(&r->model, &r->default_lr, &le)) {
            r->default_lr = NAN;
            snprintf(r->default_lr_error, sizeof r->default_lr_error, "%s", le.msg);
        }
    }
    if (rc) {
        tk_run_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

/* A crash mid-append can leave a last line without its newline; the next append would glue
 * its own line to it. Cut such a tail off (readers already ignore it). */
static int drop_torn_tail(const char *log_path, const char *file, tk_err *e) {
    char *path = tk_path_join(log_path, file);
    if (!path) return tk_err_set(e, TK_ENOMEM, "out of memory");
    tk_buf b = {0};
    int rc = tk_file_read(path, &b, 0, e);
    if (rc == TK_ENOTFOUND) {
        tk_err_clear(e);
        rc = 0;
    } else if (!rc && b.len && b.data[b.len - 1] != '\n') {
        size_t keep = b.len;
        while (keep && b.data[keep - 1] != '\n') keep--;
        tk_warn("%s: dropping a torn last line (an interrupted write)", path);
        rc = tk_file_write_atomic(path, b.data, keep, 0644, e);
    }
    tk_buf_free(&b);
    free(path);
    return rc;
}

int tk_run_begin(tk_run *r, const json_t *config, int64_t resume_step, tk_err *e) {
    if (r->begun) return tk_err_set(e, TK_ESTATE, "tk_run_begin: called twice for %s", r->log_path);
    int rc = 0;
    if (r->logdir == TK_LOGDIR_REPLACE) rc = tk_remove_tree(r->log_path, e);
    if (!rc) rc = tk_mkdir_p(r->log_path, 0755, e);
    if (!rc && r->logdir == TK_LOGDIR_CONTINUE) {
        size_t dropped = 0;
        rc = drop_torn_tail(r->log_path, "checkpoints.jsonl", e);
        if (!rc) rc = tk_runlog_truncate_metrics(r->log_path, resume_step, &dropped, e);
        if (!rc && dropped)
            tk_info("%s: %zu metrics.jsonl row(s) from step %lld on are redone by this resumed run",
                    r->log_path, dropped, (long long)resume_step);
    }
    if (!rc && config) rc = tk_runlog_write_config(r->log_path, config, e);
    if (!rc) rc = tk_run_logs_open(r->log_path, e);
    if (!rc) r->begun = true;
    return rc;
}

int64_t tk_run_resume_i64(const tk_run *r, const char *key, int64_t dflt) {
    json_t *v = r && r->resume ? json_object_get(r->resume, key) : NULL;
    return json_is_integer(v) ? json_integer_value(v) : dflt;
}

void tk_run_close(tk_run *r) {
    if (!r) return;
    tk_run_progress_end(r);
    tk_renderer_free(r->renderer);
    tk_tokenizer_free(r->tokenizer);
    tk_client_training_free(r->training);
    tk_client_service_close(r->service);
    json_decref(r->resume);
    tk_model_ref_free(&r->model);
    free(r->renderer_name);
    free(r->log_path);
    free(r);
}
