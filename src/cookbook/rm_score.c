/* How often a trained reward model's preference agrees with the labels of a comparison file:
 * the preference model (tk_preference_model_score) over the final sampler weights. */
#include "tinkerc/cookbook.h"

#include <string.h>

int tk_rm_agreement_of(const char *base_url, const char *sampler_path, const char *renderer_name,
                       const tk_pref_comparison *c, size_t n, tk_rm_agreement *out, tk_err *e) {
    memset(out, 0, sizeof *out);
    double t0 = tk_now_s();
    tk_client_service_options so;
    tk_client_service_options_init(&so);
    so.client.base_url = base_url;
    tk_client_service *svc = NULL;
    tk_client_sampling *s = NULL;
    tk_tokenizer *tok = NULL;
    tk_renderer *r = NULL;
    tk_client_task *t = NULL;
    int rc = tk_client_service_open(&so, &svc, e);
    if (!rc && !(rc = tk_client_service_create_sampling_client(svc, sampler_path, NULL, &t, e)))
        rc = tk_client_sampling_result(t, -1, &s, e);
    tk_client_task_release(t);
    if (!rc) rc = tk_client_sampling_get_tokenizer(s, 120, &tok, e);
    if (!rc) rc = tk_renderer_new(renderer_name, tok, NULL, &r, e);
    if (rc) tk_err_prefix(e, "the reward model %s: ", sampler_path);
    for (size_t i = 0; !rc && i < n; i++) {
        if (c[i].label == TK_PREF_LABEL_TIE) continue;
        double score;
        bool valid;
        rc = tk_preference_model_score(s, r, &c[i], &score, &valid, e);
        out->n++;
        out->valid += valid;
        out->agree += valid && (c[i].label == TK_PREF_LABEL_A ? score < 0 : score > 0);
    }
    out->seconds = tk_now_s() - t0;
    tk_renderer_free(r);
    tk_tokenizer_free(tok);
    tk_client_sampling_free(s);
    tk_client_service_close(svc);
    return rc;
}
