// The admin front's framing: frame() finds one request at the front of the bytes read so
// far. Fed in random-sized pieces like a socket would, then consumed request by request
// like the front does. Checks: no crash or overflow; a complete request never claims more
// bytes than were read or than the limits allow; the path has no query.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "http_framing.h"

namespace {
using Framing = echod::HttpFraming;
Framing frame(std::string& buf, std::size_t max_head, std::size_t max_body) {
  return echod::frame_request(buf, max_head, max_body);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  struct {
    std::size_t max_head_bytes = 512;  // small limits reach the 431/413 paths with small inputs
    std::size_t max_body_bytes = 256;
  } limits;
  std::string buf;
  std::size_t pos = 0;
  int requests = 0;
  while (pos < size) {
    const std::size_t piece = 1 + data[pos] % 64;
    buf.append(reinterpret_cast<const char*>(data + pos + 1),
               std::min(piece, size - pos - 1));
    pos += piece + 1;
    for (;;) {
      const std::size_t before = buf.size();
      Framing f = frame(buf, limits.max_head_bytes, limits.max_body_bytes);
      if (buf.size() > before) std::abort();  // framing only ever drops bytes
      if (f.kind == Framing::kError) {
        if (f.status != 400 && f.status != 411 && f.status != 413 && f.status != 431) std::abort();
        return 0;  // the front answers and closes
      }
      if (f.kind == Framing::kIncomplete) {
        if (buf.size() > limits.max_head_bytes + limits.max_body_bytes + 4) std::abort();
        break;
      }
      if (f.length == 0 || f.length > buf.size()) std::abort();
      if (f.length > limits.max_head_bytes + limits.max_body_bytes + 4) std::abort();
      if (f.path.find('?') != std::string::npos) std::abort();
      buf.erase(0, f.length);
      if (++requests > 10000) std::abort();
    }
  }
  return 0;
}
