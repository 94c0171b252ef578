#pragma once
// Message contents: never constant, cheap to produce and to check again on the way back.
#include <cstddef>
#include <cstdint>

namespace echo_probe {

/// The bytes of message `seq` on connection `conn`: a counter-based PRNG (a splitmix64 seed
/// per message, one multiply-xorshift round per 8-byte word), so any slice of any message can be
/// regenerated without storing what was sent. All 256 byte values occur; two messages differ with
/// overwhelming probability.
class Payload {
 public:
  Payload(std::uint64_t conn, std::uint64_t seq);

  /// Writes bytes [offset, offset + len) of this message into `out`.
  void fill(std::size_t offset, char* out, std::size_t len) const;
  /// Index (relative to `data`) of the first byte that differs from bytes
  /// [offset, offset + len) of this message, or `len` when all match.
  /// `scratch` must hold `len` bytes.
  std::size_t first_mismatch(std::size_t offset, const char* data, std::size_t len,
                             char* scratch) const;

 private:
  std::uint64_t seed_;
};

}  // namespace echo_probe
