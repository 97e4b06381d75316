/* libFuzzer: arbitrary sampled text (encoded with the test char codec, so markers become their
 * tokens) → every built-in renderer's parse_response. Must not crash, leak or read out of
 * bounds; a result must serialise. */
#include <stdint.h>
#include <stdlib.h>

#include "../../tests/renderers/char_codec.h"
#include "tinkerc/renderers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tk_renderer_codec codec = char_codec(true);
    tk_vec_i32 ids = {0};
    tk_err e = {0};
    if (char_encode(NULL, (const char *)data, size, false, &ids, &e)) abort();
    for (const char *const *n = tk_renderer_builtin_names(); *n; n++) {
        tk_renderer *r;
        if (tk_renderer_new_with_codec(*n, &codec, NULL, &r, &e)) abort();
        tk_parsed_response p;
        if (!tk_renderer_parse_response(r, ids.data, ids.len, &p, &e)) {
            tk_buf b = {0};
            if (tk_message_dump(&p.message, &b)) abort();
            tk_buf_free(&b);
            tk_parsed_response_free(&p);
        }
        tk_renderer_free(r);
    }
    tk_vec_free(&ids);
    return 0;
}
