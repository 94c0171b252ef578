// The listener options the echo path relies on, checked on real loopback sockets.
#include "socket_ops.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net_helpers.h"

namespace echod {
namespace {

TEST(SocketOps, AcceptedSocketsInheritTcpNodelay) {
  // echod sets TCP_NODELAY once on the listener instead of once per connection.
  std::string error;
  const int listener = net::listen_tcp({"127.0.0.1", 0}, &error);
  ASSERT_GE(listener, 0) << error;
  test::Fd client = test::connect_tcp(net::local_port(listener));
  ASSERT_TRUE(client);
  const int accepted = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(accepted, 0);
  int nodelay = 0;
  socklen_t len = sizeof nodelay;
  ASSERT_EQ(::getsockopt(accepted, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len), 0);
  EXPECT_EQ(nodelay, 1);
  ::close(accepted);
  ::close(listener);
}

TEST(SocketOps, WorkersShareOnePortButAnotherProcessCannotJoinIt) {
  std::string error;
  const int first = net::listen_tcp({"127.0.0.1", 0}, &error);
  ASSERT_GE(first, 0) << error;
  const Endpoint same{"127.0.0.1", net::local_port(first)};
  const int second = net::listen_tcp(same, &error);  // SO_REUSEPORT: a second worker joins
  EXPECT_GE(second, 0) << error;
  EXPECT_TRUE(net::check_port_free(same).has_value()) << "a held port must be reported busy";
  EXPECT_EQ(net::local_address(first), "127.0.0.1:" + std::to_string(same.port));
  ::close(first);
  ::close(second);
}

}  // namespace
}  // namespace echod
