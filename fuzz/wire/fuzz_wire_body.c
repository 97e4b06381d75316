/* libFuzzer: HTTP bodies as the server sees them — zstd (capped at 1 MiB) then protobuf, plus the
 * retrieve_future classifier and tinker:// paths on the same bytes. */
#include "tinkerc/wire.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tk_arena *a = tk_arena_new(0);
    tk_err e = {0};
    tk_wire_forward_backward_request r;
    tk_wire_body_decode(TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST, "application/x-protobuf", "zstd", data, size, 1 << 20,
                        a, &r, &e);
    tk_wire_future_reply fr;
    tk_wire_future_reply_classify((const char *)data, size, a, &fr, &e);
    char *s = tk_arena_strndup(a, (const char *)data, size);
    tk_wire_tinker_path p;
    if (s && strlen(s) == size) tk_wire_tinker_path_parse(s, a, &p, &e);
    tk_arena_free(a);
    return 0;
}
