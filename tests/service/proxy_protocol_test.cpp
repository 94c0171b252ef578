// The PROXY protocol header parser against hand-made v1 and v2 headers, whole, cut short
// and broken (HAProxy's doc/proxy-protocol.txt is the reference for every byte).
#include "proxy_protocol.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace echod {
namespace {

using Status = ProxyHeader::Status;
const std::string kSig("\r\n\r\n\0\r\nQUIT\n", 12);

std::string ip_of(const sockaddr_storage& ss) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr, buf, sizeof buf);
  } else if (ss.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

int port_of(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
  return ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port);
}

/// A v2 header: command (0 LOCAL, 1 PROXY), family/transport byte, address block, TLVs.
std::string v2(unsigned command, unsigned char fam, const std::string& rest) {
  std::string h = kSig;
  h += static_cast<char>(0x20 | command);
  h += static_cast<char>(fam);
  h += static_cast<char>(rest.size() >> 8);
  h += static_cast<char>(rest.size() & 0xFF);
  return h + rest;
}

std::string v4_block() {
  // 192.0.2.10:40000 -> 198.51.100.7:7007
  return std::string("\xC0\x00\x02\x0A\xC6\x33\x64\x07\x9C\x40\x1B\x5F", 12);
}

TEST(ProxyV1, ParsesTcp4AndLeavesThePayloadAfterTheHeader) {
  const std::string header = "PROXY TCP4 192.0.2.10 198.51.100.7 40000 7007\r\n";
  const ProxyHeader h = parse_proxy_header(header + "hello", ProxyProtocolMode::kV1);
  ASSERT_EQ(h.status, Status::kComplete) << h.error;
  EXPECT_EQ(h.version, 1);
  EXPECT_FALSE(h.local);
  EXPECT_EQ(h.length, header.size());
  EXPECT_EQ(ip_of(h.source), "192.0.2.10");
  EXPECT_EQ(port_of(h.source), 40000);
}

TEST(ProxyV1, ParsesTcp6AtTheLongestLineTheSpecAllows) {
  const std::string max6 = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
  const std::string header = "PROXY TCP6 " + max6 + " " + max6 + " 65535 65535\r\n";
  ASSERT_LE(header.size(), kProxyV1MaxBytes);
  const ProxyHeader h = parse_proxy_header(header, ProxyProtocolMode::kV1);
  ASSERT_EQ(h.status, Status::kComplete) << h.error;
  EXPECT_EQ(ip_of(h.source), max6);
  EXPECT_EQ(port_of(h.source), 65535);
}

TEST(ProxyV1, UnknownKeepsTheConnectionsOwnAddress) {
  for (const char* header : {"PROXY UNKNOWN\r\n", "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"}) {
    const ProxyHeader h = parse_proxy_header(header, ProxyProtocolMode::kV1);
    ASSERT_EQ(h.status, Status::kComplete) << header;
    EXPECT_TRUE(h.local);
    EXPECT_EQ(h.length, std::string(header).size());
  }
}

TEST(ProxyV1, EveryPrefixOfAValidHeaderIsIncomplete) {
  const std::string header = "PROXY TCP4 192.0.2.10 198.51.100.7 40000 7007\r\n";
  for (std::size_t n = 0; n < header.size(); ++n) {
    EXPECT_EQ(parse_proxy_header(header.substr(0, n), ProxyProtocolMode::kV1).status,
              Status::kIncomplete)
        << n;
  }
}

TEST(ProxyV1, RejectsBrokenLines) {
  for (const std::string& bad : std::vector<std::string>{
           "GET / HTTP/1.1\r\n",                   // no header at all
           "PROXY TCP4 192.0.2.10 198.51.100.7 40000 7007\n",   // LF without CR
           "PROXY TCP4 192.0.2.10 198.51.100.7 40000\r\n",      // a field missing
           "PROXY TCP4 192.0.2.10 198.51.100.7 40000 7007 9\r\n",
           "PROXY TCP4  192.0.2.10 198.51.100.7 40000 7007\r\n",  // double space
           "PROXY TCP5 192.0.2.10 198.51.100.7 40000 7007\r\n",
           "PROXY TCP4 ::1 ::1 40000 7007\r\n",                 // v6 address under TCP4
           "PROXY TCP6 192.0.2.10 198.51.100.7 40000 7007\r\n",
           "PROXY TCP4 192.0.2.300 198.51.100.7 40000 7007\r\n",
           "PROXY TCP4 192.0.2.10 198.51.100.7 65536 7007\r\n",
           "PROXY TCP4 192.0.2.10 198.51.100.7 040000 7007\r\n",  // leading zero
           "PROXY TCP4 192.0.2.10 198.51.100.7 -1 7007\r\n",
           "proxy TCP4 192.0.2.10 198.51.100.7 40000 7007\r\n",
           std::string("PROXY TCP6 0::1\0\0 :: 56 35\r\n", 28),  // NUL after an address (fuzzer)
       }) {
    const ProxyHeader h = parse_proxy_header(bad, ProxyProtocolMode::kV1);
    EXPECT_EQ(h.status, Status::kInvalid) << bad;
    EXPECT_FALSE(h.error.empty()) << bad;
  }
}

TEST(ProxyV1, A107ByteLineWithoutItsEndIsInvalidNotAWaitForever) {
  const std::string endless = "PROXY TCP4 " + std::string(200, '1');
  EXPECT_EQ(parse_proxy_header(endless, ProxyProtocolMode::kV1).status, Status::kInvalid);
  EXPECT_EQ(parse_proxy_header(endless.substr(0, kProxyV1MaxBytes - 1), ProxyProtocolMode::kV1).status,
            Status::kIncomplete);
}

TEST(ProxyV2, ParsesAnIpv4ProxyHeaderWithTlvs) {
  // An AWS-NLB-like TLV (type 0xEA) and a NOOP (0x04) after the addresses.
  const std::string tlvs = std::string("\xEA\x00\x03vpc", 6) + std::string("\x04\x00\x00", 3);
  const std::string header = v2(1, 0x11, v4_block() + tlvs);
  const ProxyHeader h = parse_proxy_header(header + "payload", ProxyProtocolMode::kV2);
  ASSERT_EQ(h.status, Status::kComplete) << h.error;
  EXPECT_EQ(h.version, 2);
  EXPECT_FALSE(h.local);
  EXPECT_EQ(h.length, header.size());
  EXPECT_EQ(ip_of(h.source), "192.0.2.10");
  EXPECT_EQ(port_of(h.source), 40000);
}

TEST(ProxyV2, ParsesAnIpv6ProxyHeader) {
  std::string block(36, '\0');
  block[0] = '\x20';
  block[1] = '\x01';
  block[2] = '\x0d';
  block[3] = '\xb8';
  block[15] = '\x01';  // 2001:db8::1
  block[32] = '\x1F';
  block[33] = '\x40';  // port 8000
  const ProxyHeader h = parse_proxy_header(v2(1, 0x21, block), ProxyProtocolMode::kV2);
  ASSERT_EQ(h.status, Status::kComplete) << h.error;
  EXPECT_EQ(ip_of(h.source), "2001:db8::1");
  EXPECT_EQ(port_of(h.source), 8000);
}

TEST(ProxyV2, LocalAndAddresslessHeadersKeepTheConnectionsOwnAddress) {
  for (const std::string& header :
       {v2(0, 0x00, ""), v2(0, 0x11, v4_block()), v2(1, 0x00, ""),
        v2(1, 0x31, std::string(216, '\0'))}) {
    const ProxyHeader h = parse_proxy_header(header, ProxyProtocolMode::kV2);
    ASSERT_EQ(h.status, Status::kComplete) << h.error;
    EXPECT_TRUE(h.local);
    EXPECT_EQ(h.length, header.size());
  }
}

TEST(ProxyV2, EveryPrefixOfAValidHeaderIsIncompleteAndSaysHowMuchItNeeds) {
  const std::string header = v2(1, 0x11, v4_block());
  for (std::size_t n = 0; n < header.size(); ++n) {
    const ProxyHeader h = parse_proxy_header(header.substr(0, n), ProxyProtocolMode::kV2);
    ASSERT_EQ(h.status, Status::kIncomplete) << n;
    EXPECT_GT(h.needed, n);
    EXPECT_LE(h.needed, header.size());
  }
}

TEST(ProxyV2, RejectsBrokenHeaders) {
  std::string wrong_version = v2(1, 0x11, v4_block());
  wrong_version[12] = '\x11';
  std::string long_header = v2(1, 0x11, v4_block());
  long_header[14] = '\x7F';  // length 32k+: more than echod waits for
  for (const std::string& bad : {
           std::string("\r\n\r\n\0\r\nQUIZ\n", 12) + std::string(4, '\0'),  // signature
           wrong_version,
           v2(2, 0x11, v4_block()),                 // command 2
           v2(1, 0x41, v4_block()),                 // family 4
           v2(1, 0x13, v4_block()),                 // transport 3
           v2(1, 0x11, v4_block().substr(0, 11)),   // address block short
           v2(1, 0x21, v4_block()),                 // IPv6 family, IPv4-sized block
           v2(1, 0x11, v4_block() + "\x04\x00"),    // TLV cut inside its length
           v2(1, 0x11, v4_block() + std::string("\x04\x00\x05xx", 5)),  // TLV past the end
           long_header,
       }) {
    const ProxyHeader h = parse_proxy_header(bad, ProxyProtocolMode::kV2);
    EXPECT_EQ(h.status, Status::kInvalid) << h.error;
  }
}

TEST(ProxyModes, AnyPicksTheVersionByItsFirstByteAndOtherwiseNothingIsGuessed) {
  const std::string one = "PROXY TCP4 192.0.2.10 198.51.100.7 40000 7007\r\n";
  const std::string two = v2(1, 0x11, v4_block());
  EXPECT_EQ(parse_proxy_header(one, ProxyProtocolMode::kAny).version, 1);
  EXPECT_EQ(parse_proxy_header(two, ProxyProtocolMode::kAny).version, 2);
  EXPECT_EQ(parse_proxy_header(one, ProxyProtocolMode::kV2).status, Status::kInvalid);
  EXPECT_EQ(parse_proxy_header(two, ProxyProtocolMode::kV1).status, Status::kInvalid);
  EXPECT_EQ(parse_proxy_header("hello", ProxyProtocolMode::kAny).status, Status::kInvalid);
  EXPECT_EQ(parse_proxy_header(one, ProxyProtocolMode::kOff).status, Status::kInvalid);
  EXPECT_EQ(parse_proxy_header("", ProxyProtocolMode::kAny).status, Status::kIncomplete);
}

}  // namespace
}  // namespace echod
