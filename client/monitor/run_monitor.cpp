#include "run_monitor.h"

#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <fstream>
#include <future>
#include <memory>

#include "event_loop.h"
#include "http_port.h"
#include "metrics_text.h"
#include "monitor.h"
#include "monitor_options.h"
#include "report_json.h"
#include "resolver.h"

namespace echo_probe::monitor {
namespace {

constexpr auto kLoopAnswerTimeout = std::chrono::seconds(5);
// /livez fails when the loop has not turned for this long (it turns at least every 1 s).
constexpr Nanos kStuckAfter = 10 * kNanosPerSecond;

/// SIGTERM / SIGINT through a signalfd in the loop: blocked in every thread (threads
/// started later inherit the mask), read on the loop thread.
class SignalWatch final : public IoHandler {
 public:
  SignalWatch(EventLoop& loop, sigset_t set) : loop_(loop) {
    fd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    loop_.watch(fd_, EPOLLIN, this);
  }
  ~SignalWatch() override {
    loop_.unwatch(fd_);
    close(fd_);
  }
  void on_io(std::uint32_t) override {
    signalfd_siginfo info;
    if (read(fd_, &info, sizeof info) == sizeof info) {
      signal_ = static_cast<int>(info.ssi_signo);
      loop_.stop();
    }
  }
  int signal() const { return signal_; }

 private:
  EventLoop& loop_;
  int fd_ = -1;
  int signal_ = 0;
};

/// Ends the run after --duration.
class DurationTimer final : public TimerHandler {
 public:
  explicit DurationTimer(EventLoop& loop) : loop_(loop) {}
  void on_timer(Nanos) override {
    expired_ = true;
    loop_.stop();
  }
  bool expired() const { return expired_; }

 private:
  EventLoop& loop_;
  bool expired_ = false;
};

/// Runs `fn` on the loop thread and waits for its text (false after the timeout).
bool on_loop(EventLoop& loop, std::function<std::string()> fn, std::string* out) {
  auto promise = std::make_shared<std::promise<std::string>>();
  auto future = promise->get_future();
  loop.post([promise, fn = std::move(fn)] { promise->set_value(fn()); });
  if (future.wait_for(kLoopAnswerTimeout) != std::future_status::ready) return false;
  *out = future.get();
  return true;
}

bool write_report(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) {
    std::fprintf(stderr, "echo-probe monitor: --report: cannot write %s\n", path.c_str());
    return false;
  }
  return true;
}

// Each address holds 1 + --persistent descriptors: take the hard limit, not the often
// much lower soft one.
void raise_fd_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
}

int run(const MonitorOptions& options) {
  raise_fd_limit();
  // /metrics text is built on the loop thread and freed on an HTTP thread; with one malloc
  // arena that memory is reused scrape after scrape instead of each thread's arena keeping
  // its own high-water mark (measured: 64 addresses stay at 23.6 MiB instead of
  // creeping to 26 MiB; docs/monitor.md).
  mallopt(M_ARENA_MAX, 1);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before any thread starts

  EventLoop loop;
  SignalWatch signal_watch(loop, signals);
  Monitor monitor(loop, options);
  std::atomic<bool> ready{false};
  std::atomic<bool> stopping{false};

  HttpHandlers handlers;
  handlers.metrics = [&](std::string* text) {
    return on_loop(loop, [&] { return render_metrics(monitor); }, text);
  };
  handlers.report = [&](std::string* text) {
    return on_loop(loop, [&] { return render_report(monitor); }, text);
  };
  handlers.live = [&](std::string* why) {
    if (now_ns() - loop.last_turn() < kStuckAfter) return true;
    *why = "event loop stuck";
    return false;
  };
  handlers.ready = [&](std::string* why) {
    if (stopping) {
      *why = "shutting down";
      return false;
    }
    if (!ready) {
      *why = "first resolution of every target not done yet";
      return false;
    }
    return true;
  };
  HttpPort http(handlers);
  const std::uint16_t port = http.bind(options.listen_host, options.listen_port);
  http.start();

  std::string target_list;
  for (const auto& t : options.targets) {
    target_list += (target_list.empty() ? "\"" : ",\"") + t.text + "\"";
  }
  const std::string host = options.listen_host.find(':') != std::string::npos
                               ? "[" + options.listen_host + "]"
                               : options.listen_host;
  log_json("info", "monitor started",
           "\"listen\":\"" + host + ":" + std::to_string(port) + "\",\"targets\":[" +
               target_list + "]");
  if (options.tls && options.tls->insecure()) {
    std::fprintf(stderr, "echo-probe monitor: %s\n", kTlsInsecureWarning);
    log_json("warn", kTlsInsecureWarning, "\"tls_insecure\":true");
  }

  Resolver resolver(options.targets, options.resolve_interval, options.max_addresses,
                    [&](Resolution r) {
                      loop.post([&monitor, &ready, r = std::move(r)] {
                        monitor.apply(r);
                        if (monitor.resolved_once()) ready = true;
                      });
                    });
  DurationTimer duration(loop);
  if (options.duration > 0) loop.schedule(&duration, now_ns() + options.duration);

  loop.run();
  stopping = true;
  resolver.stop();
  monitor.stop_probing();
  loop.cancel(&duration);
  const std::string report = render_report(monitor);
  http.stop();
  bool report_ok = true;
  if (!options.report_file.empty()) report_ok = write_report(options.report_file, report);
  const bool disrupted = monitor.disrupted();
  const char* why = signal_watch.signal() != 0 ? "signal" : "duration over";
  log_json("info", "monitor stopped",
           std::string("\"reason\":\"") + why + "\",\"disrupted\":" +
               (disrupted ? "true" : "false"));
  // SIGTERM/SIGINT: the report is written and the exit is clean (a rollout of the
  // monitor itself is not a failure). --duration: the CI gate.
  if (signal_watch.signal() != 0) return 0;
  if (!report_ok) return 1;
  return options.fail_on_disruption && disrupted ? 1 : 0;
}

}  // namespace

int run_monitor(const std::vector<std::string>& args) {
  const auto parsed = parse_monitor_options(args);
  if (!parsed.options) {
    std::fputs((parsed.text + "\n").c_str(), parsed.exit_code == 0 ? stdout : stderr);
    return parsed.exit_code;
  }
  try {
    return run(*parsed.options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "echo-probe monitor: %s\n", e.what());
    return 1;
  }
}

}  // namespace echo_probe::monitor
