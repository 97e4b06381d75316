/* A min-heap of timers keyed by due time, for the client's I/O thread: retry back-offs, poll
 * delays, deadlines and heartbeats all become timers here instead of sleeping threads.
 * Timers are embedded in their owner's struct and know their heap slot, so disarming is
 * O(log n) and a freed owner never leaves a dangling entry behind. Not thread-safe (I/O thread
 * only). */
#ifndef TK_CLIENT_TIMER_HEAP_H
#define TK_CLIENT_TIMER_HEAP_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef struct tk_ctimer tk_ctimer;
struct tk_ctimer {
    int64_t due_ms;            /* monotonic milliseconds (tk_now_ms) */
    uint64_t seq;              /* ties broken by arming order */
    size_t idx;                /* slot in the heap + 1; 0 when not armed */
    void (*fire)(tk_ctimer *t, void *owner);
    void *owner;
};

typedef struct tk_ctimer_heap {
    tk_ctimer **v;
    size_t len, cap;
    uint64_t next_seq;
} tk_ctimer_heap;

static inline bool tk_ctimer_armed(const tk_ctimer *t) { return t->idx != 0; }

/* Arm (or re-arm) t to fire at due_ms. 0 or TK_ENOMEM (t is then not armed). */
int tk_ctimer_arm(tk_ctimer_heap *h, tk_ctimer *t, int64_t due_ms);
/* Disarm t if armed. */
void tk_ctimer_disarm(tk_ctimer_heap *h, tk_ctimer *t);
/* The earliest timer, or NULL. */
tk_ctimer *tk_ctimer_peek(const tk_ctimer_heap *h);
/* Remove and return the earliest timer if it is due at now_ms, else NULL. */
tk_ctimer *tk_ctimer_pop_due(tk_ctimer_heap *h, int64_t now_ms);
void tk_ctimer_heap_free(tk_ctimer_heap *h);

#endif
