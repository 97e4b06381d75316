/* Python str methods the chat templates and the cookbook rely on: strip/lstrip/rstrip with
 * Python's notion of whitespace, and substring search on byte slices. */
#include "internal.h"

/* Code points for which Python's str.isspace() is true. */
static bool is_py_space(uint32_t c) {
    if (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f)) return true;
    switch (c) {
    case 0x85: case 0xa0: case 0x1680: case 0x2028: case 0x2029: case 0x202f: case 0x205f:
    case 0x3000:
        return true;
    default:
        return c >= 0x2000 && c <= 0x200a;
    }
}

/* Decode the code point starting at s[0] (valid UTF-8 assumed; invalid bytes count as one
 * non-space unit). */
static uint32_t cp_at(const unsigned char *s, size_t n, size_t *len) {
    unsigned char c = s[0];
    if (c < 0x80 || n < 2) { *len = 1; return c; }
    if ((c & 0xe0) == 0xc0) { *len = 2; return ((uint32_t)(c & 0x1f) << 6) | (s[1] & 0x3f); }
    if ((c & 0xf0) == 0xe0 && n >= 3) {
        *len = 3;
        return ((uint32_t)(c & 0x0f) << 12) | ((uint32_t)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
    }
    if ((c & 0xf8) == 0xf0 && n >= 4) {
        *len = 4;
        return ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(s[1] & 0x3f) << 12) |
               ((uint32_t)(s[2] & 0x3f) << 6) | (s[3] & 0x3f);
    }
    *len = 1;
    return 0xfffd;
}

void tk__py_lstrip(const char **s, size_t *n, const char *chars) {
    const unsigned char *p = (const unsigned char *)*s;
    size_t left = *n;
    while (left) {
        size_t l = 1;
        bool strip = chars ? strchr(chars, p[0]) != NULL && p[0] : is_py_space(cp_at(p, left, &l));
        if (!strip) break;
        p += l;
        left -= l;
    }
    *s = (const char *)p;
    *n = left;
}

void tk__py_rstrip(const char **s, size_t *n, const char *chars) {
    const unsigned char *p = (const unsigned char *)*s;
    size_t len = *n;
    while (len) {
        if (chars) {
            if (!p[len - 1] || !strchr(chars, p[len - 1])) break;
            len--;
            continue;
        }
        /* find the start of the last code point */
        size_t start = len - 1;
        while (start > 0 && (p[start] & 0xc0) == 0x80 && len - start < 4) start--;
        size_t l;
        uint32_t c = cp_at(p + start, len - start, &l);
        if (start + l != len || !is_py_space(c)) break;
        len = start;
    }
    *n = len;
}

void tk__py_strip(const char **s, size_t *n, const char *chars) {
    tk__py_lstrip(s, n, chars);
    tk__py_rstrip(s, n, chars);
}

const char *tk__find(const char *s, size_t n, const char *needle) {
    size_t k = strlen(needle);
    if (k == 0) return s;
    if (k > n) return NULL;
    return memmem(s, n, needle, k);
}

size_t tk__count(const char *s, size_t n, const char *needle) {
    size_t k = strlen(needle), c = 0;
    const char *end = s + n, *p = s;
    while ((p = tk__find(p, (size_t)(end - p), needle)) != NULL) {
        c++;
        p += k;
    }
    return c;
}

bool tk__starts_with(const char *s, size_t n, const char *prefix) {
    size_t k = strlen(prefix);
    return k <= n && memcmp(s, prefix, k) == 0;
}
