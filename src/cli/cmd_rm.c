/* tinkerc rm: a pairwise reward model trained on a JSONL file of comparisons (the cookbook's
 * ChatDatasetBuilderFromComparisons with the supervised loop). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinkerc/cookbook.h"

int tk_cmd_rm(int argc, char **argv);

static void usage(FILE *out) {
    fprintf(out,
            "usage: tinkerc rm key=value ... [config=FILE.json]\n"
            "\n"
            "Trains a pairwise reward model (LoRA): each comparison of a JSONL file (the shapes of tinkerc dpo;\n"
            "ties are kept) is rendered as the prompt, \"==== Completion A ====\", A, \"==== Completion B ====\",\n"
            "B, \"==== Preference ====\" and the label, and the label's first token is trained. The final\n"
            "sampler weights are a preference model: one greedy token, A (-1), B (+1) or Tie (0).\n"
            "docs/dpo.md describes the options and outputs.\n"
            "\n");
    tk_opts_usage(tk_rm_options, out);
}

int tk_cmd_rm(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help") || !strcmp(argv[i], "help")) {
            usage(stdout);
            return 0;
        }
    tk_rm_config cfg;
    memset(&cfg, 0, sizeof cfg);
    tk_err e = {0};
    if (tk_opts_defaults(tk_rm_options, &cfg, &e) || tk_opts_parse_args(tk_rm_options, &cfg, argc - 1, argv + 1, &e)) {
        fprintf(stderr, "tinkerc rm: %s\n", e.msg);
        tk_opts_free(tk_rm_options, &cfg);
        return 2;
    }
    const char *lvl = getenv("TINKERC_LOG");
    tk_run_logs_capture(lvl && !strcmp(lvl, "info") ? TK_LOG_INFO : lvl && !strcmp(lvl, "debug") ? TK_LOG_DEBUG
                                                                                             : TK_LOG_WARN);
    tk_sl_result r;
    tk_rm_agreement ag;
    int rc = tk_rm_train(&cfg, &r, &ag, &e);
    tk_run_logs_release();
    tk_opts_free(tk_rm_options, &cfg);
    if (rc) {
        fprintf(stderr, "tinkerc rm: %s\n", e.msg);
        return 1;
    }
    if (r.already_complete)
        printf("%s: training was already complete (%lld steps); nothing to do\n", r.log_path, (long long)r.end_step);
    else
        printf("done: steps %lld..%lld of %lld in %.1f s%s\n", (long long)r.start_step, (long long)r.end_step,
               (long long)r.total_steps, r.seconds, r.start_step ? ", resumed" : "");
    printf("  examples: %zu train, %zu test", r.train_examples, r.test_examples);
    if (r.skipped_examples) printf(", %zu skipped (see %s/logs.log)", r.skipped_examples, r.log_path);
    printf("\n");
    if (!isnan(r.first_train_nll)) printf("  train NLL of the label token: %.4f -> %.4f\n", r.first_train_nll, r.last_train_nll);
    if (!isnan(r.first_test_nll)) printf("  test NLL: %.4f -> %.4f\n", r.first_test_nll, r.last_test_nll);
    if (ag.n)
        printf("  preference model on %zu comparisons: %zu answered A/B/Tie, %zu agree with the label (%.0f%%)\n", ag.n,
               ag.valid, ag.agree, 100.0 * (double)ag.agree / (double)ag.n);
    printf("  outputs: %s/{config.json,metrics.jsonl,checkpoints.jsonl,logs.log}\n", r.log_path);
    if (r.sampler_path) printf("  reward model (sampler weights): %s\n", r.sampler_path);
    tk_sl_result_free(&r);
    return 0;
}
