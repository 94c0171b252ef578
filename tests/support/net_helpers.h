#pragma once
// Blocking-socket helpers for tests that talk to a real server over loopback.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace echod::test {

using std::chrono::milliseconds;

/// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = o.release();
    }
    return *this;
  }
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  void reset();
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

/// A blocking TCP connection to host:port; an empty Fd if the connect failed.
Fd connect_tcp(std::uint16_t port, const std::string& host = "127.0.0.1");
/// Sends everything; false on error.
bool send_all(int fd, const std::string& data);
/// Reads until `n` bytes arrived, EOF, an error, or `timeout`; returns what arrived.
std::string recv_exact(int fd, std::size_t n, milliseconds timeout = milliseconds(5000));
/// True once the peer's EOF (read() == 0) arrives within `timeout` (data before it is dropped).
bool wait_for_eof(int fd, milliseconds timeout = milliseconds(5000));
/// Reads whatever is there until EOF, error or `timeout`.
std::string recv_until_eof(int fd, milliseconds timeout = milliseconds(5000));
/// A UDP socket bound to 127.0.0.1:`local_port` (0: ephemeral) with a 1 MiB receive buffer.
Fd udp_socket(std::uint16_t local_port = 0);
/// Sends one datagram to 127.0.0.1:port.
void send_to(int fd, std::uint16_t port, const std::string& data);
/// The next datagram within `timeout`, or nullopt.
std::optional<std::string> recv_datagram(int fd, milliseconds timeout);
/// Sends `data` to 127.0.0.1:port and returns the next datagram within `timeout`.
std::optional<std::string> udp_echo(int fd, std::uint16_t port, const std::string& data,
                                    milliseconds timeout);
/// Deterministic pseudo-random bytes, all 256 values possible.
std::string random_bytes(std::size_t n, std::uint64_t seed);
/// Polls `condition` every few milliseconds until it holds or `timeout` passes.
bool wait_until(const std::function<bool()>& condition, milliseconds timeout,
                milliseconds every = milliseconds(5));
/// Number of open descriptors of process `pid` (/proc/PID/fd).
int open_fd_count(int pid);
/// The value of one series on echod's /metrics (e.g. `echod_faults_injected_total{action="reset"}`),
/// or -1 when it is not served.
double metric(std::uint16_t admin_port, const std::string& series);
/// Resident set size of process `pid` in bytes (/proc/PID/status VmRSS).
long rss_bytes(int pid);

}  // namespace echod::test
