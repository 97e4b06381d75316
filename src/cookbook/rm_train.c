/* `tinkerc rm`: a pairwise reward model trained with the supervised loop on comparisons
 * rendered as ChatDatasetBuilderFromComparisons does (the "Completion A/B" conversation plus
 * the label, only the label's first token trained). */
#include "tinkerc/cookbook.h"
#include "sl_internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static json_t *rm_config_json(const tk_sl_config *resolved, void *user) {
    tk_rm_config c = *(const tk_rm_config *)user;
    c.sl = *resolved;
    return tk_opts_to_json(tk_rm_options, &c);
}

static tk_pref_comparison swapped(const tk_pref_comparison *c) {
    tk_pref_comparison s = *c;
    s.a = c->b;
    s.b = c->a;
    s.label = c->label == TK_PREF_LABEL_A ? TK_PREF_LABEL_B : c->label == TK_PREF_LABEL_B ? TK_PREF_LABEL_A : c->label;
    return s;
}

int tk_rm_train(const tk_rm_config *cfg, tk_sl_result *res, tk_rm_agreement *agreement, tk_err *e) {
    memset(res, 0, sizeof *res);
    if (agreement) memset(agreement, 0, sizeof *agreement);
    tk_sl_config c = cfg->sl;
    c.train_on_what = (char *)"last_assistant_message";
    c.truncate_long_examples = false;
    if (!c.dataset || !*c.dataset) return tk_err_set(e, TK_EINVAL, "dataset is required (a JSONL file of comparisons)");
    if (c.test_size < 0) return tk_err_set(e, TK_EINVAL, "test_size=%lld: must be >= 0", (long long)c.test_size);
    bool skip = c.on_bad_example && !strcmp(c.on_bad_example, "skip");
    tk_pref_dataset_options po = {.path = c.dataset, .skip_bad = skip, .keep_ties = true};
    tk_pref_dataset *prefs = NULL;
    int rc = tk_pref_dataset_load(&po, &prefs, e);
    if (rc) return rc;

    /* the renderer: a thinking format would put <think> before the label, so the one token the
     * preference model samples would never be the label; qwen3 models get the no-thinking form */
    char *renderer = NULL;
    if (!c.renderer_name) {
        tk_model_ref m;
        const char *r = NULL;
        tk_err ignore = {0};
        if (!tk_model_ref_resolve(c.model_name ? c.model_name : "", &m, &ignore)) {
            if (!tk_model_ref_default_renderer(&m, &r, &ignore) && r && !strcmp(r, "qwen3")) {
                renderer = tk_strdup("qwen3_disable_thinking");
                tk_info("renderer qwen3_disable_thinking: the label must be the first token of the answer");
            }
            tk_model_ref_free(&m);
        }
        if (renderer) c.renderer_name = renderer;
    } else if (!strcmp(c.renderer_name, "qwen3") || strstr(c.renderer_name, "thinking")) {
        if (!strstr(c.renderer_name, "disable_thinking"))
            tk_warn("renderer %s opens the answer with a thinking block: the trained token will be that block's first "
                    "token, not the label (use a no-thinking renderer, e.g. qwen3_disable_thinking)", c.renderer_name);
    }

    /* the comparisons as conversations, in the loaded order, swapped as upstream */
    size_t n;
    const tk_pref_comparison *cmp = tk_pref_dataset_comparisons(prefs, &n, NULL);
    size_t cap = cfg->swap ? 2 * n : n, m = 0;
    tk_conversation *convs = calloc(cap ? cap : 1, sizeof *convs);
    int64_t *lines = calloc(cap ? cap : 1, sizeof *lines);
    if (!convs || !lines) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    tk_rng rng;
    tk_rng_seed(&rng, 0);
    for (size_t i = 0; !rc && i < n; i++) {
        tk_pref_comparison x = cmp[i];
        if (cfg->swap) {
            rc = tk_rm_comparison_conversation(&x, true, &convs[m], e);
            if (!rc) lines[m++] = x.line;
            x = swapped(&cmp[i]);
        } else if (tk_rng_f64(&rng) < 0.5) {
            x = swapped(&cmp[i]);
        }
        if (!rc) rc = tk_rm_comparison_conversation(&x, true, &convs[m], e);
        if (!rc) lines[m++] = x.line;
    }
    tk_sl_dataset *d = NULL;
    tk_sl_dataset_options dopt = {.path = tk_pref_dataset_path(prefs), .test_size = c.test_size,
                                  .shuffle_seed = (uint64_t)c.shuffle_seed, .train_on_what = TK_TRAIN_LAST_ASSISTANT_MESSAGE,
                                  .max_length = c.max_length == TK_OPT_UNSET_INT ? 0 : c.max_length, .skip_bad = skip,
                                  .first_trained_token_only = true};
    if (!rc) rc = tk_sl_dataset_from_conversations(&dopt, convs, lines, m, &d, e);
    else
        for (size_t i = 0; i < m; i++) tk_conversation_free(&convs[i]);
    free(convs);
    free(lines);
    if (!rc) {
        const tk_pref_dataset_stats *st = tk_pref_dataset_get_stats(prefs);
        if (st->skipped) tk_warn("%zu of %zu comparisons skipped; the first: %s", st->skipped, st->lines, st->first_skipped);
        tk_sl_train_hooks h = {.dataset = d, .config_json = rm_config_json, .user = (void *)cfg,
                               .recipe_name = "tinkerc rm", .label = "rm"};
        rc = tk_sl_train_with(&c, &h, res, e);
        if (!rc) res->skipped_examples += st->skipped;
        /* the preference model of the final weights against the labels */
        if (!rc && agreement && cfg->score_comparisons > 0 && res->sampler_path && !res->already_complete) {
            const char *rname = c.renderer_name;
            tk_model_ref mr;
            bool have_ref = false;
            if (!rname && !(rc = tk_model_ref_resolve(c.model_name, &mr, e))) {
                have_ref = true;
                rc = tk_model_ref_default_renderer(&mr, &rname, e);
            }
            size_t k = (size_t)cfg->score_comparisons < n ? (size_t)cfg->score_comparisons : n;
            if (!rc) rc = tk_rm_agreement_of(c.base_url, res->sampler_path, rname, cmp, k, agreement, e);
            if (have_ref) tk_model_ref_free(&mr);
            if (rc) tk_sl_result_free(res);
        }
    }
    free(renderer);
    tk_pref_dataset_free(prefs);
    return rc;
}
