#include "udp_echo.h"

#include <netinet/in.h>
#include <unistd.h>

namespace echod {
namespace {

constexpr int kBatchesPerTurn = 8;
constexpr std::uint16_t kFirstUnprivilegedPort = 1024;

std::uint16_t source_port(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(ss).sin6_port);
  return ntohs(reinterpret_cast<const sockaddr_in&>(ss).sin_port);
}

}  // namespace

UdpEcho::UdpEcho(int fd, WorkerStats& stats, const RuntimeSettings& settings, FaultRng& rng)
    : fd_(fd), stats_(stats), settings_(settings), rng_(rng), buffers_(new char[kBatch * kMaxDatagram]) {
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
        if (choose_fault_rule(settings_.faults, FaultListener::kUdp, &peers_[i], rng_)) {
          stats_.count_fault(FaultAction::kDrop);  // the only action for datagrams
          continue;
        }
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

}  // namespace echod
