// Whole admin requests through a real AdminServer (front, router, handlers, PUT /config
// with the token) over a loopback socket: the bytes of one input are one connection's
// bytes. No sockets seam exists below this for the router, so this target pays a loopback
// round trip per input. Checks: no crash (ASan/UBSan in-process), every answer is an HTTP
// answer, never a 500, and never contains the admin token.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

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

std::string exchange(std::uint16_t port, const std::uint8_t* data, std::size_t size) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) std::abort();
  std::size_t off = 0;
  while (off < size) {
    const ssize_t n = ::send(fd, data + off, size - off, MSG_NOSIGNAL);
    if (n <= 0) break;  // the front may close early (431, 413, 400): fine
    off += static_cast<std::size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  std::string out;
  char buf[16384];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10'000) <= 0) {
      // The front's own deadlines (3 s first request, 5 s keep-alive, 2 s write) are all
      // shorter: a connection still open after 10 s of silence is stuck.
      std::fprintf(stderr, "admin port did not answer or close within 10 s; sent %zu of %zu bytes, "
                   "received %zu bytes so far:\n%s\n", off, size, out.size(), out.c_str());
      // What our descriptor is now: if it is no longer our socket, someone else closed it.
      char link[256] = "";
      const std::string path = "/proc/self/fd/" + std::to_string(fd);
      [[maybe_unused]] const ssize_t ln = ::readlink(path.c_str(), link, sizeof link - 1);
      sockaddr_in local{};
      socklen_t local_len = sizeof local;
      const int gs = ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len);
      std::fprintf(stderr, "client fd %d -> %s, getsockname rc=%d port=%d\n", fd, link, gs,
                   ntohs(local.sin_port));
      // Where every thread is stuck, when gdb is there (ECHOD_FUZZ_GDB=1).
      if (std::getenv("ECHOD_FUZZ_GDB")) {
        const std::string ss = "ss -tanoi '( sport = :" + std::to_string(port) + " or dport = :" +
                               std::to_string(port) + " )' >&2";
        [[maybe_unused]] const int ss_rc = std::system(ss.c_str());
        // Which descriptors each epoll instance watches, with what event mask.
        const std::string pid = std::to_string(::getpid());
        const std::string epolls = "ls -l /proc/" + pid + "/fd >&2; for f in /proc/" + pid +
                                   "/fdinfo/*; do grep -q tfd $f && { echo \"== $f\"; cat $f; } >&2; done";
        [[maybe_unused]] const int ep_rc = std::system(epolls.c_str());
        const std::string cmd = "gdb -p " + std::to_string(::getpid()) +
                                " -batch -ex 'thread apply all bt' >&2 2>/dev/null";
        [[maybe_unused]] const int rc = std::system(cmd.c_str());
      }
      std::abort();
    }
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
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
