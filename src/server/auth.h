/* API keys (protocol §1.2): the X-API-Key header (or "Authorization: Bearer"). Without a key
 * file any key starting with "tml-" is accepted, since the official SDK refuses other keys
 * anyway; with a key file only the listed keys are. Internal to the server layer. */
#ifndef TK_SERVER_AUTH_H
#define TK_SERVER_AUTH_H

#include "tinkerc/base.h"

typedef struct tk_server_auth tk_server_auth;

/* path NULL: prefix mode. Else one key per line; blank lines and lines starting with '#' are
 * ignored; surrounding spaces are trimmed. An unreadable or empty file is TK_EINVAL. */
int tk_server_auth_new(const char *path, tk_server_auth **out, tk_err *e);
void tk_server_auth_free(tk_server_auth *a);
/* 0 if key (may be NULL) is accepted; else TK_EINVAL with the reason (no key, wrong prefix,
 * not listed). Thread-safe. */
int tk_server_auth_check(const tk_server_auth *a, const char *key, tk_err *e);
/* "key-xxxxxxxx": a short fingerprint of a key for run ownership (never the key itself). */
void tk_server_auth_fingerprint(const char *key, char out[24]);

#endif
