/*
 * tinkerc/rl.h — reinforcement learning in the cookbook layer (the Python cookbook's rl/ package,
 * reference/cookbook.md §5): environments, group rollouts, advantages, datums, the KL metrics,
 * and `tinkerc rl`'s training loop. docs/rl.md is the user guide (and says how to add an
 * environment: one C file).
 *
 * The pieces, as upstream:
 *   tk_rl_env            one episode (single use): initial observation, then step(action) ->
 *                        reward, done, next observation, metrics
 *   tk_rl_group_builder  makes the G envs of one group (GRPO's group) and optionally gives
 *                        group-level rewards once their trajectories are known
 *   tk_rl_dataset        batch i -> the group builders of that batch
 *   tk_rl_policy         what produces actions: the sampling client (tk_rl_policy_sampling) or a
 *                        test double; requests are submitted in bulk so groups roll out at once
 *
 * Ownership: every object is created by a constructor and freed by its ops->free (NULL is fine
 * for every *_free). Observations and actions are token ids (int32). Trajectories own their
 * vectors (tk_rl_trajectory_free).
 * Errors: every fallible function returns 0 or a negative TK_E… and fills e.
 * Thread safety: envs, builders and datasets belong to one thread at a time; the rollout
 * functions run envs on the caller's thread.
 */
#ifndef TINKERC_RL_H
#define TINKERC_RL_H

#include "tinkerc/base.h"
#include "tinkerc/client.h"
#include "tinkerc/cookbook.h"
#include "tinkerc/renderers.h"
#include "tinkerc/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

struct json_t;

/* ============================================================================================= */
/* Types (rl/types.py)                                                                           */
/* ============================================================================================= */

#define TK_RL_MAX_METRICS 8

/* A named number an env reports for a step ("correct", "format"). key is a static string. */
typedef struct tk_rl_metric {
    const char *key;
    double value;
} tk_rl_metric;

/* Why a trajectory ended (upstream's StopReason; recorded as one-hot env/all/stop/<name>). */
typedef enum {
    TK_RL_STOP_COMPLETED = 0,      /* the env said done */
    TK_RL_STOP_MAX_TURNS,          /* the rollout limit on turns */
    TK_RL_STOP_MAX_TOKENS,         /* the last action hit max_tokens and the env ended it */
    TK_RL_STOP_CONTEXT_OVERFLOW,   /* the next observation + max_tokens would not fit */
    TK_RL_STOP_COUNT_,
} tk_rl_stop_reason;
const char *tk_rl_stop_reason_name(tk_rl_stop_reason r);

/* What env->step returns. The rollout zeroes it before the call and frees next_ob and log. */
typedef struct tk_rl_step_result {
    double reward;
    bool episode_done;
    tk_vec_i32 next_ob;               /* the whole next observation (not a delta) unless done */
    tk_rl_metric metrics[TK_RL_MAX_METRICS];
    size_t n_metrics;
    bool parse_error_masked;          /* train nothing on this turn (advantage and mask 0) */
    tk_buf log;                       /* free text for the reports (the parsed answer, ...) */
} tk_rl_step_result;

/* Add a metric to r (ignored beyond TK_RL_MAX_METRICS). */
void tk_rl_step_metric(tk_rl_step_result *r, const char *key, double value);

typedef struct tk_rl_env tk_rl_env;
typedef struct tk_rl_env_ops {
    /* Append the first observation's tokens to ob. */
    int (*initial_observation)(tk_rl_env *env, tk_vec_i32 *ob, tk_err *e);
    /* Take the sampled action (tokens, the stop token included when it was sampled) and how
     * sampling ended; fill out. A reward must be finite (the rollout checks). */
    int (*step)(tk_rl_env *env, const int32_t *action, size_t n, tk_wire_stop_reason how,
                tk_rl_step_result *out, tk_err *e);
    void (*free)(tk_rl_env *env);
} tk_rl_env_ops;
/* Embed as the first member of an env's own struct. */
struct tk_rl_env {
    const tk_rl_env_ops *ops;
};

/* One step of a trajectory. */
typedef struct tk_rl_transition {
    tk_vec_i32 ob;                    /* the observation the action answered (whole) */
    tk_vec_i32 ac;                    /* sampled tokens */
    tk_vec_f32 ac_logprobs;           /* the sampler's logprob of each */
    double reward;
    bool episode_done;
    bool parse_error_masked;
    tk_rl_metric metrics[TK_RL_MAX_METRICS];
    size_t n_metrics;
    char *log;                        /* malloc'd or NULL */
} tk_rl_transition;

typedef struct tk_rl_trajectory {
    TK_VEC(tk_rl_transition) t;
    tk_vec_i32 final_ob;
    tk_rl_stop_reason stop_reason;
} tk_rl_trajectory;
void tk_rl_trajectory_free(tk_rl_trajectory *t);
/* Σ step rewards (the group reward is added by the group). */
double tk_rl_trajectory_reward(const tk_rl_trajectory *t);

/* A rolled-out group: G trajectories, their group rewards, and where it came from. */
typedef struct tk_rl_group {
    tk_rl_trajectory *traj;
    size_t n;
    double *final_rewards;            /* n group rewards (0 unless the builder gives some) */
    char *tag;                        /* the builder's logging tag ("arithmetic"), malloc'd */
    int64_t sampler_step;             /* the weights it was sampled with (async mode) */
    int64_t batch;                    /* the dataset batch it came from */
    size_t index;                     /* its index in that batch */
} tk_rl_group;
void tk_rl_group_free(tk_rl_group *g);
/* Total reward of trajectory i: Σ step rewards + final_rewards[i]. */
double tk_rl_group_total_reward(const tk_rl_group *g, size_t i);

typedef struct tk_rl_group_builder tk_rl_group_builder;
typedef struct tk_rl_group_builder_ops {
    /* Make the group's envs: *n of them in a malloc'd array (the caller frees the array and each
     * env). */
    int (*make_envs)(tk_rl_group_builder *b, tk_rl_env ***envs, size_t *n, tk_err *e);
    /* Optional (NULL: zeros): one reward per trajectory once the group is complete. */
    int (*group_rewards)(tk_rl_group_builder *b, const tk_rl_trajectory *traj, size_t n,
                         double *rewards, tk_err *e);
    /* Logging tag (static or owned by b). */
    const char *(*tag)(const tk_rl_group_builder *b);
    void (*free)(tk_rl_group_builder *b);
} tk_rl_group_builder_ops;
struct tk_rl_group_builder {
    const tk_rl_group_builder_ops *ops;
};

typedef struct tk_rl_dataset tk_rl_dataset;
typedef struct tk_rl_dataset_ops {
    int64_t (*n_batches)(const tk_rl_dataset *d);
    /* The builders of batch i (0 <= i < n_batches): a malloc'd array of *n (the caller frees
     * the array and each builder). Deterministic in i. */
    int (*get_batch)(tk_rl_dataset *d, int64_t i, tk_rl_group_builder ***out, size_t *n,
                     tk_err *e);
    void (*free)(tk_rl_dataset *d);
} tk_rl_dataset_ops;
struct tk_rl_dataset {
    const tk_rl_dataset_ops *ops;
};

/* ============================================================================================= */
/* Environments: ProblemEnv and the built-in ones                                                */
/* ============================================================================================= */

/* A single-turn question -> answer env (problem_env.py): the prompt is fewshot + the question as
 * a user message; the response is parsed with the renderer; well_formed = it ended with the
 * renderer's stop sequence; format = well_formed && check_format(text); correct =
 * check_answer(text, answer); reward = format_coef·(format − 1) + correct. Metrics "format",
 * "correct". */
typedef struct tk_rl_problem_spec {
    const tk_renderer *renderer;      /* borrowed; outlives the env */
    const tk_message *fewshot;        /* borrowed; may be NULL */
    size_t n_fewshot;
    const char *question;             /* copied */
    const char *answer;               /* copied */
    bool (*check_format)(const char *response);                     /* NULL: always true */
    bool (*check_answer)(const char *response, const char *answer); /* required */
    double format_coef;               /* 0.1 upstream */
} tk_rl_problem_spec;
int tk_rl_problem_env_new(const tk_rl_problem_spec *s, tk_rl_env **out, tk_err *e);

/* A builder of `group_size` copies of one problem env, tagged `tag`. Takes a copy of spec. */
int tk_rl_problem_group_new(const tk_rl_problem_spec *s, size_t group_size, const char *tag,
                            tk_rl_group_builder **out, tk_err *e);

/* Graders, usable by any env. */
/* The last integer written in text (an optional '-' then digits), or false when there is none. */
bool tk_rl_last_integer(const char *text, long long *out);
/* The content of the last \boxed{...} in text (braces balanced) into out (appended); false when
 * there is none or it is unterminated. "\boxed 5" (no braces) counts too, as upstream. */
bool tk_rl_extract_boxed(const char *text, tk_buf *out);
/* Normalise a math answer for exact matching: strip spaces, $, \left/\right, \!, "\text{..}"
 * wrappers, a trailing '.', degree marks; \dfrac/\tfrac -> \frac; "{,}" and thousands commas
 * in numbers removed. Appends to out. */
void tk_rl_normalize_answer(const char *s, tk_buf *out);
/* Equal after normalisation, or both numbers (integers, decimals, a/b, \frac{a}{b}) within
 * 1e-6 relative. */
bool tk_rl_answers_match(const char *given, const char *expected);

/* The built-in envs, each a dataset of groups (env_*.c). */
typedef struct tk_rl_env_config {
    const char *env;                  /* "arithmetic", "math", "gsm8k", "guess_number" */
    const char *dataset;              /* JSONL for math / gsm8k */
    int64_t group_size;
    int64_t groups_per_batch;
    int64_t n_batches;                /* arithmetic / guess_number; <= 0: the env's default */
    int64_t num_epochs;               /* file datasets */
    uint64_t seed;
    double format_coef;
    bool fewshot;                     /* the standard few-shot prefix (upstream's convo_prefix) */
    int64_t max_operand;              /* arithmetic: x, y in [0, max_operand] (100 upstream) */
    int64_t max_number;               /* guess_number: the secret is in [1, max_number] */
    int64_t max_turns;                /* guess_number */
    const tk_renderer *renderer;      /* borrowed */
} tk_rl_env_config;

/* Make the dataset named cfg->env (a built-in or a registered one). A bad file (missing answer,
 * malformed line, empty) is TK_EINVAL / TK_EPARSE naming file:line; an unknown env lists the
 * known ones. */
int tk_rl_dataset_new(const tk_rl_env_config *cfg, tk_rl_dataset **out, tk_err *e);
/* NULL-terminated names of the built-in envs. */
const char *const *tk_rl_env_names(void);
/* The env's own default max_tokens per sample (arithmetic 5, as upstream's recipe; 256 for an
 * unknown name). */
int64_t tk_rl_env_default_max_tokens(const char *env);

/* A dataset constructor: reads what it needs from c (c->renderer is set; c->dataset may be
 * NULL), returns a dataset whose ops are all set. */
typedef int (*tk_rl_dataset_ctor)(const tk_rl_env_config *c, tk_rl_dataset **out, tk_err *e);
/* Make `name` usable as env=name (tk_rl_dataset_new, tk_rl_train, `tinkerc rl` in a program
 * that registers it): the way to add an environment without changing tinkerc. The name is
 * copied. TK_EEXIST for a name already known (built-ins included); at most 32 registrations.
 * Thread-safe. */
int tk_rl_env_register(const char *name, tk_rl_dataset_ctor make, int64_t default_max_tokens, tk_err *e);

/* Constructors of the built-in datasets (tk_rl_dataset_new dispatches). */
int tk_rl_arithmetic_dataset_new(const tk_rl_env_config *c, tk_rl_dataset **out, tk_err *e);
int tk_rl_math_dataset_new(const tk_rl_env_config *c, tk_rl_dataset **out, tk_err *e);
int tk_rl_gsm8k_dataset_new(const tk_rl_env_config *c, tk_rl_dataset **out, tk_err *e);
int tk_rl_guess_number_dataset_new(const tk_rl_env_config *c, tk_rl_dataset **out, tk_err *e);

/* ============================================================================================= */
/* Rollouts (rollouts.py)                                                                        */
/* ============================================================================================= */

/* One sampled continuation. */
typedef struct tk_rl_sample {
    tk_vec_i32 tokens;
    tk_vec_f32 logprobs;
    tk_wire_stop_reason stop_reason;
} tk_rl_sample;

/* One request to a policy: `num_samples` continuations of ob. The policy fills samples[0..
 * num_samples) (zeroed by the caller, freed by the caller) or sets rc/err for this request alone. */
typedef struct tk_rl_sample_request {
    const int32_t *ob;
    size_t n_ob;
    size_t num_samples;
    uint64_t seed;                    /* per request, derived from the run seed */
    tk_rl_sample *samples;
    int rc;
    tk_err err;
} tk_rl_sample_request;

/* A policy answers many requests at once (the sampling client submits them all, then waits).
 * Returns nonzero only for a failure of the whole call; per-request failures go in req->rc. */
typedef struct tk_rl_policy {
    int (*sample)(void *ctx, tk_rl_sample_request *reqs, size_t n, tk_err *e);
    void *ctx;
} tk_rl_policy;

/* The sampling client as a policy: max_tokens, temperature and the renderer's stop sequences.
 * Fill with tk_rl_policy_sampling_init; the struct must outlive the policy's use. */
typedef struct tk_rl_sampling_policy {
    tk_client_sampling *sampler;      /* borrowed */
    const tk_renderer *renderer;      /* borrowed: stop sequences */
    int64_t max_tokens;
    double temperature;
    double timeout_s;                 /* per request; < 0: none */
    size_t max_in_flight;             /* sample requests in flight; 0: all of a turn at once. 1 makes
                                       * the local engine bit-for-bit repeatable: it batches concurrent
                                       * requests as they arrive, and the batch shape moves the last
                                       * float bits of the logits, so sampling can differ */
} tk_rl_sampling_policy;
tk_rl_policy tk_rl_policy_sampling(tk_rl_sampling_policy *p);

/* Limits of a rollout (RolloutLimits, the part tinkerc implements). */
typedef struct tk_rl_rollout_limits {
    int64_t max_turns;                /* <= 0: none */
    int64_t max_tokens;               /* per sample: used for the context check */
    int64_t max_trajectory_tokens;    /* observation + max_tokens must fit; <= 0: no check */
} tk_rl_rollout_limits;

/* What happened to a group (do_group_rollout; fail-fast per group). */
typedef enum {
    TK_RL_GROUP_OK = 0,
    TK_RL_GROUP_FAILED,               /* a rollout failed (sampling error, env error, NaN reward):
                                         *err says which */
    TK_RL_GROUP_SKIPPED_CONTEXT,      /* the initial observation does not fit: skipped, counted */
} tk_rl_group_status;

typedef struct tk_rl_group_outcome {
    tk_rl_group_status status;
    tk_rl_group group;                /* filled when OK (tk_rl_group_free) */
    tk_err err;
} tk_rl_group_outcome;

/* Roll out every builder's group at once: each turn, every live env's observation goes to the
 * policy in one call (envs of a group whose first observations are equal share one request
 * with num_samples = G, upstream's num_samples per prompt); then group rewards. seed makes the
 * per-request seeds. out[i] (zeroed by the caller) gets builder i's outcome. Returns nonzero
 * only when the policy call as a whole fails (or out of memory). */
int tk_rl_rollout_groups(tk_rl_group_builder *const *builders, size_t n, const tk_rl_policy *policy,
                         const tk_rl_rollout_limits *limits, uint64_t seed,
                         tk_rl_group_outcome *out, tk_err *e);

/* ============================================================================================= */
/* Advantages, datums, KL (data_processing.py, metrics.py)                                       */
/* ============================================================================================= */

/* A_i = R_i − mean(R) within the group (total rewards; no std or length normalisation).
 * adv gets g->n values. */
void tk_rl_compute_advantages(const tk_rl_group *g, double *adv);
/* True when every total reward of the group is equal. */
bool tk_rl_group_is_constant(const tk_rl_group *g);

/* A datum for the RL losses plus its mask (for metrics, never sent). Everything in arena a. */
typedef struct tk_rl_datum {
    tk_wire_datum datum;              /* loss_fn_inputs: target_tokens, logprobs, advantages */
    float *mask;                      /* 1 on action tokens (after the shift), else 0 */
    size_t n;                         /* positions */
    size_t group, traj;               /* where it came from (assemble_training_data) */
} tk_rl_datum;
typedef TK_VEC(tk_rl_datum) tk_rl_datums;

/* trajectory_to_data: one datum per run of transitions whose observations extend the sequence
 * so far (the whole trajectory when the renderer has the extension property), else a new datum
 * per turn; observation-delta tokens get logprob 0, advantage 0, mask 0; action tokens the
 * sampled logprobs, advantage adv and mask 1 (all 0 when parse_error_masked); then the right
 * shift (input = all but the last token; targets, logprobs, advantages, mask = all but the
 * first). Sequences shorter than 2 tokens make no datum. Appends to out. */
int tk_rl_trajectory_to_data(const tk_rl_trajectory *t, double adv, size_t group, size_t traj,
                             tk_arena *a, tk_rl_datums *out, tk_err *e);

/* The KL and entropy metrics over action tokens (mask > 0): d = logp_sampling − logp_training,
 * v1 = mean(d), v2 = 0.5·mean(d²), entropy = −mean(logp_sampling). training[i] has data[i].n
 * values. NaN when there are no action tokens. */
typedef struct tk_rl_kl_metrics {
    double kl_v1, kl_v2, entropy;
} tk_rl_kl_metrics;
void tk_rl_kl_sample_train(const tk_rl_datum *data, size_t n, const float *const *training,
                           tk_rl_kl_metrics *out);

/* incorporate_kl_penalty: d_t = (logp_sampled − logp_base)·mask, avg = Σd/Σmask over the batch;
 * advantages += coef·mask·(avg − d_t), replaced by its discounted future sum when discount > 0.
 * base[i] has data[i].n values (the base model's logprob of each target). *kl_avg gets avg.
 * Edits the datums' advantages in place. */
void tk_rl_apply_kl_penalty(tk_rl_datum *data, size_t n, const float *const *base, double coef,
                            double discount, double *kl_avg);

/* ============================================================================================= */
/* Trajectory metrics (compute_trajectory_metrics)                                               */
/* ============================================================================================= */

/* Add env/all/... metrics of groups to obj: ac_tokens_per_turn, ob_tokens_per_turn,
 * turns_per_episode, total_episodes, total_turns, total_ac_tokens, total_ob_tokens, reward/total,
 * the mean of every step metric (correct, format, ...), stop/<reason>, by_group/frac_mixed,
 * by_group/frac_all_good (all equal and >= 0.5), by_group/frac_all_bad. Empty input adds
 * nothing. */
int tk_rl_trajectory_metrics(const tk_rl_group *groups, size_t n, struct json_t *obj, tk_err *e);

/* ============================================================================================= */
/* Reports: rollout summaries (JSONL) and an HTML page of a few groups                           */
/* ============================================================================================= */

/* Write dir/train_rollout_summaries.jsonl (schema_version 1, one line per trajectory) and
 * dir/train.html (the first max_html groups: prompt, completions, rewards, advantages), both
 * atomically. tok decodes tokens for the page. */
int tk_rl_write_reports(const char *dir, int64_t iteration, const tk_rl_group *groups, size_t n,
                        const struct tk_tokenizer *tok, size_t max_html, tk_err *e);

/* ============================================================================================= */
/* The recipe: `tinkerc rl`                                                                      */
/* ============================================================================================= */

typedef struct tk_rl_config {
    char *log_path;
    char *model_name;
    char *load_checkpoint_path;
    char *renderer_name;
    char *env;
    char *dataset;
    int64_t group_size;
    int64_t groups_per_batch;
    int64_t n_batches;
    int64_t num_epochs;
    int64_t max_steps;
    double learning_rate;
    int64_t max_tokens;               /* TK_OPT_UNSET_INT: the env's default */
    double temperature;
    char *loss_fn;
    char *loss_fn_config;             /* "key=value,key=value" or a JSON object */
    int64_t num_substeps;
    double kl_penalty_coef;
    double kl_discount_factor;
    char *kl_reference_model;         /* default: the base model */
    bool remove_constant_reward_groups;
    double rollout_error_tolerance;
    int64_t max_steps_off_policy;     /* TK_OPT_UNSET_INT: synchronous */
    int64_t max_turns;
    int64_t max_trajectory_tokens;
    int64_t max_operand;
    int64_t max_number;
    bool fewshot;
    double format_coef;
    int64_t lora_rank;
    int64_t seed;
    int64_t sampling_concurrency;     /* sample / compute_logprobs requests in flight (0: all) */
    char *base_url;
    int64_t save_every;
    int64_t ttl_seconds;
    int64_t num_groups_to_log;
    bool rollout_json_export;
    double adam_beta1, adam_beta2, adam_eps;
    char *behavior_if_log_dir_exists;
} tk_rl_config;

/* The option table (names, types, defaults, help) for tk_opts_*; docs/rl.md lists them. */
extern const tk_opt tk_rl_options[];

/* What a finished tk_rl_train did. Strings are owned (tk_rl_result_free). */
typedef struct tk_rl_result {
    int64_t start_batch, end_batch, total_batches;
    bool already_complete;
    double seconds;
    double first_reward, last_reward;         /* env/all/reward/total, first and last rows */
    double first_correct, last_correct;       /* env/all/correct (NaN when the env has none) */
    int64_t failed_groups, skipped_groups, stale_groups;
    char *state_path, *sampler_path, *log_path;
} tk_rl_result;
void tk_rl_result_free(tk_rl_result *r);

/* The cookbook's RL loop (rl/train.py): for each batch, group rollouts with the current weights
 * (synchronous), or with weights at most max_steps_off_policy steps old (asynchronous: the next
 * batch rolls out while this one trains, stale groups are dropped); advantages and datums; the
 * optional KL penalty against the reference model; num_substeps forward_backward + optim_step
 * pairs with loss_fn (pipelined); the KL metrics; a checkpoint every save_every batches (the
 * record names the next batch) and at the end; metrics.jsonl; rollout summaries and an HTML
 * page per iteration under log_path/iteration_NNNNNN/. Bad input fails before log_path is
 * touched. */
int tk_rl_train(const tk_rl_config *cfg, tk_rl_result *res, tk_err *e);
#ifdef __cplusplus
}
#endif
#endif /* TINKERC_RL_H */
