// The echo logic of one connection, driven by hand over a socketpair: no listener, no loop.
#include "connection.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <vector>

namespace echod {
namespace {

class FakeWorker final : public ConnectionContext {
 public:
  explicit FakeWorker(std::size_t buffer_size = 64 * 1024) : buffer_(buffer_size) {
    read_buffer = buffer_.data();
    read_buffer_size = buffer_.size();
    stats = &worker_stats;
    settings = &runtime;
    now_ns = 1'000'000'000;
  }
  void release(Connection& c, CloseReason) override {
    released = true;
    delete &c;
  }
  void defer(Connection&) override { ++defers; }
  void arm_timer(Connection&, std::int64_t) override {}

  RuntimeSettings runtime;
  WorkerStats worker_stats;
  bool released = false;
  int defers = 0;

 private:
  std::vector<char> buffer_;
};

std::uint64_t closed(const WorkerStats& s, CloseReason r) {
  return s.closed[static_cast<std::size_t>(r)].get();
}

class ConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    server_fd_ = fds[0];
    client_fd_ = fds[1];
    ::fcntl(server_fd_, F_SETFL, O_NONBLOCK);
  }
  void TearDown() override {
    if (!worker_.released) delete conn_;
    ::close(client_fd_);
  }
  Connection& open() {
    conn_ = new Connection(worker_, server_fd_);
    return *conn_;
  }
  void client_send(const std::string& data) {
    ASSERT_EQ(::send(client_fd_, data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
  }
  // Whatever the client can read right now, without blocking.
  std::string client_drain() {
    std::string out;
    char buf[65536];
    for (;;) {
      const ssize_t n = ::recv(client_fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }
  bool client_sees_eof() {
    char c;
    return ::recv(client_fd_, &c, 1, MSG_DONTWAIT) == 0;
  }

  FakeWorker worker_;
  Connection* conn_ = nullptr;
  int server_fd_ = -1;
  int client_fd_ = -1;
};

TEST_F(ConnectionTest, EchoesBinaryBytesExactly) {
  Connection& c = open();
  std::string data;
  for (int i = 0; i < 256; ++i) data += static_cast<char>(i);
  data += std::string("\0\r\n\xff", 4);
  client_send(data);
  c.on_events(EPOLLIN | EPOLLOUT);
  EXPECT_EQ(client_drain(), data);
  EXPECT_EQ(worker_.worker_stats.tcp_received_bytes.get(), data.size());
  EXPECT_EQ(worker_.worker_stats.tcp_sent_bytes.get(), data.size());
  EXPECT_EQ(c.pending_bytes(), 0u);
  EXPECT_FALSE(worker_.released);
}

TEST_F(ConnectionTest, HalfCloseEchoesEverythingThenCloses) {
  Connection& c = open();
  client_send("last words");
  ::shutdown(client_fd_, SHUT_WR);
  c.on_events(EPOLLIN | EPOLLRDHUP);
  EXPECT_EQ(client_drain(), "last words");
  EXPECT_TRUE(client_sees_eof());
  EXPECT_TRUE(worker_.released);
  EXPECT_EQ(closed(worker_.worker_stats, CloseReason::kClient), 1u);
}

TEST_F(ConnectionTest, PeerThatDoesNotReadIsHeldToMaxPendingBytes) {
  worker_.runtime.max_pending_bytes = 4096;
  int small = 4096;
  ::setsockopt(server_fd_, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  ::setsockopt(client_fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  ::fcntl(client_fd_, F_SETFL, O_NONBLOCK);
  Connection& c = open();

  // The client writes far more than the socket buffers hold and never reads.
  std::string sent;
  std::uint64_t pattern = 0;
  for (int round = 0; round < 200; ++round) {
    std::string chunk(1024, '\0');
    for (char& ch : chunk) ch = static_cast<char>((pattern++ * 131) >> 3);
    const ssize_t n = ::send(client_fd_, chunk.data(), chunk.size(), MSG_DONTWAIT);
    if (n > 0) sent.append(chunk, 0, static_cast<std::size_t>(n));
    c.on_events(EPOLLIN | EPOLLOUT);
    ASSERT_FALSE(worker_.released) << "closed while the peer was only slow";
    ASSERT_LE(c.pending_bytes(), worker_.runtime.max_pending_bytes);
  }
  EXPECT_GT(worker_.worker_stats.backpressure_pauses.get(), 0u);
  EXPECT_GT(c.pending_bytes(), 0u);

  // Once the client reads, everything comes back in order and nothing is left pending.
  std::string echoed;
  for (int i = 0; i < 10000 && echoed.size() < sent.size(); ++i) {
    echoed += client_drain();
    c.on_events(EPOLLOUT | EPOLLIN);
    ASSERT_FALSE(worker_.released)
        << "closed while draining: client " << closed(worker_.worker_stats, CloseReason::kClient)
        << " error " << closed(worker_.worker_stats, CloseReason::kError) << " bytelimit "
        << closed(worker_.worker_stats, CloseReason::kByteLimit);
  }
  EXPECT_EQ(echoed.size(), sent.size());
  EXPECT_TRUE(echoed == sent);
  EXPECT_EQ(c.pending_bytes(), 0u);
}

TEST_F(ConnectionTest, StopsAfterMaxConnectionBytes) {
  worker_.runtime.max_connection_bytes = 10;
  Connection& c = open();
  client_send("0123456789abcdefghij");
  c.on_events(EPOLLIN);
  EXPECT_EQ(client_drain(), "0123456789");
  EXPECT_TRUE(worker_.released);
  EXPECT_EQ(closed(worker_.worker_stats, CloseReason::kByteLimit), 1u);
}

TEST_F(ConnectionTest, ReadsAreCappedPerTurnAndDeferred) {
  worker_.runtime.max_pending_bytes = 1024;  // 1 KiB reads: a 64 KiB burst needs many turns
  int big = 1 << 20;
  ::setsockopt(client_fd_, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  ::setsockopt(server_fd_, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  Connection& c = open();
  const std::string data(64 * 1024, 'x');
  client_send(data);
  c.on_events(EPOLLIN);
  EXPECT_EQ(worker_.defers, 1);
  std::string echoed = client_drain();
  for (int i = 0; i < 200 && echoed.size() < data.size(); ++i) {
    c.resume();
    echoed += client_drain();
  }
  EXPECT_EQ(echoed, data);
}

// A deferred connection may meet backpressure before it is resumed: resuming must not read
// past the pending tail, or later bytes would overtake (or overwrite) earlier ones.
TEST_F(ConnectionTest, BytesStayInOrderAcrossDeferAndBackpressure) {
  worker_.runtime.max_pending_bytes = 1024;
  int small = 4096;
  ::setsockopt(server_fd_, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  ::setsockopt(client_fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  ::fcntl(client_fd_, F_SETFL, O_NONBLOCK);
  Connection& c = open();
  const std::string data = [] {
    std::string d(256 * 1024, '\0');
    for (std::size_t i = 0; i < d.size(); ++i) d[i] = static_cast<char>(i * 7 + i / 251);
    return d;
  }();
  std::size_t sent = 0;
  std::string echoed;
  for (int i = 0; i < 100000 && echoed.size() < data.size(); ++i) {
    if (sent < data.size()) {
      const ssize_t n = ::send(client_fd_, data.data() + sent,
                               std::min<std::size_t>(8192, data.size() - sent), MSG_DONTWAIT);
      if (n > 0) sent += static_cast<std::size_t>(n);
    }
    c.on_events(EPOLLIN | EPOLLOUT);
    c.resume();  // as the worker does for deferred connections, whatever happened meanwhile
    ASSERT_FALSE(worker_.released);
    if (i % 3 == 0) echoed += client_drain();
  }
  ASSERT_EQ(echoed.size(), data.size());
  EXPECT_TRUE(echoed == data);
}

TEST_F(ConnectionTest, PeerResetClosesAsClient) {
  Connection& c = open();
  ::close(client_fd_);
  client_fd_ = ::open("/dev/null", O_RDONLY);
  c.on_events(EPOLLIN | EPOLLRDHUP | EPOLLHUP);
  EXPECT_TRUE(worker_.released);
  EXPECT_EQ(closed(worker_.worker_stats, CloseReason::kClient), 1u);
}

}  // namespace
}  // namespace echod
