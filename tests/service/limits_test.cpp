// Per-connection and global limits, each observed from the client's side of a real socket.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <thread>
#include <vector>

#include "echod_process.h"
#include "net_helpers.h"

namespace echod::test {
namespace {

using Clock = std::chrono::steady_clock;

bool echoes(int fd, const std::string& msg) {
  return send_all(fd, msg) && recv_exact(fd, msg.size()) == msg;
}

TEST(Limits, RejectsConnectionsBeyondMaxConnections) {
  EchodProcess echod({"--max-connections", "3", "--workers", "2"});
  std::vector<Fd> admitted;
  for (int i = 0; i < 3; ++i) {
    admitted.push_back(connect_tcp(echod.echo_port()));
    ASSERT_TRUE(echoes(admitted.back().get(), "in " + std::to_string(i)));
  }
  Fd extra = connect_tcp(echod.echo_port());  // the kernel completes the handshake...
  ASSERT_TRUE(extra);
  EXPECT_TRUE(wait_for_eof(extra.get(), milliseconds(2000)));  // ...echod closes it at once
  for (auto& fd : admitted) EXPECT_TRUE(echoes(fd.get(), "still served"));
  admitted.pop_back();  // a slot frees up: the next client is admitted
  ASSERT_TRUE(wait_until(
      [&] {
        Fd again = connect_tcp(echod.echo_port());
        return again && echoes(again.get(), "back");
      },
      milliseconds(3000), milliseconds(20)));
}

TEST(Limits, IdleTimeoutClosesSilentConnectionsOnly) {
  EchodProcess echod({"--idle-timeout", "300ms"});
  Fd silent = connect_tcp(echod.echo_port());
  Fd chatty = connect_tcp(echod.echo_port());
  ASSERT_TRUE(silent && chatty);
  const auto start = Clock::now();
  // The chatty client speaks every 50 ms for 900 ms: three idle timeouts' worth.
  while (Clock::now() - start < milliseconds(900)) {
    ASSERT_TRUE(echoes(chatty.get(), "ping")) << "an active connection was closed";
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_TRUE(wait_for_eof(silent.get(), milliseconds(1000)));
  EXPECT_TRUE(echoes(chatty.get(), "still open"));
}

TEST(Limits, MaxConnectionLifetimeClosesOldConnections) {
  EchodProcess echod({"--max-connection-lifetime", "400ms"});
  Fd fd = connect_tcp(echod.echo_port());
  ASSERT_TRUE(fd);
  const auto start = Clock::now();
  ASSERT_TRUE(echoes(fd.get(), "young"));
  ASSERT_TRUE(wait_for_eof(fd.get(), milliseconds(3000)));
  const auto lived = Clock::now() - start;
  EXPECT_GE(lived, milliseconds(350));
  EXPECT_LE(lived, milliseconds(1500));
}

TEST(Limits, MaxConnectionBytesEchoesExactlyTheCapThenCloses) {
  EchodProcess echod({"--max-connection-bytes", "1000"});
  Fd fd = connect_tcp(echod.echo_port());
  ASSERT_TRUE(fd);
  const std::string payload = random_bytes(1000, 3);
  ASSERT_TRUE(send_all(fd.get(), payload));
  EXPECT_EQ(recv_until_eof(fd.get(), milliseconds(3000)), payload);
}

TEST(Limits, MaxConnectionBytesEndsWithFinNotResetWhenThePeerSentMore) {
  EchodProcess echod({"--max-connection-bytes", "1000"});
  Fd fd = connect_tcp(echod.echo_port());
  ASSERT_TRUE(fd);
  const std::string payload = random_bytes(3000, 4);
  ASSERT_TRUE(send_all(fd.get(), payload));
  std::string echoed;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd.get(), buf, sizeof buf, 0)) > 0) echoed.append(buf, static_cast<std::size_t>(n));
  EXPECT_EQ(n, 0) << "connection ended by a reset, errno " << errno;
  EXPECT_EQ(echoed, payload.substr(0, 1000));
}

// A client that sends and never reads must not grow echod: it is held at
// max-pending-bytes, and other clients keep their echo.
TEST(Limits, SlowReadersAreHeldAtMaxPendingBytes) {
  if (ECHOD_SANITIZED) GTEST_SKIP() << "RSS is not comparable under sanitizers (release build runs it)";
  EchodProcess echod({"--workers", "1", "--max-pending-bytes", "65536"});
  const int pid = echod.process().pid();
  const long baseline = rss_bytes(pid);
  constexpr int kSlowReaders = 50;
  constexpr std::size_t kPerReader = 32 << 20;  // far beyond every kernel buffer on the way
  std::vector<Fd> slow;
  std::uint64_t pushed = 0;
  for (int i = 0; i < kSlowReaders; ++i) {
    slow.push_back(connect_tcp(echod.echo_port()));
    ASSERT_TRUE(slow.back());
    int small = 64 * 1024;
    ::setsockopt(slow.back().get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    ::setsockopt(slow.back().get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    ::fcntl(slow.back().get(), F_SETFL, O_NONBLOCK);
  }
  const std::string chunk = random_bytes(64 * 1024, 11);
  for (std::size_t sent = 0; sent < kPerReader; sent += chunk.size()) {
    bool any = false;
    for (auto& fd : slow) {
      const ssize_t n = ::send(fd.get(), chunk.data(), chunk.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        pushed += static_cast<std::uint64_t>(n);
        any = true;
      }
    }
    if (!any) break;  // every slow reader's path is full: echod stopped reading them
  }
  EXPECT_LT(pushed, std::uint64_t{kSlowReaders} * kPerReader) << "echod never pushed back";
  Fd other = connect_tcp(echod.echo_port());
  ASSERT_TRUE(other);
  EXPECT_TRUE(echoes(other.get(), "unaffected"));
  const long grown = rss_bytes(pid) - baseline;
  // Each slow reader may hold at most one max-pending-bytes tail in echod.
  EXPECT_LT(grown, kSlowReaders * (65536 + 4096) + (4 << 20)) << "RSS grew by " << grown;
}

// Memory per idle connection: no user-space buffer while a connection is quiet.
TEST(Limits, IdleConnectionsCostLittleMemory) {
  if (ECHOD_SANITIZED) GTEST_SKIP() << "RSS is not comparable under sanitizers (release build runs it)";
  EchodProcess echod({"--workers", "1"});
  const int pid = echod.process().pid();
  Fd warm = connect_tcp(echod.echo_port());
  ASSERT_TRUE(echoes(warm.get(), "warm up"));
  const long baseline = rss_bytes(pid);
  constexpr int kIdle = 2000;
  std::vector<Fd> idle;
  for (int i = 0; i < kIdle; ++i) {
    idle.push_back(connect_tcp(echod.echo_port()));
    ASSERT_TRUE(idle.back());
    ASSERT_TRUE(echoes(idle.back().get(), "x"));  // each one has been read and written once
  }
  const long per_connection = (rss_bytes(pid) - baseline) / kIdle;
  RecordProperty("rss_bytes_per_idle_connection", std::to_string(per_connection));
  EXPECT_LE(per_connection, 256) << per_connection << " bytes per idle connection";
}

}  // namespace
}  // namespace echod::test
