/* tk_renderer_new: renderers over a tinkerc tokenizer. */
#include "internal.h"

#include "tinkerc/tokenizer.h"

static int enc(void *ctx, const char *text, size_t len, bool split_special, tk_vec_i32 *out,
               tk_err *e) {
    tk_encode_opts o = {.add_special_tokens = false, .split_special_tokens = split_special};
    return tk_tokenizer_encode(ctx, text, len, o, out, e);
}

static int dec(void *ctx, const int32_t *ids, size_t n, tk_buf *out, tk_err *e) {
    return tk_tokenizer_decode(ctx, ids, n, false, out, e);
}

int tk_renderer_new(const char *name, const struct tk_tokenizer *tok, const tk_renderer_opts *opts,
                    tk_renderer **out, tk_err *e) {
    if (!tok) return tk_err_set(e, TK_EINVAL, "renderer \"%s\": tokenizer is NULL", name ? name : "");
    tk_renderer_codec c = {(void *)tok, enc, dec, tk_tokenizer_bos_id(tok), tk_tokenizer_eos_id(tok)};
    return tk_renderer_new_with_codec(name, &c, opts, out, e);
}
