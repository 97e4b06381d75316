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
