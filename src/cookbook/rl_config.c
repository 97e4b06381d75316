/* `tinkerc rl` options: the cookbook's rl/train.py Config, the math_rl recipe's CLI (env,
 * group_size, groups_per_batch, max_tokens, learning_rate 1e-5) and the CLI's
 * behavior_if_log_dir_exists, with their names and defaults. tinkerc's additions are marked. */
#include "tinkerc/rl.h"

#include <stddef.h>

#define F(x) offsetof(tk_rl_config, x)
#define OPT(n, t, f, d, h, ...) {.name = n, .type = t, .offset = F(f), .def = d, .help = h, __VA_ARGS__}

static const char *const k_losses[] = {"importance_sampling", "ppo", "cispo", "dro", NULL};
static const char *const k_logdir[] = {"ask", "resume", "delete", "raise", NULL};

const tk_opt tk_rl_options[] = {
    OPT("log_path", TK_OPT_STRING, log_path, NULL, "run directory: config.json, metrics.jsonl, checkpoints.jsonl, iteration_*/ (required)"),
    OPT("model_name", TK_OPT_STRING, model_name, NULL, "base model: a name the service knows, or a local model directory (required)"),
    OPT("load_checkpoint_path", TK_OPT_STRING, load_checkpoint_path, NULL, "tinker://.../weights/... to start from (an SFT run's final state)", .nullable = true),
    OPT("renderer_name", TK_OPT_STRING, renderer_name, NULL, "chat format; default: the model's recommended renderer", .nullable = true),
    OPT("env", TK_OPT_STRING, env, "arithmetic", "environment: arithmetic, math, gsm8k, guess_number, or one a program registered"),
    OPT("dataset", TK_OPT_STRING, dataset, NULL, "problem file for env=math / gsm8k (JSONL)", .nullable = true),
    OPT("group_size", TK_OPT_INT, group_size, "4", "rollouts per problem (advantages are centred within a group)"),
    OPT("groups_per_batch", TK_OPT_INT, groups_per_batch, "100", "problems per batch (one optimizer step, or num_substeps)"),
    OPT("n_batches", TK_OPT_INT, n_batches, NULL, "batches of a generated env (arithmetic 100, guess_number 50)", .nullable = true),
    OPT("num_epochs", TK_OPT_INT, num_epochs, "1", "passes over a problem file (tinkerc)"),
    OPT("max_steps", TK_OPT_INT, max_steps, NULL, "stop after this many batches in total", .nullable = true),
    OPT("learning_rate", TK_OPT_FLOAT, learning_rate, "1e-5", "constant learning rate"),
    OPT("max_tokens", TK_OPT_INT, max_tokens, NULL, "tokens per sampled turn; default: the env's (arithmetic 5, math/gsm8k 512, guess_number 8)", .nullable = true),
    OPT("temperature", TK_OPT_FLOAT, temperature, "1.0", "sampling temperature"),
    OPT("loss_fn", TK_OPT_CHOICE, loss_fn, "importance_sampling", "policy loss", .choices = k_losses),
    OPT("loss_fn_config", TK_OPT_STRING, loss_fn_config, NULL, "loss config: key=value,... or a JSON object (ppo/cispo: clip_low_threshold, clip_high_threshold; dro: beta)", .nullable = true),
    OPT("num_substeps", TK_OPT_INT, num_substeps, "1", "optimizer steps per batch (the batch split in near-equal parts)"),
    OPT("kl_penalty_coef", TK_OPT_FLOAT, kl_penalty_coef, "0.0", "KL penalty against the reference model, folded into the advantages"),
    OPT("kl_discount_factor", TK_OPT_FLOAT, kl_discount_factor, "0.0", "discount of the KL penalty's future sum (0: per token)"),
    OPT("kl_reference_model", TK_OPT_STRING, kl_reference_model, NULL, "the KL reference: sampler weights (tinker://...) or a base model; default the base model", .nullable = true),
    OPT("remove_constant_reward_groups", TK_OPT_BOOL, remove_constant_reward_groups, "false", "drop groups whose rewards are all equal"),
    OPT("rollout_error_tolerance", TK_OPT_FLOAT, rollout_error_tolerance, "0", "fraction of a batch's groups that may fail and be dropped (0: the first failure stops the run)"),
    OPT("max_steps_off_policy", TK_OPT_INT, max_steps_off_policy, NULL, "asynchronous mode: train on groups sampled up to this many steps ago (none: synchronous)", .nullable = true),
    OPT("max_turns", TK_OPT_INT, max_turns, "10", "rollout limit on turns (multi-turn envs)"),
    OPT("max_trajectory_tokens", TK_OPT_INT, max_trajectory_tokens, "32768", "an observation + max_tokens must fit: a longer prompt is a counted skip", .nullable = true),
    OPT("max_operand", TK_OPT_INT, max_operand, "100", "arithmetic: x, y drawn from [0, max_operand]"),
    OPT("max_number", TK_OPT_INT, max_number, "100", "guess_number: the secret is in [1, max_number]"),
    OPT("fewshot", TK_OPT_BOOL, fewshot, "true", "prefix the standard one-example conversation (arithmetic, math, gsm8k)"),
    OPT("format_coef", TK_OPT_FLOAT, format_coef, "0.1", "reward = format_coef * (format - 1) + correct"),
    OPT("lora_rank", TK_OPT_INT, lora_rank, "32", "LoRA rank"),
    OPT("seed", TK_OPT_INT, seed, "0", "seed of the problems, the sampling and the LoRA initialisation (tinkerc)"),
    OPT("sampling_concurrency", TK_OPT_INT, sampling_concurrency, "0", "sample and KL-reference requests in flight (0: a whole turn at once); 1: bit-for-bit repeatable on the local engine, whose concurrent requests share decode batches (tinkerc)"),
    OPT("base_url", TK_OPT_STRING, base_url, NULL, "service URL; default $TINKER_BASE_URL, the hosted service with $TINKER_API_KEY, else local", .nullable = true),
    OPT("save_every", TK_OPT_INT, save_every, "20", "state + sampler checkpoint every N batches (0: off)"),
    OPT("ttl_seconds", TK_OPT_INT, ttl_seconds, "604800", "lifetime of periodic checkpoints (the final one is kept)", .nullable = true),
    OPT("num_groups_to_log", TK_OPT_INT, num_groups_to_log, "4", "groups shown in each iteration's train.html"),
    OPT("rollout_json_export", TK_OPT_BOOL, rollout_json_export, "true", "write iteration_NNNNNN/train_rollout_summaries.jsonl and train.html"),
    OPT("adam_beta1", TK_OPT_FLOAT, adam_beta1, "0.9", "Adam beta1"),
    OPT("adam_beta2", TK_OPT_FLOAT, adam_beta2, "0.95", "Adam beta2"),
    OPT("adam_eps", TK_OPT_FLOAT, adam_eps, "1e-8", "Adam epsilon"),
    OPT("behavior_if_log_dir_exists", TK_OPT_CHOICE, behavior_if_log_dir_exists, "ask", "when log_path holds a run", .choices = k_logdir),
    {.name = NULL},
};
