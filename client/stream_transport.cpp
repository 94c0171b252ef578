#include "stream_transport.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <cerrno>

namespace echo_probe {
namespace {

IoResult errno_result(int err) {
  if (err == EAGAIN || err == EWOULDBLOCK) return {IoStatus::kWantWrite, 0, ErrorClass::kReset};
  return {IoStatus::kFailed, 0, classify_errno(err)};
}

}  // namespace

void StreamTransport::begin(int fd) {
  end(false);
  fd_ = fd;
  header_.clear();
  header_off_ = 0;
  established_ = failed_ = read_any_ = false;
  begin_error_ = IoResult{};
  if (config_->proxy != ProxyVersion::kOff) {
    auto header = proxy_header_for_socket(config_->proxy, fd);
    if (!header) {
      begin_error_ = {IoStatus::kFailed, 0, classify_errno(errno)};
    } else if (header->empty()) {
      begin_error_ = {IoStatus::kFailed, 0, ErrorClass::kRefused};  // not IPv4 / IPv6
    } else {
      header_ = std::move(*header);
    }
  }
  if (config_->tls && begin_error_.status == IoStatus::kOk) {
    ssl_ = config_->tls->new_session(config_->host);
    if (ssl_ == nullptr || SSL_set_fd(ssl_, fd) != 1) {
      begin_error_ = fail_tls("cannot set up a TLS session");
    }
  }
}

IoResult StreamTransport::handshake() {
  if (begin_error_.status != IoStatus::kOk) return begin_error_;
  while (header_off_ < header_.size()) {
    const ssize_t n =
        ::send(fd_, header_.data() + header_off_, header_.size() - header_off_, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_result(errno);
    }
    header_off_ += static_cast<std::size_t>(n);
  }
  if (ssl_ == nullptr || established_) return {};
  ERR_clear_error();
  const int r = SSL_connect(ssl_);
  if (r == 1) {
    established_ = true;
    return {};
  }
  return tls_failure(r, errno);
}

IoResult StreamTransport::write(const char* data, std::size_t len) {
  if (ssl_ == nullptr) {
    for (;;) {
      const ssize_t n = ::send(fd_, data, len, MSG_NOSIGNAL);
      if (n >= 0) return {IoStatus::kOk, static_cast<std::size_t>(n), ErrorClass::kReset};
      if (errno != EINTR) return errno_result(errno);
    }
  }
  ERR_clear_error();
  std::size_t written = 0;
  const int r = SSL_write_ex(ssl_, data, len, &written);
  if (r == 1) return {IoStatus::kOk, written, ErrorClass::kReset};
  const IoResult failed = tls_failure(r, errno);
  if (failed.status == IoStatus::kFailed && failed.error == ErrorClass::kReset && !read_any_) {
    // TLS 1.3: a server that refuses our certificate does so after our handshake ended,
    // with an alert and, if it closes with our first message unread, a reset. The write
    // can meet the reset first; the alert that explains it is still in the receive queue.
    char scratch[256];
    std::size_t got = 0;
    ERR_clear_error();
    failed_ = false;
    const int rr = SSL_read_ex(ssl_, scratch, sizeof scratch, &got);
    const IoResult why = rr == 1 ? IoResult{} : tls_failure(rr, errno);
    failed_ = true;
    if (why.status == IoStatus::kFailed && why.error == ErrorClass::kTls) return why;
  }
  return failed;
}

IoResult StreamTransport::read(char* data, std::size_t len) {
  if (ssl_ == nullptr) {
    for (;;) {
      const ssize_t n = ::recv(fd_, data, len, 0);
      if (n > 0) return {IoStatus::kOk, static_cast<std::size_t>(n), ErrorClass::kReset};
      if (n == 0) return {IoStatus::kEof, 0, ErrorClass::kClosed};
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return {IoStatus::kWantRead};
      return {IoStatus::kFailed, 0, classify_errno(errno)};
    }
  }
  ERR_clear_error();
  std::size_t got = 0;
  const int r = SSL_read_ex(ssl_, data, len, &got);
  if (r == 1) {
    read_any_ = true;
    return {IoStatus::kOk, got, ErrorClass::kReset};
  }
  return tls_failure(r, errno);
}

bool StreamTransport::buffered() const { return ssl_ != nullptr && SSL_pending(ssl_) > 0; }

void StreamTransport::end(bool graceful) {
  if (ssl_ != nullptr) {
    if (graceful && established_ && !failed_) {
      ERR_clear_error();
      SSL_shutdown(ssl_);  // queues and tries to send close_notify; the answer is not awaited
    }
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  ERR_clear_error();
  fd_ = -1;
}

IoResult StreamTransport::fail_tls(const std::string& why) {
  failed_ = true;
  error_ = why;
  ERR_clear_error();
  return {IoStatus::kFailed, 0, ErrorClass::kTls};
}

IoResult StreamTransport::tls_failure(int ret, int saved_errno) {
  switch (SSL_get_error(ssl_, ret)) {
    case SSL_ERROR_WANT_READ:
      return {IoStatus::kWantRead};
    case SSL_ERROR_WANT_WRITE:
      return {IoStatus::kWantWrite};
    case SSL_ERROR_ZERO_RETURN:  // close_notify
      return {IoStatus::kEof, 0, ErrorClass::kClosed};
    case SSL_ERROR_SYSCALL:
      failed_ = true;
      ERR_clear_error();
      if (saved_errno == 0) return {IoStatus::kEof, 0, ErrorClass::kClosed};
      return {IoStatus::kFailed, 0, classify_errno(saved_errno)};
    default:
      break;
  }
  const unsigned long e = ERR_peek_error();
  if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
    // A FIN without close_notify: the same "closed" as on a plain connection.
    failed_ = true;
    ERR_clear_error();
    return {IoStatus::kEof, 0, ErrorClass::kClosed};
  }
  std::string why;
  const long verify = SSL_get_verify_result(ssl_);
  if (!established_ && verify != X509_V_OK) {
    why = std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
  } else if (e != 0) {
    const char* reason = ERR_reason_error_string(e);
    why = reason ? reason : "TLS error " + std::to_string(e);
  } else {
    why = "TLS protocol error";
  }
  return fail_tls(why);
}

}  // namespace echo_probe
