#pragma once
// The datagrams UDP delay rules hold back on one worker (fault injection, issue 13).
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace echod {

/// Held datagrams, each with its sender and release time, within a byte budget. Owned by
/// the worker's UdpEcho and used on its loop thread only.
class UdpHeld {
 public:
  /// What one held datagram costs beyond its bytes (its sender's address, release time and
  /// heap slot, ~170 B, rounded up), so that empty datagrams cannot be held without limit.
  static constexpr std::uint64_t kOverheadBytes = 256;

  struct Datagram {
    std::int64_t release_ns;
    std::uint64_t seq;  // arrival order: equal release times leave in it
    std::unique_ptr<char[]> bytes;
    std::size_t len;
    sockaddr_storage peer;
    socklen_t peer_len;
  };

  /// Holds a copy of `len` bytes from `peer` until `release_ns`, unless that would take the
  /// held total (bytes + kOverheadBytes each) over `cap`: then false, and nothing is held.
  bool hold(std::int64_t release_ns, const char* data, std::size_t len,
            const sockaddr_storage& peer, socklen_t peer_len, std::uint64_t cap);
  bool empty() const { return heap_.empty(); }
  /// The earliest release time; only when !empty().
  std::int64_t next_ns() const { return heap_.front().release_ns; }
  /// The held total as hold() counts it against its cap.
  std::uint64_t charged_bytes() const { return charged_; }
  /// Removes and returns the earliest datagram; only when !empty().
  Datagram pop();

 private:
  std::vector<Datagram> heap_;  // a min-heap on (release_ns, seq)
  std::uint64_t charged_ = 0;
  std::uint64_t next_seq_ = 0;
};

}  // namespace echod
