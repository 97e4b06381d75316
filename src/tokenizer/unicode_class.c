/* Per-code-point class flags for the hand-written splitters and the NFC quick check, built once
 * per process from utf8proc's tables (Unicode 15). */
#include "internal.h"

#include <pthread.h>
#include <utf8proc.h>

#define N_BLOCKS_ALL (0x110000 >> 8)

const uint16_t *tku_stage1;
const uint16_t *tku_stage2;

static int g_init_rc;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* Unicode White_Space: what \s matches in Oniguruma and Rust's regex crate. */
static bool is_white_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680
           || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F
           || c == 0x205F || c == 0x3000;
}

static uint16_t category_flags(uint32_t c) {
    uint16_t f = 0;
    switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_LU: f = TKU_LU; break;
    case UTF8PROC_CATEGORY_LL: f = TKU_LL; break;
    case UTF8PROC_CATEGORY_LT: f = TKU_LT; break;
    case UTF8PROC_CATEGORY_LM: f = TKU_LM; break;
    case UTF8PROC_CATEGORY_LO: f = TKU_LO; break;
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME: f = TKU_M; break;
    case UTF8PROC_CATEGORY_ND: f = TKU_N | TKU_ND; break;
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO: f = TKU_N; break;
    case UTF8PROC_CATEGORY_PC: f = TKU_P | TKU_PC; break;
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO: f = TKU_P; break;
    case UTF8PROC_CATEGORY_SM:
    case UTF8PROC_CATEGORY_SC:
    case UTF8PROC_CATEGORY_SK:
    case UTF8PROC_CATEGORY_SO: f = TKU_S; break;
    default: break;
    }
    if (is_white_space(c)) f |= TKU_WS;
    return f;
}

/* NFC quick check, conservatively: a code point is "unsafe" when it has a non-zero combining
 * class, when NFC changes it on its own (singletons, exclusions), or when it appears after the
 * first position of some canonical decomposition (so it may compose with what precedes it).
 * A string of safe code points is already in NFC. Only planes 0-2 have decompositions. */
static void mark_nfc_unsafe(uint16_t *flat) {
    for (uint32_t c = 0; c < 0x30000; c++) {
        if (c >= 0xD800 && c <= 0xDFFF) continue;
        const utf8proc_property_t *p = utf8proc_get_property((utf8proc_int32_t)c);
        if (p->combining_class != 0) flat[c] |= TKU_NFC_UNSAFE;
        if (p->decomp_seqindex == UINT16_MAX && !(c >= 0xAC00 && c <= 0xD7A3)) continue;
        utf8proc_int32_t buf[8];
        int last_boundclass = 0;
        utf8proc_ssize_t n = utf8proc_decompose_char((utf8proc_int32_t)c, buf, 8,
                                                     UTF8PROC_DECOMPOSE, &last_boundclass);
        if (n <= 0) continue;
        if (n > 8) n = 8;
        if (n == 1 && (uint32_t)buf[0] != c) flat[c] |= TKU_NFC_UNSAFE; /* singleton */
        for (utf8proc_ssize_t k = 1; k < n; k++)
            if ((uint32_t)buf[k] < 0x110000) flat[buf[k]] |= TKU_NFC_UNSAFE;
        /* a composition exclusion decomposes and never recomposes */
        if (p->comp_exclusion) flat[c] |= TKU_NFC_UNSAFE;
    }
}

static void build_tables(void) {
    uint16_t *flat = calloc(0x110000, sizeof *flat);
    uint16_t *s1 = malloc(N_BLOCKS_ALL * sizeof *s1);
    uint16_t *s2 = malloc((size_t)N_BLOCKS_ALL * 256 * sizeof *s2);
    if (!flat || !s1 || !s2) {
        free(flat);
        free(s1);
        free(s2);
        g_init_rc = TK_ENOMEM;
        return;
    }
    for (uint32_t c = 0; c < 0x110000; c++) {
        if (c >= 0xD800 && c <= 0xDFFF) continue;
        flat[c] = category_flags(c);
    }
    mark_nfc_unsafe(flat);
    /* deduplicate the 256-entry blocks through a small hash of their contents */
    enum { HSIZE = 8192 };
    int32_t *slot = malloc(HSIZE * sizeof *slot);
    if (!slot) {
        free(flat);
        free(s1);
        free(s2);
        g_init_rc = TK_ENOMEM;
        return;
    }
    for (int i = 0; i < HSIZE; i++) slot[i] = -1;
    size_t n_unique = 0;
    for (uint32_t b = 0; b < N_BLOCKS_ALL; b++) {
        const uint16_t *blk = flat + (size_t)b * 256;
        size_t h = (size_t)tk_hash_bytes(blk, 256 * sizeof *blk) & (HSIZE - 1);
        while (slot[h] >= 0 && memcmp(s2 + (size_t)slot[h] * 256, blk, 256 * sizeof *blk))
            h = (h + 1) & (HSIZE - 1);
        if (slot[h] < 0) {
            memcpy(s2 + n_unique * 256, blk, 256 * sizeof *blk);
            slot[h] = (int32_t)n_unique++;
        }
        s1[b] = (uint16_t)slot[h];
    }
    free(slot);
    free(flat);
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
