/* The skeleton of the benchmarks' lean loopback server: a listening socket on 127.0.0.1, one
 * detached thread per connection running `conn((void *)(intptr_t)fd)`, and send_all. Each
 * benchmark writes its own conn (what it reads and answers). Include once per benchmark. */
#ifndef TK_BENCH_CLIENT_LEAN_SERVER_H
#define TK_BENCH_CLIENT_LEAN_SERVER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

static bool send_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

typedef struct lean_listener {
    int fd;
    void *(*conn)(void *);
} lean_listener;

static void *lean_accept(void *arg) {
    lean_listener *l = arg;
    for (;;) {
        int fd = accept(l->fd, NULL, NULL);
        if (fd < 0) return NULL;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_t t;
        if (pthread_create(&t, NULL, l->conn, (void *)(intptr_t)fd) == 0) pthread_detach(t);
        else close(fd);
    }
}

/* Start serving with `conn` per connection; returns the port, or -1. Runs until the process ends. */
static int lean_start(void *(*conn)(void *)) {
    static lean_listener l;
    l.fd = socket(AF_INET, SOCK_STREAM, 0);
    l.conn = conn;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    if (l.fd < 0 || bind(l.fd, (struct sockaddr *)&sa, sizeof sa) || listen(l.fd, 64) ||
        getsockname(l.fd, (struct sockaddr *)&sa, &sl))
        return -1;
    pthread_t t;
    if (pthread_create(&t, NULL, lean_accept, &l)) return -1;
    pthread_detach(t);
    return ntohs(sa.sin_port);
}

#endif
