/* tinkerc rl: reinforcement learning on a built-in environment (the cookbook's RL loop). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinkerc/rl.h"

int tk_cmd_rl(int argc, char **argv);

static void usage(FILE *out) {
    fprintf(out,
            "usage: tinkerc rl key=value ... [config=FILE.json]\n"
            "\n"
            "Reinforcement learning (LoRA) with verifiable rewards: groups of sampled answers per problem,\n"
            "rewards centred within each group, an importance-sampling-family loss. Environments: arithmetic,\n"
            "math and gsm8k (JSONL problem files), guess_number (multi-turn). docs/rl.md describes every\n"
            "option and output.\n"
            "\n");
    tk_opts_usage(tk_rl_options, out);
    fprintf(out,
            "\n"
            "Where it runs: TINKER_API_KEY set -> the hosted Tinker service; TINKER_BASE_URL (or base_url=)\n"
            "-> that server; neither (or base_url=local) -> the embedded engine in this process.\n"
            "Example: tinkerc rl model_name=Qwen/Qwen3-8B env=arithmetic log_path=runs/rl group_size=8 \\\n"
            "             groups_per_batch=32 learning_rate=4e-5\n");
}

static void print_summary(const tk_rl_result *r) {
    if (r->already_complete)
        printf("%s: training was already complete (%lld batches); nothing to do\n", r->log_path, (long long)r->end_batch);
    else
        printf("done: batches %lld..%lld of %lld in %.1f s%s\n", (long long)r->start_batch, (long long)r->end_batch,
               (long long)r->total_batches, r->seconds, r->start_batch ? ", resumed" : "");
    if (!isnan(r->first_reward)) printf("  reward: %.4f -> %.4f\n", r->first_reward, r->last_reward);
    if (!isnan(r->first_correct)) printf("  correct: %.4f -> %.4f\n", r->first_correct, r->last_correct);
    if (r->failed_groups || r->skipped_groups || r->stale_groups)
        printf("  groups: %lld failed, %lld skipped (too long), %lld stale (see %s/logs.log)\n", (long long)r->failed_groups,
               (long long)r->skipped_groups, (long long)r->stale_groups, r->log_path);
    printf("  outputs: %s/{config.json,metrics.jsonl,checkpoints.jsonl,logs.log,iteration_*/train.html}\n", r->log_path);
    if (r->state_path) printf("  final state: %s\n", r->state_path);
    if (r->sampler_path) printf("  final sampler weights: %s\n", r->sampler_path);
}

int tk_cmd_rl(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help") || !strcmp(argv[i], "help")) {
            usage(stdout);
            return 0;
        }
    tk_rl_config cfg;
    memset(&cfg, 0, sizeof cfg);
    tk_err e = {0};
    if (tk_opts_defaults(tk_rl_options, &cfg, &e) || tk_opts_parse_args(tk_rl_options, &cfg, argc - 1, argv + 1, &e)) {
        fprintf(stderr, "tinkerc rl: %s\n", e.msg);
        tk_opts_free(tk_rl_options, &cfg);
        return 2;
    }
    const char *lvl = getenv("TINKERC_LOG");
    tk_run_logs_capture(lvl && !strcmp(lvl, "info") ? TK_LOG_INFO : lvl && !strcmp(lvl, "debug") ? TK_LOG_DEBUG
                                                                                             : TK_LOG_WARN);
    tk_rl_result res;
    int rc = tk_rl_train(&cfg, &res, &e);
    tk_run_logs_release();
    tk_opts_free(tk_rl_options, &cfg);
    if (rc) {
        fprintf(stderr, "tinkerc rl: %s\n", e.msg);
        return 1;
    }
    print_summary(&res);
    tk_rl_result_free(&res);
    return 0;
}
