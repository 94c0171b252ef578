#include "engine.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <thread>

#include "clock.h"
#include "tcp_session.h"
#include "udp_session.h"
#include "worker.h"

namespace echo_probe {
namespace {

LoadPlan make_plan(const Options& o) {
  LoadPlan plan;
  plan.size = o.size;
  plan.count = o.count;
  plan.connections = o.connections;
  plan.timeout = o.timeout.count();
  plan.new_connection = o.new_connection;
  if (o.rate > 0) plan.ns_per_msg = 1e9 / o.rate;
  plan.start = now_ns();
  if (o.duration) plan.end = plan.start + o.duration->count();
  return plan;
}

// Many connections need many descriptors: lift the soft limit towards the hard one.
void raise_fd_limit(int connections) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  const auto wanted = static_cast<rlim_t>(connections) + 64;
  if (rl.rlim_cur >= wanted) return;
  rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, rl.rlim_max);
  setrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < wanted) {
    std::fprintf(stderr, "echo-probe: warning: open-file limit %llu is below %d connections\n",
                 static_cast<unsigned long long>(rl.rlim_cur), connections);
  }
}

// SIGINT/SIGTERM become a readable fd for the duration of the run (workers inherit the
// blocked mask, so the signal is only ever seen here).
class SignalCatcher {
 public:
  SignalCatcher() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
    fd_ = signalfd(-1, &set_, SFD_NONBLOCK | SFD_CLOEXEC);
  }
  ~SignalCatcher() {
    if (fd_ >= 0) close(fd_);
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  int fd() const { return fd_; }

 private:
  sigset_t set_;
  sigset_t old_;
  int fd_ = -1;
};

}  // namespace

LoadResult run_load(const Options& options, const std::vector<Address>& addresses,
                    const ProgressFn& on_progress) {
  raise_fd_limit(options.connections);
  SignalCatcher signals;
  std::atomic<bool> stop{false};
  const int done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  const LoadPlan plan = make_plan(options);

  std::vector<std::unique_ptr<Worker>> workers;
  for (int t = 0; t < options.threads; ++t) {
    workers.push_back(std::make_unique<Worker>(plan, addresses.size(), stop));
  }
  // One transport description for every TCP connection of the run (TLS context shared).
  TransportConfig transport;
  transport.tls = options.tls;
  transport.host = options.endpoint.host;
  transport.proxy = options.proxy;

  LoadResult result;
  result.threads = options.threads;
  result.connections_per_address.assign(addresses.size(), 0);
  for (int i = 0; i < options.connections; ++i) {
    Worker& w = *workers[static_cast<std::size_t>(i % options.threads)];
    const std::size_t a = static_cast<std::size_t>(i) % addresses.size();
    ++result.connections_per_address[a];
    const auto id = static_cast<std::uint64_t>(i);
    if (options.protocol == Protocol::kUdp) {
      w.add(std::make_unique<UdpSession>(w, addresses[a], w.stats(a), id));
    } else {
      w.add(std::make_unique<TcpSession>(w, addresses[a], transport, w.stats(a), id));
    }
  }

  std::vector<std::thread> threads;
  for (auto& w : workers) {
    threads.emplace_back([&w, done_fd] {
      w->run();
      const std::uint64_t one = 1;
      [[maybe_unused]] auto r = write(done_fd, &one, sizeof one);
    });
  }

  std::size_t finished = 0;
  Nanos next_report = plan.start + kNanosPerSecond;
  while (finished < workers.size()) {
    const Nanos now = now_ns();
    const int wait_ms =
        static_cast<int>(std::max<Nanos>(0, next_report - now) / kNanosPerMilli) + 1;
    pollfd fds[2] = {{done_fd, POLLIN, 0}, {signals.fd(), POLLIN, 0}};
    ::poll(fds, signals.fd() >= 0 ? 2 : 1, wait_ms);
    if (fds[0].revents & POLLIN) {
      std::uint64_t n = 0;
      if (read(done_fd, &n, sizeof n) == sizeof n) finished += n;
    }
    if (signals.fd() >= 0 && (fds[1].revents & POLLIN)) {
      signalfd_siginfo info;
      [[maybe_unused]] auto r = read(signals.fd(), &info, sizeof info);
      stop.store(true, std::memory_order_relaxed);
      result.interrupted = true;
    }
    if (now_ns() >= next_report && finished < workers.size()) {
      ProgressSample sample;
      sample.elapsed_s = static_cast<double>(now_ns() - plan.start) / 1e9;
      for (const auto& w : workers) {
        sample.sent += w->progress().sent.load(std::memory_order_relaxed);
        sample.received += w->progress().received.load(std::memory_order_relaxed);
        sample.errors += w->progress().errors.load(std::memory_order_relaxed);
      }
      if (on_progress) on_progress(sample);
      next_report += kNanosPerSecond;
    }
  }
  for (auto& t : threads) t.join();
  result.duration_s = static_cast<double>(now_ns() - plan.start) / 1e9;
  close(done_fd);

  result.per_address.resize(addresses.size());
  for (std::size_t a = 0; a < addresses.size(); ++a) {
    result.addresses.push_back(addresses[a].text);
    for (const auto& w : workers) result.per_address[a].merge(w->all_stats()[a]);
    result.total.merge(result.per_address[a]);
  }
  return result;
}

}  // namespace echo_probe
