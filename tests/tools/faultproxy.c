/* Fault-injecting HTTP/1.1 proxy for loopback tests (see faultproxy.h). One thread per client
 * connection with blocking sockets: simple, and plenty for tests. */
#include "faultproxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct pconn {
    int cfd, ufd;
    tk_thread th;
    bool done;                 /* the thread has finished (under p->lock) */
    struct tk_faultproxy *p;
    struct pconn *next;
} pconn;

struct tk_faultproxy {
    tk_faultproxy_config cfg;
    int lfd;
    int wake[2];               /* a pipe that wakes the accept loop on stop */
    int port;
    tk_thread acceptor;
    pthread_mutex_t lock;
    bool stopping;
    tk_rng rng;
    tk_faultproxy_stats st;
    pconn *conns;
};

enum { F_NONE, F_DROP_REQ, F_DROP_RESP, F_STATUS, F_TRUNCATE, F_RESET, F_DELAY };

void tk_faultproxy_config_uniform(tk_faultproxy_config *c, const char *host, int port,
                                  double rate, uint64_t seed) {
    memset(c, 0, sizeof *c);
    c->target_host = host;
    c->target_port = port;
    c->seed = seed;
    c->p_drop_request = c->p_drop_response = c->p_status = c->p_truncate = c->p_reset = rate / 5;
    c->p_delay = rate / 2;
    c->max_delay_ms = 50;
}

int64_t tk_faultproxy_faults(const tk_faultproxy_stats *s) {
    return s->drop_request + s->drop_response + s->truncate + s->reset + s->status_500 +
           s->status_503 + s->status_429 + s->status_408;
}

/* ---- buffered reading of HTTP messages ------------------------------------------------------ */

typedef struct reader {
    int fd;
    tk_buf b;                  /* unread bytes are b.data[off .. b.len) */
    size_t off;
} reader;

/* Read more bytes: >0 bytes read, 0 EOF, <0 error. */
static ssize_t read_more(reader *r) {
    if (r->off > 0 && r->off == r->b.len) {
        r->b.len = 0;
        r->off = 0;
    }
    if (tk_buf_reserve(&r->b, 65536)) return -1;
    for (;;) {
        ssize_t n = recv(r->fd, r->b.data + r->b.len, r->b.cap - r->b.len - 1, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n > 0) {
            r->b.len += (size_t)n;
            r->b.data[r->b.len] = 0;
        }
        return n;
    }
}

/* Ensure at least n unread bytes; false on EOF/error first. */
static bool need(reader *r, size_t n) {
    while (r->b.len - r->off < n)
        if (read_more(r) <= 0) return false;
    return true;
}

/* Offset (from r->off) just past the next "\r\n" at or after `from`; reads as needed. */
static bool find_crlf(reader *r, size_t from, size_t limit, size_t *end) {
    for (;;) {
        const char *base = r->b.data ? r->b.data + r->off : "";
        size_t avail = r->b.len - r->off;
        for (size_t i = from; i + 1 < avail; i++)
            if (base[i] == '\r' && base[i + 1] == '\n') {
                *end = i + 2;
                return true;
            }
        if (avail > limit) return false;
        if (read_more(r) <= 0) return false;
    }
}

typedef struct msg {
    char *raw;                 /* the whole message as received */
    size_t len, head_len;
    int status;                /* responses */
    bool close_after;          /* Connection: close, or a close-delimited body */
} msg;

static bool header_is(const char *line, size_t n, const char *name, const char **val) {
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) || line[k] != ':') return false;
    const char *v = line + k + 1;
    while (*v == ' ' || *v == '\t') v++;
    *val = v;
    return true;
}

/* Read one complete message. Returns 1 ok, 0 clean EOF before any byte, -1 error/truncated. */
static int read_message(reader *r, bool response, msg *m) {
    memset(m, 0, sizeof *m);
    if (r->b.len - r->off == 0) {
        ssize_t n = read_more(r);
        if (n == 0) return 0;
        if (n < 0) return -1;
    }
    /* the head ends at an empty line */
    size_t pos = 0, line_end;
    long long content_length = -1;
    bool chunked = false;
    for (;;) {
        if (!find_crlf(r, pos, 65536, &line_end)) return -1;
        const char *line = r->b.data + r->off + pos;
        size_t ll = line_end - pos - 2;
        const char *v;
        if (pos == 0) {
            if (response) {
                if (ll < 12 || strncmp(line, "HTTP/1.", 7)) return -1;
                m->status = atoi(line + 9);
            }
        } else if (ll == 0) {
            pos = line_end;
            break;
        } else if (header_is(line, ll, "Content-Length", &v)) {
            content_length = atoll(v);
        } else if (header_is(line, ll, "Transfer-Encoding", &v)) {
            chunked = !strncasecmp(v, "chunked", 7);
        } else if (header_is(line, ll, "Connection", &v)) {
            if (!strncasecmp(v, "close", 5)) m->close_after = true;
        }
        pos = line_end;
    }
    m->head_len = pos;
    bool no_body = response && (m->status / 100 == 1 || m->status == 204 || m->status == 304);
    if (no_body) {
        /* nothing */
    } else if (chunked) {
        for (;;) {
            if (!find_crlf(r, pos, pos + 1024, &line_end)) return -1;
            unsigned long long sz = strtoull(r->b.data + r->off + pos, NULL, 16);
            pos = line_end;
            if (sz == 0) {   /* trailers, then an empty line */
                for (;;) {
                    if (!find_crlf(r, pos, pos + 65536, &line_end)) return -1;
                    bool empty = line_end == pos + 2;
                    pos = line_end;
                    if (empty) break;
                }
                break;
            }
            if (!need(r, pos + sz + 2)) return -1;
            pos += sz + 2;
        }
    } else if (content_length >= 0) {
        if (!need(r, pos + (size_t)content_length)) return -1;
        pos += (size_t)content_length;
    } else if (response) {   /* until close */
        while (read_more(r) > 0) {}
        pos = r->b.len - r->off;
        m->close_after = true;
    }
    m->raw = malloc(pos ? pos : 1);
    if (!m->raw) return -1;
    memcpy(m->raw, r->b.data + r->off, pos);
    m->len = pos;
    r->off += pos;
    return 1;
}

/* ---- sockets -------------------------------------------------------------------------------- */

static bool send_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static int connect_target(const tk_faultproxy_config *cfg) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)cfg->target_port);
    if (inet_pton(AF_INET, cfg->target_host, &sa.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void reset_close(int fd) {
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

static bool stopping(tk_faultproxy *p) {
    pthread_mutex_lock(&p->lock);
    bool s = p->stopping;
    pthread_mutex_unlock(&p->lock);
    return s;
}

#define COUNT(p, field)              \
    do {                             \
        pthread_mutex_lock(&(p)->lock); \
        (p)->st.field++;             \
        pthread_mutex_unlock(&(p)->lock); \
    } while (0)

/* Draw the fault for the next request (and its parameters). */
static int decide(tk_faultproxy *p, int *status, int *delay_ms, double *cut) {
    const tk_faultproxy_config *c = &p->cfg;
    pthread_mutex_lock(&p->lock);
    p->st.requests++;
    double u = tk_rng_f64(&p->rng);
    static const int codes[4] = {500, 503, 429, 408};
    *status = codes[tk_rng_below(&p->rng, 4)];
    *delay_ms = c->max_delay_ms > 0 ? (int)tk_rng_below(&p->rng, (uint64_t)c->max_delay_ms + 1) : 0;
    *cut = tk_rng_f64(&p->rng);
    pthread_mutex_unlock(&p->lock);
    double acc = 0;
    if (u < (acc += c->p_drop_request)) return F_DROP_REQ;
    if (u < (acc += c->p_drop_response)) return F_DROP_RESP;
    if (u < (acc += c->p_status)) return F_STATUS;
    if (u < (acc += c->p_truncate)) return F_TRUNCATE;
    if (u < (acc += c->p_reset)) return F_RESET;
    if (u < (acc += c->p_delay)) return F_DELAY;
    return F_NONE;
}

static bool send_status(int fd, int status) {
    const char *text = status == 500 ? "Internal Server Error" : status == 503 ? "Service Unavailable"
                       : status == 429 ? "Too Many Requests" : "Request Timeout";
    char body[96], head[256];
    int bl = snprintf(body, sizeof body, "{\"detail\":\"faultproxy: injected %d\"}", status);
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                      "\r\n", status, text, bl);
    return send_all(fd, head, (size_t)hl) && send_all(fd, body, (size_t)bl);
}

static void *conn_main(void *arg) {
    pconn *pc = arg;
    tk_faultproxy *p = pc->p;
    reader cr = {.fd = pc->cfd}, ur = {.fd = -1};
    for (;;) {
        msg req;
        if (read_message(&cr, false, &req) <= 0) {
            free(req.raw);
            break;
        }
        int status, delay_ms;
        double cut;
        int fault = decide(p, &status, &delay_ms, &cut);
        if (fault == F_DROP_REQ) {
            COUNT(p, drop_request);
            free(req.raw);
            break;
        }
        if (fault == F_STATUS) {
            pthread_mutex_lock(&p->lock);
            if (status == 500) p->st.status_500++;
            else if (status == 503) p->st.status_503++;
            else if (status == 429) p->st.status_429++;
            else p->st.status_408++;
            pthread_mutex_unlock(&p->lock);
            free(req.raw);
            if (!send_status(pc->cfd, status)) break;
            continue;
        }
        if (fault == F_DELAY) {
            COUNT(p, delay);
            for (int waited = 0; waited < delay_ms && !stopping(p); waited += 5) tk_sleep_ms(5);
        }
        if (pc->ufd < 0) {
            pthread_mutex_lock(&p->lock);
            pc->ufd = p->stopping ? -1 : connect_target(&p->cfg);
            pthread_mutex_unlock(&p->lock);
            ur.fd = pc->ufd;
        }
        msg resp = {0};
        bool ok = pc->ufd >= 0 && send_all(pc->ufd, req.raw, req.len);
        free(req.raw);
        if (ok) COUNT(p, forwarded);
        int rr = 0;
        while (ok) {   /* skip interim 1xx answers, relaying them */
            rr = read_message(&ur, true, &resp);
            if (rr <= 0 || resp.status / 100 != 1) break;
            ok = send_all(pc->cfd, resp.raw, resp.len);
            free(resp.raw);
            resp.raw = NULL;
        }
        if (!ok || rr <= 0) {
            free(resp.raw);
            COUNT(p, upstream_errors);
            const char *bad = "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            send_all(pc->cfd, bad, strlen(bad));
            break;
        }
        if (fault == F_DROP_RESP || ((fault == F_TRUNCATE || fault == F_RESET) && resp.len < 2)) {
            COUNT(p, drop_response);
            free(resp.raw);
            break;
        }
        if (fault == F_TRUNCATE || fault == F_RESET) {
            size_t n = 1 + (size_t)(cut * (double)(resp.len - 1));
            if (n >= resp.len) n = resp.len - 1;
            send_all(pc->cfd, resp.raw, n);
            free(resp.raw);
            if (fault == F_TRUNCATE) {
                COUNT(p, truncate);
                shutdown(pc->cfd, SHUT_WR);
            } else {
                COUNT(p, reset);
                pthread_mutex_lock(&p->lock);
                reset_close(pc->cfd);
                pc->cfd = -1;
                pthread_mutex_unlock(&p->lock);
            }
            break;
        }
        /* counted before the send: a client that has its answer must find it counted (tests read
         * the stats right after a call returns); taken back if the client is gone */
        COUNT(p, answered);
        bool sent = send_all(pc->cfd, resp.raw, resp.len);
        bool close_after = resp.close_after;
        free(resp.raw);
        if (!sent) {
            pthread_mutex_lock(&p->lock);
            p->st.answered--;
            pthread_mutex_unlock(&p->lock);
            break;
        }
        if (close_after) break;
    }
    tk_buf_free(&cr.b);
    tk_buf_free(&ur.b);
    pthread_mutex_lock(&p->lock);
    if (pc->cfd >= 0) close(pc->cfd);
    if (pc->ufd >= 0) close(pc->ufd);
    pc->cfd = pc->ufd = -1;
    pc->done = true;
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* Join and free finished connection threads. */
static void reap(tk_faultproxy *p, bool all) {
    for (;;) {
        pconn *found = NULL;
        pthread_mutex_lock(&p->lock);
        for (pconn **pp = &p->conns; *pp; pp = &(*pp)->next) {
            if ((*pp)->done || all) {
                found = *pp;
                *pp = found->next;
                break;
            }
        }
        pthread_mutex_unlock(&p->lock);
        if (!found) return;
        tk_thread_join(&found->th);
        free(found);
    }
}

static void *accept_main(void *arg) {
    tk_faultproxy *p = arg;
    for (;;) {
        struct pollfd fds[2] = {{p->lfd, POLLIN, 0}, {p->wake[0], POLLIN, 0}};
        int n = poll(fds, 2, 1000);
        if (stopping(p)) break;
        reap(p, false);
        if (n <= 0 || !(fds[0].revents & POLLIN)) continue;
        int cfd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (cfd < 0) continue;
        int one = 1;
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pconn *pc = calloc(1, sizeof *pc);
        if (!pc) {
            close(cfd);
            continue;
        }
        pc->cfd = cfd;
        pc->ufd = -1;
        pc->p = p;
        pthread_mutex_lock(&p->lock);
        if (p->stopping) {   /* stop() has already shut the others down */
            pthread_mutex_unlock(&p->lock);
            close(cfd);
            free(pc);
            break;
        }
        p->st.connections++;
        pc->next = p->conns;
        p->conns = pc;
        pthread_mutex_unlock(&p->lock);
        if (tk_thread_start(&pc->th, conn_main, pc, NULL)) {
            pthread_mutex_lock(&p->lock);
            p->conns = pc->next;
            pthread_mutex_unlock(&p->lock);
            close(cfd);
            free(pc);
        }
    }
    return NULL;
}

int tk_faultproxy_start(const tk_faultproxy_config *cfg, tk_faultproxy **out, tk_err *e) {
    *out = NULL;
    double sum = cfg->p_drop_request + cfg->p_drop_response + cfg->p_status + cfg->p_truncate +
                 cfg->p_reset + cfg->p_delay;
    if (!(sum <= 1.0 + 1e-12) || cfg->p_drop_request < 0 || cfg->p_drop_response < 0 ||
        cfg->p_status < 0 || cfg->p_truncate < 0 || cfg->p_reset < 0 || cfg->p_delay < 0)
        return tk_err_set(e, TK_EINVAL, "faultproxy: probabilities must be >= 0 and sum to <= 1 "
                          "(sum %g)", sum);
    if (!cfg->target_host || cfg->target_port <= 0 || cfg->target_port > 65535)
        return tk_err_set(e, TK_EINVAL, "faultproxy: bad target");
    tk_faultproxy *p = calloc(1, sizeof *p);
    if (!p) return tk_err_set(e, TK_ENOMEM, "faultproxy: out of memory");
    p->cfg = *cfg;
    tk_rng_seed(&p->rng, cfg->seed);
    pthread_mutex_init(&p->lock, NULL);
    p->wake[0] = p->wake[1] = -1;
    p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)cfg->listen_port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    socklen_t sl = sizeof sa;
    if (p->lfd < 0 || setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        bind(p->lfd, (struct sockaddr *)&sa, sizeof sa) || listen(p->lfd, 128) ||
        getsockname(p->lfd, (struct sockaddr *)&sa, &sl) || pipe2(p->wake, O_CLOEXEC)) {
        int err = errno;
        tk_faultproxy_stop(p);
        return tk_err_set(e, TK_EIO, "faultproxy: listen on 127.0.0.1:%d: %s", cfg->listen_port,
                          strerror(err));
    }
    p->port = ntohs(sa.sin_port);
    if (tk_thread_start(&p->acceptor, accept_main, p, e)) {
        close(p->lfd);
        p->lfd = -1;
        tk_faultproxy_stop(p);
        return TK_EINTERNAL;
    }
    *out = p;
    return 0;
}

int tk_faultproxy_port(const tk_faultproxy *p) { return p->port; }

tk_faultproxy_stats tk_faultproxy_get_stats(tk_faultproxy *p) {
    pthread_mutex_lock(&p->lock);
    tk_faultproxy_stats s = p->st;
    pthread_mutex_unlock(&p->lock);
    return s;
}

void tk_faultproxy_stop(tk_faultproxy *p) {
    if (!p) return;
    bool running = p->lfd >= 0 && p->wake[1] >= 0 && p->port;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    for (pconn *c = p->conns; c; c = c->next) {   /* unblock their recv/send */
        if (c->cfd >= 0) shutdown(c->cfd, SHUT_RDWR);
        if (c->ufd >= 0) shutdown(c->ufd, SHUT_RDWR);
    }
    pthread_mutex_unlock(&p->lock);
    if (running) {
        if (write(p->wake[1], "x", 1) < 0) {}
        tk_thread_join(&p->acceptor);
    }
    reap(p, true);
    if (p->lfd >= 0) close(p->lfd);
    if (p->wake[0] >= 0) close(p->wake[0]);
    if (p->wake[1] >= 0) close(p->wake[1]);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
