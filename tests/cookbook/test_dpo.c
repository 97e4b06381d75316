/* DPO and preference data, with the real Qwen3 tokenizer:
 *   - the DPO loss, its metrics and d loss / d logprobs against PyTorch (F.logsigmoid + autograd,
 *     tests/data/cookbook/dpo_loss.json from scripts/dpo_reference.py), and the weights the client
 *     sends (weights = −grad) against central finite differences of the loss;
 *   - comparison files in both shapes: labels, ties set aside and counted, the split;
 *   - pairs: chosen first, rejected second, the completion's tokens weighted 1 (reduction=none:
 *     a sequence log-prob), the prompt's 0;
 *   - bad input (issue 10 point 5): not JSON, neither shape, a label other than A/B/Tie, an empty
 *     completion, a completion without an assistant message, an unknown role, a prompt longer
 *     than max_length, a reference whose answer does not match the datum: an error naming
 *     file:line (or the datum), or with skip_bad a count;
 *   - the reward model's comparison conversation (the "Completion A/B" separators, the label). */
#include "test_util.h"

#include <jansson.h>
#include <math.h>

#include "qwen3_fixture.h"

/* ---- the loss ----------------------------------------------------------------------------------- */

/* Datums holding only "weights" (all tk_dpo_loss reads), in arena a. */
static tk_wire_datum *weights_datums(json_t *datums, tk_arena *a, float ***lp, size_t **lens, double **ref) {
    size_t n = json_array_size(datums);
    tk_wire_datum *d = tk_arena_zalloc(a, n * sizeof *d);
    *lp = tk_arena_alloc(a, n * sizeof **lp);
    *lens = tk_arena_alloc(a, n * sizeof **lens);
    *ref = tk_arena_alloc(a, n * sizeof **ref);
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(datums, i), *w = json_object_get(x, "weights"), *l = json_object_get(x, "logprobs");
        size_t m = json_array_size(w);
        assert_int_equal(m, json_array_size(l));
        tk_wire_named_tensor *nt = tk_arena_zalloc(a, sizeof *nt);
        nt->name = "weights";
        nt->tensor.dtype = TK_WIRE_FLOAT32;
        nt->tensor.ndim = 1;
        nt->tensor.shape[0] = (int64_t)m;
        nt->tensor.n = m;
        nt->tensor.data.f32 = tk_arena_alloc(a, m * sizeof(float));
        (*lp)[i] = tk_arena_alloc(a, m * sizeof(float));
        for (size_t k = 0; k < m; k++) {
            nt->tensor.data.f32[k] = (float)json_number_value(json_array_get(w, k));
            (*lp)[i][k] = (float)json_number_value(json_array_get(l, k));
        }
        d[i].loss_fn_inputs = (tk_wire_tensor_map){nt, 1};
        (*lens)[i] = m;
        (*ref)[i] = json_number_value(json_object_get(x, "ref_sum"));
    }
    return d;
}

static void test_loss_against_torch(void **state) {
    json_t *fx = NULL;
    tk_err e = {0};
    assert_ok(tk_json_load_file("tests/data/cookbook/dpo_loss.json", &fx, &e), &e);
    json_t *cases = json_object_get(fx, "cases");
    assert_true(json_array_size(cases) >= 3);
    for (size_t c = 0; c < json_array_size(cases); c++) {
        json_t *cs = json_array_get(cases, c), *datums = json_object_get(cs, "datums");
        tk_arena *a = tk_arena_new(0);
        float **lp;
        size_t *lens;
        double *ref;
        tk_wire_datum *d = weights_datums(datums, a, &lp, &lens, &ref);
        size_t n = json_array_size(datums);
        float **grad = tk_arena_alloc(a, n * sizeof *grad);
        for (size_t i = 0; i < n; i++) grad[i] = tk_arena_zalloc(a, lens[i] * sizeof(float));
        double beta = json_number_value(json_object_get(cs, "beta"));
        tk_dpo_stats st;
        assert_ok(tk_dpo_loss(d, n / 2, (const float *const *)lp, lens, ref, beta, grad, &st, &e), &e);
        double want = json_number_value(json_object_get(cs, "loss"));
        assert_true(fabs(st.loss - want) <= 1e-6 * (1 + fabs(want)));
        assert_true(fabs(st.accuracy - json_number_value(json_object_get(cs, "accuracy"))) < 1e-12);
        assert_true(fabs(st.margin - json_number_value(json_object_get(cs, "margin"))) < 1e-5 * (1 + fabs(st.margin)));
        assert_true(fabs(st.chosen_reward - json_number_value(json_object_get(cs, "chosen_reward"))) < 1e-5 * (1 + fabs(st.chosen_reward)));
        assert_true(fabs(st.rejected_reward - json_number_value(json_object_get(cs, "rejected_reward"))) < 1e-5 * (1 + fabs(st.rejected_reward)));
        assert_int_equal(st.num_pairs, n / 2);
        for (size_t i = 0; i < n; i++) {
            json_t *g = json_object_get(json_array_get(datums, i), "grad");
            for (size_t k = 0; k < lens[i]; k++) {
                double gw = json_number_value(json_array_get(g, k));
                if (fabs(grad[i][k] - gw) > 1e-6 * (1 + fabs(gw)))
                    fail_msg("case %zu datum %zu position %zu: grad %.9g, torch %.9g", c, i, k, grad[i][k], gw);
            }
        }
        /* no gradient wanted: the same statistics */
        tk_dpo_stats st2;
        assert_ok(tk_dpo_loss(d, n / 2, (const float *const *)lp, lens, ref, beta, NULL, &st2, &e), &e);
        assert_true(st2.loss == st.loss && st2.margin == st.margin);
        /* a logprobs array of the wrong length */
        size_t saved = lens[1];
        lens[1] = saved + 1;
        assert_err(tk_dpo_loss(d, n / 2, (const float *const *)lp, lens, ref, beta, grad, &st, &e), TK_EINVAL, &e,
                   "data[1]");
        lens[1] = saved;
        tk_arena_free(a);
    }
    json_decref(fx);
}

/* The client sends weights = −d loss / d logprobs: check them against central differences of the
 * loss itself, over random pairs (seeded), position by position. */
static void test_weights_finite_differences(void **state) {
    tk_rng rng;
    tk_rng_seed(&rng, 11);
    tk_err e = {0};
    for (int trial = 0; trial < 4; trial++) {
        size_t n_pairs = 1 + (size_t)trial, n = 2 * n_pairs;
        double beta = trial == 3 ? 1.5 : 0.1 + 0.2 * trial;
        json_t *datums = json_array();
        for (size_t i = 0; i < n; i++) {
            size_t m = 2 + tk_rng_below(&rng, 6);
            json_t *w = json_array(), *l = json_array();
            for (size_t k = 0; k < m; k++) {
                json_array_append_new(w, json_real(k == 0 ? 0.0 : (tk_rng_f64(&rng) < 0.2 ? 0.0 : 1.0)));
                json_array_append_new(l, json_real(-0.1 - 3 * tk_rng_f64(&rng)));
            }
            json_array_append_new(datums, json_pack("{s:o,s:o,s:f}", "weights", w, "logprobs", l, "ref_sum",
                                                    -1 - 5 * tk_rng_f64(&rng)));
        }
        tk_arena *a = tk_arena_new(0);
        float **lp;
        size_t *lens;
        double *ref;
        tk_wire_datum *d = weights_datums(datums, a, &lp, &lens, &ref);
        float **grad = tk_arena_alloc(a, n * sizeof *grad);
        for (size_t i = 0; i < n; i++) grad[i] = tk_arena_zalloc(a, lens[i] * sizeof(float));
        tk_dpo_stats st;
        assert_ok(tk_dpo_loss(d, n_pairs, (const float *const *)lp, lens, ref, beta, grad, &st, &e), &e);
        const float h = 1.0f / 64;   /* exact in float: lp ± h is what the loss sees */
        for (size_t i = 0; i < n; i++)
            for (size_t k = 0; k < lens[i]; k++) {
                float x = lp[i][k];
                tk_dpo_stats up, down;
                lp[i][k] = x + h;
                assert_ok(tk_dpo_loss(d, n_pairs, (const float *const *)lp, lens, ref, beta, NULL, &up, &e), &e);
                lp[i][k] = x - h;
                assert_ok(tk_dpo_loss(d, n_pairs, (const float *const *)lp, lens, ref, beta, NULL, &down, &e), &e);
                lp[i][k] = x;
                double fd = (up.loss - down.loss) / (2.0 * ((double)(x + h) - (double)x));
                double weight = -(double)grad[i][k];   /* what forward_backward_custom sends */
                if (fabs(-fd - weight) > 1e-4 * (1 + fabs(fd)))
                    fail_msg("trial %d datum %zu position %zu: weight %.8g, -d loss/d lp by differences %.8g", trial, i,
                             k, weight, -fd);
                /* chosen datums get positive weights (push their logprob up), rejected negative */
                const tk_wire_tensor *w = tk_wire_tensor_map_get(&d[i].loss_fn_inputs, "weights");
                if (w->data.f32[k] > 0) assert_true(i % 2 == 0 ? weight > 0 : weight < 0);
                else assert_true(weight == 0);
            }
        tk_arena_free(a);
        json_decref(datums);
    }
}

/* ---- comparison files ------------------------------------------------------------------------------ */

#define CMP(p, a, b, l)                                                                                        \
    "{\"comparison\": {\"prompt_conversation\": [{\"role\": \"user\", \"content\": \"" p "\"}], \"completion_A\": " \
    "[{\"role\": \"assistant\", \"content\": \"" a "\"}], \"completion_B\": [{\"role\": \"assistant\", "            \
    "\"content\": \"" b "\"}]}, \"label\": " l "}\n"
#define PCR(p, c, r) "{\"prompt\": [{\"role\": \"user\", \"content\": \"" p "\"}], \"chosen\": [{\"role\": \"assistant\", " \
    "\"content\": \"" c "\"}], \"rejected\": [{\"role\": \"assistant\", \"content\": \"" r "\"}]}\n"

static tk_pref_dataset_options popts(const char *path) {
    tk_pref_dataset_options o = {.path = path};
    return o;
}

static char *decode_weighted(const tk_wire_datum *d, bool weighted) {
    const tk_wire_tensor *w = tk_wire_tensor_map_get(&d->loss_fn_inputs, "weights");
    const tk_wire_tensor *t = tk_wire_tensor_map_get(&d->loss_fn_inputs, "target_tokens");
    tk_vec_i32 ids = {0};
    for (size_t k = 0; k < w->n; k++)
        if ((w->data.f32[k] > 0) == weighted) assert_int_equal(tk_vec_push(&ids, (int32_t)t->data.i64[k]), 0);
    tk_buf out = {0};
    tk_err e = {0};
    assert_ok(tk_tokenizer_decode(g_tok, ids.data, ids.len, false, &out, &e), &e);
    tk_vec_free(&ids);
    char *s = tk_strdup(out.data ? out.data : "");
    tk_buf_free(&out);
    return s;
}

static void test_shapes_ties_pairs(void **state) {
    char *p = write_file("prefs.jsonl", CMP("Say hi.", "Hi!", "Hello there, friend.", "\"A\"")
                                       CMP("Name a fruit.", "Apple, a crunchy fruit.", "Pear.", "\"B\"")
                                       "\n"
                                       CMP("Pick one.", "One.", "Two.", "\"Tie\"")
                                       PCR("Capital of Peru?", "Lima.", "Lima, which is a city in Peru."));
    tk_err e = {0};
    tk_pref_dataset *d;
    tk_pref_dataset_options o = popts(p);
    assert_ok(tk_pref_dataset_load(&o, &d, &e), &e);
    const tk_pref_dataset_stats *st = tk_pref_dataset_get_stats(d);
    assert_int_equal(st->lines, 4);
    assert_int_equal(st->ties, 1);
    assert_int_equal(st->skipped, 0);
    size_t n, n_test;
    const tk_pref_comparison *c = tk_pref_dataset_comparisons(d, &n, &n_test);
    assert_int_equal(n, 3);
    assert_int_equal(n_test, 0);
    /* every pair: chosen first, its completion weighted; the prompt never is */
    const char *want_chosen[] = {"Hi!", "Pear.", "Lima."}, *want_rejected[] = {"Hello there", "Apple", "which is a city"};
    const char *prompts[] = {"Say hi.", "Name a fruit.", "Capital of Peru?"};
    for (size_t i = 0; i < n; i++) {
        int which = c[i].line == 1 ? 0 : c[i].line == 2 ? 1 : 2;
        assert_int_equal(c[i].line, which == 2 ? 5 : which + 1);
        tk_arena *a = tk_arena_new(0);
        tk_wire_datum pair[2];
        assert_ok(tk_dpo_render_pair(g_r, &c[i], 0, "x", a, pair, &e), &e);
        for (int s = 0; s < 2; s++) {
            const tk_wire_tensor *w = tk_wire_tensor_map_get(&pair[s].loss_fn_inputs, "weights");
            for (size_t k = 0; k < w->n; k++) assert_true(w->data.f32[k] == 0.0f || w->data.f32[k] == 1.0f);
            char *trained = decode_weighted(&pair[s], true), *rest = decode_weighted(&pair[s], false);
            assert_non_null(strstr(trained, s == 0 ? want_chosen[which] : want_rejected[which]));
            assert_null(strstr(trained, s == 0 ? want_rejected[which] : want_chosen[which]));
            assert_null(strstr(trained, prompts[which]));
            assert_non_null(strstr(rest, prompts[which]));
            assert_non_null(strstr(trained, "<|im_end|>"));
            free(trained);
            free(rest);
        }
        tk_arena_free(a);
    }
    tk_pref_dataset_free(d);

    /* reward models keep the ties */
    o.keep_ties = true;
    assert_ok(tk_pref_dataset_load(&o, &d, &e), &e);
    c = tk_pref_dataset_comparisons(d, &n, NULL);
    assert_int_equal(n, 4);
    assert_int_equal(tk_pref_dataset_get_stats(d)->ties, 0);
    /* a tie cannot be a DPO pair */
    for (size_t i = 0; i < n; i++)
        if (c[i].label == TK_PREF_LABEL_TIE) {
            tk_arena *a = tk_arena_new(0);
            tk_wire_datum pair[2];
            assert_err(tk_dpo_render_pair(g_r, &c[i], 0, "here:4", a, pair, &e), TK_EINVAL, &e, "here:4: a tie");
            tk_arena_free(a);
        }
    tk_pref_dataset_free(d);

    /* split: the same shuffle_seed gives the same test lines */
    o.keep_ties = false;
    o.test_size = 1;
    o.shuffle_seed = 3;
    tk_pref_dataset *d2;
    assert_ok(tk_pref_dataset_load(&o, &d, &e), &e);
    assert_ok(tk_pref_dataset_load(&o, &d2, &e), &e);
    const tk_pref_comparison *c2 = tk_pref_dataset_comparisons(d2, &n, &n_test);
    c = tk_pref_dataset_comparisons(d, &n, &n_test);
    assert_int_equal(n_test, 1);
    for (size_t i = 0; i < n; i++) assert_int_equal(c[i].line, c2[i].line);
    tk_pref_dataset_free(d);
    tk_pref_dataset_free(d2);
    /* only ties: nothing left */
    char *ties = write_file("ties.jsonl", CMP("a", "b", "c", "\"Tie\""));
    o = popts(ties);
    assert_err(tk_pref_dataset_load(&o, &d, &e), TK_EINVAL, &e, "left after setting aside the ties");
    free(ties);
    free(p);
}

static void test_bad_rows(void **state) {
    struct {
        const char *line, *want;
    } cases[] = {
        {"{\"comparison\": {\"prompt_conversation\": [", "bad.jsonl:2"},
        {"[1, 2]", "bad.jsonl:2: expected a JSON object"},
        {"{\"messages\": []}", "bad.jsonl:2: neither \"comparison\" nor \"chosen\"/\"rejected\""},
        {CMP("q", "a", "b", "\"C\""), "bad.jsonl:2: label: \"C\" is not \"A\", \"B\" or \"Tie\""},
        {CMP("q", "a", "b", "1"), "bad.jsonl:2: label: 1 is not"},
        {"{\"comparison\": {\"prompt_conversation\": [], \"completion_A\": [], \"completion_B\": [{\"role\": \"assistant\", "
         "\"content\": \"x\"}]}, \"label\": \"A\"}", "bad.jsonl:2: comparison.completion_A: the completion is empty"},
        {"{\"comparison\": {\"prompt_conversation\": [], \"completion_A\": [{\"role\": \"user\", \"content\": \"x\"}], "
         "\"completion_B\": [{\"role\": \"assistant\", \"content\": \"x\"}]}, \"label\": \"A\"}",
         "completion_A: the completion has no assistant message"},
        {"{\"comparison\": {\"completion_A\": [], \"completion_B\": []}, \"label\": \"A\"}",
         "bad.jsonl:2: no \"comparison.prompt_conversation\""},
        {"{\"comparison\": {\"prompt_conversation\": [], \"completion_A\": [{\"role\": \"robot\", \"content\": \"x\"}], "
         "\"completion_B\": [{\"role\": \"assistant\", \"content\": \"x\"}]}, \"label\": \"A\"}", "unknown role \"robot\""},
        {"{\"comparison\": {\"prompt_conversation\": [], \"completion_A\": [{\"role\": \"assistant\", \"content\": \"x\"}], "
         "\"completion_B\": [{\"role\": \"assistant\", \"content\": \"x\"}]}}", "bad.jsonl:2: no \"label\""},
        {"{\"prompt\": \"q\", \"chosen\": \"\", \"rejected\": 3}", "bad.jsonl:2: rejected: expected a list of messages or a string"},
        {"{\"prompt\": \"q\", \"chosen\": [], \"rejected\": \"r\"}", "bad.jsonl:2: chosen: the completion is empty"},
        {"{\"comparison\": 7, \"label\": \"A\"}", "comparison: expected an object"},
    };
    tk_err e = {0};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        tk_buf text = {0};
        assert_ok(tk_buf_printf(&text, "%s%s\n%s", PCR("ok?", "yes", "no"), cases[i].line, PCR("ok2?", "y", "n")), NULL);
        char *p = write_file("bad.jsonl", text.data);
        tk_buf_free(&text);
        tk_pref_dataset *d = NULL;
        tk_pref_dataset_options o = popts(p);
        int rc = tk_pref_dataset_load(&o, &d, &e);
        if (rc == 0) fail_msg("case %zu accepted: %s", i, cases[i].line);
        if (!strstr(e.msg, cases[i].want)) fail_msg("case %zu: \"%s\" lacks \"%s\"", i, e.msg, cases[i].want);
        assert_null(d);
        /* skip: counted, the good rows kept */
        o.skip_bad = true;
        tk_log_set_hook(quiet, NULL);
        assert_ok(tk_pref_dataset_load(&o, &d, &e), &e);
        tk_log_set_hook(NULL, NULL);
        assert_int_equal(tk_pref_dataset_get_stats(d)->skipped, 1);
        assert_non_null(strstr(tk_pref_dataset_get_stats(d)->first_skipped, "bad.jsonl:2"));
        size_t n;
        tk_pref_dataset_comparisons(d, &n, NULL);
        assert_int_equal(n, 2);
        tk_pref_dataset_free(d);
        free(p);
    }
    /* an empty file, a missing file */
    char *p = write_file("empty.jsonl", "\n\n");
    tk_pref_dataset *d;
    tk_pref_dataset_options o = popts(p);
    assert_err(tk_pref_dataset_load(&o, &d, &e), TK_EINVAL, &e, "no comparisons (the file is empty)");
    o.path = "/nonexistent/prefs.jsonl";
    assert_err(tk_pref_dataset_load(&o, &d, &e), TK_ENOTFOUND, &e, "/nonexistent/prefs.jsonl");
    free(p);
}

static void test_long_prompt_and_reference_mismatch(void **state) {
    tk_buf text = {0};
    assert_ok(tk_buf_puts(&text, "{\"prompt\": \""), NULL);
    for (int i = 0; i < 200; i++) assert_ok(tk_buf_puts(&text, "word "), NULL);
    assert_ok(tk_buf_puts(&text, "\", \"chosen\": \"Yes.\", \"rejected\": \"No.\"}\n"), NULL);
    char *p = write_file("long.jsonl", text.data);
    tk_buf_free(&text);
    tk_err e = {0};
    tk_pref_dataset *d;
    tk_pref_dataset_options o = popts(p);
    assert_ok(tk_pref_dataset_load(&o, &d, &e), &e);
    size_t n;
    const tk_pref_comparison *c = tk_pref_dataset_comparisons(d, &n, NULL);
    tk_arena *a = tk_arena_new(0);
    tk_wire_datum pair[2];
    /* the prompt fills max_length: no completion token would be trained */
    assert_err(tk_dpo_render_pair(g_r, c, 64, "long.jsonl:1", a, pair, &e), TK_ERANGE, &e,
               "long.jsonl:1: chosen: the prompt is");
    assert_non_null(strstr(e.msg, "not shorter than max_length=64"));
    /* a cut that keeps some of the completion is fine (upstream truncates), and no limit too */
    assert_ok(tk_dpo_render_pair(g_r, c, 0, "long.jsonl:1", a, pair, &e), &e);
    size_t full = pair[0].model_input.chunks[0].n_tokens + 1;
    assert_ok(tk_dpo_render_pair(g_r, c, (int64_t)full - 1, "long.jsonl:1", a, pair, &e), &e);
    assert_int_equal(pair[0].model_input.chunks[0].n_tokens + 1, full - 1);

    /* the reference's answer: one logprob per token of model_input + the last target */
    assert_ok(tk_dpo_render_pair(g_r, c, 0, "long.jsonl:1", a, pair, &e), &e);
    const tk_wire_tensor *w = tk_wire_tensor_map_get(&pair[0].loss_fn_inputs, "weights");
    float *lp = tk_arena_alloc(a, (w->n + 2) * sizeof *lp);
    double want = 0;
    for (size_t k = 0; k < w->n + 1; k++) lp[k] = k == 0 ? NAN : -0.25f * (float)(k % 5);
    for (size_t k = 0; k < w->n; k++) want += w->data.f32[k] * lp[k + 1];
    double got;
    assert_ok(tk_dpo_reference_sum(&pair[0], lp, w->n + 1, &got, &e), &e);
    assert_true(fabs(got - want) < 1e-9 && want < 0);
    assert_err(tk_dpo_reference_sum(&pair[0], lp, w->n + 2, &got, &e), TK_EINVAL, &e, "does not match the policy");
    assert_err(tk_dpo_reference_sum(&pair[0], lp, w->n, &got, &e), TK_EINVAL, &e, "does not match the policy");
    lp[w->n] = NAN;   /* the last position is trained: a NaN there is an error */
    assert_err(tk_dpo_reference_sum(&pair[0], lp, w->n + 1, &got, &e), TK_EINVAL, &e, "not finite");
    tk_arena_free(a);
    tk_pref_dataset_free(d);
    free(p);
}

/* ---- reward models ------------------------------------------------------------------------------ */

static void test_rm_conversation_and_label_token(void **state) {
    char *p = write_file("rm.jsonl", CMP("Say hi.", "Hi!", "Hello there, friend.", "\"B\"")
                                         CMP("Pick one.", "One.", "Two.", "\"Tie\""));
    tk_err e = {0};
    tk_pref_dataset *d;
    tk_pref_dataset_options o = popts(p);
    o.keep_ties = true;
    assert_ok(tk_pref_dataset_load(&o, &d, &e), &e);
    size_t n;
    const tk_pref_comparison *c = tk_pref_dataset_comparisons(d, &n, NULL);
    assert_int_equal(n, 2);
    /* the layout of upstream's ComparisonRendererFromChatRenderer (preference/types.py) */
    const tk_pref_comparison *b = c[0].line == 1 ? &c[0] : &c[1];
    tk_conversation conv;
    assert_ok(tk_rm_comparison_conversation(b, true, &conv, &e), &e);
    const char *roles[] = {"user", "system", "assistant", "system", "assistant", "system", "assistant"};
    const char *texts[] = {"Say hi.", "==== Completion A ====", "Hi!", "==== Completion B ====", "Hello there, friend.",
                           "==== Preference ====", "B"};
    assert_int_equal(conv.n_messages, 7);
    for (size_t i = 0; i < 7; i++) {
        assert_string_equal(conv.messages[i].role, roles[i]);
        assert_string_equal(conv.messages[i].content, texts[i]);
    }
    tk_conversation_free(&conv);
    assert_ok(tk_rm_comparison_conversation(b, false, &conv, &e), &e);
    assert_int_equal(conv.n_messages, 6);
    tk_conversation_free(&conv);

    /* rendered and cut right after the first trained token: with qwen3_disable_thinking that is
     * the label; with qwen3 it would be <think> (why tinkerc rm switches qwen3 models) */
    tk_renderer *nothink;
    assert_ok(tk_renderer_new("qwen3_disable_thinking", g_tok, NULL, &nothink, &e), &e);
    const tk_renderer *rs[2] = {nothink, g_r};
    const char *want[2][2] = {{"B", "T"}, {"<think>", "<think>"}};
    for (int ri = 0; ri < 2; ri++) {
        tk_conversation convs[2];
        int64_t lines[2];
        for (size_t i = 0; i < 2; i++) {
            assert_ok(tk_rm_comparison_conversation(&c[i], true, &convs[i], &e), &e);
            lines[i] = c[i].line;
        }
        tk_sl_dataset_options so = {.path = p, .train_on_what = TK_TRAIN_LAST_ASSISTANT_MESSAGE, .first_trained_token_only = true};
        tk_sl_dataset *sd;
        assert_ok(tk_sl_dataset_from_conversations(&so, convs, lines, 2, &sd, &e), &e);
        assert_null(convs[0].messages);   /* taken */
        assert_ok(tk_sl_dataset_render(sd, rs[ri], &e), &e);
        assert_int_equal(tk_sl_dataset_n_train(sd), 2);
        tk_wire_datum batch[2];
        int64_t bl[2];
        assert_ok(tk_sl_dataset_get_batch(sd, 0, 2, batch, bl, &e), &e);
        for (int k = 0; k < 2; k++) {
            const tk_wire_tensor *w = tk_wire_tensor_map_get(&batch[k].loss_fn_inputs, "weights");
            const tk_wire_tensor *t = tk_wire_tensor_map_get(&batch[k].loss_fn_inputs, "target_tokens");
            for (size_t j = 0; j + 1 < w->n; j++) assert_true(w->data.f32[j] == 0.0f);
            assert_true(w->data.f32[w->n - 1] > 0);   /* the sequence ends at its only trained token */
            int32_t id = (int32_t)t->data.i64[t->n - 1];
            tk_buf text = {0};
            assert_ok(tk_tokenizer_decode(g_tok, &id, 1, false, &text, &e), &e);
            const char *expect = want[ri][bl[k] == b->line ? 0 : 1];
            if (strncmp(text.data, expect, strlen(expect)))
                fail_msg("renderer %d line %lld: trained token \"%s\", expected \"%s\"", ri, (long long)bl[k], text.data, expect);
            tk_buf_free(&text);
        }
        tk_sl_dataset_free(sd);
    }
    tk_renderer_free(nothink);
    tk_pref_dataset_free(d);
    free(p);

    /* what a sampled answer means */
    double sc;
    assert_true(tk_preference_from_text("A", &sc) && sc == -1);
    assert_true(tk_preference_from_text(" B\n", &sc) && sc == 1);
    assert_true(tk_preference_from_text("Tie", &sc) && sc == 0);
    assert_false(tk_preference_from_text("C", &sc));
    assert_true(sc == 0);
    assert_false(tk_preference_from_text("AB", &sc));
    assert_false(tk_preference_from_text("", &sc));
    assert_false(tk_preference_from_text("<think>", &sc));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loss_against_torch),
        cmocka_unit_test(test_weights_finite_differences),
        cmocka_unit_test(test_shapes_ties_pairs),
        cmocka_unit_test(test_bad_rows),
        cmocka_unit_test(test_long_prompt_and_reference_mismatch),
        cmocka_unit_test(test_rm_conversation_and_label_token),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
