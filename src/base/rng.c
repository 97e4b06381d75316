/* xoshiro256** seeded by SplitMix64; see base.h for the exact definitions of each draw. */
#include "tinkerc/base.h"

#include <math.h>
#include <string.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

void tk_rng_seed(tk_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t tk_rng_u64(tk_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double tk_rng_f64(tk_rng *r) { return (double)(tk_rng_u64(r) >> 11) * 0x1.0p-53; }

float tk_rng_f32(tk_rng *r) { return (float)(tk_rng_u64(r) >> 40) * 0x1.0p-24f; }

double tk_rng_normal(tk_rng *r) {
    double u1 = tk_rng_f64(r), u2 = tk_rng_f64(r);
    return sqrt(-2.0 * log(1.0 - u1)) * cos(2.0 * M_PI * u2);
}

uint64_t tk_rng_below(tk_rng *r, uint64_t n) {
    if (n == 0) return 0;
    /* Lemire: multiply, reject the biased low region */
    unsigned __int128 m = (unsigned __int128)tk_rng_u64(r) * n;
    uint64_t lo = (uint64_t)m;
    if (lo < n) {
        uint64_t threshold = (0 - n) % n;
        while (lo < threshold) {
            m = (unsigned __int128)tk_rng_u64(r) * n;
            lo = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

void tk_rng_shuffle(tk_rng *r, void *base, size_t n, size_t elem_size) {
    if (n < 2) return;
    unsigned char *b = base, tmp[256];
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)tk_rng_below(r, (uint64_t)i + 1);
        if (j == i) continue;
        unsigned char *x = b + i * elem_size, *y = b + j * elem_size;
        for (size_t off = 0; off < elem_size; off += sizeof tmp) {
            size_t c = elem_size - off < sizeof tmp ? elem_size - off : sizeof tmp;
            memcpy(tmp, x + off, c);
            memcpy(x + off, y + off, c);
            memcpy(y + off, tmp, c);
        }
    }
}
