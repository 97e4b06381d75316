/* rl_custom_env — a new RL environment in one C file, run by the cookbook's RL loop:
 *   build/examples/rl_custom_env model_name=Qwen/Qwen3-8B log_path=runs/countdown env=countdown
 * (docs/rl.md, "Adding an environment"). Every key=value of `tinkerc rl` works here too.
 *
 * "countdown": count down by one from a start number; the answer is the third number said.
 * Single-turn, so the env is a ProblemEnv: a question, an answer and a grader. */
#include <stdio.h>
#include <stdlib.h>

#include "tinkerc/local.h"
#include "tinkerc/rl.h"

/* The grader: the last integer of the response is the answer. */
static bool check(const char *response, const char *answer) {
    long long v;
    return tk_rl_last_integer(response, &v) && v == strtoll(answer, NULL, 10);
}

typedef struct countdown {
    tk_rl_dataset base;   /* first: the recipe sees a tk_rl_dataset */
    tk_rl_env_config cfg;
} countdown;

static int64_t n_batches(const tk_rl_dataset *d) {
    const countdown *c = (const countdown *)d;
    return c->cfg.n_batches > 0 ? c->cfg.n_batches : 50;
}

/* Batch i's problems; deterministic in i, so a resumed run sees the same ones. */
static int get_batch(tk_rl_dataset *d, int64_t i, tk_rl_group_builder ***out, size_t *n, tk_err *e) {
    countdown *c = (countdown *)d;
    size_t g = (size_t)c->cfg.groups_per_batch;
    if (!(*out = calloc(g, sizeof **out))) return tk_err_set(e, TK_ENOMEM, "out of memory");
    for (size_t k = 0; k < g; k++) {
        char q[96], a[24];
        long long start = (long long)((uint64_t)i * 7 + k) % 50 + 2;
        snprintf(q, sizeof q, "Count down by one from %lld. What is the third number you say?", start);
        snprintf(a, sizeof a, "%lld", start - 2);
        tk_rl_problem_spec s = {.renderer = c->cfg.renderer, .question = q, .answer = a, .check_answer = check,
                                .format_coef = c->cfg.format_coef};
        int rc = tk_rl_problem_group_new(&s, (size_t)c->cfg.group_size, "countdown", &(*out)[k], e);
        if (rc) {
            for (size_t j = 0; j < k; j++) (*out)[j]->ops->free((*out)[j]);
            free(*out);
            *out = NULL;
            return rc;
        }
    }
    *n = g;
    return 0;
}

static void ds_free(tk_rl_dataset *d) { free(d); }

static const tk_rl_dataset_ops k_ops = {n_batches, get_batch, ds_free};

static int make(const tk_rl_env_config *c, tk_rl_dataset **out, tk_err *e) {
    countdown *d = calloc(1, sizeof *d);
    if (!d) return tk_err_set(e, TK_ENOMEM, "out of memory");
    d->base.ops = &k_ops;
    d->cfg = *c;
    *out = &d->base;
    return 0;
}

int main(int argc, char **argv) {
    tk_err e = {0};
    tk_rl_config cfg = {0};
    tk_rl_result res;
    int rc = tk_local_register(NULL, &e);   /* the embedded engine when no service is configured */
    if (!rc) rc = tk_rl_env_register("countdown", make, 8, &e);
    if (!rc) rc = tk_opts_defaults(tk_rl_options, &cfg, &e);
    if (!rc) rc = tk_opts_parse_args(tk_rl_options, &cfg, argc - 1, argv + 1, &e);
    if (!rc) rc = tk_rl_train(&cfg, &res, &e);
    tk_opts_free(tk_rl_options, &cfg);
    if (rc) {
        fprintf(stderr, "rl_custom_env: %s\n", e.msg);
        return 1;
    }
    printf("done: %lld batches, reward %.3f -> %.3f, outputs in %s\n", (long long)res.end_batch, res.first_reward,
           res.last_reward, res.log_path);
    tk_rl_result_free(&res);
    return 0;
}
