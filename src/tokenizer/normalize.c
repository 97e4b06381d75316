/* Normalizers: the Unicode normal forms, applied in sequence.
 *
 * HF's normalizers use Unicode 9.0 data, utf8proc has 15.0. Normalization data of an assigned
 * code point never changes between versions, so the two agree except on code points assigned
 * after 9.0, which HF treats as plain starters: no decomposition, combining class 0. Those are
 * copied through and utf8proc normalizes the text between them, which gives HF's result.
 * For NFC, text whose code points all pass the quick check is already normalized and not copied. */
#include "internal.h"

#include <utf8proc.h>

static bool nfc_quick_yes(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        i += (size_t)tku_decode(s + i, &cp);
        if (tku_class(cp) & TKU_NFC_UNSAFE) return false;
    }
    return true;
}

static int utf8proc_form(tk_norm_kind k, const char *s, size_t n, tk_buf *out, tk_err *e) {
    utf8proc_option_t opt = UTF8PROC_STABLE;
    switch (k) {
    case TK_NORM_NFC: opt |= UTF8PROC_COMPOSE; break;
    case TK_NORM_NFD: opt |= UTF8PROC_DECOMPOSE; break;
    case TK_NORM_NFKC: opt |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
    case TK_NORM_NFKD: opt |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
    }
    if (n == 0) return tk_buf_reserve(out, 1) ? tk_err_set(e, TK_ENOMEM, "normalizer: out of memory") : 0;
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &dst, opt);
    if (r < 0) {
        free(dst);
        return tk_err_set(e, r == UTF8PROC_ERROR_NOMEM ? TK_ENOMEM : TK_EINTERNAL, "normalizer: %s",
                          utf8proc_errmsg(r));
    }
    int rc = tk_buf_append(out, dst, (size_t)r);
    free(dst);
    return rc ? tk_err_set(e, TK_ENOMEM, "normalizer: out of memory") : 0;
}

static int apply_form(tk_norm_kind k, const char *str, size_t n, tk_buf *out, tk_err *e) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, seg = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        int l = tku_decode(s + i, &cp);
        if (tku_class(cp) & TKU_NEW9) {
            int rc = i > seg ? utf8proc_form(k, str + seg, i - seg, out, e) : 0;
            if (rc) return rc;
            if (tk_buf_append(out, str + i, (size_t)l)) return tk_err_set(e, TK_ENOMEM, "normalizer: out of memory");
            seg = i + (size_t)l;
        }
        i += (size_t)l;
    }
    if (seg < n || seg == 0) return utf8proc_form(k, str + seg, n - seg, out, e);
    return 0;
}

/* NFC touching only what can change: the text is cut before every stable code point (one that
 * passes the quick check, or that HF's Unicode 9.0 data does not know), and only the pieces
 * holding an unstable code point go through utf8proc. */
static int nfc_regions(const char *str, size_t n, tk_buf *out, tk_err *e) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, seg = 0;
    bool dirty = false;
    while (i <= n) {
        bool stable = true;
        int l = 1;
        if (i < n && s[i] >= 0x80) {
            uint32_t cp;
            l = tku_decode(s + i, &cp);
            uint16_t f = tku_class(cp);
            stable = !(f & TKU_NFC_UNSAFE) || (f & TKU_NEW9);
        }
        if (stable && i > seg) {
            int rc = dirty ? apply_form(TK_NORM_NFC, str + seg, i - seg, out, e)
                           : (tk_buf_append(out, str + seg, i - seg) ? tk_err_set(e, TK_ENOMEM, "normalizer: out of memory") : 0);
            if (rc) return rc;
            seg = i;
            dirty = false;
        }
        if (!stable) dirty = true;
        if (i == n) break;
        i += (size_t)l;
    }
    return 0;
}

int tk_normalize(const tk_tokenizer *t, const char *s, size_t n, tk_buf *out, bool *changed,
                 tk_err *e) {
    *changed = false;
    if (t->n_norms == 0) return 0;
    if (t->n_norms == 1 && t->norms[0] == TK_NORM_NFC && nfc_quick_yes(s, n)) return 0;
    tk_buf tmp = {0};
    const char *cur = s;
    size_t cur_n = n;
    int rc = 0;
    for (uint32_t k = 0; k < t->n_norms && !rc; k++) {
        tk_buf *dst = (k + 1 == t->n_norms) ? out : &tmp;
        tk_buf next = {0};
        if (dst == out) tk_buf_clear(out);
        tk_buf *target = dst == out ? out : &next;
        rc = t->norms[k] == TK_NORM_NFC ? nfc_regions(cur, cur_n, target, e) : apply_form(t->norms[k], cur, cur_n, target, e);
        if (rc) {
            tk_buf_free(&next);
            break;
        }
        if (dst != out) {
            tk_buf_free(&tmp);
            tmp = next;
            cur = tmp.data;
            cur_n = tmp.len;
        }
    }
    tk_buf_free(&tmp);
    if (!rc) *changed = true;
    return rc;
}
