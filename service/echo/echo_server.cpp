#include "echo_server.h"

#include <sched.h>

#include <cmath>
#include <fstream>
#include <mutex>
#include <thread>

#include "socket_ops.h"
#include "tls_context.h"
#include "worker.h"

namespace echod {

struct EchoServer::Shared {
  Config config;
  WorkerShared workers;
  mutable std::mutex tls_mutex;  // guards the TLS status below (rare: reloads, scrapes)
  EchoServer::TlsStatus tls;
};

EchoServer::EchoServer(const Config& config, ConfigStore& store, Logger& logger)
    : shared_(new Shared{config, WorkerShared{store, logger, {}, config.proxy_protocol}, {}, {}}),
      logger_(logger) {
  const unsigned n = config.workers > 0 ? config.workers : available_cpus();
  for (unsigned i = 0; i < n; ++i) {
    workers_.push_back(std::make_unique<Worker>(i, shared_->workers));
  }
}

EchoServer::~EchoServer() { stop(); }

std::optional<std::string> EchoServer::bind() {
  Endpoint at = shared_->config.listen;
  if (auto busy = net::check_port_free(at)) return *busy;
  for (auto& w : workers_) {
    if (auto err = w->bind(at, shared_->config.udp)) return err;
    // Port 0: the first worker's listener picks the port, the others join it.
    at.port = net::local_port(w->listen_fd());
  }
  if (shared_->config.tls_listen) return bind_tls(*shared_->config.tls_listen);
  return std::nullopt;
}

std::optional<std::string> EchoServer::bind_tls(Endpoint at) {
  if (auto busy = net::check_port_free(at)) return "tls_listen: " + *busy;
  for (auto& w : workers_) {
    if (auto err = w->bind_tls(at)) return "tls_listen: " + *err;
    at.port = net::local_port(w->tls_listen_fd());
  }
  return std::nullopt;
}

std::string EchoServer::tls_bound_address() const {
  if (workers_.empty() || workers_.front()->tls_listen_fd() < 0) return {};
  return net::local_address(workers_.front()->tls_listen_fd());
}

std::uint16_t EchoServer::tls_port() const {
  if (workers_.empty() || workers_.front()->tls_listen_fd() < 0) return 0;
  return net::local_port(workers_.front()->tls_listen_fd());
}

void EchoServer::set_tls_context(std::shared_ptr<const TlsContext> context) {
  {
    std::lock_guard lock(shared_->tls_mutex);
    shared_->tls.enabled = context != nullptr;
    shared_->tls.leaf_not_after_unix = context ? context->leaf_not_after_unix() : 0;
  }
  for (auto& w : workers_) w->set_tls_context(context);
}

void EchoServer::record_tls_reload(bool ok) {
  std::lock_guard lock(shared_->tls_mutex);
  ++(ok ? shared_->tls.reload_successes : shared_->tls.reload_failures);
}

EchoServer::TlsStatus EchoServer::tls_status() const {
  std::lock_guard lock(shared_->tls_mutex);
  return shared_->tls;
}

std::string EchoServer::bound_address() const {
  return workers_.empty() ? std::string() : net::local_address(workers_.front()->listen_fd());
}

std::uint16_t EchoServer::port() const {
  return workers_.empty() ? 0 : net::local_port(workers_.front()->listen_fd());
}

void EchoServer::start() {
  for (auto& w : workers_) w->start();
  started_ = true;
}

void EchoServer::stop_accepting() {
  for (auto& w : workers_) w->stop_accepting();
}

bool EchoServer::wait_for_drain(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (active_connections() == 0) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void EchoServer::close_all() {
  for (auto& w : workers_) w->close_all();
}

void EchoServer::stop() {
  for (auto& w : workers_) w->stop();
}

std::size_t EchoServer::worker_count() const { return workers_.size(); }

const WorkerStats& EchoServer::worker_stats(std::size_t worker) const {
  return workers_.at(worker)->stats();
}

std::int64_t EchoServer::active_connections() const {
  return shared_->workers.active_connections.load(std::memory_order_relaxed);
}

namespace {

// cgroup v2 "cpu.max" ("max 100000" or "200000 100000"), else v1 cfs quota/period.
std::optional<double> cgroup_cpu_limit() {
  std::ifstream v2("/sys/fs/cgroup/cpu.max");
  std::string quota;
  double period = 0;
  if (v2 >> quota >> period) {
    if (quota == "max" || period <= 0) return std::nullopt;
    return std::stod(quota) / period;
  }
  std::ifstream q("/sys/fs/cgroup/cpu/cpu.cfs_quota_us");
  std::ifstream p("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
  double quota_us = 0;
  if (q >> quota_us && p >> period && quota_us > 0 && period > 0) return quota_us / period;
  return std::nullopt;
}

}  // namespace

unsigned available_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  unsigned cpus = 1;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    cpus = static_cast<unsigned>(CPU_COUNT(&set));
  } else {
    cpus = std::max(1u, std::thread::hardware_concurrency());
  }
  if (auto limit = cgroup_cpu_limit()) {
    // A quota of 1.5 CPUs still wants 2 loops; below one CPU, one loop.
    cpus = std::min(cpus, std::max(1u, static_cast<unsigned>(std::ceil(*limit))));
  }
  return std::max(1u, cpus);
}

}  // namespace echod
