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
 * Writing float32: the closest 8-digit decimal is tried first (random float32 values need 8 or
 * 9), then 7 and 6 while they still read back, else 9 (9 always suffice). A float32 has at most
 * one 6-digit decimal in its rounding interval, so when 6 digits read back, stripping trailing
 * zeros gives the shortest form. Candidates are checked by reading them back with exact double
 * arithmetic, which is what strtod + (float) would give; scales beyond 10^±22 take printf. */
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

/* Short copies without a libc call. */
static inline void copy_small(char *d, const char *s, int n) {
    for (int i = 0; i < n; i++) d[i] = s[i];
}

/* Python repr layout of digits ds[0..nd) (no trailing zeros) with decimal exponent e10
 * (value = d0.d1d2... * 10^e10). */
static size_t layout(char *dst, bool neg, const char *ds, int nd, int e10) {
    char *p = dst;
    if (neg) *p++ = '-';
    if (e10 >= -4 && e10 < 16) {
        if (e10 >= nd - 1) {
            copy_small(p, ds, nd);
            p += nd;
            for (int i = 0; i < e10 - (nd - 1); i++) *p++ = '0';
            *p++ = '.';
            *p++ = '0';
        } else if (e10 >= 0) {
            copy_small(p, ds, e10 + 1);
            p += e10 + 1;
            *p++ = '.';
            copy_small(p, ds + e10 + 1, nd - e10 - 1);
            p += nd - e10 - 1;
        } else {
            *p++ = '0';
            *p++ = '.';
            for (int i = 0; i < -e10 - 1; i++) *p++ = '0';
            copy_small(p, ds, nd);
            p += nd;
        }
    } else {
        *p++ = ds[0];
        if (nd > 1) {
            *p++ = '.';
            copy_small(p, ds + 1, nd - 1);
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

static const double k_pow10_neg[23] = {1e0,   1e-1,  1e-2,  1e-3,  1e-4,  1e-5,  1e-6,  1e-7,
                                       1e-8,  1e-9,  1e-10, 1e-11, 1e-12, 1e-13, 1e-14, 1e-15,
                                       1e-16, 1e-17, 1e-18, 1e-19, 1e-20, 1e-21, 1e-22};

/* The closest p-digit decimal D * 10^-s to a (exponent estimate E): 1 if it reads back as fa,
 * 0 if not, -1 if the scale is outside the exact powers of ten (the caller falls back to the
 * slow path). Reading back is D / 10^s or D * 10^-s with both operands exact: one IEEE rounding,
 * exactly what strtod gives for that decimal. */
static inline int f32_candidate(double a, float fa, int p, int E, uint64_t *D, int *s_out) {
    int s = p - 1 - E;
    if (s > 22 || s < -22) return -1;
    double r = nearbyint(s >= 0 ? a * k_pow10[s] : a / k_pow10[-s]);
    if (r < 1 || r >= 1e18) return -1;
    uint64_t d = (uint64_t)r;
    double back = s >= 0 ? (double)d / k_pow10[s] : (double)d * k_pow10[-s];
    if ((float)back != fa) return 0;
    *D = d;
    *s_out = s;
    return 1;
}

static const uint64_t k_pow5[23] = {1ull, 5ull, 25ull, 125ull, 625ull, 3125ull, 15625ull, 78125ull, 390625ull,
                                    1953125ull, 9765625ull, 48828125ull, 244140625ull, 1220703125ull,
                                    6103515625ull, 30517578125ull, 152587890625ull, 762939453125ull,
                                    3814697265625ull, 19073486328125ull, 95367431640625ull,
                                    476837158203125ull, 2384185791015625ull};

/* Shortest digits of a positive normal float32 by exact integer arithmetic. With v = m * 2^e,
 * its rounding interval is (4m - g, 4m + 2) * 2^(e-2) (g = 1 at a power of two, else 2). Scaled
 * by 10^s9 (9 significant digits, which always suffice for float32) the interval's interior
 * integers are [lo, hi]; dividing both by 10 while the range stays non-empty finds the fewest
 * digits, and the integer nearest the exact value within it is taken. The result is still checked
 * by reading it back. Returns false (caller falls back) outside the covered range. */
static bool f32_shortest_exact(float f, int E, uint64_t *D_out, int *s_out, bool *check) {
    uint32_t bits;
    memcpy(&bits, &f, 4);
    uint32_t ef = (bits >> 23) & 0xFF, frac = bits & 0x7FFFFF;
    if (ef == 0 || ef == 0xFF) return false;
    uint64_t m = frac | 0x800000u;
    int e = (int)ef - 150;
    int s9 = 8 - E;
    if (s9 < 0 || s9 > 22) return false;
    int sh = e - 2 + s9;           /* value * 10^s9 = 4m * 5^s9 * 2^sh */
    unsigned __int128 p5 = k_pow5[s9];
    unsigned __int128 V = (unsigned __int128)(4 * m) * p5;
    unsigned __int128 U = (unsigned __int128)(4 * m + 2) * p5;
    unsigned __int128 L = (unsigned __int128)(4 * m - (frac == 0 && ef > 1 ? 1 : 2)) * p5;
    /* a decimal exactly at a bound reads back (through the exact midpoint double) as the float
     * with the even mantissa: bounds are inclusive when m is even */
    bool incl = (m & 1) == 0;
    uint64_t lo, hi, near;
    /* A chosen decimal differs from a bound by at least 2^-t (t = -sh) at this scale, where the
     * values are below 2^30 and a double's half ulp is at most 2^-23: for t <= 20 strtod cannot
     * round it onto the bound, so reading back needs no check. */
    *check = sh < -20;
    if (sh >= 0) {
        if (sh > 30) return false;
        unsigned __int128 l = L << sh, u = U << sh, v = V << sh;
        if (u > ((unsigned __int128)1 << 63)) return false;
        lo = (uint64_t)l + !incl;
        hi = (uint64_t)u - !incl;
        near = (uint64_t)v;
    } else if (s9 <= 16 && -sh < 64) {
        /* the common case in 64-bit arithmetic: 4m+2 < 2^26 and 5^16 < 2^38 */
        int t = -sh;
        uint64_t v64 = (uint64_t)V, u64 = (uint64_t)U, l64 = (uint64_t)L, mask = ((uint64_t)1 << t) - 1;
        lo = incl ? (l64 + mask) >> t : (l64 >> t) + 1;
        hi = incl ? u64 >> t : (u64 - 1) >> t;
        uint64_t q = v64 >> t, rem = v64 & mask, half = (uint64_t)1 << (t - 1);
        near = q + (rem > half || (rem == half && (q & 1)));
    } else {
        int t = -sh;
        if (t > 100) return false;
        unsigned __int128 mask = ((unsigned __int128)1 << t) - 1;
        lo = incl ? (uint64_t)((L + mask) >> t) : (uint64_t)(L >> t) + 1;
        hi = incl ? (uint64_t)(U >> t) : (uint64_t)((U - 1) >> t);
        unsigned __int128 q = V >> t, rem = V - (q << t), half = (unsigned __int128)1 << (t - 1);
        near = (uint64_t)q + (rem > half || (rem == half && (q & 1)));
    }
    if (lo > hi) return false;
    int k = 0;
    uint64_t scale = 1;
    for (;;) {
        uint64_t lo2 = (lo + 9) / 10, hi2 = hi / 10;
        if (lo2 > hi2) break;
        lo = lo2;
        hi = hi2;
        k++;
        scale *= 10;
    }
    uint64_t c;
    switch (k) {   /* constant divisors: multiplications, not a 64-bit divide */
    case 0: c = near; break;
    case 1: c = (near + 5) / 10; break;
    case 2: c = (near + 50) / 100; break;
    case 3: c = (near + 500) / 1000; break;
    case 4: c = (near + 5000) / 10000; break;
    case 5: c = (near + 50000) / 100000; break;
    case 6: c = (near + 500000) / 1000000; break;
    case 7: c = (near + 5000000) / 10000000; break;
    default: c = (near + scale / 2) / scale; break;
    }
    if (c < lo) c = lo;
    if (c > hi) c = hi;
    *D_out = c;
    *s_out = s9 - k;
    return true;
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
    /* decimal exponent estimate, a in [10^E, 10^(E+1)): log10(2) ~ 78913 / 2^18 applied to the
     * binary exponent, corrected by one comparison (an off-by-one E costs a digit, never
     * correctness: every candidate is checked by reading it back) */
    uint32_t fbits;
    memcpy(&fbits, &v, 4);
    int e2;
    if ((fbits >> 23) & 0xFF) e2 = (int)((fbits >> 23) & 0xFF) - 126;   /* frexp's exponent, from the bits */
    else frexp(a, &e2);
    int E = ((e2 - 1) * 78913) >> 18;
    if (E + 1 >= -22 && E + 1 <= 22 && a >= (E + 1 >= 0 ? k_pow10[E + 1] : k_pow10_neg[-(E + 1)])) E++;
    float fa = (float)a;
    uint64_t D;
    int s;
    bool check;
    if (f32_shortest_exact(fa, E, &D, &s, &check)) {
        if (!check || (float)((double)D / k_pow10[s]) == fa) return layout_scaled(dst, neg, D, s);
    }
    /* 8 digits first (random float32 values need 8 or 9), then fewer while they still read back */
    int c8 = f32_candidate(a, fa, 8, E, &D, &s);
    if (c8 > 0) {
        for (int p = 7; p >= 6; p--) {
            uint64_t D2;
            int s2;
            int c = f32_candidate(a, fa, p, E, &D2, &s2);
            if (c < 0) return fmt_slow(dst, (double)v, true);
            if (c == 0) break;
            D = D2;
            s = s2;
        }
        return layout_scaled(dst, neg, D, s);
    }
    if (c8 == 0 && f32_candidate(a, fa, 9, E, &D, &s) > 0) return layout_scaled(dst, neg, D, s);
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
