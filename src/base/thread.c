/* Clocks, threads, a blocking queue and UUIDs. */
#include "tinkerc/base.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

double tk_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int64_t tk_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double tk_wall_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void tk_iso8601_utc(double wall_s, char *buf, size_t bufsize) {
    time_t secs = (time_t)wall_s;
    long usec = (long)((wall_s - (double)secs) * 1e6);
    if (usec < 0) usec = 0;
    if (usec > 999999) usec = 999999;
    struct tm tm;
    gmtime_r(&secs, &tm);
    char head[32];
    strftime(head, sizeof head, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, bufsize, "%s.%06ldZ", head, usec);
}

void tk_sleep_ms(int64_t ms) {
    if (ms <= 0) return;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR) {}
}

int tk_num_cpus(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int tk_thread_start(tk_thread *t, void *(*fn)(void *), void *arg, tk_err *e) {
    int rc = pthread_create(&t->handle, NULL, fn, arg);
    if (rc) return tk_err_set(e, rc == EAGAIN ? TK_ENOMEM : TK_EINTERNAL, "cannot start a thread: %s", strerror(rc));
    return 0;
}

void tk_thread_join(tk_thread *t) { pthread_join(t->handle, NULL); }

/* ---- queue ------------------------------------------------------------------------------------ */

struct tk_queue {
    pthread_mutex_t lock;
    pthread_cond_t nonempty;
    void **items;   /* ring buffer */
    size_t cap, head, len;
    bool closed;
};

tk_queue *tk_queue_new(void) {
    tk_queue *q = calloc(1, sizeof *q);
    if (!q) return NULL;
    pthread_mutex_init(&q->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->nonempty, &ca);
    pthread_condattr_destroy(&ca);
    return q;
}

void tk_queue_free(tk_queue *q) {
    if (!q) return;
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->nonempty);
    free(q->items);
    free(q);
}

int tk_queue_push(tk_queue *q, void *item) {
    pthread_mutex_lock(&q->lock);
    if (q->closed) {
        pthread_mutex_unlock(&q->lock);
        return TK_ESTATE;
    }
    if (q->len == q->cap) {
        size_t ncap = q->cap ? q->cap * 2 : 16;
        void **n = tk_malloc_array(ncap, sizeof *n);
        if (!n) {
            pthread_mutex_unlock(&q->lock);
            return TK_ENOMEM;
        }
        for (size_t i = 0; i < q->len; i++) n[i] = q->items[(q->head + i) % q->cap];
        free(q->items);
        q->items = n;
        q->cap = ncap;
        q->head = 0;
    }
    q->items[(q->head + q->len) % q->cap] = item;
    q->len++;
    pthread_cond_signal(&q->nonempty);
    pthread_mutex_unlock(&q->lock);
    return 0;
}

int tk_queue_pop(tk_queue *q, void **item, int64_t timeout_ms) {
    struct timespec deadline;
    if (timeout_ms >= 0) {
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += (time_t)(timeout_ms / 1000);
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&q->lock);
    while (q->len == 0 && !q->closed) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&q->nonempty, &q->lock);
        } else if (pthread_cond_timedwait(&q->nonempty, &q->lock, &deadline) == ETIMEDOUT) {
            if (q->len == 0 && !q->closed) {
                pthread_mutex_unlock(&q->lock);
                return TK_ETIMEOUT;
            }
        }
    }
    if (q->len == 0) {
        pthread_mutex_unlock(&q->lock);
        return TK_ESTATE;
    }
    *item = q->items[q->head];
    q->head = (q->head + 1) % q->cap;
    q->len--;
    pthread_mutex_unlock(&q->lock);
    return 0;
}

void tk_queue_close(tk_queue *q) {
    pthread_mutex_lock(&q->lock);
    q->closed = true;
    pthread_cond_broadcast(&q->nonempty);
    pthread_mutex_unlock(&q->lock);
}

size_t tk_queue_len(tk_queue *q) {
    pthread_mutex_lock(&q->lock);
    size_t n = q->len;
    pthread_mutex_unlock(&q->lock);
    return n;
}

void tk_uuid4(char out[37]) {
    unsigned char b[16];
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t r = getrandom(b + got, sizeof b - got, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            /* no entropy source: fall back to time and address bits (still unique enough) */
            uint64_t x = (uint64_t)tk_now_ms() ^ ((uint64_t)(uintptr_t)out << 16);
            for (size_t i = got; i < sizeof b; i++) { x = x * 6364136223846793005ULL + 1; b[i] = (unsigned char)(x >> 56); }
            break;
        }
        got += (size_t)r;
    }
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}
