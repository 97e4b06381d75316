/* libFuzzer: the three protobuf decoders (the first byte picks one). A message that decodes is
 * re-encoded when it can be (int32/bfloat16 inputs widen, so the bytes may differ) and must
 * decode again. */
#include "tinkerc/wire.h"

#include <stdio.h>

typedef int (*enc_fn)(const void *, tk_buf *, tk_err *);
typedef int (*dec_fn)(const void *, size_t, tk_arena *, void *, tk_err *);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    static const enc_fn enc[3] = {(enc_fn)tk_wire_proto_encode_forward_backward_request,
                                  (enc_fn)tk_wire_proto_encode_forward_backward_output,
                                  (enc_fn)tk_wire_proto_encode_sample_response};
    static const dec_fn dec[3] = {(dec_fn)tk_wire_proto_decode_forward_backward_request,
                                  (dec_fn)tk_wire_proto_decode_forward_backward_output,
                                  (dec_fn)tk_wire_proto_decode_sample_response};
    int k = data[0] % 3;
    tk_arena *a = tk_arena_new(0);
    char obj[512], again[512];
    tk_err e = {0};
    if (dec[k](data + 1, size - 1, a, obj, &e) == 0) {
        tk_buf b = {0};
        if (enc[k](obj, &b, &e) == 0 && dec[k](b.data, b.len, a, again, &e) != 0) {
            fprintf(stderr, "re-encoded message %d does not decode: %s\n", k, e.msg);
            __builtin_trap();
        }
        tk_buf_free(&b);
    }
    tk_arena_free(a);
    return 0;
}
