// parse_duration / format_duration: never crash, never overflow (UBSan aborts on signed
// overflow), and whatever parses formats back to the same value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "duration.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto d = echod::parse_duration(text);
  if (!d) return 0;
  if (d->count() < 0) std::abort();  // no sign is accepted
  // Only digits then a unit (or "0"): no whitespace, sign, fraction.
  if (text.empty() || text.front() < '0' || text.front() > '9') std::abort();
  const std::string formatted = echod::format_duration(*d);
  const auto again = echod::parse_duration(formatted);
  if (!again || *again != *d) std::abort();  // format is parse's inverse
  return 0;
}
