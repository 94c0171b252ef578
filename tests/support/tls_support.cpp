#include "tls_support.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "echod_process.h"

namespace echod::test {
namespace {

std::string last_openssl_error() {
  unsigned long last = 0;
  while (const unsigned long e = ERR_get_error()) last = e;
  if (last == 0) return "no OpenSSL error queued";
  char buf[256];
  ERR_error_string_n(last, buf, sizeof buf);
  return buf;
}

}  // namespace

std::string client_hello() {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = SSL_new(ctx);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);  // the SSL owns both
  SSL_set_connect_state(ssl);
  SSL_do_handshake(ssl);  // writes the ClientHello, then wants the ServerHello
  std::string hello;
  char buf[4096];
  for (int n; (n = BIO_read(out, buf, sizeof buf)) > 0;)
    hello.append(buf, static_cast<std::size_t>(n));
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  ERR_clear_error();
  return hello;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TlsFiles::TlsFiles() {
  char tmpl[] = "/tmp/echod-tls-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
}

TlsFiles::~TlsFiles() { std::filesystem::remove_all(dir_); }

void TlsFiles::run(const std::string& command) const {
  const std::string full = "cd '" + dir_ + "' && { " + command + "; } >/dev/null 2>openssl.err";
  if (std::system(full.c_str()) != 0) {
    throw std::runtime_error("openssl failed: " + command + ": " +
                             read_file(dir_ + "/openssl.err"));
  }
}

void TlsFiles::make_ca(const std::string& name) {
  run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30"
      " -subj '/CN=" +
      name + "' -keyout " + name + ".key -out " + name +
      ".pem"
      " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign");
}

void TlsFiles::make_leaf(const std::string& name, const std::string& ca, long serial, bool client) {
  const std::string ext = name + ".ext";
  write(ext, std::string("basicConstraints=CA:FALSE\n") +
                 (client ? "extendedKeyUsage=clientAuth\n"
                         : "extendedKeyUsage=serverAuth\n"
                           "subjectAltName=DNS:localhost,IP:127.0.0.1\n"));
  run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj '/CN=" +
      (client ? name : std::string("localhost")) + "' -keyout " + name + ".key -out " + name +
      ".csr && openssl x509 -req -in " + name + ".csr -CA " + ca + ".pem -CAkey " + ca +
      ".key -set_serial " + std::to_string(serial) + " -days 30 -extfile " + ext + " -out " + name +
      ".pem");
}

void TlsFiles::write(const std::string& file, const std::string& text) const {
  const std::string tmp = dir_ + "/." + file + ".tmp";
  std::ofstream(tmp) << text;
  std::filesystem::rename(tmp, dir_ + "/" + file);
}

std::unique_ptr<TlsFiles> TlsFiles::standard() {
  auto files = std::make_unique<TlsFiles>();
  files->make_ca("ca");
  files->make_leaf("server", "ca", 1001);
  files->make_leaf("client", "ca", 2001, true);
  files->make_ca("other-ca");
  files->make_leaf("stranger", "other-ca", 3001, true);
  return files;
}

std::vector<std::string> TlsFiles::listener_args(const std::string& leaf) const {
  return {"--tls-listen", "127.0.0.1:0", "--tls-cert", cert(leaf), "--tls-key", key(leaf)};
}

TlsClient::TlsClient(std::uint16_t port, const TlsClientOptions& options) {
  // OpenSSL writes with write(2): a peer that reset would kill the test with SIGPIPE.
  ::signal(SIGPIPE, SIG_IGN);
  ctx_ = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_mode(ctx_, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);  // try_send retries
  if (options.version == 12 || options.version == 13) {
    const int v = options.version == 12 ? TLS1_2_VERSION : TLS1_3_VERSION;
    SSL_CTX_set_min_proto_version(ctx_, v);
    SSL_CTX_set_max_proto_version(ctx_, v);
  }
  if (!options.ca_file.empty()) {
    SSL_CTX_load_verify_locations(ctx_, options.ca_file.c_str(), nullptr);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  }
  if (!options.cert_file.empty()) {
    SSL_CTX_use_certificate_chain_file(ctx_, options.cert_file.c_str());
    SSL_CTX_use_PrivateKey_file(ctx_, options.key_file.c_str(), SSL_FILETYPE_PEM);
  }
  fd_ = connect_tcp(port);
  if (!fd_) {
    error_ = "connect failed";
    return;
  }
  ssl_ = SSL_new(ctx_);
  SSL_set_fd(ssl_, fd_.get());
  static char kHost[] = "localhost";
  SSL_ctrl(ssl_, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, kHost);  // SNI
  if (!options.ca_file.empty()) SSL_set1_host(ssl_, "localhost");
  if (SSL_connect(ssl_) != 1) {
    error_ = last_openssl_error();
    return;
  }
  connected_ = true;
}

TlsClient::~TlsClient() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
}

std::string TlsClient::version() const { return ssl_ ? SSL_get_version(ssl_) : ""; }

long TlsClient::peer_serial() const {
  if (ssl_ == nullptr) return -1;
  X509* peer = SSL_get1_peer_certificate(ssl_);
  if (peer == nullptr) return -1;
  const long serial = ASN1_INTEGER_get(X509_get0_serialNumber(peer));
  X509_free(peer);
  return serial;
}

bool TlsClient::send_all(const std::string& data) {
  std::size_t off = 0;
  while (off < data.size()) {
    std::size_t wrote = 0;
    if (SSL_write_ex(ssl_, data.data() + off, data.size() - off, &wrote) != 1) {
      error_ = last_openssl_error();
      return false;
    }
    off += wrote;
  }
  return true;
}

bool TlsClient::try_send(const std::string& data, bool* blocked) {
  std::size_t wrote = 0;
  const int r = SSL_write_ex(ssl_, data.data(), data.size(), &wrote);
  if (r == 1) return true;
  const int err = SSL_get_error(ssl_, r);
  *blocked = err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ;
  if (!*blocked) error_ = last_openssl_error();
  return false;
}

bool TlsClient::wait(bool for_write, std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) return false;
  pollfd p{fd_.get(), static_cast<short>(for_write ? POLLOUT : POLLIN), 0};
  return ::poll(&p, 1, static_cast<int>(left.count())) > 0;
}

std::string TlsClient::recv_exact(std::size_t n, std::chrono::milliseconds timeout) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[65536];
  while (out.size() < n) {
    if (SSL_pending(ssl_) == 0 && !wait(false, deadline)) break;
    std::size_t got = 0;
    if (SSL_read_ex(ssl_, buf, std::min(sizeof buf, n - out.size()), &got) != 1) {
      error_ = last_openssl_error();
      break;
    }
    out.append(buf, got);
  }
  return out;
}

bool TlsClient::echoes(const std::string& msg) {
  return send_all(msg) && recv_exact(msg.size()) == msg;
}

void TlsClient::send_close_notify() { SSL_shutdown(ssl_); }

TlsClient::Ending TlsClient::read_to_end(std::chrono::milliseconds timeout) {
  Ending end;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[65536];
  for (;;) {
    if (SSL_pending(ssl_) == 0 && !wait(false, deadline)) return end;
    std::size_t got = 0;
    const int r = SSL_read_ex(ssl_, buf, sizeof buf, &got);
    if (r == 1) {
      end.bytes.append(buf, got);
      continue;
    }
    const int err = SSL_get_error(ssl_, r);
    end.close_notify = err == SSL_ERROR_ZERO_RETURN;
    end.reset = err == SSL_ERROR_SYSCALL && errno == ECONNRESET;
    ERR_clear_error();
    break;
  }
  if (end.close_notify) end.eof_after = wait_for_eof(fd_.get(), timeout);
  return end;
}

}  // namespace echod::test
