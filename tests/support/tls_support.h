#pragma once
// TLS for tests: certificates made at test time with the openssl CLI in a temporary
// directory, and a small blocking OpenSSL client for talking to echod's TLS listener.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "net_helpers.h"

struct ssl_st;
struct ssl_ctx_st;

namespace echod::test {

/// A temporary directory of PEM files, removed with the object. make_ca() and make_leaf()
/// shell out to `openssl` (P-256 keys: fast to make). Names are file prefixes:
/// make_leaf("server", "ca", 1001) writes server.pem (leaf + nothing else) and server.key.
class TlsFiles {
 public:
  TlsFiles();
  ~TlsFiles();
  TlsFiles(const TlsFiles&) = delete;
  TlsFiles& operator=(const TlsFiles&) = delete;

  /// A self-signed CA: NAME.pem, NAME.key.
  void make_ca(const std::string& name);
  /// A leaf for CN=localhost (SAN DNS:localhost, IP:127.0.0.1) signed by `ca`, with `serial`.
  void make_leaf(const std::string& name, const std::string& ca, long serial, bool client = false);
  /// dir/NAME.pem and dir/NAME.key.
  std::string cert(const std::string& name) const { return dir_ + "/" + name + ".pem"; }
  std::string key(const std::string& name) const { return dir_ + "/" + name + ".key"; }
  const std::string& dir() const { return dir_; }
  /// Writes `text` to dir/FILE atomically (rename).
  void write(const std::string& file, const std::string& text) const;

  /// The default set: CA "ca", server leaf "server" (serial 1001), client leaf "client"
  /// signed by "ca", and an unrelated CA "other-ca" with its client "stranger".
  static std::unique_ptr<TlsFiles> standard();
  /// echod flags for a TLS listener on 127.0.0.1:0 serving `leaf`.
  std::vector<std::string> listener_args(const std::string& leaf = "server") const;

 private:
  void run(const std::string& command) const;
  std::string dir_;
};

/// A real TLS ClientHello as a client sends it first (SNI localhost, TLS 1.2-1.3), for
/// tests that stop a handshake halfway.
std::string client_hello();

/// The whole content of a file ("" when unreadable).
std::string read_file(const std::string& path);

/// How a TlsClient connects.
struct TlsClientOptions {
  std::string ca_file;    // verify the server against it (empty: do not verify)
  std::string cert_file;  // client certificate (mTLS); empty: none
  std::string key_file;
  int version = 0;  // 12 or 13 pins the version; 0 = whatever both agree on
};

/// A blocking TLS client over loopback. Not thread-safe.
class TlsClient {
 public:
  TlsClient(std::uint16_t port, const TlsClientOptions& options);
  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  /// True once the handshake finished (from the client's side).
  bool connected() const { return connected_; }
  /// OpenSSL's reason when the handshake or the last call failed.
  const std::string& error() const { return error_; }
  /// "TLSv1.3"...
  std::string version() const;
  /// The server certificate's serial number (decimal), or -1.
  long peer_serial() const;
  int fd() const { return fd_.get(); }

  bool send_all(const std::string& data);
  /// One SSL_write on a non-blocking socket: true when all of `data` went; false and
  /// `*blocked` when it must be retried later with the same bytes.
  bool try_send(const std::string& data, bool* blocked);
  /// Reads until `n` plaintext bytes, close_notify/EOF, an error or `timeout`.
  std::string recv_exact(std::size_t n,
                         std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// Sends `msg` and expects exactly it back.
  bool echoes(const std::string& msg);
  /// Sends close_notify now (the write side is closed, reading goes on).
  void send_close_notify();
  /// Reads to the end: the bytes, and whether the end was echod's close_notify (not a bare
  /// FIN or a reset).
  struct Ending {
    std::string bytes;
    bool close_notify = false;
    bool eof_after = false;  // TCP EOF followed the close_notify
    bool reset = false;      // the read failed with ECONNRESET (echod sent RST)
  };
  Ending read_to_end(std::chrono::milliseconds timeout = std::chrono::seconds(10));

 private:
  bool wait(bool for_write, std::chrono::steady_clock::time_point deadline);
  Fd fd_;
  ssl_ctx_st* ctx_ = nullptr;
  ssl_st* ssl_ = nullptr;
  bool connected_ = false;
  std::string error_;
};

}  // namespace echod::test
