/* The cookbook's DPO loop (preference/train_dpo.py) over tk_run: reference log-probs from a
 * frozen sampler of the starting weights, the DPO loss and its gradient on the client through
 * forward_backward_custom, optim_step, checkpoints that resume without replaying a batch and
 * keep the same reference. */
#include "tinkerc/cookbook.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct split {
    tk_wire_datum *data;        /* 2 per pair: chosen, rejected */
    double *ref;                /* per datum: the reference's sequence log-prob (NaN: not yet) */
    int64_t *lines;             /* per pair */
    size_t n_pairs;
} split;

typedef struct loop {
    const tk_dpo_config *cfg;
    tk_run *run;
    tk_pref_dataset *prefs;
    tk_arena *arena;            /* rendered datums */
    split train, test;
    size_t *order;              /* this epoch's permutation of the training pairs */
    tk_client_sampling *reference;
    char *reference_path;
    tk_lr_schedule schedule;
    size_t batch_size;
    int64_t n_batches, total_steps;
    int64_t session_tokens;
} loop;

static int oom(tk_err *e) { return tk_err_set(e, TK_ENOMEM, "out of memory"); }
static int set_real(json_t *m, const char *k, double v, tk_err *e) {
    return tk_json_set_new(m, k, isfinite(v) ? json_real(v) : json_null()) ? oom(e) : 0;
}
static int set_int(json_t *m, const char *k, int64_t v, tk_err *e) {
    return tk_json_set_new(m, k, json_integer(v)) ? oom(e) : 0;
}

/* ---- pairs ------------------------------------------------------------------------------------ */

static int render_pairs(loop *L, tk_err *e) {
    size_t n, n_test;
    const tk_pref_comparison *c = tk_pref_dataset_comparisons(L->prefs, &n, &n_test);
    split *sp[2] = {&L->test, &L->train};
    size_t cap[2] = {n_test, n - n_test};
    for (int s = 0; s < 2; s++) {
        sp[s]->data = calloc(2 * cap[s] + 2, sizeof *sp[s]->data);
        sp[s]->ref = calloc(2 * cap[s] + 2, sizeof *sp[s]->ref);
        sp[s]->lines = calloc(cap[s] + 1, sizeof *sp[s]->lines);
        if (!sp[s]->data || !sp[s]->ref || !sp[s]->lines) return oom(e);
    }
    int64_t max_length = L->cfg->max_length == TK_OPT_UNSET_INT ? 0 : L->cfg->max_length;
    for (size_t i = 0; i < n; i++) {
        split *s = i < n_test ? &L->test : &L->train;
        char where[1100];
        snprintf(where, sizeof where, "%s:%lld", tk_pref_dataset_path(L->prefs), (long long)c[i].line);
        tk_err why = {0};
        int rc = tk_dpo_render_pair(L->run->renderer, &c[i], max_length, where, L->arena, &s->data[2 * s->n_pairs], &why);
        if (rc == TK_ENOMEM) return oom(e);
        if (rc) {
            if ((rc = tk_pref_dataset_skip(L->prefs, rc, &why, e))) return rc;
            continue;
        }
        s->ref[2 * s->n_pairs] = s->ref[2 * s->n_pairs + 1] = NAN;
        s->lines[s->n_pairs++] = c[i].line;
    }
    if (L->train.n_pairs == 0)
        return tk_err_set(e, TK_EINVAL, "dataset %s: no training comparisons left after skipping the bad ones",
                          tk_pref_dataset_path(L->prefs));
    if (!(L->order = calloc(L->train.n_pairs, sizeof *L->order))) return oom(e);
    return 0;
}

static void set_epoch(loop *L, int64_t epoch) {
    for (size_t i = 0; i < L->train.n_pairs; i++) L->order[i] = i;
    tk_rng rng;
    tk_rng_seed(&rng, (uint64_t)epoch);
    tk_rng_shuffle(&rng, L->order, L->train.n_pairs, sizeof *L->order);
}

/* ---- the reference ---------------------------------------------------------------------------- */

/* The reference's sequence log-prob of every datum of `idx` that has none yet: compute_logprobs
 * of the full sequence (model_input + the last target), all submitted, then awaited. The
 * reference is frozen, so each comparison is asked once per run (upstream asks every step). */
static int ensure_reference(loop *L, split *s, const size_t *pairs, size_t n_pairs, tk_err *e) {
    size_t n = 2 * n_pairs, window = (size_t)L->cfg->reference_concurrency;
    tk_client_task **tasks = calloc(n ? n : 1, sizeof *tasks);
    tk_arena *a = tk_arena_new(0);
    int rc = tasks && a ? 0 : oom(e);
    /* up to `window` requests in flight, then await them in order */
    for (size_t j0 = 0; !rc && j0 < n; j0 += window) {
        size_t j1 = j0 + window < n ? j0 + window : n;
        for (size_t j = j0; !rc && j < j1; j++) {
            size_t i = 2 * pairs[j / 2] + j % 2;
            if (!isnan(s->ref[i])) continue;
            const tk_wire_datum *d = &s->data[i];
            const tk_wire_tensor *t = tk_wire_tensor_map_get(&d->loss_fn_inputs, "target_tokens");
            size_t len = d->model_input.chunks[0].n_tokens;
            int32_t *full = tk_arena_alloc(a, (len + 1) * sizeof *full);
            tk_wire_chunk *ch = tk_arena_zalloc(a, sizeof *ch);
            if (!full || !ch) {
                rc = oom(e);
                break;
            }
            memcpy(full, d->model_input.chunks[0].tokens, len * sizeof *full);
            full[len] = (int32_t)t->data.i64[t->n - 1];
            *ch = (tk_wire_chunk){.type = TK_WIRE_CHUNK_ENCODED_TEXT, .tokens = full, .n_tokens = len + 1};
            tk_wire_model_input mi = {ch, 1};
            rc = tk_client_sampling_compute_logprobs(L->reference, &mi, &tasks[j], e);
        }
        for (size_t j = j0; j < j1; j++) {
            if (!tasks[j]) continue;
            size_t i = 2 * pairs[j / 2] + j % 2;
            float *lp = NULL;
            size_t n_lp = 0;
            if (!rc) {
                rc = tk_client_logprobs_result(tasks[j], -1, a, &lp, &n_lp, e);
                if (!rc) rc = tk_dpo_reference_sum(&s->data[i], lp, n_lp, &s->ref[i], e);
                if (rc)
                    tk_err_prefix(e, "reference log-probs of %s:%lld (%s): ", tk_pref_dataset_path(L->prefs),
                                  (long long)s->lines[i / 2], i % 2 ? "rejected" : "chosen");
            }
            tk_client_task_release(tasks[j]);
            tasks[j] = NULL;
        }
    }
    free(tasks);
    tk_arena_free(a);
    return rc;
}

/* The sampler's base model must be the policy's: DPO's log-ratios compare the same model. */
static int check_reference_base(loop *L, tk_err *e) {
    tk_client_task *t = NULL;
    tk_arena *a = tk_arena_new(0);
    tk_wire_sampler_response sr;
    int rc = a ? 0 : oom(e);
    if (!rc) rc = tk_client_rest_get_sampler(L->run->service, tk_client_sampling_session_id(L->reference), &t, e);
    if (!rc) rc = tk_client_task_result(t, -1, a, TK_WIRE_MSG_SAMPLER_RESPONSE, &sr, e);
    const char *policy = tk_client_training_base_model(L->run->training);
    if (!policy) policy = L->run->model.base_model;
    if (!rc && sr.base_model && policy && strcmp(sr.base_model, policy))
        rc = tk_err_set(e, TK_EINVAL, "the reference %s is a sampler of base model %s, but the policy's base model is %s: "
                                      "DPO needs the reference and the policy to be the same model",
                        L->reference_path, sr.base_model, policy);
    else if (rc) tk_err_prefix(e, "checking the reference %s: ", L->reference_path);
    tk_client_task_release(t);
    tk_arena_free(a);
    return rc;
}

/* The reference: on resume the one the run started with (recorded in its checkpoints), else
 * reference_model_path, else the starting weights saved now as sampler_weights/reference. */
static int open_reference(loop *L, tk_err *e) {
    const char *rec = L->run->resume ? json_string_value(json_object_get(L->run->resume, "reference_path")) : NULL;
    int rc = 0;
    tk_arena *a = tk_arena_new(0);
    if (!a) return oom(e);
    if (L->run->resuming && !rec)
        rc = tk_err_set(e, TK_EINVAL, "the checkpoint to resume from records no reference_path (not a tinkerc dpo run?)");
    else if (rec || L->cfg->reference_model_path) {
        if (rec && L->cfg->reference_model_path && strcmp(rec, L->cfg->reference_model_path))
            tk_warn("resuming with the run's reference %s (reference_model_path=%s is ignored)", rec,
                    L->cfg->reference_model_path);
        if (!(L->reference_path = tk_strdup(rec ? rec : L->cfg->reference_model_path))) rc = oom(e);
        tk_wire_tinker_path tp;
        if (!rc && (rc = tk_wire_tinker_path_parse(L->reference_path, a, &tp, e))) tk_err_prefix(e, "reference_model_path: ");
        if (!rc && tp.kind != TK_WIRE_CHECKPOINT_SAMPLER)
            rc = tk_err_set(e, TK_EINVAL, "reference_model_path=%s: expected sampler weights (tinker://<run>/sampler_weights/<name>)",
                            L->reference_path);
    } else {
        tk_client_task *t = NULL;
        tk_wire_save_weights_for_sampler_response r;
        rc = tk_client_training_save_weights_for_sampler(L->run->training, "reference", 0, &t, e);
        if (!rc) rc = tk_client_sampler_save_result(t, -1, a, &r, e);
        if (!rc && !(r.path && (L->reference_path = tk_strdup(r.path))))
            rc = tk_err_set(e, TK_EPARSE, "save_weights_for_sampler returned no path");
        if (rc) tk_err_prefix(e, "saving the reference weights: ");
        tk_client_task_release(t);
    }
    if (!rc) {
        tk_client_task *t = NULL;
        rc = tk_client_service_create_sampling_client(L->run->service, L->reference_path, NULL, &t, e);
        if (!rc) rc = tk_client_sampling_result(t, -1, &L->reference, e);
        if (rc) tk_err_prefix(e, "opening the reference %s: ", L->reference_path);
        tk_client_task_release(t);
    }
    if (!rc) rc = check_reference_base(L, e);
    tk_arena_free(a);
    return rc;
}

/* ---- steps ------------------------------------------------------------------------------------ */

typedef struct custom_ctx {
    const double *ref;          /* per datum of the batch */
    double beta;
    tk_dpo_stats stats;
} custom_ctx;

/* forward_backward_custom's callback: the DPO loss and d loss / d logprobs. */
static int dpo_custom(tk_client_custom_loss_io *io, void *user, tk_err *e) {
    custom_ctx *c = user;
    if (io->n % 2) return tk_err_set(e, TK_EINVAL, "DPO: %zu datums is not a whole number of pairs", io->n);
    return tk_dpo_loss(io->data, io->n / 2, io->logprobs, io->len, c->ref, c->beta, io->grad, &c->stats, e);
}

static int put_stats(json_t *m, const char *prefix, const tk_dpo_stats *s, tk_err *e) {
    char k[64];
    const char *names[] = {"dpo_loss", "accuracy", "margin", "chosen_reward", "rejected_reward"};
    double v[] = {s->loss, s->accuracy, s->margin, s->chosen_reward, s->rejected_reward};
    for (int i = 0; i < 5; i++) {
        snprintf(k, sizeof k, "%s%s", prefix, names[i]);
        int rc = set_real(m, k, v[i], e);
        if (rc) return rc;
    }
    return 0;
}

/* test/dpo_loss, test/accuracy, ... of the current weights (a forward pass, no gradient). */
static int evaluate(loop *L, json_t *m, tk_err *e) {
    size_t n = L->test.n_pairs;
    if (!n) return 0;
    double t0 = tk_now_s();
    size_t *all = calloc(n, sizeof *all);
    tk_arena *a = tk_arena_new(0);
    int rc = all && a ? 0 : oom(e);
    for (size_t i = 0; i < n && all; i++) all[i] = i;
    if (!rc) rc = ensure_reference(L, &L->test, all, n, e);
    tk_client_task *t = NULL;
    tk_wire_forward_backward_output o;
    const float **lp = NULL;
    size_t *lens = NULL;
    if (!rc) rc = tk_client_training_forward(L->run->training, L->test.data, 2 * n, TK_WIRE_LOSS_CROSS_ENTROPY, NULL, &t, e);
    if (!rc) rc = tk_client_fb_result(t, -1, a, &o, e);
    if (!rc && o.n_loss_fn_outputs != 2 * n)
        rc = tk_err_set(e, TK_EPARSE, "the service returned %zu outputs for %zu datums", o.n_loss_fn_outputs, 2 * n);
    if (!rc) {
        lp = tk_arena_alloc(a, 2 * n * sizeof *lp);
        lens = tk_arena_alloc(a, 2 * n * sizeof *lens);
        if (!lp || !lens) rc = oom(e);
    }
    for (size_t i = 0; !rc && i < 2 * n; i++) {
        const tk_wire_tensor *x = tk_wire_tensor_map_get(&o.loss_fn_outputs[i], "logprobs");
        if (!x || x->dtype != TK_WIRE_FLOAT32) rc = tk_err_set(e, TK_EPARSE, "loss_fn_outputs[%zu]: no float32 logprobs", i);
        else {
            lp[i] = x->data.f32;
            lens[i] = x->n;
        }
    }
    tk_dpo_stats st;
    if (!rc) rc = tk_dpo_loss(L->test.data, n, lp, lens, L->test.ref, L->cfg->dpo_beta, NULL, &st, e);
    if (rc) tk_err_prefix(e, "evaluating on the test pairs: ");
    if (!rc) rc = put_stats(m, "test/", &st, e);
    if (!rc) rc = set_real(m, "time/evals", tk_now_s() - t0, e);
    tk_client_task_release(t);
    tk_arena_free(a);
    free(all);
    return rc;
}

/* The loop state a checkpoint after `step` records: the NEXT batch, and the reference. */
static json_t *loop_state_after(loop *L, int64_t epoch, int64_t batch) {
    int64_t ne = epoch, nb = batch + 1;
    if (nb >= L->n_batches) {
        ne++;
        nb = 0;
    }
    return json_pack("{s:I,s:I,s:I,s:s}", "epoch", (json_int_t)ne, "batch", (json_int_t)nb, "step",
                     (json_int_t)(ne * L->n_batches + nb), "reference_path", L->reference_path);
}

static int run_step(loop *L, int64_t epoch, int64_t batch, tk_err *e) {
    const tk_dpo_config *c = L->cfg;
    int64_t step = epoch * L->n_batches + batch;
    double t_start = tk_now_s();
    double lr = c->learning_rate * tk_lr_multiplier(L->schedule, step, L->total_steps);
    size_t B = L->batch_size;
    json_t *m = json_object();
    tk_wire_datum *data = calloc(2 * B, sizeof *data);
    double *ref = calloc(2 * B, sizeof *ref);
    tk_arena *a = tk_arena_new(0);
    int rc = m && data && ref && a ? 0 : oom(e);
    if (!rc) rc = set_int(m, "epoch", epoch, e);
    if (!rc) rc = set_real(m, "learning_rate", lr, e);
    /* evaluation sees the weights before this step */
    if (!rc && c->eval_every > 0 && step % c->eval_every == 0) rc = evaluate(L, m, e);

    const size_t *pairs = L->order + (size_t)batch * B;
    double tr = tk_now_s();
    if (!rc) rc = ensure_reference(L, &L->train, pairs, B, e);
    if (!rc) rc = set_real(m, "time/reference_logprobs", tk_now_s() - tr, e);
    int64_t num_tokens = 0;
    for (size_t p = 0; !rc && p < B; p++)
        for (int s = 0; s < 2; s++) {
            size_t i = 2 * pairs[p] + (size_t)s;
            data[2 * p + (size_t)s] = L->train.data[i];
            ref[2 * p + (size_t)s] = L->train.ref[i];
            num_tokens += (int64_t)L->train.data[i].model_input.chunks[0].n_tokens;
        }

    custom_ctx ctx = {.ref = ref, .beta = c->dpo_beta};
    tk_client_task *fb = NULL, *opt = NULL;
    tk_wire_adam_params adam;
    tk_wire_init(TK_WIRE_MSG_ADAM_PARAMS, &adam);
    adam.learning_rate = lr;
    adam.beta1 = c->adam_beta1;
    adam.beta2 = c->adam_beta2;
    adam.eps = c->adam_eps;
    double ts = tk_now_s();
    if (!rc) rc = tk_client_training_forward_backward_custom(L->run->training, data, 2 * B, dpo_custom, &ctx, &fb, e);
    if (!rc) rc = tk_client_training_optim_step(L->run->training, &adam, &opt, e);
    /* a checkpoint right after this step's optim_step: exactly this step's state */
    tk_run_saving *save = NULL;
    char name[32];
    bool due = !rc && c->save_every > 0 && step > 0 && step % c->save_every == 0;
    if (due) {
        json_t *ls = loop_state_after(L, epoch, batch);
        snprintf(name, sizeof name, "%06lld", (long long)step);
        int64_t ttl = c->ttl_seconds == TK_OPT_UNSET_INT ? 0 : c->ttl_seconds;
        rc = ls ? tk_run_save_submit(L->run, name, TK_CKPT_BOTH, ttl, ls, &save, e) : oom(e);
        json_decref(ls);
    }
    tk_wire_forward_backward_output fo;
    tk_wire_optim_step_response oo;
    if (!rc) rc = tk_client_fb_result(fb, -1, a, &fo, e);
    if (!rc) rc = tk_client_optim_result(opt, -1, a, &oo, e);
    if (!rc) rc = set_real(m, "time/step", tk_now_s() - ts, e);
    for (size_t i = 0; !rc && i < oo.metrics.n; i++) rc = set_real(m, oo.metrics.items[i].key, oo.metrics.items[i].value, e);
    if (!rc) rc = put_stats(m, "", &ctx.stats, e);
    if (!rc) rc = set_int(m, "num_pairs", (int64_t)B, e);
    if (!rc) rc = set_int(m, "num_tokens", num_tokens, e);
    double progress = (double)(step + 1) / (double)(L->total_steps > 0 ? L->total_steps : 1);
    if (!rc) rc = set_real(m, "progress", progress < 1 ? progress : 1.0, e);
    if (!rc && save) {
        double t0 = tk_now_s();
        json_t *rec = NULL;
        rc = tk_run_save_finish(save, &rec, e);
        save = NULL;
        if (!rc) rc = set_real(m, "time/save_checkpoint", tk_now_s() - t0, e);
        if (!rc) tk_info("checkpoint %s: %s", name, json_string_value(json_object_get(rec, "state_path")));
        json_decref(rec);
    }
    if (rc) tk_err_prefix(e, "step %lld: ", (long long)step);
    if (!rc) rc = set_real(m, "time/total", tk_now_s() - t_start, e);
    if (!rc) rc = tk_run_log_metrics(L->run, step, m, e);
    if (!rc) tk_run_progress_step(L->run, step + 1, ctx.stats.loss, num_tokens);
    L->session_tokens += num_tokens;
    tk_run_save_abandon(save);
    tk_client_task_release(fb);
    tk_client_task_release(opt);
    tk_arena_free(a);
    json_decref(m);
    free(data);
    free(ref);
    return rc;
}

/* ---- the run ---------------------------------------------------------------------------------- */

static int check_config(const tk_dpo_config *c, tk_lr_schedule *sched, tk_err *e) {
    if (!c->log_path || !*c->log_path) return tk_err_set(e, TK_EINVAL, "log_path is required (e.g. log_path=runs/dpo)");
    if (!c->model_name || !*c->model_name)
        return tk_err_set(e, TK_EINVAL, "model_name is required (a model name, or a local model directory)");
    if (!c->dataset || !*c->dataset) return tk_err_set(e, TK_EINVAL, "dataset is required (a JSONL file of comparisons)");
    if (c->batch_size < 1) return tk_err_set(e, TK_EINVAL, "batch_size=%lld: must be >= 1", (long long)c->batch_size);
    if (c->num_epochs < 0) return tk_err_set(e, TK_EINVAL, "num_epochs=%lld: must be >= 0", (long long)c->num_epochs);
    if (c->max_steps != TK_OPT_UNSET_INT && c->max_steps < 0)
        return tk_err_set(e, TK_EINVAL, "max_steps=%lld: must be >= 0 or none", (long long)c->max_steps);
    if (c->lora_rank < 1) return tk_err_set(e, TK_EINVAL, "lora_rank=%lld: must be >= 1", (long long)c->lora_rank);
    if (c->reference_concurrency < 1)
        return tk_err_set(e, TK_EINVAL, "reference_concurrency=%lld: must be >= 1", (long long)c->reference_concurrency);
    if (c->save_every < 0 || c->eval_every < 0) return tk_err_set(e, TK_EINVAL, "save_every and eval_every must be >= 0");
    if (c->test_size < 0) return tk_err_set(e, TK_EINVAL, "test_size=%lld: must be >= 0", (long long)c->test_size);
    if (!(c->learning_rate >= 0)) return tk_err_set(e, TK_EINVAL, "learning_rate=%g: must be >= 0", c->learning_rate);
    if (!(c->dpo_beta > 0) || !isfinite(c->dpo_beta))
        return tk_err_set(e, TK_EINVAL, "dpo_beta=%g: must be a positive number", c->dpo_beta);
    if (!(c->adam_beta1 >= 0 && c->adam_beta1 < 1) || !(c->adam_beta2 >= 0 && c->adam_beta2 < 1) || !(c->adam_eps >= 0))
        return tk_err_set(e, TK_EINVAL, "adam_beta1 and adam_beta2 must be in [0, 1), adam_eps >= 0");
    return tk_lr_schedule_parse(c->lr_schedule, sched, e);
}

void tk_dpo_result_free(tk_dpo_result *r) {
    if (!r) return;
    free(r->state_path);
    free(r->sampler_path);
    free(r->reference_path);
    free(r->log_path);
    memset(r, 0, sizeof *r);
}

static void span(const json_t *rows, const char *key, double *first, double *last) {
    *first = *last = NAN;
    for (size_t i = 0; i < json_array_size(rows); i++) {
        json_t *v = json_object_get(json_array_get(rows, i), key);
        if (!json_is_number(v)) continue;
        if (isnan(*first)) *first = json_number_value(v);
        *last = json_number_value(v);
    }
}

int tk_dpo_train(const tk_dpo_config *c, tk_dpo_result *res, tk_err *e) {
    memset(res, 0, sizeof *res);
    loop L = {.cfg = c};
    tk_logdir_behavior behavior;
    int rc = check_config(c, &L.schedule, e);
    if (!rc) rc = tk_logdir_behavior_parse(c->behavior_if_log_dir_exists, &behavior, e);
    if (rc) return rc;

    /* 1. the comparisons, before anything is started */
    tk_pref_dataset_options po = {.path = c->dataset, .test_size = c->test_size, .shuffle_seed = (uint64_t)c->shuffle_seed,
                                  .skip_bad = strcmp(c->on_bad_example, "raise") != 0};
    if ((rc = tk_pref_dataset_load(&po, &L.prefs, e))) return rc;

    /* 2. the run */
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
    ro.recipe_name = "tinkerc dpo";
    rc = tk_run_open(&ro, &L.run, e);

    /* 3. render the pairs, size the run */
    if (!rc && !(L.arena = tk_arena_new(0))) rc = oom(e);
    if (!rc) rc = render_pairs(&L, e);
    L.batch_size = (size_t)c->batch_size;
    if (!rc) {
        L.n_batches = (int64_t)(L.train.n_pairs / L.batch_size);
        if (L.n_batches == 0)
            rc = tk_err_set(e, TK_EINVAL, "batch_size=%lld is larger than the %zu training comparisons of %s: no full "
                                          "batch to train on (lower batch_size)", (long long)c->batch_size,
                            L.train.n_pairs, c->dataset);
    }
    int64_t start_epoch = 0, start_batch = 0;
    json_t *config = NULL;
    if (!rc) {
        L.total_steps = L.n_batches * c->num_epochs;
        if (c->max_steps != TK_OPT_UNSET_INT && c->max_steps < L.total_steps) L.total_steps = c->max_steps;
        if (L.run->resuming) {
            start_epoch = tk_run_resume_i64(L.run, "epoch", 0);
            start_batch = tk_run_resume_i64(L.run, "batch", 0);
            if (start_batch >= L.n_batches) {
                start_epoch++;
                start_batch = 0;
            }
        }
        if (!(config = tk_opts_to_json(tk_dpo_options, c))) rc = oom(e);
        if (!rc && !c->renderer_name && tk_json_set_new(config, "renderer_name", json_string(L.run->renderer_name))) rc = oom(e);
    }
    /* 4. the reference (before log_path is touched: a mismatch leaves an existing run alone) */
    if (!rc) rc = open_reference(&L, e);
    int64_t start_step = start_epoch * L.n_batches + start_batch;
    if (!rc) rc = tk_run_begin(L.run, config, start_step, e);
    json_decref(config);
    const tk_pref_dataset_stats *st = tk_pref_dataset_get_stats(L.prefs);
    if (!rc && st->ties) tk_info("%zu ties set aside (DPO needs a chosen completion)", st->ties);
    if (!rc && st->skipped)
        tk_warn("%zu of %zu comparisons skipped; the first: %s", st->skipped, st->lines, st->first_skipped);
    if (!rc)
        tk_info("DPO on %s: %zu training pairs (%zu test): %lld batches x %lld epochs = %lld steps, lr %.3g, beta %g, "
                "reference %s%s", c->model_name, L.train.n_pairs, L.test.n_pairs, (long long)L.n_batches,
                (long long)c->num_epochs, (long long)L.total_steps, c->learning_rate, c->dpo_beta, L.reference_path,
                L.run->resuming ? ", resumed" : "");

    /* 5. the loop */
    bool did_train = !rc && start_epoch < c->num_epochs && start_step < L.total_steps;
    double t0 = tk_now_s();
    if (did_train) tk_run_progress_start(L.run, "dpo", start_step, L.total_steps);
    for (int64_t epoch = start_epoch; did_train && !rc && epoch < c->num_epochs; epoch++) {
        set_epoch(&L, epoch);
        for (int64_t b = epoch == start_epoch ? start_batch : 0; !rc && b < L.n_batches; b++) {
            if (epoch * L.n_batches + b >= L.total_steps) break;
            rc = run_step(&L, epoch, b, e);
        }
    }
    res->seconds = tk_now_s() - t0;
    res->tokens = L.session_tokens;

    /* 6. the final checkpoint */
    if (!rc && did_train) {
        tk_run_progress_end(L.run);
        json_t *ls = json_pack("{s:I,s:I,s:b,s:s}", "epoch", (json_int_t)c->num_epochs, "batch", (json_int_t)0, "final", 1,
                               "reference_path", L.reference_path);
        json_t *rec = NULL;
        rc = ls ? tk_run_save(L.run, "final", TK_CKPT_BOTH, 0, ls, &rec, e) : oom(e);
        json_decref(ls);
        if (!rc) {
            res->state_path = tk_strdup(json_string_value(json_object_get(rec, "state_path")));
            res->sampler_path = tk_strdup(json_string_value(json_object_get(rec, "sampler_path")));
        }
        json_decref(rec);
    } else if (!rc) {
        res->already_complete = true;
        tk_info("training was already complete; nothing to do");
    }
    if (L.run) tk_run_progress_end(L.run);

    /* 7. the summary, from metrics.jsonl (a resumed run reports the whole run) */
    if (!rc) {
        json_t *rows = NULL;
        res->first_accuracy = res->last_accuracy = res->first_margin = res->last_margin = NAN;
        res->first_loss = res->last_loss = NAN;
        if (!tk_runlog_read_metrics(L.run->log_path, &rows, NULL)) {
            span(rows, "accuracy", &res->first_accuracy, &res->last_accuracy);
            span(rows, "margin", &res->first_margin, &res->last_margin);
            span(rows, "dpo_loss", &res->first_loss, &res->last_loss);
        }
        json_decref(rows);
        res->start_step = start_step;
        res->end_step = did_train ? L.total_steps : start_step;
        res->total_steps = L.total_steps;
        res->train_pairs = L.train.n_pairs;
        res->test_pairs = L.test.n_pairs;
        res->skipped = st->skipped;
        res->ties = st->ties;
        res->reference_path = tk_strdup(L.reference_path);
        res->log_path = tk_strdup(L.run->log_path);
    }
    tk_client_sampling_free(L.reference);
    tk_run_close(L.run);
    tk_arena_free(L.arena);
    for (int s = 0; s < 2; s++) {
        split *sp = s ? &L.train : &L.test;
        free(sp->data);
        free(sp->ref);
        free(sp->lines);
    }
    free(L.order);
    free(L.reference_path);
    tk_pref_dataset_free(L.prefs);
    if (rc) tk_dpo_result_free(res);
    return rc;
}
