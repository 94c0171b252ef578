#pragma once
// The failure classes every probe error falls into (SPEC "echo-probe").
#include <array>
#include <cstdint>
#include <string_view>

namespace echo_probe {

enum class ErrorClass : std::uint8_t {
  kDns,       // the host name did not resolve
  kRefused,   // connect refused (or the address is unreachable)
  kTimeout,   // connect or echo not complete within --timeout
  kReset,     // the peer reset the connection (ECONNRESET, EPIPE)
  kClosed,    // the peer closed before echoing everything
  kMismatch,  // an echoed byte differs from the one sent (or bytes nobody sent arrived)
  kTls,       // TLS handshake or certificate verification failed, or a TLS protocol error
};
constexpr int kErrorClassCount = 7;

/// Every class, in report and export order.
constexpr std::array<ErrorClass, kErrorClassCount> kAllErrorClasses = {
    ErrorClass::kDns,   ErrorClass::kRefused,  ErrorClass::kTimeout, ErrorClass::kReset,
    ErrorClass::kClosed, ErrorClass::kMismatch, ErrorClass::kTls};

/// JSON / summary name: "dns", "refused", "timeout", "reset", "closed", "mismatch", "tls".
std::string_view error_class_name(ErrorClass c);
/// Maps a socket errno (connect, read, write, SO_ERROR) to its class.
ErrorClass classify_errno(int err);

/// Per-class error counters.
struct ErrorCounts {
  std::array<std::uint64_t, kErrorClassCount> by_class{};

  void add(ErrorClass c) { ++by_class[static_cast<int>(c)]; }
  std::uint64_t operator[](ErrorClass c) const { return by_class[static_cast<int>(c)]; }
  std::uint64_t total() const;
  void merge(const ErrorCounts& other);
};

}  // namespace echo_probe
