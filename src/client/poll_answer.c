/* retrieve_future answer classification (see poll_answer.h). */
#include "poll_answer.h"

#include <jansson.h>
#include <string.h>

#include "tinkerc/wire.h"

/* Above this size a body is first scanned with the wire layer's streaming reader, which skips
 * values without building them: a 3 MB JSON forward_backward result costs jansson ~150 ms to
 * build as a DOM just to learn that it has no "error" key. Small bodies (every envelope) keep the
 * jansson path, which also refuses duplicate keys; large results get that check from the typed
 * layer's decoder. */
#define TK_POLL_SCAN_MIN 65536

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
    if (len > TK_POLL_SCAN_MIN) {
        tk_arena *a = tk_arena_new(0);
        tk_wire_future_reply r;
        tk_err e = {0};
        int rc = a ? tk_wire_future_reply_classify(body, len, a, &r, &e) : TK_ENOMEM;
        tk_arena_free(a);
        if (rc != TK_ENOMEM && r.kind == TK_WIRE_REPLY_RESULT) {
            out->kind = rc ? TK_POLL_GARBAGE : TK_POLL_RESULT;
            return;
        }
        /* an envelope (or no memory to scan): read its fields below */
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
