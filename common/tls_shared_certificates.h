#pragma once
// OpenSSL 3.0 computes some facts about a certificate (its extensions, key identifiers,
// purpose flags) the first time a handshake asks, and caches them in the X509 object with
// double-checked locking: the cached fields are read without the lock while another thread
// may still be writing them (openssl/openssl #25202, #32609). An SSL_CTX shared by worker
// threads shares its certificates, so two first handshakes on two workers race on them.
// Computing those caches once, on the thread that built the context and before any worker
// sees it, makes every later use a read of settled memory.
#include <openssl/ssl.h>

namespace echod {

/// Fill the lazily computed caches of every certificate `ctx` holds: its own chain and the
/// trust store it verifies peers against. Call before the context is shared.
void settle_shared_certificates(SSL_CTX* ctx);

}  // namespace echod
