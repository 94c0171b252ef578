#pragma once
// Small loopback servers for echo-probe's tests: a correct echo and deliberately broken
// ones, each on 127.0.0.1:0 (or [::1]:0) on its own thread, stopped by the destructor.
#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace echo_probe::test {

enum class Behavior {
  kEcho,         // echo every byte
  kCorruptByte,  // echo, but flip one bit of the byte at stream offset `trigger`
  kCloseEarly,   // echo `trigger` bytes, then close (FIN) with the rest unanswered
  kStall,        // read everything, never answer
  kReset,        // echo `trigger` bytes, then abort the connection (RST)
  kSlowStart,    // stall `trigger` milliseconds before the first echo, then echo
};

/// A TCP server with one Behavior for every connection. Thread-safe accessors;
/// construct and destroy on the test thread.
class FakeTcpServer {
 public:
  explicit FakeTcpServer(Behavior behavior, std::size_t trigger = 0,
                         const std::string& host = "127.0.0.1", std::uint16_t port = 0);
  ~FakeTcpServer();
  FakeTcpServer(const FakeTcpServer&) = delete;
  FakeTcpServer& operator=(const FakeTcpServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::uint64_t accepted() const { return accepted_.load(); }
  std::uint64_t bytes_read() const { return bytes_read_.load(); }

 private:
  void run();

  Behavior behavior_;
  std::size_t trigger_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> bytes_read_{0};
  std::thread thread_;
};

/// A TCP echo for PROXY protocol clients on `host`:0: every connection must start with a
/// PROXY header (a v1 line up to "\r\n", or v2's 16 fixed bytes plus its length), which is
/// recorded with the connection's addresses as this server sees them and never echoed;
/// every byte after it is echoed. A connection that starts otherwise is counted and closed.
/// One thread per connection; accessors are thread-safe.
class ProxyCaptureServer {
 public:
  struct Capture {
    std::string header;      // the exact header bytes
    sockaddr_storage peer;   // the client's address (the header's source)
    sockaddr_storage local;  // this server's address (the header's destination)
  };
  explicit ProxyCaptureServer(const std::string& host = "127.0.0.1");
  ~ProxyCaptureServer();
  ProxyCaptureServer(const ProxyCaptureServer&) = delete;
  ProxyCaptureServer& operator=(const ProxyCaptureServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::vector<Capture> captures() const;
  std::uint64_t echoed_bytes() const { return echoed_.load(); }
  std::uint64_t rejected() const { return rejected_.load(); }

 private:
  void run();
  void serve(int fd);

  int listen_fd_ = -1;
  int wake_fd_ = -1;
  std::uint16_t port_ = 0;
  mutable std::mutex mutex_;
  std::vector<Capture> captures_;
  std::vector<std::thread> connections_;  // accept thread only
  std::atomic<std::uint64_t> echoed_{0};
  std::atomic<std::uint64_t> rejected_{0};
  std::thread thread_;
};

/// A UDP echo on 127.0.0.1:0: echoes, corrupts one byte of every datagram, or drops all.
class FakeUdpServer {
 public:
  enum class Mode { kEcho, kCorrupt, kDrop };
  explicit FakeUdpServer(Mode mode);
  ~FakeUdpServer();
  FakeUdpServer(const FakeUdpServer&) = delete;
  FakeUdpServer& operator=(const FakeUdpServer&) = delete;
  std::uint16_t port() const { return port_; }
  std::uint64_t datagrams() const { return datagrams_.load(); }

 private:
  void run();
  Mode mode_;
  int fd_ = -1;
  int wake_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<std::uint64_t> datagrams_{0};
  std::thread thread_;
};

/// A loopback port where nothing listens: a TCP socket bound to 127.0.0.1:0 but never
/// listening, so connects are refused and no other process can take the port meanwhile.
class ClosedPort {
 public:
  ClosedPort();
  ~ClosedPort();
  ClosedPort(const ClosedPort&) = delete;
  ClosedPort& operator=(const ClosedPort&) = delete;
  std::uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace echo_probe::test
