#pragma once
#include "fault.h"

namespace echod {

/// Flips every bit of each byte of `data` (`len` bytes) that ends a block of `every` bytes of
/// a stream in which `seen` bytes came before `data`.
inline void flip_block_ends(char* data, std::size_t len, std::uint64_t every, std::uint64_t seen) {
  for (std::uint64_t next = every - 1 - seen % every; next < len; next += every) {
    data[next] = static_cast<char>(data[next] ^ 0xFF);
  }
}

/// corrupt on one UDP datagram, which is its own stream: the last byte of each `every_bytes`
/// block is flipped, and a datagram shorter than `every_bytes` has its last byte flipped, so
/// every datagram the rule picks differs from what was sent. False for an empty datagram
/// (nothing to flip).
inline bool corrupt_datagram(char* data, std::size_t len, std::uint64_t every_bytes) {
  if (len == 0) return false;
  if (len < every_bytes) {
    data[len - 1] = static_cast<char>(data[len - 1] ^ 0xFF);
  } else {
    flip_block_ends(data, len, every_bytes, 0);
  }
  return true;
}

/// corrupt: flips every bit of the last byte of each `every_bytes` of the echoed stream, so
/// exactly one byte in each such block differs from what the peer sent.
class CorruptFault final : public Fault {
 public:
  explicit CorruptFault(std::uint64_t every_bytes)
      : Fault(FaultAction::kCorrupt), every_(every_bytes) {}

  std::int64_t on_read(char* data, std::size_t len, std::int64_t now_ns) override {
    flip_block_ends(data, len, every_, seen_);
    seen_ += len;
    return now_ns;
  }

 private:
  std::uint64_t every_;
  std::uint64_t seen_ = 0;
};

}  // namespace echod
