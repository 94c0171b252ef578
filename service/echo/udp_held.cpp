#include "udp_held.h"

#include <algorithm>
#include <cstring>

namespace echod {
namespace {

// std::push_heap keeps the greatest first: "later" is the greater, so the earliest leads.
bool later(const UdpHeld::Datagram& a, const UdpHeld::Datagram& b) {
  return a.release_ns != b.release_ns ? a.release_ns > b.release_ns : a.seq > b.seq;
}

}  // namespace

bool UdpHeld::hold(std::int64_t release_ns, const char* data, std::size_t len,
                   const sockaddr_storage& peer, socklen_t peer_len, std::uint64_t cap) {
  const std::uint64_t cost = len + kOverheadBytes;
  if (charged_ + cost > cap) return false;
  Datagram d{release_ns, next_seq_++, std::make_unique<char[]>(len), len, peer, peer_len};
  if (len > 0) std::memcpy(d.bytes.get(), data, len);
  heap_.push_back(std::move(d));
  std::push_heap(heap_.begin(), heap_.end(), later);
  charged_ += cost;
  return true;
}

UdpHeld::Datagram UdpHeld::pop() {
  std::pop_heap(heap_.begin(), heap_.end(), later);
  Datagram d = std::move(heap_.back());
  heap_.pop_back();
  charged_ -= d.len + kOverheadBytes;
  return d;
}

}  // namespace echod
