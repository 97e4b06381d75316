/* Binary min-heap of embedded timers (see timer_heap.h). */
#include "timer_heap.h"

#include "tinkerc/base.h"

static bool earlier(const tk_ctimer *a, const tk_ctimer *b) {
    return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->seq < b->seq);
}

static void place(tk_ctimer_heap *h, size_t i, tk_ctimer *t) {
    h->v[i] = t;
    t->idx = i + 1;
}

static void sift_up(tk_ctimer_heap *h, size_t i) {
    tk_ctimer *t = h->v[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!earlier(t, h->v[parent])) break;
        place(h, i, h->v[parent]);
        i = parent;
    }
    place(h, i, t);
}

static void sift_down(tk_ctimer_heap *h, size_t i) {
    tk_ctimer *t = h->v[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const tk_ctimer *best = t;
        if (l < h->len && earlier(h->v[l], best)) { m = l; best = h->v[l]; }
        if (r < h->len && earlier(h->v[r], best)) m = r;
        if (m == i) break;
        place(h, i, h->v[m]);
        i = m;
    }
    place(h, i, t);
}

static void remove_at(tk_ctimer_heap *h, size_t i) {
    tk_ctimer *gone = h->v[i];
    gone->idx = 0;
    h->len--;
    if (i == h->len) return;
    tk_ctimer *moved = h->v[h->len];
    place(h, i, moved);
    sift_down(h, i);
    sift_up(h, moved->idx - 1);
}

int tk_ctimer_arm(tk_ctimer_heap *h, tk_ctimer *t, int64_t due_ms) {
    if (tk_ctimer_armed(t)) remove_at(h, t->idx - 1);
    if (h->len == h->cap && tk_vec_grow_((void **)&h->v, &h->cap, sizeof *h->v, h->len + 1))
        return TK_ENOMEM;
    t->due_ms = due_ms;
    t->seq = h->next_seq++;
    place(h, h->len, t);
    h->len++;
    sift_up(h, h->len - 1);
    return 0;
}

void tk_ctimer_disarm(tk_ctimer_heap *h, tk_ctimer *t) {
    if (tk_ctimer_armed(t)) remove_at(h, t->idx - 1);
}

tk_ctimer *tk_ctimer_peek(const tk_ctimer_heap *h) { return h->len ? h->v[0] : NULL; }

tk_ctimer *tk_ctimer_pop_due(tk_ctimer_heap *h, int64_t now_ms) {
    if (!h->len || h->v[0]->due_ms > now_ms) return NULL;
    tk_ctimer *t = h->v[0];
    remove_at(h, 0);
    return t;
}

void tk_ctimer_heap_free(tk_ctimer_heap *h) {
    for (size_t i = 0; i < h->len; i++) h->v[i]->idx = 0;
    free(h->v);
    h->v = NULL;
    h->len = h->cap = 0;
}
