/* llama3 — <|start_header_id|>role<|end_header_id|>\n\n content <|eot_id|>. Like the cookbook,
 * no "Cutting Knowledge Date" preamble is added (the caller adds one as a system message if it
 * wants it) and tool calls are not rendered: Llama 3's bare-JSON tool format cannot be told
 * apart from ordinary JSON answers when parsing. */
#include "internal.h"

static int render(const tk_renderer *r, const tk_message *m, const tk_render_context *ctx,
                  tk_rendered_message *out, tk_err *e) {
    char where[64];
    snprintf(where, sizeof where, "llama3: messages[%zu]", ctx->idx);
    const char *text;
    int rc = tk__ensure_text(m, where, &text, e);
    if (!rc) rc = tk__rm_special(out, TK_SEG_HEADER, "<|start_header_id|>");
    if (!rc) rc = tk__rm_ref(out, TK_SEG_HEADER, m->role, strlen(m->role));
    if (!rc) rc = tk__rm_special(out, TK_SEG_HEADER, "<|end_header_id|>");
    if (!rc) rc = tk__rm_ref(out, TK_SEG_HEADER, "\n\n", 2);
    if (!rc) rc = tk__rm_ref(out, TK_SEG_OUTPUT, text, strlen(text));
    if (!rc) rc = tk__rm_special(out, TK_SEG_OUTPUT, "<|eot_id|>");
    return rc;
}

static int parse(const tk_renderer *r, const int32_t *ids, size_t n, tk_parsed_response *out,
                 tk_err *e) {
    tk_buf text = {0};
    int rc = tk__split_at_stop(r, ids, n, r->stop_tokens.data[0], &text, &out->termination, e);
    if (!rc) {
        tk__msg_builder b = {out->arena, {0}, {0}, {0}};
        rc = tk__mb_finish(&b, out, false, text.data, text.len);
        if (rc) rc = tk_err_set(e, rc, "llama3: out of memory");
    }
    tk_buf_free(&text);
    return rc;
}

int tk__llama3_init(tk_renderer *r, int variant, tk_err *e) {
    (void)variant;
    r->ops.render_message = render;
    r->ops.parse_response = parse;
    r->extension = true;
    r->add_bos = true;
    int32_t bos;
    int rc = tk__special_id(r, "<|begin_of_text|>", &bos, e);
    if (!rc) r->codec.bos_id = bos; /* the format's BOS, whatever the tokenizer config says */
    return rc ? rc : tk__add_stop_token(r, "<|eot_id|>", e);
}
