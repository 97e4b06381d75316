/* tinkerc sl: supervised fine-tuning on a JSONL file of conversations (the cookbook's SFT loop). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinkerc/cookbook.h"

int tk_cmd_sl(int argc, char **argv);

static void usage(FILE *out) {
    fprintf(out,
            "usage: tinkerc sl key=value ... [config=FILE.json]\n"
            "\n"
            "Supervised fine-tuning (LoRA) on a JSONL file of conversations, one {\"messages\": [...]} per\n"
            "line. Options are the cookbook's (config=FILE applies a JSON object of them first; keys on the\n"
            "command line override it). docs/sl.md describes every option and output.\n"
            "\n");
    tk_opts_usage(tk_sl_options, out);
    fprintf(out,
            "\n"
            "Where it runs: TINKER_API_KEY set -> the hosted Tinker service; TINKER_BASE_URL (or base_url=)\n"
            "-> that server; neither (or base_url=local) -> the embedded engine in this process.\n"
            "Example: tinkerc sl model_name=Qwen/Qwen3-8B dataset=examples/data/conversations.jsonl \\\n"
            "             log_path=runs/sl test_size=24 batch_size=16\n");
}

static void print_summary(const tk_sl_result *r) {
    if (r->already_complete) {
        printf("%s: training was already complete (%lld steps); nothing to do\n", r->log_path, (long long)r->end_step);
    } else {
        printf("done: steps %lld..%lld of %lld in %.1f s (%.0f tokens/s)%s\n", (long long)r->start_step,
               (long long)r->end_step, (long long)r->total_steps, r->seconds,
               r->seconds > 0 ? (double)r->tokens / r->seconds : 0.0, r->start_step ? ", resumed" : "");
    }
    printf("  examples: %zu train, %zu test", r->train_examples, r->test_examples);
    if (r->skipped_examples) printf(", %zu skipped (see %s/logs.log)", r->skipped_examples, r->log_path);
    printf("\n");
    if (!isnan(r->first_test_nll))
        printf("  test NLL: %.4f (step %lld) -> %.4f (step %lld)\n", r->first_test_nll, (long long)r->first_test_step,
               r->last_test_nll, (long long)r->last_test_step);
    if (!isnan(r->first_train_nll)) printf("  train NLL: %.4f -> %.4f\n", r->first_train_nll, r->last_train_nll);
    printf("  outputs: %s/{config.json,metrics.jsonl,checkpoints.jsonl,logs.log}\n", r->log_path);
    if (r->state_path) printf("  final state: %s\n", r->state_path);
    if (r->sampler_path) printf("  final sampler weights: %s\n", r->sampler_path);
}

int tk_cmd_sl(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help") || !strcmp(argv[i], "help")) {
            usage(stdout);
            return 0;
        }
    tk_sl_config cfg;
    memset(&cfg, 0, sizeof cfg);
    tk_err e = {0};
    if (tk_opts_defaults(tk_sl_options, &cfg, &e) || tk_opts_parse_args(tk_sl_options, &cfg, argc - 1, argv + 1, &e)) {
        fprintf(stderr, "tinkerc sl: %s\n", e.msg);
        tk_opts_free(tk_sl_options, &cfg);
        return 2;
    }
    /* messages go to log_path/logs.log; stderr shows warnings (TINKERC_LOG=info shows all) */
    const char *lvl = getenv("TINKERC_LOG");
    tk_run_logs_capture(lvl && !strcmp(lvl, "info") ? TK_LOG_INFO : lvl && !strcmp(lvl, "debug") ? TK_LOG_DEBUG
                                                                                             : TK_LOG_WARN);
    tk_sl_result res;
    int rc = tk_sl_train(&cfg, &res, &e);
    tk_run_logs_release();
    tk_opts_free(tk_sl_options, &cfg);
    if (rc) {
        fprintf(stderr, "tinkerc sl: %s\n", e.msg);
        return 1;
    }
    print_summary(&res);
    tk_sl_result_free(&res);
    return 0;
}
