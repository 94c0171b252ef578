#pragma once
// The TLS listener's certificate, key and client CA as one loaded, checked unit (OpenSSL 3).
// A reload builds a new unit beside the old one and swaps only when the new one is whole,
// so a bad file on disk never replaces a good certificate.
#include <sys/stat.h>

#include <memory>
#include <string>
#include <variant>

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace echod {

/// What a TLS listener serves with (`--tls-cert`, `--tls-key`, `--tls-client-ca`,
/// `--tls-min-version`).
struct TlsSettings {
  std::string cert_file;       // PEM chain, leaf first
  std::string key_file;        // PEM private key of the leaf
  std::string client_ca_file;  // empty: no client certificates asked for
  int min_version = 12;        // 12 = TLS 1.2, 13 = TLS 1.3
};

/// One SSL_CTX built from TlsSettings: chain and key loaded and checked against each other,
/// the client CA required when set, the minimum version applied. Immutable once built;
/// shared by every worker (OpenSSL's SSL_CTX is safe to share for SSL_new) and freed by the
/// last holder, so open connections keep the context they were accepted with.
class TlsContext {
 public:
  /// The context, or one line naming the setting and what is wrong with it
  /// ("tls_key: /etc/tls/key.pem does not match the certificate in /etc/tls/cert.pem").
  static std::variant<std::shared_ptr<const TlsContext>, std::string> load(
      const TlsSettings& settings);

  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  ssl_ctx_st* native() const { return ctx_; }
  /// notAfter of the served leaf, as Unix seconds (echod_tls_certificate_expiry_timestamp_seconds).
  double leaf_not_after_unix() const { return not_after_unix_; }

 private:
  TlsContext(ssl_ctx_st* ctx, double not_after) : ctx_(ctx), not_after_unix_(not_after) {}
  ssl_ctx_st* ctx_;
  double not_after_unix_;
};

/// Notices when any of the TLS files changed on disk. A Kubernetes Secret update swaps a
/// symlink (..data -> ..2024_...): stat() follows it, so the inode, size or mtime of what
/// the path names changes. Polled by its owner (once a second is plenty).
class TlsFileWatch {
 public:
  explicit TlsFileWatch(const TlsSettings& settings);
  /// True once per change since the last call (or since construction).
  bool changed();

 private:
  struct Stamp {
    ino_t inode = 0;
    off_t size = 0;
    long long mtime_ns = 0;
    bool exists = false;
    bool operator==(const Stamp&) const = default;
  };
  static Stamp stamp(const std::string& path);

  TlsSettings settings_;
  Stamp cert_, key_, ca_;
};

}  // namespace echod
