/* reference_tls_echo: the smallest correct TLS echo server on OpenSSL 3 (issue 12).
 *
 * The yardstick for bench/'s TLS scenarios, built like reference_echo: one thread,
 * edge-triggered epoll, SO_REUSEPORT, TCP_NODELAY, one 64 KiB plaintext buffer shared by
 * every connection. Per connection: the SSL object, and an unsent plaintext tail only when
 * the peer stops reading (then reading from that connection pauses until it drains).
 * Each connection runs SSL_accept -> SSL_read/SSL_write -> SSL_shutdown; WANT_READ and
 * WANT_WRITE wait for the next edge (both are watched, once, for the connection's life).
 * OpenSSL's defaults otherwise: no tuning echod could not do too (no session cache changes,
 * default TLS 1.3 tickets and cipher order). Partial writes and a moving write buffer let a
 * blocked SSL_write be retried from the tail. A client's close_notify gets every byte it sent
 * back (they were echoed before the next read), then ours, then close.
 *
 * Usage: reference_tls_echo --cert FILE --key FILE [--port N] [--host A.B.C.D]
 *                           [--min-version 1.2|1.3] [--release-buffers]
 *   --port 0 (the default) binds an ephemeral port, printed on stdout as "port N".
 *   --release-buffers sets SSL_MODE_RELEASE_BUFFERS (echod does; off by default: it trades
 *   a malloc/free per record burst for 2 x 16 KiB less per idle connection).
 *   SIGTERM/SIGINT exit 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { kReadBuf = 64 * 1024, kMaxEvents = 256 };

struct conn {
  SSL *ssl;
  int accepted; /* handshake finished */
  int closing;  /* the client's close_notify arrived: ours is being sent */
  size_t len, off;
  char *tail; /* unsent plaintext, only while the peer is not reading */
};

static struct conn **conns; /* indexed by fd */
static size_t conns_cap;
static volatile sig_atomic_t stopping;
static char buf[kReadBuf];

static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
}

/* 0 when the call only has to wait for the socket (next edge), -1 when the connection ends. */
static int wait_or_fail(SSL *ssl, int r) {
  int e = SSL_get_error(ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
  ERR_clear_error(); /* the queue is per thread: a failed connection must not taint the next */
  return -1;
}

static void close_conn(int fd) {
  struct conn *c = conns[fd];
  SSL_free(c->ssl);
  free(c->tail);
  free(c);
  conns[fd] = NULL;
  close(fd); /* also removes fd from the epoll set */
}

/* Our close_notify, the client's being in. Returns 0 to wait, -1 to close. */
static int shut_down(struct conn *c) {
  c->closing = 1;
  int r = SSL_shutdown(c->ssl);
  return r < 0 ? wait_or_fail(c->ssl, r) : -1;
}

/* Writes what is left of the tail (from its own buffer: the write buffer moved). Returns
 * 1 drained, 0 still pending, -1 error. */
static int flush_tail(struct conn *c) {
  while (c->off < c->len) {
    int w = SSL_write(c->ssl, c->tail + c->off, (int)(c->len - c->off));
    if (w <= 0) return wait_or_fail(c->ssl, w);
    c->off += (size_t)w;
  }
  free(c->tail);
  c->tail = NULL;
  return 1;
}

/* Reads and echoes until OpenSSL wants the socket, the peer stops reading (tail kept,
 * reading paused) or the connection ends. Returns 0 to wait, -1 to close. TLS hands out
 * one record at a time, so there is no short-read shortcut: read until WANT_READ. */
static int echo(struct conn *c) {
  for (;;) {
    int n = SSL_read(c->ssl, buf, sizeof buf);
    if (n <= 0) {
      if (SSL_get_error(c->ssl, n) == SSL_ERROR_ZERO_RETURN) return shut_down(c);
      return wait_or_fail(c->ssl, n);
    }
    int off = 0;
    while (off < n) {
      int w = SSL_write(c->ssl, buf + off, n - off);
      if (w <= 0) {
        if (wait_or_fail(c->ssl, w) < 0) return -1;
        c->tail = malloc((size_t)(n - off));
        if (!c->tail) return -1;
        memcpy(c->tail, buf + off, (size_t)(n - off));
        c->len = (size_t)(n - off);
        c->off = 0;
        return 0;
      }
      off += w;
    }
  }
}

/* Advances one connection as far as the socket allows. Returns -1 to close. */
static int drive(struct conn *c) {
  if (!c->accepted) {
    int r = SSL_accept(c->ssl);
    if (r != 1) return wait_or_fail(c->ssl, r);
    c->accepted = 1;
  }
  if (c->closing) return shut_down(c);
  if (c->tail) {
    int r = flush_tail(c); /* paused: only the drained tail resumes reading */
    if (r <= 0) return r;
  }
  return echo(c);
}

static void accept_all(int lfd, int ep, SSL_CTX *ctx) {
  for (;;) {
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return; /* EAGAIN, or EMFILE and friends: try on the next edge */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if ((size_t)fd >= conns_cap) {
      size_t cap = conns_cap ? conns_cap : 1024;
      while (cap <= (size_t)fd) cap *= 2;
      struct conn **t = realloc(conns, cap * sizeof *t);
      if (!t) {
        close(fd);
        continue;
      }
      memset(t + conns_cap, 0, (cap - conns_cap) * sizeof *t);
      conns = t;
      conns_cap = cap;
    }
    struct conn *c = calloc(1, sizeof *c);
    SSL *ssl = c ? SSL_new(ctx) : NULL;
    if (!ssl || SSL_set_fd(ssl, fd) != 1) {
      SSL_free(ssl);
      free(c);
      close(fd);
      continue;
    }
    SSL_set_accept_state(ssl);
    c->ssl = ssl;
    conns[fd] = c;
    /* IN and OUT once, edge-triggered: the handshake needs both, and no epoll_ctl follows. */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.fd = fd};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) close_conn(fd);
  }
}

int main(int argc, char **argv) {
  int port = 0, min13 = 0, release = 0;
  const char *host = "127.0.0.1", *cert = NULL, *key = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--port") && i + 1 < argc) {
      port = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--host") && i + 1 < argc) {
      host = argv[++i];
    } else if (!strcmp(argv[i], "--cert") && i + 1 < argc) {
      cert = argv[++i];
    } else if (!strcmp(argv[i], "--key") && i + 1 < argc) {
      key = argv[++i];
    } else if (!strcmp(argv[i], "--min-version") && i + 1 < argc) {
      min13 = !strcmp(argv[++i], "1.3");
    } else if (!strcmp(argv[i], "--release-buffers")) {
      release = 1;
    } else {
      cert = NULL;
      break;
    }
  }
  if (!cert || !key) {
    fprintf(stderr, "usage: %s --cert FILE --key FILE [--port N] [--host ADDR] "
            "[--min-version 1.2|1.3] [--release-buffers]\n", argv[0]);
    return 2;
  }
  struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: EINTR ends epoll_wait */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) return 1;
  SSL_CTX_set_min_proto_version(ctx, min13 ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            (release ? SSL_MODE_RELEASE_BUFFERS : 0));
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    ERR_print_errors_fp(stderr);
    return 1;
  }

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
        accept_all(lfd, ep, ctx);
        continue;
      }
      struct conn *c = conns[fd];
      if (!c) continue;
      /* A bare writable edge matters only to a connection that waits to write. */
      if (evs[i].events == EPOLLOUT && c->accepted && !c->tail && !c->closing &&
          SSL_want(c->ssl) != SSL_WRITING)
        continue;
      if (drive(c) < 0) close_conn(fd);
    }
  }
  SSL_CTX_free(ctx);
  return 0;
}
