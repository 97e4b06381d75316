/* Error codes and the caller-owned error struct. */
#include "tinkerc/base.h"

#include <stdio.h>
#include <string.h>

static const struct {
    int code;
    const char *name;
    const char *text;
} k_codes[] = {
    {TK_OK, "TK_OK", "success"},
    {TK_EINVAL, "TK_EINVAL", "invalid argument"},
    {TK_ENOMEM, "TK_ENOMEM", "out of memory or over a size limit"},
    {TK_EIO, "TK_EIO", "input/output error"},
    {TK_EPARSE, "TK_EPARSE", "malformed data"},
    {TK_ENOTFOUND, "TK_ENOTFOUND", "not found"},
    {TK_EUNSUPPORTED, "TK_EUNSUPPORTED", "not supported"},
    {TK_ERANGE, "TK_ERANGE", "value out of range"},
    {TK_ETIMEOUT, "TK_ETIMEOUT", "timed out"},
    {TK_ENET, "TK_ENET", "network error"},
    {TK_EHTTP, "TK_EHTTP", "HTTP error status"},
    {TK_ECANCELED, "TK_ECANCELED", "cancelled"},
    {TK_ESTATE, "TK_ESTATE", "wrong state for this operation"},
    {TK_EEXIST, "TK_EEXIST", "already exists"},
    {TK_EREMOTE, "TK_EREMOTE", "the server reported a failure"},
    {TK_EINTERNAL, "TK_EINTERNAL", "internal error"},
};

const char *tk_strerror(int code) {
    for (size_t i = 0; i < sizeof k_codes / sizeof k_codes[0]; i++)
        if (k_codes[i].code == code) return k_codes[i].text;
    return "unknown error";
}

const char *tk_code_name(int code) {
    for (size_t i = 0; i < sizeof k_codes / sizeof k_codes[0]; i++)
        if (k_codes[i].code == code) return k_codes[i].name;
    return "TK_E?";
}

int tk_err_setv(tk_err *e, int code, const char *fmt, va_list ap) {
    if (e) {
        e->code = code;
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    }
    return code;
}

int tk_err_set(tk_err *e, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    tk_err_setv(e, code, fmt, ap);
    va_end(ap);
    return code;
}

int tk_err_prefix(tk_err *e, const char *fmt, ...) {
    if (!e || e->code == 0) return TK_EINTERNAL;
    char head[TK_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    if (n < 0) return e->code;
    char tail[TK_ERR_MSG_MAX];
    memcpy(tail, e->msg, sizeof tail);
    snprintf(e->msg, sizeof e->msg, "%s%s", head, tail);
    return e->code;
}

void tk_err_clear(tk_err *e) {
    if (!e) return;
    e->code = 0;
    e->msg[0] = '\0';
}
