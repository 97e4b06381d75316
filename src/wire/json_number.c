/* Number text for the JSON codec: scanning, correctly rounded conversion, and shortest
 * round-trip formatting of float32 and double in Python's repr style.
 *
 * Reading: a number with at most 19 significant digits is mant * 10^exp10. When mant <= 2^53 and
 * |exp10| <= 22 both factors are exact doubles, so one IEEE multiply or divide gives the correctly
 * rounded result (Clinger's fast path). float32 targets are (float) of that double, as numpy
 * does with a Python float. Python writes float32 values widened to double with 17 digits, which
 * misses the fast path; for those we compute the double with two roundings (error < 2 ulp) and
 * accept its float rounding unless it lies within a few ulp of a float32 rounding midpoint, where
 * the exact strtod decides. Everything else goes to strtod in the C locale.
 *
 * Writing float32: the closest 6-digit decimal is tried first (a float32 has at most one 6-digit
 * decimal in its rounding interval, so if it reads back, stripping its trailing zeros gives the
 * shortest form), then 7, 8 and 9 digits (9 always suffice). Candidates are checked by reading
 * them back with exact double arithmetic, which is what strtod + (float) would give. */
#include "json_internal.h"

#include <float.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "tinkerc's wire layer assumes a little-endian host (protobuf byte arrays are LE)"
#endif

static const double k_pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* ---- C locale ------------------------------------------------------------------------------- */

static locale_t g_c_locale;
static pthread_once_t g_c_locale_once = PTHREAD_ONCE_INIT;
static void make_c_locale(void) { g_c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0); }

static locale_t c_locale(void) {
    pthread_once(&g_c_locale_once, make_c_locale);
    return g_c_locale;
}

double tk_strtod_c(const char *s, char **endp) {
    locale_t c = c_locale();
    if (c) return strtod_l(s, endp, c);
    return strtod(s, endp);
}

/* snprintf("%.*e") with '.' as the decimal point whatever the process locale. */
static int snprintf_e(char *buf, size_t n, int prec, double v) {
    locale_t c = c_locale();
    locale_t old = c ? uselocale(c) : (locale_t)0;
    int k = snprintf(buf, n, "%.*e", prec, v);
    if (c) uselocale(old);
    return k;
}

/* ---- scanning ------------------------------------------------------------------------------- */

static inline bool is_digit(char c) { return (unsigned char)(c - '0') < 10; }

const char *tk_num_scan(const char *p, const char *end, tk_num *n) {
    n->start = p;
    n->mant = 0;
    n->exp10 = 0;
    n->neg = false;
    n->is_int = true;
    n->trunc = false;
    int sig = 0;   /* significant digits kept in mant */
    if (p < end && *p == '-') { n->neg = true; p++; }
    if (p >= end || !is_digit(*p)) return NULL;
    if (*p == '0') {
        p++;
        if (p < end && is_digit(*p)) return NULL;   /* leading zero */
    } else {
        while (p < end && is_digit(*p)) {
            if (sig < 19) { n->mant = n->mant * 10 + (uint64_t)(*p - '0'); sig++; }
            else { n->exp10++; if (*p != '0') n->trunc = true; }
            p++;
        }
    }
    if (p < end && *p == '.') {
        n->is_int = false;
        p++;
        if (p >= end || !is_digit(*p)) return NULL;
        while (p < end && is_digit(*p)) {
            if (sig < 19) {
                if (n->mant != 0 || *p != '0') sig++;
                n->mant = n->mant * 10 + (uint64_t)(*p - '0');
                n->exp10--;
            } else if (*p != '0') {
                n->trunc = true;
            }
            p++;
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        n->is_int = false;
        p++;
        bool eneg = false;
        if (p < end && (*p == '+' || *p == '-')) { eneg = *p == '-'; p++; }
        if (p >= end || !is_digit(*p)) return NULL;
        int32_t ev = 0;
        while (p < end && is_digit(*p)) {
            if (ev < 100000) ev = ev * 10 + (*p - '0');
            p++;
        }
        n->exp10 += eneg ? -ev : ev;
    }
    n->end = p;
    return p;
}

static double slow_f64(const tk_num *n) {
    size_t len = (size_t)(n->end - n->start);
    char small[64];
    char *s = len < sizeof small ? small : malloc(len + 1);
    if (!s) return NAN;   /* OOM while parsing a >64-char number; callers see NaN */
    memcpy(s, n->start, len);
    s[len] = '\0';
    double d = tk_strtod_c(s, NULL);
    if (s != small) free(s);
    return d;
}

double tk_num_to_f64(const tk_num *n) {
    if (n->mant == 0) return n->neg ? -0.0 : 0.0;
    if (!n->trunc && n->mant <= (1ull << 53) && n->exp10 >= -22 && n->exp10 <= 22) {
        double d = (double)n->mant;
        d = n->exp10 >= 0 ? d * k_pow10[n->exp10] : d / k_pow10[-n->exp10];
        return n->neg ? -d : d;
    }
    return slow_f64(n);
}

float tk_num_to_f32(const tk_num *n) {
    if (n->mant == 0) return n->neg ? -0.0f : 0.0f;
    if (n->exp10 >= -22 && n->exp10 <= 22) {
        double d = (double)n->mant;
        d = n->exp10 >= 0 ? d * k_pow10[n->exp10] : d / k_pow10[-n->exp10];
        if (!n->trunc && n->mant <= (1ull << 53)) return (float)(n->neg ? -d : d);
        /* d carries < 2 ulp of error: its float rounding is right unless it is near a float32
         * midpoint (bits below float precision = 1 followed by zeros) or outside the normal
         * float range. */
        if (d >= FLT_MIN && d <= FLT_MAX) {
            uint64_t bits;
            memcpy(&bits, &d, sizeof bits);
            int64_t low = (int64_t)(bits & 0x1FFFFFFFull) - 0x10000000;
            if (low > 16 || low < -16) return (float)(n->neg ? -d : d);
        }
    }
    return (float)slow_f64(n);
}

/* ---- formatting ----------------------------------------------------------------------------- */

const char tk_digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

const uint64_t tk_pow10_u64[20] = {1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
                                   100000000ull, 1000000000ull, 10000000000ull, 100000000000ull,
                                   1000000000000ull, 10000000000000ull, 100000000000000ull,
                                   1000000000000000ull, 10000000000000000ull, 100000000000000000ull,
                                   1000000000000000000ull, 10000000000000000000ull};

static size_t fmt_u64(char *dst, uint64_t v) { return tk_fmt_u64(dst, v); }

size_t tk_fmt_i64(char *dst, int64_t v) { return tk_fmt_i64_inline(dst, v); }

/* Python repr layout of digits ds[0..nd) (no trailing zeros) with decimal exponent e10
 * (value = d0.d1d2... * 10^e10). */
static size_t layout(char *dst, bool neg, const char *ds, int nd, int e10) {
    char *p = dst;
    if (neg) *p++ = '-';
    if (e10 >= -4 && e10 < 16) {
        if (e10 >= nd - 1) {
            memcpy(p, ds, (size_t)nd);
            p += nd;
            for (int i = 0; i < e10 - (nd - 1); i++) *p++ = '0';
            *p++ = '.';
            *p++ = '0';
        } else if (e10 >= 0) {
            memcpy(p, ds, (size_t)e10 + 1);
            p += e10 + 1;
            *p++ = '.';
            memcpy(p, ds + e10 + 1, (size_t)(nd - e10 - 1));
            p += nd - e10 - 1;
        } else {
            *p++ = '0';
            *p++ = '.';
            for (int i = 0; i < -e10 - 1; i++) *p++ = '0';
            memcpy(p, ds, (size_t)nd);
            p += nd;
        }
    } else {
        *p++ = ds[0];
        if (nd > 1) {
            *p++ = '.';
            memcpy(p, ds + 1, (size_t)nd - 1);
            p += nd - 1;
        }
        *p++ = 'e';
        int x = e10;
        if (x < 0) { *p++ = '-'; x = -x; } else { *p++ = '+'; }
        if (x < 10) *p++ = '0';
        p += fmt_u64(p, (uint64_t)x);
    }
    return (size_t)(p - dst);
}

/* value = D * 10^-s; D > 0. */
static size_t layout_scaled(char *dst, bool neg, uint64_t D, int s) {
    while (D % 10 == 0) { D /= 10; s--; }
    char ds[24];
    int nd = (int)fmt_u64(ds, D);
    return layout(dst, neg, ds, nd, nd - 1 - s);
}

/* printf's closest `prec`-digit decimal of a (> 0); true when it reads back as a (through float32
 * when `single`). */
static bool try_digits(char *buf, size_t n, double a, int prec, bool single) {
    snprintf_e(buf, n, prec - 1, a);
    double back = tk_strtod_c(buf, NULL);
    return single ? (float)back == (float)a : back == a;
}

/* Shortest digits via printf's %e and a strtod check: the general (slow) path. Reading back
 * works for every precision from the shortest one up, so a binary search finds it. */
static size_t fmt_slow(char *dst, double v, bool single) {
    char buf[48];
    double a = fabs(v);
    int lo = 1, hi = single ? 9 : 17;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (try_digits(buf, sizeof buf, a, mid, single)) hi = mid;
        else lo = mid + 1;
    }
    try_digits(buf, sizeof buf, a, lo, single);
    /* buf = "d.ddddde±XX" */
    char ds[24];
    int nd = 0;
    const char *q = buf;
    for (; *q && *q != 'e'; q++)
        if (is_digit(*q)) ds[nd++] = *q;
    int e10 = atoi(q + 1);
    while (nd > 1 && ds[nd - 1] == '0') nd--;
    return layout(dst, v < 0, ds, nd, e10);
}

size_t tk_fmt_f32(char *dst, float v) {
    double a = fabs((double)v);
    bool neg = signbit(v);
    if (a == 0) return layout(dst, neg, "0", 1, 0);
    if (a < 16777216.0 && a == (double)(int64_t)a) {   /* below 2^24 every digit of an integer counts */
        char *p = dst;
        if (neg) *p++ = '-';
        p += fmt_u64(p, (uint64_t)a);
        *p++ = '.';
        *p++ = '0';
        return (size_t)(p - dst);
    }
    /* decimal exponent estimate: a in [10^E, 10^(E+1)) up to table rounding */
    int E = (int)floor(log10(a));
    float fa = (float)a;
    for (int p = 6; p <= 9; p++) {
        int s = p - 1 - E;
        if (s > 22 || s < -22) break;
        double scaled = s >= 0 ? a * k_pow10[s] : a / k_pow10[-s];
        double r = nearbyint(scaled);
        if (r < 1 || r >= 1e18) break;
        uint64_t D = (uint64_t)r;
        double back = s >= 0 ? (double)D / k_pow10[s] : (double)D * k_pow10[-s];
        if ((float)back == fa) return layout_scaled(dst, neg, D, s);
    }
    return fmt_slow(dst, (double)v, true);
}

size_t tk_fmt_f64(char *dst, double v) {
    double a = fabs(v);
    if (a == 0) return layout(dst, signbit(v), "0", 1, 0);
    if (a < 1e15 && a == (double)(int64_t)a) {
        char *p = dst;
        if (v < 0) *p++ = '-';
        p += fmt_u64(p, (uint64_t)a);
        *p++ = '.';
        *p++ = '0';
        return (size_t)(p - dst);
    }
    return fmt_slow(dst, v, false);
}
