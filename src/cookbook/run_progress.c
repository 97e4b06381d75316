/* A run's metrics rows and its progress display: a bar redrawn in place on a terminal, one plain
 * line per step elsewhere (a pipe, a CI log). */
#include "tinkerc/cookbook.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

int tk_run_log_metrics(tk_run *r, int64_t step, const json_t *metrics, tk_err *e) {
    return tk_runlog_append_metrics(r->log_path, step, metrics, e);
}

static bool stderr_is_terminal(void) {
    const char *term = getenv("TERM");
    return isatty(STDERR_FILENO) && !(term && !strcmp(term, "dumb"));
}

void tk_run_progress_start(tk_run *r, const char *label, int64_t start_step, int64_t total_steps) {
    tk_run_progress_end(r);
    r->progress_ = tk_progress_new(label, total_steps, stderr);
    if (!r->progress_) return;
    r->progress_plain_ = !stderr_is_terminal();
    tk_progress_set_plain(r->progress_, r->progress_plain_, 0);  /* plain: a line per step */
    tk_progress_set_initial(r->progress_, start_step);
    tk_run_logs_set_bar(!r->progress_plain_);
    r->progress_t0_ = tk_now_s();
    r->progress_tokens_ = 0;
    r->progress_total_ = total_steps;
}

void tk_run_progress_step(tk_run *r, int64_t steps_done, double loss, int64_t tokens) {
    if (!r->progress_) return;
    r->progress_tokens_ += tokens;
    double dt = tk_now_s() - r->progress_t0_;
    char rate[64], extra[64] = "";
    snprintf(rate, sizeof rate, "%.0f tok/s", dt > 0 ? (double)r->progress_tokens_ / dt : 0.0);
    if (isfinite(loss)) snprintf(extra, sizeof extra, "loss %.4f", loss);
    tk_progress_update(r->progress_, steps_done, extra, rate);
}

void tk_run_progress_note(tk_run *r, const char *fmt, ...) {
    /* on a terminal, clear the bar's line first; the next update redraws it */
    if (r->progress_ && !r->progress_plain_) fputs("\r\033[K", stderr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
}

void tk_run_progress_end(tk_run *r) {
    if (!r || !r->progress_) return;
    tk_progress_finish(r->progress_);
    r->progress_ = NULL;
    tk_run_logs_set_bar(false);
}
