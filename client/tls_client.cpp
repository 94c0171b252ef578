#include "tls_client.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>

#include <cstdio>
#include <fstream>

#include "tls_shared_certificates.h"
#include "tls_shared_certificates.h"
#include "usage_error.h"

namespace echo_probe {
namespace {

std::string openssl_reason() {
  const unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  const char* reason = ERR_reason_error_string(e);
  return reason ? reason : "OpenSSL error " + std::to_string(e);
}

void check_readable(const char* setting, const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UsageError(setting, "cannot read '" + path + "'");
}

bool is_ip_literal(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

const char* TlsSettings::first_set() const {
  if (!ca_file.empty()) return "--tls-ca";
  if (!cert_file.empty()) return "--tls-cert";
  if (!key_file.empty()) return "--tls-key";
  if (!server_name.empty()) return "--tls-server-name";
  if (insecure) return "--tls-insecure";
  return "--tls";
}

std::shared_ptr<const TlsClientContext> TlsClientContext::create(const TlsSettings& s) {
  if (!s.cert_file.empty() && s.key_file.empty()) {
    throw UsageError("--tls-cert", "needs --tls-key (the client certificate's private key)");
  }
  if (s.cert_file.empty() && !s.key_file.empty()) {
    throw UsageError("--tls-key", "needs --tls-cert (the client certificate it belongs to)");
  }
  if (s.insecure && !s.ca_file.empty()) {
    throw UsageError("--tls-insecure", "conflicts with --tls-ca (nothing would be verified)");
  }
  if (!s.ca_file.empty()) check_readable("--tls-ca", s.ca_file);
  if (!s.cert_file.empty()) check_readable("--tls-cert", s.cert_file);
  if (!s.key_file.empty()) check_readable("--tls-key", s.key_file);
  // OpenSSL writes to the socket with write(2): a peer that already closed must give
  // EPIPE, not kill the probe.
  ::signal(SIGPIPE, SIG_IGN);

  std::shared_ptr<TlsClientContext> c(new TlsClientContext(s));
  ERR_clear_error();
  c->ctx_ = SSL_CTX_new(TLS_client_method());
  if (c->ctx_ == nullptr)
    throw UsageError("--tls", "cannot create a TLS context: " + openssl_reason());
  SSL_CTX_set_min_proto_version(c->ctx_, TLS1_2_VERSION);
  // Partial writes keep the engine's byte accounting (tx offsets) exact; the write buffer
  // is one shared scratch buffer refilled with the same bytes on a retry.
  SSL_CTX_set_mode(c->ctx_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (s.insecure) {
    SSL_CTX_set_verify(c->ctx_, SSL_VERIFY_NONE, nullptr);
  } else {
    SSL_CTX_set_verify(c->ctx_, SSL_VERIFY_PEER, nullptr);
    if (!s.ca_file.empty()) {
      if (SSL_CTX_load_verify_locations(c->ctx_, s.ca_file.c_str(), nullptr) != 1) {
        throw UsageError("--tls-ca",
                         "'" + s.ca_file + "' holds no PEM certificate (" + openssl_reason() + ")");
      }
    } else if (SSL_CTX_set_default_verify_paths(c->ctx_) != 1) {
      throw UsageError("--tls-ca", "no --tls-ca and the system CA store cannot be loaded (" +
                                       openssl_reason() + ")");
    }
  }
  if (!s.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(c->ctx_, s.cert_file.c_str()) != 1) {
      throw UsageError("--tls-cert", "'" + s.cert_file + "' is not a PEM certificate chain (" +
                                         openssl_reason() + ")");
    }
    const bool key_loaded =
        SSL_CTX_use_PrivateKey_file(c->ctx_, s.key_file.c_str(), SSL_FILETYPE_PEM) == 1;
    const unsigned long err = ERR_peek_last_error();
    const bool mismatch =
        ERR_GET_LIB(err) == ERR_LIB_X509 && ERR_GET_REASON(err) == X509_R_KEY_VALUES_MISMATCH;
    if (!key_loaded && !mismatch) {
      throw UsageError("--tls-key",
                       "'" + s.key_file + "' is not a PEM private key (" + openssl_reason() + ")");
    }
    if (!key_loaded || SSL_CTX_check_private_key(c->ctx_) != 1) {
      throw UsageError("--tls-key",
                       "'" + s.key_file + "' does not match --tls-cert '" + s.cert_file + "'");
    }
  }
  // Every probe thread handshakes with this one context.
  echod::settle_shared_certificates(c->ctx_);
  return c;
}

TlsClientContext::~TlsClientContext() { SSL_CTX_free(ctx_); }

SSL* TlsClientContext::new_session(const std::string& host) const {
  SSL* ssl = SSL_new(ctx_);
  if (ssl == nullptr) return nullptr;
  const std::string& name = settings_.server_name.empty() ? host : settings_.server_name;
  const bool ip = is_ip_literal(name);
  // SNI carries host names only (RFC 6066).
  if (!ip && !name.empty()) {
    // SSL_set_tlsext_host_name() without its macro's C cast.
    SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(name.c_str()));
  }
  if (!settings_.insecure && !name.empty()) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    const int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str())
                      : X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
    if (ok != 1) {
      SSL_free(ssl);
      return nullptr;
    }
  }
  return ssl;
}

}  // namespace echo_probe
