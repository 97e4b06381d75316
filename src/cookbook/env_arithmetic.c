/* `arithmetic`: upstream's toy env — "What is x + y?", rewarded by the last integer of the answer.
 * x and y are drawn from [0, max_operand] with a generator seeded by (seed, batch), so batch i is
 * the same problems in every run and after a resume. */
#include "tinkerc/rl.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct arith_dataset {
    tk_rl_dataset base;
    tk_rl_env_config cfg;
} arith_dataset;

static bool arith_check(const char *response, const char *answer) {
    long long got, want = strtoll(answer, NULL, 10);
    return tk_rl_last_integer(response, &got) && got == want;
}

/* Our own one-example prefix: it shows the answer format (just the number). */
static const tk_message k_fewshot[] = {{.role = "user", .content = "What is 4 + 5?"}, {.role = "assistant", .content = "9"}};

static int64_t arith_n_batches(const tk_rl_dataset *d) { return ((const arith_dataset *)d)->cfg.n_batches; }

static int arith_get_batch(tk_rl_dataset *d, int64_t i, tk_rl_group_builder ***out, size_t *n, tk_err *e) {
    arith_dataset *a = (arith_dataset *)d;
    size_t g = (size_t)a->cfg.groups_per_batch;
    tk_rng rng;
    tk_rng_seed(&rng, a->cfg.seed * 1000003u + (uint64_t)i);
    *out = calloc(g, sizeof **out);
    if (!*out) return tk_err_set(e, TK_ENOMEM, "out of memory");
    for (size_t k = 0; k < g; k++) {
        long long x = (long long)tk_rng_below(&rng, (uint64_t)a->cfg.max_operand + 1);
        long long y = (long long)tk_rng_below(&rng, (uint64_t)a->cfg.max_operand + 1);
        char q[96], ans[32];
        snprintf(q, sizeof q, "What is %lld + %lld?", x, y);
        snprintf(ans, sizeof ans, "%lld", x + y);
        tk_rl_problem_spec s = {.renderer = a->cfg.renderer, .fewshot = a->cfg.fewshot ? k_fewshot : NULL,
                                .n_fewshot = a->cfg.fewshot ? 2 : 0, .question = q, .answer = ans,
                                .check_answer = arith_check, .format_coef = a->cfg.format_coef};
        int rc = tk_rl_problem_group_new(&s, (size_t)a->cfg.group_size, "arithmetic", &(*out)[k], e);
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

static void arith_free(tk_rl_dataset *d) { free(d); }

static const tk_rl_dataset_ops k_ops = {arith_n_batches, arith_get_batch, arith_free};

int tk_rl_arithmetic_dataset_new(const tk_rl_env_config *c, tk_rl_dataset **out, tk_err *e) {
    *out = NULL;
    if (c->max_operand < 0 || c->max_operand > 1000000000)
        return tk_err_set(e, TK_EINVAL, "max_operand=%lld: must be in [0, 1e9]", (long long)c->max_operand);
    arith_dataset *a = calloc(1, sizeof *a);
    if (!a) return tk_err_set(e, TK_ENOMEM, "out of memory");
    a->base.ops = &k_ops;
    a->cfg = *c;
    a->cfg.dataset = NULL;
    if (a->cfg.n_batches <= 0) a->cfg.n_batches = 100;
    *out = &a->base;
    return 0;
}
