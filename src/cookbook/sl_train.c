/* The cookbook's supervised fine-tuning loop (supervised/train.py) over tk_run: pipelined steps,
 * evaluation before the step, checkpoints that resume without replaying a batch. */
#include "tinkerc/cookbook.h"
#include "sl_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A step whose forward_backward and optim_step are in flight. */
typedef struct pending {
    int64_t step, epoch, batch;
    tk_client_task *fb, *opt;
    tk_wire_datum *data;        /* batch_size shallow copies (they point into the dataset) */
    json_t *metrics;            /* epoch, progress, learning_rate, eval and timing so far */
    tk_run_saving *save;        /* the checkpoint submitted right after this step, or NULL */
    char save_name[32];
    double t_start;
    int64_t num_tokens;
} pending;

typedef struct loop {
    const tk_sl_config *cfg;
    tk_run *run;
    tk_sl_dataset *data;
    tk_lr_schedule schedule;
    double lr;
    size_t batch_size;
    int64_t n_batches, total_steps;
    int64_t elapsed_tokens;     /* every step since the run began, resumed ones included */
    int64_t last_save_tokens;
    double last_save_s;
    pending *ring;              /* capacity 1 + submit_ahead */
    size_t cap, head, len;
    int64_t session_tokens;
} loop;

static int oom(tk_err *e) { return tk_err_set(e, TK_ENOMEM, "out of memory"); }

static int set_real(json_t *m, const char *k, double v, tk_err *e) {
    return tk_json_set_new(m, k, isfinite(v) ? json_real(v) : json_null()) ? oom(e) : 0;
}
static int set_int(json_t *m, const char *k, int64_t v, tk_err *e) {
    return tk_json_set_new(m, k, json_integer(v)) ? oom(e) : 0;
}

/* Logprob arrays of a forward(_backward) result, checked against the data. */
static int logprobs_of(const tk_wire_forward_backward_output *o, const tk_wire_datum *data, size_t n, tk_arena *a,
                       const float ***lp, size_t **lens, tk_err *e) {
    if (o->n_loss_fn_outputs != n)
        return tk_err_set(e, TK_EPARSE, "the service returned %zu outputs for %zu datums", o->n_loss_fn_outputs, n);
    *lp = tk_arena_alloc(a, n * sizeof **lp);
    *lens = tk_arena_alloc(a, n * sizeof **lens);
    if (!*lp || !*lens) return oom(e);
    for (size_t i = 0; i < n; i++) {
        const tk_wire_tensor *t = tk_wire_tensor_map_get(&o->loss_fn_outputs[i], "logprobs");
        const tk_wire_tensor *w = tk_wire_tensor_map_get(&data[i].loss_fn_inputs, "weights");
        if (!t || t->dtype != TK_WIRE_FLOAT32 || !w || t->n != w->n)
            return tk_err_set(e, TK_EPARSE, "loss_fn_outputs[%zu]: no float32 \"logprobs\" of the datum's length", i);
        (*lp)[i] = t->data.f32;
        (*lens)[i] = t->n;
    }
    return 0;
}

/* test/nll and test/bpb of the current weights: one forward over the whole test split. */
static int evaluate(loop *L, json_t *metrics, tk_err *e) {
    size_t n;
    const tk_wire_datum *test = tk_sl_dataset_test(L->data, &n);
    if (!n) return 0;
    double t0 = tk_now_s();
    tk_client_task *t = NULL;
    tk_arena *a = tk_arena_new(0);
    if (!a) return oom(e);
    tk_wire_forward_backward_output o;
    const float **lp;
    size_t *lens;
    double nll = NAN, bpb = NAN;
    int rc = tk_client_training_forward(L->run->training, test, n, TK_WIRE_LOSS_CROSS_ENTROPY, NULL, &t, e);
    if (!rc) rc = tk_client_fb_result(t, -1, a, &o, e);
    if (!rc) rc = logprobs_of(&o, test, n, a, &lp, &lens, e);
    if (!rc) rc = tk_sl_mean_nll(test, lp, lens, n, &nll, e);
    if (!rc) rc = tk_sl_bpb(test, lp, lens, n, L->run->tokenizer, &bpb, e);
    if (rc) tk_err_prefix(e, "evaluating on the test set: ");
    if (!rc) rc = set_real(metrics, "test/nll", nll, e);
    if (!rc) rc = set_real(metrics, "test/bpb", bpb, e);
    if (!rc) rc = set_real(metrics, "time/evals", tk_now_s() - t0, e);
    tk_client_task_release(t);
    tk_arena_free(a);
    return rc;
}

static bool save_due(loop *L, int64_t step) {
    const tk_sl_config *c = L->cfg;
    if (step <= 0) return false;   /* as upstream: step 0 never saves */
    if (c->save_every > 0 && step % c->save_every == 0) return true;
    if (c->save_every_tokens > 0 && L->elapsed_tokens - L->last_save_tokens >= c->save_every_tokens) return true;
    if (c->save_every_seconds > 0 && tk_now_s() - L->last_save_s >= c->save_every_seconds) return true;
    return false;
}

static void pending_clear(pending *p) {
    tk_client_task_release(p->fb);
    tk_client_task_release(p->opt);
    tk_run_save_abandon(p->save);
    json_decref(p->metrics);
    free(p->data);
    memset(p, 0, sizeof *p);
}

/* The loop state a checkpoint after `step` records: where the NEXT step starts. */
static json_t *loop_state_after(loop *L, int64_t epoch, int64_t batch) {
    int64_t ne = epoch, nb = batch + 1;
    if (nb >= L->n_batches) {
        ne++;
        nb = 0;
    }
    return json_pack("{s:I,s:I,s:I,s:I}", "epoch", (json_int_t)ne, "batch", (json_int_t)nb, "elapsed_tokens",
                     (json_int_t)L->elapsed_tokens, "step", (json_int_t)(ne * L->n_batches + nb));
}

static int submit_step(loop *L, int64_t epoch, int64_t batch, tk_err *e) {
    const tk_sl_config *c = L->cfg;
    pending *p = &L->ring[(L->head + L->len) % L->cap];
    memset(p, 0, sizeof *p);
    p->step = epoch * L->n_batches + batch;
    p->epoch = epoch;
    p->batch = batch;
    p->t_start = tk_now_s();
    int64_t denom = L->total_steps > 0 ? L->total_steps : 1;
    double lr = L->lr * tk_lr_multiplier(L->schedule, p->step, L->total_steps);
    int rc = (p->metrics = json_object()) ? 0 : oom(e);
    if (!rc) rc = set_int(p->metrics, "epoch", epoch, e);
    if (!rc) rc = set_real(p->metrics, "progress", (double)p->step / (double)denom, e);
    if (!rc) rc = set_real(p->metrics, "learning_rate", lr, e);

    double t0 = tk_now_s();
    if (!rc && !(p->data = calloc(L->batch_size, sizeof *p->data))) rc = oom(e);
    if (!rc) rc = tk_sl_dataset_get_batch(L->data, (size_t)batch, L->batch_size, p->data, NULL, e);
    for (size_t i = 0; !rc && i < L->batch_size; i++) p->num_tokens += (int64_t)p->data[i].model_input.chunks[0].n_tokens;
    if (!rc) rc = set_real(p->metrics, "time/get_batch", tk_now_s() - t0, e);

    /* evaluations see the weights before this step (submitted before its forward_backward) */
    if (!rc && c->eval_every > 0 && p->step % c->eval_every == 0) rc = evaluate(L, p->metrics, e);

    tk_wire_adam_params adam;
    tk_wire_init(TK_WIRE_MSG_ADAM_PARAMS, &adam);
    adam.learning_rate = lr;
    adam.beta1 = c->adam_beta1;
    adam.beta2 = c->adam_beta2;
    adam.eps = c->adam_eps;
    if (!rc)
        rc = tk_client_training_forward_backward(L->run->training, p->data, L->batch_size, TK_WIRE_LOSS_CROSS_ENTROPY,
                                                 NULL, &p->fb, e);
    if (!rc) rc = tk_client_training_optim_step(L->run->training, &adam, &p->opt, e);
    if (rc) tk_err_prefix(e, "step %lld: ", (long long)p->step);
    L->elapsed_tokens += p->num_tokens;
    L->session_tokens += p->num_tokens;

    /* a checkpoint right after this step's optim_step: the saved state is exactly the one after
     * this step, and the record points at the next batch */
    if (!rc && save_due(L, p->step)) {
        json_t *ls = loop_state_after(L, epoch, batch);
        snprintf(p->save_name, sizeof p->save_name, "%06lld", (long long)p->step);
        int64_t ttl = c->ttl_seconds == TK_OPT_UNSET_INT ? 0 : c->ttl_seconds;
        rc = ls ? tk_run_save_submit(L->run, p->save_name, TK_CKPT_BOTH, ttl, ls, &p->save, e) : oom(e);
        json_decref(ls);
        L->last_save_tokens = L->elapsed_tokens;
        L->last_save_s = tk_now_s();
    }
    L->len++;   /* cleared by finish_step or the caller's cleanup, whatever happened */
    return rc;
}

static int finish_step(loop *L, tk_err *e) {
    pending *p = &L->ring[L->head];
    tk_arena *a = tk_arena_new(0);
    int rc = a ? 0 : oom(e);
    json_t *m = p->metrics;
    int64_t denom = L->total_steps > 0 ? L->total_steps : 1;
    double progress = (double)(p->step + 1) / (double)denom;
    if (!rc) rc = set_real(m, "progress", progress < 1 ? progress : 1.0, e);

    double t0 = tk_now_s();
    tk_wire_forward_backward_output fo;
    tk_wire_optim_step_response oo;
    if (!rc) rc = tk_client_fb_result(p->fb, -1, a, &fo, e);
    if (!rc) rc = tk_client_optim_result(p->opt, -1, a, &oo, e);
    if (rc) tk_err_prefix(e, "step %lld: ", (long long)p->step);
    if (!rc) rc = set_real(m, "time/step", tk_now_s() - t0, e);
    /* the optimizer's own metrics, under the service's names (grad_norm:mean, ...) */
    for (size_t i = 0; !rc && i < oo.metrics.n; i++) rc = set_real(m, oo.metrics.items[i].key, oo.metrics.items[i].value, e);

    const float **lp = NULL;
    size_t *lens = NULL;
    double nll = NAN, bpb = NAN, loss_tokens = 0;
    if (!rc) rc = logprobs_of(&fo, p->data, L->batch_size, a, &lp, &lens, e);
    if (!rc) rc = tk_sl_mean_nll(p->data, lp, lens, L->batch_size, &nll, e);
    if (!rc) rc = tk_sl_bpb(p->data, lp, lens, L->batch_size, L->run->tokenizer, &bpb, e);
    for (size_t i = 0; !rc && i < L->batch_size; i++) {
        const tk_wire_tensor *w = tk_wire_tensor_map_get(&p->data[i].loss_fn_inputs, "weights");
        for (size_t k = 0; k < w->n; k++) loss_tokens += w->data.f32[k];
    }
    if (!rc) rc = set_int(m, "num_sequences", (int64_t)L->batch_size, e);
    if (!rc) rc = set_int(m, "num_tokens", p->num_tokens, e);
    if (!rc) rc = set_real(m, "num_loss_tokens", loss_tokens, e);
    if (!rc) rc = set_real(m, "train_mean_nll", nll, e);
    if (!rc) rc = set_real(m, "train_mean_bpb", bpb, e);

    /* the checkpoint of this step: recorded once it completed */
    if (!rc && p->save) {
        double ts = tk_now_s();
        json_t *rec = NULL;
        rc = tk_run_save_finish(p->save, &rec, e);
        p->save = NULL;
        if (!rc) rc = set_real(m, "time/save_checkpoint", tk_now_s() - ts, e);
        if (!rc) tk_info("checkpoint %s: %s", json_string_value(json_object_get(rec, "name")),
                         json_string_value(json_object_get(rec, "state_path")));
        json_decref(rec);
    }
    if (!rc) rc = set_real(m, "time/total", tk_now_s() - p->t_start, e);
    if (!rc) rc = tk_run_log_metrics(L->run, p->step, m, e);
    if (!rc) tk_run_progress_step(L->run, p->step + 1, nll, p->num_tokens);
    tk_arena_free(a);
    pending_clear(p);
    L->head = (L->head + 1) % L->cap;
    L->len--;
    return rc;
}

/* Check the options that need no service. */
static int check_config(const tk_sl_config *c, tk_lr_schedule *sched, tk_err *e) {
    if (!c->log_path || !*c->log_path) return tk_err_set(e, TK_EINVAL, "log_path is required (e.g. log_path=runs/sl)");
    if (!c->model_name || !*c->model_name)
        return tk_err_set(e, TK_EINVAL, "model_name is required (a model name, or a local model directory)");
    if (!c->dataset || !*c->dataset)
        return tk_err_set(e, TK_EINVAL, "dataset is required (a JSONL file of {\"messages\": [...]})");
    if (c->batch_size < 1) return tk_err_set(e, TK_EINVAL, "batch_size=%lld: must be >= 1", (long long)c->batch_size);
    if (c->num_epochs < 0) return tk_err_set(e, TK_EINVAL, "num_epochs=%lld: must be >= 0", (long long)c->num_epochs);
    if (c->max_steps != TK_OPT_UNSET_INT && c->max_steps < 0)
        return tk_err_set(e, TK_EINVAL, "max_steps=%lld: must be >= 0 or none", (long long)c->max_steps);
    if (c->lora_rank < 1) return tk_err_set(e, TK_EINVAL, "lora_rank=%lld: must be >= 1", (long long)c->lora_rank);
    if (c->submit_ahead < 0 || c->submit_ahead > 64)
        return tk_err_set(e, TK_EINVAL, "submit_ahead=%lld: must be in [0, 64]", (long long)c->submit_ahead);
    if (c->save_every < 0 || c->eval_every < 0 || c->save_every_tokens < 0 || c->save_every_seconds < 0)
        return tk_err_set(e, TK_EINVAL, "save_every, save_every_tokens, save_every_seconds and eval_every must be >= 0");
    if (c->test_size < 0) return tk_err_set(e, TK_EINVAL, "test_size=%lld: must be >= 0", (long long)c->test_size);
    if (!isnan(c->learning_rate) && !(c->learning_rate >= 0))
        return tk_err_set(e, TK_EINVAL, "learning_rate=%g: must be >= 0", c->learning_rate);
    if (!(c->adam_beta1 >= 0 && c->adam_beta1 < 1) || !(c->adam_beta2 >= 0 && c->adam_beta2 < 1) || !(c->adam_eps >= 0))
        return tk_err_set(e, TK_EINVAL, "adam_beta1 and adam_beta2 must be in [0, 1), adam_eps >= 0");
    return tk_lr_schedule_parse(c->lr_schedule, sched, e);
}

/* A resumed run with other settings than the one it continues is allowed, but said. */
static void warn_config_changes(const char *log_path, const json_t *now) {
    char *p = tk_path_join(log_path, "config.json");
    json_t *old = NULL;
    tk_err e = {0};
    if (p && tk_path_exists(p) && !tk_json_load_file(p, &old, &e) && json_is_object(old)) {
        static const char *const keys[] = {"model_name", "dataset", "test_size", "shuffle_seed", "train_on_what",
                                           "max_length", "batch_size", "learning_rate", "lr_schedule", "num_epochs",
                                           "lora_rank", "renderer_name", NULL};
        for (const char *const *k = keys; *k; k++) {
            json_t *a = json_object_get(old, *k), *b = json_object_get(now, *k);
            if (a && b && !json_equal(a, b)) {
                char *sa = json_dumps(a, JSON_ENCODE_ANY), *sb = json_dumps(b, JSON_ENCODE_ANY);
                tk_warn("resuming %s with %s=%s (it ran with %s)", log_path, *k, sb ? sb : "?", sa ? sa : "?");
                free(sa);
                free(sb);
            }
        }
    }
    json_decref(old);
    free(p);
}

/* First and last values of a metric in metrics.jsonl. */
static void metric_span(const json_t *rows, const char *key, double *first, int64_t *first_step, double *last,
                        int64_t *last_step) {
    *first = *last = NAN;
    for (size_t i = 0; i < json_array_size(rows); i++) {
        json_t *r = json_array_get(rows, i), *v = json_object_get(r, key);
        if (!json_is_number(v)) continue;
        int64_t step = json_integer_value(json_object_get(r, "step"));
        if (isnan(*first)) {
            *first = json_number_value(v);
            if (first_step) *first_step = step;
        }
        *last = json_number_value(v);
        if (last_step) *last_step = step;
    }
}

void tk_sl_result_free(tk_sl_result *r) {
    if (!r) return;
    free(r->state_path);
    free(r->sampler_path);
    free(r->log_path);
    memset(r, 0, sizeof *r);
}

int tk_sl_train(const tk_sl_config *c, tk_sl_result *res, tk_err *e) { return tk_sl_train_with(c, NULL, res, e); }

int tk_sl_train_with(const tk_sl_config *c, const tk_sl_train_hooks *h, tk_sl_result *res, tk_err *e) {
    memset(res, 0, sizeof *res);
    tk_sl_dataset *given = h ? h->dataset : NULL;   /* taken */
    res->first_test_nll = res->last_test_nll = res->first_train_nll = res->last_train_nll = NAN;
    loop L = {.cfg = c};
    tk_train_on_what what;
    tk_logdir_behavior behavior;
    int rc = check_config(c, &L.schedule, e);
    if (!rc) rc = tk_train_on_what_parse(c->train_on_what, &what, e);
    if (!rc) rc = tk_logdir_behavior_parse(c->behavior_if_log_dir_exists, &behavior, e);
    if (rc) {
        tk_sl_dataset_free(given);
        return rc;
    }

    /* 1. the dataset's lines, before anything is started */
    tk_sl_dataset_options dopt = {.path = c->dataset, .test_size = c->test_size, .shuffle_seed = (uint64_t)c->shuffle_seed,
                                  .train_on_what = what,
                                  .max_length = c->max_length == TK_OPT_UNSET_INT ? 0 : c->max_length,
                                  .skip_bad = !strcmp(c->on_bad_example, "skip"),
                                  .truncate_long = c->truncate_long_examples};
    if (given) L.data = given;
    else if ((rc = tk_sl_dataset_load(&dopt, &L.data, e))) return rc;

    /* 2. the run: log_path decision, service, training client, tokenizer, renderer */
    tk_run_options ro;
    tk_run_options_init(&ro);
    ro.log_path = c->log_path;
    ro.if_exists = behavior;
    ro.model_name = c->model_name;
    ro.renderer_name = c->renderer_name;
    ro.lora_rank = c->lora_rank;
    ro.has_seed = c->seed != TK_OPT_UNSET_INT;
    ro.seed = c->seed;
    ro.load_checkpoint_path = c->load_checkpoint_path;
    ro.base_url = c->base_url;
    ro.recipe_name = h && h->recipe_name ? h->recipe_name : "tinkerc sl";
    rc = tk_run_open(&ro, &L.run, e);

    /* 3. render, size the run */
    if (!rc) rc = tk_sl_dataset_render(L.data, L.run->renderer, e);
    L.batch_size = (size_t)c->batch_size;
    if (!rc) {
        size_t n_train = tk_sl_dataset_n_train(L.data);
        L.n_batches = (int64_t)(n_train / L.batch_size);
        if (L.n_batches == 0)
            rc = tk_err_set(e, TK_EINVAL, "batch_size=%lld is larger than the %zu training examples of %s: no full batch "
                                          "to train on (lower batch_size)", (long long)c->batch_size, n_train, c->dataset);
    }
    L.lr = c->learning_rate;
    if (!rc && isnan(L.lr)) {
        L.lr = L.run->default_lr;
        if (isnan(L.lr))
            rc = tk_err_set(e, TK_EUNSUPPORTED, "no default learning rate: %s", L.run->default_lr_error);
    }
    json_t *config = NULL;
    int64_t start_epoch = 0, start_batch = 0;
    if (!rc) {
        L.total_steps = L.n_batches * c->num_epochs;
        if (c->max_steps != TK_OPT_UNSET_INT && c->max_steps < L.total_steps) L.total_steps = c->max_steps;
        if (L.run->resuming) {
            start_epoch = tk_run_resume_i64(L.run, "epoch", 0);
            start_batch = tk_run_resume_i64(L.run, "batch", 0);
            if (start_batch >= L.n_batches) {   /* a record at the end of an epoch */
                start_epoch++;
                start_batch = 0;
            }
            L.elapsed_tokens = tk_run_resume_i64(L.run, "elapsed_tokens", 0);
            int64_t rec_step = tk_run_resume_i64(L.run, "step", -1);
            if (rec_step >= 0 && rec_step != start_epoch * L.n_batches + start_batch && start_epoch < c->num_epochs)
                tk_warn("the checkpoint was taken with %lld batches per epoch, this run has %lld (dataset or "
                        "batch_size changed?): resuming at epoch %lld batch %lld", (long long)(rec_step / (start_epoch ? start_epoch : 1)),
                        (long long)L.n_batches, (long long)start_epoch, (long long)start_batch);
        }
        L.last_save_tokens = L.elapsed_tokens;
        L.last_save_s = tk_now_s();
        /* config.json: the options as run, with the learning rate that was used */
        tk_sl_config resolved = *c;
        resolved.learning_rate = L.lr;
        if (!(config = h && h->config_json ? h->config_json(&resolved, h->user) : tk_opts_to_json(tk_sl_options, &resolved)))
            rc = oom(e);
        if (!rc && !c->renderer_name && tk_json_set_new(config, "renderer_name", json_string(L.run->renderer_name))) rc = oom(e);
        if (!rc && L.run->logdir == TK_LOGDIR_CONTINUE) warn_config_changes(L.run->log_path, config);
    }
    int64_t start_step = start_epoch * L.n_batches + start_batch;
    /* 4. commit to log_path */
    if (!rc) rc = tk_run_begin(L.run, config, start_step, e);
    json_decref(config);
    const tk_sl_dataset_stats *st = tk_sl_dataset_get_stats(L.data);
    if (!rc && st->skipped)
        tk_warn("%zu of %zu examples skipped (on_bad_example=skip); the first: %s", st->skipped, st->lines, st->first_skipped);
    if (!rc)
        tk_info("training %s on %zu examples (%zu test): %lld batches x %lld epochs = %lld steps, lr %.3g, renderer %s%s",
                c->model_name, st->train, st->test, (long long)L.n_batches, (long long)c->num_epochs,
                (long long)L.total_steps, L.lr, L.run->renderer_name,
                L.run->resuming ? ", resumed" : "");

    /* 5. the loop */
    L.cap = (size_t)c->submit_ahead + 1;
    if (!rc && !(L.ring = calloc(L.cap, sizeof *L.ring))) rc = oom(e);
    bool did_train = !rc && start_epoch < c->num_epochs && start_step < L.total_steps;
    double t0 = tk_now_s();
    if (did_train) tk_run_progress_start(L.run, h && h->label ? h->label : "sl", start_step, L.total_steps);
    for (int64_t epoch = start_epoch; did_train && !rc && epoch < c->num_epochs; epoch++) {
        tk_sl_dataset_set_epoch(L.data, epoch);
        for (int64_t b = epoch == start_epoch ? start_batch : 0; !rc && b < L.n_batches; b++) {
            if (epoch * L.n_batches + b >= L.total_steps) break;
            rc = submit_step(&L, epoch, b, e);
            if (!rc && L.len >= L.cap) rc = finish_step(&L, e);
        }
    }
    while (!rc && L.len) rc = finish_step(&L, e);
    /* after an error, drop what is in flight (nothing more is recorded) */
    while (L.len) {
        pending_clear(&L.ring[L.head]);
        L.head = (L.head + 1) % L.cap;
        L.len--;
    }
    res->seconds = tk_now_s() - t0;
    res->tokens = L.session_tokens;

    /* 6. the end: an evaluation of the final weights, then the final checkpoint */
    if (!rc && did_train) {
        if (c->eval_at_end && c->eval_every > 0) {
            json_t *m = json_object();
            rc = m ? evaluate(&L, m, e) : oom(e);
            if (!rc && json_object_size(m)) rc = tk_run_log_metrics(L.run, L.total_steps, m, e);
            json_decref(m);
        }
        tk_run_progress_end(L.run);
        json_t *ls = json_pack("{s:I,s:I,s:b,s:I}", "epoch", (json_int_t)c->num_epochs, "batch", (json_int_t)0,
                               "final", 1, "elapsed_tokens", (json_int_t)L.elapsed_tokens);
        json_t *rec = NULL;
        if (!rc) rc = ls ? tk_run_save(L.run, "final", TK_CKPT_BOTH, 0, ls, &rec, e) : oom(e);
        json_decref(ls);
        if (!rc) {
            res->state_path = tk_strdup(json_string_value(json_object_get(rec, "state_path")));
            res->sampler_path = tk_strdup(json_string_value(json_object_get(rec, "sampler_path")));
        }
        json_decref(rec);
    } else if (!rc) {
        res->already_complete = true;
        tk_info("training was already complete; nothing to do");
        json_t *rec = NULL;
        if (!tk_runlog_last_checkpoint(L.run->log_path, "sampler_path", &rec, NULL) && rec) {
            res->state_path = json_string_value(json_object_get(rec, "state_path"))
                                  ? tk_strdup(json_string_value(json_object_get(rec, "state_path"))) : NULL;
            res->sampler_path = tk_strdup(json_string_value(json_object_get(rec, "sampler_path")));
        }
        json_decref(rec);
    }
    if (L.run) tk_run_progress_end(L.run);

    /* 7. the summary, from metrics.jsonl (so a resumed run reports the whole run) */
    if (!rc) {
        json_t *rows = NULL;
        if (!tk_runlog_read_metrics(L.run->log_path, &rows, NULL)) {
            metric_span(rows, "test/nll", &res->first_test_nll, &res->first_test_step, &res->last_test_nll,
                        &res->last_test_step);
            metric_span(rows, "train_mean_nll", &res->first_train_nll, NULL, &res->last_train_nll, NULL);
        }
        json_decref(rows);
        res->start_step = start_step;
        res->end_step = did_train ? L.total_steps : start_step;
        res->total_steps = L.total_steps;
        res->train_examples = st->train;
        res->test_examples = st->test;
        res->skipped_examples = st->skipped;
        res->log_path = tk_strdup(L.run->log_path);
    }
    free(L.ring);
    tk_run_close(L.run);
    tk_sl_dataset_free(L.data);
    if (rc) tk_sl_result_free(res);
    return rc;
}
