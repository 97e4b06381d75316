/* retrieve_future answer classification (see poll_answer.h). */
#include "poll_answer.h"

#include <jansson.h>
#include <string.h>

static void copy_str(char *dst, size_t size, const json_t *v) {
    const char *s = json_string_value(v);
    snprintf(dst, size, "%s", s ? s : "");
}

void tk_poll_classify(const char *content_type, const char *body, size_t len, tk_poll_info *out) {
    memset(out, 0, sizeof *out);
    if (content_type && strstr(content_type, "application/x-protobuf")) {
        out->kind = TK_POLL_RESULT;
        return;
    }
    json_t *j = len ? json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL) : NULL;
    if (!j) {
        out->kind = TK_POLL_GARBAGE;
        return;
    }
    out->kind = TK_POLL_RESULT;   /* the bare result object; the typed layer validates it */
    if (json_is_object(j)) {
        copy_str(out->queue_state, sizeof out->queue_state, json_object_get(j, "queue_state"));
        copy_str(out->queue_reason, sizeof out->queue_reason,
                 json_object_get(j, "queue_state_reason"));
        const char *type = json_string_value(json_object_get(j, "type"));
        const char *status = json_string_value(json_object_get(j, "status"));
        json_t *err = json_object_get(j, "error");
        if (type && !strcmp(type, "try_again")) {
            out->kind = TK_POLL_TRY_AGAIN;
        } else if (status && !strcmp(status, "complete_metadata")) {
            out->kind = TK_POLL_METADATA;
        } else if (err) {
            out->kind = TK_POLL_FAILED;
            const char *cat = json_string_value(json_object_get(j, "category"));
            if (!cat || (strcmp(cat, "user") && strcmp(cat, "server"))) cat = "unknown";
            snprintf(out->category, sizeof out->category, "%s", cat);
            if (json_is_string(err)) {
                snprintf(out->message, sizeof out->message, "%s", json_string_value(err));
            } else {
                char *dump = json_dumps(err, JSON_COMPACT | JSON_ENCODE_ANY);
                snprintf(out->message, sizeof out->message, "%s", dump ? dump : "(unprintable)");
                free(dump);
            }
        }
    }
    json_decref(j);
}
