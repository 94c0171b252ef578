#include "fault.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "fault_bandwidth.h"
#include "fault_corrupt.h"
#include "fault_cutoff.h"
#include "fault_delay.h"
#include "socket_ops.h"

namespace echod {
namespace {

bool source_matches(const Cidr& cidr, const sockaddr_storage* peer) {
  return peer != nullptr && net::in_cidr(*peer, cidr);
}

}  // namespace

bool fault_rules_need_peer(const FaultRules& rules) {
  for (const FaultRule& r : rules.rules) {
    if (r.source) return true;
  }
  return false;
}

const FaultRule* choose_fault_rule(const FaultRules& rules, FaultListener kind,
                                   const sockaddr_storage* peer, FaultRng& rng) {
  for (const FaultRule& r : rules.rules) {
    // Drop never matches a connection; a connection-only action never a datagram.
    if (kind == FaultListener::kUdp ? !fault_action_applies_to_udp(r.action)
                                    : r.action == FaultAction::kDrop) {
      continue;
    }
    if (r.listener != FaultListener::kAny && r.listener != kind) continue;
    if (r.source && !source_matches(*r.source, peer)) continue;
    if (r.probability < 1.0 && !(rng.uniform() < r.probability)) continue;
    return &r;
  }
  return nullptr;
}

std::unique_ptr<Fault> make_fault(const FaultRule& rule, std::int64_t now_ns, FaultRng& rng) {
  switch (rule.action) {
    case FaultAction::kDelay:
      return std::make_unique<DelayFault>(to_ns(rule.delay), to_ns(rule.jitter), rng);
    case FaultAction::kBandwidth:
      return std::make_unique<BandwidthFault>(rule.bytes_per_second, now_ns);
    case FaultAction::kCorrupt:
      return std::make_unique<CorruptFault>(rule.every_bytes);
    case FaultAction::kClose:
    case FaultAction::kReset:
    case FaultAction::kStall:
      return std::make_unique<CutoffFault>(rule, now_ns);
    case FaultAction::kRefuse:
    case FaultAction::kDrop:
    case FaultAction::kCount:
      break;
  }
  return nullptr;
}

std::uint64_t FaultedIo::read_room(std::uint64_t allowance, std::uint64_t cap,
                                   std::uint64_t read) const {
  const std::uint64_t room = std::min(allowance, cap - std::min(cap, held_bytes));
  return std::min(room, fault->end_after_bytes - std::min(fault->end_after_bytes, read));
}

void FaultedIo::hold(char* data, std::size_t len) {
  const std::int64_t release = fault->on_read(data, len, fault_read_time_ns());
  held.push_back({release, std::string(data, len), 0});
  held_bytes += len;
}

void FaultedIo::sent(std::size_t n) {
  fault->on_sent(n);
  echoed += n;
  held_bytes -= n;
  Chunk& head = held.front();
  head.off += n;
  if (head.off == head.bytes.size()) held.pop_front();
}

std::size_t FaultedIo::send_budget(std::size_t want, std::int64_t now_ns,
                                   std::int64_t* retry_ns) {
  return released ? want : fault->send_budget(want, now_ns, retry_ns);
}

void FaultedIo::release_all() {
  released = true;
  for (Chunk& c : held) c.release_ns = 0;
}

FaultedIo::Next FaultedIo::after_reads(std::uint64_t allowance) const {
  if (!held.empty()) return Next::kWait;
  if (echoed >= fault->end_after_bytes) return Next::kFaultEnds;
  if (peer_eof) return Next::kPeerDone;
  if (allowance == 0) return Next::kByteLimit;
  return Next::kWait;
}

std::int64_t FaultedIo::timer_to_arm(std::int64_t now_ns) {
  std::int64_t when = draining ? drain_until_ns : fault->end_at_ns;
  if (!held.empty() && held.front().release_ns > now_ns) {
    when = std::min(when, held.front().release_ns);
  }
  if (when == kNever || when >= timer_ns) return kNever;
  timer_ns = when;
  return when;
}

}  // namespace echod
