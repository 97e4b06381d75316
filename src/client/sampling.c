/* The sampling client (§3.6): asample with a per-client seq_id counter, 429 back-pressure, and
 * the whole request submitted again with a NEW seq_id when retrieve_future answers 410 (the
 * SDK's RetryHandler). compute_logprobs is asample with max_tokens 1 and prompt logprobs. */
#include "internal.h"
#include "sdk.h"

#include <string.h>

int tk_sampling_new(tk_client_service *svc, const char *sampling_session_id,
                    tk_client_sampling **out, tk_err *e) {
    *out = NULL;
    tk_client_sampling *s = calloc(1, sizeof *s);
    if (!s || !(s->session_id = tk_strdup(sampling_session_id))) {
        free(s);
        return tk_err_set(e, TK_ENOMEM, "sampling client: out of memory");
    }
    atomic_init(&s->refs, 1);
    atomic_init(&s->seq, 0);
    s->svc = svc;
    tk_svc_ref(svc);
    *out = s;
    return 0;
}

void tk_sampling_ref(tk_client_sampling *s) { atomic_fetch_add(&s->refs, 1); }

void tk_sampling_unref(tk_client_sampling *s) {
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1) return;
    tk_svc_unref(s->svc);
    free(s->session_id);
    free(s);
}

void tk_client_sampling_free(tk_client_sampling *s) { tk_sampling_unref(s); }

const char *tk_client_sampling_session_id(const tk_client_sampling *s) { return s->session_id; }

/* The request without its seq_id ("{…}"); each submission splices "seq_id":N in front. Kept in
 * the transport future's user slot, so it lives as long as the call can be re-submitted. */
typedef struct resample_ctx {
    tk_client_sampling *s;        /* a reference: the counter */
    char *tmpl;
    size_t tmpl_len;
} resample_ctx;

static void resample_free(void *p) {
    resample_ctx *r = p;
    if (!r) return;
    tk_sampling_unref(r->s);
    free(r->tmpl);
    free(r);
}

static char *splice_seq(const resample_ctx *r, int64_t seq, size_t *len) {
    tk_buf b = {0};
    if (tk_buf_printf(&b, "{\"seq_id\":%lld%s", (long long)seq, r->tmpl_len > 2 ? "," : "") ||
        tk_buf_append(&b, r->tmpl + 1, r->tmpl_len - 1)) {
        tk_buf_free(&b);
        return NULL;
    }
    *len = b.len;
    return b.data;
}

/* 410 from retrieve_future: the same request under the next seq_id (I/O thread). */
static int rebody(void *user, int attempt, void **body, size_t *body_len, tk_err *e) {
    (void)attempt;
    resample_ctx *r = user;
    int64_t seq = atomic_fetch_add(&r->s->seq, 1);
    size_t len = 0;
    char *b = splice_seq(r, seq, &len);
    if (!b) return tk_err_set(e, TK_ENOMEM, "asample: out of memory");
    *body = b;
    *body_len = len;
    return 0;
}

static int sample(tk_client_sampling *s, tk_client_task_kind kind, const char *what,
                  const tk_wire_sample_request *req, tk_client_task **out, tk_err *e) {
    *out = NULL;
    tk_client *c = NULL;
    int rc = tk_svc_client(s->svc, &c, e);
    if (rc) return rc;
    tk_buf tmpl = {0};
    if ((rc = tk_wire_json_encode(TK_WIRE_MSG_SAMPLE_REQUEST, req, &tmpl, e))) {
        tk_buf_free(&tmpl);
        return tk_err_prefix(e, "%s: ", what);
    }
    resample_ctx *r = calloc(1, sizeof *r);
    if (!r) {
        tk_buf_free(&tmpl);
        return tk_err_set(e, TK_ENOMEM, "%s: out of memory", what);
    }
    r->tmpl = tmpl.data;
    r->tmpl_len = tmpl.len;
    r->s = s;
    tk_sampling_ref(s);
    size_t len = 0;
    char *body = splice_seq(r, atomic_fetch_add(&s->seq, 1), &len);
    char name[160];
    snprintf(name, sizeof name, "%s (sampler %.100s)", what, s->session_id);
    tk_task *t = body ? tk_task_new(s->svc, kind, TK_WIRE_MSG_SAMPLE_RESPONSE, name) : NULL;
    if (!t) {
        free(body);
        resample_free(r);
        return tk_err_set(e, TK_ENOMEM, "%s: out of memory", what);
    }
    tk_client_call_spec spec = {
        .path = "/api/v1/asample", .body = body, .body_len = len, .give_body = true,
        .max_retries = TK_CLIENT_NO_RETRIES, .exec_retries = true,
        .sampling_backpressure = true, .is_future = true, .request_type = "Sample",
        .poll_accept = "application/x-protobuf, application/json",
        .resubmit_on_expired = true, .rebody = rebody, .rebody_user = r};
    tk_svc_spec_defaults(s->svc, &spec);
    tk_client_future *f = NULL;
    if ((rc = tk_client_call(c, &spec, &f, e))) {
        resample_free(r);
        tk_client_task_release(t);
        return tk_err_prefix(e, "%s: ", name);
    }
    /* The future keeps r until it is freed, after the last re-submission. */
    tk_client_future_set_user(f, r, resample_free);
    tk_task_attach(t, &f, NULL, 1);
    *out = t;
    return 0;
}

static int check_prompt(const char *what, const tk_wire_model_input *prompt, tk_err *e) {
    if (!prompt || prompt->n_chunks == 0)
        return tk_err_set(e, TK_EINVAL, "%s: the prompt is empty", what);
    int64_t len = 0;
    int rc = tk_wire_model_input_length(prompt, &len, e);
    return rc ? tk_err_prefix(e, "%s: prompt: ", what) : 0;
}

int tk_client_sampling_sample(tk_client_sampling *s, const tk_wire_model_input *prompt,
                              int64_t num_samples, const tk_wire_sampling_params *params,
                              bool include_prompt_logprobs, int64_t topk_prompt_logprobs,
                              tk_client_task **out, tk_err *e) {
    *out = NULL;
    int rc = check_prompt("sample", prompt, e);
    if (rc) return rc;
    if (num_samples < 1)
        return tk_err_set(e, TK_EINVAL, "sample: num_samples %lld must be >= 1",
                          (long long)num_samples);
    if (topk_prompt_logprobs < 0)
        return tk_err_set(e, TK_EINVAL, "sample: topk_prompt_logprobs must be >= 0");
    tk_wire_sample_request req;
    tk_wire_init(TK_WIRE_MSG_SAMPLE_REQUEST, &req);
    req.sampling_session_id = s->session_id;
    req.num_samples = num_samples;
    req.prompt = *prompt;
    if (params) req.sampling_params = *params;
    req.has_prompt_logprobs = true;
    req.prompt_logprobs = include_prompt_logprobs;
    req.topk_prompt_logprobs = topk_prompt_logprobs;
    return sample(s, TK_CLIENT_TASK_SAMPLE, "sample", &req, out, e);
}

int tk_client_sampling_compute_logprobs(tk_client_sampling *s, const tk_wire_model_input *prompt,
                                        tk_client_task **out, tk_err *e) {
    *out = NULL;
    int rc = check_prompt("compute_logprobs", prompt, e);
    if (rc) return rc;
    tk_wire_sample_request req;
    tk_wire_init(TK_WIRE_MSG_SAMPLE_REQUEST, &req);
    req.sampling_session_id = s->session_id;
    req.num_samples = 1;
    req.prompt = *prompt;
    req.sampling_params.has_max_tokens = true;
    req.sampling_params.max_tokens = 1;
    req.has_prompt_logprobs = true;
    req.prompt_logprobs = true;
    return sample(s, TK_CLIENT_TASK_COMPUTE_LOGPROBS, "compute_logprobs", &req, out, e);
}
