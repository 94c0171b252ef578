#pragma once
// The interface between a worker's event loop and one connection (or UDP socket).
#include <cstdint>

#include "clock.h"

namespace echo_probe {

/// One connection's state machine, driven by exactly one Worker thread. The worker calls
/// start() once, on_io() for epoll events on the session's fd (epoll data.ptr == this),
/// on_due() when a time the session asked for with Worker::schedule() arrives, and
/// on_tick() every few milliseconds for timeouts and the end of the run. A session tells
/// the worker it is finished exactly once (Worker::session_finished).
class Session {
 public:
  virtual ~Session() = default;
  virtual void start(Nanos now) = 0;
  virtual void on_io(std::uint32_t events, Nanos now) = 0;
  virtual void on_due(Nanos now) = 0;
  virtual void on_tick(Nanos now) = 0;

  // Worker bookkeeping: the due time this session is queued for, 0 when none.
  Nanos queued_at = 0;
};

}  // namespace echo_probe
