/* asample on the engine: one decode loop (tk_engine_sampler) per base model, shared by every
 * sampling session over that model and every request, each with its own adapter and parameters.
 *
 * A sample job joins the loop of its base model when the worker runs it, and is then detached:
 * the worker goes on with other jobs, and between batches it calls the background hook, which
 * advances every loop by one step (prefill of newly joined requests, one token for the others)
 * and settles the jobs whose requests finished. Requests that arrive while others are decoding
 * join the running loop, so concurrent clients share every decode step. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "engine_glue_internal.h"
#include "wire_bridge.h"

typedef struct sample_payload {
    tk_arena *arena;
    tk_wire_sample_request w;
} sample_payload;

static void payload_free(void *p) {
    sample_payload *sp = p;
    if (!sp) return;
    tk_arena_free(sp->arena);
    free(sp);
}

/* The engine state of a sampling session: its base model, and the adapter of its sampler
 * checkpoint loaded on first use. */
static tk_glue_sampler *sampler_state(tk_glue *g, tk_server_sampler *sp, tk_err *e) {
    if (sp->engine) return sp->engine;
    tk_glue_base *b = tk_glue_base_get(g, sp->base_model, e);
    if (!b) return NULL;
    tk_engine_adapter *a = NULL;
    if (sp->model_path) {
        char *dir = NULL;
        int rc = tk_server_store_find_path(g->s->store, sp->model_path, &dir, NULL, e);
        if (!rc) rc = tk_engine_checkpoint_load(b->m, dir, false, &a, e);
        free(dir);
        if (rc) {
            tk_err_prefix(e, "loading %s: ", sp->model_path);
            return NULL;
        }
    }
    if (tk_glue_sampler_attach(g, sp, b, a, e)) return NULL;
    return sp->engine;
}

/* Stop strings are matched on the bytes of the generated tokens: the base model's tokenizer
 * (tokenizer.json in its directory) gives them. */
static tk_tokenizer *base_tokenizer(tk_glue_base *b, tk_err *e) {
    if (b->tok) return b->tok;
    char *tj = tk_path_join(b->dir, "tokenizer.json");
    bool has = tj && tk_path_exists(tj);
    free(tj);
    if (!has) {
        tk_err_set(e, TK_EUNSUPPORTED, "sampling_params.stop: stop strings need the base model's tokenizer, and %s has "
                   "no tokenizer.json; pass stop token ids instead", b->dir);
        return NULL;
    }
    double t0 = tk_now_s();
    if (tk_tokenizer_load(b->dir, &b->tok, e)) {
        tk_err_prefix(e, "sampling_params.stop: loading the tokenizer of %s: ", b->dir);
        return NULL;
    }
    tk_info("server: loaded the tokenizer of %s for stop strings in %.2f s", b->dir, tk_now_s() - t0);
    return b->tok;
}

static const char *token_bytes(void *user, int32_t id, size_t *len) {
    return tk_tokenizer_id_to_bytes(user, id, len);
}

static void run_sample(tk_server *s, tk_server_job **jobs, size_t n) {
    tk_glue *g = s->hooks.user;
    for (size_t i = 0; i < n; i++) {
        tk_server_job *j = jobs[i];
        sample_payload *p = j->payload;
        const tk_wire_sample_request *w = &p->w;
        tk_err e = {0};
        tk_glue_sampler *st = sampler_state(g, j->sampler, &e);
        int rc = st ? 0 : (e.code ? e.code : TK_ENOMEM);
        if (!rc && !st->base->sampler) rc = tk_engine_sampler_new(st->base->m, &st->base->sampler, &e);
        tk_engine_sample_request r = {0};
        size_t np = 0;
        if (!rc) {
            r.adapter = st->a;
            r.prompt = tk_server_sample_prompt(w, p->arena, &np, &e);
            r.n_prompt = np;
            if (!r.prompt) rc = TK_ENOMEM;
        }
        if (!rc) {
            r.num_samples = (int32_t)w->num_samples;
            tk_engine_sampling_params_default(&r.params);
            const tk_wire_sampling_params *wp = &w->sampling_params;
            r.params.max_tokens = (int32_t)wp->max_tokens;
            r.params.temperature = wp->temperature;
            r.params.top_k = (int32_t)wp->top_k;
            r.params.top_p = wp->top_p;
            r.params.has_seed = wp->has_seed;
            r.params.seed = (uint64_t)wp->seed;
            r.params.stop_tokens = wp->stop_tokens;
            r.params.n_stop_tokens = wp->n_stop_tokens;
            r.prompt_logprobs = w->has_prompt_logprobs && w->prompt_logprobs;
            r.topk_prompt_logprobs = (int32_t)w->topk_prompt_logprobs;
            if (wp->n_stop_strings) {
                r.token_bytes_user = base_tokenizer(st->base, &e);
                if (!r.token_bytes_user) rc = e.code;
                r.token_bytes = token_bytes;
                r.params.stop_strings = (const char *const *)wp->stop_strings;
                r.params.n_stop_strings = wp->n_stop_strings;
            }
        }
        uint64_t id = 0;
        if (!rc) rc = tk_engine_sampler_submit(st->base->sampler, &r, &id, &e);
        tk_glue_inflight rec = {st ? st->base : NULL, id, j};
        if (!rc && tk_vec_push(&g->inflight, rec)) {
            tk_engine_sampler_cancel(st->base->sampler, id, &e);
            rc = tk_err_set(&e, TK_ENOMEM, "out of memory");
        }
        if (rc) {
            tk_server_job_fail(s, j, tk_glue_category(rc), "sample: %s", e.msg);
            continue;
        }
        st->inflight++;
        atomic_fetch_add(&g->n_inflight, 1);
        j->detached = true; /* settled by the background hook when the request finishes */
    }
}

tk_server_job *tk_server_engine_sample_job(tk_arena *arena, const tk_wire_sample_request *w) {
    sample_payload *p = calloc(1, sizeof *p);
    if (!p) {
        tk_arena_free(arena);
        return NULL;
    }
    p->arena = arena;
    p->w = *w;
    tk_server_job *j = tk_server_job_new("sample", run_sample, true, p, payload_free);
    if (j) j->gather = true;
    return j;
}

/* ---- settling ------------------------------------------------------------------------------------- */

/* Remove inflight record i and return its job (the sampler state's count goes down). */
static tk_server_job *take_record(tk_glue *g, size_t i) {
    tk_server_job *j = g->inflight.data[i].job;
    g->inflight.data[i] = g->inflight.data[--g->inflight.len];
    atomic_fetch_sub(&g->n_inflight, 1);
    tk_glue_sampler *st = j->sampler ? j->sampler->engine : NULL;
    if (st && st->inflight) st->inflight--;
    return j;
}

static void finish(tk_glue *g, tk_glue_base *b, uint64_t id, int rc, tk_engine_sample_result *res, const tk_err *err) {
    size_t i = 0;
    while (i < g->inflight.len && !(g->inflight.data[i].base == b && g->inflight.data[i].id == id)) i++;
    if (i == g->inflight.len) { /* cancelled meanwhile */
        tk_engine_sample_result_free(res);
        return;
    }
    tk_server_job *j = take_record(g, i);
    tk_buf json = {0}, proto = {0};
    tk_err e = {0};
    if (rc) tk_server_job_fail(g->s, j, tk_glue_category(rc), "sample: %s", err->msg);
    else if (tk_server_sample_encode(res, &json, &proto, &e))
        tk_server_job_fail(g->s, j, TK_SERVER_CAT_SERVER, "sample: %s", e.msg);
    else
        tk_server_job_succeed(g->s, j, &json, &proto);
    tk_buf_free(&json);
    tk_buf_free(&proto);
    tk_engine_sample_result_free(res);
    tk_server_job_free(g->s, j);
}

/* Fail every request of base b (its loop broke) and drop the loop. */
static void fail_base(tk_glue *g, tk_glue_base *b, const char *why) {
    for (size_t i = 0; i < g->inflight.len;) {
        if (g->inflight.data[i].base != b) {
            i++;
            continue;
        }
        tk_server_job *j = take_record(g, i);
        tk_server_job_fail(g->s, j, TK_SERVER_CAT_SERVER, "sample: %s", why);
        tk_server_job_free(g->s, j);
    }
    tk_engine_sampler_free(b->sampler);
    b->sampler = NULL;
}

bool tk_glue_sample_background(void *user) {
    tk_glue *g = user;
    bool more = false;
    size_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    while (tk_map_next(g->bases, &pos, &k, &kl, &v)) {
        tk_glue_base *b = v;
        if (!b->sampler || !tk_engine_sampler_pending(b->sampler)) continue;
        tk_err e = {0};
        size_t active = tk_engine_sampler_active(b->sampler);
        if (active) {
            atomic_fetch_add(&g->decode_steps, 1);
            if (active > atomic_load(&g->max_step_requests)) atomic_store(&g->max_step_requests, active);
        }
        if (active && tk_engine_sampler_step(b->sampler, &e)) {
            tk_warn("server: the decode loop of %s failed: %s", b->dir, e.msg);
            fail_base(g, b, e.msg);
            continue;
        }
        uint64_t id;
        int rc;
        tk_engine_sample_result res;
        tk_err re = {0};
        while (tk_engine_sampler_take(b->sampler, &id, &rc, &res, &re)) {
            finish(g, b, id, rc, &res, &re);
            tk_err_clear(&re);
        }
        if (tk_engine_sampler_active(b->sampler)) more = true;
    }
    return more;
}

void tk_glue_sample_cancel(tk_glue *g, tk_glue_sampler *st, const char *why) {
    for (size_t i = 0; i < g->inflight.len;) {
        tk_server_job *j = g->inflight.data[i].job;
        if (!j->sampler || j->sampler->engine != st) {
            i++;
            continue;
        }
        tk_err e = {0};
        tk_engine_sampler_cancel(g->inflight.data[i].base->sampler, g->inflight.data[i].id, &e);
        j = take_record(g, i);
        tk_server_job_fail(g->s, j, TK_SERVER_CAT_USER, "sample was not finished: %s", why);
        tk_server_job_free(g->s, j);
    }
}

void tk_glue_sample_close(tk_glue *g) {
    size_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    while (tk_map_next(g->bases, &pos, &k, &kl, &v)) {
        tk_glue_base *b = v;
        tk_engine_sampler_free(b->sampler); /* drops unfinished requests */
        b->sampler = NULL;
    }
    while (g->inflight.len) {
        tk_server_job *j = take_record(g, g->inflight.len - 1);
        tk_server_job_fail(g->s, j, TK_SERVER_CAT_SERVER, "the server is stopping; sample was not finished");
        tk_server_job_free(g->s, j);
    }
}

void tk_server_engine_stats_get(tk_server *s, tk_server_engine_stats *out) {
    tk_glue *g = s->hooks.user;
    out->decode_steps = g ? (uint64_t)atomic_load(&g->decode_steps) : 0;
    out->max_step_requests = g ? atomic_load(&g->max_step_requests) : 0;
    out->inflight = g ? atomic_load(&g->n_inflight) : 0;
}
