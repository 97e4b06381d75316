/* Reward models over comparisons (preference/types.py): the conversation a pairwise reward model
 * reads — the prompt, then each completion after a system separator, then a "Preference"
 * separator and the label — and the preference model that samples that label. */
#include "tinkerc/cookbook.h"

#include <stdlib.h>
#include <string.h>

static int append_all(tk_conversation *out, const tk_conversation *c, tk_err *e) {
    for (size_t i = 0; i < c->n_messages; i++) {
        int rc = tk_conversation_append(out, &c->messages[i], e);
        if (rc) return rc;
    }
    return 0;
}

static int append_system(tk_conversation *out, const char *text, tk_err *e) {
    tk_message m = {.role = "system", .content = text};
    return tk_conversation_append(out, &m, e);
}

int tk_rm_comparison_conversation(const tk_pref_comparison *c, bool with_label, tk_conversation *out, tk_err *e) {
    memset(out, 0, sizeof *out);
    int rc = append_all(out, &c->prompt, e);
    if (!rc) rc = append_system(out, "==== Completion A ====", e);
    if (!rc) rc = append_all(out, &c->a, e);
    if (!rc) rc = append_system(out, "==== Completion B ====", e);
    if (!rc) rc = append_all(out, &c->b, e);
    if (!rc) rc = append_system(out, "==== Preference ====", e);
    if (!rc && with_label) {
        tk_message m = {.role = "assistant",
                        .content = c->label == TK_PREF_LABEL_A ? "A" : c->label == TK_PREF_LABEL_B ? "B" : "Tie"};
        rc = tk_conversation_append(out, &m, e);
    }
    for (size_t i = 0; !rc && i < c->prompt.n_tools; i++) rc = tk_conversation_append_tool(out, &c->prompt.tools[i], e);
    if (rc) tk_conversation_free(out);
    return rc;
}

bool tk_preference_from_text(const char *text, double *score) {
    size_t n = strlen(text);
    while (n && strchr(" \t\r\n", text[n - 1])) n--;
    while (n && strchr(" \t\r\n", *text)) text++, n--;
    if (n == 1 && *text == 'A') *score = -1;
    else if (n == 1 && *text == 'B') *score = 1;
    else if (n == 3 && !strncmp(text, "Tie", 3)) *score = 0;
    else {
        *score = 0;
        return false;
    }
    return true;
}

int tk_preference_model_score(tk_client_sampling *rm, const tk_renderer *r, const tk_pref_comparison *c, double *score,
                              bool *valid, tk_err *e) {
    *score = 0;
    if (valid) *valid = false;
    tk_conversation conv;
    int rc = tk_rm_comparison_conversation(c, false, &conv, e);
    if (rc) return rc;
    tk_vec_i32 prompt = {0};
    rc = tk_renderer_build_generation_prompt(r, conv.messages, conv.n_messages, NULL, NULL, &prompt, e);
    tk_wire_sampling_params sp;
    tk_wire_init(TK_WIRE_MSG_SAMPLING_PARAMS, &sp);
    sp.has_max_tokens = true;
    sp.max_tokens = 1;
    sp.temperature = 0;
    tk_wire_chunk chunk = {.type = TK_WIRE_CHUNK_ENCODED_TEXT, .tokens = prompt.data, .n_tokens = prompt.len};
    tk_wire_model_input mi = {&chunk, 1};
    tk_client_task *t = NULL;
    tk_arena *a = tk_arena_new(0);
    tk_wire_sample_response res;
    if (!rc && !a) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    if (!rc) rc = tk_client_sampling_sample(rm, &mi, 1, &sp, false, 0, &t, e);
    if (!rc) rc = tk_client_sample_result(t, -1, a, &res, e);
    if (!rc && res.n_sequences != 1)
        rc = tk_err_set(e, TK_EPARSE, "the reward model's sampler returned %zu sequences for 1", res.n_sequences);
    if (!rc) {
        const tk_renderer_codec *codec = tk_renderer_get_codec(r);
        tk_buf text = {0};
        rc = codec->decode(codec->ctx, res.sequences[0].tokens, res.sequences[0].n_tokens, &text, e);
        if (!rc) {
            bool ok = tk_preference_from_text(text.data ? text.data : "", score);
            if (!ok) tk_warn("the preference model answered \"%s\", not A, B or Tie: scored 0", text.data ? text.data : "");
            if (valid) *valid = ok;
        }
        tk_buf_free(&text);
    }
    if (rc) tk_err_prefix(e, "preference model: ");
    tk_client_task_release(t);
    tk_arena_free(a);
    tk_vec_free(&prompt);
    tk_conversation_free(&conv);
    return rc;
}
