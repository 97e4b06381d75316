/* Classifying a 2xx retrieve_future answer (protocol §3.7, step 2 and 3) as a pure function, so
 * that it is unit-tested and fuzzed apart from the network. Thread-safe (no state). */
#ifndef TK_CLIENT_POLL_ANSWER_H
#define TK_CLIENT_POLL_ANSWER_H

#include "tinkerc/base.h"

typedef enum tk_poll_kind {
    TK_POLL_RESULT = 0,   /* protobuf, or a JSON value that is none of the below: the result */
    TK_POLL_TRY_AGAIN,    /* {"type":"try_again",…} */
    TK_POLL_METADATA,     /* {"status":"complete_metadata",…}: poll again for the full result */
    TK_POLL_FAILED,       /* {"error":…,"category":…} */
    TK_POLL_GARBAGE,      /* neither protobuf nor JSON */
} tk_poll_kind;

typedef struct tk_poll_info {
    tk_poll_kind kind;
    char queue_state[32];      /* any object's "queue_state" ("active", "paused_capacity", …;
                                  try_again and 408 bodies carry it); "" when absent */
    char queue_reason[128];    /* its "queue_state_reason"; "" when absent */
    char category[16];         /* failed: "user", "server" or "unknown" */
    char message[800];         /* failed: the error string (or its JSON) */
} tk_poll_info;

/* content_type may be NULL; body need not be NUL-terminated. Never fails: anything unreadable is
 * TK_POLL_GARBAGE. */
void tk_poll_classify(const char *content_type, const char *body, size_t len, tk_poll_info *out);

#endif
