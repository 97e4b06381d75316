/* The format-independent algorithms: encoding rendered pieces, generation prompts, supervised
 * examples with their weights, the prefill post-pass, and the split into several examples. */
#include "internal.h"

#include <stdio.h>

/* ---- rendered-message pieces -------------------------------------------------------------------- */

static int push_piece(tk_rendered_message *m, int seg, int kind, const char *s, size_t len,
                      int32_t tok) {
    tk_piece p = {(uint8_t)seg, (uint8_t)kind, tok, s, len};
    return tk_vec_push(&m->pieces, p);
}

int tk__rm_ref(tk_rendered_message *m, int seg, const char *s, size_t len) {
    return len ? push_piece(m, seg, TK_PIECE_TEXT, s, len, -1) : 0;
}

int tk__rm_text(tk_rendered_message *m, int seg, const char *s) {
    size_t n = strlen(s);
    if (!n) return 0;
    char *c = tk_arena_strndup(m->arena, s, n);
    return c ? push_piece(m, seg, TK_PIECE_TEXT, c, n, -1) : TK_ENOMEM;
}

int tk__rm_printf(tk_rendered_message *m, int seg, const char *fmt, ...) {
    tk_buf b = {0};
    va_list ap;
    va_start(ap, fmt);
    int rc = tk_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    if (!rc && b.len) {
        char *c = tk__arena_buf(m->arena, &b);
        rc = c ? push_piece(m, seg, TK_PIECE_TEXT, c, b.len, -1) : TK_ENOMEM;
    }
    tk_buf_free(&b);
    return rc;
}

int tk__rm_special(tk_rendered_message *m, int seg, const char *token) {
    return push_piece(m, seg, TK_PIECE_SPECIAL, token, strlen(token), -1);
}

int tk__rm_break(tk_rendered_message *m, int seg) {
    return push_piece(m, seg, TK_PIECE_BREAK, NULL, 0, -1);
}

bool tk__rm_has(const tk_rendered_message *m, int seg) {
    for (size_t i = 0; i < m->pieces.len; i++)
        if (m->pieces.data[i].seg == seg && m->pieces.data[i].kind != TK_PIECE_BREAK) return true;
    return false;
}

/* public versions for custom renderers: copy text, check the segment */
static int check_seg(tk_render_segment seg) {
    return (int)seg >= TK_SEG_HEADER && seg <= TK_SEG_STOP_OVERLAP ? 0 : TK_EINVAL;
}

int tk_rendered_text(tk_rendered_message *m, tk_render_segment seg, const char *text, size_t len) {
    if (check_seg(seg) || (!text && len)) return TK_EINVAL;
    if (!len) return 0;
    char *c = tk_arena_strndup(m->arena, text, len);
    return c ? push_piece(m, seg, TK_PIECE_TEXT, c, len, -1) : TK_ENOMEM;
}

int tk_rendered_special(tk_rendered_message *m, tk_render_segment seg, const char *token) {
    if (check_seg(seg) || !token || !*token) return TK_EINVAL;
    char *c = tk_arena_strdup(m->arena, token);
    return c ? push_piece(m, seg, TK_PIECE_SPECIAL, c, strlen(c), -1) : TK_ENOMEM;
}

int tk_rendered_token(tk_rendered_message *m, tk_render_segment seg, int32_t id) {
    if (check_seg(seg) || id < 0) return TK_EINVAL;
    return push_piece(m, seg, TK_PIECE_TOKEN, NULL, 0, id);
}

int tk_rendered_break(tk_rendered_message *m, tk_render_segment seg) {
    return check_seg(seg) ? TK_EINVAL : tk__rm_break(m, seg);
}

/* ---- encoding ----------------------------------------------------------------------------------- */

int tk__special_id(const tk_renderer *r, const char *token, int32_t *id, tk_err *e) {
    tk_vec_i32 v = {0};
    int rc = r->codec.encode(r->codec.ctx, token, strlen(token), false, &v, e);
    if (!rc && v.len != 1)
        rc = tk_err_set(e, TK_EINVAL, "%s: the tokenizer does not encode \"%s\" as one token (%zu ids)",
                        r->name, token, v.len);
    if (!rc) *id = v.data[0];
    tk_vec_free(&v);
    return rc;
}

int tk__add_stop_token(tk_renderer *r, const char *token, tk_err *e) {
    int32_t id;
    int rc = tk__special_id(r, token, &id, e);
    if (!rc && tk_vec_push(&r->stop_tokens, id)) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    return rc;
}

int tk__decode(const tk_renderer *r, const int32_t *ids, size_t n, tk_buf *out, tk_err *e) {
    int rc = n ? r->codec.decode(r->codec.ctx, ids, n, out, e) : 0;
    if (rc) tk_err_prefix(e, "%s: parse_response: ", r->name);
    return rc;
}

/* Encode the pieces of one segment: consecutive text in one call with split_special; a special
 * token alone with special tokens recognised. Weighted into (tokens, weights) when weights. */
typedef struct sink {
    tk_vec_i32 *tokens;
    tk_vec_f32 *weights;
    tk_buf run;
} sink;

static int flush_run(const tk_renderer *r, sink *k, float w, tk_err *e) {
    if (!k->run.len) return 0;
    size_t before = k->tokens->len;
    int rc = r->codec.encode(r->codec.ctx, k->run.data, k->run.len, true, k->tokens, e);
    tk_buf_clear(&k->run);
    if (rc || !k->weights) return rc;
    for (size_t i = before; i < k->tokens->len; i++)
        if (tk_vec_push(k->weights, w)) return tk_err_set(e, TK_ENOMEM, "out of memory");
    return 0;
}

static int push_tokens(sink *k, const tk_vec_i32 *ids, float w, tk_err *e) {
    if (tk_vec_reserve(k->tokens, k->tokens->len + ids->len))
        return tk_err_set(e, TK_ENOMEM, "out of memory");
    for (size_t i = 0; i < ids->len; i++) {
        k->tokens->data[k->tokens->len++] = ids->data[i];
        if (k->weights && tk_vec_push(k->weights, w)) return tk_err_set(e, TK_ENOMEM, "out of memory");
    }
    return 0;
}

static int encode_segment(const tk_renderer *r, const tk_rendered_message *m, int seg, float w,
                          sink *k, tk_err *e) {
    int rc = 0;
    for (size_t i = 0; !rc && i < m->pieces.len; i++) {
        const tk_piece *p = &m->pieces.data[i];
        if (p->seg != seg) continue;
        switch (p->kind) {
        case TK_PIECE_TEXT:
            if (tk_buf_append(&k->run, p->text, p->len)) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
            break;
        case TK_PIECE_BREAK:
            rc = flush_run(r, k, w, e);
            break;
        case TK_PIECE_TOKEN: {
            rc = flush_run(r, k, w, e);
            tk_vec_i32 one = {(int32_t[]){p->token}, 1, 1};
            if (!rc) rc = push_tokens(k, &one, w, e);
            break;
        }
        case TK_PIECE_SPECIAL: {
            rc = flush_run(r, k, w, e);
            tk_vec_i32 ids = {0};
            if (!rc) rc = r->codec.encode(r->codec.ctx, p->text, p->len, false, &ids, e);
            if (!rc) rc = push_tokens(k, &ids, w, e);
            tk_vec_free(&ids);
            break;
        }
        }
    }
    return rc ? rc : flush_run(r, k, w, e);
}

/* ---- rendering loop ----------------------------------------------------------------------------- */

static size_t default_turn_start(const tk_message *msgs, size_t n) {
    return (size_t)(tk__last_user_index(msgs, n) + 1);
}

static size_t turn_start(const tk_renderer *r, const tk_message *msgs, size_t n) {
    return r->ops.turn_start ? r->ops.turn_start(msgs, n) : default_turn_start(msgs, n);
}

static void make_ctx(tk_render_context *ctx, const tk_message *msgs, size_t n, size_t i,
                     ptrdiff_t last_user, size_t tstart) {
    ctx->idx = i;
    ctx->is_last = i + 1 == n;
    ctx->prev = i > 0 ? &msgs[i - 1] : NULL;
    ctx->next = i + 1 < n ? &msgs[i + 1] : NULL;
    ctx->last_user_index = last_user;
    ctx->in_last_assistant_turn = i >= tstart;
}

static int render_one(const tk_renderer *r, const tk_message *m, const tk_render_context *ctx,
                      tk_rendered_message *rm, tk_err *e) {
    rm->pieces.len = 0;
    int rc = r->ops.render_message(r, m, ctx, rm, e);
    if (rc && e && e->code == 0) tk_err_set(e, rc, "%s: messages[%zu]: render failed", r->name, ctx->idx);
    return rc;
}

static int bos(const tk_renderer *r, sink *k, tk_err *e) {
    if (!r->add_bos || r->codec.bos_id < 0) return 0;
    tk_vec_i32 one = {(int32_t[]){r->codec.bos_id}, 1, 1};
    return push_tokens(k, &one, 0.0f, e);
}

int tk__generation_prompt(const tk_renderer *r, const tk_message *msgs, size_t n, const char *role,
                          const char *prefill, tk_vec_i32 *tokens, tk_err *e) {
    tk_arena *a = tk_arena_new(0);
    if (!a) return tk_err_set(e, TK_ENOMEM, "out of memory");
    tk_rendered_message rm = {a, {0}};
    sink k = {tokens, NULL, {0}};
    int rc = bos(r, &k, e);
    ptrdiff_t last_user = tk__last_user_index(msgs, n);
    size_t tstart = turn_start(r, msgs, n);
    for (size_t i = 0; !rc && i < n; i++) {
        tk_render_context ctx;
        make_ctx(&ctx, msgs, n, i, last_user, tstart);
        rc = render_one(r, &msgs[i], &ctx, &rm, e);
        if (!rc) rc = encode_segment(r, &rm, TK_SEG_HEADER, 0, &k, e);
        if (!rc) rc = encode_segment(r, &rm, TK_SEG_OUTPUT, 0, &k, e);
    }
    if (!rc) {
        tk_render_context ctx = {n, true, n ? &msgs[n - 1] : NULL, NULL, last_user, true};
        rm.pieces.len = 0;
        if (r->ops.generation_suffix) {
            rc = r->ops.generation_suffix(r, role, &ctx, &rm, e);
        } else {
            tk_message empty = {.role = role, .content = ""};
            rc = r->ops.render_message(r, &empty, &ctx, &rm, e);
        }
        if (!rc) rc = encode_segment(r, &rm, TK_SEG_HEADER, 0, &k, e);
    }
    const char *fmt_prefill = r->ops.default_prefill ? r->ops.default_prefill(r, msgs, n) : NULL;
    tk_buf pf = {0};
    if (!rc && ((fmt_prefill && *fmt_prefill) || (prefill && *prefill))) {
        if (tk_buf_puts(&pf, fmt_prefill ? fmt_prefill : "") || tk_buf_puts(&pf, prefill ? prefill : ""))
            rc = tk_err_set(e, TK_ENOMEM, "out of memory");
        else
            rc = r->codec.encode(r->codec.ctx, pf.data, pf.len, false, tokens, e);
    }
    tk_buf_free(&pf);
    tk_buf_free(&k.run);
    tk_vec_free(&rm.pieces);
    tk_arena_free(a);
    return rc;
}

static bool output_is_trained(const tk_message *m, const tk_render_context *ctx,
                              tk_train_on_what what) {
    bool asst = tk__role_is(m, "assistant");
    switch (what) {
    case TK_TRAIN_LAST_ASSISTANT_MESSAGE: return ctx->is_last && asst;
    case TK_TRAIN_LAST_ASSISTANT_TURN: return asst && ctx->in_last_assistant_turn;
    case TK_TRAIN_ALL_ASSISTANT_MESSAGES: return asst;
    case TK_TRAIN_ALL_MESSAGES:
    case TK_TRAIN_ALL_TOKENS: return true;
    case TK_TRAIN_ALL_USER_AND_SYSTEM_MESSAGES:
        return tk__role_is(m, "user") || tk__role_is(m, "system");
    case TK_TRAIN_CUSTOMIZED: return m->trainable == TK_TRAINABLE_TRUE;
    }
    return false;
}

/* The index the generation prompt of the trained turn stops before, or -1 (only the modes that
 * train "the turn sampling would produce" have one). */
static ptrdiff_t first_trained_index(const tk_message *msgs, size_t n, tk_train_on_what what) {
    ptrdiff_t b;
    if (what == TK_TRAIN_LAST_ASSISTANT_MESSAGE)
        b = (ptrdiff_t)n - 1;
    else if (what == TK_TRAIN_LAST_ASSISTANT_TURN)
        b = tk__last_user_index(msgs, n) + 1;
    else
        return -1;
    if (b < 0 || (size_t)b >= n || !tk__role_is(&msgs[b], "assistant")) return -1;
    return b;
}

int tk__supervised_example_normalized(const tk_renderer *r, const tk_message *msgs, size_t n,
                                      tk_train_on_what what, tk_vec_i32 *tokens,
                                      tk_vec_f32 *weights, tk_err *e) {
    if ((unsigned)what > TK_TRAIN_CUSTOMIZED)
        return tk_err_set(e, TK_EINVAL, "%s: unknown train_on_what %d", r->name, (int)what);
    for (size_t i = 0; i < n; i++) {
        bool has = msgs[i].trainable != TK_TRAINABLE_UNSET;
        if (what == TK_TRAIN_CUSTOMIZED && !has)
            return tk_err_set(e, TK_EINVAL,
                              "%s: messages[%zu]: train_on_what=customized needs \"trainable\" on "
                              "every message",
                              r->name, i);
        if (what != TK_TRAIN_CUSTOMIZED && has)
            return tk_err_set(e, TK_EINVAL,
                              "%s: messages[%zu]: \"trainable\" is only read with "
                              "train_on_what=customized (got %s); remove it or use customized",
                              r->name, i, tk_train_on_what_name(what));
    }
    size_t base = tokens->len;
    tk_arena *a = tk_arena_new(0);
    if (!a) return tk_err_set(e, TK_ENOMEM, "out of memory");
    tk_rendered_message rm = {a, {0}};
    sink k = {tokens, weights, {0}};
    int rc = bos(r, &k, e);
    ptrdiff_t last_user = tk__last_user_index(msgs, n);
    size_t tstart = turn_start(r, msgs, n ? n - 1 : 0);
    float hw = what == TK_TRAIN_ALL_TOKENS ? 1.0f : 0.0f;
    for (size_t i = 0; !rc && i < n; i++) {
        tk_render_context ctx;
        make_ctx(&ctx, msgs, n, i, last_user, tstart);
        rc = render_one(r, &msgs[i], &ctx, &rm, e);
        float ow = output_is_trained(&msgs[i], &ctx, what) ? 1.0f : 0.0f;
        if (!rc) rc = encode_segment(r, &rm, TK_SEG_HEADER, hw, &k, e);
        if (!rc) rc = encode_segment(r, &rm, TK_SEG_OUTPUT, ow, &k, e);
        if (!rc && ctx.is_last) rc = encode_segment(r, &rm, TK_SEG_STOP_OVERLAP, ow, &k, e);
    }
    tk_buf_free(&k.run);
    tk_vec_free(&rm.pieces);
    tk_arena_free(a);

    /* Withhold loss from what the generation prompt of the trained turn supplies (a prefilled
     * <think>): if the sequence starts with that prompt, zero its weights. If it does not, a
     * reasoning-off renderer was handed a turn that reasoned: refuse. Otherwise (nemotron3's
     * own template disagrees with itself) leave the weights as they are. */
    ptrdiff_t b = rc ? -1 : first_trained_index(msgs, n, what);
    if (b >= 0) {
        tk_vec_i32 prompt = {0};
        rc = tk__generation_prompt(r, msgs, (size_t)b, "assistant", NULL, &prompt, e);
        if (!rc) {
            size_t len = tokens->len - base;
            bool prefix = prompt.len <= len &&
                          (!prompt.len || memcmp(prompt.data, tokens->data + base, prompt.len * sizeof(int32_t)) == 0);
            if (prefix) {
                for (size_t i = 0; i < prompt.len; i++) weights->data[base + i] = 0.0f;
            } else if (r->disables_thinking) {
                rc = tk_err_set(e, TK_EINVAL,
                                "%s has thinking turned off: its generation prompt closes the think "
                                "block, but messages[%td] contains reasoning (or renders differently "
                                "from what the prompt expects). Training on it would teach the "
                                "model to reason after being told not to; use the thinking variant "
                                "of this renderer or remove the reasoning",
                                r->name, b);
            }
        }
        tk_vec_free(&prompt);
    }
    if (rc) { /* leave the caller's vectors as they were */
        tokens->len = base;
        if (weights->len > base) weights->len = base;
    }
    return rc;
}

static int normalize(const tk_renderer *r, const tk_message *msgs, size_t n, tk_arena **a,
                     const tk_message **out, size_t *n_out, tk_err *e) {
    *out = msgs;
    *n_out = n;
    *a = NULL;
    if (!r->ops.normalize) return 0;
    *a = tk_arena_new(0);
    if (!*a) return tk_err_set(e, TK_ENOMEM, "out of memory");
    return r->ops.normalize(r, msgs, n, *a, out, n_out, e);
}

static int check_args(const tk_renderer *r, const tk_message *msgs, size_t n, tk_err *e) {
    if (!r) return tk_err_set(e, TK_EINVAL, "renderer is NULL");
    if (n && !msgs) return tk_err_set(e, TK_EINVAL, "%s: messages is NULL", r->name);
    for (size_t i = 0; i < n; i++)
        if (!msgs[i].role || !*msgs[i].role)
            return tk_err_set(e, TK_EINVAL, "%s: messages[%zu]: role is missing", r->name, i);
    return 0;
}

int tk_renderer_build_generation_prompt(const tk_renderer *r, const tk_message *msgs, size_t n,
                                        const char *role, const char *prefill, tk_vec_i32 *tokens,
                                        tk_err *e) {
    int rc = check_args(r, msgs, n, e);
    if (rc) return rc;
    tk_arena *a;
    const tk_message *m;
    size_t nm;
    size_t base = tokens->len;
    rc = normalize(r, msgs, n, &a, &m, &nm, e);
    if (!rc) rc = tk__generation_prompt(r, m, nm, role ? role : "assistant", prefill, tokens, e);
    if (rc) tokens->len = base;
    tk_arena_free(a);
    return rc;
}

int tk_renderer_build_supervised_example(const tk_renderer *r, const tk_message *msgs, size_t n,
                                         tk_train_on_what what, tk_vec_i32 *tokens,
                                         tk_vec_f32 *weights, tk_err *e) {
    int rc = check_args(r, msgs, n, e);
    if (rc) return rc;
    if (tokens->len != weights->len)
        return tk_err_set(e, TK_EINVAL, "%s: tokens and weights hold different lengths (%zu, %zu)",
                          r->name, tokens->len, weights->len);
    if (what == TK_TRAIN_ALL_ASSISTANT_MESSAGES && !r->extension)
        tk_debug("%s: train_on_what=all_assistant_messages on a renderer without the extension "
                 "property: earlier assistant turns are trained after a prefix the sampler never "
                 "shows; build_supervised_examples splits them",
                 r->name);
    tk_arena *a;
    const tk_message *m;
    size_t nm;
    rc = normalize(r, msgs, n, &a, &m, &nm, e);
    if (!rc) rc = tk__supervised_example_normalized(r, m, nm, what, tokens, weights, e);
    tk_arena_free(a);
    return rc;
}

void tk_supervised_examples_free(tk_supervised_examples *v) {
    if (!v) return;
    for (size_t i = 0; i < v->len; i++) {
        tk_vec_free(&v->data[i].tokens);
        tk_vec_free(&v->data[i].weights);
    }
    tk_vec_free(v);
}

static int push_example(const tk_renderer *r, const tk_message *msgs, size_t n,
                        tk_train_on_what what, tk_supervised_examples *out, tk_err *e) {
    tk_supervised_example ex = {{0}, {0}};
    int rc = tk_renderer_build_supervised_example(r, msgs, n, what, &ex.tokens, &ex.weights, e);
    if (!rc && tk_vec_push(out, ex)) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    if (rc) {
        tk_vec_free(&ex.tokens);
        tk_vec_free(&ex.weights);
    }
    return rc;
}

int tk_renderer_build_supervised_examples(const tk_renderer *r, const tk_message *msgs, size_t n,
                                          tk_train_on_what what, tk_supervised_examples *out,
                                          tk_err *e) {
    int rc = check_args(r, msgs, n, e);
    if (rc) return rc;
    size_t base = out->len;
    if (r->ops.supervised_examples) {
        rc = r->ops.supervised_examples(r, msgs, n, what, out, e);
    } else if (r->extension) {
        rc = push_example(r, msgs, n, what, out, e);
    } else {
        size_t from;
        switch (what) {
        case TK_TRAIN_LAST_ASSISTANT_MESSAGE: from = n ? n - 1 : 0; break;
        case TK_TRAIN_LAST_ASSISTANT_TURN: from = turn_start(r, msgs, n); break;
        case TK_TRAIN_ALL_ASSISTANT_MESSAGES: from = 0; break;
        default:
            return tk_err_set(e, TK_EUNSUPPORTED,
                              "%s: build_supervised_examples cannot split train_on_what=%s for a "
                              "renderer without the extension property (it weights messages that "
                              "are not produced turns); use build_supervised_example",
                              r->name, tk_train_on_what_name(what));
        }
        for (size_t i = from; !rc && i < n; i++)
            if (tk__role_is(&msgs[i], "assistant"))
                rc = push_example(r, msgs, i + 1, TK_TRAIN_LAST_ASSISTANT_MESSAGE, out, e);
    }
    if (rc) { /* drop what this call added */
        tk_supervised_examples tail = {out->data + base, out->len - base, 0};
        for (size_t i = 0; i < tail.len; i++) {
            tk_vec_free(&tail.data[i].tokens);
            tk_vec_free(&tail.data[i].weights);
        }
        out->len = base;
    }
    return rc;
}

/* ---- the rest of the public surface ------------------------------------------------------------ */

void tk_renderer_stop_sequences(const tk_renderer *r, tk_stop_sequences *out) {
    out->tokens = r->stop_tokens.data;
    out->n_tokens = r->stop_tokens.len;
    out->strings = (const char *const *)r->stop_strings;
    out->n_strings = r->n_stop_strings;
}

int tk_renderer_parse_response(const tk_renderer *r, const int32_t *ids, size_t n,
                               tk_parsed_response *out, tk_err *e) {
    if (!r || (n && !ids)) return tk_err_set(e, TK_EINVAL, "parse_response: NULL argument");
    int rc = tk__parsed_init(out, e);
    if (!rc) rc = r->ops.parse_response(r, ids, n, out, e);
    if (rc) tk_parsed_response_free(out);
    return rc;
}

int tk_renderer_tool_prefix(const tk_renderer *r, const tk_tool_spec *tools, size_t n_tools,
                            const char *system_prompt, tk_conversation *out, tk_err *e) {
    if (!r->ops.tool_prefix)
        return tk_err_set(e, TK_EUNSUPPORTED, "%s: this format has no tool-calling convention",
                          r->name);
    for (size_t i = 0; i < n_tools; i++)
        if (!tools[i].name || !*tools[i].name)
            return tk_err_set(e, TK_EINVAL, "%s: tools[%zu]: name is missing", r->name, i);
    return r->ops.tool_prefix(r, tools, n_tools, system_prompt ? system_prompt : "", out, e);
}

const char *tk_renderer_name(const tk_renderer *r) { return r->name; }
bool tk_renderer_has_extension_property(const tk_renderer *r) { return r->extension; }
bool tk_renderer_disables_thinking(const tk_renderer *r) { return r->disables_thinking; }
void *tk_renderer_state(const tk_renderer *r) { return r->state; }
const tk_renderer_codec *tk_renderer_get_codec(const tk_renderer *r) { return &r->codec; }
