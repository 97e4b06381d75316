/* Group rollouts (rl/rollouts.py): every env of every group steps in lock-step turns, each turn's
 * observations going to the policy in one call, so the sampler sees the whole batch at once.
 * Failures are per group and fail-fast (upstream's FailFast strategy): the first error of any of
 * a group's rollouts (sampling, env, a non-finite reward) ends the group, and the caller decides
 * whether the run goes on (rollout_error_tolerance). */
#include "tinkerc/rl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct env_state {
    tk_rl_env *env;
    size_t group;
    tk_rl_trajectory traj;
    tk_vec_i32 ob;
    bool done;
} env_state;

typedef struct group_state {
    tk_rl_env **envs;
    size_t first, n;                  /* its envs in the flat state array */
    bool failed, skipped;
} group_state;

static uint64_t mix(uint64_t h, uint64_t v) {
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 29);
}

static void fail_group(group_state *g, tk_rl_group_outcome *o, env_state *st, const tk_err *err, const char *fmt_ctx) {
    if (g->failed) return;
    g->failed = true;
    o->status = TK_RL_GROUP_FAILED;
    snprintf(o->err.msg, sizeof o->err.msg, "%s: %s", fmt_ctx, err->msg);
    o->err.code = err->code ? err->code : TK_EINVAL;
    for (size_t k = 0; k < g->n; k++) st[g->first + k].done = true;
}

/* Record a step as a transition; takes the action vectors. */
static int record(env_state *s, tk_rl_sample *smp, tk_rl_step_result *r, tk_err *e) {
    tk_rl_transition x = {0};
    x.ob = s->ob;
    memset(&s->ob, 0, sizeof s->ob);
    x.ac = smp->tokens;
    x.ac_logprobs = smp->logprobs;
    memset(&smp->tokens, 0, sizeof smp->tokens);
    memset(&smp->logprobs, 0, sizeof smp->logprobs);
    x.reward = r->reward;
    x.episode_done = r->episode_done;
    x.parse_error_masked = r->parse_error_masked;
    memcpy(x.metrics, r->metrics, sizeof x.metrics);
    x.n_metrics = r->n_metrics;
    x.log = r->log.len ? tk_buf_detach(&r->log, NULL) : NULL;
    if (tk_vec_push(&s->traj.t, x)) {
        tk_vec_free(&x.ob);
        tk_vec_free(&x.ac);
        tk_vec_free(&x.ac_logprobs);
        free(x.log);
        return tk_err_set(e, TK_ENOMEM, "out of memory");
    }
    return 0;
}

static bool fits(const tk_rl_rollout_limits *l, size_t ob_len) {
    return l->max_trajectory_tokens <= 0 || (int64_t)ob_len + l->max_tokens <= l->max_trajectory_tokens;
}

int tk_rl_rollout_groups(tk_rl_group_builder *const *builders, size_t n, const tk_rl_policy *policy,
                         const tk_rl_rollout_limits *limits, uint64_t seed, tk_rl_group_outcome *out, tk_err *e) {
    group_state *gs = calloc(n ? n : 1, sizeof *gs);
    TK_VEC(env_state) st = {0};
    int rc = gs ? 0 : tk_err_set(e, TK_ENOMEM, "out of memory");
    char ctx[96];

    /* 1. envs and their first observations */
    for (size_t i = 0; !rc && i < n; i++) {
        tk_err ge = {0};
        size_t ne = 0;
        snprintf(ctx, sizeof ctx, "group %zu", i);
        gs[i].first = st.len;
        if (builders[i]->ops->make_envs(builders[i], &gs[i].envs, &ne, &ge)) {
            fail_group(&gs[i], &out[i], st.data, &ge, ctx);
            continue;
        }
        gs[i].n = ne;
        if (tk_vec_reserve(&st, st.len + ne)) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
        for (size_t k = 0; !rc && k < ne; k++) {
            env_state s = {.env = gs[i].envs[k], .group = i};
            st.data[st.len++] = s;
        }
        for (size_t k = 0; !rc && k < ne && !gs[i].failed; k++) {
            env_state *s = &st.data[gs[i].first + k];
            if (s->env->ops->initial_observation(s->env, &s->ob, &ge)) {
                snprintf(ctx, sizeof ctx, "group %zu env %zu: initial observation", i, k);
                fail_group(&gs[i], &out[i], st.data, &ge, ctx);
            } else if (!fits(limits, s->ob.len)) {
                gs[i].skipped = true;
                out[i].status = TK_RL_GROUP_SKIPPED_CONTEXT;
                snprintf(out[i].err.msg, sizeof out[i].err.msg,
                         "group %zu: the prompt (%zu tokens) + max_tokens (%lld) is more than max_trajectory_tokens "
                         "(%lld)", i, s->ob.len, (long long)limits->max_tokens, (long long)limits->max_trajectory_tokens);
                for (size_t j = 0; j < ne; j++) st.data[gs[i].first + j].done = true;
            }
        }
    }

    /* 2. turns */
    TK_VEC(tk_rl_sample_request) reqs = {0};
    TK_VEC(size_t) owner = {0};       /* request -> first env index (flat); num_samples envs follow when shared */
    TK_VEC(bool) shared = {0};
    for (int64_t turn = 0; !rc; turn++) {
        reqs.len = owner.len = shared.len = 0;
        for (size_t i = 0; !rc && i < n; i++) {
            group_state *g = &gs[i];
            if (g->failed || g->skipped) continue;
            /* the first turn of a group whose envs all start alike: one request, G samples */
            bool same = turn == 0 && g->n > 1;
            for (size_t k = 1; same && k < g->n; k++) {
                const tk_vec_i32 *a = &st.data[g->first].ob, *b = &st.data[g->first + k].ob;
                same = a->len == b->len && !memcmp(a->data, b->data, a->len * sizeof *a->data);
            }
            for (size_t k = 0; !rc && k < g->n; k++) {
                env_state *s = &st.data[g->first + k];
                if (s->done) continue;
                tk_rl_sample_request r = {.ob = s->ob.data, .n_ob = s->ob.len, .num_samples = same ? g->n : 1,
                                          .seed = mix(mix(mix(seed, i), same ? 0xffff : k), (uint64_t)turn)};
                if (tk_vec_push(&reqs, r) || tk_vec_push(&owner, g->first + k) || tk_vec_push(&shared, same))
                    rc = tk_err_set(e, TK_ENOMEM, "out of memory");
                if (same) break;
            }
        }
        if (rc || !reqs.len) break;
        for (size_t r = 0; !rc && r < reqs.len; r++)
            if (!(reqs.data[r].samples = calloc(reqs.data[r].num_samples, sizeof(tk_rl_sample))))
                rc = tk_err_set(e, TK_ENOMEM, "out of memory");
        if (!rc) rc = policy->sample(policy->ctx, reqs.data, reqs.len, e);
        for (size_t r = 0; !rc && r < reqs.len; r++) {
            tk_rl_sample_request *q = &reqs.data[r];
            size_t gi = st.data[owner.data[r]].group;
            group_state *g = &gs[gi];
            if (g->failed) continue;
            if (q->rc) {
                snprintf(ctx, sizeof ctx, "group %zu turn %lld: sampling", gi, (long long)turn);
                if (!q->err.code) q->err.code = q->rc;
                fail_group(g, &out[gi], st.data, &q->err, ctx);
                continue;
            }
            for (size_t j = 0; !rc && j < q->num_samples && !g->failed; j++) {
                size_t ei = owner.data[r] + j;
                env_state *s = &st.data[ei];
                tk_rl_sample *smp = &q->samples[j];
                /* a shared request: every env answers its own sample of the same prompt */
                if (shared.data[r] && j > 0) {
                    tk_vec_free(&s->ob);
                    if (tk_vec_reserve(&s->ob, q->n_ob)) {
                        rc = tk_err_set(e, TK_ENOMEM, "out of memory");
                        break;
                    }
                    memcpy(s->ob.data, q->ob, q->n_ob * sizeof *q->ob);
                    s->ob.len = q->n_ob;
                }
                tk_rl_step_result res = {0};
                tk_err se = {0};
                int src = s->env->ops->step(s->env, smp->tokens.data, smp->tokens.len, smp->stop_reason, &res, &se);
                if (!src && !isfinite(res.reward)) src = tk_err_set(&se, TK_EINVAL, "the env returned a non-finite reward (%g)", res.reward);
                for (size_t m = 0; !src && m < res.n_metrics; m++)
                    if (!isfinite(res.metrics[m].value))
                        src = tk_err_set(&se, TK_EINVAL, "the env returned a non-finite metric %s (%g)", res.metrics[m].key,
                                         res.metrics[m].value);
                if (src) {
                    snprintf(ctx, sizeof ctx, "group %zu env %zu turn %lld: step", gi, ei - g->first, (long long)turn);
                    fail_group(g, &out[gi], st.data, &se, ctx);
                } else {
                    rc = record(s, smp, &res, e);
                    if (!rc && res.episode_done) {
                        s->done = true;
                        s->traj.stop_reason = TK_RL_STOP_COMPLETED;
                    } else if (!rc && limits->max_turns > 0 && (int64_t)s->traj.t.len >= limits->max_turns) {
                        s->done = true;
                        s->traj.stop_reason = TK_RL_STOP_MAX_TURNS;
                        s->traj.final_ob = res.next_ob;
                        memset(&res.next_ob, 0, sizeof res.next_ob);
                    } else if (!rc && !fits(limits, res.next_ob.len)) {
                        s->done = true;
                        s->traj.stop_reason = TK_RL_STOP_CONTEXT_OVERFLOW;
                        s->traj.final_ob = res.next_ob;
                        memset(&res.next_ob, 0, sizeof res.next_ob);
                    } else if (!rc) {
                        s->ob = res.next_ob;
                        memset(&res.next_ob, 0, sizeof res.next_ob);
                    }
                }
                tk_vec_free(&res.next_ob);
                tk_buf_free(&res.log);
            }
        }
        for (size_t r = 0; r < reqs.len; r++) {
            for (size_t j = 0; reqs.data[r].samples && j < reqs.data[r].num_samples; j++) {
                tk_vec_free(&reqs.data[r].samples[j].tokens);
                tk_vec_free(&reqs.data[r].samples[j].logprobs);
            }
            free(reqs.data[r].samples);
        }
    }
    tk_vec_free(&reqs);
    tk_vec_free(&owner);
    tk_vec_free(&shared);

    /* 3. group rewards, and the groups handed over */
    for (size_t i = 0; !rc && i < n; i++) {
        group_state *g = &gs[i];
        if (g->failed || g->skipped) continue;
        tk_rl_group *G = &out[i].group;
        G->n = g->n;
        G->traj = calloc(g->n ? g->n : 1, sizeof *G->traj);
        G->final_rewards = calloc(g->n ? g->n : 1, sizeof *G->final_rewards);
        const char *tag = builders[i]->ops->tag ? builders[i]->ops->tag(builders[i]) : "env";
        G->tag = tk_strdup(tag ? tag : "env");
        G->index = i;
        if (!G->traj || !G->final_rewards || !G->tag) {
            rc = tk_err_set(e, TK_ENOMEM, "out of memory");
            break;
        }
        for (size_t k = 0; k < g->n; k++) {
            G->traj[k] = st.data[g->first + k].traj;
            memset(&st.data[g->first + k].traj, 0, sizeof(tk_rl_trajectory));
        }
        tk_err ge = {0};
        if (builders[i]->ops->group_rewards) {
            int grc = builders[i]->ops->group_rewards(builders[i], G->traj, G->n, G->final_rewards, &ge);
            for (size_t k = 0; !grc && k < G->n; k++)
                if (!isfinite(G->final_rewards[k])) grc = tk_err_set(&ge, TK_EINVAL, "group reward %zu is not finite", k);
            if (grc) {
                snprintf(ctx, sizeof ctx, "group %zu: group rewards", i);
                fail_group(g, &out[i], st.data, &ge, ctx);
                tk_rl_group_free(G);
                continue;
            }
        }
        out[i].status = TK_RL_GROUP_OK;
    }

    for (size_t k = 0; k < st.len; k++) {
        tk_rl_trajectory_free(&st.data[k].traj);
        tk_vec_free(&st.data[k].ob);
        st.data[k].env->ops->free(st.data[k].env);
    }
    for (size_t i = 0; gs && i < n; i++) free(gs[i].envs);
    tk_vec_free(&st);
    free(gs);
    if (rc)
        for (size_t i = 0; i < n; i++) tk_rl_group_free(&out[i].group);
    return rc;
}
