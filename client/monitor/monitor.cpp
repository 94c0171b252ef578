#include "monitor.h"

#include <algorithm>
#include <set>

#include "tcp_prober.h"
#include "udp_prober.h"

namespace echo_probe::monitor {
namespace {

constexpr Nanos kSweepEvery = 10 * kNanosPerSecond;

}  // namespace

Monitor::Monitor(EventLoop& loop, const MonitorOptions& options)
    : loop_(loop),
      options_(options),
      shared_(loop, options),
      probers_(options.targets.size()),
      resolved_(options.targets.size(), false),
      started_unix_(unix_now()) {
  for (const auto& t : options.targets) {
    const bool tls = t.transport == Transport::kTls;
    series_.push_back(std::make_unique<TargetSeries>(t.text, tls));
    TransportConfig transport;
    if (tls) transport.tls = options.tls;
    transport.host = t.endpoint.host;
    if (t.transport != Transport::kUdp) transport.proxy = options.proxy;
    transports_.push_back(std::move(transport));
  }
  loop_.schedule(this, now_ns() + kSweepEvery);
}

Monitor::~Monitor() {
  loop_.cancel(this);
  stop_probing();
}

void Monitor::stop_probing() {
  for (auto& per_target : probers_) {
    for (auto& [_, probers] : per_target) {
      for (auto& p : probers) p->stop();
    }
    per_target.clear();
  }
  for (auto& r : retiring_) r.prober->stop();
  retiring_.clear();
}

bool Monitor::resolved_once() const {
  return std::all_of(resolved_.begin(), resolved_.end(), [](bool b) { return b; });
}

bool Monitor::disrupted() const {
  for (const auto& t : series_) {
    for (int c = 0; c < kBreakClassCount; ++c) {
      if (c != static_cast<int>(BreakClass::kGraceful) && t->break_totals[c] > 0) return true;
    }
  }
  return false;
}

void Monitor::apply(const Resolution& r) {
  const Nanos now = now_ns();
  resolved_[r.target_index] = true;
  TargetSeries& target = *series_[r.target_index];
  if (!r.error.empty()) {
    // Keep probing what we had: an empty answer is more often a DNS hiccup than every
    // backend gone, and if they are gone the probes say so.
    ++target.dns_errors;
    log_json("warn", "resolution failed",
             "\"target\":\"" + target.target + "\",\"error\":\"" + r.error + "\"");
    return;
  }
  if (r.found > r.addresses.size()) {
    log_json("warn", "more addresses than --max-addresses; probing the first",
             "\"target\":\"" + target.target + "\",\"found\":" + std::to_string(r.found) +
                 ",\"probed\":" + std::to_string(r.addresses.size()));
  }
  std::set<std::string> now_present;
  for (const auto& a : r.addresses) {
    now_present.insert(a.text);
    if (probers_[r.target_index].count(a.text) == 0) add_address(r.target_index, a, now);
  }
  std::vector<std::string> gone;
  for (const auto& [text, _] : probers_[r.target_index]) {
    if (now_present.count(text) == 0) gone.push_back(text);
  }
  for (const auto& text : gone) remove_address(r.target_index, text, now);
}

void Monitor::add_address(std::size_t t, const Address& address, Nanos now) {
  TargetSeries& target = *series_[t];
  auto& slot = target.addresses[address.text];
  if (!slot) slot = std::make_unique<AddressSeries>(address.text);
  slot->probed = true;
  slot->departed_at = 0;
  log_json("info", "probing address",
           "\"target\":\"" + target.target + "\",\"address\":\"" + address.text + "\"");
  const bool udp = options_.targets[t].transport == Transport::kUdp;
  Probers probers;
  auto make = [&](Mode mode) -> std::unique_ptr<Prober> {
    ProbeContext ctx{shared_, target, *slot, address, transports_[t]};
    if (udp) return std::make_unique<UdpProber>(ctx, mode);
    return std::make_unique<TcpProber>(ctx, mode);
  };
  probers.push_back(make(Mode::kNew));
  for (int i = 0; i < options_.persistent; ++i) probers.push_back(make(Mode::kPersistent));
  for (auto& p : probers) p->start(now);
  probers_[t][address.text] = std::move(probers);
}

void Monitor::remove_address(std::size_t t, const std::string& address, Nanos now) {
  auto it = probers_[t].find(address);
  // A pod leaves DNS when it starts terminating, before it drains: its persistent
  // connections stay until they end, so the drain itself is observed and classified.
  auto doomed = std::make_shared<Probers>();
  for (auto& p : it->second) {
    if (p->retire()) {
      retiring_.push_back(Retiring{now, std::move(p)});
    } else {
      doomed->push_back(std::move(p));
    }
  }
  // Events for these probers may still be in this turn's batch: destroy them after it.
  loop_.defer([doomed] {});
  probers_[t].erase(it);
  AddressSeries& s = *series_[t]->addresses[address];
  s.probed = false;
  s.departed_at = now;
  log_json("info", "address left DNS; its series are frozen for 10 minutes",
           "\"target\":\"" + series_[t]->target + "\",\"address\":\"" + address + "\"");
}

void Monitor::sweep_retiring(Nanos now) {
  // Timers run outside the epoll batch: destroying here is safe. A connection still open
  // after kFrozenFor is closed by us, before its series go.
  for (auto it = retiring_.begin(); it != retiring_.end();) {
    if (it->prober->retired() || now - it->since >= kFrozenFor) {
      it->prober->stop();
      it = retiring_.erase(it);
    } else {
      ++it;
    }
  }
}

void Monitor::on_timer(Nanos now) {
  sweep_retiring(now);
  for (auto& target : series_) {
    auto& m = target->addresses;
    for (auto it = m.begin(); it != m.end();) {
      const bool expired = !it->second->probed && now - it->second->departed_at >= kFrozenFor;
      it = expired ? m.erase(it) : std::next(it);
    }
  }
  loop_.schedule(this, now + kSweepEvery);
}

}  // namespace echo_probe::monitor
