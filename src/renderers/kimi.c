/* kimi_k2, kimi_k25 / kimi_k26 (+ _disable_thinking), kimi_k26_preserve_thinking: Moonshot's
 * <|im_user|>user<|im_middle|>…<|im_end|> format. Every assistant turn starts with a think
 * block (empty in history); a default system prompt is inserted when the conversation has
 * none; tool calls use <|tool_calls_section_begin|> with ids functions.NAME:IDX. K2.5+ prefill
 * <think> (disable: <think></think>) and declare tools in TypeScript style. */
#include "internal.h"

#include <jansson.h>

enum { V_K2 = 0, V_K25 = 1, V_K25_DISABLE = 2, V_K26_PRESERVE = 3 };

static const char DEFAULT_SYSTEM[] = "You are Kimi, an AI assistant created by Moonshot AI.";

static int S(tk_rendered_message *o, int seg, const char *tok) { return tk__rm_special(o, seg, tok); }
static int T(tk_rendered_message *o, int seg, const char *s) { return tk__rm_ref(o, seg, s, strlen(s)); }

static int render(const tk_renderer *r, const tk_message *m, const tk_render_context *ctx,
                  tk_rendered_message *out, tk_err *e) {
    int rc = tk__reject_images(m, r->name, ctx->idx, e);
    if (rc) return rc;
    const char *role = m->role;
    bool asst = tk__role_is(m, "assistant");
    if (tk__role_is(m, "user")) {
        rc = S(out, TK_SEG_HEADER, "<|im_user|>");
    } else if (asst) {
        rc = S(out, TK_SEG_HEADER, "<|im_assistant|>");
    } else {
        rc = S(out, TK_SEG_HEADER, "<|im_system|>");
        if (tk__role_is(m, "tool")) {
            if (!m->name || !*m->name)
                tk_debug("%s: messages[%zu]: tool message without \"name\"", r->name, ctx->idx);
            if (!m->tool_call_id || !*m->tool_call_id)
                tk_warn("%s: messages[%zu]: tool message without \"tool_call_id\"; Kimi renders "
                        "\"## Return of <id>\"",
                        r->name, ctx->idx);
            role = m->name && *m->name ? m->name : "tool";
        }
    }
    if (!rc) rc = T(out, TK_SEG_HEADER, role);
    if (!rc) rc = S(out, TK_SEG_HEADER, "<|im_middle|>");
    if (!rc && tk__role_is(m, "tool"))
        rc = tk__rm_printf(out, TK_SEG_HEADER, "## Return of %s\n", tk__str(m->tool_call_id));
    if (rc) return rc;

    if (asst) {
        tk_buf th = {0}, tx = {0};
        if (tk__concat_parts(m, TK_PART_THINKING, &th) || tk__concat_parts(m, TK_PART_TEXT, &tx)) {
            tk_buf_free(&th);
            tk_buf_free(&tx);
            return tk_err_set(e, TK_ENOMEM, "out of memory");
        }
        char *thinking = tk__arena_buf(out->arena, &th), *text = tk__arena_buf(out->arena, &tx);
        tk_buf_free(&th);
        tk_buf_free(&tx);
        if (!thinking || !text) return tk_err_set(e, TK_ENOMEM, "out of memory");
        /* reasoning is kept for the turn being produced (or everywhere, keeping history) */
        bool keep = (ctx->in_last_assistant_turn || !r->strip_history) && *thinking;
        rc = S(out, TK_SEG_OUTPUT, "<think>");
        if (!rc && keep) rc = T(out, TK_SEG_OUTPUT, thinking);
        if (!rc) rc = S(out, TK_SEG_OUTPUT, "</think>");
        if (!rc) rc = T(out, TK_SEG_OUTPUT, text);
        for (size_t i = 0; !rc && i < m->n_tool_calls; i++) {
            const tk_tool_call *tc = &m->tool_calls[i];
            if (i == 0) rc = S(out, TK_SEG_OUTPUT, "<|tool_calls_section_begin|>");
            if (!rc) rc = S(out, TK_SEG_OUTPUT, "<|tool_call_begin|>");
            if (!rc) rc = tc->id && *tc->id
                              ? T(out, TK_SEG_OUTPUT, tc->id)
                              : tk__rm_printf(out, TK_SEG_OUTPUT, "functions.%s:%zu", tk__str(tc->name), i);
            if (!rc) rc = S(out, TK_SEG_OUTPUT, "<|tool_call_argument_begin|>");
            if (!rc) rc = T(out, TK_SEG_OUTPUT, tk__str(tc->arguments));
            if (!rc) rc = S(out, TK_SEG_OUTPUT, "<|tool_call_end|>");
            if (!rc && i + 1 == m->n_tool_calls) rc = S(out, TK_SEG_OUTPUT, "<|tool_calls_section_end|>");
        }
    } else {
        char where[96];
        snprintf(where, sizeof where, "%s: messages[%zu]", r->name, ctx->idx);
        const char *text;
        if ((rc = tk__ensure_text(m, where, &text, e))) return rc;
        rc = T(out, TK_SEG_OUTPUT, text);
    }
    if (!rc) rc = S(out, TK_SEG_OUTPUT, "<|im_end|>");
    return rc;
}

/* Whether parsing `id` gives back `name`: Kimi ids are "functions.NAME:IDX". */
static bool kimi_shaped(const char *id, const char *name) {
    const char *colon = strrchr(id, ':'), *first = strchr(id, ':');
    if (!colon || !colon[1] || strchr(id, '<')) return false;
    for (const char *d = colon + 1; *d; d++)
        if (*d < '0' || *d > '9') return false;
    const char *dot = memchr(id, '.', (size_t)(first - id));
    const char *nm = dot ? dot + 1 : id;
    return strlen(name) == (size_t)(first - nm) && !memcmp(nm, name, (size_t)(first - nm));
}

/* Kimi names the function only through the call id, so an id of another shape ("call_123")
 * would render a call whose name cannot be read back. Such ids become "functions.NAME:IDX"
 * (IDX: position in the message, the cookbook's default), and tool results that answer them
 * follow. Returns in `msgs` (from `a`) a rewritten copy, or the input when nothing changes. */
static int kimi_ids(const tk_message *in, size_t n, tk_arena *a, const tk_message **msgs, tk_err *e) {
    *msgs = in;
    bool any = false;
    for (size_t i = 0; i < n && !any; i++)
        for (size_t k = 0; k < in[i].n_tool_calls; k++) {
            const tk_tool_call *tc = &in[i].tool_calls[k];
            if (!tc->id || !*tc->id || !kimi_shaped(tc->id, tk__str(tc->name))) any = true;
        }
    if (!any) return 0;
    tk_message *m = tk_arena_alloc(a, n * sizeof *m);
    if (!m) return tk_err_set(e, TK_ENOMEM, "out of memory");
    memcpy(m, in, n * sizeof *m);
    for (size_t i = 0; i < n; i++) {
        if (!m[i].n_tool_calls) continue;
        tk_tool_call *calls = tk_arena_alloc(a, m[i].n_tool_calls * sizeof *calls);
        if (!calls) return tk_err_set(e, TK_ENOMEM, "out of memory");
        for (size_t k = 0; k < m[i].n_tool_calls; k++) {
            calls[k] = m[i].tool_calls[k];
            const char *old = calls[k].id;
            if (old && *old && kimi_shaped(old, tk__str(calls[k].name))) continue;
            calls[k].id = tk_arena_printf(a, "functions.%s:%zu", tk__str(calls[k].name), k);
            if (!calls[k].id) return tk_err_set(e, TK_ENOMEM, "out of memory");
            /* the results that answer this call */
            for (size_t j = i + 1; old && *old && j < n; j++)
                if (tk__role_is(&m[j], "tool") && tk__streq(m[j].tool_call_id, old)) m[j].tool_call_id = calls[k].id;
        }
        m[i].tool_calls = calls;
    }
    *msgs = m;
    return 0;
}

/* The template inserts a default system message when none leads (after tool_declare). */
static int normalize(const tk_renderer *r, const tk_message *in_raw, size_t n, tk_arena *a,
                     const tk_message **out, size_t *n_out, tk_err *e) {
    const tk_message *in;
    int rc = kimi_ids(in_raw, n, a, &in, e);
    if (rc) return rc;
    *out = in;
    *n_out = n;
    size_t at;
    if (n == 0) at = 0;
    else if (tk__role_is(&in[0], "tool_declare")) {
        if (n >= 2 && tk__role_is(&in[1], "system")) return 0;
        at = 1;
    } else if (!tk__role_is(&in[0], "system")) at = 0;
    else return 0;
    tk_message *m = tk_arena_alloc(a, (n + 1) * sizeof *m);
    if (!m) return tk_err_set(e, TK_ENOMEM, "%s: out of memory", r->name);
    if (at) memcpy(m, in, at * sizeof *m);
    m[at] = (tk_message){.role = "system", .content = DEFAULT_SYSTEM};
    if (n > at) memcpy(m + at + 1, in + at, (n - at) * sizeof *m);
    *out = m;
    *n_out = n + 1;
    return 0;
}

/* A turn runs from the last assistant message that did not call a tool (exclusive). */
static size_t turn_start(const tk_message *msgs, size_t n) {
    for (size_t i = n; i-- > 0;)
        if (tk__role_is(&msgs[i], "assistant") && !msgs[i].n_tool_calls) return i + 1;
    return 0;
}

static const char *prefill(const tk_renderer *r, const tk_message *msgs, size_t n) {
    (void)msgs, (void)n;
    return r->variant == V_K2 ? NULL : r->variant == V_K25_DISABLE ? "<think></think>" : "<think>";
}

/* Kimi splits multi-turn SFT by user turns rather than per assistant message. */
static int supervised_examples(const tk_renderer *r, const tk_message *msgs, size_t n,
                               tk_train_on_what what, tk_supervised_examples *out, tk_err *e) {
    TK_VEC(size_t) ends = {0};
    int rc = 0;
    if (what == TK_TRAIN_LAST_ASSISTANT_MESSAGE || what == TK_TRAIN_LAST_ASSISTANT_TURN) {
        rc = tk_vec_push(&ends, n);
    } else {
        bool first = true;
        for (size_t i = 0; !rc && i < n; i++)
            if (tk__role_is(&msgs[i], "user")) {
                if (!first) rc = tk_vec_push(&ends, i);
                first = false;
            }
        if (!rc) rc = tk_vec_push(&ends, n);
        if (what != TK_TRAIN_ALL_ASSISTANT_MESSAGES)
            tk_debug("%s: train_on_what=%s is applied to every user turn separately", r->name,
                     tk_train_on_what_name(what));
    }
    if (rc) return tk_err_set(e, TK_ENOMEM, "out of memory");
    tk_train_on_what each = what == TK_TRAIN_ALL_ASSISTANT_MESSAGES ? TK_TRAIN_LAST_ASSISTANT_TURN : what;
    for (size_t i = 0; !rc && i < ends.len; i++) {
        tk_supervised_example ex = {{0}, {0}};
        rc = tk_renderer_build_supervised_example(r, msgs, ends.data[i], each, &ex.tokens, &ex.weights, e);
        if (!rc && tk_vec_push(out, ex)) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
        if (rc) {
            tk_vec_free(&ex.tokens);
            tk_vec_free(&ex.weights);
        }
    }
    tk_vec_free(&ends);
    return rc;
}

/* ---- parsing ------------------------------------------------------------------------------------ */

/* The first complete tool-calls section in either spelling: [start, body, body_end). */
static bool find_section(const char *s, size_t n, const char **start, const char **body,
                         const char **body_end) {
    static const char *const OPEN[] = {"<|tool_calls_section_begin|>", "<|tool_call_section_begin|>"};
    static const char *const CLOSE[] = {"<|tool_calls_section_end|>", "<|tool_call_section_end|>"};
    const char *best = NULL;
    for (const char *p = s; p < s + n && !best; p++) {
        for (int k = 0; k < 2 && !best; k++) {
            if (!tk__starts_with(p, (size_t)(s + n - p), OPEN[k])) continue;
            const char *b = p + strlen(OPEN[k]);
            const char *c = tk__find(b, (size_t)(s + n - b), CLOSE[k]);
            if (c) {
                best = p;
                *body = b;
                *body_end = c;
            }
        }
    }
    *start = best;
    return best != NULL;
}

/* <|tool_call_begin|> \s* ID(=[^<]+:\d+) \s* <|tool_call_argument_begin|> \s* ARGS \s* <|tool_call_end|> */
static int parse_calls(tk__msg_builder *b, const char *s, const char *end) {
    static const char BEGIN[] = "<|tool_call_begin|>", ARG[] = "<|tool_call_argument_begin|>",
                      END[] = "<|tool_call_end|>";
    int rc = 0;
    const char *p = s;
    while (!rc && p < end) {
        const char *cb = tk__find(p, (size_t)(end - p), BEGIN);
        if (!cb) break;
        const char *id = cb + strlen(BEGIN);
        const char *q = id;
        while (q < end && *q != '<') q++;
        const char *ab = tk__starts_with(q, (size_t)(end - q), ARG) ? q : NULL;
        const char *ce = ab ? tk__find(ab, (size_t)(end - ab), END) : NULL;
        size_t idn = (size_t)(q - id);
        tk__py_strip(&id, &idn, NULL);
        /* the id must end in ":<digits>" */
        const char *colon = NULL;
        for (size_t i = idn; i-- > 0;)
            if (id[i] == ':') { colon = id + i; break; }
        bool ok = ab && ce && colon && colon > id && colon + 1 < id + idn;
        for (const char *d = colon ? colon + 1 : id; ok && d < id + idn; d++) ok = *d >= '0' && *d <= '9';
        if (!ok) {
            p = cb + 1;
            continue;
        }
        const char *args = ab + strlen(ARG);
        size_t an = (size_t)(ce - args);
        tk__py_strip(&args, &an, NULL);
        const char *raw_end = ce + strlen(END);
        /* the name: the id up to its first ':' without the part before the first '.' */
        const char *name = id, *name_end = memchr(id, ':', idn);
        const char *dot = memchr(id, '.', (size_t)(name_end - id));
        if (dot) name = dot + 1;
        char err[200], msg[260];
        json_t *v = tk__pyjson_loads(args, an, err, sizeof err);
        if (v) {
            char *idc = tk__arena_slice(b->arena, id, idn);
            rc = idc ? tk__mb_call(b, idc, name, (size_t)(name_end - name), args, an) : TK_ENOMEM;
            json_decref(v);
        } else {
            snprintf(msg, sizeof msg, "Invalid JSON: %s", err);
            rc = tk__mb_unparsed(b, cb, (size_t)(raw_end - cb), msg);
        }
        p = raw_end;
    }
    return rc;
}

static int parse(const tk_renderer *r, const int32_t *ids, size_t n, tk_parsed_response *out,
                 tk_err *e) {
    tk_buf text = {0};
    int rc = tk__split_at_stop(r, ids, n, r->stop_tokens.data[0], &text, &out->termination, e);
    tk__msg_builder b = {out->arena, {0}, {0}, {0}};
    if (rc) goto done;
    const char *s = text.data ? text.data : "";
    size_t len = text.len;
    if (out->termination == TK_PARSE_MALFORMED) {
        rc = tk__mb_finish(&b, out, false, s, len);
        goto done;
    }
    if (r->variant != V_K2 && len && !tk__starts_with(s, len, "<think>") && tk__find(s, len, "</think>")) {
        tk_buf t = {0};
        rc = tk_buf_puts(&t, "<think>");
        rc = rc ? rc : tk_buf_append(&t, s, len);
        tk_buf_free(&text);
        text = t;
        s = text.data;
        len = text.len;
        if (rc) goto done;
    }
    const char *start = NULL, *body = NULL, *body_end = NULL;
    size_t text_len = len;
    if (find_section(s, len, &start, &body, &body_end)) {
        text_len = (size_t)(start - s);
        rc = parse_calls(&b, body, body_end);
    }
    static const char *const PAIRS[][2] = {
        {"<|tool_calls_section_begin|>", "<|tool_calls_section_end|>"},
        {"<|tool_call_section_begin|>", "<|tool_call_section_end|>"},
        {"<|tool_call_begin|>", "<|tool_call_end|>"},
    };
    bool dangling = false;
    for (int k = 0; !rc && !dangling && k < 3; k++)
        rc = tk__detect_unterminated(&b, s, len, PAIRS[k][0], PAIRS[k][1], &dangling);
    bool found = false;
    if (!rc) rc = tk__parse_think_blocks(&b, s, text_len, &found);
    if (!rc) rc = tk__mb_finish(&b, out, found, s, text_len);
done:
    if (rc) tk__mb_free(&b);
    tk_buf_free(&text);
    return rc == TK_ENOMEM ? tk_err_set(e, rc, "%s: out of memory", r->name) : rc;
}

/* ---- tool declarations -------------------------------------------------------------------------- */

static int tool_prefix(const tk_renderer *r, const tk_tool_spec *tools, size_t n, const char *sp,
                       tk_conversation *out, tk_err *e) {
    int rc = 0;
    if (n) {
        tk_buf b = {0};
        if (r->variant == V_K2) {
            /* [{"type":"function","function":spec}] compact with sorted keys */
            json_t *arr = json_array();
            for (size_t i = 0; !rc && i < n; i++) {
                json_t *spec = NULL;
                if ((rc = tk__tool_json(&tools[i], &spec, e))) break;
                json_t *w = json_pack("{s:s,s:o}", "type", "function", "function", spec);
                if (!w || json_array_append_new(arr, w)) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
            }
            static const tk__pyjson_style compact_sorted = {",", ":", true, true};
            if (!rc && tk__pyjson_dump(arr, &compact_sorted, &b)) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
            json_decref(arr);
        } else {
            rc = tk__kimi_ts_tools(tools, n, &b, e);
        }
        if (!rc) rc = tk__append_msg(out, "tool_declare", b.data ? b.data : "", e);
        tk_buf_free(&b);
    }
    if (!rc) rc = tk__append_msg(out, "system", *sp ? sp : DEFAULT_SYSTEM, e);
    return rc;
}

int tk__kimi_init(tk_renderer *r, int variant, tk_err *e) {
    r->variant = variant;
    r->strip_history = variant != V_K26_PRESERVE && r->opts.keep_thinking_in_history <= 0;
    r->ops.render_message = render;
    r->ops.parse_response = parse;
    r->ops.normalize = normalize;
    r->ops.turn_start = turn_start;
    r->ops.default_prefill = prefill;
    r->ops.supervised_examples = supervised_examples;
    r->ops.tool_prefix = tool_prefix;
    /* Keeping reasoning in history, every turn renders as it was sampled, so prompts extend;
     * with thinking off no turn has reasoning to lose. (The cookbook reports False for the
     * whole Kimi family.) */
    r->extension = !r->strip_history || variant == V_K25_DISABLE;
    r->disables_thinking = variant == V_K25_DISABLE;
    return tk__add_stop_token(r, "<|im_end|>", e);
}
