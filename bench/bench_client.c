/* bench_client: the bench/ harness's own small load driver (one thread, epoll).
 *
 * echo-probe drives the ping-pong and connection-rate scenarios; this driver
 * covers what echo-probe has no mode for, and stands in for it when it is not
 * built (BENCH_DRIVER=builtin):
 *   stream    bulk streaming: each connection keeps up to --window bytes in
 *             flight, writing and reading at once (not ping-pong)
 *   idle      open N connections, echo one message on each, then hold them
 *             silent; prints "ready N" on stdout and waits for stdin to close
 *   pingpong  closed-loop ping-pong, one message in flight per connection
 *   newconn   connect, send, receive the echo, close, repeat (-n: connections per slot)
 * --tls runs pingpong, stream and newconn over TLS 1.3 (OpenSSL 3): each connection does a
 * full handshake first (no session cache, no resumption: the tickets the server sends are
 * read and dropped; the certificate is not verified, the CertificateVerify signature is),
 * and newconn sends close_notify before it closes, so newconn --tls measures handshakes.
 * Every echoed byte is verified. Output: one JSON object on stdout with the
 * keys echo-probe uses (msgs_per_sec, bytes_per_sec, latency_us{...}, ...).
 *
 * Usage: bench_client MODE [-c N] [-s BYTES] [-d SECONDS] [-n COUNT]
 *                          [--window BYTES] [--tls] HOST:PORT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { kPeriod = 65521, kMaxMsg = 1 << 20, kBuckets = 40 * 64 };

/* The payload at stream offset o of connection i is pattern[(i * 977 + o) % kPeriod]. */
static unsigned char pattern[kPeriod + kMaxMsg];
static unsigned char rbuf[kMaxMsg];

/* Log-linear latency histogram in ns: 64 sub-buckets per power of two (~1.6%). */
static uint64_t hist[kBuckets];
static uint64_t lat_count, lat_sum_ns, lat_min = UINT64_MAX, lat_max;

static int bucket_of(uint64_t v) {
  if (v < 64) return (int)v;
  int e = 63 - __builtin_clzll(v);
  int idx = (e - 5) * 64 + (int)((v >> (e - 6)) & 63);
  return idx < kBuckets ? idx : kBuckets - 1;
}
static uint64_t bucket_value(int idx) {
  if (idx < 64) return (uint64_t)idx;
  int e = idx / 64 + 5;
  return (uint64_t)(64 + idx % 64) << (e - 6);
}
static void record(uint64_t ns) {
  hist[bucket_of(ns)]++;
  lat_count++;
  lat_sum_ns += ns;
  if (ns < lat_min) lat_min = ns;
  if (ns > lat_max) lat_max = ns;
}
static double percentile_us(double q) {
  if (!lat_count) return 0;
  uint64_t want = (uint64_t)(q * (double)lat_count), seen = 0;
  if (want >= lat_count) want = lat_count - 1;
  for (int i = 0; i < kBuckets; i++) {
    seen += hist[i];
    if (seen > want) return (double)bucket_value(i) / 1000.0;
  }
  return (double)lat_max / 1000.0;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct conn {
  int fd, id;
  uint64_t sent_off, recv_off; /* stream offsets */
  uint64_t msg_end;            /* ping-pong: stream offset where the current message ends */
  uint64_t started_ns;
  uint64_t msgs;
  int connected;
  SSL *ssl;    /* --tls only */
  int hs_done; /* --tls: handshake finished */
};

static struct sockaddr_in target;
static size_t msg_size = 64;
static uint64_t window = 1 << 20;
static uint64_t count_limit; /* messages per connection, 0 = none */
static uint64_t total_msgs, total_bytes, errors, mismatches;
static int ep;
static SSL_CTX *tls_ctx; /* --tls */
static uint64_t handshakes, resumed;
static char tls_protocol[32], tls_cipher[64], tls_group[32];

static const unsigned char *pat_at(const struct conn *c, uint64_t off) {
  return pattern + ((uint64_t)c->id * 977u + off) % kPeriod;
}

static void fail(const char *what) {
  perror(what);
  exit(1);
}

static int open_conn(int blocking) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (blocking ? 0 : SOCK_NONBLOCK), 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr *)&target, sizeof target) < 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  return fd;
}

static void watch(struct conn *c) {
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) fail("epoll_ctl");
}

/* --tls: 0 when OpenSSL waits for the socket (the next edge), -1 when the connection failed. */
static int tls_wait(struct conn *c, int r) {
  int e = SSL_get_error(c->ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
  ERR_clear_error();
  return -1;
}

/* Writes [sent_off, limit) of the connection's stream. Returns -1 on error. A TLS write
 * blocked mid-record is retried with the same pointer and at least the same length. */
static int send_upto(struct conn *c, uint64_t limit) {
  while (c->sent_off < limit) {
    size_t len = (size_t)(limit - c->sent_off);
    if (len > kMaxMsg) len = kMaxMsg;
    ssize_t n;
    if (c->ssl) {
      int w = SSL_write(c->ssl, pat_at(c, c->sent_off), (int)len);
      if (w <= 0) return tls_wait(c, w);
      n = w;
    } else {
      n = write(c->fd, pat_at(c, c->sent_off), len);
    }
    if (n < 0) return errno == EAGAIN ? 0 : -1;
    c->sent_off += (uint64_t)n;
  }
  return 0;
}

/* Reads what has arrived, up to `limit`; verifies it. Returns bytes read, -1 on error/EOF. */
static long recv_upto(struct conn *c, uint64_t limit) {
  long got = 0;
  while (c->recv_off < limit) {
    size_t want = (size_t)(limit - c->recv_off);
    if (want > sizeof rbuf) want = sizeof rbuf;
    ssize_t n;
    if (c->ssl) {
      int r = SSL_read(c->ssl, rbuf, (int)want);
      if (r <= 0) return tls_wait(c, r) == 0 ? got : -1;
      n = r;
    } else {
      n = read(c->fd, rbuf, want);
      if (n == 0) return -1;
      if (n < 0) return errno == EAGAIN ? got : -1;
    }
    if (memcmp(rbuf, pat_at(c, c->recv_off), (size_t)n) != 0) {
      mismatches++;
      return -1;
    }
    c->recv_off += (uint64_t)n;
    got += n;
    /* A short read means the receive queue is empty; TLS hands out a record at a time. */
    if ((size_t)n < want && !c->ssl) break;
  }
  return got;
}

static void start_message(struct conn *c) {
  c->msg_end = c->sent_off + msg_size;
  c->started_ns = now_ns();
  if (send_upto(c, c->msg_end) < 0) errors++;
}

/* --tls: advances the handshake. Returns 1 finished, 0 waiting, -1 failed. */
static int handshake(struct conn *c) {
  int r = SSL_connect(c->ssl);
  if (r != 1) return tls_wait(c, r);
  c->hs_done = 1;
  handshakes++;
  if (SSL_session_reused(c->ssl)) resumed++;
  if (!tls_cipher[0]) {
    snprintf(tls_protocol, sizeof tls_protocol, "%s", SSL_get_version(c->ssl));
    snprintf(tls_cipher, sizeof tls_cipher, "%s", SSL_get_cipher_name(c->ssl));
    const char *g = OBJ_nid2sn(SSL_get_negotiated_group(c->ssl) & ~TLSEXT_nid_unknown);
    snprintf(tls_group, sizeof tls_group, "%s", g ? g : "?");
  }
  return 1;
}

/* ping-pong and newconn: returns 1 when the connection is finished. */
static int on_pingpong(struct conn *c, int fresh_each) {
  if (send_upto(c, c->msg_end) < 0) return errors++, 1;
  long r = recv_upto(c, c->msg_end);
  if (r < 0) return errors++, 1;
  if (c->recv_off < c->msg_end) return 0;
  record(now_ns() - c->started_ns);
  total_msgs++;
  total_bytes += msg_size;
  c->msgs++;
  if (fresh_each) return 1;
  if (count_limit && c->msgs >= count_limit) return 1;
  start_message(c);
  return 0;
}

static int on_stream(struct conn *c) {
  for (;;) {
    uint64_t before_s = c->sent_off, before_r = c->recv_off;
    if (send_upto(c, c->recv_off + window) < 0) return errors++, 1;
    long r = recv_upto(c, c->sent_off);
    if (r < 0) return errors++, 1;
    uint64_t done_msgs = c->recv_off / msg_size - before_r / msg_size;
    total_msgs += done_msgs;
    total_bytes += (uint64_t)r;
    if (c->sent_off == before_s && c->recv_off == before_r) return 0;
  }
}

/* Opens connection c (its id set) and starts it: plain ping-pong sends its first message at
 * once; TLS starts the handshake clock and sends after SSL_connect finishes. */
static void begin(struct conn *c, int is_stream) {
  c->fd = open_conn(0);
  if (c->fd < 0) fail("connect");
  if (tls_ctx) {
    c->ssl = SSL_new(tls_ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) fail("SSL_new");
    SSL_set_connect_state(c->ssl);
    c->started_ns = now_ns();
    watch(c);
    return;
  }
  watch(c);
  if (!is_stream) start_message(c);
}

/* Closes c: a finished TLS connection says close_notify first (one try, non-blocking). */
static void finish(struct conn *c, int ok) {
  if (c->ssl) {
    if (ok && c->hs_done) SSL_shutdown(c->ssl);
    SSL_free(c->ssl);
    c->ssl = NULL;
  }
  close(c->fd);
  c->fd = -1;
}

static void print_json(const char *mode, int conns, double secs) {
  if (tls_ctx)
    printf("{\"tls\":true,\"tls_protocol\":\"%s\",\"tls_cipher\":\"%s\",\"tls_group\":\"%s\","
           "\"handshakes\":%llu,\"resumed\":%llu,", tls_protocol, tls_cipher, tls_group,
           (unsigned long long)handshakes, (unsigned long long)resumed);
  else
    printf("{");
  printf("\"driver\":\"bench_client\",\"mode\":\"%s\",\"connections\":%d,\"size\":%zu,"
         "\"received\":%llu,\"errors\":%llu,\"mismatches\":%llu,\"duration_s\":%.3f,"
         "\"msgs_per_sec\":%.1f,\"bytes_per_sec\":%.1f,\"latency_us\":{\"min\":%.1f,"
         "\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f,\"mean\":%.1f}}\n",
         mode, conns, msg_size, (unsigned long long)total_msgs, (unsigned long long)errors,
         (unsigned long long)mismatches, secs, secs > 0 ? (double)total_msgs / secs : 0,
         secs > 0 ? (double)total_bytes / secs : 0,
         lat_count ? (double)lat_min / 1000.0 : 0, percentile_us(0.5), percentile_us(0.9),
         percentile_us(0.99), percentile_us(0.999), (double)lat_max / 1000.0,
         lat_count ? (double)lat_sum_ns / (double)lat_count / 1000.0 : 0);
}

static int run_idle(int conns) {
  struct conn c = {0};
  int opened = 0;
  for (int i = 0; i < conns; i++) {
    int fd = open_conn(1);
    if (fd < 0) {
      fprintf(stderr, "bench_client: connection %d: %s\n", i, strerror(errno));
      break;
    }
    c.fd = fd;
    c.id = i;
    c.sent_off = c.recv_off = 0;
    /* One echoed message first, so servers that allocate on first read show it. */
    if (send_upto(&c, msg_size) < 0) fail("write");
    while (c.recv_off < msg_size)
      if (recv_upto(&c, msg_size) < 0) fail("read");
    opened++;
  }
  printf("ready %d\n", opened);
  fflush(stdout);
  char b;
  while (read(0, &b, 1) > 0) {
  }
  return opened == conns ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr,
            "usage: %s stream|idle|pingpong|newconn [-c N] [-s BYTES] [-d SECONDS] "
            "[-n COUNT] [--window BYTES] HOST:PORT\n", argv[0]);
    return 2;
  }
  const char *mode = argv[1];
  int conns = 1, use_tls = 0;
  double duration = 0;
  const char *addr = NULL;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-c") && i + 1 < argc) conns = atoi(argv[++i]);
    else if (!strcmp(a, "-s") && i + 1 < argc) msg_size = strtoul(argv[++i], NULL, 10);
    else if (!strcmp(a, "-d") && i + 1 < argc) duration = atof(argv[++i]);
    else if (!strcmp(a, "-n") && i + 1 < argc) count_limit = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(a, "--window") && i + 1 < argc) window = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(a, "--tls")) use_tls = 1;
    else addr = a;
  }
  const char *colon = addr ? strrchr(addr, ':') : NULL;
  if (!colon || conns < 1 || msg_size < 1 || msg_size > kMaxMsg) {
    fprintf(stderr, "bench_client: bad arguments\n");
    return 2;
  }
  char host[64];
  snprintf(host, sizeof host, "%.*s", (int)(colon - addr), addr);
  target.sin_family = AF_INET;
  target.sin_port = htons((uint16_t)atoi(colon + 1));
  if (inet_pton(AF_INET, host, &target.sin_addr) != 1) {
    fprintf(stderr, "bench_client: bad address %s\n", addr);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  for (size_t i = 0; i < sizeof pattern; i++)
    pattern[i] = (unsigned char)(((i % kPeriod) * 2654435761u) >> 13);

  if (use_tls) {
    tls_ctx = SSL_CTX_new(TLS_client_method());
    if (!tls_ctx) fail("SSL_CTX_new");
    SSL_CTX_set_min_proto_version(tls_ctx, TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(tls_ctx, TLS1_3_VERSION);
    SSL_CTX_set_mode(tls_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_session_cache_mode(tls_ctx, SSL_SESS_CACHE_OFF); /* every handshake full */
    SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL);
    if (!strcmp(mode, "idle")) {
      fprintf(stderr, "bench_client: idle has no --tls mode\n");
      return 2;
    }
  }
  if (!strcmp(mode, "idle")) return run_idle(conns);
  int is_stream = !strcmp(mode, "stream"), is_new = !strcmp(mode, "newconn");
  if (!is_stream && !is_new && strcmp(mode, "pingpong") != 0) {
    fprintf(stderr, "bench_client: unknown mode %s\n", mode);
    return 2;
  }
  /* newconn -n COUNT: COUNT connections per slot, then stop (fixed work for bench.py cost). */
  if (duration <= 0 && (is_stream || !count_limit)) duration = 5;

  ep = epoll_create1(EPOLL_CLOEXEC);
  struct conn *cs = calloc((size_t)conns, sizeof *cs);
  uint64_t start = now_ns(), deadline = duration > 0 ? start + (uint64_t)(duration * 1e9) : 0;
  int live = 0;
  for (int i = 0; i < conns; i++) {
    cs[i].id = i;
    begin(&cs[i], is_stream);
    live++;
  }
  struct epoll_event evs[256];
  uint64_t next_id = (uint64_t)conns;
  while (live > 0) {
    int n = epoll_wait(ep, evs, 256, 100);
    if (n < 0 && errno != EINTR) fail("epoll_wait");
    for (int i = 0; i < n; i++) {
      struct conn *c = evs[i].data.ptr;
      if (c->fd < 0) continue;
      int finished = 0;
      uint64_t errors_before = errors;
      if (c->ssl && !c->hs_done) {
        int h = handshake(c);
        if (h == 0) continue;
        if (h < 0) {
          errors++;
          finished = 1;
        } else if (is_new) {
          c->msg_end = msg_size; /* latency: connect to echo, handshake included */
        } else if (!is_stream) {
          start_message(c);
        }
      }
      if (!finished) finished = is_stream ? on_stream(c) : on_pingpong(c, is_new);
      if (!finished) continue;
      finish(c, errors == errors_before);
      if (is_new && !errors && (!deadline || now_ns() < deadline) &&
          (!count_limit || next_id < (uint64_t)conns * count_limit)) {
        memset(c, 0, sizeof *c);
        c->id = (int)(next_id++ % 100000);
        begin(c, 0);
      } else {
        live--;
      }
    }
    if (deadline && now_ns() >= deadline) break;
  }
  double secs = (double)(now_ns() - start) / 1e9;
  print_json(mode, conns, secs);
  return errors || mismatches ? 1 : 0;
}
