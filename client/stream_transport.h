#pragma once
// What sits between a TCP echo connection and its socket: plain send/recv, or a PROXY
// header first, or TLS (with or without the header before the ClientHello). The echo logic
// above it sees plaintext bytes and does not know which it has.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "error_class.h"
#include "proxy_header.h"
#include "tls_client.h"

namespace echo_probe {

/// How every connection to one target is made; built once, read by every session.
struct TransportConfig {
  std::shared_ptr<const TlsClientContext> tls;  // null = plaintext
  std::string host;                             // the target's host (SNI / verification)
  ProxyVersion proxy = ProxyVersion::kOff;

  /// A step between connect() and the first message: a PROXY header or a TLS handshake.
  bool has_handshake() const { return tls != nullptr || proxy != ProxyVersion::kOff; }
};

enum class IoStatus : std::uint8_t {
  kOk,         // `bytes` moved (handshake: data may flow now)
  kWantRead,   // call again when the socket is readable
  kWantWrite,  // call again when the socket is writable
  kEof,        // the peer closed (FIN, or TLS close_notify)
  kFailed,     // `error` says how
};

/// `error` is the class to count when status is kFailed, and kClosed for kEof.
struct IoResult {
  IoStatus status = IoStatus::kOk;
  std::size_t bytes = 0;
  ErrorClass error = ErrorClass::kReset;

  bool would_block() const {
    return status == IoStatus::kWantRead || status == IoStatus::kWantWrite;
  }
};

/// One connection's transport state over a non-blocking socket it does not own: the PROXY
/// header still to write and the OpenSSL session (SSL_connect / SSL_read_ex /
/// SSL_write_ex, never blocking: "want read / want write" go back to the caller's epoll
/// loop). Reusable: begin() on each new socket, end() before the socket closes. Failures
/// are classified as the engine's error classes; TLS protocol and certificate failures
/// are `tls`, with error_text() saying why. One thread (the session's) only.
class StreamTransport {
 public:
  explicit StreamTransport(const TransportConfig& config) : config_(&config) {}
  ~StreamTransport() { end(false); }
  StreamTransport(const StreamTransport&) = delete;
  StreamTransport& operator=(const StreamTransport&) = delete;

  bool tls() const { return config_->tls != nullptr; }
  bool has_handshake() const { return config_->has_handshake(); }

  /// `fd` just connected (every connection, plain ones too): takes its addresses for the
  /// PROXY header, makes the TLS session.
  void begin(int fd);
  /// Writes the PROXY header, then drives the TLS handshake; kOk once plaintext may flow.
  IoResult handshake();
  /// Plaintext out / in. read() gives kEof for FIN or close_notify.
  IoResult write(const char* data, std::size_t len);
  IoResult read(char* data, std::size_t len);
  /// Decrypted bytes waiting inside TLS, which epoll cannot report: read() again.
  bool buffered() const;
  /// Frees the TLS session; `graceful` first sends close_notify (best effort, no wait).
  /// The caller closes the socket afterwards.
  void end(bool graceful);
  /// Why the last `tls` failure happened ("certificate verify failed: ...").
  const std::string& error_text() const { return error_; }

 private:
  IoResult tls_failure(int ret, int saved_errno);
  IoResult fail_tls(const std::string& why);

  const TransportConfig* config_;
  int fd_ = -1;
  SSL* ssl_ = nullptr;
  std::string header_;  // the PROXY header, sent before anything else
  std::size_t header_off_ = 0;
  bool established_ = false;
  bool failed_ = false;
  bool read_any_ = false;  // plaintext has come back on this connection
  IoResult begin_error_{};  // begin() could not prepare: reported by handshake()
  std::string error_;
};

}  // namespace echo_probe
