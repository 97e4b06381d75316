/* Classifying a retrieve_future JSON answer the way the SDK does (§3.7). */
#include "json_internal.h"

#include <string.h>

int tk_wire_future_reply_classify(const char *json, size_t len, tk_arena *a, tk_wire_future_reply *out,
                                  tk_err *e) {
    memset(out, 0, sizeof *out);
    if (!a) return tk_err_set(e, TK_EINVAL, "retrieve_future answer: an arena is needed");
    tk_jr r;
    tk_jr_init(&r, json, len, a, false, e);
    bool try_again = false, metadata = false, error = false;
    int rc = tk_jr_obj_begin(&r);
    bool first = true;
    const char *k;
    size_t kl;
    while (rc == 0 && (rc = tk_jr_obj_next(&r, &first, &k, &kl)) == 1) {
        rc = 0;
        bool is_type = kl == 4 && memcmp(k, "type", 4) == 0;
        bool is_status = kl == 6 && memcmp(k, "status", 6) == 0;
        if (kl == 5 && memcmp(k, "error", 5) == 0) error = true;
        if ((is_type || is_status) && tk_jr_peek(&r) == '"') {
            char *s;
            if ((rc = tk_jr_str(&r, &s, NULL))) break;
            if (is_type && strcmp(s, "try_again") == 0) try_again = true;
            if (is_status && strcmp(s, "complete_metadata") == 0) metadata = true;
        } else {
            rc = tk_jr_skip(&r);
        }
    }
    if (rc == 0) rc = tk_jr_end(&r);
    tk_jr_finish(&r);
    if (rc) return tk_err_prefix(e, "retrieve_future answer: ");
    if (try_again) {
        out->kind = TK_WIRE_REPLY_TRY_AGAIN;
        return tk_wire_json_decode(TK_WIRE_MSG_TRY_AGAIN, json, len, a, &out->try_again, e);
    }
    if (metadata) {
        out->kind = TK_WIRE_REPLY_METADATA_ONLY;
        return tk_wire_json_decode(TK_WIRE_MSG_COMPLETE_METADATA, json, len, a, &out->metadata, e);
    }
    if (error) {
        out->kind = TK_WIRE_REPLY_FAILED;
        return tk_wire_json_decode(TK_WIRE_MSG_REQUEST_FAILED, json, len, a, &out->failed, e);
    }
    out->kind = TK_WIRE_REPLY_RESULT;
    return 0;
}
