// echo-probe's reply verification. Input: conn (8 bytes), seq (8), offset (2), then the
// "echoed" bytes. first_mismatch must agree with a byte-by-byte comparison against fill(),
// and any slice of a message must equal the same range of the whole message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "payload.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 18) return 0;
  std::uint64_t conn, seq;
  std::uint16_t offset;
  std::memcpy(&conn, data, 8);
  std::memcpy(&seq, data + 8, 8);
  std::memcpy(&offset, data + 16, 2);
  const char* echoed = reinterpret_cast<const char*>(data + 18);
  const std::size_t len = size - 18;
  const echo_probe::Payload p(conn, seq);

  std::vector<char> whole(offset + len + 1);
  p.fill(0, whole.data(), whole.size());
  std::vector<char> slice(len + 1);
  p.fill(offset, slice.data(), len);
  if (len > 0 && std::memcmp(slice.data(), whole.data() + offset, len) != 0) std::abort();

  std::vector<char> scratch(len + 1);
  const std::size_t got = p.first_mismatch(offset, echoed, len, scratch.data());
  std::size_t want = 0;
  while (want < len && echoed[want] == whole[offset + want]) ++want;
  if (got != want) std::abort();
  // The exact bytes always verify.
  if (p.first_mismatch(offset, whole.data() + offset, len, scratch.data()) != len) std::abort();
  return 0;
}
