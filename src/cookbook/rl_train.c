/* The cookbook's RL loop (rl/train.py) over tk_run: rollouts, advantages, datums, the optional KL
 * penalty, the pipelined substeps, the KL metrics, checkpoints that resume at the next batch.
 * Groups come from rl_source.c (synchronous, or asynchronous off-policy). */
#include "rl_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int oom(tk_err *e) { return tk_err_set(e, TK_ENOMEM, "out of memory"); }

static int set_real(json_t *m, const char *k, double v, tk_err *e) {
    return tk_json_set_new(m, k, isfinite(v) ? json_real(v) : json_null()) ? oom(e) : 0;
}

/* loss_fn_config: "k=v,k=v" or a JSON object of numbers -> a map in a. */
int tk_rl_parse_loss_config(const char *text, tk_wire_loss_fn fn, tk_arena *a, tk_wire_f64_map *out, tk_err *e) {
    memset(out, 0, sizeof *out);
    if (!text || !*text) return 0;
    json_t *obj = NULL;
    const char *p = text;
    while (*p == ' ') p++;
    if (*p == '{') {
        int rc = tk_json_parse(text, strlen(text), "loss_fn_config", &obj, e);
        if (rc) return rc;
        if (!json_is_object(obj)) {
            json_decref(obj);
            return tk_err_set(e, TK_EINVAL, "loss_fn_config: expected a JSON object");
        }
    } else {
        obj = json_object();
        char *copy = tk_strdup(text);
        if (!obj || !copy) {
            json_decref(obj);
            free(copy);
            return oom(e);
        }
        int rc = 0;
        for (char *save = NULL, *kv = strtok_r(copy, ",", &save); !rc && kv; kv = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(kv, '=');
            char *end = NULL;
            double v = eq ? strtod(eq + 1, &end) : 0;
            if (!eq || eq == kv || !end || end == eq + 1 || *end)
                rc = tk_err_set(e, TK_EINVAL, "loss_fn_config: \"%s\" is not key=number", kv);
            else {
                *eq = 0;
                if (tk_json_set_new(obj, kv, json_real(v))) rc = oom(e);
            }
        }
        free(copy);
        if (rc) {
            json_decref(obj);
            return rc;
        }
    }
    size_t n = json_object_size(obj);
    out->present = true;
    out->items = tk_arena_zalloc(a, (n ? n : 1) * sizeof *out->items);
    if (!out->items) {
        json_decref(obj);
        return oom(e);
    }
    const char *k;
    json_t *v;
    int rc = 0;
    json_object_foreach(obj, k, v) {
        if (!json_is_number(v)) {
            rc = tk_err_set(e, TK_EINVAL, "loss_fn_config.%s: expected a number, got %s", k, tk_json_type_name(v));
            break;
        }
        out->items[out->n++] = (tk_wire_kv_f64){tk_arena_strdup(a, k), json_number_value(v)};
    }
    json_decref(obj);
    if (!rc) rc = tk_wire_loss_config_check(fn, out, e);
    if (rc) tk_err_prefix(e, "loss_fn_config: ");
    return rc;
}

/* ---- one training step ------------------------------------------------------------------------ */

/* The datums as sent: a shallow copy of each tk_rl_datum's wire datum (no mask). */
static tk_wire_datum *wire_data(const tk_rl_datum *d, size_t n, tk_arena *a) {
    tk_wire_datum *w = tk_arena_alloc(a, (n ? n : 1) * sizeof *w);
    for (size_t i = 0; w && i < n; i++) w[i] = d[i].datum;
    return w;
}

/* train_step: num_substeps near-equal chunks; the next chunk's forward_backward + optim_step are
 * submitted before the current chunk's results are awaited. training[i] gets datum i's
 * logprobs (in a). */
static int train_step(rl_loop *L, tk_rl_datum *data, size_t n, tk_arena *a, float **training, json_t *m, tk_err *e) {
    const tk_rl_config *c = L->cfg;
    size_t subs = (size_t)c->num_substeps < n ? (size_t)c->num_substeps : n;
    tk_wire_datum *w = wire_data(data, n, a);
    if (!w) return oom(e);
    tk_wire_adam_params adam;
    tk_wire_init(TK_WIRE_MSG_ADAM_PARAMS, &adam);
    adam.learning_rate = c->learning_rate;
    adam.beta1 = c->adam_beta1;
    adam.beta2 = c->adam_beta2;
    adam.eps = c->adam_eps;
    tk_client_task **fb = calloc(subs, sizeof *fb), **opt = calloc(subs, sizeof *opt);
    int rc = fb && opt ? 0 : oom(e);
    double loss_sum = 0;
    for (size_t s = 0; !rc && s <= subs; s++) {
        if (s < subs) {
            size_t lo = n * s / subs, hi = n * (s + 1) / subs;
            rc = tk_client_training_forward_backward(L->run->training, w + lo, hi - lo, L->loss_fn,
                                                     L->loss_cfg.present ? &L->loss_cfg : NULL, &fb[s], e);
            if (!rc) rc = tk_client_training_optim_step(L->run->training, &adam, &opt[s], e);
        }
        if (!rc && s > 0) {   /* the previous substep's results, while this one runs */
            size_t k = s - 1, lo = n * k / subs, hi = n * (k + 1) / subs;
            tk_wire_forward_backward_output fo;
            tk_wire_optim_step_response oo;
            rc = tk_client_fb_result(fb[k], -1, a, &fo, e);
            if (!rc) rc = tk_client_optim_result(opt[k], -1, a, &oo, e);
            if (!rc && fo.n_loss_fn_outputs != hi - lo)
                rc = tk_err_set(e, TK_EPARSE, "the service returned %zu outputs for %zu datums", fo.n_loss_fn_outputs, hi - lo);
            for (size_t i = 0; !rc && i < hi - lo; i++) {
                const tk_wire_tensor *t = tk_wire_tensor_map_get(&fo.loss_fn_outputs[i], "logprobs");
                if (!t || t->dtype != TK_WIRE_FLOAT32 || t->n != data[lo + i].n)
                    rc = tk_err_set(e, TK_EPARSE, "loss_fn_outputs[%zu]: no float32 \"logprobs\" of the datum's length", i);
                else training[lo + i] = t->data.f32;
            }
            const double *ls = rc ? NULL : tk_wire_f64_map_get(&fo.metrics, "loss:sum");
            if (ls) loss_sum += *ls;
            for (size_t i = 0; !rc && k + 1 == subs && i < oo.metrics.n; i++)
                rc = set_real(m, oo.metrics.items[i].key, oo.metrics.items[i].value, e);
        }
    }
    if (!rc) rc = set_real(m, "optim/loss_sum", loss_sum, e);
    for (size_t s = 0; fb && s < subs; s++) tk_client_task_release(fb[s]);
    for (size_t s = 0; opt && s < subs; s++) tk_client_task_release(opt[s]);
    free(fb);
    free(opt);
    if (rc) tk_err_prefix(e, "training: ");
    return rc;
}

/* Submit compute_logprobs for datum i: its whole sequence, the input and the last target. */
static int submit_logprobs(rl_loop *L, tk_rl_datum *data, size_t i, tk_arena *a, tk_client_task **t, tk_err *e) {
    size_t len = data[i].n + 1;
    int32_t *seq = tk_arena_alloc(a, len * sizeof *seq);
    if (!seq) return oom(e);
    memcpy(seq, data[i].datum.model_input.chunks[0].tokens, data[i].n * sizeof *seq);
    const tk_wire_tensor *tg = tk_wire_tensor_map_get(&data[i].datum.loss_fn_inputs, "target_tokens");
    seq[data[i].n] = (int32_t)tg->data.i64[data[i].n - 1];
    tk_wire_chunk ch = {.type = TK_WIRE_CHUNK_ENCODED_TEXT, .tokens = seq, .n_tokens = len};
    tk_wire_model_input mi = {&ch, 1};
    return tk_client_sampling_compute_logprobs(L->reference, &mi, &t[i], e);
}

/* The reference model's logprob of every datum's targets (for the KL penalty). */
static int reference_logprobs(rl_loop *L, tk_rl_datum *data, size_t n, tk_arena *a, float **base, tk_err *e) {
    tk_client_task **t = calloc(n ? n : 1, sizeof *t);
    if (!t) return oom(e);
    int rc = 0;
    /* at most `window` requests in flight (sampling_concurrency): request i + window is submitted
     * once request i is awaited */
    size_t window = L->cfg->sampling_concurrency > 0 ? (size_t)L->cfg->sampling_concurrency : n, submitted = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        for (; !rc && submitted < n && submitted < i + window; submitted++) rc = submit_logprobs(L, data, submitted, a, t, e);
        float *lp;
        size_t m;
        if (!rc) rc = tk_client_logprobs_result(t[i], -1, a, &lp, &m, e);
        if (!rc && m != data[i].n + 1)
            rc = tk_err_set(e, TK_EPARSE, "compute_logprobs returned %zu values for %zu tokens", m, data[i].n + 1);
        if (!rc) base[i] = lp + 1;   /* position k+1 is target k's */
    }
    for (size_t i = 0; i < n; i++) tk_client_task_release(t[i]);
    free(t);
    if (rc) tk_err_prefix(e, "the KL reference's logprobs: ");
    return rc;
}

/* Groups -> advantages -> datums (assemble_training_data). */
static int make_datums(const tk_rl_group *groups, size_t n, tk_arena *a, tk_rl_datums *out, tk_err *e) {
    int rc = 0;
    for (size_t gi = 0; !rc && gi < n; gi++) {
        double *adv = calloc(groups[gi].n ? groups[gi].n : 1, sizeof *adv);
        if (!adv) return oom(e);
        tk_rl_compute_advantages(&groups[gi], adv);
        for (size_t ti = 0; !rc && ti < groups[gi].n; ti++)
            rc = tk_rl_trajectory_to_data(&groups[gi].traj[ti], adv[ti], gi, ti, a, out, e);
        free(adv);
    }
    return rc;
}

/* After a step: the next sampler, and a checkpoint when one is due (its sampler weights are the
 * next sampler's). */
static int next_sampler(rl_loop *L, int64_t batch, json_t *m, tk_err *e) {
    const tk_rl_config *c = L->cfg;
    tk_client_task *t = NULL;
    tk_client_sampling *s = NULL;
    int rc;
    if (c->save_every > 0 && (batch + 1) % c->save_every == 0 && batch + 1 < L->total) {
        double t0 = tk_now_s();
        char name[32];
        snprintf(name, sizeof name, "%06lld", (long long)(batch + 1));
        json_t *ls = json_pack("{s:I}", "batch", (json_int_t)(batch + 1)), *rec = NULL;
        int64_t ttl = c->ttl_seconds == TK_OPT_UNSET_INT ? 0 : c->ttl_seconds;
        rc = ls ? tk_run_save(L->run, name, TK_CKPT_BOTH, ttl, ls, &rec, e) : oom(e);
        json_decref(ls);
        const char *sp = rc ? NULL : json_string_value(json_object_get(rec, "sampler_path"));
        if (!rc) tk_info("checkpoint %s: %s", name, json_string_value(json_object_get(rec, "state_path")));
        if (!rc) rc = tk_client_service_create_sampling_client(L->run->service, sp, NULL, &t, e);
        json_decref(rec);
        if (!rc) rc = set_real(m, "time/save_checkpoint", tk_now_s() - t0, e);
    } else {
        rc = tk_client_training_save_weights_and_get_sampling_client(L->run->training, &t, e);
    }
    if (!rc) rc = tk_client_sampling_result(t, -1, &s, e);
    tk_client_task_release(t);
    if (rc) return tk_err_prefix(e, "the sampler after batch %lld: ", (long long)batch);
    rl_sampler_publish(L, s, batch + 1);
    return 0;
}

/* One batch: groups in, a training step out, one metrics row. */
static int run_batch(rl_loop *L, int64_t i, tk_err *e) {
    const tk_rl_config *c = L->cfg;
    double t0 = tk_now_s();
    json_t *m = json_object();
    tk_arena *a = tk_arena_new(0);
    tk_rl_batch_groups bg = {0};
    tk_rl_datums data = {0};
    int rc = m && a ? 0 : oom(e);
    if (!rc) rc = set_real(m, "progress/batch", (double)i, e);
    if (!rc) rc = set_real(m, "progress/done_frac", (double)(i + 1) / (double)L->total, e);
    if (!rc) rc = set_real(m, "optim/lr", c->learning_rate, e);

    /* 1. rollouts (or, async, the fresh groups gathered for this step) */
    double tr = tk_now_s();
    if (!rc) rc = rl_source_next(L, i, &bg, m, e);
    if (!rc) rc = set_real(m, "time/rollout", tk_now_s() - tr, e);
    if (!rc) {
        L->failed_groups += bg.failed;
        L->skipped_groups += bg.skipped;
        L->stale_groups += bg.stale;
        rc = set_real(m, "rollout/failed_groups", (double)bg.failed, e);
        if (!rc) rc = set_real(m, "rollout/skipped_groups", (double)bg.skipped, e);
    }
    if (!rc) rc = tk_rl_trajectory_metrics(bg.groups, bg.n, m, e);
    if (!rc && c->rollout_json_export && bg.n) {
        char sub[64];
        snprintf(sub, sizeof sub, "iteration_%06lld", (long long)i);
        char *dir = tk_path_join(L->run->log_path, sub);
        rc = dir ? tk_rl_write_reports(dir, i, bg.groups, bg.n, L->run->tokenizer, (size_t)c->num_groups_to_log, e) : oom(e);
        free(dir);
    }

    /* 2. which groups train: constant ones dropped on request (the first kept if all are) */
    size_t n_train = bg.n;
    tk_rl_group *train = bg.groups;
    if (!rc && c->remove_constant_reward_groups && bg.n) {
        size_t k = 0;
        for (size_t g = 0; g < bg.n; g++)
            if (!tk_rl_group_is_constant(&bg.groups[g])) {
                tk_rl_group tmp = bg.groups[k];
                bg.groups[k++] = bg.groups[g];
                bg.groups[g] = tmp;
            }
        n_train = k ? k : 1;
        rc = set_real(m, "rollout/constant_groups_removed", (double)(bg.n - n_train), e);
    }

    /* 3. datums, KL penalty, the step, the KL metrics */
    if (!rc) rc = make_datums(train, n_train, a, &data, e);
    if (!rc && !data.len) {
        tk_warn("batch %lld: nothing to train on (%zu groups rolled out, %zu failed, %zu skipped)", (long long)i, bg.n,
                bg.failed, bg.skipped);
    } else if (!rc) {
        double nt = 0, na = 0;
        for (size_t d = 0; d < data.len; d++) {
            nt += (double)data.data[d].n;
            for (size_t k = 0; k < data.data[d].n; k++) na += data.data[d].mask[k];
        }
        rc = set_real(m, "num_datums", (double)data.len, e);
        if (!rc) rc = set_real(m, "num_tokens", nt, e);
        if (!rc) rc = set_real(m, "num_action_tokens", na, e);
        float **base = tk_arena_zalloc(a, data.len * sizeof *base);
        float **training = tk_arena_zalloc(a, data.len * sizeof *training);
        if (!rc && (!base || !training)) rc = oom(e);
        if (!rc && c->kl_penalty_coef > 0) {
            double tk0 = tk_now_s(), kl_avg;
            rc = reference_logprobs(L, data.data, data.len, a, base, e);
            if (!rc) {
                tk_rl_apply_kl_penalty(data.data, data.len, (const float *const *)base, c->kl_penalty_coef,
                                       c->kl_discount_factor, &kl_avg);
                rc = set_real(m, "kl_policy_base", kl_avg, e);
            }
            if (!rc) rc = set_real(m, "time/kl_reference", tk_now_s() - tk0, e);
        }
        double tt = tk_now_s();
        if (!rc) rc = train_step(L, data.data, data.len, a, training, m, e);
        if (!rc) rc = set_real(m, "time/train", tk_now_s() - tt, e);
        if (!rc) {
            tk_rl_kl_metrics k;
            tk_rl_kl_sample_train(data.data, data.len, (const float *const *)training, &k);
            rc = set_real(m, "optim/kl_sample_train_v1", k.kl_v1, e);
            if (!rc) rc = set_real(m, "optim/kl_sample_train_v2", k.kl_v2, e);
            if (!rc) rc = set_real(m, "optim/entropy", k.entropy, e);
        }
    }

    /* 4. the next sampler (and a checkpoint), the row */
    if (!rc) rc = next_sampler(L, i, m, e);
    if (!rc) rc = set_real(m, "time/total", tk_now_s() - t0, e);
    if (!rc) rc = tk_run_log_metrics(L->run, i, m, e);
    if (!rc) {   /* the bar shows tokens/s of training; the reward goes to the note line */
        json_t *r = json_object_get(m, "env/all/reward/total"), *nt = json_object_get(m, "num_tokens");
        tk_run_progress_step(L->run, i + 1, NAN, nt ? (int64_t)json_number_value(nt) : 0);
        if (r) tk_debug("batch %lld: reward %.4f", (long long)i, json_number_value(r));
    }
    tk_vec_free(&data);
    rl_batch_groups_free(&bg);
    tk_arena_free(a);
    json_decref(m);
    if (rc) tk_err_prefix(e, "batch %lld: ", (long long)i);
    return rc;
}

/* ---- setup ------------------------------------------------------------------------------------ */

static int check_config(const tk_rl_config *c, tk_err *e) {
    if (!c->log_path || !*c->log_path) return tk_err_set(e, TK_EINVAL, "log_path is required (e.g. log_path=runs/rl)");
    if (!c->model_name || !*c->model_name)
        return tk_err_set(e, TK_EINVAL, "model_name is required (a model name, or a local model directory)");
    if (c->group_size < 1) return tk_err_set(e, TK_EINVAL, "group_size=%lld: must be >= 1", (long long)c->group_size);
    if (c->groups_per_batch < 1)
        return tk_err_set(e, TK_EINVAL, "groups_per_batch=%lld: must be >= 1", (long long)c->groups_per_batch);
    if (c->num_substeps < 1) return tk_err_set(e, TK_EINVAL, "num_substeps=%lld: must be >= 1", (long long)c->num_substeps);
    if (c->sampling_concurrency < 0)
        return tk_err_set(e, TK_EINVAL, "sampling_concurrency=%lld: must be >= 0 (0: no limit)",
                          (long long)c->sampling_concurrency);
    if (c->max_steps != TK_OPT_UNSET_INT && c->max_steps < 0)
        return tk_err_set(e, TK_EINVAL, "max_steps=%lld: must be >= 0 or none", (long long)c->max_steps);
    if (c->max_tokens != TK_OPT_UNSET_INT && c->max_tokens < 1)
        return tk_err_set(e, TK_EINVAL, "max_tokens=%lld: must be >= 1", (long long)c->max_tokens);
    if (!(c->learning_rate >= 0)) return tk_err_set(e, TK_EINVAL, "learning_rate=%g: must be >= 0", c->learning_rate);
    if (!(c->temperature >= 0)) return tk_err_set(e, TK_EINVAL, "temperature=%g: must be >= 0", c->temperature);
    if (!(c->kl_penalty_coef >= 0) || !(c->kl_discount_factor >= 0 && c->kl_discount_factor < 1))
        return tk_err_set(e, TK_EINVAL, "kl_penalty_coef must be >= 0 and kl_discount_factor in [0, 1)");
    if (!(c->rollout_error_tolerance >= 0 && c->rollout_error_tolerance <= 1))
        return tk_err_set(e, TK_EINVAL, "rollout_error_tolerance=%g: must be in [0, 1]", c->rollout_error_tolerance);
    if (c->max_steps_off_policy != TK_OPT_UNSET_INT && c->max_steps_off_policy < 0)
        return tk_err_set(e, TK_EINVAL, "max_steps_off_policy=%lld: must be >= 0 or none", (long long)c->max_steps_off_policy);
    if (c->lora_rank < 1) return tk_err_set(e, TK_EINVAL, "lora_rank=%lld: must be >= 1", (long long)c->lora_rank);
    if (c->save_every < 0) return tk_err_set(e, TK_EINVAL, "save_every=%lld: must be >= 0", (long long)c->save_every);
    if (c->num_groups_to_log < 0) return tk_err_set(e, TK_EINVAL, "num_groups_to_log must be >= 0");
    if (!(c->adam_beta1 >= 0 && c->adam_beta1 < 1) || !(c->adam_beta2 >= 0 && c->adam_beta2 < 1) || !(c->adam_eps >= 0))
        return tk_err_set(e, TK_EINVAL, "adam_beta1 and adam_beta2 must be in [0, 1), adam_eps >= 0");
    return 0;
}

static int open_reference(rl_loop *L, tk_err *e) {
    const char *ref = L->cfg->kl_reference_model;
    tk_client_task *t = NULL;
    int rc;
    if (ref && !strncmp(ref, "tinker://", 9)) rc = tk_client_service_create_sampling_client(L->run->service, ref, NULL, &t, e);
    else rc = tk_client_service_create_sampling_client(L->run->service, NULL, ref ? ref : L->run->model.base_model, &t, e);
    if (!rc) rc = tk_client_sampling_result(t, -1, &L->reference, e);
    tk_client_task_release(t);
    if (rc) tk_err_prefix(e, "the KL reference model: ");
    return rc;
}

static void metric_span(const json_t *rows, const char *key, double *first, double *last) {
    *first = *last = NAN;
    for (size_t i = 0; i < json_array_size(rows); i++) {
        json_t *v = json_object_get(json_array_get(rows, i), key);
        if (!json_is_number(v)) continue;
        if (isnan(*first)) *first = json_number_value(v);
        *last = json_number_value(v);
    }
}

void tk_rl_result_free(tk_rl_result *r) {
    if (!r) return;
    free(r->state_path);
    free(r->sampler_path);
    free(r->log_path);
    memset(r, 0, sizeof *r);
}

int tk_rl_train(const tk_rl_config *c, tk_rl_result *res, tk_err *e) {
    memset(res, 0, sizeof *res);
    res->first_reward = res->last_reward = res->first_correct = res->last_correct = NAN;
    rl_loop L = {.cfg = c};
    tk_logdir_behavior behavior;
    int rc = check_config(c, e);
    if (!rc) rc = tk_logdir_behavior_parse(c->behavior_if_log_dir_exists, &behavior, e);
    if (!rc) rc = tk_wire_loss_fn_parse(c->loss_fn, &L.loss_fn, e);
    if (!rc && !(L.arena = tk_arena_new(0))) rc = oom(e);
    if (!rc) rc = tk_rl_parse_loss_config(c->loss_fn_config, L.loss_fn, L.arena, &L.loss_cfg, e);
    if (rc) {
        tk_arena_free(L.arena);
        return rc;
    }

    /* 1. the run: log_path decision, service, training client, tokenizer, renderer */
    tk_run_options ro;
    tk_run_options_init(&ro);
    ro.log_path = c->log_path;
    ro.if_exists = behavior;
    ro.model_name = c->model_name;
    ro.renderer_name = c->renderer_name;
    ro.lora_rank = c->lora_rank;
    ro.has_seed = true;
    ro.seed = c->seed;
    ro.load_checkpoint_path = c->load_checkpoint_path;
    ro.base_url = c->base_url;
    ro.recipe_name = "tinkerc rl";
    rc = tk_run_open(&ro, &L.run, e);

    /* 2. the environment's dataset (a bad problem file fails here, before log_path is touched) */
    if (!rc) {
        tk_rl_env_config ec = {.env = c->env, .dataset = c->dataset, .group_size = c->group_size,
                               .groups_per_batch = c->groups_per_batch,
                               .n_batches = c->n_batches == TK_OPT_UNSET_INT ? 0 : c->n_batches,
                               .num_epochs = c->num_epochs, .seed = (uint64_t)c->seed, .format_coef = c->format_coef,
                               .fewshot = c->fewshot, .max_operand = c->max_operand, .max_number = c->max_number,
                               .max_turns = c->max_turns, .renderer = L.run->renderer};
        rc = tk_rl_dataset_new(&ec, &L.dataset, e);
    }
    L.max_tokens = c->max_tokens == TK_OPT_UNSET_INT ? tk_rl_env_default_max_tokens(c->env) : c->max_tokens;
    json_t *config = NULL;
    int64_t start = 0;
    if (!rc) {
        L.total = L.dataset->ops->n_batches(L.dataset);
        if (c->max_steps != TK_OPT_UNSET_INT && c->max_steps < L.total) L.total = c->max_steps;
        if (L.run->resuming) start = tk_run_resume_i64(L.run, "batch", 0);
        tk_rl_config resolved = *c;
        resolved.max_tokens = L.max_tokens;
        if (!(config = tk_opts_to_json(tk_rl_options, &resolved))) rc = oom(e);
        if (!rc && !c->renderer_name && tk_json_set_new(config, "renderer_name", json_string(L.run->renderer_name))) rc = oom(e);
    }
    /* 3. commit to log_path */
    if (!rc) rc = tk_run_begin(L.run, config, start, e);
    json_decref(config);
    if (!rc && c->kl_penalty_coef > 0) rc = open_reference(&L, e);
    if (!rc)
        tk_info("rl: env %s, %lld batches of %lld groups x %lld, loss %s, lr %.3g, renderer %s%s", c->env,
                (long long)L.total, (long long)c->groups_per_batch, (long long)c->group_size, c->loss_fn,
                c->learning_rate, L.run->renderer_name, L.run->resuming ? ", resumed" : "");

    /* 4. the loop */
    bool did_train = !rc && start < L.total;
    double t0 = tk_now_s();
    if (did_train) {
        tk_client_task *t = NULL;
        tk_client_sampling *s = NULL;
        rc = tk_client_training_save_weights_and_get_sampling_client(L.run->training, &t, e);
        if (!rc) rc = tk_client_sampling_result(t, -1, &s, e);
        tk_client_task_release(t);
        if (rc) tk_err_prefix(e, "the first sampler: ");
        if (!rc) rc = rl_sampler_init(&L, s, start, e);
        if (!rc) rc = rl_source_start(&L, start, e);
        if (!rc) tk_run_progress_start(L.run, "rl", start, L.total);
        for (int64_t i = start; !rc && i < L.total; i++) rc = run_batch(&L, i, e);
        rl_source_stop(&L);
        tk_run_progress_end(L.run);
    }
    res->seconds = tk_now_s() - t0;
    if (!rc && did_train) {
        json_t *ls = json_pack("{s:I,s:b}", "batch", (json_int_t)L.total, "final", 1), *rec = NULL;
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
    if (!rc) {
        json_t *rows = NULL;
        if (!tk_runlog_read_metrics(L.run->log_path, &rows, NULL)) {
            metric_span(rows, "env/all/reward/total", &res->first_reward, &res->last_reward);
            metric_span(rows, "env/all/correct", &res->first_correct, &res->last_correct);
        }
        json_decref(rows);
        res->start_batch = start;
        res->end_batch = did_train ? L.total : start;
        res->total_batches = L.total;
        res->failed_groups = L.failed_groups;
        res->skipped_groups = L.skipped_groups;
        res->stale_groups = L.stale_groups;
        res->log_path = tk_strdup(L.run->log_path);
    }
    rl_sampler_fini(&L);
    tk_client_sampling_free(L.reference);
    if (L.dataset) L.dataset->ops->free(L.dataset);
    tk_run_close(L.run);
    tk_arena_free(L.arena);
    if (rc) tk_rl_result_free(res);
    return rc;
}
