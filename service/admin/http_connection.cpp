#include "http_connection.h"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>

#include "http_framing.h"

namespace echod {
namespace {

const char* reason_phrase(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    default: return "Service Unavailable";
  }
}

std::string error_answer(int status, const std::string& why) {
  const std::string body = "{\"error\":\"" + why + "\"}\n";
  return "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

}  // namespace

HttpConnection::HttpConnection(UniqueFd fd, net::PeerAddress peer, const HttpFrontLimits& limits,
                               HttpConnectionOwner& owner, EventLoop& loop)
    : fd_(std::move(fd)), peer_(std::move(peer)), limits_(limits), owner_(owner), loop_(loop) {
  waiting_since_ = Clock::now();
  deadline_ = waiting_since_ + limits_.first_request_timeout;
}

HttpConnection::~HttpConnection() { unwatch(); }

void HttpConnection::watch(std::uint32_t events) {
  if (watched_) {
    loop_.modify(fd_.get(), events, this);
  } else {
    watched_ = loop_.add(fd_.get(), events, this);
  }
}

void HttpConnection::unwatch() {
  if (!watched_) return;
  loop_.remove(fd_.get());
  watched_ = false;
}

void HttpConnection::start() {
  state_ = State::kReading;
  watch(EPOLLIN);
  read_available();
  if (state_ == State::kReading) advance();
}

void HttpConnection::read_next() {
  state_ = State::kReading;
  watch(EPOLLIN);
  advance();
}

void HttpConnection::on_events(std::uint32_t events) {
  if (state_ == State::kReading) {
    read_available();
    if (state_ == State::kReading) advance();
  } else if (state_ == State::kWriting) {
    if (events & (EPOLLERR | EPOLLHUP)) {
      finish();
      return;
    }
    flush();
  }
}

void HttpConnection::read_available() {
  // At most what one request may be, plus one chunk, so memory stays bounded; framing turns
  // anything bigger into a 413 or 431.
  const std::size_t cap = limits_.max_head_bytes + limits_.max_body_bytes + 16384;
  char chunk[16384];
  while (in_.size() < cap) {
    const ssize_t n = ::recv(fd_.get(), chunk, sizeof chunk, 0);
    if (n > 0) {
      in_.append(chunk, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) {
      peer_closed_ = true;
      unwatch();  // a closed peer stays readable: level-triggered epoll would spin on it
    } else if (errno == EINTR) {
      continue;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
      finish();
    }
    return;
  }
}

void HttpConnection::advance() {
  HttpFraming f = frame_request(in_, limits_.max_head_bytes, limits_.max_body_bytes);
  switch (f.kind) {
    case HttpFraming::kIncomplete:
      if (peer_closed_) {
        finish();
      } else if (f.send_continue && !continue_sent_) {
        continue_sent_ = true;
        send_best_effort("HTTP/1.1 100 Continue\r\n\r\n");
      }
      return;
    case HttpFraming::kError:
      refuse(f.status, f.error);
      return;
    case HttpFraming::kComplete:
      break;
  }
  state_ = State::kAnswering;
  unwatch();
  request_len_ = f.length;
  path_ = std::move(f.path);
  client_asked_close_ = f.close;
  owner_.request_ready(*this);
}

void HttpConnection::serve(const HttpHandler& handler, bool stopping) {
  HttpRequest request;
  request.bytes = std::string_view(in_).substr(0, request_len_);
  request.last = served_ + 1 >= limits_.max_requests_per_connection || peer_closed_ ||
                 client_asked_close_ || stopping;
  request.remote_ip = peer_.ip;
  request.remote_port = peer_.port;
  HttpAnswer answer = handler(request);
  out_ = std::move(answer.bytes);
  out_sent_ = 0;
  close_after_answer_ = request.last || !answer.keep_alive;
}

void HttpConnection::write_answer() {
  state_ = State::kWriting;
  deadline_ = Clock::now() + limits_.write_timeout;
  flush();
}

void HttpConnection::flush() {
  while (out_sent_ < out_.size()) {
    const ssize_t n =
        ::send(fd_.get(), out_.data() + out_sent_, out_.size() - out_sent_, MSG_NOSIGNAL);
    if (n > 0) {
      out_sent_ += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      watch(EPOLLOUT);  // the rest when the client reads; the write deadline bounds the wait
      return;
    }
    finish();
    return;
  }
  answered();
}

void HttpConnection::answered() {
  out_.clear();
  out_.shrink_to_fit();
  if (close_after_answer_) {
    finish();
    return;
  }
  in_.erase(0, request_len_);
  request_len_ = 0;
  ++served_;
  continue_sent_ = false;
  waiting_since_ = Clock::now();
  deadline_ = waiting_since_ + limits_.keep_alive_timeout;
  read_next();
}

void HttpConnection::refuse(int status, const std::string& why) {
  send_best_effort(error_answer(status, why));
  finish();
}

void HttpConnection::expire() {
  // A partial request gets told why; an idle kept-alive connection just closes.
  if (state_ == State::kReading && !in_.empty()) {
    refuse(408, "request not received in time");
  } else {
    finish();
  }
}

void HttpConnection::send_best_effort(const std::string& bytes) {
  // Non-blocking and small: it fits the socket buffer or the client loses it.
  [[maybe_unused]] const ssize_t n = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
}

void HttpConnection::finish() {
  if (state_ == State::kDone) return;
  state_ = State::kDone;
  unwatch();
  owner_.finished(*this);  // the owner destroys it once the loop turn is over
}

}  // namespace echod
