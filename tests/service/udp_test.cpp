// Optional UDP echo: datagrams come back whole; those from privileged source ports do not.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "echod_process.h"
#include "net_helpers.h"

namespace echod::test {
namespace {

TEST(UdpEcho, EchoesDatagramsWholeAndInOrder) {
  EchodProcess echod({"--udp", "--workers", "1"});
  Fd fd = udp_socket();
  ASSERT_TRUE(fd);
  for (std::size_t size : {1u, 64u, 1400u, 9000u, 65000u}) {
    const std::string payload = random_bytes(size, size);
    send_to(fd.get(), echod.echo_port(), payload);
    auto back = recv_datagram(fd.get(), milliseconds(3000));
    ASSERT_TRUE(back) << "no echo for " << size << " bytes";
    EXPECT_TRUE(*back == payload) << size;
  }
}

TEST(UdpEcho, IsOffByDefault) {
  EchodProcess echod;
  Fd fd = udp_socket();
  send_to(fd.get(), echod.echo_port(), "anyone?");
  // With nothing bound, loopback answers with ICMP port unreachable: recv fails at once.
  auto back = recv_datagram(fd.get(), milliseconds(1000));
  EXPECT_FALSE(back && *back == "anyone?");
}

TEST(UdpEcho, DropsDatagramsFromPrivilegedSourcePorts) {
  if (::geteuid() != 0) GTEST_SKIP() << "binding a source port below 1024 needs root";
  EchodProcess echod({"--udp", "--workers", "1"});
  Fd privileged;
  for (std::uint16_t port = 1000; port > 900 && !privileged; --port) privileged = udp_socket(port);
  ASSERT_TRUE(privileged);
  Fd normal = udp_socket();
  send_to(privileged.get(), echod.echo_port(), "reflect me");
  // One worker handles datagrams in arrival order: once the later one is echoed, the earlier
  // one has been seen and dropped.
  send_to(normal.get(), echod.echo_port(), "after");
  ASSERT_EQ(recv_datagram(normal.get(), milliseconds(3000)), std::optional<std::string>("after"));
  EXPECT_EQ(recv_datagram(privileged.get(), milliseconds(200)), std::nullopt);
}

}  // namespace
}  // namespace echod::test
