// The PROXY protocol header echo-probe sends: exact bytes for v1 and v2, IPv4 and IPv6.
#include "proxy_header.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include "usage_error.h"

namespace echo_probe {
namespace {

sockaddr_storage v4(const char* ip, std::uint16_t port) {
  sockaddr_storage ss{};
  auto* a = reinterpret_cast<sockaddr_in*>(&ss);
  a->sin_family = AF_INET;
  a->sin_port = htons(port);
  inet_pton(AF_INET, ip, &a->sin_addr);
  return ss;
}

sockaddr_storage v6(const char* ip, std::uint16_t port) {
  sockaddr_storage ss{};
  auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
  a->sin6_family = AF_INET6;
  a->sin6_port = htons(port);
  inet_pton(AF_INET6, ip, &a->sin6_addr);
  return ss;
}

std::string bytes(std::initializer_list<int> list) {
  std::string out;
  for (int b : list) out += static_cast<char>(b);
  return out;
}

const std::string kSignature("\r\n\r\n\0\r\nQUIT\n", 12);

TEST(ProxyHeader, V1ForIpv4NamesSourceThenDestination) {
  EXPECT_EQ(proxy_header(ProxyVersion::kV1, v4("10.1.2.3", 40000), v4("192.168.0.9", 7007)),
            "PROXY TCP4 10.1.2.3 192.168.0.9 40000 7007\r\n");
}

TEST(ProxyHeader, V1ForIpv6UsesTcp6AndTheShortForm) {
  EXPECT_EQ(proxy_header(ProxyVersion::kV1, v6("::1", 1), v6("fd00::5", 65535)),
            "PROXY TCP6 ::1 fd00::5 1 65535\r\n");
}

TEST(ProxyHeader, V2ForIpv4IsSignatureCommandFamilyLengthAddressesPorts) {
  const std::string h =
      proxy_header(ProxyVersion::kV2, v4("10.1.2.3", 0x1234), v4("192.168.0.9", 7007));
  EXPECT_EQ(h, kSignature + bytes({0x21, 0x11, 0x00, 0x0c,  // PROXY, TCP4, 12 bytes
                                   10, 1, 2, 3, 192, 168, 0, 9, 0x12, 0x34, 0x1b, 0x5f}));
  EXPECT_EQ(h.size(), 28u);
}

TEST(ProxyHeader, V2ForIpv6CarriesSixteenByteAddresses) {
  const std::string h = proxy_header(ProxyVersion::kV2, v6("::1", 5), v6("fd00::5", 7007));
  std::string expected = kSignature + bytes({0x21, 0x21, 0x00, 0x24});  // PROXY, TCP6, 36
  expected += std::string(15, '\0') + bytes({1});
  expected += bytes({0xfd, 0x00}) + std::string(13, '\0') + bytes({5});
  expected += bytes({0x00, 0x05, 0x1b, 0x5f});
  EXPECT_EQ(h, expected);
  EXPECT_EQ(h.size(), 52u);
}

TEST(ProxyHeader, OffOrMixedFamiliesGiveNothing) {
  EXPECT_EQ(proxy_header(ProxyVersion::kOff, v4("10.0.0.1", 1), v4("10.0.0.2", 2)), "");
  EXPECT_EQ(proxy_header(ProxyVersion::kV1, v4("10.0.0.1", 1), v6("::1", 2)), "");
}

TEST(ProxyHeader, VersionsParseAndAnythingElseIsAUsageErrorNamingTheFlag) {
  EXPECT_EQ(parse_proxy_version("--proxy-protocol", "v1"), ProxyVersion::kV1);
  EXPECT_EQ(parse_proxy_version("--proxy-protocol", "v2"), ProxyVersion::kV2);
  for (const char* bad : {"v3", "1", "V1", "off", ""}) {
    try {
      parse_proxy_version("--proxy-protocol", bad);
      ADD_FAILURE() << bad;
    } catch (const UsageError& e) {
      EXPECT_EQ(std::string(e.what()).rfind("--proxy-protocol: ", 0), 0u) << e.what();
    }
  }
  EXPECT_STREQ(proxy_version_name(ProxyVersion::kV2), "v2");
}

}  // namespace
}  // namespace echo_probe
