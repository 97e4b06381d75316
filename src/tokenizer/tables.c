/* The two hash tables behind a tokenizer: byte string -> id, and (id, id) -> merge. */
#include "internal.h"

/* A fast 64-bit hash for the short byte strings tokens are: at most two (overlapping) 8-byte
 * loads and one multiply-mix for keys up to 16 bytes, 8 bytes at a time beyond. */
static inline uint64_t mix(uint64_t a, uint64_t b) {
    unsigned __int128 r = (unsigned __int128)(a ^ 0xA0761D6478BD642Full) * (b ^ 0xE7037ED1A0B428DBull);
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

uint64_t tk_tok_hash(const void *p, size_t n) {
    const unsigned char *s = p;
    uint64_t a, b;
    if (n <= 16) {
        if (n >= 8) {
            memcpy(&a, s, 8);
            memcpy(&b, s + n - 8, 8);
        } else if (n >= 4) {
            uint32_t x, y;
            memcpy(&x, s, 4);
            memcpy(&y, s + n - 4, 4);
            a = x;
            b = y;
        } else if (n > 0) {
            a = (uint64_t)s[0] << 16 | (uint64_t)s[n >> 1] << 8 | s[n - 1];
            b = 0;
        } else {
            a = b = 0;
        }
        return mix(a ^ n, b ^ 0x8EBC6AF09C88C6E3ull);
    }
    uint64_t h = 0x243F6A8885A308D3ull ^ n;
    while (n > 16) {
        memcpy(&a, s, 8);
        memcpy(&b, s + 8, 8);
        h = mix(a ^ h, b ^ 0x589965CC75374CC3ull);
        s += 16;
        n -= 16;
    }
    memcpy(&a, s + n - 16 + 0, 8); /* the last 16 bytes, overlapping what was hashed */
    memcpy(&b, s + n - 8, 8);
    return mix(a ^ h, b ^ 0x1D8E4E27C47D124Full);
}

static inline size_t home32(uint32_t h, size_t cap) { return (size_t)(((uint64_t)h * cap) >> 32); }

static int idtab_alloc(tk_idtab *t, size_t cap) {
    t->slots = tk_calloc_array(cap, sizeof *t->slots);
    if (!t->slots) return TK_ENOMEM;
    t->cap = cap;
    t->count = 0;
    return 0;
}

int tk_idtab_init(tk_idtab *t, size_t expected) {
    return idtab_alloc(t, expected + expected / 2 + 16);
}

void tk_idtab_free(tk_idtab *t) {
    free(t->slots);
    memset(t, 0, sizeof *t);
}

int32_t tk_idtab_get(const tk_idtab *t, const char *pool, const char *key, size_t len) {
    return tk_idtab_get_h(t, pool, key, len, tk_idtab_hash(key, len));
}

void tk_idtab_prefetch(const tk_idtab *t, uint32_t h) {
    if (t->cap) __builtin_prefetch(&t->slots[home32(h, t->cap)]);
}

int32_t tk_idtab_get_h(const tk_idtab *t, const char *pool, const char *key, size_t len, uint32_t h) {
    if (!t->cap) return -1;
    size_t i = home32(h, t->cap);
    for (;;) {
        const tk_idslot *s = &t->slots[i];
        if (!s->id1) return -1;
        if (s->hash == h && s->len == len && !memcmp(pool + s->off, key, len)) return s->id1 - 1;
        if (++i == t->cap) i = 0;
    }
}

static int idtab_grow(tk_idtab *t) {
    tk_idtab old = *t;
    if (idtab_alloc(t, old.cap * 2)) {
        *t = old;
        return TK_ENOMEM;
    }
    for (size_t i = 0; i < old.cap; i++) {
        tk_idslot s = old.slots[i];
        if (!s.id1) continue;
        size_t j = home32(s.hash, t->cap);
        while (t->slots[j].id1)
            if (++j == t->cap) j = 0;
        t->slots[j] = s;
        t->count++;
    }
    free(old.slots);
    return 0;
}

int tk_idtab_put(tk_idtab *t, const char *pool, tk_strref key, int32_t id, int32_t *existing) {
    *existing = -1;
    if (!t->cap && tk_idtab_init(t, 8)) return TK_ENOMEM;
    if ((t->count + 1) * 10 > t->cap * 7 && idtab_grow(t)) return TK_ENOMEM;
    const char *k = pool + key.off;
    uint32_t h = (uint32_t)(tk_tok_hash(k, key.len) >> 32);
    size_t i = home32(h, t->cap);
    for (;;) {
        tk_idslot *s = &t->slots[i];
        if (!s->id1) {
            *s = (tk_idslot){h, id + 1, key.off, key.len};
            t->count++;
            return 0;
        }
        if (s->hash == h && s->len == key.len && !memcmp(pool + s->off, k, key.len)) {
            *existing = s->id1 - 1;
            return 0;
        }
        if (++i == t->cap) i = 0;
    }
}

static int merges_alloc(tk_merges *m, size_t cap) {
    m->slots = tk_malloc_array(cap, sizeof *m->slots);
    if (!m->slots) return TK_ENOMEM;
    for (size_t i = 0; i < cap; i++) m->slots[i].key = UINT64_MAX;
    m->cap = cap;
    m->count = 0;
    return 0;
}

int tk_merges_init(tk_merges *m, size_t expected) {
    return merges_alloc(m, expected + expected / 2 + 16);
}

void tk_merges_free(tk_merges *m) {
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static int merges_grow(tk_merges *m) {
    tk_merges old = *m;
    if (merges_alloc(m, old.cap * 2)) {
        *m = old;
        return TK_ENOMEM;
    }
    for (size_t i = 0; i < old.cap; i++) {
        tk_merge_slot s = old.slots[i];
        if (s.key == UINT64_MAX) continue;
        size_t j = tk_merges_home(s.key, m->cap);
        while (m->slots[j].key != UINT64_MAX)
            if (++j == m->cap) j = 0;
        m->slots[j] = s;
        m->count++;
    }
    free(old.slots);
    return 0;
}

int tk_merges_put(tk_merges *m, int32_t a, int32_t b, uint32_t rank, int32_t id) {
    if ((m->count + 1) * 10 > m->cap * 7 && merges_grow(m)) return TK_ENOMEM;
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    size_t i = tk_merges_home(key, m->cap);
    for (;;) {
        tk_merge_slot *s = &m->slots[i];
        if (s->key == key) {
            s->rank = rank;
            s->id = id;
            return 0;
        }
        if (s->key == UINT64_MAX) {
            s->key = key;
            s->rank = rank;
            s->id = id;
            m->count++;
            return 0;
        }
        if (++i == m->cap) i = 0;
    }
}
