/* Helpers shared by the renderer tests: annotated renders (⟦…⟧ around weight-1 text, the
 * notation of the cookbook reference), decoding, and the standard conversations. */
#ifndef TK_TEST_RENDER_UTIL_H
#define TK_TEST_RENDER_UTIL_H

#include "test_util.h"

#include "tinkerc/renderers.h"

#define OPEN_MARK "\xe2\x9f\xa6"  /* ⟦ */
#define CLOSE_MARK "\xe2\x9f\xa7" /* ⟧ */

/* Decode tokens, wrapping runs of weight > 0 in ⟦…⟧. Caller frees. */
static inline char *annotate(const tk_renderer *r, const tk_vec_i32 *t, const tk_vec_f32 *w) {
    const tk_renderer_codec *c = tk_renderer_get_codec(r);
    tk_buf b = {0};
    tk_err e = {0};
    bool on = false;
    for (size_t i = 0; i <= t->len; i++) {
        bool want = i < t->len && w && w->data[i] > 0;
        if (want != on) {
            assert_int_equal(tk_buf_puts(&b, want ? OPEN_MARK : CLOSE_MARK), 0);
            on = want;
        }
        if (i < t->len) assert_int_equal(c->decode(c->ctx, &t->data[i], 1, &b, &e), 0);
    }
    char *s = tk_buf_detach(&b, NULL);
    assert_non_null(s);
    return s;
}

static inline char *decode_all(const tk_renderer *r, const int32_t *ids, size_t n) {
    const tk_renderer_codec *c = tk_renderer_get_codec(r);
    tk_buf b = {0};
    tk_err e = {0};
    assert_int_equal(c->decode(c->ctx, ids, n, &b, &e), 0);
    char *s = tk_buf_detach(&b, NULL);
    assert_non_null(s);
    return s;
}

/* Print a readable diff position and return whether equal. */
static inline bool same_text(const char *label, const char *got, const char *want) {
    if (!strcmp(got, want)) return true;
    size_t i = 0;
    while (got[i] && got[i] == want[i]) i++;
    size_t from = i > 40 ? i - 40 : 0;
    fprintf(stderr, "MISMATCH %s at byte %zu\n  got:  ...%.120s\n  want: ...%.120s\n", label, i,
            got + from, want + from);
    return false;
}

/* The reference's conversations: plain, and "think" with reasoning on each assistant turn. */
static const tk_content_part THINK_4[] = {{TK_PART_THINKING, "Add them."}, {TK_PART_TEXT, "4"}};
static const tk_content_part THINK_6[] = {{TK_PART_THINKING, "Add again."}, {TK_PART_TEXT, "6"}};

static inline void std_conversation(tk_message m[5], bool think) {
    m[0] = (tk_message){.role = "system", .content = "You are helpful."};
    m[1] = (tk_message){.role = "user", .content = "What is 2+2?"};
    m[2] = (tk_message){.role = "assistant", .content = "4"};
    m[3] = (tk_message){.role = "user", .content = "And 3+3?"};
    m[4] = (tk_message){.role = "assistant", .content = "6"};
    if (think) {
        m[2] = (tk_message){.role = "assistant", .content_is_list = true, .parts = THINK_4, .n_parts = 2};
        m[4] = (tk_message){.role = "assistant", .content_is_list = true, .parts = THINK_6, .n_parts = 2};
    }
}

static inline char *read_text_file(const char *path) {
    tk_buf b = {0};
    tk_err e = {0};
    if (tk_file_read(path, &b, 0, &e)) fail_msg("%s", e.msg);
    return tk_buf_detach(&b, NULL);
}

#endif
