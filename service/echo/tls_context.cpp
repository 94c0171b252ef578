#include "tls_context.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "tls_shared_certificates.h"

namespace echod {
namespace {

/// OpenSSL's reason for the last failure, and the error queue emptied for the next call.
std::string openssl_reason() {
  unsigned long last = 0;
  while (const unsigned long e = ERR_get_error()) last = e;
  if (last == 0) return "unknown OpenSSL error";
  const char* reason = ERR_reason_error_string(last);
  return reason != nullptr ? reason : "OpenSSL error " + std::to_string(last);
}

/// A readable file, or why not, before OpenSSL turns a missing file into "system lib".
std::string unreadable(const std::string& path) {
  if (::access(path.c_str(), R_OK) == 0) return {};
  return "cannot read " + path + ": " + std::strerror(errno);
}

double not_after_unix(SSL_CTX* ctx) {
  X509* leaf = SSL_CTX_get0_certificate(ctx);
  if (leaf == nullptr) return 0;
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm) != 1) return 0;
  return static_cast<double>(timegm(&tm));
}

/// Whether `path` holds a PEM private key at all (OpenSSL 3 refuses a key that does not
/// match the certificate already at load time; this tells the two failures apart).
bool holds_private_key(const std::string& path) {
  BIO* bio = BIO_new_file(path.c_str(), "r");
  if (bio == nullptr) return false;
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  const bool ok = key != nullptr;
  EVP_PKEY_free(key);
  ERR_clear_error();
  return ok;
}

struct CtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};

}  // namespace

std::variant<std::shared_ptr<const TlsContext>, std::string> TlsContext::load(
    const TlsSettings& s) {
  if (s.cert_file.empty()) return std::string("tls_cert: not set (a TLS listener needs one)");
  if (s.key_file.empty()) return std::string("tls_key: not set (a TLS listener needs one)");
  if (auto why = unreadable(s.cert_file); !why.empty()) return "tls_cert: " + why;
  if (auto why = unreadable(s.key_file); !why.empty()) return "tls_key: " + why;
  if (!s.client_ca_file.empty()) {
    if (auto why = unreadable(s.client_ca_file); !why.empty()) return "tls_client_ca: " + why;
  }
  ERR_clear_error();
  std::unique_ptr<SSL_CTX, CtxFree> ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return "tls: cannot create a context: " + openssl_reason();
  SSL_CTX_set_min_proto_version(ctx.get(), s.min_version >= 13 ? TLS1_3_VERSION : TLS1_2_VERSION);
  // Partial writes and moving buffers suit a non-blocking echo; released buffers keep an idle
  // TLS connection from holding its 2 x 16 KiB record buffers.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE |
                                  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION);
  // Read ahead: OpenSSL reads what the socket holds into its record buffer in one read(),
  // not a record's 5-byte header and then its body in two. One read per record or fewer
  // instead of two: tls_bulk went from 0.88 to 1.04x the reference and tls_4k_c50 makes one
  // syscall fewer per message. The echo loop reads until SSL_read wants input, so records
  // held in that buffer (which raise no epoll edge) are always consumed.
  SSL_CTX_set_read_ahead(ctx.get(), 1);
  // Resumption by stateless tickets only: the internal session cache would take a lock
  // shared by every worker on each handshake and hold up to 20,480 sessions. The session id
  // context lets a client with a certificate resume under mTLS (without it OpenSSL fails
  // such a resumption).
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  static constexpr unsigned char kSessionContext[] = "echod";
  SSL_CTX_set_session_id_context(ctx.get(), kSessionContext, sizeof kSessionContext - 1);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), s.cert_file.c_str()) != 1) {
    return "tls_cert: " + s.cert_file + " holds no usable PEM certificate chain: " +
           openssl_reason();
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), s.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1) {
    ERR_clear_error();
    if (!holds_private_key(s.key_file)) return "tls_key: " + s.key_file + " holds no PEM private key";
    ERR_clear_error();
    return "tls_key: " + s.key_file + " does not match the certificate in " + s.cert_file;
  }
  if (!s.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx.get(), s.client_ca_file.c_str(), nullptr) != 1) {
      return "tls_client_ca: " + s.client_ca_file + " holds no usable PEM CA certificate: " +
             openssl_reason();
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(s.client_ca_file.c_str());
    if (names != nullptr) SSL_CTX_set_client_CA_list(ctx.get(), names);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  // Every worker handshakes with this one context.
  echod::settle_shared_certificates(ctx.get());
  const double not_after = not_after_unix(ctx.get());
  return std::shared_ptr<const TlsContext>(new TlsContext(ctx.release(), not_after));
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

TlsFileWatch::TlsFileWatch(const TlsSettings& settings)
    : settings_(settings),
      cert_(stamp(settings.cert_file)),
      key_(stamp(settings.key_file)),
      ca_(stamp(settings.client_ca_file)) {}

TlsFileWatch::Stamp TlsFileWatch::stamp(const std::string& path) {
  Stamp st;
  struct stat sb {};
  if (path.empty() || ::stat(path.c_str(), &sb) != 0) return st;
  st.exists = true;
  st.inode = sb.st_ino;
  st.size = sb.st_size;
  st.mtime_ns = static_cast<long long>(sb.st_mtim.tv_sec) * 1'000'000'000LL + sb.st_mtim.tv_nsec;
  return st;
}

bool TlsFileWatch::changed() {
  const Stamp cert = stamp(settings_.cert_file);
  const Stamp key = stamp(settings_.key_file);
  const Stamp ca = stamp(settings_.client_ca_file);
  const bool moved = !(cert == cert_) || !(key == key_) || !(ca == ca_);
  cert_ = cert;
  key_ = key;
  ca_ = ca;
  return moved;
}

}  // namespace echod
