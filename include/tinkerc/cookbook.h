/*
 * tinkerc/cookbook.h — the client-side recipes: configuration, hyperparameters, learning-rate
 * schedules, run logging (config.json, metrics.jsonl, checkpoints.jsonl), and plots.
 * The training loops (supervised, DPO, RL) build on these.
 *
 * Behaviour mirrors the Python tinker-cookbook: option names and defaults, file formats and the
 * get_lr formula are the cookbook's (see docs/sl.md for the list).
 */
#ifndef TINKERC_COOKBOOK_H
#define TINKERC_COOKBOOK_H

#include "tinkerc/base.h"
#include "tinkerc/client.h"
#include "tinkerc/renderers.h"
#include "tinkerc/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

struct json_t;

/* ============================================================================================= */
/* Options: key=value arguments and JSON config files mapped onto a C struct                     */
/* ============================================================================================= */

typedef enum {
    TK_OPT_STRING,  /* char *, owned by the struct (freed by tk_opts_free); NULL = unset */
    TK_OPT_INT,     /* int64_t; TK_OPT_UNSET_INT = unset ("none") */
    TK_OPT_FLOAT,   /* double; NAN = unset ("none") */
    TK_OPT_BOOL,    /* bool: true/false/1/0/yes/no */
    TK_OPT_CHOICE,  /* char *, one of `choices` */
} tk_opt_type;

#define TK_OPT_UNSET_INT INT64_MIN

typedef struct tk_opt {
    const char *name;
    tk_opt_type type;
    size_t offset;                /* offsetof(config struct, field) */
    const char *def;              /* default in text form; NULL = unset */
    const char *help;             /* one line for --help */
    const char *const *choices;   /* TK_OPT_CHOICE: NULL-terminated list */
    bool nullable;                /* "none"/"null" is accepted and means unset */
} tk_opt;

/* Set every option of cfg to its default. The table ends with an entry whose name is NULL. */
int tk_opts_defaults(const tk_opt *opts, void *cfg, tk_err *e);
/* Apply one "key=value". Unknown keys are TK_EINVAL with a suggestion when one is close. */
int tk_opts_set(const tk_opt *opts, void *cfg, const char *key, const char *value, tk_err *e);
/* Apply a JSON object (a config file, or a run's config.json). Keys must be known options; values
 * may be strings or JSON numbers/booleans/null. `what` names the source in errors. */
int tk_opts_apply_json(const tk_opt *opts, void *cfg, const struct json_t *obj, const char *what,
                       tk_err *e);
/* Parse argv: every argument is key=value; `config=FILE` (JSON) is applied first wherever it
 * appears so command-line keys override the file. Anything else is TK_EINVAL naming it. */
int tk_opts_parse_args(const tk_opt *opts, void *cfg, int argc, char **argv, tk_err *e);
/* The current values as a JSON object (new reference; unset values are null). */
struct json_t *tk_opts_to_json(const tk_opt *opts, const void *cfg);
/* "  name=<default>   help" lines. */
void tk_opts_usage(const tk_opt *opts, FILE *out);
/* Free the strings the options own and reset them to NULL. */
void tk_opts_free(const tk_opt *opts, void *cfg);

/* ============================================================================================= */
/* Hyperparameters and schedules                                                                 */
/* ============================================================================================= */

/* Hidden size of a model the cookbook knows by name ("Qwen/Qwen3-8B"; a ":suffix" is ignored),
 * or 0. */
int64_t tk_model_hidden_size(const char *model_name);

/* The cookbook's recommended learning rate:
 *   lr = 5e-5 · (10 if LoRA) · (2000 / hidden_size)^e,  e = 0.781 for Llama, 0.0775 for Qwen.
 * hidden_size 0 means "look the model up by name". family_hint ("llama", "qwen3", or NULL) names
 * the family when model_name does not (a local model directory); it comes from config.json's
 * model_type. Families without a formula are TK_EUNSUPPORTED naming the model. */
int tk_get_lr(const char *model_name, const char *family_hint, int64_t hidden_size, bool is_lora,
              double *lr_out, tk_err *e);

typedef enum { TK_LR_LINEAR, TK_LR_COSINE, TK_LR_CONSTANT } tk_lr_schedule;

/* Parse "linear" | "cosine" | "constant". */
int tk_lr_schedule_parse(const char *name, tk_lr_schedule *out, tk_err *e);
/* Multiplier at step of total_steps: linear 1 − step/total; cosine 0.5·(1 + cos(π·step/total));
 * constant 1. No warmup (as upstream). */
double tk_lr_multiplier(tk_lr_schedule s, int64_t step, int64_t total_steps);

/* ============================================================================================= */
/* Run directories: config.json, metrics.jsonl, checkpoints.jsonl                                */
/* ============================================================================================= */

/* What to do when log_path already holds a run (as the cookbook's check_log_dir). */
typedef enum {
    TK_LOGDIR_RESUME,  /* continue from its last checkpoint */
    TK_LOGDIR_DELETE,  /* remove it and start over */
    TK_LOGDIR_ASK,     /* ask on a terminal; without one, behave like RAISE */
    TK_LOGDIR_RAISE,   /* refuse with an error */
} tk_logdir_behavior;

int tk_logdir_behavior_parse(const char *name, tk_logdir_behavior *out, tk_err *e);

/* What tk_logdir_check decided for log_path. */
typedef enum {
    TK_LOGDIR_NEW,       /* nothing there (or an empty directory): start a run */
    TK_LOGDIR_CONTINUE,  /* a run is there and is to be continued */
    TK_LOGDIR_REPLACE,   /* a run is there and is to be deleted before starting over */
} tk_logdir_action;

/* Decide what to do with log_path without changing anything on disk: a path that holds a run (a
 * metrics.jsonl or checkpoints.jsonl) gets `behavior` (ASK asks on `in`/`out`, NULL: stdin/
 * stderr, and without a terminal behaves like RAISE). TK_EEXIST for RAISE on an existing run,
 * TK_EINVAL when log_path is a file. */
int tk_logdir_check(const char *log_path, tk_logdir_behavior behavior, FILE *in, FILE *out,
                    tk_logdir_action *action, tk_err *e);

/* Prepare log_path. If it holds a run (a metrics.jsonl or checkpoints.jsonl), apply `behavior`.
 * *resuming is set when the existing run is to be continued. `in`/`out` are the terminal for ASK
 * (NULL: stdin/stderr). Creates the directory when missing. */
int tk_logdir_prepare(const char *log_path, tk_logdir_behavior behavior, FILE *in, FILE *out,
                      bool *resuming, tk_err *e);

/* Write log_path/config.json atomically (pretty-printed, keys in option order). */
int tk_runlog_write_config(const char *log_path, const struct json_t *config, tk_err *e);

/* Append {"step": step, ...metrics} as one line of log_path/metrics.jsonl (fsync'd). */
int tk_runlog_append_metrics(const char *log_path, int64_t step, const struct json_t *metrics,
                             tk_err *e);

/* Append one record to log_path/checkpoints.jsonl. A record carries "name" and any of "epoch",
 * "batch", "final", "state_path", "sampler_path", plus loop-state keys. */
int tk_runlog_append_checkpoint(const char *log_path, const struct json_t *record, tk_err *e);

/* The last record of log_path/checkpoints.jsonl that has `required_key` (e.g. "state_path"), as a
 * new reference in *out, or *out = NULL when there is none (or no file). A torn last line (a crash
 * mid-write) is skipped with a warning; a malformed line elsewhere is TK_EPARSE with its line. */
int tk_runlog_last_checkpoint(const char *log_path, const char *required_key,
                              struct json_t **out, tk_err *e);

/* Read every metrics.jsonl row (array of objects, new reference). Torn last line skipped. */
int tk_runlog_read_metrics(const char *log_path, struct json_t **rows_out, tk_err *e);

/* Rewrite log_path/metrics.jsonl atomically without the rows whose "step" is >= first_step (and
 * without a torn last line): a resumed run regenerates those steps. *dropped (may be NULL)
 * receives the number of rows removed. No file is fine. */
int tk_runlog_truncate_metrics(const char *log_path, int64_t first_step, size_t *dropped,
                               tk_err *e);

/* ============================================================================================= */
/* Models: what a model name refers to                                                           */
/* ============================================================================================= */

/* A model as a recipe names it: a Hugging Face name ("Qwen/Qwen3-8B") or a local model directory
 * (a path to a directory holding config.json). Free with tk_model_ref_free. */
typedef struct tk_model_ref {
    char *name;          /* as given */
    char *base_model;    /* what create_model gets: the ABSOLUTE directory for a local model (the
                            server may run elsewhere on this machine, with another working
                            directory), else the name */
    char *dir;           /* the local directory (absolute), or NULL */
    char *model_type;    /* config.json "model_type" ("qwen3", "llama", ...), or NULL */
    char *name_or_path;  /* config.json "_name_or_path", or NULL */
    int64_t hidden_size; /* config.json hidden_size (or text_config.hidden_size), else the
                            cookbook's table (tk_model_hidden_size), else 0 */
} tk_model_ref;

/* Resolve name: an existing directory is a local model (its config.json is read; a missing or
 * malformed one is an error naming it); anything else is taken as a service-side model name
 * (nothing is checked here: the service says whether it knows it). */
int tk_model_ref_resolve(const char *name, tk_model_ref *out, tk_err *e);
void tk_model_ref_free(tk_model_ref *m);

/* The cookbook's LoRA learning rate for the model (tk_get_lr), with config.json's hidden size and
 * model_type for a local directory. TK_EUNSUPPORTED / TK_ENOTFOUND as tk_get_lr. */
int tk_model_ref_default_lr(const tk_model_ref *m, double *lr, tk_err *e);

/* The recommended renderer: the model table (tk_renderer_for_model) for a name; for a local
 * directory its config.json "_name_or_path" if the table knows it, else by model_type (qwen3 ->
 * "qwen3", llama -> "llama3"). TK_ENOTFOUND asking for renderer_name=... otherwise. The string is
 * static. */
int tk_model_ref_default_renderer(const tk_model_ref *m, const char **renderer, tk_err *e);

/* ============================================================================================= */
/* Runs: the setup every recipe shares (supervised, DPO, RL)                                     */
/* ============================================================================================= */
/*
 * A recipe's main goes:
 *
 *     tk_run_options o;  tk_run_options_init(&o);
 *     o.log_path = cfg.log_path;  o.model_name = cfg.model_name;  ...
 *     tk_run *run;
 *     tk_run_open(&o, &run, &e);          // decides about log_path, connects, creates the training
 *                                         // client (fresh / weights / resume), tokenizer, renderer
 *     ... load and check the dataset with run->renderer; on error tk_run_close: nothing was
 *         written to log_path, an existing run there is untouched ...
 *     tk_run_begin(run, config_json, resume_step, &e);   // now log_path is prepared and
 *                                                        // config.json written
 *     tk_run_progress_start(run, "sl", start_step, total_steps);
 *     for each step:
 *         ... submit forward_backward + optim_step on run->training ...
 *         if a checkpoint is due: tk_run_save_submit(run, "000020", TK_CKPT_BOTH, ttl, loop, &s, &e)
 *                                 right after the step's optim_step (the saved state is exactly
 *                                 that step's), later tk_run_save_finish(s, NULL, &e)
 *         tk_run_log_metrics(run, step, metrics, &e);
 *         tk_run_progress_step(run, step + 1, loss, tokens);
 *     tk_run_save_submit(run, "final", ...) + finish;  tk_run_progress_end(run);
 *     tk_run_close(run);
 *
 * Threads: a tk_run belongs to one thread (the recipe's); the clients inside it are thread-safe
 * as client.h says. Output: nothing is printed except the progress display (stderr) and
 * tk_log messages.
 */

/* How tk_run_open sets up. Start from tk_run_options_init. Strings are borrowed for the call. */
typedef struct tk_run_options {
    const char *log_path;                 /* required; a leading "~/" is expanded */
    tk_logdir_behavior if_exists;         /* default TK_LOGDIR_ASK (the cookbook's default) */
    FILE *ask_in, *ask_out;               /* terminal for TK_LOGDIR_ASK; NULL: stdin / stderr */
    const char *model_name;               /* required: a HF name or a local model directory */
    const char *renderer_name;            /* NULL: tk_model_ref_default_renderer */
    bool no_renderer;                     /* do not make a renderer (run->renderer stays NULL) */
    int64_t lora_rank;                    /* default 32 */
    bool has_seed;                        /* LoRA initialisation seed for a fresh adapter */
    int64_t seed;
    const char *load_checkpoint_path;     /* tinker://…/weights/…: start from these weights with
                                             a fresh optimizer (ignored when resuming) */
    const char *base_url;                 /* NULL: $TINKER_BASE_URL / API key / local, as the SDK
                                             (client.h); "local": the embedded engine */
    const char *resume_key;               /* the record key that makes a checkpoint resumable;
                                             default "state_path" */
    const char *recipe_name;              /* recorded in the session's user_metadata (may be NULL) */
    double tokenizer_timeout_s;           /* get_info for the tokenizer; default 120 */
} tk_run_options;

void tk_run_options_init(tk_run_options *o);

/* An open run. Fields are read-only for the recipe; tk_run_close frees everything. */
typedef struct tk_run {
    char *log_path;                       /* expanded */
    tk_logdir_action logdir;              /* what tk_run_begin will do with log_path */
    tk_model_ref model;
    bool resuming;                        /* continuing from `resume` (with its optimizer state) */
    struct json_t *resume;                /* the last resumable checkpoints.jsonl record (epoch,
                                             batch, state_path, loop-state keys), or NULL */
    tk_client_service *service;
    tk_client_training *training;
    tk_tokenizer *tokenizer;
    tk_renderer *renderer;                /* NULL with no_renderer */
    char *renderer_name;                  /* NULL with no_renderer */
    double default_lr;                    /* tk_model_ref_default_lr, NaN when it has none */
    char default_lr_error[256];           /* why default_lr is NaN ("" otherwise) */
    bool begun;                           /* tk_run_begin succeeded */
    /* progress (tk_run_progress_*) */
    tk_progress *progress_;
    double progress_t0_;
    int64_t progress_tokens_;
    int64_t progress_total_;
    bool progress_plain_;
} tk_run;

/* Open a run: check log_path (tk_logdir_check; ASK may prompt), find its last resumable
 * checkpoint when continuing, resolve the model (tk_model_ref_resolve), connect
 * (tk_client_service_open with base_url), create the training client — resume from the record's
 * state_path with its optimizer state; else load_checkpoint_path's weights with a fresh
 * optimizer; else a fresh LoRA adapter (rank, seed) on model.base_model — then the tokenizer
 * (tk_client_training_get_tokenizer), the renderer and the default learning rate. Writes nothing
 * under log_path. Errors name the step that failed; *out is NULL then. */
int tk_run_open(const tk_run_options *o, tk_run **out, tk_err *e);

/* Commit to log_path: delete the old run (REPLACE), create the directory, write config.json
 * (`config` may be NULL: none written) and, when continuing, drop metrics.jsonl rows from
 * resume_step on (tk_runlog_truncate_metrics: they are regenerated). Call once the recipe's
 * inputs have been checked, so bad input never touches an existing run. */
int tk_run_begin(tk_run *r, const struct json_t *config, int64_t resume_step, tk_err *e);

/* Close the clients and free everything; a progress display still open is ended. r may be NULL. */
void tk_run_close(tk_run *r);

/* An integer of the resume record (epoch, batch, elapsed_tokens, ...), or dflt when there is no
 * record or no such integer. */
int64_t tk_run_resume_i64(const tk_run *r, const char *key, int64_t dflt);

/* ---- checkpoints ----------------------------------------------------------------------------- */

typedef enum {
    TK_CKPT_STATE = 1,    /* save_state: weights + optimizer (resumable) -> "state_path" */
    TK_CKPT_SAMPLER = 2,  /* save_weights_for_sampler -> "sampler_path" */
    TK_CKPT_BOTH = 3,
} tk_ckpt_kind;

/* A checkpoint being saved (tk_run_save_submit .. tk_run_save_finish). */
typedef struct tk_run_saving tk_run_saving;

/* Submit the save(s) named `name` on run->training now: they take the next seq_ids, so they
 * capture exactly the weights (and optimizer state) after every request submitted before them.
 * ttl_seconds <= 0: kept. loop_state (borrowed, copied; may be NULL) is a JSON object of the
 * loop's position: "epoch", "batch" (the NEXT batch to run on resume), "final", and any extra
 * keys (elapsed_tokens, step, ...). Nothing is recorded until tk_run_save_finish. */
int tk_run_save_submit(tk_run *r, const char *name, tk_ckpt_kind kind, int64_t ttl_seconds,
                       const struct json_t *loop_state, tk_run_saving **out, tk_err *e);

/* Wait for the save(s); once every one completed, append the record to checkpoints.jsonl:
 * {"name", "batch", "epoch", "final", "state_path", "sampler_path", extra loop-state keys} (the
 * cookbook's order; absent ones omitted). *record_out (may be NULL) gets it as a new reference.
 * s is freed whatever happens; on failure nothing is appended. */
int tk_run_save_finish(tk_run_saving *s, struct json_t **record_out, tk_err *e);

/* Drop a pending save without recording it (s may be NULL). */
void tk_run_save_abandon(tk_run_saving *s);

/* Submit and finish in one call. */
int tk_run_save(tk_run *r, const char *name, tk_ckpt_kind kind, int64_t ttl_seconds,
                const struct json_t *loop_state, struct json_t **record_out, tk_err *e);

/* ---- metrics and progress -------------------------------------------------------------------- */

/* Append {"step": step, ...metrics} to metrics.jsonl (tk_runlog_append_metrics). */
int tk_run_log_metrics(tk_run *r, int64_t step, const struct json_t *metrics, tk_err *e);

/* A progress display on stderr: a bar redrawn in place on a terminal (step, loss, tokens/s,
 * ETA), one plain line per step otherwise. start_step: steps already done (a resumed run). */
void tk_run_progress_start(tk_run *r, const char *label, int64_t start_step, int64_t total_steps);
/* steps_done steps are complete; loss is shown when finite; tokens are this step's (for the
 * tokens/s figure). */
void tk_run_progress_step(tk_run *r, int64_t steps_done, double loss, int64_t tokens);
/* Print a message above the bar (ending it is not needed). */
void tk_run_progress_note(tk_run *r, const char *fmt, ...) TK_PRINTF(2, 3);
void tk_run_progress_end(tk_run *r);

/* ---- logs ------------------------------------------------------------------------------------ */
/* For programs (the CLI), not libraries: route tk_log through the run. Every message at INFO and
 * above goes to log_path/logs.log with a UTC timestamp (messages logged before tk_run_begin are
 * kept in memory and written when it opens the file); stderr shows only those at stderr_level
 * and above, written above the progress bar. Process-wide (it installs a tk_log hook); call
 * tk_run_logs_release before exiting. Not thread-safe against itself (one caller), while tk_log
 * may be called from any thread throughout. */
void tk_run_logs_capture(tk_log_level stderr_level);
bool tk_run_logs_capturing(void);
/* Open log_path/logs.log (tk_run_begin does this when capturing). */
int tk_run_logs_open(const char *log_path, tk_err *e);
/* Tell the hook whether a progress bar is being redrawn on stderr (tk_run_progress_* do). */
void tk_run_logs_set_bar(bool on_terminal);
void tk_run_logs_release(void);

/* ============================================================================================= */
/* Completers: a sampling client + a renderer answer a conversation (cookbook completers.py)     */
/* ============================================================================================= */

typedef struct tk_completer_params {
    int64_t max_tokens;            /* required, >= 1 */
    double temperature;            /* 0: greedy */
    bool has_seed;
    int64_t seed;
} tk_completer_params;

/* TinkerMessageCompleter: render msgs[0..n) into a generation prompt, sample one continuation
 * with the renderer's stop sequences, parse it into an assistant message (*out, free with
 * tk_parsed_response_free). *n_tokens_out (may be NULL) receives the sampled length. Blocking. */
int tk_complete_message(tk_client_sampling *s, const tk_renderer *r, const tk_message *msgs, size_t n,
                        const tk_completer_params *p, tk_parsed_response *out, size_t *n_tokens_out, tk_err *e);

/* ============================================================================================= */
/* Supervised learning: metrics, the conversations dataset, the training loop                   */
/* ============================================================================================= */

/* compute_mean_nll: -Σ logprob·weight / Σ weight over every datum (NaN when Σ weight is 0).
 * logprobs[i] has lens[i] entries; weights come from data[i]'s "weights" input (the same length:
 * TK_EINVAL naming data[i] otherwise). */
int tk_sl_mean_nll(const tk_wire_datum *data, const float *const *logprobs, const size_t *lens, size_t n,
                   double *out, tk_err *e);

/* compute_bpb: bits per byte of the trained targets, -Σ logprob / (ln 2 · UTF-8 bytes), over the
 * positions with weight > 0 whose target is not a special token (tk_tokenizer_is_special); the
 * bytes are those of each contiguous run of such targets decoded (special tokens kept). Weights
 * act only as a mask. NaN when there are no bytes. */
int tk_sl_bpb(const tk_wire_datum *data, const float *const *logprobs, const size_t *lens, size_t n,
              const tk_tokenizer *tok, double *out, tk_err *e);

/* The dataset of `tinkerc sl`: a JSONL file, one {"messages": [...]} conversation per line
 * (other top-level keys ignored, "tools" passed to the renderer). */
typedef struct tk_sl_dataset_options {
    const char *path;
    int64_t test_size;             /* after shuffling with shuffle_seed, the first test_size rows
                                      are the test set; >= the number of rows: no test set */
    uint64_t shuffle_seed;
    tk_train_on_what train_on_what;
    int64_t max_length;            /* tokens; <= 0: no limit */
    bool skip_bad;                 /* on_bad_example=skip: skip (and count) bad examples instead
                                      of failing on the first */
    bool truncate_long;            /* cut examples longer than max_length (upstream's behaviour)
                                      instead of treating them as bad */
    bool first_trained_token_only; /* cut each example right after its first weight-1 token
                                      (reward-model comparisons: only the label's first token) */
} tk_sl_dataset_options;

typedef struct tk_sl_dataset_stats {
    size_t lines;                  /* non-blank lines */
    size_t train, test;            /* examples rendered into each split */
    size_t skipped;                /* bad examples skipped */
    char first_skipped[512];       /* why the first one was skipped */
} tk_sl_dataset_stats;

typedef struct tk_sl_dataset tk_sl_dataset;

/* Read and parse the file, check every line (JSON, "messages", roles, content), shuffle and split.
 * A bad line is TK_EINVAL / TK_EPARSE naming "<file>:<line>" (or skipped with skip_bad); an empty
 * dataset is TK_EINVAL. Needs no tokenizer, so it runs before anything is started. */
int tk_sl_dataset_load(const tk_sl_dataset_options *o, tk_sl_dataset **out, tk_err *e);
/* The same from conversations already in memory: convs[0..n) are taken (moved out and zeroed,
 * whatever happens); lines[i] (NULL: i + 1) is what errors name after o->path. */
int tk_sl_dataset_from_conversations(const tk_sl_dataset_options *o, tk_conversation *convs,
                                     const int64_t *lines, size_t n, tk_sl_dataset **out, tk_err *e);
/* Render every example with r (borrowed; only used during the call) into datums with
 * reduction=mean. Examples that the renderer refuses, longer than max_length, or with no trained
 * token are bad (error naming file:line, or skipped). */
int tk_sl_dataset_render(tk_sl_dataset *d, const tk_renderer *r, tk_err *e);
size_t tk_sl_dataset_n_train(const tk_sl_dataset *d);
/* The test split's datums (owned by d), NULL when there is none. */
const tk_wire_datum *tk_sl_dataset_test(const tk_sl_dataset *d, size_t *n);
/* Reshuffle the training split for an epoch (seed = epoch, as upstream's set_epoch). */
void tk_sl_dataset_set_epoch(tk_sl_dataset *d, int64_t epoch);
/* Batch batch_idx of this epoch: batch_size shallow datum copies into out (they point into d);
 * lines (may be NULL) receives their file lines. Only full batches exist (TK_ERANGE otherwise). */
int tk_sl_dataset_get_batch(const tk_sl_dataset *d, size_t batch_idx, size_t batch_size, tk_wire_datum *out,
                            int64_t *lines, tk_err *e);
const tk_sl_dataset_stats *tk_sl_dataset_get_stats(const tk_sl_dataset *d);
void tk_sl_dataset_free(tk_sl_dataset *d);

/* The configuration of `tinkerc sl`: the cookbook's supervised Config and
 * FromConversationFileBuilder names and defaults (docs/sl.md lists every one). Fill it with
 * tk_opts_defaults(tk_sl_options, &cfg) and tk_opts_parse_args; free with tk_opts_free. */
typedef struct tk_sl_config {
    char *log_path;
    char *model_name;
    char *load_checkpoint_path;
    char *renderer_name;
    char *dataset;
    int64_t test_size;
    int64_t shuffle_seed;
    char *train_on_what;
    int64_t max_length;
    int64_t batch_size;
    double learning_rate;          /* NaN (none): the cookbook's get_lr for the model */
    char *lr_schedule;
    int64_t num_epochs;
    int64_t max_steps;             /* TK_OPT_UNSET_INT: none */
    int64_t lora_rank;
    int64_t seed;                  /* LoRA initialisation seed; TK_OPT_UNSET_INT: the service's */
    char *base_url;
    int64_t save_every;
    int64_t save_every_tokens;
    double save_every_seconds;
    int64_t eval_every;
    bool eval_at_end;
    int64_t ttl_seconds;
    double adam_beta1, adam_beta2, adam_eps;
    int64_t submit_ahead;
    char *behavior_if_log_dir_exists;
    char *on_bad_example;
    bool truncate_long_examples;
} tk_sl_config;

/* The option table (names, types, defaults, help) for tk_opts_*. */
extern const tk_opt tk_sl_options[];

/* What a finished tk_sl_train did. Strings are owned (tk_sl_result_free). */
typedef struct tk_sl_result {
    int64_t start_step;            /* where this session started (> 0 when resumed) */
    int64_t end_step;              /* steps done in total */
    int64_t total_steps;
    bool already_complete;         /* resumed a finished run: nothing to do */
    double seconds;                /* this session's training time */
    int64_t tokens;                /* tokens this session trained on */
    double first_test_nll, last_test_nll;   /* from metrics.jsonl (NaN when absent) */
    int64_t first_test_step, last_test_step;
    double first_train_nll, last_train_nll;
    size_t train_examples, test_examples, skipped_examples;
    char *state_path, *sampler_path;        /* the final checkpoint (NULL when none) */
    char *log_path;
} tk_sl_result;
void tk_sl_result_free(tk_sl_result *r);

/* The cookbook's SFT loop: load and check the dataset, open the run (tk_run_open), render, then
 * for each step (epochs reshuffled, starting at the resume point): the LR from the schedule, the
 * test-set NLL/BPB when eval_every divides the step (before the step, as upstream), forward_backward
 * + optim_step submitted with up to submit_ahead later steps in flight, a checkpoint submitted
 * right after a step's optim_step when save_every divides it (the state is exactly that step's,
 * the record names the NEXT batch: resuming replays nothing, unlike upstream #935), a
 * metrics.jsonl row per step, the progress display; at the end an evaluation (eval_at_end) and
 * the "final" checkpoint. Bad input fails before log_path is touched. */
int tk_sl_train(const tk_sl_config *cfg, tk_sl_result *res, tk_err *e);

/* ============================================================================================= */
/* Preference data: labeled comparisons (DPO and reward models)                                  */
/* ============================================================================================= */

typedef enum { TK_PREF_LABEL_A, TK_PREF_LABEL_B, TK_PREF_LABEL_TIE } tk_pref_label;

/* One labeled comparison (the cookbook's LabeledComparison). */
typedef struct tk_pref_comparison {
    int64_t line;                  /* 1-based line in the file */
    tk_conversation prompt;        /* prompt_conversation */
    tk_conversation a, b;          /* completion_A, completion_B (each at least one message) */
    tk_pref_label label;
} tk_pref_comparison;

typedef struct tk_pref_dataset_options {
    const char *path;
    int64_t test_size;             /* after shuffling with shuffle_seed, the first test_size
                                      comparisons are the test set (none when >= the count) */
    uint64_t shuffle_seed;
    bool skip_bad;                 /* skip (and count) bad rows instead of failing on the first */
    bool keep_ties;                /* keep "Tie" rows (reward models train on them); otherwise
                                      they are skipped and counted in stats.ties */
} tk_pref_dataset_options;

typedef struct tk_pref_dataset_stats {
    size_t lines;                  /* non-blank lines */
    size_t ties;                   /* "Tie" rows skipped */
    size_t skipped;                /* bad rows skipped (at load or by tk_pref_dataset_skip) */
    char first_skipped[512];       /* why the first one was skipped */
} tk_pref_dataset_stats;

typedef struct tk_pref_dataset tk_pref_dataset;

/* Read a JSONL file of comparisons. Each line is either the cookbook's
 *   {"comparison": {"prompt_conversation": [...], "completion_A": [...], "completion_B": [...]},
 *    "label": "A" | "B" | "Tie"}
 * or {"prompt": [...], "chosen": [...], "rejected": [...]} (label A = chosen). Message lists use
 * the conversation JSON shape (renderers.h); in the second shape a string stands for one message
 * (prompt: user, chosen/rejected: assistant). A bad row (not JSON, neither shape, an empty or
 * missing completion, a completion without an assistant message, a label other than A/B/Tie)
 * is TK_EINVAL / TK_EPARSE naming "<file>:<line>", or with skip_bad skipped and counted. An
 * empty result is TK_EINVAL. Needs no tokenizer. Free with tk_pref_dataset_free. */
int tk_pref_dataset_load(const tk_pref_dataset_options *o, tk_pref_dataset **out, tk_err *e);
/* The comparisons after shuffling (owned by d): the first *n_test are the test split. */
const tk_pref_comparison *tk_pref_dataset_comparisons(const tk_pref_dataset *d, size_t *n,
                                                      size_t *n_test);
/* A comparison found bad after loading (by a renderer): with skip_bad counted (0 returned),
 * otherwise *why is copied to e and rc returned. */
int tk_pref_dataset_skip(tk_pref_dataset *d, int rc, const tk_err *why, tk_err *e);
const tk_pref_dataset_stats *tk_pref_dataset_get_stats(const tk_pref_dataset *d);
const char *tk_pref_dataset_path(const tk_pref_dataset *d);
void tk_pref_dataset_free(tk_pref_dataset *d);

/* ============================================================================================= */
/* DPO: pairs, the loss and its gradient, the training loop                                      */
/* ============================================================================================= */

/* The two datums of a comparison (DPODatasetBuilderFromComparisons): out[0] the chosen
 * completion, out[1] the rejected one, each build_supervised_example(prompt + completion,
 * LAST_ASSISTANT_MESSAGE) cut to max_length (<= 0: no limit) with reduction=none (the weights
 * sum the sequence log-probability). Tokens, targets and weights live in a. A tie, or a side
 * with no trained token left (a prompt as long as max_length) is TK_EINVAL / TK_ERANGE naming
 * `where` and the side. */
int tk_dpo_render_pair(const tk_renderer *r, const tk_pref_comparison *c, int64_t max_length,
                       const char *where, tk_arena *a, tk_wire_datum out[2], tk_err *e);

/* The DPO loss of n_pairs pairs, with data interleaved as upstream (data[2i] chosen, data[2i+1]
 * rejected): per datum the policy's sequence log-prob π = Σ_k w_k·logprobs[i][k] (w its
 * "weights") and the reference's ref_sums[i] (the same sum over the reference's logprobs);
 * Δ = π − ref; loss = mean over pairs of −log σ(β·(Δchosen − Δrejected)). grad (may be NULL):
 * grad[i][0..lens[i]) receives d loss / d logprobs[i] (float, overwritten). TK_EINVAL when a
 * logprobs length differs from the datum's weights. */
typedef struct tk_dpo_stats {
    double loss;                   /* dpo_loss */
    double accuracy;               /* fraction of pairs with Δchosen > Δrejected */
    double margin;                 /* mean β·(Δchosen − Δrejected) */
    double chosen_reward;          /* mean β·Δchosen */
    double rejected_reward;        /* mean β·Δrejected */
    size_t num_pairs;
} tk_dpo_stats;
int tk_dpo_loss(const tk_wire_datum *data, size_t n_pairs, const float *const *logprobs,
                const size_t *lens, const double *ref_sums, double beta, float *const *grad,
                tk_dpo_stats *out, tk_err *e);

/* The sequence log-prob of datum d under a sampler's compute_logprobs answer for the full
 * sequence (model_input + the last target token; lp[0] has no prediction): Σ_k w_k·lp[k+1].
 * TK_EINVAL when n_lp is not the datum's length + 1 (the reference does not match the datum:
 * another tokenizer or a truncated answer) or a weighted logprob is not finite. */
int tk_dpo_reference_sum(const tk_wire_datum *d, const float *lp, size_t n_lp, double *out,
                         tk_err *e);

/* The configuration of `tinkerc dpo`: the cookbook's train_dpo.Config names and defaults plus
 * the comparison file's (docs/dpo.md lists every one). Fill with tk_opts_defaults(tk_dpo_options,
 * &cfg) and tk_opts_parse_args; free with tk_opts_free. */
typedef struct tk_dpo_config {
    char *log_path;
    char *model_name;
    char *load_checkpoint_path;
    char *renderer_name;
    char *dataset;
    int64_t test_size;
    int64_t shuffle_seed;
    int64_t max_length;
    int64_t batch_size;            /* comparisons (pairs) per step */
    double learning_rate;
    char *lr_schedule;
    int64_t num_epochs;
    double dpo_beta;
    int64_t max_steps;
    int64_t lora_rank;
    int64_t seed;
    char *base_url;
    char *reference_model_path;    /* tinker://…/sampler_weights/…; NULL: the starting weights */
    int64_t reference_concurrency; /* compute_logprobs requests in flight (tinkerc) */
    int64_t save_every;
    int64_t eval_every;
    int64_t ttl_seconds;
    double adam_beta1, adam_beta2, adam_eps;
    char *behavior_if_log_dir_exists;
    char *on_bad_example;
} tk_dpo_config;

extern const tk_opt tk_dpo_options[];

/* What a finished tk_dpo_train did. Strings owned (tk_dpo_result_free). */
typedef struct tk_dpo_result {
    int64_t start_step, end_step, total_steps;
    bool already_complete;
    double seconds;
    int64_t tokens;
    double first_accuracy, last_accuracy;   /* train accuracy of the first / last step row */
    double first_margin, last_margin;
    double first_loss, last_loss;
    size_t train_pairs, test_pairs, skipped, ties;
    char *state_path, *sampler_path, *reference_path, *log_path;
} tk_dpo_result;
void tk_dpo_result_free(tk_dpo_result *r);

/* The cookbook's DPO loop: load and check the comparisons, open the run (tk_run_open), render
 * the pairs, make the reference — a frozen sampler of the starting weights saved as
 * sampler_weights/reference (or reference_model_path, whose base model must be the policy's) and
 * recorded in every checkpoint so a resumed run keeps the same reference — then per step: the
 * LR from the schedule, the test pairs' DPO metrics when eval_every divides the step (before the
 * step), the reference's sequence log-probs (compute_logprobs, computed once per comparison and
 * kept: the reference never changes), forward_backward_custom with tk_dpo_loss, optim_step, a
 * checkpoint right after the step when save_every divides it (the record names the NEXT batch:
 * resuming replays nothing), a metrics.jsonl row; at the end the "final" checkpoint. Bad input
 * fails before log_path is touched. */
int tk_dpo_train(const tk_dpo_config *cfg, tk_dpo_result *res, tk_err *e);

/* ============================================================================================= */
/* Reward models: pairwise comparisons as supervised data, and the preference model              */
/* ============================================================================================= */

/* The conversation a pairwise reward model reads (ComparisonRendererFromChatRenderer):
 * prompt + [system "==== Completion A ===="] + A + [system "==== Completion B ===="] + B +
 * [system "==== Preference ===="], then, when with_label, an assistant message holding the
 * label ("A", "B" or "Tie"). Messages are deep-copied into *out (zeroed first; free with
 * tk_conversation_free). */
int tk_rm_comparison_conversation(const tk_pref_comparison *c, bool with_label,
                                  tk_conversation *out, tk_err *e);

/* The preference a reward model's answer states: "A" -> -1, "B" -> +1, "Tie" -> 0 (surrounding
 * whitespace ignored); false (and 0) for anything else. */
bool tk_preference_from_text(const char *text, double *score);

/* The preference model (PreferenceModelFromChatRenderer): render the comparison without label
 * as a generation prompt, sample ONE token at temperature 0 from a reward model's sampler, decode
 * it (stripped): "A" -> -1, "B" -> +1, "Tie" -> 0; anything else -> 0 with *valid = false (may
 * be NULL) and a warning. Blocking; any thread (the sampler is thread-safe). */
int tk_preference_model_score(tk_client_sampling *rm, const tk_renderer *r,
                              const tk_pref_comparison *c, double *score, bool *valid, tk_err *e);

/* How a reward model's preferences agree with labels: n comparisons scored (ties are left out),
 * how many answers were A/B/Tie, how many matched the label. */
typedef struct tk_rm_agreement {
    size_t n, valid, agree;
    double seconds;
} tk_rm_agreement;

/* Score c[0..n) with the preference model of sampler_path (a reward model's sampler weights)
 * rendered by renderer_name, connecting like tk_run_open (base_url NULL: the environment, else
 * local). Blocking. */
int tk_rm_agreement_of(const char *base_url, const char *sampler_path, const char *renderer_name,
                       const tk_pref_comparison *c, size_t n, tk_rm_agreement *out, tk_err *e);

/* `tinkerc rm`: the supervised loop (tk_sl_train) on ChatDatasetBuilderFromComparisons data:
 * every comparison (ties included) rendered with tk_rm_comparison_conversation + its label,
 * trained on the label's first token only. swap=false: each comparison is swapped with
 * probability 1/2 (tk_rng seeded 0, in file order); swap=true: both orders. The options are
 * tk_sl_options with `dataset` a comparison file (tk_pref_dataset_load), plus swap. */
typedef struct tk_rm_config {
    tk_sl_config sl;               /* train_on_what and truncate_long_examples are not used */
    bool swap;
    int64_t score_comparisons;     /* after training, score this many comparisons of the file
                                      with the final weights' preference model (0: none) */
} tk_rm_config;
extern const tk_opt tk_rm_options[];
/* agreement (may be NULL) receives the scoring of score_comparisons comparisons (zeros when
 * none were scored). */
int tk_rm_train(const tk_rm_config *cfg, tk_sl_result *res, tk_rm_agreement *agreement, tk_err *e);

/* ============================================================================================= */
/* Plots                                                                                         */
/* ============================================================================================= */

/* Write an SVG with the learning curves of a run: train NLL and test NLL against step in one panel,
 * the learning rate in a second. Other metric names may be given (NULL-terminated) to plot
 * instead of the defaults. */
int tk_plot_run_svg(const char *log_path, const char *svg_path, const char *const *metrics,
                    tk_err *e);

#ifdef __cplusplus
}
#endif
#endif /* TINKERC_COOKBOOK_H */
