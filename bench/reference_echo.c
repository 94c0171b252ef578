/* reference_echo: the smallest correct edge-triggered epoll echo server.
 *
 * The yardstick for bench/: one thread, SO_REUSEPORT, TCP_NODELAY, one 64 KiB
 * read buffer shared by every connection, and per connection nothing at all
 * unless the peer stops reading: then the unsent tail is kept and reading from
 * that connection pauses until the tail drains (backpressure).
 *
 * Usage: reference_echo [--port N] [--host A.B.C.D]
 *   --port 0 (the default) binds an ephemeral port; the bound port is printed
 *   on stdout as "port N". SIGTERM/SIGINT exit 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { kReadBuf = 64 * 1024, kMaxEvents = 256 };

/* An unsent tail: only connections whose peer is not reading have one. */
struct tail {
  size_t len, off;
  char data[];
};

static struct tail **tails; /* indexed by fd; grown only when a tail is kept */
static size_t tails_cap;
static volatile sig_atomic_t stopping;
static char buf[kReadBuf];

static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
}

static int keep_tail(int fd, const char *p, size_t len) {
  if ((size_t)fd >= tails_cap) {
    size_t cap = tails_cap ? tails_cap : 1024;
    while (cap <= (size_t)fd) cap *= 2;
    struct tail **t = realloc(tails, cap * sizeof *t);
    if (!t) return -1;
    memset(t + tails_cap, 0, (cap - tails_cap) * sizeof *t);
    tails = t;
    tails_cap = cap;
  }
  struct tail *t = malloc(sizeof *t + len);
  if (!t) return -1;
  t->len = len;
  t->off = 0;
  memcpy(t->data, p, len);
  tails[fd] = t;
  return 0;
}

static void close_conn(int fd) {
  if ((size_t)fd < tails_cap && tails[fd]) {
    free(tails[fd]);
    tails[fd] = NULL;
  }
  close(fd); /* also removes fd from the epoll set */
}

/* Writes what is left of fd's tail. Returns 1 drained, 0 still pending, -1 error. */
static int flush_tail(int fd) {
  struct tail *t = tails[fd];
  while (t->off < t->len) {
    ssize_t n = write(fd, t->data + t->off, t->len - t->off);
    if (n < 0) return errno == EAGAIN ? 0 : -1;
    t->off += (size_t)n;
  }
  free(t);
  tails[fd] = NULL;
  return 1;
}

/* Reads and echoes until the socket is drained, the peer stops reading
 * (tail kept, reading paused) or the connection ends. Returns -1 to close. */
static int echo(int fd) {
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n == 0) return -1;
    if (n < 0) return errno == EAGAIN ? 0 : -1;
    size_t off = 0;
    while (off < (size_t)n) {
      ssize_t w = write(fd, buf + off, (size_t)n - off);
      if (w < 0) {
        if (errno != EAGAIN) return -1;
        return keep_tail(fd, buf + off, (size_t)n - off);
      }
      off += (size_t)w;
    }
    /* A short read on a stream socket means its queue was empty: with edge
     * triggering the next arrival raises a new edge, so skip the EAGAIN read. */
    if ((size_t)n < sizeof buf) return 0;
  }
}

static void accept_all(int lfd, int ep) {
  for (;;) {
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return; /* EAGAIN, or EMFILE and friends: try on the next edge */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* IN and OUT once, edge-triggered: no epoll_ctl ever again for this fd. */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.fd = fd};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) close(fd);
  }
}

int main(int argc, char **argv) {
  int port = 0;
  const char *host = "127.0.0.1";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--port") && i + 1 < argc) {
      port = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--host") && i + 1 < argc) {
      host = argv[++i];
    } else {
      fprintf(stderr, "usage: %s [--port N] [--host ADDR]\n", argv[0]);
      return 2;
    }
  }
  struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: EINTR ends epoll_wait */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
    fprintf(stderr, "bad --host %s\n", host);
    return 2;
  }
  if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 4096) < 0) {
    perror("bind/listen");
    return 1;
  }
  socklen_t alen = sizeof addr;
  getsockname(lfd, (struct sockaddr *)&addr, &alen);
  printf("port %d\n", ntohs(addr.sin_port));
  fflush(stdout);

  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event lev = {.events = EPOLLIN | EPOLLET, .data.fd = lfd};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);

  struct epoll_event evs[kMaxEvents];
  while (!stopping) {
    int n = epoll_wait(ep, evs, kMaxEvents, -1);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == lfd) {
        accept_all(lfd, ep);
        continue;
      }
      int r = 0;
      if ((size_t)fd < tails_cap && tails[fd]) {
        r = flush_tail(fd); /* paused: only the drained tail resumes reading */
        if (r == 1) r = echo(fd);
      } else if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        r = echo(fd);
      }
      if (r < 0) close_conn(fd);
    }
  }
  return 0;
}
