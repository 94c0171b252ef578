#pragma once
#include "fault.h"

namespace echod {

/// corrupt: flips every bit of the last byte of each `every_bytes` of the echoed stream, so
/// exactly one byte in each such block differs from what the peer sent.
class CorruptFault final : public Fault {
 public:
  explicit CorruptFault(std::uint64_t every_bytes)
      : Fault(FaultAction::kCorrupt), every_(every_bytes) {}

  std::int64_t on_read(char* data, std::size_t len, std::int64_t now_ns) override {
    // Stream offset of the next byte to flip, relative to this chunk.
    std::uint64_t next = every_ - 1 - seen_ % every_;
    for (; next < len; next += every_) data[next] = static_cast<char>(data[next] ^ 0xFF);
    seen_ += len;
    return now_ns;
  }

 private:
  std::uint64_t every_;
  std::uint64_t seen_ = 0;
};

}  // namespace echod
