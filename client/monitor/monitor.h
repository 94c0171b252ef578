#pragma once
// The monitor: targets -> resolved addresses -> probers, and the series they fill.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "event_loop.h"
#include "monitor_options.h"
#include "prober.h"
#include "resolver.h"
#include "series.h"

namespace echo_probe::monitor {

/// Owns one TargetSeries per TARGET and, per resolved address, its probers: one fresh
/// prober and --persistent persistent ones. apply() takes each resolution: new addresses
/// get probers (and series), addresses that left DNS lose their probers and their series
/// freeze, to be dropped kFrozenFor later. Everything runs on the loop thread; other
/// threads reach it through EventLoop::post().
class Monitor final : public TimerHandler {
 public:
  static constexpr Nanos kFrozenFor = 600 * kNanosPerSecond;

  Monitor(EventLoop& loop, const MonitorOptions& options);
  ~Monitor() override;

  void apply(const Resolution& r);
  /// Stops every prober (at exit); series stay for the final report.
  void stop_probing();
  void on_timer(Nanos now) override;  // the periodic sweep of departed addresses

  /// Every target had its first resolution (successful or not).
  bool resolved_once() const;
  /// Any persistent connection broke other than graceful.
  bool disrupted() const;
  const std::vector<std::unique_ptr<TargetSeries>>& series() const { return series_; }
  const MonitorOptions& options() const { return options_; }
  double started_unix() const { return started_unix_; }

 private:
  using Probers = std::vector<std::unique_ptr<Prober>>;
  void add_address(std::size_t target, const Address& address, Nanos now);
  void remove_address(std::size_t target, const std::string& address, Nanos now);
  void sweep_retiring(Nanos now);

  EventLoop& loop_;
  const MonitorOptions& options_;
  ProbeShared shared_;
  std::vector<std::unique_ptr<TargetSeries>> series_;
  std::vector<TransportConfig> transports_;  // per target; outlives the probers below
  std::vector<std::map<std::string, Probers>> probers_;  // per target, per probed address
  // Persistent probers of addresses that left DNS, still holding their connection.
  struct Retiring {
    Nanos since;
    std::unique_ptr<Prober> prober;
  };
  std::vector<Retiring> retiring_;
  std::vector<bool> resolved_;
  double started_unix_;
};

}  // namespace echo_probe::monitor
