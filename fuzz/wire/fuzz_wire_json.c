/* libFuzzer: the JSON decoder of every message type. The first byte picks the type; a body that
 * decodes must re-encode and decode again. */
#include "tinkerc/wire.h"

#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    tk_wire_msg type = (tk_wire_msg)(data[0] % TK_WIRE_MSG_COUNT_);
    const tk_wire_msg_info *info = tk_wire_msg_get_info(type);
    tk_arena *a = tk_arena_new(0);
    void *obj = tk_arena_zalloc(a, info->size), *again = tk_arena_zalloc(a, info->size);
    tk_err e = {0};
    if (tk_wire_json_decode(type, (const char *)data + 1, size - 1, a, obj, &e) == 0) {
        tk_buf b = {0};
        /* NaN / Infinity are accepted on input but cannot be written: that is the only refusal */
        if (tk_wire_json_encode(type, obj, &b, &e) == 0 &&
            tk_wire_json_decode(type, b.data, b.len, a, again, &e) != 0) {
            fprintf(stderr, "re-encoded %s does not decode: %s\n%s\n", info->name, e.msg, b.data);
            __builtin_trap();
        }
        tk_buf_free(&b);
    }
    tk_arena_free(a);
    return 0;
}
