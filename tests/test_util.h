/* Shared helpers for the cmocka tests. Include after <cmocka.h>'s prerequisites. */
#ifndef TK_TEST_UTIL_H
#define TK_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "tinkerc/base.h"

/* Assert that rc is TK_OK, printing the error message when it is not. */
#define assert_ok(rc, errp)                                                                         \
    do {                                                                                           \
        int rc_ = (rc);                                                                            \
        const tk_err *e_ = (errp);                                                                 \
        if (rc_ != 0) fail_msg("%s -> %s: %s", #rc, tk_code_name(rc_), e_ ? e_->msg : "");         \
    } while (0)

/* Assert that rc is the given error and that the message contains `needle`. */
#define assert_err(rc, code, errp, needle)                                                          \
    do {                                                                                           \
        int rc_ = (rc);                                                                            \
        if (rc_ != (code))                                                                         \
            fail_msg("%s -> %s, expected %s (msg: %s)", #rc, tk_code_name(rc_),                    \
                     tk_code_name(code), (errp)->msg);                                             \
        if (!strstr((errp)->msg, (needle)))                                                        \
            fail_msg("%s: message \"%s\" lacks \"%s\"", #rc, (errp)->msg, (needle));               \
    } while (0)

/* A fresh temporary directory for one test; caller frees the string and removes the tree. */
static inline char *tk_test_tmpdir(void) {
    char tmpl[] = "/tmp/tinkerc-test-XXXXXX";
    char *d = mkdtemp(tmpl);
    if (!d) return NULL;
    return tk_strdup(d);
}

#endif
