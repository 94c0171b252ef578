#pragma once
// The PROXY protocol header (HAProxy's doc/proxy-protocol.txt, versions 1 and 2) that a
// load balancer sends before the client's bytes. Pure: bytes in, verdict out, so every rule
// is unit-tested and fuzzed without sockets.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy_protocol_mode.h"

namespace echod {

/// The longest header echod accepts. v1 lines are at most 107 bytes by the spec. v2 allows
/// 65,535 bytes of addresses and TLVs; real senders (HAProxy, NLB, nginx) send well under a
/// few hundred, and a cap keeps a client from making echod wait for, or hold, 64 KiB.
constexpr std::size_t kProxyV1MaxBytes = 107;
constexpr std::size_t kProxyV2MaxBytes = 16 + 2048;

/// What the bytes at the start of a connection amount to.
struct ProxyHeader {
  enum class Status {
    kIncomplete,  // valid so far: wait for more bytes (`needed` says how many, at least)
    kComplete,    // a whole valid header of `length` bytes
    kInvalid,     // not a header this mode accepts; `error` says why
  } status = Status::kIncomplete;
  int version = 0;        // 1 or 2 when complete
  bool local = false;     // v2 LOCAL command (a health check) or v1/v2 with no usable address
  std::size_t length = 0;  // complete: header bytes to drop before echoing
  std::size_t needed = 0;  // incomplete: total bytes needed before deciding (a lower bound)
  sockaddr_storage source{};  // complete and !local: the client address the header names
  std::string error;
};

/// Parses the header at the front of `bytes` (whatever has arrived so far) for `mode`.
/// Never reads past `bytes`; decides as early as the bytes allow (a wrong first byte is
/// invalid at once, not after a timeout).
ProxyHeader parse_proxy_header(std::string_view bytes, ProxyProtocolMode mode);

}  // namespace echod
