#pragma once
// The client side of TLS, shared by `echo-probe tcp --tls` and the monitor's tls:// targets:
// settings from the command line, checked into one OpenSSL context.
#include <memory>
#include <string>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace echo_probe {

/// --tls-ca, --tls-cert, --tls-key, --tls-server-name, --tls-insecure as given.
struct TlsSettings {
  std::string ca_file;    // empty = the system's CAs
  std::string cert_file;  // client certificate chain (mTLS); needs key_file
  std::string key_file;
  std::string server_name;  // SNI and the name verified; empty = the target's host
  bool insecure = false;    // no certificate verification at all

  bool any_set() const {
    return !ca_file.empty() || !cert_file.empty() || !key_file.empty() || !server_name.empty() ||
           insecure;
  }
  /// The flag name of the first setting given ("--tls-ca", ...), for "needs --tls" errors.
  const char* first_set() const;
};

/// One SSL_CTX: TLS 1.2 or newer, verification on (peer certificate against --tls-ca or
/// the system store, and the host name or IP) unless insecure, the client certificate
/// loaded and matched with its key. Immutable once made, so every worker thread may
/// call new_session() at once.
class TlsClientContext {
 public:
  /// Loads and checks every file now: a UsageError naming the setting when a file is
  /// unreadable, not PEM, or the key does not match the certificate, or --tls-cert and
  /// --tls-key are not given together, or --tls-insecure comes with --tls-ca.
  static std::shared_ptr<const TlsClientContext> create(const TlsSettings& settings);
  ~TlsClientContext();
  TlsClientContext(const TlsClientContext&) = delete;
  TlsClientContext& operator=(const TlsClientContext&) = delete;

  /// A fresh SSL for one connection to `host` (the target's host as written): SNI is
  /// --tls-server-name or `host` when it is a name (never an IP literal), and verification
  /// checks that name, or the IP address when the name is an IP literal. nullptr when
  /// OpenSSL cannot allocate.
  SSL* new_session(const std::string& host) const;
  bool insecure() const { return settings_.insecure; }
  const TlsSettings& settings() const { return settings_; }

 private:
  explicit TlsClientContext(const TlsSettings& s) : settings_(s) {}
  TlsSettings settings_;
  SSL_CTX* ctx_ = nullptr;
};

/// The one warning line about --tls-insecure (stderr, the table, the monitor's log).
constexpr const char* kTlsInsecureWarning =
    "WARNING: --tls-insecure: TLS certificates are NOT verified; anyone on the path can "
    "impersonate the server";

}  // namespace echo_probe
