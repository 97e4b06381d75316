/* Per-code-point class flags in a two-stage table (256-entry blocks, deduplicated), expanded once
 * per process from the generated runs in unicode_data.c. */
#include "internal.h"

#include <pthread.h>

#define N_BLOCKS_ALL (0x110000 >> 8)

const uint16_t *tku_stage1;
const uint16_t *tku_stage2;

static int g_init_rc;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void build_tables(void) {
    uint16_t *s1 = malloc(N_BLOCKS_ALL * sizeof *s1);
    uint16_t *s2 = malloc((size_t)N_BLOCKS_ALL * 256 * sizeof *s2);
    enum { HSIZE = 8192 };
    int32_t *slot = malloc(HSIZE * sizeof *slot);
    if (!s1 || !s2 || !slot) {
        free(s1);
        free(s2);
        free(slot);
        g_init_rc = TK_ENOMEM;
        return;
    }
    for (int i = 0; i < HSIZE; i++) slot[i] = -1;
    size_t n_unique = 0, run = 0;
    uint16_t blk[256];
    for (uint32_t b = 0; b < N_BLOCKS_ALL; b++) {
        for (uint32_t k = 0; k < 256; k++) {
            uint32_t c = b * 256 + k;
            while (run + 1 < tku_n_runs && tku_run_start[run + 1] <= c) run++;
            blk[k] = tku_run_flags[run];
        }
        /* identical blocks share storage; block 0 (ASCII) always gets index 0 */
        size_t h = (size_t)tk_hash_bytes(blk, sizeof blk) & (HSIZE - 1);
        while (slot[h] >= 0 && memcmp(s2 + (size_t)slot[h] * 256, blk, sizeof blk)) h = (h + 1) & (HSIZE - 1);
        if (slot[h] < 0) {
            memcpy(s2 + n_unique * 256, blk, sizeof blk);
            slot[h] = (int32_t)n_unique++;
        }
        s1[b] = (uint16_t)slot[h];
    }
    free(slot);
    uint16_t *shrunk = realloc(s2, n_unique * 256 * sizeof *s2);
    tku_stage1 = s1;
    tku_stage2 = shrunk ? shrunk : s2;
}

int tku_init(void) {
    pthread_once(&g_once, build_tables);
    return g_init_rc;
}

int tku_encode(uint32_t cp, char *p) {
    unsigned char *u = (unsigned char *)p;
    if (cp < 0x80) { u[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) {
        u[0] = (unsigned char)(0xC0 | cp >> 6);
        u[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        u[0] = (unsigned char)(0xE0 | cp >> 12);
        u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    u[0] = (unsigned char)(0xF0 | cp >> 18);
    u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    u[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- lossy UTF-8 ------------------------------------------------------------------------- */

/* Bytes of the well-formed sequence at s (>0), or -(length of the maximal ill-formed
 * subsequence to replace by one U+FFFD), or 0 when s[0..n) is a valid but unfinished prefix. */
static int seq_status(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    int len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) { len = 3; lo = 0xA0; }
    else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) len = 3;
    else if (c == 0xED) { len = 3; hi = 0x9F; }
    else if (c == 0xF0) { len = 4; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else if (c == 0xF4) { len = 4; hi = 0x8F; }
    else return -1;
    for (int k = 1; k < len; k++) {
        if ((size_t)k >= n) return 0;
        unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
        if (s[k] < l || s[k] > h) return -k;
    }
    return len;
}

bool tk_utf8_check(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & 0x8080808080808080ull)) {
                i += 8;
                continue;
            }
        }
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        int st = seq_status(s + i, n - i);
        if (st <= 0) return false;
        i += (size_t)st;
    }
    return true;
}

int tk_utf8_lossy(const char *str, size_t n, tk_buf *out) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, run = 0;   /* s[run..i) is valid and not yet copied */
    while (i < n) {
        if (s[i] < 0x80) { i++; continue; }
        int st = seq_status(s + i, n - i);
        if (st > 0) { i += (size_t)st; continue; }
        if (i > run && tk_buf_append(out, s + run, i - run)) return TK_ENOMEM;
        if (tk_buf_append(out, "\xEF\xBF\xBD", 3)) return TK_ENOMEM;
        i += st == 0 ? n - i : (size_t)-st;
        run = i;
    }
    if (n > run && tk_buf_append(out, s + run, n - run)) return TK_ENOMEM;
    if (!out->data && tk_buf_reserve(out, 1)) return TK_ENOMEM;
    return 0;
}

size_t tk_utf8_stable_prefix(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t start = n > 3 ? n - 3 : 0;
    for (size_t i = start; i < n; i++) {
        if (s[i] >= 0x80 && s[i] < 0xC0) continue;
        if (seq_status(s + i, n - i) == 0) return i;
    }
    return n;
}

/* ---- byte-level alphabet ------------------------------------------------------------------- */

static uint16_t g_b2c[256];
static int16_t g_c2b[512];
static pthread_once_t g_bl_once = PTHREAD_ONCE_INIT;

static void build_bytelevel(void) {
    for (int i = 0; i < 512; i++) g_c2b[i] = -1;
    uint32_t n = 0;
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        g_b2c[b] = (uint16_t)(printable ? (uint32_t)b : 256 + n++);
        g_c2b[g_b2c[b]] = (int16_t)b;
    }
}

uint32_t tk_bytelevel_char(unsigned char b) {
    pthread_once(&g_bl_once, build_bytelevel);
    return g_b2c[b];
}

int tk_bytelevel_byte(uint32_t cp) {
    pthread_once(&g_bl_once, build_bytelevel);
    return cp < 512 ? g_c2b[cp] : -1;
}

const int16_t *tk_bytelevel_table(void) {
    pthread_once(&g_bl_once, build_bytelevel);
    return g_c2b;
}

int tk_bytelevel_encode(const char *bytes, size_t n, tk_buf *out) {
    pthread_once(&g_bl_once, build_bytelevel);
    if (tk_buf_reserve(out, n * 2 + 1)) return TK_ENOMEM;
    char *d = out->data + out->len;
    for (size_t i = 0; i < n; i++) d += tku_encode(g_b2c[(unsigned char)bytes[i]], d);
    out->len = (size_t)(d - out->data);
    out->data[out->len] = '\0';
    return 0;
}

bool tk_bytelevel_decode(const char *s, size_t n, tk_buf *out) {
    pthread_once(&g_bl_once, build_bytelevel);
    size_t i = 0, old = out->len;
    if (tk_buf_reserve(out, n + 1)) return false;
    char *d = out->data + out->len;
    while (i < n) {
        uint32_t cp;
        i += (size_t)tku_decode((const unsigned char *)s + i, &cp);
        if (cp >= 512 || g_c2b[cp] < 0) {
            out->len = old;
            out->data[old] = '\0';
            return false;
        }
        *d++ = (char)g_c2b[cp];
    }
    out->len = (size_t)(d - out->data);
    out->data[out->len] = '\0';
    return true;
}
