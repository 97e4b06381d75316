/* A streaming .tar.gz writer: POSIX ustar members, gzip-compressed with zlib, produced on demand
 * in pieces so that an HTTP response can send a large checkpoint without holding it in memory.
 * Internal to the server layer. */
#ifndef TK_SERVER_TAR_GZ_H
#define TK_SERVER_TAR_GZ_H

#include <sys/types.h>

#include "tinkerc/base.h"

typedef struct tk_server_targz tk_server_targz;

/* Open every file up front (so a later delete of the checkpoint cannot cut the archive short):
 * names[i] is the member name inside the archive (< 100 bytes, relative, no ".."), paths[i] the
 * file on disk. mtime stamps every member. *out is freed with tk_server_targz_free.
 * TK_EIO naming the file that cannot be opened; TK_EINVAL for an unusable member name. */
int tk_server_targz_open(const char *const *names, const char *const *paths, size_t n, int64_t mtime,
                         tk_server_targz **out, tk_err *e);

/* Write up to max bytes of the compressed stream into buf. Returns the number written (> 0), 0 at
 * the end of the stream, or -1 on error (a file shrank, zlib failed; *e says which). */
ssize_t tk_server_targz_read(tk_server_targz *t, void *buf, size_t max, tk_err *e);

void tk_server_targz_free(tk_server_targz *t);

/* Convenience for tests and small archives: the whole stream appended to out. */
int tk_server_targz_to_buf(tk_server_targz *t, tk_buf *out, tk_err *e);

#endif
