/* Checked allocation helpers and the arena (bump allocator). */
#include "tinkerc/base.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void *tk_malloc_array(size_t n, size_t size) {
    size_t total;
    if (!tk_mul_size(n, size, &total)) return NULL;
    return malloc(total ? total : 1);
}

void *tk_calloc_array(size_t n, size_t size) {
    if (n == 0 || size == 0) return calloc(1, 1);
    return calloc(n, size);  /* calloc checks n*size for overflow itself */
}

void *tk_realloc_array(void *p, size_t n, size_t size) {
    size_t total;
    if (!tk_mul_size(n, size, &total)) return NULL;
    return realloc(p, total ? total : 1);
}

char *tk_strdup(const char *s) { return tk_strndup(s, strlen(s)); }

char *tk_strndup(const char *s, size_t n) {
    size_t len = strnlen(s, n);
    char *d = malloc(len + 1);
    if (!d) return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

/* ---- arena ------------------------------------------------------------------------------------ */

/* Blocks form a singly linked list, newest first. Each block's payload follows its header. */
typedef struct arena_block {
    struct arena_block *next;
    size_t size;  /* payload bytes */
    size_t used;
    _Alignas(16) unsigned char data[];
} arena_block;

struct tk_arena {
    arena_block *head;
    size_t block_size;
    size_t used_total;
};

tk_arena *tk_arena_new(size_t block_size) {
    tk_arena *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->block_size = block_size ? block_size : 64 * 1024;
    return a;
}

void tk_arena_free(tk_arena *a) {
    if (!a) return;
    arena_block *b = a->head;
    while (b) {
        arena_block *next = b->next;
        free(b);
        b = next;
    }
    free(a);
}

void tk_arena_reset(tk_arena *a) {
    if (!a || !a->head) return;
    /* keep the oldest block (the last in the list), free the rest */
    arena_block *b = a->head, *keep = NULL;
    while (b) {
        arena_block *next = b->next;
        if (!next) keep = b; else free(b);
        b = next;
    }
    keep->used = 0;
    keep->next = NULL;
    a->head = keep;
    a->used_total = 0;
}

void *tk_arena_alloc(tk_arena *a, size_t n) {
    size_t need;
    if (!tk_add_size(n, 15, &need)) return NULL;
    need &= ~(size_t)15;
    if (need == 0) need = 16;
    arena_block *b = a->head;
    if (!b || b->size - b->used < need) {
        size_t size = need > a->block_size ? need : a->block_size;
        size_t total;
        if (!tk_add_size(sizeof(arena_block), size, &total)) return NULL;
        arena_block *nb = malloc(total);
        if (!nb) return NULL;
        nb->size = size;
        nb->used = 0;
        /* a big one-off allocation goes behind the current block so the current block's free
         * space stays usable */
        if (b && need > a->block_size && b->size - b->used > 0) {
            nb->next = b->next;
            b->next = nb;
        } else {
            nb->next = b;
            a->head = nb;
        }
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += need;
    a->used_total += n;
    return p;
}

void *tk_arena_zalloc(tk_arena *a, size_t n) {
    void *p = tk_arena_alloc(a, n);
    if (p) memset(p, 0, n);
    return p;
}

char *tk_arena_strndup(tk_arena *a, const char *s, size_t n) {
    char *d = tk_arena_alloc(a, n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *tk_arena_strdup(tk_arena *a, const char *s) { return tk_arena_strndup(a, s, strlen(s)); }

char *tk_arena_printf(tk_arena *a, const char *fmt, ...) {
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *d = n < 0 ? NULL : tk_arena_alloc(a, (size_t)n + 1);
    if (d) vsnprintf(d, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return d;
}

size_t tk_arena_used(const tk_arena *a) { return a ? a->used_total : 0; }
