/* `tinkerc dpo` options: the cookbook's train_dpo.Config and train_dpo_cli defaults (learning
 * rate 1e-5, linear schedule, dpo_beta 0.1, batch_size 256, max_length 8192), the comparison
 * file's split, and the CLI's behavior_if_log_dir_exists. tinkerc's additions are marked. */
#include "tinkerc/cookbook.h"

#include <stddef.h>

#define F(x) offsetof(tk_dpo_config, x)
#define OPT(n, t, f, d, h, ...) {.name = n, .type = t, .offset = F(f), .def = d, .help = h, __VA_ARGS__}

static const char *const k_schedules[] = {"linear", "cosine", "constant", NULL};
static const char *const k_logdir[] = {"ask", "resume", "delete", "raise", NULL};
static const char *const k_bad[] = {"skip", "raise", NULL};

const tk_opt tk_dpo_options[] = {
    OPT("log_path", TK_OPT_STRING, log_path, NULL, "run directory: config.json, metrics.jsonl, checkpoints.jsonl (required)"),
    OPT("model_name", TK_OPT_STRING, model_name, NULL, "base model: a name the service knows, or a local model directory (required)"),
    OPT("load_checkpoint_path", TK_OPT_STRING, load_checkpoint_path, NULL, "tinker://.../weights/... to start from, typically an SFT run's (weights only)", .nullable = true),
    OPT("renderer_name", TK_OPT_STRING, renderer_name, NULL, "chat format; default: the model's recommended renderer", .nullable = true),
    OPT("dataset", TK_OPT_STRING, dataset, NULL, "JSONL file of comparisons ({\"comparison\", \"label\"} or {\"prompt\", \"chosen\", \"rejected\"}) (required)"),
    OPT("test_size", TK_OPT_INT, test_size, "0", "comparisons held out for test/dpo_loss, test/accuracy, test/margin"),
    OPT("shuffle_seed", TK_OPT_INT, shuffle_seed, "0", "seed of the shuffle before the train/test split"),
    OPT("max_length", TK_OPT_INT, max_length, "8192", "sequences are cut to this many tokens", .nullable = true),
    OPT("batch_size", TK_OPT_INT, batch_size, "256", "comparisons (chosen + rejected pairs) per step"),
    OPT("learning_rate", TK_OPT_FLOAT, learning_rate, "1e-5", "peak LR"),
    OPT("lr_schedule", TK_OPT_CHOICE, lr_schedule, "linear", "LR decay over the run (no warmup)", .choices = k_schedules),
    OPT("num_epochs", TK_OPT_INT, num_epochs, "1", "passes over the training split"),
    OPT("dpo_beta", TK_OPT_FLOAT, dpo_beta, "0.1", "DPO beta: loss = -log sigmoid(beta * (chosen - rejected log-ratio))"),
    OPT("max_steps", TK_OPT_INT, max_steps, NULL, "stop after this many steps in total", .nullable = true),
    OPT("lora_rank", TK_OPT_INT, lora_rank, "32", "LoRA rank"),
    OPT("seed", TK_OPT_INT, seed, NULL, "LoRA initialisation seed (tinkerc; default: the service's)", .nullable = true),
    OPT("base_url", TK_OPT_STRING, base_url, NULL, "service URL; default $TINKER_BASE_URL, the hosted service with $TINKER_API_KEY, else local", .nullable = true),
    OPT("reference_model_path", TK_OPT_STRING, reference_model_path, NULL, "tinker://.../sampler_weights/... of the reference (tinkerc; default: the starting weights)", .nullable = true),
    OPT("reference_concurrency", TK_OPT_INT, reference_concurrency, "64", "reference compute_logprobs requests in flight; 1: bit-for-bit repeatable on the local engine, whose concurrent requests share prefill batches (tinkerc)"),
    OPT("save_every", TK_OPT_INT, save_every, "20", "state + sampler checkpoint every N steps (0: off)"),
    OPT("eval_every", TK_OPT_INT, eval_every, "10", "test-pair DPO metrics every N steps, before the step (0: off)"),
    OPT("ttl_seconds", TK_OPT_INT, ttl_seconds, "604800", "lifetime of periodic checkpoints (the final one is kept)", .nullable = true),
    OPT("adam_beta1", TK_OPT_FLOAT, adam_beta1, "0.9", "Adam beta1"),
    OPT("adam_beta2", TK_OPT_FLOAT, adam_beta2, "0.95", "Adam beta2"),
    OPT("adam_eps", TK_OPT_FLOAT, adam_eps, "1e-8", "Adam epsilon"),
    OPT("behavior_if_log_dir_exists", TK_OPT_CHOICE, behavior_if_log_dir_exists, "ask", "when log_path holds a run", .choices = k_logdir),
    OPT("on_bad_example", TK_OPT_CHOICE, on_bad_example, "skip", "a bad comparison is skipped and counted (as upstream), or fails the run (tinkerc)", .choices = k_bad),
    {.name = NULL},
};
