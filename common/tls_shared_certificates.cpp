#include "tls_shared_certificates.h"

#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace echod {
namespace {

// X509_get_extension_flags() runs the extension cache fill (ossl_x509v3_cache_extensions)
// that a handshake would otherwise run first on whichever worker gets there.
void settle(X509* cert) {
  if (cert != nullptr) (void)X509_get_extension_flags(cert);
}

}  // namespace

void settle_shared_certificates(SSL_CTX* ctx) {
  settle(SSL_CTX_get0_certificate(ctx));
  STACK_OF(X509)* chain = nullptr;
  if (SSL_CTX_get0_chain_certs(ctx, &chain) == 1 && chain != nullptr) {
    for (int i = 0; i < sk_X509_num(chain); ++i) settle(sk_X509_value(chain, i));
  }
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  if (store == nullptr) return;
  STACK_OF(X509_OBJECT)* objects = X509_STORE_get0_objects(store);
  for (int i = 0; i < sk_X509_OBJECT_num(objects); ++i) {
    settle(X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objects, i)));
  }
}

}  // namespace echod
