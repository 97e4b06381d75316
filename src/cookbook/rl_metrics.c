/* compute_trajectory_metrics (rl/metrics.py): token and turn counts, the mean total reward, the
 * mean of every per-step metric, stop reasons, and how many groups were mixed / all good / all
 * bad — under env/all/. */
#include "tinkerc/rl.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* name -> (sum, count) for the per-step metrics, in first-seen order. */
typedef struct acc {
    const char *key;
    double sum, count;
} acc;

static int put(json_t *o, const char *k, double v, tk_err *e) {
    char key[128];
    snprintf(key, sizeof key, "env/all/%s", k);
    return tk_json_set_new(o, key, json_real(v)) ? tk_err_set(e, TK_ENOMEM, "out of memory") : 0;
}

int tk_rl_trajectory_metrics(const tk_rl_group *groups, size_t n, json_t *obj, tk_err *e) {
    double episodes = 0, turns = 0, ac = 0, ob = 0, reward = 0, mixed = 0, good = 0, bad = 0, ng = 0;
    double stops[TK_RL_STOP_COUNT_] = {0};
    TK_VEC(acc) m = {0};
    int rc = 0;
    for (size_t gi = 0; !rc && gi < n; gi++) {
        const tk_rl_group *g = &groups[gi];
        if (!g->n) continue;
        ng++;
        if (!tk_rl_group_is_constant(g)) mixed++;
        else if (tk_rl_group_total_reward(g, 0) >= 0.5) good++;
        else bad++;
        for (size_t ti = 0; !rc && ti < g->n; ti++) {
            const tk_rl_trajectory *t = &g->traj[ti];
            episodes++;
            reward += tk_rl_group_total_reward(g, ti);
            if ((unsigned)t->stop_reason < TK_RL_STOP_COUNT_) stops[t->stop_reason]++;
            for (size_t k = 0; !rc && k < t->t.len; k++) {
                const tk_rl_transition *x = &t->t.data[k];
                turns++;
                ac += (double)x->ac.len;
                ob += (double)x->ob.len;
                for (size_t q = 0; !rc && q < x->n_metrics; q++) {
                    size_t j = 0;
                    while (j < m.len && strcmp(m.data[j].key, x->metrics[q].key)) j++;
                    if (j == m.len && tk_vec_push(&m, ((acc){x->metrics[q].key, 0, 0})))
                        rc = tk_err_set(e, TK_ENOMEM, "out of memory");
                    if (!rc) {
                        m.data[j].sum += x->metrics[q].value;
                        m.data[j].count++;
                    }
                }
            }
        }
    }
    if (!rc && episodes > 0) {
        rc = put(obj, "ac_tokens_per_turn", turns ? ac / turns : 0, e);
        if (!rc) rc = put(obj, "ob_tokens_per_turn", turns ? ob / turns : 0, e);
        if (!rc) rc = put(obj, "turns_per_episode", turns / episodes, e);
        if (!rc) rc = put(obj, "total_episodes", episodes, e);
        if (!rc) rc = put(obj, "total_turns", turns, e);
        if (!rc) rc = put(obj, "total_ac_tokens", ac, e);
        if (!rc) rc = put(obj, "total_ob_tokens", ob, e);
        if (!rc) rc = put(obj, "reward/total", reward / episodes, e);
        for (size_t j = 0; !rc && j < m.len; j++) rc = put(obj, m.data[j].key, m.data[j].sum / m.data[j].count, e);
        for (int s = 0; !rc && s < TK_RL_STOP_COUNT_; s++) {
            char k[64];
            snprintf(k, sizeof k, "stop/%s", tk_rl_stop_reason_name((tk_rl_stop_reason)s));
            rc = put(obj, k, stops[s] / episodes, e);
        }
        if (!rc) rc = put(obj, "by_group/frac_mixed", mixed / ng, e);
        if (!rc) rc = put(obj, "by_group/frac_all_good", good / ng, e);
        if (!rc) rc = put(obj, "by_group/frac_all_bad", bad / ng, e);
    }
    tk_vec_free(&m);
    return rc;
}
