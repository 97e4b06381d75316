/* String-keyed hash map: open addressing, linear probing, tombstones, FNV-1a.
 * Keys are copied into one malloc per entry (key bytes follow the entry header) so that the
 * table itself stays a flat array of small slots. */
#include "tinkerc/base.h"

#include <stdlib.h>
#include <string.h>

typedef struct map_key {
    size_t len;
    char bytes[];
} map_key;

typedef struct map_slot {
    uint64_t hash;
    map_key *key;  /* NULL = empty; TOMBSTONE = deleted */
    void *value;
} map_slot;

struct tk_map {
    map_slot *slots;
    size_t cap;    /* power of two */
    size_t len;    /* live entries */
    size_t used;   /* live + tombstones */
};

static map_key k_tombstone;
#define TOMBSTONE (&k_tombstone)

uint64_t tk_hash_bytes(const void *p, size_t n) {
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

tk_map *tk_map_new(size_t initial_capacity) {
    tk_map *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    size_t cap = 16;
    while (cap < initial_capacity * 2 && cap < ((size_t)1 << 62)) cap <<= 1;
    m->slots = calloc(cap, sizeof *m->slots);
    if (!m->slots) { free(m); return NULL; }
    m->cap = cap;
    return m;
}

void tk_map_free(tk_map *m) {
    if (!m) return;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key && m->slots[i].key != TOMBSTONE) free(m->slots[i].key);
    free(m->slots);
    free(m);
}

static bool key_eq(const map_key *k, const void *key, size_t klen) {
    return k->len == klen && memcmp(k->bytes, key, klen) == 0;
}

/* Index of the slot holding key, or of the slot where it would be inserted (first tombstone or
 * empty slot on its probe path). *found tells which. */
static size_t find_slot(const tk_map *m, uint64_t h, const void *key, size_t klen, bool *found) {
    size_t mask = m->cap - 1, i = (size_t)h & mask, insert = SIZE_MAX;
    for (;;) {
        const map_slot *s = &m->slots[i];
        if (!s->key) {
            *found = false;
            return insert != SIZE_MAX ? insert : i;
        }
        if (s->key == TOMBSTONE) {
            if (insert == SIZE_MAX) insert = i;
        } else if (s->hash == h && key_eq(s->key, key, klen)) {
            *found = true;
            return i;
        }
        i = (i + 1) & mask;
    }
}

static int rehash(tk_map *m, size_t ncap) {
    map_slot *ns = calloc(ncap, sizeof *ns);
    if (!ns) return TK_ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        map_slot *s = &m->slots[i];
        if (!s->key || s->key == TOMBSTONE) continue;
        size_t j = (size_t)s->hash & (ncap - 1);
        while (ns[j].key) j = (j + 1) & (ncap - 1);
        ns[j] = *s;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    m->used = m->len;
    return 0;
}

int tk_map_put(tk_map *m, const void *key, size_t klen, void *value) {
    /* keep the load (including tombstones) under 3/4 */
    if ((m->used + 1) * 4 > m->cap * 3) {
        size_t ncap = (m->len + 1) * 4 > m->cap * 2 ? m->cap * 2 : m->cap;
        if (rehash(m, ncap)) return TK_ENOMEM;
    }
    uint64_t h = tk_hash_bytes(key, klen);
    bool found;
    size_t i = find_slot(m, h, key, klen, &found);
    if (found) {
        m->slots[i].value = value;
        return 0;
    }
    size_t total;
    if (!tk_add_size(sizeof(map_key), klen, &total)) return TK_ENOMEM;
    map_key *k = malloc(total);
    if (!k) return TK_ENOMEM;
    k->len = klen;
    if (klen) memcpy(k->bytes, key, klen);
    if (m->slots[i].key != TOMBSTONE) m->used++;
    m->slots[i] = (map_slot){h, k, value};
    m->len++;
    return 0;
}

bool tk_map_get(const tk_map *m, const void *key, size_t klen, void **value) {
    bool found;
    size_t i = find_slot(m, tk_hash_bytes(key, klen), key, klen, &found);
    if (found && value) *value = m->slots[i].value;
    return found;
}

bool tk_map_del(tk_map *m, const void *key, size_t klen) {
    bool found;
    size_t i = find_slot(m, tk_hash_bytes(key, klen), key, klen, &found);
    if (!found) return false;
    free(m->slots[i].key);
    m->slots[i].key = TOMBSTONE;
    m->slots[i].value = NULL;
    m->len--;
    return true;
}

size_t tk_map_len(const tk_map *m) { return m->len; }

bool tk_map_next(const tk_map *m, size_t *pos, const void **key, size_t *klen, void **value) {
    for (size_t i = *pos; i < m->cap; i++) {
        const map_slot *s = &m->slots[i];
        if (!s->key || s->key == TOMBSTONE) continue;
        if (key) *key = s->key->bytes;
        if (klen) *klen = s->key->len;
        if (value) *value = s->value;
        *pos = i + 1;
        return true;
    }
    *pos = m->cap;
    return false;
}
