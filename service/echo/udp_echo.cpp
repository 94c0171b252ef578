#include "udp_echo.h"

#include <netinet/in.h>
#include <unistd.h>

#include "fault_corrupt.h"

namespace echod {
namespace {

constexpr int kBatchesPerTurn = 8;
constexpr std::uint16_t kFirstUnprivilegedPort = 1024;

std::uint16_t source_port(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(ss).sin6_port);
  return ntohs(reinterpret_cast<const sockaddr_in&>(ss).sin_port);
}

}  // namespace

UdpEcho::UdpEcho(int fd, WorkerStats& stats, const RuntimeSettings& settings, FaultRng& rng,
                 std::function<void(std::int64_t)> arm_timer)
    : fd_(fd),
      stats_(stats),
      settings_(settings),
      rng_(rng),
      arm_timer_(std::move(arm_timer)),
      buffers_(new char[kBatch * kMaxDatagram]) {
  for (std::size_t i = 0; i < kBatch; ++i) {
    iov_[i] = {buffers_.get() + i * kMaxDatagram, kMaxDatagram};
  }
}

UdpEcho::~UdpEcho() { ::close(fd_); }

void UdpEcho::on_events(std::uint32_t) {
  for (int batch = 0; batch < kBatchesPerTurn; ++batch) {
    for (std::size_t i = 0; i < kBatch; ++i) {
      in_[i].msg_hdr = {};
      in_[i].msg_hdr.msg_name = &peers_[i];
      in_[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      in_[i].msg_hdr.msg_iov = &iov_[i];
      in_[i].msg_hdr.msg_iovlen = 1;
    }
    const int got = ::recvmmsg(fd_, in_.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (got <= 0) return;  // EAGAIN: level-triggered, the next datagram wakes us again
    unsigned keep = 0;
    const bool faults = !settings_.faults.rules.empty();
    for (int i = 0; i < got; ++i) {
      const std::size_t len = in_[i].msg_len;
      stats_.udp_received_bytes.add(len);
      if (source_port(peers_[i]) < kFirstUnprivilegedPort) {
        stats_.udp_dropped_privileged.add();
        continue;
      }
      if (faults) [[unlikely]] {
        const FaultRule* rule = choose_fault_rule(settings_.faults, FaultListener::kUdp, &peers_[i], rng_);
        if (rule && take_faulted(*rule, static_cast<std::size_t>(i))) continue;
      }
      out_iov_[keep] = {iov_[i].iov_base, len};
      out_[keep].msg_hdr = {};
      out_[keep].msg_hdr.msg_name = &peers_[i];
      out_[keep].msg_hdr.msg_namelen = in_[i].msg_hdr.msg_namelen;
      out_[keep].msg_hdr.msg_iov = &out_iov_[keep];
      out_[keep].msg_hdr.msg_iovlen = 1;
      ++keep;
    }
    // UDP is lossy by contract: a datagram the kernel will not take now is dropped.
    const int sent = keep ? ::sendmmsg(fd_, out_.data(), keep, MSG_DONTWAIT) : 0;
    for (int i = 0; i < sent; ++i) {
      stats_.udp_sent_bytes.add(out_[i].msg_len);
      stats_.udp_datagrams.add();
    }
    if (static_cast<std::size_t>(got) < kBatch) return;
  }
}

bool UdpEcho::take_faulted(const FaultRule& r, std::size_t i) {
  switch (r.action) {
    case FaultAction::kCorrupt:
      // Counted per datagram, as drop is: each one is its own exchange.
      if (corrupt_datagram(static_cast<char*>(iov_[i].iov_base), in_[i].msg_len, r.every_bytes)) {
        stats_.count_fault(FaultAction::kCorrupt);
      }
      return false;
    case FaultAction::kDelay:
      hold(r, i);
      return true;
    default:  // drop: choose_fault_rule gives a datagram no other action
      stats_.count_fault(FaultAction::kDrop);
      return true;
  }
}

// Beyond the cap the datagram is lost (UDP is lossy by contract) and counted as such, so a
// flood under a long delay costs a bounded amount of memory, never an unbounded queue.
void UdpEcho::hold(const FaultRule& r, std::size_t i) {
  const std::uint64_t cap = settings_.max_pending_bytes * kHeldPerPendingByte;
  if (!held_.hold(release_ns(r), static_cast<const char*>(iov_[i].iov_base), in_[i].msg_len,
                  peers_[i], in_[i].msg_hdr.msg_namelen, cap)) {
    stats_.udp_dropped_delay_full.add();
    return;
  }
  stats_.count_fault(FaultAction::kDelay);
  arm_held_timer();
}

std::int64_t UdpEcho::release_ns(const FaultRule& r) {
  const auto place = static_cast<std::size_t>(&r - settings_.faults.rules.data());
  if (place >= clocks_.size()) clocks_.resize(place + 1);
  DelayClock& clock = clocks_[place];
  if (!clock.order || clock.delay != r.delay || clock.jitter != r.jitter) {
    clock = {r.delay, r.jitter, make_fault(r, 0, rng_)};  // the connections' DelayFault
  }
  return clock.order->on_read(nullptr, 0, fault_read_time_ns());
}

// One timer at a time, at the earliest release. A datagram released earlier than the armed
// timer (a shorter rule) asks for one more; the later one then fires and finds nothing due
// or re-arms, which is harmless.
void UdpEcho::arm_held_timer() {
  if (held_.empty() || held_.next_ns() >= timer_ns_) return;
  timer_ns_ = held_.next_ns();
  arm_timer_(timer_ns_);
}

void UdpEcho::on_timer(std::int64_t now_ns) {
  if (timer_ns_ <= now_ns) timer_ns_ = kNever;
  while (!held_.empty() && held_.next_ns() <= now_ns) answer(held_.pop());
  arm_held_timer();
}

void UdpEcho::answer_all_held() {
  while (!held_.empty()) answer(held_.pop());
}

// A datagram the kernel will not take now is lost, as on the plain path.
void UdpEcho::answer(const UdpHeld::Datagram& d) {
  const ssize_t n = ::sendto(fd_, d.bytes.get(), d.len, MSG_DONTWAIT,
                             reinterpret_cast<const sockaddr*>(&d.peer), d.peer_len);
  if (n < 0) return;
  stats_.udp_sent_bytes.add(static_cast<std::uint64_t>(n));
  stats_.udp_datagrams.add();
}

}  // namespace echod
