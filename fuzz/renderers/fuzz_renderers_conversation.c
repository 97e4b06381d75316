/* libFuzzer: conversation JSON → messages → every built-in renderer's generation prompt and
 * supervised example (through the test char codec). Any input must give a clean error or a
 * consistent render: as many weights as tokens, nothing leaked. */
#include <stdint.h>
#include <stdlib.h>

#include "../../tests/renderers/char_codec.h"
#include "tinkerc/renderers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tk_conversation c;
    tk_err e = {0};
    if (tk_conversation_parse((const char *)data, size, "fuzz", &c, &e)) return 0;
    tk_renderer_codec codec = char_codec(true);
    for (const char *const *n = tk_renderer_builtin_names(); *n; n++) {
        tk_renderer *r;
        if (tk_renderer_new_with_codec(*n, &codec, NULL, &r, &e)) abort();
        tk_vec_i32 t = {0};
        tk_vec_f32 w = {0};
        (void)tk_renderer_build_generation_prompt(r, c.messages, c.n_messages, NULL, NULL, &t, &e);
        t.len = 0;
        for (int what = 0; what <= TK_TRAIN_CUSTOMIZED; what++) {
            if (!tk_renderer_build_supervised_example(r, c.messages, c.n_messages, (tk_train_on_what)what, &t, &w, &e) &&
                t.len != w.len)
                abort();
            t.len = w.len = 0;
        }
        if (c.n_tools) {
            tk_conversation p = {0};
            (void)tk_renderer_tool_prefix(r, c.tools, c.n_tools, "sys", &p, &e);
            tk_conversation_free(&p);
        }
        tk_vec_free(&t);
        tk_vec_free(&w);
        tk_renderer_free(r);
    }
    tk_buf b = {0};
    if (tk_messages_dump(c.messages, c.n_messages, &b)) abort();
    tk_buf_free(&b);
    tk_conversation_free(&c);
    return 0;
}
