#pragma once
// An accepted echo connection waiting for its PROXY protocol header (`--proxy-protocol`).
// It exists only while the header is read: once whole, the header is taken off the socket
// and the worker turns the descriptor into an echo connection with the header's address.
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <list>

#include "event_loop.h"
#include "fault_rules.h"
#include "proxy_protocol.h"

namespace echod {

class ProxyPreamble;

/// The worker that owns preambles; told whenever one has something to read.
class ProxyPreambleOwner {
 public:
  virtual void on_preamble_ready(ProxyPreamble& p, bool hangup) = 0;

 protected:
  ~ProxyPreambleOwner() = default;
};

class ProxyPreamble final : public Watcher {
 public:
  enum class Step {
    kWaiting,     // valid so far: wait for more bytes
    kComplete,    // the header was read off the socket; what follows it is the client's
    kInvalid,     // not a header this mode accepts, or the peer ended it half-way
    kPeerClosed,  // the peer closed (or reset) before sending a single byte
  };

  ProxyPreamble(ProxyPreambleOwner& owner, int fd, FaultListener listener,
                std::int64_t accepted_ns)
      : owner_(owner), fd_(fd), listener_(listener), accepted_ns_(accepted_ns) {}
  ~ProxyPreamble();
  ProxyPreamble(const ProxyPreamble&) = delete;
  ProxyPreamble& operator=(const ProxyPreamble&) = delete;

  void on_events(std::uint32_t events) override {
    owner_.on_preamble_ready(*this, (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
  }

  /// Looks at what has arrived without taking it (MSG_PEEK into `scratch`), and takes
  /// exactly the header's bytes once it is whole, so no byte of the client's own is read
  /// here. `hangup`: the peer's FIN (or an error) is queued, so an incomplete header stays
  /// incomplete. Fills `header` on kComplete (and its `error` on kInvalid).
  Step read(char* scratch, std::size_t scratch_size, ProxyProtocolMode mode, bool hangup,
            ProxyHeader* header);

  /// Hands the descriptor on (it stays registered with the loop); this object then owns none.
  int release_fd();

  int fd() const { return fd_; }
  FaultListener listener() const { return listener_; }
  std::int64_t accepted_ns() const { return accepted_ns_; }

  /// Where in the owner's list this preamble sits (O(1) removal).
  std::list<ProxyPreamble>::iterator position;

 private:
  ProxyPreambleOwner& owner_;
  int fd_;
  FaultListener listener_;
  std::int64_t accepted_ns_;
};

}  // namespace echod
