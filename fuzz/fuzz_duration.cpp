// parse_duration / parse_duration_ns / format_duration: never crash, never overflow (UBSan
// aborts on signed overflow), whatever parses formats back to the same value, and the two
// resolutions of the one grammar agree.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "duration.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto d = echod::parse_duration(text);
  const auto ns = echod::parse_duration_ns(text);
  if (ns && ns->count() % 1'000'000 == 0 && (!d || *d != *ns)) std::abort();
  if (d && ns && *d != *ns) std::abort();
  if (!d) return 0;
  if (d->count() < 0) std::abort();  // no sign is accepted
  // Digits first (then an optional fraction and a unit, or "0"): no whitespace or sign.
  if (text.empty() || text.front() < '0' || text.front() > '9') std::abort();
  const std::string formatted = echod::format_duration(*d);
  const auto again = echod::parse_duration(formatted);
  if (!again || *again != *d) std::abort();  // format is parse's inverse
  return 0;
}
