/* RL building blocks against hand computations from upstream's semantics (reference/cookbook.md
 * §5.3, §5.4, §5.6):
 *   - advantages: R_i − mean(R) per group, no std normalisation, group rewards included;
 *   - trajectory_to_data: single turn, multi-turn merged when observations extend the sequence,
 *     split when they do not, parse_error_masked turns, the right shift, the mask never sent;
 *   - the KL metrics (v1, v2, entropy) and the KL penalty (with and without discount);
 *   - trajectory metrics (counts, reward/total, frac_mixed / all_good / all_bad);
 *   - graders (last integer, \boxed{} extraction, normalisation, numbers and fractions);
 *   - ProblemEnv's reward = format_coef·(format − 1) + correct, on a byte-level role_colon
 *     renderer; rollouts with a scripted policy (one request of G samples per single-turn group,
 *     multi-turn guess_number, fail-fast groups on sampler errors and NaN rewards, a prompt too
 *     long for max_trajectory_tokens skipped, seeds fixed per request);
 *   - bad problem files: a missing answer, not JSON, empty; an error naming file:line;
 *   - loss_fn_config parsing (k=v and JSON; keys the loss does not take refused);
 *   - the reports: HTML escaped, the summaries' schema fields;
 *   - an environment registered at run time (tk_rl_env_register). */
#include "test_util.h"

#include <jansson.h>
#include <math.h>

#include "tinkerc/rl.h"
#include "../../src/cookbook/rl_internal.h"   /* tk_rl_parse_loss_config */

/* ---- a byte-level codec: every byte is one token ------------------------------------------- */

static int enc(void *ctx, const char *text, size_t len, bool split_special, tk_vec_i32 *out, tk_err *e) {
    for (size_t i = 0; i < len; i++)
        if (tk_vec_push(out, (int32_t)(unsigned char)text[i])) return tk_err_set(e, TK_ENOMEM, "oom");
    return 0;
}
static int dec(void *ctx, const int32_t *ids, size_t n, tk_buf *out, tk_err *e) {
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] > 255) return tk_err_set(e, TK_ERANGE, "id %zu out of range", i);
        char c = (char)ids[i];
        if (tk_buf_append(out, &c, 1)) return tk_err_set(e, TK_ENOMEM, "oom");
    }
    return 0;
}

static tk_renderer *g_r;

static int setup(void **state) {
    tk_renderer_codec c = {.encode = enc, .decode = dec, .bos_id = -1, .eos_id = -1};
    tk_err e = {0};
    if (tk_renderer_new_with_codec("role_colon", &c, NULL, &g_r, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return -1;
    }
    return 0;
}
static int teardown(void **state) {
    tk_renderer_free(g_r);
    return 0;
}

static void vec_set(tk_vec_i32 *v, const int32_t *x, size_t n) {
    for (size_t i = 0; i < n; i++) assert_int_equal(tk_vec_push(v, x[i]), 0);
}

/* A transition with the given observation, action and logprobs (owned by the trajectory). */
static void add_transition(tk_rl_trajectory *t, const int32_t *ob, size_t nob, const int32_t *ac, const float *lp,
                           size_t nac, double reward, bool masked) {
    tk_rl_transition x = {0};
    vec_set(&x.ob, ob, nob);
    vec_set(&x.ac, ac, nac);
    for (size_t i = 0; i < nac; i++) assert_int_equal(tk_vec_push(&x.ac_logprobs, lp[i]), 0);
    x.reward = reward;
    x.parse_error_masked = masked;
    assert_int_equal(tk_vec_push(&t->t, x), 0);
}

static const float *input(const tk_rl_datum *d, const char *name) {
    const tk_wire_tensor *t = tk_wire_tensor_map_get(&d->datum.loss_fn_inputs, name);
    assert_non_null(t);
    assert_int_equal(t->n, d->n);
    return t->data.f32;
}
static const int64_t *targets(const tk_rl_datum *d) {
    const tk_wire_tensor *t = tk_wire_tensor_map_get(&d->datum.loss_fn_inputs, "target_tokens");
    assert_non_null(t);
    return t->data.i64;
}

/* ---- advantages --------------------------------------------------------------------------- */

static tk_rl_group make_group(const double *rewards, const double *final, size_t n) {
    tk_rl_group g = {.n = n, .traj = calloc(n, sizeof(tk_rl_trajectory)), .final_rewards = calloc(n, sizeof(double))};
    for (size_t i = 0; i < n; i++) {
        int32_t ob[] = {1, 2}, ac[] = {3};
        float lp[] = {-1};
        add_transition(&g.traj[i], ob, 2, ac, lp, 1, rewards[i], false);
        g.traj[i].t.data[0].episode_done = true;
        if (final) g.final_rewards[i] = final[i];
    }
    return g;
}

static void test_advantages(void **state) {
    double r[] = {1, 0, 0, 1}, adv[4];
    tk_rl_group g = make_group(r, NULL, 4);
    tk_rl_compute_advantages(&g, adv);
    double want[] = {0.5, -0.5, -0.5, 0.5};
    for (int i = 0; i < 4; i++) assert_float_equal(adv[i], want[i], 1e-12);
    assert_false(tk_rl_group_is_constant(&g));
    tk_rl_group_free(&g);

    /* no std normalisation: rewards 0 and 10 give -5 and +5 (normalised would be -1 and +1) */
    double r2[] = {0, 10};
    g = make_group(r2, NULL, 2);
    tk_rl_compute_advantages(&g, adv);
    assert_float_equal(adv[0], -5, 1e-12);
    assert_float_equal(adv[1], 5, 1e-12);
    tk_rl_group_free(&g);

    /* group rewards add to the step rewards: totals 0.2+1, 0.4+0, 0.6+0.5 = 1.2, 0.4, 1.1;
     * mean 0.9 */
    double r3[] = {0.2, 0.4, 0.6}, f3[] = {1, 0, 0.5};
    g = make_group(r3, f3, 3);
    tk_rl_compute_advantages(&g, adv);
    assert_float_equal(adv[0], 0.3, 1e-12);
    assert_float_equal(adv[1], -0.5, 1e-12);
    assert_float_equal(adv[2], 0.2, 1e-12);
    tk_rl_group_free(&g);

    double r4[] = {0.5, 0.5, 0.5};
    g = make_group(r4, NULL, 3);
    assert_true(tk_rl_group_is_constant(&g));
    tk_rl_compute_advantages(&g, adv);
    for (int i = 0; i < 3; i++) assert_float_equal(adv[i], 0, 0);
    tk_rl_group_free(&g);
}

/* ---- datums ------------------------------------------------------------------------------- */

static void test_datum_single_turn(void **state) {
    tk_rl_trajectory t = {0};
    int32_t ob[] = {1, 2, 3}, ac[] = {4, 5};
    float lp[] = {-0.5f, -0.25f};
    add_transition(&t, ob, 3, ac, lp, 2, 1, false);
    tk_arena *a = tk_arena_new(0);
    tk_rl_datums out = {0};
    tk_err e = {0};
    assert_ok(tk_rl_trajectory_to_data(&t, 0.5, 7, 2, a, &out, &e), &e);
    assert_int_equal(out.len, 1);
    tk_rl_datum *d = &out.data[0];
    assert_int_equal(d->n, 4);
    assert_int_equal(d->group, 7);
    assert_int_equal(d->traj, 2);
    /* sequence 1 2 3 4 5: input = 1 2 3 4, targets = 2 3 4 5 */
    int32_t want_in[] = {1, 2, 3, 4};
    int64_t want_t[] = {2, 3, 4, 5};
    float want_lp[] = {0, 0, -0.5f, -0.25f}, want_adv[] = {0, 0, 0.5f, 0.5f}, want_mask[] = {0, 0, 1, 1};
    assert_int_equal(d->datum.model_input.n_chunks, 1);
    assert_memory_equal(d->datum.model_input.chunks[0].tokens, want_in, sizeof want_in);
    assert_memory_equal(targets(d), want_t, sizeof want_t);
    assert_memory_equal(input(d, "logprobs"), want_lp, sizeof want_lp);
    assert_memory_equal(input(d, "advantages"), want_adv, sizeof want_adv);
    assert_memory_equal(d->mask, want_mask, sizeof want_mask);
    /* the mask is never sent: exactly the three inputs of importance_sampling, which accepts it */
    assert_int_equal(d->datum.loss_fn_inputs.n, 3);
    assert_null(tk_wire_tensor_map_get(&d->datum.loss_fn_inputs, "mask"));
    for (int fn = TK_WIRE_LOSS_IMPORTANCE_SAMPLING; fn <= TK_WIRE_LOSS_DRO; fn++)
        assert_ok(tk_wire_datum_check(&d->datum, (tk_wire_loss_fn)fn, "d", &e), &e);
    tk_vec_free(&out);
    tk_arena_free(a);
    tk_rl_trajectory_free(&t);
}

static void test_datum_multi_turn(void **state) {
    tk_arena *a = tk_arena_new(0);
    tk_err e = {0};
    /* the second observation extends ob0 + ac0: one datum for the whole trajectory */
    tk_rl_trajectory t = {0};
    int32_t ob0[] = {1, 2}, ac0[] = {3}, ob1[] = {1, 2, 3, 7, 8}, ac1[] = {9, 10};
    float lp0[] = {-1}, lp1[] = {-2, -3};
    add_transition(&t, ob0, 2, ac0, lp0, 1, 0, false);
    add_transition(&t, ob1, 5, ac1, lp1, 2, 1, false);
    tk_rl_datums out = {0};
    assert_ok(tk_rl_trajectory_to_data(&t, -0.25, 0, 0, a, &out, &e), &e);
    assert_int_equal(out.len, 1);
    {
        tk_rl_datum *d = &out.data[0];
        /* 1 2 3 7 8 9 10 -> input 1 2 3 7 8 9, targets 2 3 7 8 9 10 */
        int32_t want_in[] = {1, 2, 3, 7, 8, 9};
        int64_t want_t[] = {2, 3, 7, 8, 9, 10};
        float want_lp[] = {0, -1, 0, 0, -2, -3}, want_adv[] = {0, -0.25f, 0, 0, -0.25f, -0.25f},
              want_mask[] = {0, 1, 0, 0, 1, 1};
        assert_int_equal(d->n, 6);
        assert_memory_equal(d->datum.model_input.chunks[0].tokens, want_in, sizeof want_in);
        assert_memory_equal(targets(d), want_t, sizeof want_t);
        assert_memory_equal(input(d, "logprobs"), want_lp, sizeof want_lp);
        assert_memory_equal(input(d, "advantages"), want_adv, sizeof want_adv);
        assert_memory_equal(d->mask, want_mask, sizeof want_mask);
    }
    tk_rl_trajectory_free(&t);
    out.len = 0;

    /* the second observation does not extend it (history rewritten): a datum per turn; the
     * second turn is flagged parse_error_masked: logprobs kept, advantage and mask 0 */
    int32_t ob1b[] = {1, 5, 3, 7};
    add_transition(&t, ob0, 2, ac0, lp0, 1, 0, false);
    add_transition(&t, ob1b, 4, ac1, lp1, 2, 1, true);
    assert_ok(tk_rl_trajectory_to_data(&t, 2.0, 0, 0, a, &out, &e), &e);
    assert_int_equal(out.len, 2);
    {
        tk_rl_datum *d = &out.data[0];
        int32_t want_in[] = {1, 2};
        int64_t want_t[] = {2, 3};
        float want_adv[] = {0, 2}, want_mask[] = {0, 1};
        assert_int_equal(d->n, 2);
        assert_memory_equal(d->datum.model_input.chunks[0].tokens, want_in, sizeof want_in);
        assert_memory_equal(targets(d), want_t, sizeof want_t);
        assert_memory_equal(input(d, "advantages"), want_adv, sizeof want_adv);
        assert_memory_equal(d->mask, want_mask, sizeof want_mask);
        d = &out.data[1];
        int32_t want_in2[] = {1, 5, 3, 7, 9};
        int64_t want_t2[] = {5, 3, 7, 9, 10};
        float want_lp2[] = {0, 0, 0, -2, -3}, zeros[5] = {0};
        assert_int_equal(d->n, 5);
        assert_memory_equal(d->datum.model_input.chunks[0].tokens, want_in2, sizeof want_in2);
        assert_memory_equal(targets(d), want_t2, sizeof want_t2);
        assert_memory_equal(input(d, "logprobs"), want_lp2, sizeof want_lp2);
        assert_memory_equal(input(d, "advantages"), zeros, sizeof zeros);
        assert_memory_equal(d->mask, zeros, sizeof zeros);
    }
    tk_rl_trajectory_free(&t);
    out.len = 0;

    /* bad input: logprobs missing for the action */
    add_transition(&t, ob0, 2, ac0, lp0, 1, 0, false);
    t.t.data[0].ac_logprobs.len = 0;
    assert_err(tk_rl_trajectory_to_data(&t, 1, 3, 4, a, &out, &e), TK_EINVAL, &e, "group 3 trajectory 4 step 0");
    tk_rl_trajectory_free(&t);
    tk_vec_free(&out);
    tk_arena_free(a);
}

/* ---- KL ----------------------------------------------------------------------------------- */

/* A datum with the given logprobs and mask, advantages 0. */
static tk_rl_datum kl_datum(tk_arena *a, const float *lp, const float *mask, size_t n) {
    tk_rl_trajectory t = {0};
    int32_t ob[] = {1};
    int32_t ac[8] = {0};
    add_transition(&t, ob, 1, ac, lp, n, 0, false);
    tk_rl_datums out = {0};
    tk_err e = {0};
    assert_ok(tk_rl_trajectory_to_data(&t, 0, 0, 0, a, &out, &e), &e);
    tk_rl_datum d = out.data[0];
    memcpy(d.mask, mask, n * sizeof *mask);
    tk_vec_free(&out);
    tk_rl_trajectory_free(&t);
    return d;
}

static void test_kl(void **state) {
    tk_arena *a = tk_arena_new(0);
    float lp[] = {0, -1, -2}, mask[] = {0, 1, 1}, train[] = {-5, -1.5f, -1};
    tk_rl_datum d = kl_datum(a, lp, mask, 3);
    const float *tr[] = {train};
    tk_rl_kl_metrics k;
    tk_rl_kl_sample_train(&d, 1, tr, &k);
    /* d = lp − train on the masked positions: 0.5, −1 */
    assert_float_equal(k.kl_v1, -0.25, 1e-9);
    assert_float_equal(k.kl_v2, 0.5 * (0.25 + 1) / 2, 1e-9);
    assert_float_equal(k.entropy, 1.5, 1e-9);
    float none[] = {0, 0, 0};
    memcpy(d.mask, none, sizeof none);
    tk_rl_kl_sample_train(&d, 1, tr, &k);
    assert_true(isnan(k.kl_v1) && isnan(k.entropy));

    /* penalty: sampled −1, −2 against base −1.5, −1 -> d = 0.5, −1, avg −0.25; coef 0.1 adds
     * 0.1·(avg − d) = −0.075, +0.075; with discount 0.5 the first becomes −0.075 + 0.5·0.075 */
    float lp2[] = {-1, -2}, m2[] = {1, 1}, base[] = {-1.5f, -1};
    const float *b[] = {base};
    tk_rl_datum d2 = kl_datum(a, lp2, m2, 2);
    double avg;
    tk_rl_apply_kl_penalty(&d2, 1, b, 0.1, 0, &avg);
    assert_float_equal(avg, -0.25, 1e-9);
    assert_float_equal(input(&d2, "advantages")[0], -0.075, 1e-6);
    assert_float_equal(input(&d2, "advantages")[1], 0.075, 1e-6);
    tk_rl_datum d3 = kl_datum(a, lp2, m2, 2);
    tk_rl_apply_kl_penalty(&d3, 1, b, 0.1, 0.5, &avg);
    assert_float_equal(input(&d3, "advantages")[0], -0.0375, 1e-6);
    assert_float_equal(input(&d3, "advantages")[1], 0.075, 1e-6);
    tk_arena_free(a);
}

/* ---- trajectory metrics ------------------------------------------------------------------- */

static void test_trajectory_metrics(void **state) {
    double r0[] = {1, 0}, r1[] = {1, 1}, r2[] = {0, 0};
    tk_rl_group g[3] = {make_group(r0, NULL, 2), make_group(r1, NULL, 2), make_group(r2, NULL, 2)};
    g[0].traj[0].t.data[0].metrics[0] = (tk_rl_metric){"correct", 1};
    g[0].traj[0].t.data[0].n_metrics = 1;
    g[1].traj[1].t.data[0].metrics[0] = (tk_rl_metric){"correct", 0};
    g[1].traj[1].t.data[0].n_metrics = 1;
    json_t *m = json_object();
    tk_err e = {0};
    assert_ok(tk_rl_trajectory_metrics(g, 3, m, &e), &e);
#define M(k) json_number_value(json_object_get(m, "env/all/" k))
    assert_float_equal(M("total_episodes"), 6, 0);
    assert_float_equal(M("total_turns"), 6, 0);
    assert_float_equal(M("total_ac_tokens"), 6, 0);
    assert_float_equal(M("total_ob_tokens"), 12, 0);
    assert_float_equal(M("ob_tokens_per_turn"), 2, 0);
    assert_float_equal(M("turns_per_episode"), 1, 0);
    assert_float_equal(M("reward/total"), 3.0 / 6, 1e-12);
    assert_float_equal(M("correct"), 0.5, 1e-12);   /* over the transitions that report it */
    assert_float_equal(M("by_group/frac_mixed"), 1.0 / 3, 1e-12);
    assert_float_equal(M("by_group/frac_all_good"), 1.0 / 3, 1e-12);
    assert_float_equal(M("by_group/frac_all_bad"), 1.0 / 3, 1e-12);
    assert_float_equal(M("stop/completed"), 1, 0);
#undef M
    json_decref(m);
    for (int i = 0; i < 3; i++) tk_rl_group_free(&g[i]);
}

/* ---- graders ------------------------------------------------------------------------------ */

static void test_graders(void **state) {
    long long v;
    assert_true(tk_rl_last_integer("The answer is 12, not -3", &v));
    assert_int_equal(v, -3);
    assert_true(tk_rl_last_integer(" 81", &v));
    assert_int_equal(v, 81);
    assert_false(tk_rl_last_integer("no digits", &v));

    tk_buf b = {0};
    assert_true(tk_rl_extract_boxed("x \\boxed{1} then \\boxed{\\frac{1}{2}} end", &b));
    assert_string_equal(b.data, "\\frac{1}{2}");
    tk_buf_clear(&b);
    assert_true(tk_rl_extract_boxed("so \\boxed 42$", &b));
    assert_string_equal(b.data, "42");
    tk_buf_clear(&b);
    assert_false(tk_rl_extract_boxed("\\boxed{unterminated", &b));
    assert_false(tk_rl_extract_boxed("no box", &b));
    tk_buf_free(&b);

    assert_true(tk_rl_answers_match("\\dfrac{1}{8}", "\\frac{1}{8}"));
    assert_true(tk_rl_answers_match("0.125", "\\frac{1}{8}"));
    assert_true(tk_rl_answers_match("1/8", "\\frac{1}{8}"));
    assert_true(tk_rl_answers_match("-\\frac{3}{6}", "-0.5"));
    assert_true(tk_rl_answers_match("1,000", "1000"));
    assert_true(tk_rl_answers_match("$4$.", "4"));
    assert_true(tk_rl_answers_match("\\text{5 cm}", "5cm"));
    assert_true(tk_rl_answers_match("90^\\circ", "90"));
    assert_false(tk_rl_answers_match("5", "6"));
    assert_false(tk_rl_answers_match("", "6"));
    assert_false(tk_rl_answers_match("\\frac{1}{0}", "1"));
}

/* ---- ProblemEnv ------------------------------------------------------------------------------- */

static bool check_12(const char *r, const char *ans) {
    long long v;
    return tk_rl_last_integer(r, &v) && v == strtoll(ans, NULL, 10);
}
static bool has_x(const char *r) { return strchr(r, 'x') != NULL; }

/* Step a fresh env with the action text; returns the reward. */
static double step_text(const tk_rl_problem_spec *s, const char *text, double *format, double *correct) {
    tk_rl_env *env;
    tk_err e = {0};
    assert_ok(tk_rl_problem_env_new(s, &env, &e), &e);
    tk_vec_i32 ob = {0}, ac = {0};
    assert_ok(env->ops->initial_observation(env, &ob, &e), &e);
    enc(NULL, text, strlen(text), false, &ac, &e);
    tk_rl_step_result r = {0};
    assert_ok(env->ops->step(env, ac.data, ac.len, TK_WIRE_STOP_REASON_STOP, &r, &e), &e);
    assert_true(r.episode_done);
    assert_int_equal(r.n_metrics, 2);
    *format = r.metrics[0].value;
    *correct = r.metrics[1].value;
    assert_string_equal(r.metrics[0].key, "format");
    assert_string_equal(r.metrics[1].key, "correct");
    assert_non_null(strstr(r.log.data, "expected: 12"));
    tk_buf_free(&r.log);
    tk_vec_free(&ob);
    tk_vec_free(&ac);
    env->ops->free(env);
    return r.reward;
}

static void test_problem_env(void **state) {
    tk_rl_problem_spec s = {.renderer = g_r, .question = "What is 5 + 7?", .answer = "12", .check_answer = check_12,
                            .format_coef = 0.1};
    double f, c;
    /* ended with role_colon's stop string: well formed */
    assert_float_equal(step_text(&s, " 12\n\nUser:", &f, &c), 1.0, 1e-12);
    assert_true(f == 1 && c == 1);
    /* right answer, no stop sequence (truncated): format 0 -> 0.1·(0 − 1) + 1 */
    assert_float_equal(step_text(&s, " 12", &f, &c), 0.9, 1e-12);
    assert_true(f == 0 && c == 1);
    /* wrong and badly formatted: −0.1 */
    assert_float_equal(step_text(&s, " 13", &f, &c), -0.1, 1e-12);
    /* wrong but well formed: 0 */
    assert_float_equal(step_text(&s, " 13\n\nUser:", &f, &c), 0.0, 1e-12);
    /* a format check: no 'x' -> format 0 although the stop sequence was there */
    s.check_format = has_x;
    assert_float_equal(step_text(&s, " 12\n\nUser:", &f, &c), 0.9, 1e-12);
    assert_float_equal(step_text(&s, " x=12\n\nUser:", &f, &c), 1.0, 1e-12);

    /* the prompt: few-shot messages then the question, as role_colon renders them */
    tk_message shot[] = {{.role = "user", .content = "What is 1 + 1?"}, {.role = "assistant", .content = "2"}};
    s.fewshot = shot;
    s.n_fewshot = 2;
    tk_rl_env *env;
    tk_err e = {0};
    assert_ok(tk_rl_problem_env_new(&s, &env, &e), &e);
    tk_vec_i32 ob = {0}, want = {0};
    assert_ok(env->ops->initial_observation(env, &ob, &e), &e);
    tk_message all[] = {shot[0], shot[1], {.role = "user", .content = "What is 5 + 7?"}};
    assert_ok(tk_renderer_build_generation_prompt(g_r, all, 3, NULL, NULL, &want, &e), &e);
    assert_int_equal(ob.len, want.len);
    assert_memory_equal(ob.data, want.data, ob.len * sizeof *ob.data);
    tk_vec_free(&ob);
    tk_vec_free(&want);
    env->ops->free(env);
    s.question = NULL;
    assert_err(tk_rl_problem_env_new(&s, &env, &e), TK_EINVAL, &e, "question");
}

/* ---- rollouts with a scripted policy ------------------------------------------------------- */

typedef struct script {
    const char *text;                 /* every sample answers this (with the stop string) */
    int fail_request;                 /* this request index fails (-1: none) */
    size_t calls, requests;
    size_t num_samples[64];
    uint64_t seeds[64];
} script;

static int scripted(void *ctx, tk_rl_sample_request *reqs, size_t n, tk_err *e) {
    script *s = ctx;
    s->calls++;
    for (size_t i = 0; i < n; i++) {
        size_t r = s->requests++;
        if (r < 64) {
            s->num_samples[r] = reqs[i].num_samples;
            s->seeds[r] = reqs[i].seed;
        }
        if ((int)r == s->fail_request) {
            reqs[i].rc = tk_err_set(&reqs[i].err, TK_EREMOTE, "scripted sampler failure");
            continue;
        }
        for (size_t j = 0; j < reqs[i].num_samples; j++) {
            char text[64];
            snprintf(text, sizeof text, "%s\n\nUser:", s->text);
            tk_rl_sample *o = &reqs[i].samples[j];
            enc(NULL, text, strlen(text), false, &o->tokens, e);
            for (size_t k = 0; k < o->tokens.len; k++) assert_int_equal(tk_vec_push(&o->logprobs, -0.5f), 0);
            o->stop_reason = TK_WIRE_STOP_REASON_STOP;
        }
    }
    return 0;
}

static void free_batch(tk_rl_group_builder **b, size_t n, tk_rl_group_outcome *o) {
    for (size_t i = 0; i < n; i++) {
        b[i]->ops->free(b[i]);
        tk_rl_group_free(&o[i].group);
    }
    free(b);
}

static void test_rollout_arithmetic(void **state) {
    tk_rl_env_config c = {.env = "arithmetic", .group_size = 3, .groups_per_batch = 2, .seed = 5, .format_coef = 0.1,
                          .fewshot = true, .max_operand = 0, .renderer = g_r};   /* 0 + 0 */
    tk_rl_dataset *d;
    tk_err e = {0};
    assert_ok(tk_rl_dataset_new(&c, &d, &e), &e);
    assert_int_equal(d->ops->n_batches(d), 100);
    tk_rl_group_builder **b;
    size_t n;
    assert_ok(d->ops->get_batch(d, 0, &b, &n, &e), &e);
    assert_int_equal(n, 2);
    script s = {.text = " 0", .fail_request = -1};
    tk_rl_policy pol = {scripted, &s};
    tk_rl_rollout_limits lim = {.max_tokens = 5};
    tk_rl_group_outcome o[2] = {0};
    assert_ok(tk_rl_rollout_groups(b, n, &pol, &lim, 42, o, &e), &e);
    /* one policy call; one request per group asking for G = 3 samples */
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.requests, 2);
    assert_int_equal(s.num_samples[0], 3);
    assert_int_equal(s.num_samples[1], 3);
    assert_true(s.seeds[0] != s.seeds[1]);
    for (int g = 0; g < 2; g++) {
        assert_int_equal(o[g].status, TK_RL_GROUP_OK);
        assert_int_equal(o[g].group.n, 3);
        assert_string_equal(o[g].group.tag, "arithmetic");
        for (int t = 0; t < 3; t++) {
            assert_int_equal(o[g].group.traj[t].t.len, 1);
            assert_float_equal(tk_rl_group_total_reward(&o[g].group, (size_t)t), 1.0, 0);   /* 0 + 0 = 0 */
        }
    }
    uint64_t seeds0[2] = {s.seeds[0], s.seeds[1]};
    free_batch(b, n, o);

    /* the same batch again: the same requests (determinism), and a failing sampler request fails
     * its group only */
    assert_ok(d->ops->get_batch(d, 0, &b, &n, &e), &e);
    script s2 = {.text = " 1", .fail_request = 1};
    pol.ctx = &s2;
    memset(o, 0, sizeof o);
    assert_ok(tk_rl_rollout_groups(b, n, &pol, &lim, 42, o, &e), &e);
    assert_memory_equal(s2.seeds, seeds0, sizeof seeds0);
    assert_int_equal(o[0].status, TK_RL_GROUP_OK);
    assert_float_equal(tk_rl_group_total_reward(&o[0].group, 0), 0.0, 0);   /* wrong, well formed */
    assert_int_equal(o[1].status, TK_RL_GROUP_FAILED);
    assert_non_null(strstr(o[1].err.msg, "group 1 turn 0: sampling: scripted sampler failure"));
    free_batch(b, n, o);

    /* a prompt longer than max_trajectory_tokens allows: the group is skipped, not failed */
    assert_ok(d->ops->get_batch(d, 1, &b, &n, &e), &e);
    lim.max_trajectory_tokens = 20;
    memset(o, 0, sizeof o);
    assert_ok(tk_rl_rollout_groups(b, n, &pol, &lim, 42, o, &e), &e);
    assert_int_equal(o[0].status, TK_RL_GROUP_SKIPPED_CONTEXT);
    assert_non_null(strstr(o[0].err.msg, "max_trajectory_tokens (20)"));
    free_batch(b, n, o);
    d->ops->free(d);
}

/* An env whose reward is NaN. */
static int nan_initial(tk_rl_env *env, tk_vec_i32 *ob, tk_err *e) { return tk_vec_push(ob, 65); }
static int nan_step(tk_rl_env *env, const int32_t *a, size_t n, tk_wire_stop_reason how, tk_rl_step_result *r, tk_err *e) {
    r->reward = NAN;
    r->episode_done = true;
    return 0;
}
static void nan_free(tk_rl_env *env) { free(env); }
static const tk_rl_env_ops k_nan_ops = {nan_initial, nan_step, nan_free};
static int nan_make(tk_rl_group_builder *b, tk_rl_env ***envs, size_t *n, tk_err *e) {
    *envs = calloc(2, sizeof **envs);
    for (int i = 0; i < 2; i++) {
        (*envs)[i] = calloc(1, sizeof(tk_rl_env));
        (*envs)[i]->ops = &k_nan_ops;
    }
    *n = 2;
    return 0;
}
static const tk_rl_group_builder_ops k_nan_group = {nan_make, NULL, NULL, NULL};

static void test_rollout_nan_reward(void **state) {
    tk_rl_group_builder gb = {&k_nan_group};
    tk_rl_group_builder *b[] = {&gb};
    script s = {.text = "x", .fail_request = -1};
    tk_rl_policy pol = {scripted, &s};
    tk_rl_rollout_limits lim = {.max_tokens = 5};
    tk_rl_group_outcome o[1] = {0};
    tk_err e = {0};
    assert_ok(tk_rl_rollout_groups(b, 1, &pol, &lim, 1, o, &e), &e);
    assert_int_equal(o[0].status, TK_RL_GROUP_FAILED);
    assert_non_null(strstr(o[0].err.msg, "non-finite reward"));
    assert_int_equal(o[0].group.n, 0);
}

static void test_rollout_guess_number(void **state) {
    /* max_number 1: the secret is 1; a guess of 3 hears "Lower." until max_turns */
    tk_rl_env_config c = {.env = "guess_number", .group_size = 2, .groups_per_batch = 1, .seed = 1, .max_number = 1,
                          .max_turns = 3, .renderer = g_r};
    tk_rl_dataset *d;
    tk_err e = {0};
    assert_ok(tk_rl_dataset_new(&c, &d, &e), &e);
    tk_rl_group_builder **b;
    size_t n;
    assert_ok(d->ops->get_batch(d, 0, &b, &n, &e), &e);
    script s = {.text = " 3", .fail_request = -1};
    tk_rl_policy pol = {scripted, &s};
    tk_rl_rollout_limits lim = {.max_tokens = 8, .max_turns = 10};
    tk_rl_group_outcome o[1] = {0};
    assert_ok(tk_rl_rollout_groups(b, n, &pol, &lim, 1, o, &e), &e);
    assert_int_equal(o[0].status, TK_RL_GROUP_OK);
    tk_rl_trajectory *t = &o[0].group.traj[0];
    assert_int_equal(t->t.len, 3);   /* the env's own limit */
    assert_int_equal(s.calls, 3);
    /* turn 0: one request of 2 samples; later turns: one request per env */
    assert_int_equal(s.num_samples[0], 2);
    assert_int_equal(s.requests, 5);
    assert_float_equal(tk_rl_trajectory_reward(t), 0, 0);
    assert_non_null(strstr(t->t.data[0].log, "Lower."));
    /* role_colon has the extension property: each observation extends the previous one plus its
     * action (when the action is what the renderer would write, " 3\n\nUser:"), so the whole
     * trajectory is one datum */
    assert_true(t->t.data[1].ob.len > t->t.data[0].ob.len + t->t.data[0].ac.len);
    assert_memory_equal(t->t.data[1].ob.data, t->t.data[0].ob.data, t->t.data[0].ob.len * sizeof(int32_t));
    tk_arena *a = tk_arena_new(0);
    tk_rl_datums out = {0};
    assert_ok(tk_rl_trajectory_to_data(t, 1, 0, 0, a, &out, &e), &e);
    assert_int_equal(out.len, 1);
    double mask = 0;
    for (size_t k = 0; k < out.data[0].n; k++) mask += out.data[0].mask[k];
    assert_float_equal(mask, 3 * strlen(" 3\n\nUser:"), 0);
    tk_vec_free(&out);
    tk_arena_free(a);
    free_batch(b, n, o);

    /* the right guess ends the episode with reward 1 in one turn; a rollout limit of 1 turn */
    assert_ok(d->ops->get_batch(d, 0, &b, &n, &e), &e);
    script s2 = {.text = " 1", .fail_request = -1};
    pol.ctx = &s2;
    memset(o, 0, sizeof o);
    assert_ok(tk_rl_rollout_groups(b, n, &pol, &lim, 1, o, &e), &e);
    assert_int_equal(o[0].group.traj[1].t.len, 1);
    assert_float_equal(tk_rl_group_total_reward(&o[0].group, 1), 1, 0);
    assert_int_equal(o[0].group.traj[1].stop_reason, TK_RL_STOP_COMPLETED);
    free_batch(b, n, o);
    assert_ok(d->ops->get_batch(d, 0, &b, &n, &e), &e);
    pol.ctx = &s;
    lim.max_turns = 1;
    memset(o, 0, sizeof o);
    assert_ok(tk_rl_rollout_groups(b, n, &pol, &lim, 1, o, &e), &e);
    assert_int_equal(o[0].group.traj[0].t.len, 1);
    assert_int_equal(o[0].group.traj[0].stop_reason, TK_RL_STOP_MAX_TURNS);
    free_batch(b, n, o);
    d->ops->free(d);
}

/* ---- problem files ------------------------------------------------------------------------ */

static char *write_tmp(const char *text) {
    char *p = tk_strdup("/tmp/tinkerc-rl-XXXXXX");
    int fd = mkstemp(p);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return p;
}

static void expect_file_error(const char *env, const char *text, const char *needle) {
    char *p = write_tmp(text);
    tk_rl_env_config c = {.env = env, .dataset = p, .group_size = 2, .groups_per_batch = 1, .renderer = g_r};
    tk_rl_dataset *d = NULL;
    tk_err e = {0};
    int rc = tk_rl_dataset_new(&c, &d, &e);
    assert_true(rc < 0);
    assert_null(d);
    if (!strstr(e.msg, needle)) fail_msg("\"%s\" lacks \"%s\"", e.msg, needle);
    if (strcmp(needle, "no problems") && !strstr(e.msg, p)) fail_msg("\"%s\" does not name the file", e.msg);
    unlink(p);
    free(p);
}

static void test_problem_files(void **state) {
    expect_file_error("math", "{\"problem\": \"1+1?\", \"answer\": \"2\"}\n{\"problem\": \"2+2?\"}\n", ":2: no \"answer\"");
    expect_file_error("math", "{\"problem\": \"1+1?\", \"answer\": \"2\"}\nnot json\n", ":2");
    expect_file_error("math", "{\"problem\": 5, \"answer\": \"2\"}\n", ":1: no \"problem\"");
    expect_file_error("math", "{\"problem\": \"1+1?\", \"answer\": [2]}\n", ":1: \"answer\": expected a string");
    expect_file_error("math", "\n\n", "no problems");
    expect_file_error("gsm8k", "{\"question\": \"q\", \"answer\": \"no final\"}\n", ":1: \"answer\" has no \"#### <number>\"");
    expect_file_error("gsm8k", "{\"problem\": \"q\", \"answer\": \"2\"}\n", "env=math");
    expect_file_error("math", "{\"problem\": \"1+1?\", \"answer\": \"2\"}\n[1]\n", ":2: expected a JSON object");

    /* a good gsm8k file: the answer after ####, thousands commas removed; epochs reshuffle */
    char *p = write_tmp("{\"question\": \"A?\", \"answer\": \"so\\n#### 1,234\"}\n{\"question\": \"B?\", \"answer\": \"#### 7\"}\n");
    tk_rl_env_config c = {.env = "gsm8k", .dataset = p, .group_size = 2, .groups_per_batch = 1, .num_epochs = 2,
                          .renderer = g_r, .format_coef = 0.1};
    tk_rl_dataset *d;
    tk_err e = {0};
    assert_ok(tk_rl_dataset_new(&c, &d, &e), &e);
    assert_int_equal(d->ops->n_batches(d), 4);
    tk_rl_group_builder **b;
    size_t n;
    assert_err(d->ops->get_batch(d, 4, &b, &n, &e), TK_ERANGE, &e, "batch 4");
    /* answer "\boxed{1234}" is right for the question whose answer is 1,234, whichever batch */
    int right = 0;
    for (int64_t i = 0; i < 2; i++) {
        assert_ok(d->ops->get_batch(d, i, &b, &n, &e), &e);
        script s = {.text = "so \\boxed{1234}", .fail_request = -1};
        tk_rl_policy pol = {scripted, &s};
        tk_rl_rollout_limits lim = {.max_tokens = 64};
        tk_rl_group_outcome o[1] = {0};
        assert_ok(tk_rl_rollout_groups(b, n, &pol, &lim, 1, o, &e), &e);
        right += tk_rl_group_total_reward(&o[0].group, 0) == 1.0;
        free_batch(b, n, o);
    }
    assert_int_equal(right, 1);
    d->ops->free(d);
    c.groups_per_batch = 3;
    assert_err(tk_rl_dataset_new(&c, &d, &e), TK_EINVAL, &e, "groups_per_batch=3 is more than the 2 problems");
    unlink(p);
    free(p);
    c.env = "nope";
    assert_err(tk_rl_dataset_new(&c, &d, &e), TK_EINVAL, &e, "unknown environment");
    c.env = "math";
    c.dataset = NULL;
    assert_err(tk_rl_dataset_new(&c, &d, &e), TK_EINVAL, &e, "needs dataset=");
}

/* ---- loss_fn_config and the reports --------------------------------------------------------- */

static void test_loss_config(void **state) {
    tk_arena *a = tk_arena_new(0);
    tk_wire_f64_map m;
    tk_err e = {0};
    assert_ok(tk_rl_parse_loss_config("clip_low_threshold=0.9,clip_high_threshold=1.1", TK_WIRE_LOSS_PPO, a, &m, &e), &e);
    assert_true(m.present);
    assert_int_equal(m.n, 2);
    assert_float_equal(*tk_wire_f64_map_get(&m, "clip_low_threshold"), 0.9, 0);
    assert_float_equal(*tk_wire_f64_map_get(&m, "clip_high_threshold"), 1.1, 0);
    assert_ok(tk_rl_parse_loss_config("{\"beta\": 0.05}", TK_WIRE_LOSS_DRO, a, &m, &e), &e);
    assert_float_equal(*tk_wire_f64_map_get(&m, "beta"), 0.05, 0);
    assert_ok(tk_rl_parse_loss_config(NULL, TK_WIRE_LOSS_IMPORTANCE_SAMPLING, a, &m, &e), &e);
    assert_false(m.present);
    assert_err(tk_rl_parse_loss_config("beta=0.1", TK_WIRE_LOSS_PPO, a, &m, &e), TK_EINVAL, &e, "beta");
    assert_err(tk_rl_parse_loss_config("clip_low_threshold", TK_WIRE_LOSS_PPO, a, &m, &e), TK_EINVAL, &e,
               "\"clip_low_threshold\" is not key=number");
    assert_err(tk_rl_parse_loss_config("clip_low_threshold=abc", TK_WIRE_LOSS_PPO, a, &m, &e), TK_EINVAL, &e, "key=number");
    assert_err(tk_rl_parse_loss_config("{\"beta\": \"x\"}", TK_WIRE_LOSS_DRO, a, &m, &e), TK_EINVAL, &e,
               "loss_fn_config.beta: expected a number");
    assert_err(tk_rl_parse_loss_config("{\"beta\": ", TK_WIRE_LOSS_DRO, a, &m, &e), TK_EPARSE, &e, "loss_fn_config");
    assert_err(tk_rl_parse_loss_config("[1]", TK_WIRE_LOSS_DRO, a, &m, &e), TK_EINVAL, &e, "key=number");
    tk_arena_free(a);
}

static void test_reports(void **state) {
    double r[] = {1, 0};
    tk_rl_group g = make_group(r, NULL, 2);
    g.tag = tk_strdup("demo");
    g.traj[0].t.data[0].log = tk_strdup("answer: <script>&\"");
    char *dir = tk_test_tmpdir();
    tk_err e = {0};
    assert_ok(tk_rl_write_reports(dir, 7, &g, 1, NULL, 4, &e), &e);
    char *p = tk_path_join(dir, "train.html");
    tk_buf b = {0};
    assert_ok(tk_file_read(p, &b, 0, &e), &e);
    assert_non_null(strstr(b.data, "answer: &lt;script&gt;&amp;&quot;"));
    assert_null(strstr(b.data, "<script>"));
    assert_non_null(strstr(b.data, "<h2>Group 0 (demo)</h2>"));
    assert_non_null(strstr(b.data, "+0.500"));
    assert_non_null(strstr(b.data, "-0.500"));
    tk_buf_free(&b);
    free(p);
    p = tk_path_join(dir, "train_rollout_summaries.jsonl");
    assert_ok(tk_file_read(p, &b, 0, &e), &e);
    char *nl = strchr(b.data, '\n');
    assert_non_null(nl);
    json_t *j;
    assert_ok(tk_json_parse(b.data, (size_t)(nl - b.data), "row", &j, &e), &e);
    assert_int_equal(json_integer_value(json_object_get(j, "schema_version")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "iteration")), 7);
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "tags"), 0)), "demo");
    assert_float_equal(json_number_value(json_object_get(j, "advantage")), 0.5, 0);
    json_t *st = json_array_get(json_object_get(j, "steps"), 0);
    assert_int_equal(json_integer_value(json_object_get(st, "ob_len")), 2);
    assert_int_equal(json_integer_value(json_object_get(st, "ac_len")), 1);
    json_decref(j);
    tk_buf_free(&b);
    free(p);
    tk_remove_tree(dir, &e);
    free(dir);
    tk_rl_group_free(&g);
}

/* ---- a registered environment ------------------------------------------------------------- */

static int reg_calls;
static int reg_make(const tk_rl_env_config *c, tk_rl_dataset **out, tk_err *e) {
    reg_calls++;
    tk_rl_env_config a = *c;
    a.env = "arithmetic";
    return tk_rl_arithmetic_dataset_new(&a, out, e);   /* any dataset will do */
}
static int reg_broken(const tk_rl_env_config *c, tk_rl_dataset **out, tk_err *e) {
    *out = NULL;
    return 0;
}

static void test_register_env(void **state) {
    tk_err e = {0};
    assert_ok(tk_rl_env_register("my_env", reg_make, 7, &e), &e);
    assert_err(tk_rl_env_register("my_env", reg_make, 7, &e), TK_EEXIST, &e, "\"my_env\" already exists");
    assert_err(tk_rl_env_register("math", reg_make, 7, &e), TK_EEXIST, &e, "\"math\"");
    assert_err(tk_rl_env_register("x", NULL, 7, &e), TK_EINVAL, &e, "constructor");
    assert_int_equal(tk_rl_env_default_max_tokens("my_env"), 7);
    assert_int_equal(tk_rl_env_default_max_tokens("arithmetic"), 5);
    tk_rl_env_config c = {.env = "my_env", .group_size = 2, .groups_per_batch = 1, .max_operand = 3, .renderer = g_r};
    tk_rl_dataset *d;
    assert_ok(tk_rl_dataset_new(&c, &d, &e), &e);
    assert_int_equal(reg_calls, 1);
    assert_int_equal(d->ops->n_batches(d), 100);
    d->ops->free(d);
    c.env = "nope";
    assert_err(tk_rl_dataset_new(&c, &d, &e), TK_EINVAL, &e, "known: arithmetic, math, gsm8k, guess_number, my_env");
    assert_ok(tk_rl_env_register("broken", reg_broken, 1, &e), &e);
    c.env = "broken";
    assert_err(tk_rl_dataset_new(&c, &d, &e), TK_EINTERNAL, &e, "no dataset");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_advantages),
        cmocka_unit_test(test_datum_single_turn),
        cmocka_unit_test(test_datum_multi_turn),
        cmocka_unit_test(test_kl),
        cmocka_unit_test(test_trajectory_metrics),
        cmocka_unit_test(test_graders),
        cmocka_unit_test(test_problem_env),
        cmocka_unit_test(test_rollout_arithmetic),
        cmocka_unit_test(test_rollout_nan_reward),
        cmocka_unit_test(test_rollout_guess_number),
        cmocka_unit_test(test_problem_files),
        cmocka_unit_test(test_loss_config),
        cmocka_unit_test(test_reports),
        cmocka_unit_test(test_register_env),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
