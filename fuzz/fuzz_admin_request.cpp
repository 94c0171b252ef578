// Whole admin requests through a real AdminServer (front, router, handlers, PUT /config
// with the token) over a loopback socket: the bytes of one input are one connection's
// bytes. No sockets seam exists below this for the router, so this target pays a loopback
// round trip per input. Checks: no crash (ASan/UBSan in-process), every answer is an HTTP
// answer, never a 500, and never contains the admin token, and no connection goes 10 s
// without an answer or EOF (the front's deadlines are all shorter).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "admin_server.h"
#include "config_store.h"
#include "echo_server.h"
#include "lifecycle.h"
#include "logger.h"

namespace {

constexpr const char* kToken = "fuzz-admin-token";

struct Stack {
  echod::Config config;
  std::unique_ptr<echod::ConfigStore> store;
  std::unique_ptr<echod::Logger> logger;
  std::unique_ptr<echod::EchoServer> echo;
  std::unique_ptr<echod::AdminServer> admin;
  echod::Lifecycle lifecycle;
  std::uint16_t port = 0;

  Stack() {
    config.listen = {"127.0.0.1", 0};
    config.admin_listen = {"127.0.0.1", 0};
    config.workers = 1;
    config.admin_token = kToken;
    config.runtime.log_level = echod::LogLevel::kError;
    store = std::make_unique<echod::ConfigStore>(config);
    logger = std::make_unique<echod::Logger>(config.log_format, echod::LogLevel::kError, 2);
    echo = std::make_unique<echod::EchoServer>(config, *store, *logger);
    if (auto err = echo->bind()) {
      std::fprintf(stderr, "echo bind: %s\n", err->c_str());
      std::abort();
    }
    admin = std::make_unique<echod::AdminServer>(*store, *echo, lifecycle, *logger);
    if (auto err = admin->bind(config.admin_listen)) {
      std::fprintf(stderr, "admin bind: %s\n", err->c_str());
      std::abort();
    }
    echo->start();
    admin->start();
    lifecycle.mark_listeners_bound();
    port = admin->port();
  }
};

Stack& stack() {
  static Stack* s = new Stack();  // never destroyed: threads keep running until exit
  return *s;
}

using Clock = std::chrono::steady_clock;

/// The front's own deadlines (3 s first request, 5 s keep-alive, 2 s write) are all
/// shorter: a connection still open after this much silence is stuck.
constexpr auto kStall = std::chrono::seconds(10);

/// Client-side TIME-WAIT budget. The client half-closes first (that is how one input ends),
/// so every exchange leaves one TIME-WAIT socket on the client for 60 s (TCP_TIMEWAIT_LEN).
/// Unbounded (4,500 inputs/s here), they would hold every ephemeral port of the machine
/// within seconds: any program's bind() to port 0 then fails (and our own connect() where
/// tcp_tw_reuse is off). So connections are paced by a token bucket: at most the budget
/// (default half the ephemeral range) in any 60 s window, a burst of an eighth of it, the
/// rest spread evenly. One input never waits more than a few milliseconds, far below
/// libFuzzer's -timeout.
constexpr double kTimeWaitSeconds = 60;

double time_wait_budget() {
  if (const char* env = std::getenv("ECHOD_FUZZ_TIME_WAIT_BUDGET")) {
    return std::max(16.0, std::strtod(env, nullptr));
  }
  unsigned low = 32768, high = 60999;
  if (FILE* f = std::fopen("/proc/sys/net/ipv4/ip_local_port_range", "r")) {
    if (std::fscanf(f, "%u %u", &low, &high) != 2) low = 32768, high = 60999;
    std::fclose(f);
  }
  return std::max(1000.0, (high - low + 1) / 2.0);
}

/// Waits until one more connection fits in the TIME-WAIT budget, then takes it.
void take_time_wait_slot() {
  static const double budget = time_wait_budget();
  static const double burst = budget / 8;
  static const double per_second = (budget - burst) / kTimeWaitSeconds;
  static double tokens = burst;  // one fuzzing thread: no lock needed
  static Clock::time_point last = Clock::now();
  const auto now = Clock::now();
  tokens = std::min(burst, tokens + per_second * std::chrono::duration<double>(now - last).count());
  last = now;
  if (tokens < 1) {
    const auto wait = std::chrono::duration<double>((1 - tokens) / per_second);
    std::this_thread::sleep_for(wait);  // resumes after EINTR
    last = now + std::chrono::duration_cast<Clock::duration>(wait);
    tokens = 1;
  }
  tokens -= 1;
}

/// poll() for `events` until `deadline` on the monotonic clock. libFuzzer's -timeout arms a
/// SIGALRM (setitimer, handler without SA_RESTART), so poll() returns -1/EINTR now and
/// then: that is no answer, only a retry with the time left. Returns the revents, 0 when the
/// deadline passed.
short wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return 0;
    pollfd p{fd, events, 0};
    const int rc = ::poll(&p, 1, static_cast<int>(left));
    if (rc > 0) return p.revents;
    if (rc < 0 && errno != EINTR) {
      std::fprintf(stderr, "poll: %s\n", std::strerror(errno));
      std::abort();
    }
  }
}

/// The namespace's SYN-drop counters, for a connect that failed: TcpExt ListenOverflows,
/// ListenDrops, TCPSynRetrans, and conntrack's fill (count/max).
std::string kernel_drop_counters() {
  std::string out;
  if (FILE* f = std::fopen("/proc/net/netstat", "r")) {
    char names[8192], values[8192];
    while (std::fgets(names, sizeof names, f) && std::fgets(values, sizeof values, f)) {
      if (std::strncmp(names, "TcpExt:", 7) != 0) continue;
      char* n_save = nullptr;
      char* v_save = nullptr;
      for (char *n = strtok_r(names, " \n", &n_save), *v = strtok_r(values, " \n", &v_save);
           n && v; n = strtok_r(nullptr, " \n", &n_save), v = strtok_r(nullptr, " \n", &v_save)) {
        if (!std::strcmp(n, "ListenOverflows") || !std::strcmp(n, "ListenDrops") ||
            !std::strcmp(n, "TCPSynRetrans")) {
          out += std::string(n) + "=" + v + " ";
        }
      }
    }
    std::fclose(f);
  }
  for (const char* file : {"/proc/sys/net/netfilter/nf_conntrack_count",
                           "/proc/sys/net/netfilter/nf_conntrack_max"}) {
    if (FILE* f = std::fopen(file, "r")) {
      char v[32] = "";
      if (std::fgets(v, sizeof v, f)) {
        v[std::strcspn(v, "\n")] = '\0';
        out += std::string(std::strrchr(file, '/') + 1) + "=" + v + " ";
      }
      std::fclose(f);
    }
  }
  return out;
}

/// nf_conntrack_count within 1% of nf_conntrack_max: new connections' packets are dropped.
bool conntrack_full() {
  long count = -1, max = -1;
  if (FILE* f = std::fopen("/proc/sys/net/netfilter/nf_conntrack_count", "r")) {
    if (std::fscanf(f, "%ld", &count) != 1) count = -1;
    std::fclose(f);
  }
  if (FILE* f = std::fopen("/proc/sys/net/netfilter/nf_conntrack_max", "r")) {
    if (std::fscanf(f, "%ld", &max) != 1) max = -1;
    std::fclose(f);
  }
  return count >= 0 && max > 0 && count * 100 >= max * 99;
}

[[noreturn]] void report_stall(int fd, std::uint16_t port, std::size_t sent, std::size_t size,
                               const std::string& out) {
  std::fprintf(stderr, "admin port did not answer or close within 10 s; sent %zu of %zu bytes, "
               "received %zu bytes so far:\n%s\n", sent, size, out.size(), out.c_str());
  char link[256] = "";
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  [[maybe_unused]] const ssize_t ln = ::readlink(path.c_str(), link, sizeof link - 1);
  sockaddr_in local{};
  socklen_t local_len = sizeof local;
  const int gs = ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len);
  std::fprintf(stderr, "client fd %d -> %s, getsockname rc=%d port=%d\n", fd, link, gs,
               ntohs(local.sin_port));
  // Sockets, epoll registrations and thread stacks, when gdb is there (ECHOD_FUZZ_GDB=1).
  if (std::getenv("ECHOD_FUZZ_GDB")) {
    const std::string ss = "ss -tanoi '( sport = :" + std::to_string(port) + " or dport = :" +
                           std::to_string(port) + " )' >&2";
    [[maybe_unused]] const int ss_rc = std::system(ss.c_str());
    const std::string pid = std::to_string(::getpid());
    const std::string epolls = "ls -l /proc/" + pid + "/fd >&2; for f in /proc/" + pid +
                               "/fdinfo/*; do grep -q tfd $f && { echo \"== $f\"; cat $f; } >&2; done";
    [[maybe_unused]] const int ep_rc = std::system(epolls.c_str());
    const std::string cmd = "gdb -p " + pid + " -batch -ex 'thread apply all bt' >&2 2>/dev/null";
    [[maybe_unused]] const int rc = std::system(cmd.c_str());
  }
  std::abort();
}

std::string exchange(std::uint16_t port, const std::uint8_t* data, std::size_t size) {
  take_time_wait_slot();
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    std::fprintf(stderr, "socket: %s\n", std::strerror(errno));
    std::abort();
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const auto deadline = Clock::now() + kStall;
  // An interrupted connect() goes on in the background: wait for it, then ask how it ended.
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    if (err == EINTR || err == EINPROGRESS) {
      err = wait_for(fd, POLLOUT, deadline) != 0 ? 0 : ETIMEDOUT;
      socklen_t len = sizeof err;
      if (err == 0) ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    }
    if (err != 0) {
      // A handshake on loopback that does not finish is the kernel dropping SYNs: say where
      // it counted them. With the conntrack table full (shared machines: a container
      // runtime's rules make it track loopback too) the SYN never reached echod: the input
      // was not delivered, which says nothing about echod, so it is skipped and counted.
      const std::string counters = kernel_drop_counters();
      if (conntrack_full()) {
        std::fprintf(stderr, "MACHINE: input not delivered, conntrack table full (%s); skipped\n",
                     counters.c_str());
        ::close(fd);
        return {};
      }
      std::fprintf(stderr, "connect to the admin port: %s; kernel: %s\n", std::strerror(err),
                   counters.c_str());
      std::abort();
    }
  }
  std::size_t off = 0;
  while (off < size) {
    const ssize_t n = ::send(fd, data + off, size - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the front may close early (431, 413, 400): fine
    off += static_cast<std::size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  std::string out;
  char buf[16384];
  // The deadline is for silence: it moves on with every byte that arrives.
  for (auto silent_until = Clock::now() + kStall;;) {
    if (wait_for(fd, POLLIN, silent_until) == 0) report_stall(fd, port, off, size, out);
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    silent_until = Clock::now() + kStall;
  }
  ::close(fd);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 128 * 1024) return 0;
  const std::string answer = exchange(stack().port, data, size);
  if (answer.empty()) return 0;  // e.g. only blank lines, or the peer closed before a request
  if (answer.rfind("HTTP/1.1 ", 0) != 0) {
    std::fprintf(stderr, "not an HTTP answer: %.80s\n", answer.c_str());
    std::abort();
  }
  // Walk the answers (pipelined requests get several): none may be a 500. Bodies are
  // skipped by Content-Length; after a HEAD answer the walk may lose step, then it stops.
  for (std::size_t at = 0; at < answer.size();) {
    if (answer.compare(at, 9, "HTTP/1.1 ") != 0) break;
    const int status = std::atoi(answer.substr(at + 9, 3).c_str());
    if (status >= 500 && status != 503) {
      std::fprintf(stderr, "server error answer: %.300s\n", answer.c_str() + at);
      std::abort();
    }
    const std::size_t head_end = answer.find("\r\n\r\n", at);
    if (head_end == std::string::npos) break;
    std::size_t length = 0;
    const std::string head = answer.substr(at, head_end - at);
    if (const std::size_t cl = head.find("Content-Length: "); cl != std::string::npos) {
      length = std::strtoul(head.c_str() + cl + 16, nullptr, 10);
    }
    at = head_end + 4 + length;
  }
  // The token may come back only where the client itself quoted it beyond the one
  // Authorization header (a body quoting it is echoed in a parse error, to that same
  // authenticated client): so only inputs holding it at most once are checked.
  const std::string input(reinterpret_cast<const char*>(data), size);
  const std::size_t first = input.find(kToken);
  const bool quoted = first != std::string::npos && input.find(kToken, first + 1) != std::string::npos;
  if (!quoted && answer.find(kToken) != std::string::npos) {
    std::fprintf(stderr, "the admin token is in an answer\n");
    std::abort();
  }
  return 0;
}
