/* Streaming ustar + gzip. The tar side is a small state machine that yields the next raw tar
 * bytes (a header block, file data, zero padding, the end-of-archive blocks); the gzip side feeds
 * those bytes through deflate until the caller's buffer is full. */
#include "tar_gz.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define BLOCK 512
#define RECORD (20 * BLOCK) /* tar's default blocking factor: pad the archive to 10 KiB */

typedef struct member {
    char name[100];
    int fd;
    uint64_t size;
} member;

typedef enum { PH_HEADER, PH_DATA, PH_PAD, PH_TRAILER, PH_DONE } phase;

struct tk_server_targz {
    member *m;
    size_t n, cur;
    int64_t mtime;
    phase ph;
    uint64_t done_in_phase;     /* bytes of the current phase already produced */
    uint64_t total_raw;         /* raw tar bytes produced so far */
    uint64_t trailer_left;      /* zero bytes still to write at the end */
    bool trailer_sized;
    unsigned char raw[65536];   /* raw tar bytes waiting to be compressed */
    size_t raw_len, raw_off;
    z_stream z;
    bool z_ready, z_finished;
};

static void put_octal(char *dst, size_t width, uint64_t v) {
    /* width-1 octal digits, zero padded, then NUL */
    dst[width - 1] = '\0';
    for (size_t i = width - 1; i-- > 0;) {
        dst[i] = (char)('0' + (v & 7));
        v >>= 3;
    }
}

static void make_header(const member *m, int64_t mtime, unsigned char out[BLOCK]) {
    char *h = (char *)out;
    memset(h, 0, BLOCK);
    memcpy(h, m->name, strlen(m->name));
    put_octal(h + 100, 8, 0644);
    put_octal(h + 108, 8, 0);
    put_octal(h + 116, 8, 0);
    put_octal(h + 124, 12, m->size);
    put_octal(h + 136, 12, (uint64_t)(mtime < 0 ? 0 : mtime));
    h[156] = '0';
    memcpy(h + 257, "ustar", 6); /* magic "ustar\0" */
    memcpy(h + 263, "00", 2);
    memcpy(h + 265, "tinkerc", 7);
    memcpy(h + 297, "tinkerc", 7);
    /* checksum: sum of all header bytes with the checksum field read as spaces */
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < BLOCK; i++) sum += (unsigned char)h[i];
    put_octal(h + 148, 7, sum); /* six digits, NUL, then the space already there */
}

void tk_server_targz_free(tk_server_targz *t) {
    if (!t) return;
    for (size_t i = 0; i < t->n; i++)
        if (t->m[i].fd >= 0) close(t->m[i].fd);
    free(t->m);
    if (t->z_ready) deflateEnd(&t->z);
    free(t);
}

int tk_server_targz_open(const char *const *names, const char *const *paths, size_t n, int64_t mtime,
                         tk_server_targz **out, tk_err *e) {
    *out = NULL;
    tk_server_targz *t = calloc(1, sizeof *t);
    if (!t) return tk_err_set(e, TK_ENOMEM, "archive: out of memory");
    t->m = tk_calloc_array(n ? n : 1, sizeof *t->m);
    if (!t->m) { free(t); return tk_err_set(e, TK_ENOMEM, "archive: out of memory"); }
    for (size_t i = 0; i < n; i++) t->m[i].fd = -1;
    t->n = n;
    t->mtime = mtime;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        size_t ln = strlen(names[i]);
        if (ln == 0 || ln >= sizeof t->m[i].name || names[i][0] == '/' || strstr(names[i], "..")) {
            rc = tk_err_set(e, TK_EINVAL, "archive: member name \"%s\" is empty, too long (ustar allows 99 "
                            "bytes here), absolute or contains \"..\"", names[i]);
            break;
        }
        memcpy(t->m[i].name, names[i], ln + 1);
        t->m[i].fd = open(paths[i], O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (t->m[i].fd < 0 || fstat(t->m[i].fd, &st) || !S_ISREG(st.st_mode)) {
            rc = tk_err_set(e, TK_EIO, "archive: cannot open %s: %s", paths[i],
                            t->m[i].fd < 0 ? strerror(errno) : "not a regular file");
            break;
        }
        if ((uint64_t)st.st_size >= (1ull << 33)) /* 11 octal digits */
            rc = tk_err_set(e, TK_EUNSUPPORTED, "archive: %s is %lld bytes, over the ustar limit of 8 GiB",
                            paths[i], (long long)st.st_size);
        t->m[i].size = (uint64_t)st.st_size;
    }
    if (!rc) {
        /* windowBits 15 + 16 asks zlib for a gzip wrapper; level 1 because checkpoint payloads are
         * mostly float arrays that barely compress, so speed matters more than ratio. */
        if (deflateInit2(&t->z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            rc = tk_err_set(e, TK_ENOMEM, "archive: zlib deflateInit2 failed");
        else
            t->z_ready = true;
    }
    if (rc) { tk_server_targz_free(t); return rc; }
    t->ph = n ? PH_HEADER : PH_TRAILER;
    *out = t;
    return 0;
}

/* Fill t->raw with the next raw tar bytes. Returns 0, or -1 on a read error. */
static int fill_raw(tk_server_targz *t, tk_err *e) {
    t->raw_len = t->raw_off = 0;
    while (t->raw_len < sizeof t->raw && t->ph != PH_DONE) {
        size_t room = sizeof t->raw - t->raw_len;
        unsigned char *dst = t->raw + t->raw_len;
        member *m = t->cur < t->n ? &t->m[t->cur] : NULL;
        if (t->ph == PH_HEADER) {
            if (room < BLOCK) break;
            make_header(m, t->mtime, dst);
            t->raw_len += BLOCK;
            t->ph = m->size ? PH_DATA : PH_PAD;
            t->done_in_phase = 0;
        } else if (t->ph == PH_DATA) {
            uint64_t left = m->size - t->done_in_phase;
            size_t want = left < room ? (size_t)left : room;
            ssize_t r = read(m->fd, dst, want);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                tk_err_set(e, TK_EIO, "archive: %s: %s", m->name, r < 0 ? strerror(errno) : "file shrank while archiving");
                return -1;
            }
            t->raw_len += (size_t)r;
            t->done_in_phase += (uint64_t)r;
            if (t->done_in_phase == m->size) { t->ph = PH_PAD; t->done_in_phase = 0; }
        } else if (t->ph == PH_PAD) {
            size_t pad = (size_t)((BLOCK - m->size % BLOCK) % BLOCK) - (size_t)t->done_in_phase;
            size_t k = pad < room ? pad : room;
            memset(dst, 0, k);
            t->raw_len += k;
            t->done_in_phase += k;
            if (k == pad) {
                t->cur++;
                t->ph = t->cur < t->n ? PH_HEADER : PH_TRAILER;
                t->done_in_phase = 0;
            }
        } else { /* PH_TRAILER: two zero blocks, then zeros up to a whole record */
            if (!t->trailer_sized) {
                uint64_t end = t->total_raw + t->raw_len + 2 * BLOCK;
                uint64_t padded = (end + RECORD - 1) / RECORD * RECORD;
                t->trailer_left = padded - (t->total_raw + t->raw_len);
                t->trailer_sized = true;
            }
            size_t k = t->trailer_left < room ? (size_t)t->trailer_left : room;
            memset(dst, 0, k);
            t->raw_len += k;
            t->trailer_left -= k;
            if (t->trailer_left == 0) t->ph = PH_DONE;
        }
    }
    t->total_raw += t->raw_len;
    return 0;
}

ssize_t tk_server_targz_read(tk_server_targz *t, void *buf, size_t max, tk_err *e) {
    if (t->z_finished || max == 0) return 0;
    t->z.next_out = buf;
    t->z.avail_out = (uInt)(max > (1u << 30) ? (1u << 30) : max);
    while (t->z.avail_out > 0 && !t->z_finished) {
        if (t->raw_off == t->raw_len && t->ph != PH_DONE) {
            if (fill_raw(t, e)) return -1;
        }
        t->z.next_in = t->raw + t->raw_off;
        t->z.avail_in = (uInt)(t->raw_len - t->raw_off);
        int flush = (t->ph == PH_DONE) ? Z_FINISH : Z_NO_FLUSH;
        int zr = deflate(&t->z, flush);
        t->raw_off = t->raw_len - t->z.avail_in;
        if (zr == Z_STREAM_END) t->z_finished = true;
        else if (zr != Z_OK && zr != Z_BUF_ERROR) {
            tk_err_set(e, TK_EINTERNAL, "archive: zlib deflate failed (%d)", zr);
            return -1;
        }
    }
    return (ssize_t)((unsigned char *)t->z.next_out - (unsigned char *)buf);
}

int tk_server_targz_to_buf(tk_server_targz *t, tk_buf *out, tk_err *e) {
    for (;;) {
        if (tk_buf_reserve(out, 65536)) return tk_err_set(e, TK_ENOMEM, "archive: out of memory");
        ssize_t r = tk_server_targz_read(t, out->data + out->len, out->cap - out->len - 1, e);
        if (r < 0) return e ? e->code : TK_EIO;
        if (r == 0) break;
        out->len += (size_t)r;
        out->data[out->len] = '\0';
    }
    return 0;
}
