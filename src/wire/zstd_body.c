/* zstd request bodies (Content-Encoding: zstd) with a hard cap on the decompressed size, and the
 * HTTP-level body codecs that pick zstd / protobuf / JSON. The cap is enforced on the bytes
 * actually produced, never on what a frame header claims, so a "zstd bomb" stops at the cap. */
#include "wire_internal.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <zstd.h>

int tk_wire_zstd_compress(const void *in, size_t len, int level, tk_buf *out, tk_err *e) {
    size_t bound = ZSTD_compressBound(len);
    if (tk_buf_reserve(out, bound)) return tk_err_set(e, TK_ENOMEM, "zstd: out of memory for %zu bytes", bound);
    size_t n = ZSTD_compress(out->data + out->len, bound, in, len, level ? level : ZSTD_CLEVEL_DEFAULT);
    if (ZSTD_isError(n)) return tk_err_set(e, TK_EINTERNAL, "zstd: compression failed: %s", ZSTD_getErrorName(n));
    out->len += n;
    out->data[out->len] = '\0';
    return 0;
}

int tk_wire_zstd_decompress(const void *in, size_t len, size_t max_out, tk_buf *out, tk_err *e) {
    if (len == 0) return tk_err_set(e, TK_EPARSE, "zstd body: empty");
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    if (!dctx) return tk_err_set(e, TK_ENOMEM, "zstd body: out of memory");
    ZSTD_inBuffer src = {in, len, 0};
    size_t produced = 0, step = ZSTD_DStreamOutSize();
    int rc = 0;
    for (;;) {
        /* room for one more step, but never more than one byte past the cap */
        size_t room = step;
        if (produced + room > max_out + 1) room = max_out + 1 - produced;
        if (tk_buf_reserve(out, room)) { rc = tk_err_set(e, TK_ENOMEM, "zstd body: out of memory"); break; }
        ZSTD_outBuffer dst = {out->data + out->len, room, 0};
        size_t ret = ZSTD_decompressStream(dctx, &dst, &src);
        out->len += dst.pos;
        produced += dst.pos;
        out->data[out->len] = '\0';
        if (ZSTD_isError(ret)) { rc = tk_err_set(e, TK_EPARSE, "zstd body: corrupt: %s", ZSTD_getErrorName(ret)); break; }
        if (produced > max_out) {
            rc = tk_err_set(e, TK_ENOMEM, "zstd body: decompressed body exceeds %zu bytes", max_out);
            break;
        }
        if (ret == 0 && src.pos == src.size) break;              /* every frame complete */
        if (src.pos == src.size && dst.pos < dst.size) {          /* input ended mid-frame */
            rc = tk_err_set(e, TK_EPARSE, "zstd body: truncated (input ended inside a frame)");
            break;
        }
    }
    ZSTD_freeDCtx(dctx);
    return rc;
}

static bool has_token(const char *header, const char *token) {
    if (!header) return false;
    size_t n = strlen(token);
    for (const char *p = header; *p; p++)
        if (strncasecmp(p, token, n) == 0) return true;
    return false;
}

/* Content-Encoding: NULL, "", "identity" or "zstd" (surrounding spaces ignored). */
static int encoding_of(const char *ce, bool *zstd, tk_err *e) {
    *zstd = false;
    if (!ce) return 0;
    while (isspace((unsigned char)*ce)) ce++;
    size_t n = strlen(ce);
    while (n && isspace((unsigned char)ce[n - 1])) n--;
    if (n == 0 || (n == 8 && strncasecmp(ce, "identity", 8) == 0)) return 0;
    if (n == 4 && strncasecmp(ce, "zstd", 4) == 0) { *zstd = true; return 0; }
    return tk_err_set(e, TK_EUNSUPPORTED, "Content-Encoding \"%.*s\" is not supported (only zstd)", (int)n, ce);
}

int tk_wire_body_decode(tk_wire_msg type, const char *content_type, const char *content_encoding, const void *body,
                        size_t len, size_t max_decompressed, tk_arena *a, void *obj, tk_err *e) {
    bool zstd;
    int rc = encoding_of(content_encoding, &zstd, e);
    if (rc) return rc;
    tk_buf plain = {0};
    if (zstd) {
        if ((rc = tk_wire_zstd_decompress(body, len, max_decompressed ? max_decompressed : TK_WIRE_MAX_DECOMPRESSED,
                                          &plain, e))) {
            tk_buf_free(&plain);
            return rc;
        }
        body = plain.data;
        len = plain.len;
    }
    if (has_token(content_type, "application/x-protobuf")) {
        switch (type) {
        case TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST: rc = tk_wire_proto_decode_forward_backward_request(body, len, a, obj, e); break;
        case TK_WIRE_MSG_FORWARD_BACKWARD_OUTPUT: rc = tk_wire_proto_decode_forward_backward_output(body, len, a, obj, e); break;
        case TK_WIRE_MSG_SAMPLE_RESPONSE: rc = tk_wire_proto_decode_sample_response(body, len, a, obj, e); break;
        default: {
            const tk_wire_msg_info *info = tk_wire_msg_get_info(type);
            rc = tk_err_set(e, TK_EUNSUPPORTED, "%s: no protobuf form", info ? info->name : "message");
        }
        }
    } else {
        rc = tk_wire_json_decode(type, body, len, a, obj, e);
    }
    tk_buf_free(&plain);
    return rc;
}

int tk_wire_body_encode(tk_wire_msg type, const char *accept, const void *obj, tk_buf *out, const char **content_type,
                        tk_err *e) {
    if (has_token(accept, "application/x-protobuf")) {
        if (type == TK_WIRE_MSG_FORWARD_BACKWARD_OUTPUT) {
            *content_type = "application/x-protobuf";
            return tk_wire_proto_encode_forward_backward_output(obj, out, e);
        }
        if (type == TK_WIRE_MSG_SAMPLE_RESPONSE) {
            *content_type = "application/x-protobuf";
            return tk_wire_proto_encode_sample_response(obj, out, e);
        }
    }
    *content_type = "application/json";
    return tk_wire_json_encode(type, obj, out, e);
}
