/* `math` and `gsm8k`: problem files (JSONL) graded on the answer in the last \boxed{}.
 *   math:  {"problem": "...", "answer": "..."}   (a string, or a number)
 *   gsm8k: {"question": "...", "answer": "...#### 42"}  (the number after "####")
 * As upstream's MathEnv: the question gets an instruction suffix, the format is "there is a
 * \boxed{}", the answer is graded by tk_rl_answers_match. The rows are shuffled per epoch with
 * (seed, epoch); batch i takes groups_per_batch consecutive rows of its epoch. */
#include "tinkerc/rl.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

typedef struct row {
    char *question, *answer;
} row;

typedef struct file_dataset {
    tk_rl_dataset base;
    tk_rl_env_config cfg;
    const char *tag;
    const char *suffix;
    row *rows;
    size_t n_rows;
    int64_t per_epoch, n_batches;
    size_t *perm;                     /* the current epoch's order */
    int64_t perm_epoch;
} file_dataset;

static bool has_boxed(const char *response) {
    tk_buf b = {0};
    bool ok = tk_rl_extract_boxed(response, &b);
    tk_buf_free(&b);
    return ok;
}

static bool boxed_matches(const char *response, const char *answer) {
    tk_buf b = {0};
    bool ok = tk_rl_extract_boxed(response, &b) && tk_rl_answers_match(b.len ? b.data : "", answer);
    tk_buf_free(&b);
    return ok;
}

/* Our own few-shot example: the \boxed{} format on a question unlike the data's. */
static const tk_message k_fewshot[] = {
    {.role = "user", .content = "How many vowels are in the word \"banana\"? Write your answer in \\boxed{} format."},
    {.role = "assistant", .content = "The letters are b, a, n, a, n, a; the vowels are the three a's. \\boxed{3}"},
};

static int64_t fd_n_batches(const tk_rl_dataset *d) { return ((const file_dataset *)d)->n_batches; }

static int fd_get_batch(tk_rl_dataset *d, int64_t i, tk_rl_group_builder ***out, size_t *n, tk_err *e) {
    file_dataset *f = (file_dataset *)d;
    if (i < 0 || i >= f->n_batches)
        return tk_err_set(e, TK_ERANGE, "batch %lld is outside the %lld batches of %s", (long long)i,
                          (long long)f->n_batches, f->cfg.dataset);
    int64_t epoch = i / f->per_epoch, b = i % f->per_epoch;
    if (epoch != f->perm_epoch) {
        for (size_t k = 0; k < f->n_rows; k++) f->perm[k] = k;
        tk_rng rng;
        tk_rng_seed(&rng, f->cfg.seed * 1000003u + (uint64_t)epoch);
        tk_rng_shuffle(&rng, f->perm, f->n_rows, sizeof *f->perm);
        f->perm_epoch = epoch;
    }
    size_t g = (size_t)f->cfg.groups_per_batch;
    *out = calloc(g, sizeof **out);
    if (!*out) return tk_err_set(e, TK_ENOMEM, "out of memory");
    tk_buf q = {0};
    int rc = 0;
    for (size_t k = 0; !rc && k < g; k++) {
        const row *r = &f->rows[f->perm[(size_t)b * g + k]];
        tk_buf_clear(&q);
        if (tk_buf_printf(&q, "%s%s", r->question, f->suffix)) {
            rc = tk_err_set(e, TK_ENOMEM, "out of memory");
            break;
        }
        tk_rl_problem_spec s = {.renderer = f->cfg.renderer, .fewshot = f->cfg.fewshot ? k_fewshot : NULL,
                                .n_fewshot = f->cfg.fewshot ? 2 : 0, .question = q.data, .answer = r->answer,
                                .check_format = has_boxed, .check_answer = boxed_matches,
                                .format_coef = f->cfg.format_coef};
        rc = tk_rl_problem_group_new(&s, (size_t)f->cfg.group_size, f->tag, &(*out)[k], e);
    }
    tk_buf_free(&q);
    if (rc) {
        for (size_t j = 0; j < g; j++)
            if ((*out)[j]) (*out)[j]->ops->free((*out)[j]);
        free(*out);
        *out = NULL;
        return rc;
    }
    *n = g;
    return 0;
}

static void fd_free(tk_rl_dataset *d) {
    file_dataset *f = (file_dataset *)d;
    if (!f) return;
    for (size_t i = 0; i < f->n_rows; i++) {
        free(f->rows[i].question);
        free(f->rows[i].answer);
    }
    free(f->rows);
    free(f->perm);
    free(f);
}

static const tk_rl_dataset_ops k_ops = {fd_n_batches, fd_get_batch, fd_free};

/* One line -> a row, or an error naming file:line and the key. */
static int parse_row(const json_t *j, bool gsm8k, const char *where, row *out, tk_err *e) {
    if (!json_is_object(j)) return tk_err_set(e, TK_EINVAL, "%s: expected a JSON object, got %s", where, tk_json_type_name(j));
    const char *qk = gsm8k ? "question" : "problem";
    const json_t *q = json_object_get(j, qk), *a = json_object_get(j, "answer");
    if (!json_is_string(q) || !*json_string_value(q))
        return tk_err_set(e, TK_EINVAL, "%s: no \"%s\" (a non-empty string)%s", where, qk,
                          q ? "" : gsm8k && json_object_get(j, "problem") ? " — this looks like a math file: env=math" : "");
    if (!a || json_is_null(a)) return tk_err_set(e, TK_EINVAL, "%s: no \"answer\"", where);
    char num[64];
    const char *ans = NULL;
    if (json_is_string(a)) ans = json_string_value(a);
    else if (!gsm8k && json_is_integer(a)) snprintf(num, sizeof num, "%lld", (long long)json_integer_value(a)), ans = num;
    else if (!gsm8k && json_is_real(a)) snprintf(num, sizeof num, "%.17g", json_real_value(a)), ans = num;
    else return tk_err_set(e, TK_EINVAL, "%s: \"answer\": expected a string, got %s", where, tk_json_type_name(a));
    if (gsm8k) {
        const char *h = strstr(ans, "####");
        if (!h) return tk_err_set(e, TK_EINVAL, "%s: \"answer\" has no \"#### <number>\" final answer", where);
        h += 4;
        while (*h == ' ') h++;
        /* the number, without thousands commas */
        tk_buf b = {0};
        for (const char *p = h; *p && *p != '\n'; p++)
            if (*p != ',' && *p != ' ' && tk_buf_append(&b, p, 1)) return tk_err_set(e, TK_ENOMEM, "out of memory");
        if (!b.len) return tk_err_set(e, TK_EINVAL, "%s: \"answer\": nothing after \"####\"", where);
        out->answer = tk_buf_detach(&b, NULL);
    } else {
        while (*ans == ' ') ans++;
        if (!*ans) return tk_err_set(e, TK_EINVAL, "%s: \"answer\" is empty", where);
        out->answer = tk_strdup(ans);
    }
    out->question = tk_strdup(json_string_value(q));
    if (!out->answer || !out->question) return tk_err_set(e, TK_ENOMEM, "out of memory");
    return 0;
}

static int load(const tk_rl_env_config *c, bool gsm8k, tk_rl_dataset **out, tk_err *e) {
    *out = NULL;
    const char *env = gsm8k ? "gsm8k" : "math";
    if (!c->dataset || !*c->dataset)
        return tk_err_set(e, TK_EINVAL, "env=%s needs dataset=FILE.jsonl (e.g. examples/data/%s)", env,
                          gsm8k ? "gsm8k_style.jsonl" : "math_problems.jsonl");
    tk_buf text = {0};
    int rc = tk_file_read(c->dataset, &text, 0, e);
    if (rc) return rc;
    file_dataset *f = calloc(1, sizeof *f);
    if (!f) {
        tk_buf_free(&text);
        return tk_err_set(e, TK_ENOMEM, "out of memory");
    }
    f->base.ops = &k_ops;
    f->cfg = *c;
    f->tag = env;
    f->suffix = gsm8k ? " Provide a numerical answer without units, written inside \\boxed{}."
                      : " Write your answer in \\boxed{} format.";
    f->perm_epoch = -1;
    size_t cap = 0;
    tk_lines it = tk_lines_of(text.data, text.len);
    const char *p;
    size_t len;
    while (!rc && tk_lines_next(&it, &p, &len)) {
        char where[600];
        snprintf(where, sizeof where, "%s:%lld", c->dataset, (long long)it.line_no);
        json_t *j = NULL;
        rc = tk_json_parse(p, len, where, &j, e);
        if (!rc && f->n_rows == cap) {
            cap = cap ? 2 * cap : 64;
            row *nr = realloc(f->rows, cap * sizeof *nr);
            if (!nr) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
            else f->rows = nr;
        }
        if (!rc) {
            memset(&f->rows[f->n_rows], 0, sizeof *f->rows);
            rc = parse_row(j, gsm8k, where, &f->rows[f->n_rows], e);
            f->n_rows++;   /* freed with the dataset even when half-filled */
        }
        json_decref(j);
    }
    tk_buf_free(&text);
    if (!rc && !f->n_rows) rc = tk_err_set(e, TK_EINVAL, "%s: no problems in the file", c->dataset);
    if (!rc && c->groups_per_batch > (int64_t)f->n_rows)
        rc = tk_err_set(e, TK_EINVAL, "groups_per_batch=%lld is more than the %zu problems of %s", (long long)c->groups_per_batch,
                        f->n_rows, c->dataset);
    if (!rc) {
        f->per_epoch = (int64_t)f->n_rows / c->groups_per_batch;
        f->n_batches = f->per_epoch * (c->num_epochs > 0 ? c->num_epochs : 1);
        if (!(f->perm = calloc(f->n_rows, sizeof *f->perm))) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    }
    if (rc) {
        fd_free(&f->base);
        return rc;
    }
    *out = &f->base;
    return 0;
}

int tk_rl_math_dataset_new(const tk_rl_env_config *c, tk_rl_dataset **out, tk_err *e) { return load(c, false, out, e); }
int tk_rl_gsm8k_dataset_new(const tk_rl_env_config *c, tk_rl_dataset **out, tk_err *e) { return load(c, true, out, e); }
