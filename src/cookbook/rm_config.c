/* `tinkerc rm` options: those of `tinkerc sl` (the supervised Config; train_on_what and
 * truncate_long_examples do not apply) with `dataset` a comparison file, plus
 * ChatDatasetBuilderFromComparisons' swap. */
#include "tinkerc/cookbook.h"

#include <stddef.h>

#define F(x) offsetof(tk_rm_config, sl.x)
#define OPT(n, t, f, d, h, ...) {.name = n, .type = t, .offset = F(f), .def = d, .help = h, __VA_ARGS__}

static const char *const k_schedules[] = {"linear", "cosine", "constant", NULL};
static const char *const k_logdir[] = {"ask", "resume", "delete", "raise", NULL};
static const char *const k_bad[] = {"skip", "raise", NULL};

const tk_opt tk_rm_options[] = {
    OPT("log_path", TK_OPT_STRING, log_path, NULL, "run directory: config.json, metrics.jsonl, checkpoints.jsonl (required)"),
    OPT("model_name", TK_OPT_STRING, model_name, NULL, "base model: a name the service knows, or a local model directory (required)"),
    OPT("load_checkpoint_path", TK_OPT_STRING, load_checkpoint_path, NULL, "tinker://.../weights/... to start from (weights only)", .nullable = true),
    OPT("renderer_name", TK_OPT_STRING, renderer_name, NULL, "chat format; default: the model's (qwen3 -> qwen3_disable_thinking, so the label is the first answer token)", .nullable = true),
    OPT("dataset", TK_OPT_STRING, dataset, NULL, "JSONL file of comparisons ({\"comparison\", \"label\"} or {\"prompt\", \"chosen\", \"rejected\"}) (required)"),
    {.name = "swap", .type = TK_OPT_BOOL, .offset = offsetof(tk_rm_config, swap), .def = "false",
     .help = "train both orders of every comparison (else each is swapped with probability 1/2)"},
    {.name = "score_comparisons", .type = TK_OPT_INT, .offset = offsetof(tk_rm_config, score_comparisons), .def = "32",
     .help = "after training, how many comparisons the final preference model scores against their labels (tinkerc; 0: none)"},
    OPT("test_size", TK_OPT_INT, test_size, "0", "examples held out for test/nll"),
    OPT("shuffle_seed", TK_OPT_INT, shuffle_seed, "0", "seed of the shuffle before the train/test split"),
    OPT("max_length", TK_OPT_INT, max_length, "8192", "longest rendered comparison in tokens", .nullable = true),
    OPT("batch_size", TK_OPT_INT, batch_size, "128", "comparisons per step"),
    OPT("learning_rate", TK_OPT_FLOAT, learning_rate, NULL, "peak LR; default: the cookbook's get_lr(model_name)", .nullable = true),
    OPT("lr_schedule", TK_OPT_CHOICE, lr_schedule, "linear", "LR decay over the run (no warmup)", .choices = k_schedules),
    OPT("num_epochs", TK_OPT_INT, num_epochs, "1", "passes over the training split"),
    OPT("max_steps", TK_OPT_INT, max_steps, NULL, "stop after this many steps in total", .nullable = true),
    OPT("lora_rank", TK_OPT_INT, lora_rank, "32", "LoRA rank"),
    OPT("seed", TK_OPT_INT, seed, NULL, "LoRA initialisation seed (tinkerc; default: the service's)", .nullable = true),
    OPT("base_url", TK_OPT_STRING, base_url, NULL, "service URL; default $TINKER_BASE_URL, the hosted service with $TINKER_API_KEY, else local", .nullable = true),
    OPT("save_every", TK_OPT_INT, save_every, "20", "state + sampler checkpoint every N steps (0: off)"),
    OPT("save_every_tokens", TK_OPT_INT, save_every_tokens, "0", "... and every N trained tokens (0: off)"),
    OPT("save_every_seconds", TK_OPT_FLOAT, save_every_seconds, "0", "... and every N seconds (0: off)"),
    OPT("eval_every", TK_OPT_INT, eval_every, "10", "test-set NLL every N steps, before the step (0: off)"),
    OPT("eval_at_end", TK_OPT_BOOL, eval_at_end, "true", "also evaluate after the last step (tinkerc)"),
    OPT("ttl_seconds", TK_OPT_INT, ttl_seconds, "604800", "lifetime of periodic checkpoints (the final one is kept)", .nullable = true),
    OPT("adam_beta1", TK_OPT_FLOAT, adam_beta1, "0.9", "Adam beta1"),
    OPT("adam_beta2", TK_OPT_FLOAT, adam_beta2, "0.95", "Adam beta2"),
    OPT("adam_eps", TK_OPT_FLOAT, adam_eps, "1e-8", "Adam epsilon"),
    OPT("submit_ahead", TK_OPT_INT, submit_ahead, "1", "steps submitted ahead of the one awaited (0: no pipelining)"),
    OPT("behavior_if_log_dir_exists", TK_OPT_CHOICE, behavior_if_log_dir_exists, "ask", "when log_path holds a run", .choices = k_logdir),
    OPT("on_bad_example", TK_OPT_CHOICE, on_bad_example, "skip", "a bad comparison is skipped and counted (as upstream), or fails the run (tinkerc)", .choices = k_bad),
    {.name = NULL},
};
