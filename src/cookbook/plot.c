/* Learning curves of a run as a standalone SVG: one panel per group of metrics, step on x. */
#include "tinkerc/cookbook.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { PANEL_W = 720, PANEL_H = 260, MARGIN_L = 70, MARGIN_R = 20, MARGIN_T = 30, MARGIN_B = 40 };

static const char *k_colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};

typedef struct series {
    const char *name;
    double *x, *y;
    size_t n;
} series;

static int collect(const json_t *rows, const char *name, series *s) {
    size_t n = json_array_size(rows);
    s->name = name;
    s->x = tk_malloc_array(n ? n : 1, sizeof *s->x);
    s->y = tk_malloc_array(n ? n : 1, sizeof *s->y);
    s->n = 0;
    if (!s->x || !s->y) return TK_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(rows, i);
        json_t *step = json_object_get(r, "step"), *v = json_object_get(r, name);
        if (!json_is_number(step) || !json_is_number(v)) continue;
        double y = json_number_value(v);
        if (!isfinite(y)) continue;
        s->x[s->n] = json_number_value(step);
        s->y[s->n] = y;
        s->n++;
    }
    return 0;
}

/* A "nice" tick step for a range, 1/2/5 × 10^k. */
static double nice_step(double range, int ticks) {
    if (!(range > 0)) return 1;
    double raw = range / ticks, mag = pow(10, floor(log10(raw))), r = raw / mag;
    return (r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10) * mag;
}

static int panel(tk_buf *svg, int top, const char *title, series *ss, size_t ns) {
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (size_t k = 0; k < ns; k++)
        for (size_t i = 0; i < ss[k].n; i++) {
            xmin = fmin(xmin, ss[k].x[i]); xmax = fmax(xmax, ss[k].x[i]);
            ymin = fmin(ymin, ss[k].y[i]); ymax = fmax(ymax, ss[k].y[i]);
        }
    int rc = tk_buf_printf(svg, "<g transform=\"translate(0,%d)\">\n<text x=\"%d\" y=\"18\" font-size=\"14\" font-weight=\"bold\">%s</text>\n",
                           top, MARGIN_L, title);
    if (rc) return rc;
    if (!isfinite(xmin)) {
        rc = tk_buf_printf(svg, "<text x=\"%d\" y=\"%d\" fill=\"#888\">no data</text>\n</g>\n", MARGIN_L + 10, PANEL_H / 2);
        return rc;
    }
    if (xmax == xmin) { xmin -= 1; xmax += 1; }
    if (ymax == ymin) { ymin -= fabs(ymin) * 0.1 + 1e-9; ymax += fabs(ymax) * 0.1 + 1e-9; }
    double pad = (ymax - ymin) * 0.05;
    ymin -= pad; ymax += pad;
    int pw = PANEL_W - MARGIN_L - MARGIN_R, ph = PANEL_H - MARGIN_T - MARGIN_B;
#define PX(x) (MARGIN_L + ((x) - xmin) / (xmax - xmin) * pw)
#define PY(y) (MARGIN_T + (1 - ((y) - ymin) / (ymax - ymin)) * ph)
    rc |= tk_buf_printf(svg, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#444\"/>\n",
                        MARGIN_L, MARGIN_T, pw, ph);
    double ys = nice_step(ymax - ymin, 5);
    for (double y = ceil(ymin / ys) * ys; y <= ymax; y += ys)
        rc |= tk_buf_printf(svg, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                                 "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%.4g</text>\n",
                            MARGIN_L, MARGIN_L + pw, PY(y), PY(y), MARGIN_L - 5, PY(y) + 4, y);
    double xs = nice_step(xmax - xmin, 8);
    for (double x = ceil(xmin / xs) * xs; x <= xmax; x += xs)
        rc |= tk_buf_printf(svg, "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%.6g</text>\n",
                            PX(x), MARGIN_T + ph + 15, x);
    rc |= tk_buf_printf(svg, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">step</text>\n",
                        MARGIN_L + pw / 2, MARGIN_T + ph + 32);
    for (size_t k = 0; k < ns; k++) {
        const char *color = k_colors[k % (sizeof k_colors / sizeof k_colors[0])];
        if (ss[k].n == 1) {
            rc |= tk_buf_printf(svg, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", PX(ss[k].x[0]), PY(ss[k].y[0]), color);
        } else if (ss[k].n > 1) {
            rc |= tk_buf_printf(svg, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", color);
            for (size_t i = 0; i < ss[k].n; i++) rc |= tk_buf_printf(svg, "%.1f,%.1f ", PX(ss[k].x[i]), PY(ss[k].y[i]));
            rc |= tk_buf_puts(svg, "\"/>\n");
        }
        rc |= tk_buf_printf(svg, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"3\" fill=\"%s\"/>"
                                 "<text x=\"%d\" y=\"%d\" font-size=\"12\">%s%s</text>\n",
                            MARGIN_L + pw - 190, MARGIN_T + 12 + (int)k * 16, color, MARGIN_L + pw - 174,
                            MARGIN_T + 16 + (int)k * 16, ss[k].name, ss[k].n ? "" : " (no data)");
    }
#undef PX
#undef PY
    rc |= tk_buf_puts(svg, "</g>\n");
    return rc ? TK_ENOMEM : 0;
}

int tk_plot_run_svg(const char *log_path, const char *svg_path, const char *const *metrics, tk_err *e) {
    json_t *rows;
    int rc = tk_runlog_read_metrics(log_path, &rows, e);
    if (rc) return rc;
    if (json_array_size(rows) == 0) {
        json_decref(rows);
        return tk_err_set(e, TK_ENOTFOUND, "%s: no metrics.jsonl rows to plot", log_path);
    }
    /* panels: the defaults group the two NLL curves; custom metrics get one panel each */
    static const char *const nll[] = {"train_mean_nll", "test/nll", NULL};
    static const char *const lr[] = {"learning_rate", NULL};
    const char *const *groups_default[] = {nll, lr};
    const char *titles_default[] = {"negative log-likelihood (nats/token)", "learning rate"};
    size_t ngroups = 0;
    const char *const *groups[32];
    const char *titles[32];
    const char *single[32][2];
    if (metrics && metrics[0]) {
        for (size_t i = 0; metrics[i] && ngroups < 32; i++) {
            single[ngroups][0] = metrics[i];
            single[ngroups][1] = NULL;
            groups[ngroups] = single[ngroups];
            titles[ngroups] = metrics[i];
            ngroups++;
        }
    } else {
        for (size_t i = 0; i < 2; i++) { groups[i] = groups_default[i]; titles[i] = titles_default[i]; }
        ngroups = 2;
    }
    tk_buf svg = {0};
    rc = tk_buf_printf(&svg, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                             "font-family=\"sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
                       PANEL_W, PANEL_H * (int)ngroups);
    for (size_t g = 0; !rc && g < ngroups; g++) {
        series ss[8];
        size_t ns = 0;
        for (size_t k = 0; groups[g][k] && ns < 8; k++) {
            rc = collect(rows, groups[g][k], &ss[ns]);
            ns++;
            if (rc) break;
        }
        if (!rc) rc = panel(&svg, (int)g * PANEL_H, titles[g], ss, ns);
        for (size_t k = 0; k < ns; k++) { free(ss[k].x); free(ss[k].y); }
    }
    if (!rc) rc = tk_buf_puts(&svg, "</svg>\n");
    json_decref(rows);
    if (rc) {
        tk_buf_free(&svg);
        return tk_err_set(e, TK_ENOMEM, "out of memory drawing %s", svg_path);
    }
    rc = tk_file_write_atomic(svg_path, svg.data, svg.len, 0644, e);
    tk_buf_free(&svg);
    return rc;
}
