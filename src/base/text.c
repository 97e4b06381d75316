/* Base64 (RFC 4648), UTF-8 validation and the non-blank lines of a text. */
#include "tinkerc/base.h"

#include <string.h>

static const char k_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int tk_base64_encode(const void *p, size_t n, tk_buf *out) {
    const unsigned char *s = p;
    size_t groups = (n + 2) / 3, need;
    if (!tk_mul_size(groups, 4, &need) || tk_buf_reserve(out, need)) return TK_ENOMEM;
    char *d = out->data + out->len;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        *d++ = k_b64[v >> 18];
        *d++ = k_b64[(v >> 12) & 63];
        *d++ = k_b64[(v >> 6) & 63];
        *d++ = k_b64[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)s[i] << 16;
        *d++ = k_b64[v >> 18];
        *d++ = k_b64[(v >> 12) & 63];
        *d++ = '=';
        *d++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
        *d++ = k_b64[v >> 18];
        *d++ = k_b64[(v >> 12) & 63];
        *d++ = k_b64[(v >> 6) & 63];
        *d++ = '=';
    }
    out->len = (size_t)(d - out->data);
    out->data[out->len] = '\0';
    return 0;
}

static int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

int tk_base64_decode(const char *s, size_t n, tk_buf *out, tk_err *e) {
    if (n % 4 != 0)
        return tk_err_set(e, TK_EPARSE, "base64: length %zu is not a multiple of 4", n);
    if (tk_buf_reserve(out, n / 4 * 3)) return TK_ENOMEM;
    unsigned char *d = (unsigned char *)out->data + out->len;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)s[i + k];
            if (c == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
                continue;
            }
            if (pad) return tk_err_set(e, TK_EPARSE, "base64: data after padding at offset %zu", i + k);
            v[k] = b64_value(c);
            if (v[k] < 0)
                return tk_err_set(e, TK_EPARSE, "base64: invalid character 0x%02x at offset %zu", c, i + k);
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        *d++ = (unsigned char)(w >> 16);
        if (pad < 2) *d++ = (unsigned char)(w >> 8);
        if (pad < 1) *d++ = (unsigned char)w;
    }
    out->len = (size_t)((char *)d - out->data);
    out->data[out->len] = '\0';
    return 0;
}

/* Length of the valid UTF-8 sequence starting at s[0..n), 0 if invalid, or -(needed) if it is a
 * valid but truncated prefix. */
static int utf8_seq(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    int len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) { len = 3; lo = 0xA0; }
    else if (c >= 0xE1 && c <= 0xEC) len = 3;
    else if (c == 0xED) { len = 3; hi = 0x9F; }           /* no surrogates */
    else if (c >= 0xEE && c <= 0xEF) len = 3;
    else if (c == 0xF0) { len = 4; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else if (c == 0xF4) { len = 4; hi = 0x8F; }           /* <= U+10FFFF */
    else return 0;
    for (int k = 1; k < len; k++) {
        if ((size_t)k >= n) return -len;
        unsigned char lo_k = k == 1 ? lo : 0x80, hi_k = k == 1 ? hi : 0xBF;
        if (s[k] < lo_k || s[k] > hi_k) return 0;
    }
    return len;
}

bool tk_utf8_valid(const char *str, size_t n, size_t *bad_offset) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) { i++; continue; }
        int len = utf8_seq(s + i, n - i);
        if (len <= 0) {
            if (bad_offset) *bad_offset = i;
            return false;
        }
        i += (size_t)len;
    }
    return true;
}

size_t tk_utf8_complete_prefix(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    /* only the last 3 bytes can start an unfinished sequence */
    size_t start = n > 3 ? n - 3 : 0;
    for (size_t i = start; i < n; i++) {
        if (s[i] >= 0x80 && s[i] < 0xC0) continue;  /* continuation byte */
        int len = utf8_seq(s + i, n - i);
        if (len < 0) return i;                       /* truncated sequence begins here */
    }
    return n;
}

bool tk_lines_next(tk_lines *it, const char **s, size_t *n) {
    while (it->pos < it->len) {
        const char *start = it->text + it->pos;
        const char *nl = memchr(start, '\n', it->len - it->pos);
        size_t len = nl ? (size_t)(nl - start) : it->len - it->pos;
        it->pos += len + (nl ? 1 : 0);
        it->line_no++;
        it->terminated = nl != NULL;
        for (size_t k = 0; k < len; k++)
            if (start[k] != ' ' && start[k] != '\t' && start[k] != '\r') {
                *s = start;
                *n = len;
                return true;
            }
    }
    return false;
}
