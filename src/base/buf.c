/* Growable byte buffer and the growth routine behind TK_VEC. */
#include "tinkerc/base.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int tk_vec_grow_(void **data, size_t *cap, size_t elem_size, size_t need) {
    if (need <= *cap) return 0;
    size_t ncap = *cap ? *cap : 8;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2) { ncap = need; break; }
        ncap *= 2;
    }
    void *p = tk_realloc_array(*data, ncap, elem_size);
    if (!p) return TK_ENOMEM;
    *data = p;
    *cap = ncap;
    return 0;
}

int tk_buf_reserve(tk_buf *b, size_t extra) {
    size_t need;
    /* +1 keeps room for the terminating NUL */
    if (!tk_add_size(b->len, extra, &need) || !tk_add_size(need, 1, &need)) return TK_ENOMEM;
    if (need <= b->cap) return 0;
    void *data = b->data;
    size_t cap = b->cap;
    if (tk_vec_grow_(&data, &cap, 1, need)) return TK_ENOMEM;
    b->data = data;
    b->cap = cap;
    return 0;
}

int tk_buf_append(tk_buf *b, const void *p, size_t n) {
    if (tk_buf_reserve(b, n)) return TK_ENOMEM;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int tk_buf_puts(tk_buf *b, const char *s) { return tk_buf_append(b, s, strlen(s)); }

int tk_buf_putc(tk_buf *b, char c) { return tk_buf_append(b, &c, 1); }

int tk_buf_vprintf(tk_buf *b, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n < 0) { va_end(ap2); return TK_EINVAL; }
    int rc;
    if ((size_t)n < sizeof small) {
        rc = tk_buf_append(b, small, (size_t)n);
    } else if ((rc = tk_buf_reserve(b, (size_t)n)) == 0) {
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
    return rc;
}

int tk_buf_printf(tk_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = tk_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void tk_buf_clear(tk_buf *b) {
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

void tk_buf_free(tk_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *tk_buf_detach(tk_buf *b, size_t *len_out) {
    char *p = b->data;
    size_t len = b->len;
    if (!p) {
        p = calloc(1, 1);
        len = 0;
    }
    b->data = NULL;
    b->len = b->cap = 0;
    if (len_out) *len_out = len;
    return p;
}
