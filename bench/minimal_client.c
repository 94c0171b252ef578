/* minimal_client: the smallest honest epoll ping-pong client, a yardstick for echo-probe.
 *
 *   minimal_client HOST_IPV4 PORT CONNECTIONS SIZE SECONDS
 *
 * One thread, CONNECTIONS non-blocking TCP_NODELAY sockets, each sending a SIZE-byte
 * message and waiting for all of it to come back before sending the next (closed loop).
 * No verification beyond counting bytes. Prints one line:
 *   minimal_client msgs=N secs=S msgs_per_sec=R p50_us=P
 * p50 comes from a 1-microsecond linear histogram (up to 1 s). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_US 1000000

struct conn {
  int fd;
  size_t got;       /* bytes of the current echo received */
  int64_t sent_ns;  /* when the current message went out */
};

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: %s HOST_IPV4 PORT CONNECTIONS SIZE SECONDS\n", argv[0]);
    return 2;
  }
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)atoi(argv[2]));
  if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) die("inet_pton");
  const int nconn = atoi(argv[3]);
  const size_t size = (size_t)atol(argv[4]);
  const double seconds = atof(argv[5]);
  if (nconn < 1 || size < 1 || seconds <= 0) return 2;

  char *msg = malloc(size);
  char *buf = malloc(65536);
  uint64_t *hist = calloc(MAX_US + 1, sizeof *hist);
  struct conn *conns = calloc((size_t)nconn, sizeof *conns);
  if (!msg || !buf || !hist || !conns) die("malloc");
  for (size_t i = 0; i < size; ++i) msg[i] = (char)(i * 31 + 7);

  const int ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1");
  for (int i = 0; i < nconn; ++i) {
    /* Blocking connect keeps this minimal; then switch to non-blocking. */
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) die("connect");
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) die("epoll_ctl");
    conns[i].fd = fd;
  }

  const int64_t start = now_ns();
  const int64_t end = start + (int64_t)(seconds * 1e9);
  for (int i = 0; i < nconn; ++i) {
    conns[i].sent_ns = now_ns();
    if (write(conns[i].fd, msg, size) != (ssize_t)size) die("write");
  }
  uint64_t msgs = 0;
  int live = nconn;
  struct epoll_event events[256];
  while (live > 0) {
    const int n = epoll_wait(ep, events, 256, 100);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    const int64_t now = now_ns();
    for (int e = 0; e < n; ++e) {
      struct conn *c = &conns[events[e].data.u32];
      const ssize_t r = read(c->fd, buf, 65536);
      if (r <= 0) die("read");
      c->got += (size_t)r;
      if (c->got < size) continue;
      c->got = 0;
      ++msgs;
      int64_t us = (now - c->sent_ns) / 1000;
      hist[us > MAX_US ? MAX_US : us]++;
      if (now >= end) {
        close(c->fd);
        --live;
        continue;
      }
      c->sent_ns = now_ns();
      if (write(c->fd, msg, size) != (ssize_t)size) die("write");
    }
  }
  const double secs = (double)(now_ns() - start) / 1e9;
  uint64_t seen = 0;
  int p50 = 0;
  for (int us = 0; us <= MAX_US; ++us) {
    seen += hist[us];
    if (seen * 2 >= msgs) {
      p50 = us;
      break;
    }
  }
  printf("minimal_client msgs=%llu secs=%.3f msgs_per_sec=%.1f p50_us=%d\n",
         (unsigned long long)msgs, secs, (double)msgs / secs, p50);
  free(msg);
  free(buf);
  free(hist);
  free(conns);
  return 0;
}
