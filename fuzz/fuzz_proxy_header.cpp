// The PROXY protocol header parser (service/echo/proxy_protocol.h): never reads past what
// arrived, never claims more than it was given or than the caps allow, asks for more only
// when more could help, and decides the same on the exact header as on header + payload.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "proxy_protocol.h"

using echod::ProxyHeader;
using echod::ProxyProtocolMode;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto mode = static_cast<ProxyProtocolMode>(1 + data[0] % 3);  // v1, v2, any
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  const ProxyHeader h = echod::parse_proxy_header(bytes, mode);
  switch (h.status) {
    case ProxyHeader::Status::kIncomplete:
      if (h.needed <= bytes.size()) std::abort();  // it had what it asked for
      if (h.needed > echod::kProxyV2MaxBytes) std::abort();
      break;
    case ProxyHeader::Status::kInvalid:
      if (h.error.empty()) std::abort();
      break;
    case ProxyHeader::Status::kComplete: {
      if (h.length == 0 || h.length > bytes.size()) std::abort();
      if (h.length > (h.version == 1 ? echod::kProxyV1MaxBytes : echod::kProxyV2MaxBytes)) {
        std::abort();
      }
      // The header alone parses the same: the verdict never depends on the payload.
      const ProxyHeader alone = echod::parse_proxy_header(bytes.substr(0, h.length), mode);
      if (alone.status != h.status || alone.length != h.length || alone.local != h.local) {
        std::abort();
      }
      // One byte short, it must wait for more (never decide early on a valid header).
      const ProxyHeader cut = echod::parse_proxy_header(bytes.substr(0, h.length - 1), mode);
      if (cut.status != ProxyHeader::Status::kIncomplete) std::abort();
      break;
    }
  }
  return 0;
}
