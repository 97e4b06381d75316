/*
 * tinkerc/base.h — the base layer: errors, memory, containers, JSON helpers, files, logging,
 * progress bars, a seeded RNG, threads and clocks. Every other layer builds on this one.
 *
 * Conventions used by every tinkerc header:
 *   - A fallible function returns int: 0 on success or a negative TK_E… code. When it fails it
 *     fills the caller-owned tk_err (if not NULL) with a message that names what was wrong and
 *     where (file:line, JSON path, tensor name).
 *   - Every returned pointer says who owns it and which function frees it.
 *   - Nothing here calls exit() or prints, except through the log hook (tk_log_*).
 *   - Thread safety is stated per function; "no" means the caller serialises access.
 */
#ifndef TINKERC_BASE_H
#define TINKERC_BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define TK_PRINTF(fmt_idx, first_arg) __attribute__((format(printf, fmt_idx, first_arg)))
#define TK_NODISCARD __attribute__((warn_unused_result))
#else
#define TK_PRINTF(fmt_idx, first_arg)
#define TK_NODISCARD
#endif

/* ============================================================================================= */
/* Errors                                                                                        */
/* ============================================================================================= */

enum {
    TK_OK = 0,
    TK_EINVAL = -1,       /* invalid argument or input (bad value, wrong type, wrong shape) */
    TK_ENOMEM = -2,       /* allocation failed or a size limit was exceeded */
    TK_EIO = -3,          /* file or socket I/O failed */
    TK_EPARSE = -4,       /* malformed data: JSON, protobuf, safetensors, tokenizer.json, ... */
    TK_ENOTFOUND = -5,    /* a file, model, run, checkpoint or future does not exist */
    TK_EUNSUPPORTED = -6, /* well-formed but not something tinkerc implements */
    TK_ERANGE = -7,       /* a number is out of its allowed range (token id >= vocab, ...) */
    TK_ETIMEOUT = -8,     /* a deadline passed */
    TK_ENET = -9,         /* the network failed (connect, reset, truncated body) */
    TK_EHTTP = -10,       /* the server answered with an HTTP error status */
    TK_ECANCELED = -11,   /* the operation was cancelled */
    TK_ESTATE = -12,      /* the object is in the wrong state for this call */
    TK_EEXIST = -13,      /* the thing to create already exists */
    TK_EREMOTE = -14,     /* the remote side reported a failure ({"error":..,"category":..}) */
    TK_EINTERNAL = -15,   /* a bug in tinkerc: an invariant did not hold */
};

#define TK_ERR_MSG_MAX 1024

/* Caller-owned error detail. Zero-initialise it (tk_err e = {0};) before the first use. */
typedef struct tk_err {
    int code;                  /* the TK_E… code of the last failure, 0 if none */
    char msg[TK_ERR_MSG_MAX];  /* human-readable, names what and where; "" if none */
} tk_err;

/* Short fixed description of a code ("invalid argument"). Never NULL. Thread-safe. */
const char *tk_strerror(int code);

/* Stable identifier of a code ("TK_EINVAL"). Never NULL. Thread-safe. */
const char *tk_code_name(int code);

/* Record a failure in *e (which may be NULL) and return code, so callers can write
 * `return tk_err_set(e, TK_EINVAL, "dataset %s:%d: no \"messages\" key", path, line);` */
int tk_err_set(tk_err *e, int code, const char *fmt, ...) TK_PRINTF(3, 4);
int tk_err_setv(tk_err *e, int code, const char *fmt, va_list ap) TK_PRINTF(3, 0);

/* Prepend context to an existing message: "config.json: " + "hidden_size: not an integer".
 * Returns e->code (or TK_EINTERNAL when e is NULL or holds no error). */
int tk_err_prefix(tk_err *e, const char *fmt, ...) TK_PRINTF(2, 3);

/* Reset to "no error". */
void tk_err_clear(tk_err *e);

/* Overflow-checked size arithmetic: return false (and leave *out unspecified) on overflow. */
static inline bool tk_mul_size(size_t a, size_t b, size_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool tk_add_size(size_t a, size_t b, size_t *out) {
    return !__builtin_add_overflow(a, b, out);
}

/* ============================================================================================= */
/* Memory: checked allocation and arenas                                                         */
/* ============================================================================================= */

/* malloc/calloc/realloc that return NULL on overflow of n*size as well as on exhaustion. */
void *tk_malloc_array(size_t n, size_t size);
void *tk_calloc_array(size_t n, size_t size);
void *tk_realloc_array(void *p, size_t n, size_t size);
/* strdup / strndup that return NULL on failure (s may not be NULL). Free with free(). */
char *tk_strdup(const char *s);
char *tk_strndup(const char *s, size_t n);

/* A bump allocator: many small allocations freed together. Allocations are 16-byte aligned.
 * Not thread-safe. */
typedef struct tk_arena tk_arena;

/* New arena whose blocks are at least block_size bytes (0 picks 64 KiB). NULL on OOM.
 * Free with tk_arena_free. */
tk_arena *tk_arena_new(size_t block_size);
void tk_arena_free(tk_arena *a);
/* Forget every allocation but keep the first block for reuse. */
void tk_arena_reset(tk_arena *a);
/* n bytes, uninitialised (or zeroed for _zalloc); NULL on OOM. Owned by the arena. */
void *tk_arena_alloc(tk_arena *a, size_t n);
void *tk_arena_zalloc(tk_arena *a, size_t n);
/* NUL-terminated copies owned by the arena; NULL on OOM. */
char *tk_arena_strdup(tk_arena *a, const char *s);
char *tk_arena_strndup(tk_arena *a, const char *s, size_t n);
char *tk_arena_printf(tk_arena *a, const char *fmt, ...) TK_PRINTF(2, 3);
/* Bytes handed out so far (for tests and memory reports). */
size_t tk_arena_used(const tk_arena *a);

/* ============================================================================================= */
/* Growable byte buffer                                                                          */
/* ============================================================================================= */

/* A growable byte string. Zero-initialise ({0}) to get an empty buffer; free with tk_buf_free.
 * data is always NUL-terminated after a successful append (the NUL is not counted in len), so
 * text can be used as a C string. Not thread-safe. */
typedef struct tk_buf {
    char *data;
    size_t len;
    size_t cap;
} tk_buf;

TK_NODISCARD int tk_buf_reserve(tk_buf *b, size_t extra);   /* room for extra more bytes */
TK_NODISCARD int tk_buf_append(tk_buf *b, const void *p, size_t n);
TK_NODISCARD int tk_buf_puts(tk_buf *b, const char *s);
TK_NODISCARD int tk_buf_putc(tk_buf *b, char c);
TK_NODISCARD int tk_buf_printf(tk_buf *b, const char *fmt, ...) TK_PRINTF(2, 3);
TK_NODISCARD int tk_buf_vprintf(tk_buf *b, const char *fmt, va_list ap) TK_PRINTF(2, 0);
void tk_buf_clear(tk_buf *b);                               /* len = 0, keep memory */
void tk_buf_free(tk_buf *b);                                /* release memory, back to {0} */
/* Hand the bytes to the caller (free() them) and reset b. Returns "" copy if empty; NULL on OOM. */
char *tk_buf_detach(tk_buf *b, size_t *len_out);

/* ============================================================================================= */
/* Growable vector (type-generic through macros)                                                 */
/* ============================================================================================= */

/* Declare with `TK_VEC(int64_t) ids = {0};`, or name the type: `typedef TK_VEC(float) tk_vec_f32;`.
 * Push returns 0 or TK_ENOMEM. Free with tk_vec_free. Not thread-safe. */
#define TK_VEC(T) struct { T *data; size_t len; size_t cap; }

/* Make room for `need` elements in total. Internal; use the macros. */
int tk_vec_grow_(void **data, size_t *cap, size_t elem_size, size_t need);

#define tk_vec_reserve(v, n) \
    ((n) <= (v)->cap ? 0 : tk_vec_grow_((void **)&(v)->data, &(v)->cap, sizeof *(v)->data, (n)))
#define tk_vec_push(v, x) \
    (tk_vec_reserve((v), (v)->len + 1) ? TK_ENOMEM : ((v)->data[(v)->len++] = (x), 0))
#define tk_vec_free(v) do { free((v)->data); (v)->data = NULL; (v)->len = (v)->cap = 0; } while (0)

typedef TK_VEC(int32_t) tk_vec_i32;
typedef TK_VEC(int64_t) tk_vec_i64;
typedef TK_VEC(float) tk_vec_f32;
typedef TK_VEC(double) tk_vec_f64;
typedef TK_VEC(char *) tk_vec_str;

/* ============================================================================================= */
/* Hash map: byte-string keys -> pointer values                                                  */
/* ============================================================================================= */

/* Open addressing with linear probing, FNV-1a hashing. The map copies keys into its own storage;
 * values are borrowed (the map never frees them). Not thread-safe; concurrent readers are fine
 * once nobody writes. */
typedef struct tk_map tk_map;

tk_map *tk_map_new(size_t initial_capacity);    /* NULL on OOM; free with tk_map_free */
void tk_map_free(tk_map *m);
/* Insert or replace. 0, or TK_ENOMEM (the map is unchanged then). */
TK_NODISCARD int tk_map_put(tk_map *m, const void *key, size_t klen, void *value);
/* Look up; returns true and sets *value (if not NULL) when present. */
bool tk_map_get(const tk_map *m, const void *key, size_t klen, void **value);
/* Remove; returns true if the key was present. */
bool tk_map_del(tk_map *m, const void *key, size_t klen);
size_t tk_map_len(const tk_map *m);
/* Iterate: start with *pos = 0; returns false at the end. Order is unspecified. Do not modify the
 * map while iterating (tk_map_del of the current key is allowed). */
bool tk_map_next(const tk_map *m, size_t *pos, const void **key, size_t *klen, void **value);
/* Convenience for NUL-terminated keys. */
static inline int tk_map_sput(tk_map *m, const char *k, void *v);
static inline bool tk_map_sget(const tk_map *m, const char *k, void **v);

/* 64-bit FNV-1a, exposed for other tables. */
uint64_t tk_hash_bytes(const void *p, size_t n);

/* ============================================================================================= */
/* Base64 (RFC 4648, standard alphabet, with padding) and UTF-8                                  */
/* ============================================================================================= */

/* Append the encoding of p[0..n) to out. */
TK_NODISCARD int tk_base64_encode(const void *p, size_t n, tk_buf *out);
/* Decode s[0..n) and append the bytes to out. TK_EPARSE (with the offset in *e) on a bad
 * character, bad padding or bad length. */
TK_NODISCARD int tk_base64_decode(const char *s, size_t n, tk_buf *out, tk_err *e);

/* True if s[0..n) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). When invalid and
 * bad_offset is not NULL, it receives the offset of the first bad byte. */
bool tk_utf8_valid(const char *s, size_t n, size_t *bad_offset);
/* Length of the longest prefix of s[0..n) that ends on a code-point boundary of valid UTF-8
 * followed only by an incomplete (but so far valid) sequence; used by streaming decoders. */
size_t tk_utf8_complete_prefix(const char *s, size_t n);

/* The non-blank lines of a text, with their 1-based numbers: how every JSONL reader walks its
 * file. A line is what lies between '\n's (the '\n' excluded; embedded NULs are kept); a blank
 * line (only spaces, tabs and '\r') is skipped but counted.
 *     tk_lines it = tk_lines_of(text.data, text.len);
 *     const char *s; size_t n;
 *     while (tk_lines_next(&it, &s, &n)) ... "%s:%lld", path, (long long)it.line_no ...          */
typedef struct tk_lines {
    const char *text;
    size_t len, pos;
    int64_t line_no;      /* the number of the line tk_lines_next returned last */
    bool terminated;      /* whether that line ended with '\n' (false: a last line cut short) */
} tk_lines;
static inline tk_lines tk_lines_of(const char *text, size_t len) {
    return (tk_lines){.text = text ? text : "", .len = text ? len : 0};
}
/* The next non-blank line in *s, *n; false at the end. */
bool tk_lines_next(tk_lines *it, const char **s, size_t *n);

/* ============================================================================================= */
/* JSON helpers over jansson                                                                     */
/* ============================================================================================= */

/* These take and return jansson's json_t. `path` is the JSON path of obj used in messages, e.g.
 * "forward_backward_input.data[3].loss_fn_inputs"; it may be "" for the root. Lookups that fail
 * fill e with "<path>.<key>: expected an integer, got string" and the like. Borrowed references
 * are returned unless a comment says "new reference". Thread-safe on distinct objects. */
struct json_t;

/* Parse text; TK_EPARSE with "<what>:<line>:<column>: <jansson message>" on failure.
 * *out is a new reference (json_decref it). `what` names the source (file path, "request body").
 * Duplicate keys are rejected. */
int tk_json_parse(const char *text, size_t len, const char *what, struct json_t **out, tk_err *e);
/* Read and parse a file. */
int tk_json_load_file(const char *path, struct json_t **out, tk_err *e);
/* Compact serialisation appended to out (keys in insertion order, reals with 17 significant
 * digits so doubles round-trip). */
TK_NODISCARD int tk_json_dump(const struct json_t *v, tk_buf *out);

/* Required-field getters: TK_EINVAL if missing or of the wrong type. */
int tk_json_get_obj(const struct json_t *obj, const char *key, const char *path,
                    struct json_t **out, tk_err *e);
int tk_json_get_arr(const struct json_t *obj, const char *key, const char *path,
                    struct json_t **out, tk_err *e);
int tk_json_get_str(const struct json_t *obj, const char *key, const char *path,
                    const char **out, tk_err *e);
int tk_json_get_i64(const struct json_t *obj, const char *key, const char *path,
                    int64_t *out, tk_err *e);
/* Accepts integers and reals. */
int tk_json_get_f64(const struct json_t *obj, const char *key, const char *path,
                    double *out, tk_err *e);
int tk_json_get_bool(const struct json_t *obj, const char *key, const char *path,
                     bool *out, tk_err *e);

/* Optional-field getters: a missing key or JSON null leaves *out untouched and returns 0 with
 * *present = false (present may be NULL). A present value of the wrong type is TK_EINVAL. */
int tk_json_opt_obj(const struct json_t *obj, const char *key, const char *path,
                    struct json_t **out, bool *present, tk_err *e);
int tk_json_opt_arr(const struct json_t *obj, const char *key, const char *path,
                    struct json_t **out, bool *present, tk_err *e);
int tk_json_opt_str(const struct json_t *obj, const char *key, const char *path,
                    const char **out, bool *present, tk_err *e);
int tk_json_opt_i64(const struct json_t *obj, const char *key, const char *path,
                    int64_t *out, bool *present, tk_err *e);
int tk_json_opt_f64(const struct json_t *obj, const char *key, const char *path,
                    double *out, bool *present, tk_err *e);
int tk_json_opt_bool(const struct json_t *obj, const char *key, const char *path,
                     bool *out, bool *present, tk_err *e);

/* Reject keys of obj that are not in the NULL-terminated list `allowed`:
 * TK_EINVAL "<path>: unknown field \"foo\"". */
int tk_json_check_keys(const struct json_t *obj, const char *path, const char *const *allowed,
                       tk_err *e);

/* Type name for messages: "object", "array", "string", "integer", "real", "boolean", "null". */
const char *tk_json_type_name(const struct json_t *v);

/* Setters that return TK_ENOMEM instead of silently failing. `v` is stolen (jansson "_new"). */
TK_NODISCARD int tk_json_set_new(struct json_t *obj, const char *key, struct json_t *v);
TK_NODISCARD int tk_json_append_new(struct json_t *arr, struct json_t *v);

/* ============================================================================================= */
/* Files                                                                                         */
/* ============================================================================================= */

/* Read a whole file into out (appended). TK_ENOTFOUND / TK_EIO with the path in the message.
 * max_bytes = 0 means no limit; a larger file is TK_ENOMEM. */
int tk_file_read(const char *path, tk_buf *out, size_t max_bytes, tk_err *e);

/* Write data to path atomically: write a temporary file in the same directory, fsync it, rename
 * it over path, fsync the directory. A crash leaves either the old file or the new one, never a
 * mix. mode is e.g. 0644. */
int tk_file_write_atomic(const char *path, const void *data, size_t n, int mode, tk_err *e);

/* Append one line (a '\n' is added) to a log file and fsync it; used for metrics.jsonl and
 * checkpoints.jsonl, where a torn last line is detected and skipped by readers. */
int tk_file_append_line(const char *path, const char *line, size_t n, tk_err *e);

/* mkdir -p; existing directories are fine. */
int tk_mkdir_p(const char *path, int mode, tk_err *e);
/* fsync a directory (after creating or renaming entries in it). */
int tk_fsync_dir(const char *dir, tk_err *e);
/* rm -rf; a missing path is fine. Refuses "", "/" and paths ending in "/..". */
int tk_remove_tree(const char *path, tk_err *e);
bool tk_path_exists(const char *path);
bool tk_path_is_dir(const char *path);
/* Join two path parts with one '/'; caller frees. NULL on OOM. */
char *tk_path_join(const char *a, const char *b);
/* Expand a leading "~/" with $HOME; caller frees. NULL on OOM. */
char *tk_path_expand_user(const char *path);

/* ============================================================================================= */
/* Logging                                                                                       */
/* ============================================================================================= */

typedef enum { TK_LOG_DEBUG = 0, TK_LOG_INFO = 1, TK_LOG_WARN = 2, TK_LOG_ERROR = 3,
               TK_LOG_OFF = 4 } tk_log_level;

/* A log hook receives every message at or above the current level. The default hook writes
 * "tinkerc: warning: <msg>\n" to stderr. Hooks may be called from any thread. */
typedef void (*tk_log_fn)(tk_log_level level, const char *msg, void *user);

/* Install a hook (NULL restores the default). Thread-safe. */
void tk_log_set_hook(tk_log_fn fn, void *user);
/* Set the minimum level (default INFO; the environment variable TINKERC_LOG=debug|info|warn|
 * error|off overrides the default at the first log call). Thread-safe. */
void tk_log_set_level(tk_log_level level);
tk_log_level tk_log_get_level(void);
void tk_log(tk_log_level level, const char *fmt, ...) TK_PRINTF(2, 3);
#define tk_debug(...) tk_log(TK_LOG_DEBUG, __VA_ARGS__)
#define tk_info(...) tk_log(TK_LOG_INFO, __VA_ARGS__)
#define tk_warn(...) tk_log(TK_LOG_WARN, __VA_ARGS__)
#define tk_error(...) tk_log(TK_LOG_ERROR, __VA_ARGS__)

/* ============================================================================================= */
/* Progress bars                                                                                 */
/* ============================================================================================= */

/* On a terminal, redraws one line in place:
 *   label  [#########.........]  45/100  45%  12.3 it/s  ETA 0:04  loss 1.23
 * Otherwise (a pipe, a CI log) prints a plain line at most every `interval` seconds and at the
 * end. Not thread-safe; one owner updates it. */
typedef struct tk_progress tk_progress;

/* total <= 0 means unknown (no bar, no ETA). out NULL means stderr. NULL on OOM.
 * Free with tk_progress_finish. */
tk_progress *tk_progress_new(const char *label, int64_t total, FILE *out);
/* Force plain-line mode and the interval between lines (seconds; default 10). For tests. */
void tk_progress_set_plain(tk_progress *p, bool plain, double interval_s);
/* Units already done before this session (a resumed run): the bar starts there, while the rate
 * and the ETA count only the units done since tk_progress_new. */
void tk_progress_set_initial(tk_progress *p, int64_t done0);
/* Report that `done` units are complete. `extra` is appended as is ("loss 1.23"); may be NULL.
 * `unit_rate` if not NULL overrides the it/s figure text, e.g. "1234 tok/s". */
void tk_progress_update(tk_progress *p, int64_t done, const char *extra, const char *unit_rate);
/* Draw the final state, end the line, free p. p may be NULL. */
void tk_progress_finish(tk_progress *p);

/* ============================================================================================= */
/* Seeded random numbers                                                                         */
/* ============================================================================================= */

/* xoshiro256** (Blackman & Vigna, 2018), seeded by running SplitMix64 from the 64-bit seed to
 * fill the four state words. The same seed gives the same stream on every machine.
 *   tk_rng_u64     next 64-bit output
 *   tk_rng_f64     (u64 >> 11) * 2^-53, uniform in [0, 1)
 *   tk_rng_f32     (u64 >> 40) * 2^-24, uniform in [0, 1)
 *   tk_rng_normal  Box–Muller on two f64 draws: sqrt(-2 ln(1-u1)) * cos(2*pi*u2); one value per
 *                  two draws (no caching, so streams are easy to reproduce elsewhere)
 *   tk_rng_below   uniform integer in [0, n) by Lemire's multiply-shift with rejection
 * Not thread-safe; give each thread its own tk_rng. */
typedef struct tk_rng {
    uint64_t s[4];
} tk_rng;

void tk_rng_seed(tk_rng *r, uint64_t seed);
uint64_t tk_rng_u64(tk_rng *r);
double tk_rng_f64(tk_rng *r);
float tk_rng_f32(tk_rng *r);
double tk_rng_normal(tk_rng *r);
uint64_t tk_rng_below(tk_rng *r, uint64_t n);
/* Fisher–Yates shuffle of n elements of size elem_size, drawing tk_rng_below(i + 1) for
 * i = n-1 down to 1. */
void tk_rng_shuffle(tk_rng *r, void *base, size_t n, size_t elem_size);

/* ============================================================================================= */
/* Threads and clocks                                                                            */
/* ============================================================================================= */

/* Monotonic clock in seconds / milliseconds (arbitrary origin). Thread-safe. */
double tk_now_s(void);
int64_t tk_now_ms(void);
/* Wall clock: seconds since the Unix epoch, and an ISO-8601 UTC string with microseconds
 * ("2026-01-02T03:04:05.678901Z") written to buf (at least 32 bytes). */
double tk_wall_s(void);
void tk_iso8601_utc(double wall_s, char *buf, size_t bufsize);
/* Sleep (interrupted sleeps are resumed). */
void tk_sleep_ms(int64_t ms);
/* Number of online CPUs (at least 1). */
int tk_num_cpus(void);

/* Start a joinable thread running fn(arg). 0 or TK_ENOMEM/TK_EINTERNAL. */
typedef struct tk_thread { pthread_t handle; } tk_thread;
int tk_thread_start(tk_thread *t, void *(*fn)(void *), void *arg, tk_err *e);
void tk_thread_join(tk_thread *t);

/* A blocking FIFO of pointers for producer/consumer hand-off (many producers, many consumers).
 * Thread-safe. */
typedef struct tk_queue tk_queue;
tk_queue *tk_queue_new(void);                 /* NULL on OOM; free with tk_queue_free */
/* Free the queue; items still inside are not freed (drain it first). */
void tk_queue_free(tk_queue *q);
/* 0, TK_ENOMEM, or TK_ESTATE once the queue is closed. */
TK_NODISCARD int tk_queue_push(tk_queue *q, void *item);
/* Wait up to timeout_ms (< 0: forever) for an item. 0 and *item set; TK_ETIMEOUT; or TK_ESTATE
 * when the queue is closed and empty. */
int tk_queue_pop(tk_queue *q, void **item, int64_t timeout_ms);
/* Wake every waiter; later pushes fail, pops drain what is left then return TK_ESTATE. */
void tk_queue_close(tk_queue *q);
size_t tk_queue_len(tk_queue *q);

/* 16 random bytes from the OS formatted as a version-4 UUID (36 chars + NUL). */
void tk_uuid4(char out[37]);

/* ============================================================================================= */
/* inline definitions                                                                            */
/* ============================================================================================= */

#include <string.h>
static inline int tk_map_sput(tk_map *m, const char *k, void *v) {
    return tk_map_put(m, k, strlen(k), v);
}
static inline bool tk_map_sget(const tk_map *m, const char *k, void **v) {
    return tk_map_get(m, k, strlen(k), v);
}

#ifdef __cplusplus
}
#endif
#endif /* TINKERC_BASE_H */
