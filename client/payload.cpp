#include "payload.h"

#include <algorithm>
#include <cstring>

namespace echo_probe {
namespace {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Word `index` of a message: one multiply-xorshift round over the (already well mixed)
// message seed; cheap enough for the hot loop, different for every word and message.
std::uint64_t word_bits(std::uint64_t seed, std::uint64_t index) {
  std::uint64_t x = seed ^ (index * 0x9e3779b97f4a7c15ULL);
  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9ULL;
  return x ^ (x >> 29);
}

}  // namespace

Payload::Payload(std::uint64_t conn, std::uint64_t seq)
    : seed_(splitmix64(conn * 0xd1b54a32d192ed03ULL + seq)) {}

void Payload::fill(std::size_t offset, char* out, std::size_t len) const {
  std::size_t word = offset / 8;
  const std::size_t skip = offset % 8;
  if (skip != 0 && len > 0) {  // a partial first word
    const std::uint64_t bits = word_bits(seed_, word++);
    char bytes[8];
    std::memcpy(bytes, &bits, sizeof bytes);
    const std::size_t take = std::min(8 - skip, len);
    std::memcpy(out, bytes + skip, take);
    out += take;
    len -= take;
  }
  for (; len >= 8; len -= 8, out += 8) {  // whole words: the hot loop
    const std::uint64_t bits = word_bits(seed_, word++);
    std::memcpy(out, &bits, 8);
  }
  if (len > 0) {  // a partial last word
    const std::uint64_t bits = word_bits(seed_, word);
    std::memcpy(out, &bits, len);
  }
}

std::size_t Payload::first_mismatch(std::size_t offset, const char* data, std::size_t len,
                                    char* scratch) const {
  fill(offset, scratch, len);
  if (std::memcmp(scratch, data, len) == 0) return len;
  std::size_t i = 0;
  while (scratch[i] == data[i]) ++i;
  return i;
}

}  // namespace echo_probe
