/* A program's tk_log messages during a run: every message at INFO and above goes to
 * log_path/logs.log (as the cookbook's logs.log), only the important ones to stderr, written
 * above the progress bar instead of through it. */
#include "tinkerc/cookbook.h"

#include <string.h>
#include <unistd.h>

/* The hook runs under tk_log's own lock, so these need no lock of their own while it is
 * installed; the setters below take effect through tk_log_set_hook's lock. */
static struct {
    bool active;
    tk_log_level stderr_level;
    FILE *file;
    tk_buf early;          /* lines logged before the file was opened */
    bool bar_on_terminal;  /* a progress bar is being redrawn on stderr */
} g;

static void line_for_file(tk_log_level level, const char *msg, tk_buf *out) {
    static const char *names[] = {"DEBUG", "INFO", "WARNING", "ERROR"};
    char ts[40];
    tk_iso8601_utc(tk_wall_s(), ts, sizeof ts);
    if (tk_buf_printf(out, "%s %s %s\n", ts, level < TK_LOG_OFF ? names[level] : "?", msg)) return;
}

static void hook(tk_log_level level, const char *msg, void *user) {
    if (level >= TK_LOG_INFO) {
        tk_buf line = {0};
        line_for_file(level, msg, &line);
        if (line.len) {
            if (g.file) {
                fwrite(line.data, 1, line.len, g.file);
                fflush(g.file);
            } else if (g.early.len < (1u << 20)) {
                if (tk_buf_append(&g.early, line.data, line.len)) { /* dropped: out of memory */ }
            }
        }
        tk_buf_free(&line);
    }
    if (level >= g.stderr_level) {
        static const char *names[] = {"debug: ", "", "warning: ", "error: "};
        if (g.bar_on_terminal) fputs("\r\033[K", stderr);
        fprintf(stderr, "tinkerc: %s%s\n", level < TK_LOG_OFF ? names[level] : "", msg);
    }
}

void tk_run_logs_capture(tk_log_level stderr_level) {
    g.stderr_level = stderr_level;
    g.active = true;
    tk_log_set_hook(hook, NULL);
}

bool tk_run_logs_capturing(void) { return g.active; }

int tk_run_logs_open(const char *log_path, tk_err *e) {
    if (!g.active) return 0;
    char *path = tk_path_join(log_path, "logs.log");
    if (!path) return tk_err_set(e, TK_ENOMEM, "out of memory");
    FILE *f = fopen(path, "a");
    if (!f) {
        int rc = tk_err_set(e, TK_EIO, "%s: cannot open for append", path);
        free(path);
        return rc;
    }
    free(path);
    /* swap under tk_log's lock: reinstalling the hook takes it */
    tk_log_set_hook(NULL, NULL);
    if (g.file) fclose(g.file);
    g.file = f;
    if (g.early.len) fwrite(g.early.data, 1, g.early.len, f);
    fflush(f);
    tk_buf_free(&g.early);
    tk_log_set_hook(hook, NULL);
    return 0;
}

void tk_run_logs_set_bar(bool on_terminal) {
    if (!g.active) return;
    tk_log_set_hook(NULL, NULL);
    g.bar_on_terminal = on_terminal;
    tk_log_set_hook(hook, NULL);
}

void tk_run_logs_release(void) {
    if (!g.active) return;
    tk_log_set_hook(NULL, NULL);
    if (g.file) fclose(g.file);
    g.file = NULL;
    tk_buf_free(&g.early);
    g.active = false;
    g.bar_on_terminal = false;
}
