#include "proxy_preamble.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string_view>

#include "socket_ops.h"

namespace echod {

ProxyPreamble::~ProxyPreamble() {
  if (fd_ >= 0) ::close(fd_);
}

int ProxyPreamble::release_fd() {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

ProxyPreamble::Step ProxyPreamble::read(char* scratch, std::size_t scratch_size,
                                        ProxyProtocolMode mode, bool hangup,
                                        ProxyHeader* header) {
  // The longest header this mode accepts: peeking more could only show the client's bytes.
  const std::size_t cap =
      std::min(scratch_size, mode == ProxyProtocolMode::kV1 ? kProxyV1MaxBytes : kProxyV2MaxBytes);
  ssize_t n = -1;
  do {
    n = net::recv_raw(fd_, scratch, cap, MSG_PEEK);
  } while (n < 0 && errno == EINTR);
  if (n == 0) return Step::kPeerClosed;
  if (n < 0) {
    if (errno == EAGAIN && !hangup) return Step::kWaiting;
    return Step::kPeerClosed;  // reset or error with nothing readable
  }
  *header = parse_proxy_header(std::string_view(scratch, static_cast<std::size_t>(n)), mode);
  switch (header->status) {
    case ProxyHeader::Status::kIncomplete:
      // Edge-triggered: the next segment raises a new edge, and MSG_PEEK left these bytes
      // queued, so the next look sees them again with the rest.
      if (!hangup) return Step::kWaiting;
      header->error = "connection ended inside the PROXY header";
      return Step::kInvalid;
    case ProxyHeader::Status::kInvalid:
      return Step::kInvalid;
    case ProxyHeader::Status::kComplete:
      break;
  }
  // The header's bytes are queued (just peeked): take exactly those, leave the client's.
  std::size_t taken = 0;
  while (taken < header->length) {
    const ssize_t r = net::recv_raw(fd_, scratch, header->length - taken, 0);
    if (r > 0) {
      taken += static_cast<std::size_t>(r);
    } else if (r < 0 && errno == EINTR) {
      continue;
    } else {
      header->error = "connection ended while the PROXY header was read";
      return Step::kInvalid;
    }
  }
  return Step::kComplete;
}

}  // namespace echod
