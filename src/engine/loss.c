/* The five Tinker losses: request validation (inputs, dtypes, lengths, config keys), packing of
 * the datums into flat per-token arrays, and the elementwise loss with its derivative. */
#include "internal.h"

#include <math.h>
#include <string.h>

typedef struct loss_def {
    const char *name;
    tk_loss_kind kind;
    const char *const *inputs;          /* required loss_fn_inputs */
    const char *const *config_keys;
} loss_def;

static const char *const CE_INPUTS[] = {"target_tokens", "weights", NULL};
static const char *const RL_INPUTS[] = {"target_tokens", "logprobs", "advantages", NULL};
static const char *const NO_KEYS[] = {NULL};
static const char *const CLIP_KEYS[] = {"clip_low_threshold", "clip_high_threshold", NULL};
static const char *const DRO_KEYS[] = {"beta", NULL};

static const loss_def LOSSES[] = {
    {"cross_entropy", TK_LOSS_CE, CE_INPUTS, NO_KEYS},
    {"importance_sampling", TK_LOSS_IS, RL_INPUTS, NO_KEYS},
    {"ppo", TK_LOSS_PPO, RL_INPUTS, CLIP_KEYS},
    {"cispo", TK_LOSS_CISPO, RL_INPUTS, CLIP_KEYS},
    {"dro", TK_LOSS_DRO, RL_INPUTS, DRO_KEYS},
};
#define N_LOSSES (sizeof LOSSES / sizeof LOSSES[0])

static const loss_def *find_loss(const char *name) {
    for (size_t i = 0; name && i < N_LOSSES; i++)
        if (!strcmp(LOSSES[i].name, name)) return &LOSSES[i];
    return NULL;
}

static bool in_list(const char *const *list, const char *s) {
    for (; *list; list++)
        if (!strcmp(*list, s)) return true;
    return false;
}

static void join_list(const char *const *list, char *buf, size_t n) {
    buf[0] = 0;
    size_t len = 0;
    for (; *list && len < n; list++) len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? ", " : "", *list);
}

int tk_loss_spec_parse(const tk_engine_request *req, tk_loss_spec *spec, tk_err *e) {
    const loss_def *d = find_loss(req->loss_fn);
    if (!d)
        return tk_err_set(e, TK_EINVAL,
                          "loss_fn: unknown loss \"%s\" (expected cross_entropy, importance_sampling, ppo, cispo or dro)",
                          req->loss_fn ? req->loss_fn : "(null)");
    memset(spec, 0, sizeof *spec);
    spec->kind = d->kind;
    spec->clip_lo = 0.8;
    spec->clip_hi = 1.2;
    spec->beta = 0.05;
    if (req->n_config && !req->config) return tk_err_set(e, TK_EINVAL, "loss_fn_config: NULL with %zu entries", req->n_config);
    for (size_t i = 0; i < req->n_config; i++) {
        const char *k = req->config[i].key;
        double v = req->config[i].value;
        if (!k || !in_list(d->config_keys, k)) {
            char allowed[128];
            join_list(d->config_keys, allowed, sizeof allowed);
            return tk_err_set(e, TK_EINVAL, "loss_fn_config.%s: unknown key for loss \"%s\" (allowed: %s)",
                              k ? k : "(null)", d->name, allowed[0] ? allowed : "none");
        }
        if (!isfinite(v)) return tk_err_set(e, TK_EINVAL, "loss_fn_config.%s: must be a finite number", k);
        if (!strcmp(k, "clip_low_threshold")) spec->clip_lo = v;
        else if (!strcmp(k, "clip_high_threshold")) spec->clip_hi = v;
        else if (!strcmp(k, "beta")) spec->beta = v;
    }
    if (d->config_keys == CLIP_KEYS && !(spec->clip_lo >= 0 && spec->clip_lo <= spec->clip_hi))
        return tk_err_set(e, TK_EINVAL,
                          "loss_fn_config: need 0 <= clip_low_threshold (%g) <= clip_high_threshold (%g)", spec->clip_lo,
                          spec->clip_hi);
    if (spec->kind == TK_LOSS_DRO && spec->beta < 0)
        return tk_err_set(e, TK_EINVAL, "loss_fn_config.beta: must be >= 0 (got %g)", spec->beta);
    return 0;
}

static const char *dtype_name(tk_engine_dtype d) {
    switch (d) {
    case TK_ENGINE_F32: return "float32";
    case TK_ENGINE_F16: return "float16";
    case TK_ENGINE_BF16: return "bfloat16";
    case TK_ENGINE_I32: return "int32";
    case TK_ENGINE_I64: return "int64";
    }
    return "unknown";
}

static int64_t token_at(tk_engine_dtype dt, const void *p, size_t i) {
    return dt == TK_ENGINE_I64 ? ((const int64_t *)p)[i] : ((const int32_t *)p)[i];
}

/* Check one datum against the loss contract; fills the packed arrays when pb->tokens is set. */
static int check_datum(const tk_engine_model *m, const loss_def *d, const tk_engine_datum *dt, size_t di,
                       tk_packed_batch *pb, size_t off, tk_err *e) {
    const int32_t V = m->cfg.vocab_size;
    if (dt->n_tokens == 0) return tk_err_set(e, TK_EINVAL, "data[%zu].model_input: empty (no tokens)", di);
    if (dt->n_tokens > (size_t)m->cfg.max_position_embeddings)
        return tk_err_set(e, TK_EINVAL, "data[%zu].model_input: %zu tokens exceed max_position_embeddings (%d)", di,
                          dt->n_tokens, m->cfg.max_position_embeddings);
    if (dt->token_dtype != TK_ENGINE_I32 && dt->token_dtype != TK_ENGINE_I64)
        return tk_err_set(e, TK_EINVAL, "data[%zu].model_input: tokens must be int32 or int64, got %s", di,
                          dtype_name(dt->token_dtype));
    if (!dt->tokens) return tk_err_set(e, TK_EINVAL, "data[%zu].model_input: tokens are NULL", di);
    for (size_t i = 0; i < dt->n_tokens; i++) {
        int64_t t = token_at(dt->token_dtype, dt->tokens, i);
        if (t < 0 || t >= V)
            return tk_err_set(e, TK_ERANGE, "data[%zu].model_input.tokens[%zu]: id %lld is out of range [0, %d)", di, i,
                              (long long)t, V);
        if (pb->tokens) pb->tokens[off + i] = (int32_t)t;
    }
    if (dt->n_inputs && !dt->inputs) return tk_err_set(e, TK_EINVAL, "data[%zu].loss_fn_inputs: NULL", di);
    for (size_t j = 0; j < dt->n_inputs; j++) {
        const tk_engine_array *a = &dt->inputs[j];
        const char *nm = a->name ? a->name : "(null)";
        if (!a->name || !in_list(d->inputs, a->name)) {
            char need[128];
            join_list(d->inputs, need, sizeof need);
            return tk_err_set(e, TK_EINVAL, "data[%zu].loss_fn_inputs.%s: not an input of loss \"%s\" (expected %s)", di,
                              nm, d->name, need);
        }
        for (size_t k = 0; k < j; k++)
            if (dt->inputs[k].name && !strcmp(dt->inputs[k].name, a->name))
                return tk_err_set(e, TK_EINVAL, "data[%zu].loss_fn_inputs.%s: given twice", di, nm);
        bool is_tok = !strcmp(a->name, "target_tokens");
        if (is_tok ? (a->dtype != TK_ENGINE_I32 && a->dtype != TK_ENGINE_I64) : a->dtype != TK_ENGINE_F32)
            return tk_err_set(e, TK_EINVAL, "data[%zu].loss_fn_inputs.%s: dtype %s, expected %s", di, nm,
                              dtype_name(a->dtype), is_tok ? "int64 (or int32)" : "float32");
        if (a->len != dt->n_tokens)
            return tk_err_set(e, TK_EINVAL,
                              "data[%zu].loss_fn_inputs.%s: length %zu does not match model_input length %zu", di, nm,
                              a->len, dt->n_tokens);
        if (!a->data && a->len) return tk_err_set(e, TK_EINVAL, "data[%zu].loss_fn_inputs.%s: data is NULL", di, nm);
        if (is_tok) {
            for (size_t i = 0; i < a->len; i++) {
                int64_t t = token_at(a->dtype, a->data, i);
                if (t < 0 || t >= V)
                    return tk_err_set(e, TK_ERANGE, "data[%zu].loss_fn_inputs.target_tokens[%zu]: id %lld is out of "
                                                    "range [0, %d)", di, i, (long long)t, V);
                if (pb->targets) pb->targets[off + i] = (int32_t)t;
            }
        } else {
            const float *f = a->data;
            float *dst = !strcmp(a->name, "weights") ? pb->weights
                         : !strcmp(a->name, "advantages") ? pb->advantages : pb->sampler_logprobs;
            for (size_t i = 0; i < a->len; i++) {
                if (!isfinite(f[i]))
                    return tk_err_set(e, TK_EINVAL, "data[%zu].loss_fn_inputs.%s[%zu]: not a finite number", di, nm, i);
                if (dst) dst[off + i] = f[i];
            }
        }
    }
    for (const char *const *need = d->inputs; *need; need++) {
        bool found = false;
        for (size_t j = 0; j < dt->n_inputs && !found; j++) found = dt->inputs[j].name && !strcmp(dt->inputs[j].name, *need);
        if (!found)
            return tk_err_set(e, TK_EINVAL, "data[%zu].loss_fn_inputs.%s: required by loss \"%s\" but missing", di,
                              *need, d->name);
    }
    return 0;
}

size_t tk_engine_request_tokens(const tk_engine_request *req) {
    size_t n = 0;
    for (size_t i = 0; req->data && i < req->n_data; i++) n += req->data[i].n_tokens;
    return n;
}

int tk_engine_request_validate(const tk_engine_model *m, const tk_engine_request *req, tk_err *e) {
    tk_loss_spec spec;
    int rc = tk_loss_spec_parse(req, &spec, e);
    if (rc) return rc;
    const loss_def *d = find_loss(req->loss_fn);
    if (req->n_data == 0 || !req->data) return tk_err_set(e, TK_EINVAL, "data: no datums");
    tk_packed_batch none = {0};
    for (size_t i = 0; i < req->n_data; i++)
        if ((rc = check_datum(m, d, &req->data[i], i, &none, 0, e))) return rc;
    return 0;
}

void tk_packed_free(tk_packed_batch *pb) {
    free(pb->tokens);
    free(pb->targets);
    free(pb->weights);
    free(pb->advantages);
    free(pb->sampler_logprobs);
    free(pb->starts);
    free(pb->positions);
    memset(pb, 0, sizeof *pb);
}

int tk_pack_request(const tk_engine_model *m, const tk_engine_request *req, const tk_loss_spec *spec,
                    tk_packed_batch *pb, tk_err *e) {
    memset(pb, 0, sizeof *pb);
    int rc = tk_engine_request_validate(m, req, e);
    if (rc) return rc;
    const loss_def *d = find_loss(req->loss_fn);
    size_t T = tk_engine_request_tokens(req);
    if (T > (size_t)INT32_MAX) return tk_err_set(e, TK_EINVAL, "data: %zu tokens in one request is too many", T);
    pb->T = T;
    pb->n_seq = (int)req->n_data;
    pb->tokens = tk_malloc_array(T, sizeof *pb->tokens);
    pb->targets = tk_malloc_array(T, sizeof *pb->targets);
    pb->positions = tk_malloc_array(T, sizeof *pb->positions);
    pb->starts = tk_malloc_array(req->n_data + 1, sizeof *pb->starts);
    bool ok = pb->tokens && pb->targets && pb->positions && pb->starts;
    if (spec->kind == TK_LOSS_CE) ok = ok && (pb->weights = tk_malloc_array(T, sizeof(float)));
    else
        ok = ok && (pb->advantages = tk_malloc_array(T, sizeof(float)))
             && (pb->sampler_logprobs = tk_malloc_array(T, sizeof(float)));
    if (!ok) {
        tk_packed_free(pb);
        return tk_err_set(e, TK_ENOMEM, "data: out of memory packing %zu tokens", T);
    }
    size_t off = 0;
    for (size_t i = 0; i < req->n_data; i++) {
        const tk_engine_datum *dt = &req->data[i];
        rc = check_datum(m, d, dt, i, pb, off, e);
        if (rc) {
            tk_packed_free(pb);
            return rc;
        }
        pb->starts[i] = (int32_t)off;
        for (size_t k = 0; k < dt->n_tokens; k++) pb->positions[off + k] = (int32_t)k;
        if ((int32_t)dt->n_tokens > pb->max_len) pb->max_len = (int32_t)dt->n_tokens;
        off += dt->n_tokens;
    }
    pb->starts[req->n_data] = (int32_t)off;
    return 0;
}

void tk_loss_token(const tk_loss_spec *s, float lp_f, size_t t, const tk_packed_batch *pb, float *loss, float *dlp) {
    double lp = lp_f;
    if (s->kind == TK_LOSS_CE) {
        double w = pb->weights[t];
        *loss = (float)(-lp * w);
        *dlp = (float)-w;
        return;
    }
    double A = pb->advantages[t], lq = pb->sampler_logprobs[t];
    double r = exp(lp - lq);
    switch (s->kind) {
    case TK_LOSS_IS:
        *loss = (float)(-r * A);
        *dlp = (float)(-A * r);
        break;
    case TK_LOSS_PPO: {
        double rc = r < s->clip_lo ? s->clip_lo : r > s->clip_hi ? s->clip_hi : r;
        double un = r * A, cl = rc * A;
        *loss = (float)-(un < cl ? un : cl);
        /* the min picks the unclipped term (gradient -A·r) unless the clipped one is smaller; the
         * clipped term only has a gradient while r is inside (lo, hi), where both are equal */
        if (un <= cl || (r > s->clip_lo && r < s->clip_hi)) *dlp = (float)(-A * r);
        else *dlp = 0.0f;
        break;
    }
    case TK_LOSS_CISPO: {
        double rc = r < s->clip_lo ? s->clip_lo : r > s->clip_hi ? s->clip_hi : r;
        *loss = (float)(-rc * lp * A);
        *dlp = (float)(-rc * A);
        break;
    }
    case TK_LOSS_DRO: {
        double dq = lp - lq;
        *loss = (float)-(lp * A - 0.5 * s->beta * dq * dq);
        *dlp = (float)-(A - s->beta * dq);
        break;
    }
    default:
        *loss = *dlp = 0.0f;
        break;
    }
}
