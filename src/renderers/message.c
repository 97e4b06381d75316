/* Small queries on tk_message shared by every format: the cookbook's ensure_text, has_thinking,
 * and text/thinking concatenation. */
#include "internal.h"

#include <strings.h>

int tk__ensure_text(const tk_message *m, const char *where, const char **out, tk_err *e) {
    if (!m->content_is_list) {
        *out = tk__str(m->content);
        return 0;
    }
    if (m->n_parts == 1 && m->parts[0].type == TK_PART_TEXT) {
        *out = tk__str(m->parts[0].text);
        return 0;
    }
    return tk_err_set(e, TK_EINVAL,
                      "%s: expected text content (a string or one text part), got a list of %zu "
                      "part(s)%s",
                      where, m->n_parts,
                      m->n_parts > 1 || (m->n_parts == 1 && m->parts[0].type == TK_PART_THINKING)
                          ? "; this format has no thinking or multi-part content"
                          : "");
}

bool tk__has_thinking(const tk_message *m) {
    if (m->content_is_list) {
        for (size_t i = 0; i < m->n_parts; i++)
            if (m->parts[i].type == TK_PART_THINKING) return true;
        return false;
    }
    return m->content && strstr(m->content, "<think>") != NULL;
}

bool tk__content_truthy(const tk_message *m) {
    return m->content_is_list ? m->n_parts > 0 : (m->content && m->content[0]);
}

int tk__reject_images(const tk_message *m, const char *renderer, size_t idx, tk_err *e) {
    if (!m->content_is_list) return 0;
    for (size_t i = 0; i < m->n_parts; i++)
        if (m->parts[i].type == TK_PART_IMAGE)
            return tk_err_set(e, TK_EUNSUPPORTED,
                              "%s: messages[%zu].content[%zu]: image parts are not supported "
                              "(tinkerc renders text only)",
                              renderer, idx, i);
    return 0;
}

int tk__concat_parts(const tk_message *m, tk_part_type type, tk_buf *out) {
    if (!m->content_is_list) return type == TK_PART_TEXT ? tk_buf_puts(out, tk__str(m->content)) : 0;
    for (size_t i = 0; i < m->n_parts; i++)
        if (m->parts[i].type == type) {
            int rc = tk_buf_puts(out, tk__str(m->parts[i].text));
            if (rc) return rc;
        }
    return 0;
}

ptrdiff_t tk__last_user_index(const tk_message *msgs, size_t n) {
    for (size_t i = n; i-- > 0;)
        if (tk__role_is(&msgs[i], "user")) return (ptrdiff_t)i;
    return -1;
}

int tk_message_text(const tk_message *m, tk_buf *out) {
    return tk__concat_parts(m, TK_PART_TEXT, out);
}

char *tk__arena_buf(tk_arena *a, const tk_buf *b) {
    return tk_arena_strndup(a, b->data ? b->data : "", b->len);
}

char *tk__arena_slice(tk_arena *a, const char *s, size_t n) {
    return tk_arena_strndup(a, s ? s : "", s ? n : 0);
}

const char *tk_train_on_what_name(tk_train_on_what w) {
    switch (w) {
    case TK_TRAIN_LAST_ASSISTANT_MESSAGE: return "last_assistant_message";
    case TK_TRAIN_LAST_ASSISTANT_TURN: return "last_assistant_turn";
    case TK_TRAIN_ALL_ASSISTANT_MESSAGES: return "all_assistant_messages";
    case TK_TRAIN_ALL_MESSAGES: return "all_messages";
    case TK_TRAIN_ALL_TOKENS: return "all_tokens";
    case TK_TRAIN_ALL_USER_AND_SYSTEM_MESSAGES: return "all_user_and_system_messages";
    case TK_TRAIN_CUSTOMIZED: return "customized";
    }
    return "unknown";
}

int tk_train_on_what_parse(const char *s, tk_train_on_what *out, tk_err *e) {
    for (int w = TK_TRAIN_LAST_ASSISTANT_MESSAGE; w <= TK_TRAIN_CUSTOMIZED; w++)
        if (s && strcasecmp(s, tk_train_on_what_name((tk_train_on_what)w)) == 0) {
            *out = (tk_train_on_what)w;
            return 0;
        }
    return tk_err_set(e, TK_EINVAL,
                      "train_on_what \"%s\": expected one of last_assistant_message, "
                      "last_assistant_turn, all_assistant_messages, all_messages, all_tokens, "
                      "all_user_and_system_messages, customized",
                      s ? s : "(null)");
}

const char *tk_parse_termination_name(tk_parse_termination t) {
    switch (t) {
    case TK_PARSE_STOP_SEQUENCE: return "stop_sequence";
    case TK_PARSE_EOS: return "eos";
    case TK_PARSE_MALFORMED: return "malformed";
    }
    return "unknown";
}
