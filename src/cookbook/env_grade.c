/* Answer graders for the problem envs: the last integer, \boxed{} extraction, a normaliser for
 * exact matching and a numeric comparison (upstream grades MATH with sympy; tinkerc does what
 * plain text can: normalised exact match, then numbers and fractions by value). */
#include "tinkerc/rl.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

bool tk_rl_last_integer(const char *text, long long *out) {
    const char *last = NULL;
    for (const char *p = text; *p; p++)
        if (isdigit((unsigned char)*p) && (p == text || !isdigit((unsigned char)p[-1]))) last = p;
    if (!last) return false;
    bool neg = last > text && last[-1] == '-';
    errno = 0;
    long long v = strtoll(last, NULL, 10);
    if (errno) return false;
    *out = neg ? -v : v;
    return true;
}

bool tk_rl_extract_boxed(const char *text, tk_buf *out) {
    const char *b = NULL;
    for (const char *p = strstr(text, "\\boxed"); p; p = strstr(p + 1, "\\boxed")) b = p;
    if (!b) return false;
    const char *p = b + 6;
    if (*p == ' ') {   /* "\boxed 5": up to the next space or '$' */
        while (*p == ' ') p++;
        const char *q = p;
        while (*q && *q != ' ' && *q != '$' && *q != '\n') q++;
        if (q == p) return false;
        return tk_buf_append(out, p, (size_t)(q - p)) == 0;
    }
    if (*p != '{') return false;
    int depth = 0;
    for (const char *q = p; *q; q++) {
        if (*q == '{') depth++;
        else if (*q == '}' && --depth == 0) return tk_buf_append(out, p + 1, (size_t)(q - p - 1)) == 0;
    }
    return false;   /* unterminated */
}

/* Appends whose failure (out of memory) only shortens the text: graders never fail. */
static void put(tk_buf *b, const void *p, size_t n) {
    if (tk_buf_append(b, p, n)) {}
}

static bool starts(const char *s, const char *pre) { return !strncmp(s, pre, strlen(pre)); }

void tk_rl_normalize_answer(const char *s, tk_buf *out) {
    tk_buf t = {0};
    /* pass 1: drop wrappers and spacing */
    for (const char *p = s; *p;) {
        if (isspace((unsigned char)*p) || *p == '$') { p++; continue; }
        if (starts(p, "\\left")) { p += 5; continue; }
        if (starts(p, "\\right")) { p += 6; continue; }
        if (starts(p, "\\!") || starts(p, "\\,") || starts(p, "\\;")) { p += 2; continue; }
        if (starts(p, "\\dfrac") || starts(p, "\\tfrac")) { put(&t, "\\frac", 5); p += 6; continue; }
        if (starts(p, "^\\circ")) { p += 6; continue; }
        if (starts(p, "^{\\circ}")) { p += 8; continue; }
        if (starts(p, "{,}")) { p += 3; continue; }
        if (starts(p, "\\text{") || starts(p, "\\mbox{") || starts(p, "\\mathrm{")) {
            /* keep the inside of the wrapper */
            const char *q = strchr(p, '{') + 1;
            int depth = 1;
            const char *r = q;
            while (*r && depth) {
                if (*r == '{') depth++;
                else if (*r == '}') depth--;
                if (depth) r++;
            }
            for (const char *c = q; c < r; c++)
                if (!isspace((unsigned char)*c)) put(&t, c, 1);
            p = *r ? r + 1 : r;
            continue;
        }
        /* a comma between digits groups thousands */
        if (*p == ',' && p > s && isdigit((unsigned char)p[-1]) && isdigit((unsigned char)p[1]) &&
            isdigit((unsigned char)p[2]) && isdigit((unsigned char)p[3]) && !isdigit((unsigned char)p[4])) {
            p++;
            continue;
        }
        put(&t, p++, 1);
    }
    /* a trailing '.' */
    while (t.len && t.data[t.len - 1] == '.') t.len--;
    if (t.len) put(out, t.data, t.len);
    tk_buf_free(&t);
}

/* A plain number "-12.5" filling the whole string. */
static bool parse_plain(const char *s, size_t n, double *v) {
    if (!n || n > 63) return false;
    char tmp[64];
    memcpy(tmp, s, n);
    tmp[n] = 0;
    for (size_t i = 0; i < n; i++)
        if (!(isdigit((unsigned char)tmp[i]) || tmp[i] == '.' || (i == 0 && (tmp[i] == '-' || tmp[i] == '+')))) return false;
    char *end;
    *v = strtod(tmp, &end);
    return *end == 0 && isfinite(*v);
}

/* A number: plain, "a/b", or "\frac{a}{b}" (optionally signed). */
static bool parse_number(const char *s, double *v) {
    size_t n = strlen(s);
    if (parse_plain(s, n, v)) return true;
    const char *slash = strchr(s, '/');
    double a, b;
    if (slash && parse_plain(s, (size_t)(slash - s), &a) && parse_plain(slash + 1, strlen(slash + 1), &b) && b != 0) {
        *v = a / b;
        return true;
    }
    double sign = 1;
    if (*s == '-') {
        sign = -1;
        s++;
    }
    if (!starts(s, "\\frac{")) return false;
    const char *p = s + 6, *q = strchr(p, '}');
    if (!q || q[1] != '{') return false;
    const char *r = strchr(q + 2, '}');
    if (!r || r[1]) return false;
    if (!parse_plain(p, (size_t)(q - p), &a) || !parse_plain(q + 2, (size_t)(r - q - 2), &b) || b == 0) return false;
    *v = sign * a / b;
    return true;
}

bool tk_rl_answers_match(const char *given, const char *expected) {
    tk_buf g = {0}, x = {0};
    tk_rl_normalize_answer(given, &g);
    tk_rl_normalize_answer(expected, &x);
    bool ok = false;
    if (g.len && x.len) {
        if (g.len == x.len && !memcmp(g.data, x.data, g.len)) ok = true;
        double a, b;
        if (!ok && parse_number(g.data, &a) && parse_number(x.data, &b))
            ok = fabs(a - b) <= 1e-6 * fmax(1.0, fmax(fabs(a), fabs(b)));
    }
    tk_buf_free(&g);
    tk_buf_free(&x);
    return ok;
}
