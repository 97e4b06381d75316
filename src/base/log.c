/* Logging through one replaceable hook. */
#include "tinkerc/base.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static pthread_mutex_t g_log_lock = PTHREAD_MUTEX_INITIALIZER;
static tk_log_fn g_hook;
static void *g_hook_user;
static int g_level = -1;  /* -1: not yet read from TINKERC_LOG */

static int level_from_env(void) {
    const char *s = getenv("TINKERC_LOG");
    if (!s) return TK_LOG_INFO;
    if (!strcasecmp(s, "debug")) return TK_LOG_DEBUG;
    if (!strcasecmp(s, "info")) return TK_LOG_INFO;
    if (!strcasecmp(s, "warn") || !strcasecmp(s, "warning")) return TK_LOG_WARN;
    if (!strcasecmp(s, "error")) return TK_LOG_ERROR;
    if (!strcasecmp(s, "off")) return TK_LOG_OFF;
    return TK_LOG_INFO;
}

void tk_log_set_hook(tk_log_fn fn, void *user) {
    pthread_mutex_lock(&g_log_lock);
    g_hook = fn;
    g_hook_user = user;
    pthread_mutex_unlock(&g_log_lock);
}

void tk_log_set_level(tk_log_level level) {
    pthread_mutex_lock(&g_log_lock);
    g_level = (int)level;
    pthread_mutex_unlock(&g_log_lock);
}

tk_log_level tk_log_get_level(void) {
    pthread_mutex_lock(&g_log_lock);
    if (g_level < 0) g_level = level_from_env();
    int l = g_level;
    pthread_mutex_unlock(&g_log_lock);
    return (tk_log_level)l;
}

static void default_hook(tk_log_level level, const char *msg, void *user) {
    static const char *names[] = {"debug: ", "", "warning: ", "error: "};
    fprintf(stderr, "tinkerc: %s%s\n", level < TK_LOG_OFF ? names[level] : "", msg);
}

void tk_log(tk_log_level level, const char *fmt, ...) {
    if (level < tk_log_get_level() || level >= TK_LOG_OFF) return;
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&g_log_lock);
    tk_log_fn fn = g_hook ? g_hook : default_hook;
    void *user = g_hook_user;
    /* the hook runs under the lock so lines from different threads never interleave */
    fn(level, msg, user);
    pthread_mutex_unlock(&g_log_lock);
}
