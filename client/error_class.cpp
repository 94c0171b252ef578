#include "error_class.h"

#include <cerrno>

namespace echo_probe {

std::string_view error_class_name(ErrorClass c) {
  switch (c) {
    case ErrorClass::kDns:
      return "dns";
    case ErrorClass::kRefused:
      return "refused";
    case ErrorClass::kTimeout:
      return "timeout";
    case ErrorClass::kReset:
      return "reset";
    case ErrorClass::kClosed:
      return "closed";
    case ErrorClass::kMismatch:
      return "mismatch";
    case ErrorClass::kTls:
      return "tls";
  }
  return "unknown";
}

ErrorClass classify_errno(int err) {
  switch (err) {
    case ECONNREFUSED:
    case ENETUNREACH:
    case EHOSTUNREACH:
    case EADDRNOTAVAIL:
      return ErrorClass::kRefused;
    case ETIMEDOUT:
      return ErrorClass::kTimeout;
    default:
      // ECONNRESET, EPIPE, ECONNABORTED and anything unexpected: the connection broke.
      return ErrorClass::kReset;
  }
}

std::uint64_t ErrorCounts::total() const {
  std::uint64_t sum = 0;
  for (auto n : by_class) sum += n;
  return sum;
}

void ErrorCounts::merge(const ErrorCounts& other) {
  for (int i = 0; i < kErrorClassCount; ++i) by_class[i] += other.by_class[i];
}

}  // namespace echo_probe
