/* RL value types: step results, trajectories, groups (rl/types.py). */
#include "tinkerc/rl.h"

#include <stdlib.h>
#include <string.h>

static const char *const k_stop_names[TK_RL_STOP_COUNT_] = {"completed", "max_turns", "max_tokens",
                                                            "context_overflow"};

const char *tk_rl_stop_reason_name(tk_rl_stop_reason r) {
    return (unsigned)r < TK_RL_STOP_COUNT_ ? k_stop_names[r] : "?";
}

void tk_rl_step_metric(tk_rl_step_result *r, const char *key, double value) {
    for (size_t i = 0; i < r->n_metrics; i++)
        if (!strcmp(r->metrics[i].key, key)) {
            r->metrics[i].value = value;
            return;
        }
    if (r->n_metrics < TK_RL_MAX_METRICS) r->metrics[r->n_metrics++] = (tk_rl_metric){key, value};
}

void tk_rl_trajectory_free(tk_rl_trajectory *t) {
    if (!t) return;
    for (size_t i = 0; i < t->t.len; i++) {
        tk_rl_transition *x = &t->t.data[i];
        tk_vec_free(&x->ob);
        tk_vec_free(&x->ac);
        tk_vec_free(&x->ac_logprobs);
        free(x->log);
    }
    tk_vec_free(&t->t);
    tk_vec_free(&t->final_ob);
    memset(t, 0, sizeof *t);
}

double tk_rl_trajectory_reward(const tk_rl_trajectory *t) {
    double s = 0;
    for (size_t i = 0; i < t->t.len; i++) s += t->t.data[i].reward;
    return s;
}

void tk_rl_group_free(tk_rl_group *g) {
    if (!g) return;
    for (size_t i = 0; i < g->n; i++) tk_rl_trajectory_free(&g->traj[i]);
    free(g->traj);
    free(g->final_rewards);
    free(g->tag);
    memset(g, 0, sizeof *g);
}

double tk_rl_group_total_reward(const tk_rl_group *g, size_t i) {
    return tk_rl_trajectory_reward(&g->traj[i]) + (g->final_rewards ? g->final_rewards[i] : 0.0);
}
