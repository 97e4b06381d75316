/* Validation of the names that reach the file system or the id tables, and parsing of tinker://
 * checkpoint paths (protocol §1.5). Internal to the server layer. */
#ifndef TK_SERVER_NAMES_H
#define TK_SERVER_NAMES_H

#include "tinkerc/base.h"

/* Longest id the server issues or accepts (session, model, sampler, request ids), with the NUL. */
#define TK_SERVER_ID_MAX 128
/* Longest checkpoint name. */
#define TK_SERVER_NAME_MAX 128

typedef enum { TK_SERVER_CKPT_WEIGHTS = 0, TK_SERVER_CKPT_SAMPLER = 1 } tk_server_ckpt_kind;

/* A checkpoint or run name is 1..TK_SERVER_NAME_MAX-1 bytes of [A-Za-z0-9._+=@,-] (run ids also
 * ':'), does not start with '.', and contains no "..": so it can never climb out of its directory,
 * name a hidden file or carry a '/'. TK_EINVAL naming `what` and the offending character. */
int tk_server_name_check(const char *what, const char *s, bool allow_colon, tk_err *e);

/* "weights" / "sampler_weights" -> kind; TK_EINVAL otherwise. */
int tk_server_ckpt_kind_parse(const char *s, tk_server_ckpt_kind *out, tk_err *e);
/* "weights" / "sampler_weights" */
const char *tk_server_ckpt_kind_dir(tk_server_ckpt_kind k);
/* "training" / "sampler" (the REST checkpoint_type) */
const char *tk_server_ckpt_kind_type(tk_server_ckpt_kind k);

/* Parse "tinker://<run>/<kind>/<name>" into caller buffers (run: TK_SERVER_ID_MAX bytes, name:
 * TK_SERVER_NAME_MAX bytes). Exactly three '/'-separated parts, as the SDK demands; each part
 * validated as above. TK_EINVAL naming the path otherwise. */
int tk_server_tinker_path_parse(const char *path, char *run, tk_server_ckpt_kind *kind, char *name,
                                tk_err *e);

#endif
