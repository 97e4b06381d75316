/* Pieces every response parser shares: building a message inside the result's arena, splitting
 * at a stop token, the <think>/<tool_call> block scanner, and unterminated-block detection. */
#include "internal.h"

#include <jansson.h>
#include <stdio.h>

int tk__parsed_init(tk_parsed_response *out, tk_err *e) {
    memset(out, 0, sizeof *out);
    out->arena = tk_arena_new(0);
    return out->arena ? 0 : tk_err_set(e, TK_ENOMEM, "parse_response: out of memory");
}

void tk_parsed_response_free(tk_parsed_response *p) {
    if (!p) return;
    tk_arena_free(p->arena);
    memset(p, 0, sizeof *p);
}

int tk__mb_part(tk__msg_builder *b, tk_part_type type, const char *s, size_t n) {
    tk_content_part p = {type, tk__arena_slice(b->arena, s, n)};
    if (!p.text) return TK_ENOMEM;
    return tk_vec_push(&b->parts, p);
}

int tk__mb_call(tk__msg_builder *b, const char *id, const char *name, size_t name_len,
                const char *args, size_t args_len) {
    tk_tool_call c = {id ? tk_arena_strdup(b->arena, id) : NULL,
                      tk__arena_slice(b->arena, name, name_len),
                      tk__arena_slice(b->arena, args, args_len)};
    if (!c.name || !c.arguments || (id && !c.id)) return TK_ENOMEM;
    return tk_vec_push(&b->calls, c);
}

int tk__mb_unparsed(tk__msg_builder *b, const char *raw, size_t raw_len, const char *error) {
    tk_unparsed_tool_call u = {tk__arena_slice(b->arena, raw, raw_len),
                               tk_arena_strdup(b->arena, error)};
    if (!u.raw_text || !u.error) return TK_ENOMEM;
    return tk_vec_push(&b->unparsed, u);
}

void tk__mb_free(tk__msg_builder *b) {
    tk_vec_free(&b->parts);
    tk_vec_free(&b->calls);
    tk_vec_free(&b->unparsed);
}

#define COPY_VEC(dst, n_dst, vec)                                                                   \
    do {                                                                                           \
        if ((vec).len) {                                                                           \
            void *p_ = tk_arena_alloc(b->arena, (vec).len * sizeof *(vec).data);                   \
            if (!p_) { rc = TK_ENOMEM; break; }                                                    \
            memcpy(p_, (vec).data, (vec).len * sizeof *(vec).data);                                \
            (dst) = p_;                                                                            \
            (n_dst) = (vec).len;                                                                   \
        }                                                                                          \
    } while (0)

int tk__mb_finish(tk__msg_builder *b, tk_parsed_response *out, bool as_list, const char *text,
                  size_t text_len) {
    int rc = 0;
    tk_message *m = &out->message;
    memset(m, 0, sizeof *m);
    m->role = "assistant";
    m->content_is_list = as_list;
    if (as_list) {
        COPY_VEC(m->parts, m->n_parts, b->parts);
    } else {
        m->content = tk__arena_slice(b->arena, text, text_len);
        if (!m->content) rc = TK_ENOMEM;
    }
    if (!rc) COPY_VEC(m->tool_calls, m->n_tool_calls, b->calls);
    if (!rc) COPY_VEC(m->unparsed_tool_calls, m->n_unparsed_tool_calls, b->unparsed);
    tk__mb_free(b);
    return rc;
}

int tk__split_at_stop(const tk_renderer *r, const int32_t *ids, size_t n, int32_t stop,
                      tk_buf *text, tk_parse_termination *term, tk_err *e) {
    size_t count = 0, first = n;
    for (size_t i = 0; i < n; i++)
        if (ids[i] == stop) {
            if (!count) first = i;
            count++;
        }
    if (count > 1)
        return tk_err_set(e, TK_EINVAL,
                          "%s: parse_response: the response holds the stop token %d %zu times "
                          "(expected at most once); the sampler was probably not given this "
                          "renderer's stop sequences",
                          r->name, (int)stop, count);
    *term = count ? TK_PARSE_STOP_SEQUENCE : TK_PARSE_MALFORMED;
    return tk__decode(r, ids, count ? first : n, text, e);
}

/* json.loads of a <tool_call> body: an object with a string "name" and an object "arguments"
 * (and an optional string "id"); arguments re-serialised like json.dumps. */
static int tool_call_from_json(tk__msg_builder *b, const char *body, size_t body_len,
                               const char *raw, size_t raw_len) {
    const char *s = body;
    size_t n = body_len;
    tk__py_strip(&s, &n, NULL);
    char err[200], msg[260];
    json_t *v = tk__pyjson_loads(s, n, err, sizeof err);
    if (!v) {
        snprintf(msg, sizeof msg, "Invalid JSON: %s", err);
        return tk__mb_unparsed(b, raw, raw_len, msg);
    }
    int rc;
    json_t *name = json_object_get(v, "name"), *args = json_object_get(v, "arguments"),
           *id = json_object_get(v, "id");
    if (!json_is_object(v)) {
        rc = tk__mb_unparsed(b, raw, raw_len, "Tool call is not a JSON object");
    } else if (!json_is_string(name)) {
        rc = tk__mb_unparsed(b, raw, raw_len, "Missing or invalid 'name' field");
    } else if (!json_is_object(args)) {
        rc = tk__mb_unparsed(b, raw, raw_len, "Missing or invalid 'arguments' field");
    } else {
        tk_buf a = {0};
        rc = tk__pyjson_dump(args, &TK__PYJSON_UNICODE, &a);
        if (!rc)
            rc = tk__mb_call(b, json_is_string(id) ? json_string_value(id) : NULL,
                             json_string_value(name), json_string_length(name),
                             a.data ? a.data : "", a.len);
        tk_buf_free(&a);
    }
    json_decref(v);
    return rc;
}

static size_t strip_suffix(const char *s, size_t n, const char *suffix) {
    size_t k = suffix ? strlen(suffix) : 0;
    return k && n >= k && !memcmp(s + n - k, suffix, k) ? n - k : n;
}

static int scan_blocks(tk__msg_builder *b, const char *s, size_t n, bool tools,
                       const tk__tool_seps *seps, bool *found) {
    static const tk__tool_seps none = {NULL, NULL, NULL};
    if (!seps) seps = &none;
    *found = tk__find(s, n, "<think>") || (tools && tk__find(s, n, "<tool_call>"));
    if (!*found) return 0;
    size_t pos = 0;
    int rc = 0;
    bool after_tool = false, seen_tool = false;
    while (!rc && pos <= n) {
        /* the next complete block: whichever opening tag comes first and has its closing tag */
        const char *best = NULL, *best_end = NULL;
        bool is_tool = false;
        for (size_t scan = pos; scan < n && !best;) {
            const char *t = tk__find(s + scan, n - scan, "<think>");
            const char *c = tools ? tk__find(s + scan, n - scan, "<tool_call>") : NULL;
            const char *open = t && (!c || t < c) ? t : c;
            if (!open) break;
            bool tool = open == c && (!t || c < t);
            const char *open_tag = tool ? "<tool_call>" : "<think>";
            const char *close_tag = tool ? "</tool_call>" : "</think>";
            const char *body = open + strlen(open_tag);
            const char *close = tk__find(body, (size_t)(s + n - body), close_tag);
            if (close) {
                best = open;
                best_end = close;
                is_tool = tool;
            } else {
                scan = (size_t)(open - s) + 1; /* an unclosed tag is text; look further */
            }
        }
        const char *text = s + pos;
        size_t tn = best ? (size_t)(best - text) : n - pos;
        if (after_tool && seps->after && tk__starts_with(text, tn, seps->after)) {
            text += strlen(seps->after);
            tn -= strlen(seps->after);
        }
        bool had_text = tn > 0;
        if (best && is_tool) tn = strip_suffix(text, tn, seen_tool ? seps->between : seps->before_first);
        /* text emptied by removing a separator stays as an empty part, as the cookbook's parser
         * leaves it */
        if (had_text) rc = tk__mb_part(b, TK_PART_TEXT, text, tn);
        if (!best || rc) break;
        const char *body = best + strlen(is_tool ? "<tool_call>" : "<think>");
        size_t body_len = (size_t)(best_end - body);
        const char *after = best_end + strlen(is_tool ? "</tool_call>" : "</think>");
        if (!is_tool) {
            if (body_len) rc = tk__mb_part(b, TK_PART_THINKING, body, body_len);
        } else {
            rc = tool_call_from_json(b, body, body_len, best, (size_t)(after - best));
            seen_tool = true;
        }
        after_tool = is_tool;
        pos = (size_t)(after - s);
        if (pos == n) break;
    }
    return rc;
}

int tk__parse_content_blocks(tk__msg_builder *b, const char *s, size_t n, const tk__tool_seps *seps,
                             bool *found) {
    return scan_blocks(b, s, n, true, seps, found);
}

int tk__parse_think_blocks(tk__msg_builder *b, const char *s, size_t n, bool *found) {
    return scan_blocks(b, s, n, false, NULL, found);
}

int tk__detect_unterminated(tk__msg_builder *b, const char *s, size_t n, const char *open,
                            const char *close, bool *added) {
    *added = false;
    size_t opens = tk__count(s, n, open);
    if (opens == 0 || opens <= tk__count(s, n, close)) return 0;
    /* raw text: from the last unmatched open marker */
    const char *last = NULL, *p = s;
    while ((p = tk__find(p, (size_t)(s + n - p), open)) != NULL) last = p++;
    size_t raw_len = (size_t)(s + n - last);
    if (raw_len > 16384) {
        raw_len = 16384;
        while (raw_len && ((unsigned char)last[raw_len] & 0xc0) == 0x80) raw_len--;
    }
    char err[256];
    snprintf(err, sizeof err, "unterminated tool block: '%s' opened without a matching '%s'", open,
             close);
    *added = true;
    return tk__mb_unparsed(b, last, raw_len, err);
}
