/* tinkerc dpo: preference tuning (DPO) on a JSONL file of comparisons (the cookbook's DPO loop). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinkerc/cookbook.h"

int tk_cmd_dpo(int argc, char **argv);

static void usage(FILE *out) {
    fprintf(out,
            "usage: tinkerc dpo key=value ... [config=FILE.json]\n"
            "\n"
            "Direct Preference Optimization (LoRA) on a JSONL file of comparisons, one per line:\n"
            "  {\"comparison\": {\"prompt_conversation\": [...], \"completion_A\": [...], \"completion_B\": [...]},\n"
            "   \"label\": \"A\"|\"B\"|\"Tie\"}   or   {\"prompt\": [...], \"chosen\": [...], \"rejected\": [...]}\n"
            "The reference is a frozen sampler of the starting weights (load_checkpoint_path, typically an\n"
            "SFT checkpoint). Options are the cookbook's; docs/dpo.md describes every option and output.\n"
            "\n");
    tk_opts_usage(tk_dpo_options, out);
    fprintf(out,
            "\n"
            "Where it runs: TINKER_API_KEY set -> the hosted Tinker service; TINKER_BASE_URL (or base_url=)\n"
            "-> that server; neither (or base_url=local) -> the embedded engine in this process.\n"
            "Example: tinkerc dpo model_name=Qwen/Qwen3-8B dataset=examples/data/preferences.jsonl \\\n"
            "             log_path=runs/dpo batch_size=16 test_size=16\n");
}

static void print_summary(const tk_dpo_result *r) {
    if (r->already_complete)
        printf("%s: training was already complete (%lld steps); nothing to do\n", r->log_path, (long long)r->end_step);
    else
        printf("done: steps %lld..%lld of %lld in %.1f s (%.0f tokens/s)%s\n", (long long)r->start_step,
               (long long)r->end_step, (long long)r->total_steps, r->seconds,
               r->seconds > 0 ? (double)r->tokens / r->seconds : 0.0, r->start_step ? ", resumed" : "");
    printf("  pairs: %zu train, %zu test", r->train_pairs, r->test_pairs);
    if (r->ties) printf(", %zu ties set aside", r->ties);
    if (r->skipped) printf(", %zu skipped (see %s/logs.log)", r->skipped, r->log_path);
    printf("\n");
    if (!isnan(r->first_loss))
        printf("  dpo_loss: %.4f -> %.4f   accuracy: %.3f -> %.3f   margin: %.4f -> %.4f\n", r->first_loss, r->last_loss,
               r->first_accuracy, r->last_accuracy, r->first_margin, r->last_margin);
    printf("  outputs: %s/{config.json,metrics.jsonl,checkpoints.jsonl,logs.log}\n", r->log_path);
    if (r->reference_path) printf("  reference: %s\n", r->reference_path);
    if (r->state_path) printf("  final state: %s\n", r->state_path);
    if (r->sampler_path) printf("  final sampler weights: %s\n", r->sampler_path);
}

int tk_cmd_dpo(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help") || !strcmp(argv[i], "help")) {
            usage(stdout);
            return 0;
        }
    tk_dpo_config cfg;
    memset(&cfg, 0, sizeof cfg);
    tk_err e = {0};
    if (tk_opts_defaults(tk_dpo_options, &cfg, &e) || tk_opts_parse_args(tk_dpo_options, &cfg, argc - 1, argv + 1, &e)) {
        fprintf(stderr, "tinkerc dpo: %s\n", e.msg);
        tk_opts_free(tk_dpo_options, &cfg);
        return 2;
    }
    const char *lvl = getenv("TINKERC_LOG");
    tk_run_logs_capture(lvl && !strcmp(lvl, "info") ? TK_LOG_INFO : lvl && !strcmp(lvl, "debug") ? TK_LOG_DEBUG
                                                                                             : TK_LOG_WARN);
    tk_dpo_result res;
    int rc = tk_dpo_train(&cfg, &res, &e);
    tk_run_logs_release();
    tk_opts_free(tk_dpo_options, &cfg);
    if (rc) {
        fprintf(stderr, "tinkerc dpo: %s\n", e.msg);
        return 1;
    }
    print_summary(&res);
    tk_dpo_result_free(&res);
    return 0;
}
