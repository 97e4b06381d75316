/* The two hash tables behind a tokenizer: byte string -> id, and (id, id) -> merge. */
#include "internal.h"

/* A fast 64-bit hash for short byte strings: 8 bytes at a time, multiply-xorshift mixing. */
uint64_t tk_tok_hash(const void *p, size_t n) {
    const unsigned char *s = p;
    uint64_t h = 0x243F6A8885A308D3ull ^ (n * 0x9E3779B97F4A7C15ull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
        s += 8;
        n -= 8;
    }
    if (n) {
        uint64_t w = 0;
        memcpy(&w, s, n);
        h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
    }
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    return h;
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

void tk_idtab_prefetch(const tk_idtab *t, const char *pool, uint32_t h, int stage) {
    if (!t->cap) return;
    const tk_idslot *s = &t->slots[home32(h, t->cap)];
    if (stage == 0) __builtin_prefetch(s);
    else if (s->id1 && s->hash == h) __builtin_prefetch(pool + s->off);
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
