/* role_colon — "Role: content\n\n", the format for base models (R1-Zero style). The stop is the
 * string "\n\nUser:"; its "User:" half is the next message's header, so it is rendered as the
 * stop overlap of an assistant message and only appended after the last message of a
 * supervised example. */
#include "internal.h"

#include <ctype.h>

static const char STOP[] = "\n\nUser:";

static int render(const tk_renderer *r, const tk_message *m, const tk_render_context *ctx,
                  tk_rendered_message *out, tk_err *e) {
    char where[64];
    snprintf(where, sizeof where, "role_colon: messages[%zu]", ctx->idx);
    const char *text;
    int rc = tk__ensure_text(m, where, &text, e);
    if (rc) return rc;
    /* str.capitalize(): first letter upper, the rest lower */
    char *role = tk_arena_strdup(out->arena, m->role);
    if (!role) return TK_ENOMEM;
    for (char *p = role; *p; p++) *p = (char)(p == role ? toupper((unsigned char)*p) : tolower((unsigned char)*p));
    if ((rc = tk__rm_ref(out, TK_SEG_HEADER, role, strlen(role)))) return rc;
    if ((rc = tk__rm_ref(out, TK_SEG_HEADER, ":", 1))) return rc;
    if ((rc = tk__rm_ref(out, TK_SEG_OUTPUT, " ", 1))) return rc;
    if ((rc = tk__rm_ref(out, TK_SEG_OUTPUT, text, strlen(text)))) return rc;
    if ((rc = tk__rm_ref(out, TK_SEG_OUTPUT, "\n\n", 2))) return rc;
    if (tk__role_is(m, "assistant")) rc = tk__rm_ref(out, TK_SEG_STOP_OVERLAP, "User:", 5);
    return rc;
}

/* Drop a trailing EOS (remember it), decode, split on the stop string. One piece: EOS if the
 * model ended with EOS, else truncated. Two pieces: the stop fired (malformed if EOS followed).
 * More: several stops. Content loses the leading space and trailing "\n\n" it was rendered
 * with. */
static int parse(const tk_renderer *r, const int32_t *ids, size_t n, tk_parsed_response *out,
                 tk_err *e) {
    bool eos = n && r->codec.eos_id >= 0 && ids[n - 1] == r->codec.eos_id;
    if (eos) n--;
    tk_buf text = {0};
    int rc = tk__decode(r, ids, n, &text, e);
    if (rc) goto done;
    const char *s = text.data ? text.data : "";
    size_t pieces = tk__count(s, text.len, STOP) + 1;
    const char *first_end = tk__find(s, text.len, STOP);
    size_t len = first_end ? (size_t)(first_end - s) : text.len;
    const char *c = s;
    if (len && c[0] == ' ') c++, len--;
    if (len >= 2 && c[len - 2] == '\n' && c[len - 1] == '\n') len -= 2;
    if (pieces == 1)
        out->termination = eos ? TK_PARSE_EOS : TK_PARSE_MALFORMED;
    else if (pieces == 2)
        out->termination = eos ? TK_PARSE_MALFORMED : TK_PARSE_STOP_SEQUENCE;
    else
        out->termination = TK_PARSE_MALFORMED;
    tk__msg_builder b = {out->arena, {0}, {0}, {0}};
    rc = tk__mb_finish(&b, out, false, c, len);
    if (rc) rc = tk_err_set(e, rc, "role_colon: out of memory");
done:
    tk_buf_free(&text);
    return rc;
}

int tk__role_colon_init(tk_renderer *r, int variant, tk_err *e) {
    (void)variant;
    r->ops.render_message = render;
    r->ops.parse_response = parse;
    r->extension = true;
    r->add_bos = true; /* the tokenizer's BOS, when it has one (Llama: yes, Qwen base: no) */
    r->stop_strings = calloc(1, sizeof *r->stop_strings);
    if (!r->stop_strings || !(r->stop_strings[0] = tk_strdup(STOP)))
        return tk_err_set(e, TK_ENOMEM, "out of memory");
    r->n_stop_strings = 1;
    return 0;
}
