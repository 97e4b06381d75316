/* Per-iteration reports: train_rollout_summaries.jsonl (upstream's schema_version 1, one line per
 * trajectory) and train.html, a page of the first groups a person can read in a browser. */
#include "tinkerc/rl.h"
#include "tinkerc/tokenizer.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int oom(tk_err *e) { return tk_err_set(e, TK_ENOMEM, "out of memory"); }

static json_t *metrics_obj(const tk_rl_metric *m, size_t n) {
    json_t *o = json_object();
    for (size_t i = 0; o && i < n; i++)
        if (tk_json_set_new(o, m[i].key, json_real(m[i].value))) {
            json_decref(o);
            return NULL;
        }
    return o;
}

static int summaries(tk_buf *out, int64_t iteration, const tk_rl_group *groups, size_t n, tk_err *e) {
    for (size_t gi = 0; gi < n; gi++) {
        const tk_rl_group *g = &groups[gi];
        double *adv = calloc(g->n ? g->n : 1, sizeof *adv);
        if (!adv) return oom(e);
        tk_rl_compute_advantages(g, adv);
        for (size_t ti = 0; ti < g->n; ti++) {
            const tk_rl_trajectory *t = &g->traj[ti];
            json_t *steps = json_array(), *tm = json_object();
            for (size_t k = 0; steps && k < t->t.len; k++) {
                const tk_rl_transition *x = &t->t.data[k];
                json_t *logs = json_object();
                if (logs && x->log && tk_json_set_new(logs, "text", json_string(x->log))) json_decref(logs), logs = NULL;
                json_t *s = json_pack("{s:I,s:I,s:I,s:f,s:b,s:o,s:o*}", "step_idx", (json_int_t)k, "ob_len",
                                      (json_int_t)x->ob.len, "ac_len", (json_int_t)x->ac.len, "reward", x->reward,
                                      "episode_done", x->episode_done, "metrics", metrics_obj(x->metrics, x->n_metrics),
                                      "logs", logs);
                if (!s || json_array_append_new(steps, s)) {
                    json_decref(steps);
                    steps = NULL;
                }
            }
            /* the trajectory's metrics: the last value of each step metric */
            for (size_t k = 0; tm && k < t->t.len; k++)
                for (size_t q = 0; q < t->t.data[k].n_metrics; q++)
                    if (tk_json_set_new(tm, t->t.data[k].metrics[q].key, json_real(t->t.data[k].metrics[q].value))) {
                        json_decref(tm);
                        tm = NULL;
                        break;
                    }
            json_t *row = steps && tm ? json_pack("{s:i,s:s,s:I,s:I,s:I,s:[s],s:I,s:f,s:f,s:f,s:O,s:I,s:s,s:O}",
                                                  "schema_version", 1, "split", "train", "iteration", (json_int_t)iteration,
                                                  "group_idx", (json_int_t)gi, "traj_idx", (json_int_t)ti, "tags",
                                                  g->tag ? g->tag : "env", "sampling_client_step", (json_int_t)g->sampler_step,
                                                  "total_reward", tk_rl_group_total_reward(g, ti), "final_reward",
                                                  g->final_rewards ? g->final_rewards[ti] : 0.0, "advantage", adv[ti],
                                                  "trajectory_metrics", tm, "final_ob_len", (json_int_t)t->final_ob.len,
                                                  "stop_reason", tk_rl_stop_reason_name(t->stop_reason), "steps", steps)
                                      : NULL;
            json_decref(steps);
            json_decref(tm);
            char *line = row ? json_dumps(row, JSON_COMPACT) : NULL;
            json_decref(row);
            int rc = !line || tk_buf_puts(out, line) || tk_buf_putc(out, '\n');
            free(line);
            if (rc) {
                free(adv);
                return oom(e);
            }
        }
        free(adv);
    }
    return 0;
}

static int put_escaped(tk_buf *b, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const char *r = s[i] == '<' ? "&lt;" : s[i] == '>' ? "&gt;" : s[i] == '&' ? "&amp;" : s[i] == '"' ? "&quot;" : NULL;
        if (r ? tk_buf_puts(b, r) : tk_buf_putc(b, s[i])) return TK_ENOMEM;
    }
    return 0;
}

static int put_tokens(tk_buf *b, const struct tk_tokenizer *tok, const int32_t *ids, size_t n) {
    tk_buf text = {0};
    tk_err e = {0};
    int rc;
    if (tok && !tk_tokenizer_decode(tok, ids, n, false, &text, &e)) rc = put_escaped(b, text.data ? text.data : "", text.len);
    else rc = tk_buf_printf(b, "(%zu tokens)", n);
    tk_buf_free(&text);
    return rc;
}

static int html(tk_buf *b, int64_t iteration, const tk_rl_group *groups, size_t n, const struct tk_tokenizer *tok,
                size_t max_groups, tk_err *e) {
    int rc = tk_buf_printf(b,
                           "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>tinkerc rl: iteration %lld</title>\n"
                           "<style>body{font-family:sans-serif;max-width:70em;margin:auto}pre{white-space:pre-wrap;"
                           "background:#f4f4f4;padding:.4em;margin:.2em 0}table{border-collapse:collapse;width:100%%}"
                           "td,th{border:1px solid #ccc;padding:.3em;vertical-align:top;text-align:left}"
                           ".pos{background:#e6ffe6}.neg{background:#ffe6e6}</style></head><body>\n"
                           "<h1>Iteration %lld: %zu groups (showing %zu)</h1>\n",
                           (long long)iteration, (long long)iteration, n, n < max_groups ? n : max_groups);
    for (size_t gi = 0; !rc && gi < n && gi < max_groups; gi++) {
        const tk_rl_group *g = &groups[gi];
        double *adv = calloc(g->n ? g->n : 1, sizeof *adv);
        if (!adv) return oom(e);
        tk_rl_compute_advantages(g, adv);
        rc = tk_buf_printf(b, "<h2>Group %zu (%s)</h2>\n", gi, g->tag ? g->tag : "env");
        if (!rc && g->n && g->traj[0].t.len) {
            rc = tk_buf_puts(b, "<p>Prompt:</p><pre>");
            if (!rc) rc = put_tokens(b, tok, g->traj[0].t.data[0].ob.data, g->traj[0].t.data[0].ob.len);
            if (!rc) rc = tk_buf_puts(b, "</pre>\n");
        }
        if (!rc) rc = tk_buf_puts(b, "<table><tr><th>#</th><th>completion (each turn)</th><th>reward</th><th>advantage</th></tr>\n");
        for (size_t ti = 0; !rc && ti < g->n; ti++) {
            const tk_rl_trajectory *t = &g->traj[ti];
            rc = tk_buf_printf(b, "<tr class=\"%s\"><td>%zu</td><td>", adv[ti] > 0 ? "pos" : adv[ti] < 0 ? "neg" : "", ti);
            for (size_t k = 0; !rc && k < t->t.len; k++) {
                const tk_rl_transition *x = &t->t.data[k];
                rc = tk_buf_puts(b, "<pre>");
                if (!rc) rc = put_tokens(b, tok, x->ac.data, x->ac.len);
                if (!rc) rc = tk_buf_puts(b, "</pre>");
                if (!rc && x->log) {
                    rc = tk_buf_puts(b, "<small>");
                    if (!rc) rc = put_escaped(b, x->log, strlen(x->log));
                    if (!rc) rc = tk_buf_puts(b, "</small>");
                }
            }
            if (!rc) rc = tk_buf_printf(b, "</td><td>%.3f</td><td>%+.3f</td></tr>\n", tk_rl_group_total_reward(g, ti), adv[ti]);
        }
        if (!rc) rc = tk_buf_puts(b, "</table>\n");
        free(adv);
    }
    if (!rc) rc = tk_buf_puts(b, "</body></html>\n");
    return rc ? oom(e) : 0;
}

int tk_rl_write_reports(const char *dir, int64_t iteration, const tk_rl_group *groups, size_t n,
                        const struct tk_tokenizer *tok, size_t max_html, tk_err *e) {
    int rc = tk_mkdir_p(dir, 0755, e);
    tk_buf s = {0}, h = {0};
    char *p1 = tk_path_join(dir, "train_rollout_summaries.jsonl"), *p2 = tk_path_join(dir, "train.html");
    if (!rc && (!p1 || !p2)) rc = oom(e);
    if (!rc) rc = summaries(&s, iteration, groups, n, e);
    if (!rc) rc = tk_file_write_atomic(p1, s.data ? s.data : "", s.len, 0644, e);
    if (!rc) rc = html(&h, iteration, groups, n, tok, max_html, e);
    if (!rc) rc = tk_file_write_atomic(p2, h.data, h.len, 0644, e);
    tk_buf_free(&s);
    tk_buf_free(&h);
    free(p1);
    free(p2);
    return rc;
}
