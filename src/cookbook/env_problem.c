/* ProblemEnv (rl/problem_env.py): one question, one sampled answer, a graded reward, and the
 * group builder that makes G copies of it. */
#include "tinkerc/rl.h"

#include <stdlib.h>
#include <string.h>

typedef struct problem_env {
    tk_rl_env base;
    tk_rl_problem_spec spec;          /* question and answer owned */
} problem_env;

static int oom(tk_err *e) { return tk_err_set(e, TK_ENOMEM, "out of memory"); }

static int problem_initial(tk_rl_env *env, tk_vec_i32 *ob, tk_err *e) {
    problem_env *p = (problem_env *)env;
    size_t n = p->spec.n_fewshot;
    tk_message *msgs = calloc(n + 1, sizeof *msgs);
    if (!msgs) return oom(e);
    if (n) memcpy(msgs, p->spec.fewshot, n * sizeof *msgs);
    msgs[n] = (tk_message){.role = "user", .content = p->spec.question};
    int rc = tk_renderer_build_generation_prompt(p->spec.renderer, msgs, n + 1, NULL, NULL, ob, e);
    free(msgs);
    if (rc) tk_err_prefix(e, "rendering the question \"%.60s\": ", p->spec.question);
    return rc;
}

static int problem_step(tk_rl_env *env, const int32_t *action, size_t n, tk_wire_stop_reason how,
                        tk_rl_step_result *out, tk_err *e) {
    (void)how;
    problem_env *p = (problem_env *)env;
    tk_parsed_response pr = {0};
    tk_buf text = {0};
    tk_err pe = {0};
    bool well_formed = false;
    /* a response the renderer cannot parse (two stop tokens, an id outside the vocabulary) is
     * badly formatted, not an error of the run */
    if (!tk_renderer_parse_response(p->spec.renderer, action, n, &pr, &pe)) {
        well_formed = pr.termination != TK_PARSE_MALFORMED;
        if (tk_message_text(&pr.message, &text)) {
            tk_parsed_response_free(&pr);
            return oom(e);
        }
        tk_parsed_response_free(&pr);
    }
    const char *t = text.len ? text.data : "";
    bool format = well_formed && (!p->spec.check_format || p->spec.check_format(t));
    bool correct = p->spec.check_answer(t, p->spec.answer);
    out->reward = p->spec.format_coef * ((format ? 1.0 : 0.0) - 1.0) + (correct ? 1.0 : 0.0);
    out->episode_done = true;
    tk_rl_step_metric(out, "format", format);
    tk_rl_step_metric(out, "correct", correct);
    int rc = tk_buf_printf(&out->log, "answer: %s\nexpected: %s", t, p->spec.answer) ? oom(e) : 0;
    tk_buf_free(&text);
    return rc;
}

static void problem_free(tk_rl_env *env) {
    problem_env *p = (problem_env *)env;
    if (!p) return;
    free((char *)p->spec.question);
    free((char *)p->spec.answer);
    free(p);
}

static const tk_rl_env_ops k_problem_ops = {problem_initial, problem_step, problem_free};

int tk_rl_problem_env_new(const tk_rl_problem_spec *s, tk_rl_env **out, tk_err *e) {
    *out = NULL;
    if (!s->renderer || !s->question || !s->answer || !s->check_answer)
        return tk_err_set(e, TK_EINVAL, "problem env: renderer, question, answer and check_answer are required");
    problem_env *p = calloc(1, sizeof *p);
    if (!p) return oom(e);
    p->base.ops = &k_problem_ops;
    p->spec = *s;
    p->spec.question = tk_strdup(s->question);
    p->spec.answer = tk_strdup(s->answer);
    if (!p->spec.question || !p->spec.answer) {
        problem_free(&p->base);
        return oom(e);
    }
    *out = &p->base;
    return 0;
}

/* ---- the group builder --------------------------------------------------------------------- */

typedef struct problem_group {
    tk_rl_group_builder base;
    tk_rl_problem_spec spec;          /* question and answer owned */
    size_t group_size;
    char *tag;
} problem_group;

static int group_make(tk_rl_group_builder *b, tk_rl_env ***envs, size_t *n, tk_err *e) {
    problem_group *g = (problem_group *)b;
    *envs = calloc(g->group_size, sizeof **envs);
    if (!*envs) return oom(e);
    for (size_t i = 0; i < g->group_size; i++) {
        int rc = tk_rl_problem_env_new(&g->spec, &(*envs)[i], e);
        if (rc) {
            for (size_t k = 0; k < i; k++) (*envs)[k]->ops->free((*envs)[k]);
            free(*envs);
            *envs = NULL;
            return rc;
        }
    }
    *n = g->group_size;
    return 0;
}

static const char *group_tag(const tk_rl_group_builder *b) { return ((const problem_group *)b)->tag; }

static void group_free(tk_rl_group_builder *b) {
    problem_group *g = (problem_group *)b;
    if (!g) return;
    free((char *)g->spec.question);
    free((char *)g->spec.answer);
    free(g->tag);
    free(g);
}

static const tk_rl_group_builder_ops k_group_ops = {group_make, NULL, group_tag, group_free};

int tk_rl_problem_group_new(const tk_rl_problem_spec *s, size_t group_size, const char *tag,
                            tk_rl_group_builder **out, tk_err *e) {
    *out = NULL;
    if (group_size < 1) return tk_err_set(e, TK_EINVAL, "group_size must be >= 1");
    problem_group *g = calloc(1, sizeof *g);
    if (!g) return oom(e);
    g->base.ops = &k_group_ops;
    g->spec = *s;
    g->spec.question = tk_strdup(s->question ? s->question : "");
    g->spec.answer = tk_strdup(s->answer ? s->answer : "");
    g->tag = tk_strdup(tag ? tag : "problem");
    g->group_size = group_size;
    if (!g->spec.question || !g->spec.answer || !g->tag) {
        group_free(&g->base);
        return oom(e);
    }
    *out = &g->base;
    return 0;
}
