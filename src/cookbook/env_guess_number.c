/* `guess_number`: a multi-turn env. The user thinks of a number in [1, max_number]; each turn
 * the policy guesses and hears "Higher." or "Lower." until it is right (reward 1) or max_turns
 * guesses are spent (reward 0). A reply with no integer in it gets a reminder and counts as a
 * turn with format 0. The group's G envs share one secret (drawn from (seed, batch, group)). */
#include "tinkerc/rl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct guess_env {
    tk_rl_env base;
    const tk_renderer *renderer;
    long long secret, max_number;
    int64_t turns, max_turns;
    bool any_bad_format;
    tk_conversation convo;            /* the dialogue so far (owns its strings) */
} guess_env;

static int oom(tk_err *e) { return tk_err_set(e, TK_ENOMEM, "out of memory"); }

static int prompt_of(guess_env *g, tk_vec_i32 *ob, tk_err *e) {
    return tk_renderer_build_generation_prompt(g->renderer, g->convo.messages, g->convo.n_messages, NULL, NULL, ob, e);
}

static int guess_initial(tk_rl_env *env, tk_vec_i32 *ob, tk_err *e) { return prompt_of((guess_env *)env, ob, e); }

static int guess_step(tk_rl_env *env, const int32_t *action, size_t n, tk_wire_stop_reason how, tk_rl_step_result *out,
                      tk_err *e) {
    (void)how;
    guess_env *g = (guess_env *)env;
    tk_parsed_response pr = {0};
    tk_buf text = {0};
    tk_err pe = {0};
    if (!tk_renderer_parse_response(g->renderer, action, n, &pr, &pe)) {
        if (tk_message_text(&pr.message, &text)) {
            tk_parsed_response_free(&pr);
            return oom(e);
        }
        tk_parsed_response_free(&pr);
    }
    const char *t = text.len ? text.data : "";
    long long guess = 0;
    bool has = tk_rl_last_integer(t, &guess);
    g->turns++;
    if (!has) g->any_bad_format = true;
    const char *reply = !has ? "Reply with just a number." : guess < g->secret ? "Higher." : guess > g->secret ? "Lower." : NULL;
    bool done = !reply || g->turns >= g->max_turns;
    out->reward = reply ? 0.0 : 1.0;
    out->episode_done = done;
    int rc = tk_buf_printf(&out->log, "guess: %s -> %s", t, reply ? reply : "correct") ? oom(e) : 0;
    if (done) {
        tk_rl_step_metric(out, "correct", reply ? 0 : 1);
        tk_rl_step_metric(out, "format", g->any_bad_format ? 0 : 1);
        tk_rl_step_metric(out, "turns", (double)g->turns);
    } else if (!rc) {
        tk_message am = {.role = "assistant", .content = t}, um = {.role = "user", .content = reply};
        rc = tk_conversation_append(&g->convo, &am, e);
        if (!rc) rc = tk_conversation_append(&g->convo, &um, e);
        if (!rc) rc = prompt_of(g, &out->next_ob, e);
    }
    tk_buf_free(&text);
    return rc;
}

static void guess_free(tk_rl_env *env) {
    guess_env *g = (guess_env *)env;
    if (!g) return;
    tk_conversation_free(&g->convo);
    free(g);
}

static const tk_rl_env_ops k_env_ops = {guess_initial, guess_step, guess_free};

/* ---- group builder and dataset --------------------------------------------------------------- */

typedef struct guess_group {
    tk_rl_group_builder base;
    const tk_renderer *renderer;
    long long secret, max_number;
    int64_t max_turns;
    size_t group_size;
} guess_group;

static int group_make(tk_rl_group_builder *b, tk_rl_env ***envs, size_t *n, tk_err *e) {
    guess_group *gg = (guess_group *)b;
    *envs = calloc(gg->group_size, sizeof **envs);
    if (!*envs) return oom(e);
    char intro[256];
    snprintf(intro, sizeof intro,
             "I am thinking of a whole number from 1 to %lld. Guess it: reply with just the number. After each guess "
             "I will say whether my number is higher or lower.", gg->max_number);
    int rc = 0;
    for (size_t i = 0; !rc && i < gg->group_size; i++) {
        guess_env *g = calloc(1, sizeof *g);
        if (!g) {
            rc = oom(e);
            break;
        }
        *g = (guess_env){.base = {&k_env_ops}, .renderer = gg->renderer, .secret = gg->secret,
                         .max_number = gg->max_number, .max_turns = gg->max_turns};
        (*envs)[i] = &g->base;
        tk_message m = {.role = "user", .content = intro};
        rc = tk_conversation_append(&g->convo, &m, e);
    }
    if (rc) {
        for (size_t i = 0; i < gg->group_size; i++)
            if ((*envs)[i]) guess_free((*envs)[i]);
        free(*envs);
        *envs = NULL;
        return rc;
    }
    *n = gg->group_size;
    return 0;
}

static const char *group_tag(const tk_rl_group_builder *b) {
    (void)b;
    return "guess_number";
}
static void group_free(tk_rl_group_builder *b) { free(b); }

static const tk_rl_group_builder_ops k_group_ops = {group_make, NULL, group_tag, group_free};

typedef struct guess_dataset {
    tk_rl_dataset base;
    tk_rl_env_config cfg;
} guess_dataset;

static int64_t ds_n_batches(const tk_rl_dataset *d) { return ((const guess_dataset *)d)->cfg.n_batches; }

static int ds_get_batch(tk_rl_dataset *d, int64_t i, tk_rl_group_builder ***out, size_t *n, tk_err *e) {
    guess_dataset *ds = (guess_dataset *)d;
    size_t ng = (size_t)ds->cfg.groups_per_batch;
    tk_rng rng;
    tk_rng_seed(&rng, ds->cfg.seed * 1000003u + (uint64_t)i);
    *out = calloc(ng, sizeof **out);
    if (!*out) return oom(e);
    for (size_t k = 0; k < ng; k++) {
        guess_group *g = calloc(1, sizeof *g);
        if (!g) {
            for (size_t j = 0; j < k; j++) free((*out)[j]);
            free(*out);
            *out = NULL;
            return oom(e);
        }
        *g = (guess_group){.base = {&k_group_ops}, .renderer = ds->cfg.renderer,
                           .secret = 1 + (long long)tk_rng_below(&rng, (uint64_t)ds->cfg.max_number),
                           .max_number = ds->cfg.max_number, .max_turns = ds->cfg.max_turns,
                           .group_size = (size_t)ds->cfg.group_size};
        (*out)[k] = &g->base;
    }
    *n = ng;
    return 0;
}

static void ds_free(tk_rl_dataset *d) { free(d); }

static const tk_rl_dataset_ops k_ds_ops = {ds_n_batches, ds_get_batch, ds_free};

int tk_rl_guess_number_dataset_new(const tk_rl_env_config *c, tk_rl_dataset **out, tk_err *e) {
    *out = NULL;
    if (c->max_number < 1) return tk_err_set(e, TK_EINVAL, "max_number=%lld: must be >= 1", (long long)c->max_number);
    if (c->max_turns < 1) return tk_err_set(e, TK_EINVAL, "max_turns=%lld: must be >= 1", (long long)c->max_turns);
    guess_dataset *d = calloc(1, sizeof *d);
    if (!d) return oom(e);
    d->base.ops = &k_ds_ops;
    d->cfg = *c;
    if (d->cfg.n_batches <= 0) d->cfg.n_batches = 50;
    *out = &d->base;
    return 0;
}
