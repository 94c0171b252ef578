#include "payload.h"

#include <cstring>

namespace echo_probe {
namespace {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

Payload::Payload(std::uint64_t conn, std::uint64_t seq)
    : seed_(splitmix64(splitmix64(conn) ^ seq)) {}

void Payload::fill(std::size_t offset, char* out, std::size_t len) const {
  std::size_t word = offset / 8;
  std::size_t skip = offset % 8;
  while (len > 0) {
    const std::uint64_t bits = splitmix64(seed_ + word);
    char bytes[8];
    std::memcpy(bytes, &bits, sizeof bytes);
    const std::size_t take = (8 - skip) < len ? (8 - skip) : len;
    std::memcpy(out, bytes + skip, take);
    out += take;
    len -= take;
    skip = 0;
    ++word;
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
