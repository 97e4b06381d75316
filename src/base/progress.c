/* Progress bar: redraws in place on a terminal, plain periodic lines elsewhere. */
#include "tinkerc/base.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tk_progress {
    char label[64];
    int64_t total;
    int64_t done;
    int64_t done0;   /* done before this session: excluded from the rate and the ETA */
    FILE *out;
    bool plain;
    double interval_s;
    double start_s;
    double last_draw_s;
    char extra[256];
    char rate[64];
    int last_width;
};

tk_progress *tk_progress_new(const char *label, int64_t total, FILE *out) {
    tk_progress *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    p->total = total;
    p->out = out ? out : stderr;
    p->plain = !isatty(fileno(p->out));
    const char *term = getenv("TERM");
    if (term && strcmp(term, "dumb") == 0) p->plain = true;
    p->interval_s = 10.0;
    p->start_s = tk_now_s();
    p->last_draw_s = -1e9;
    return p;
}

void tk_progress_set_plain(tk_progress *p, bool plain, double interval_s) {
    p->plain = plain;
    if (interval_s >= 0) p->interval_s = interval_s;
}

void tk_progress_set_initial(tk_progress *p, int64_t done0) {
    p->done0 = done0;
    if (p->done < done0) p->done = done0;
}

static void fmt_duration(double s, char *buf, size_t n) {
    if (!(s >= 0) || s > 359999) { snprintf(buf, n, "?"); return; }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

/* Render the status text (without bar) into buf. */
static void status_text(const tk_progress *p, double now, char *buf, size_t n) {
    double elapsed = now - p->start_s;
    char rate[64], eta[32] = "", el[32];
    if (p->rate[0]) snprintf(rate, sizeof rate, "%s", p->rate);
    else snprintf(rate, sizeof rate, "%.2f it/s", elapsed > 0 ? (double)(p->done - p->done0) / elapsed : 0.0);
    fmt_duration(elapsed, el, sizeof el);
    if (p->total > 0 && p->done > p->done0 && p->done < p->total) {
        char d[32];
        fmt_duration(elapsed / (double)(p->done - p->done0) * (double)(p->total - p->done), d, sizeof d);
        snprintf(eta, sizeof eta, "  ETA %s", d);
    }
    if (p->total > 0)
        snprintf(buf, n, "%lld/%lld %3d%%  %s  %s%s%s%s", (long long)p->done, (long long)p->total,
                 (int)(100.0 * (double)p->done / (double)p->total), rate, el, eta,
                 p->extra[0] ? "  " : "", p->extra);
    else
        snprintf(buf, n, "%lld  %s  %s%s%s", (long long)p->done, rate, el, p->extra[0] ? "  " : "",
                 p->extra);
}

static void draw(tk_progress *p, double now, bool final) {
    char status[512];
    status_text(p, now, status, sizeof status);
    if (p->plain) {
        fprintf(p->out, "%s%s%s\n", p->label, p->label[0] ? ": " : "", status);
    } else {
        char bar[32] = "";
        if (p->total > 0) {
            int w = 20, filled = (int)((double)w * (double)p->done / (double)p->total);
            if (filled > w) filled = w;
            bar[0] = '[';
            for (int i = 0; i < w; i++) bar[1 + i] = i < filled ? '#' : '.';
            bar[w + 1] = ']';
            bar[w + 2] = ' ';
            bar[w + 3] = '\0';
        }
        int width = fprintf(p->out, "\r%s%s%s%s", p->label, p->label[0] ? " " : "", bar, status);
        /* blank out what is left of a longer previous line */
        for (int i = width; i < p->last_width; i++) fputc(' ', p->out);
        p->last_width = width;
        if (final) fputc('\n', p->out);
    }
    fflush(p->out);
    p->last_draw_s = now;
}

void tk_progress_update(tk_progress *p, int64_t done, const char *extra, const char *unit_rate) {
    if (!p) return;
    p->done = done;
    snprintf(p->extra, sizeof p->extra, "%s", extra ? extra : "");
    snprintf(p->rate, sizeof p->rate, "%s", unit_rate ? unit_rate : "");
    double now = tk_now_s();
    double min_gap = p->plain ? p->interval_s : 0.1;
    if (now - p->last_draw_s >= min_gap) draw(p, now, false);
}

void tk_progress_finish(tk_progress *p) {
    if (!p) return;
    draw(p, tk_now_s(), true);
    free(p);
}
