#include "daemon.h"

#include <signal.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>

#include "admin_server.h"
#include "config_store.h"
#include "echo_server.h"
#include "lifecycle.h"
#include "logger.h"
#include "runtime_update.h"
#include "version.h"

namespace echod {
namespace {

using Clock = std::chrono::steady_clock;

sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

/// Waits for one of the handled signals until `deadline` (none: forever); nullopt when the
/// deadline passes first. A deadline already past still collects a pending signal.
std::optional<int> wait_for_signal(std::optional<Clock::time_point> deadline) {
  const sigset_t set = handled_signals();
  for (;;) {
    if (!deadline) {
      int sig = 0;
      if (sigwait(&set, &sig) == 0) return sig;
      continue;
    }
    const auto left = std::max(Clock::duration::zero(), *deadline - Clock::now());
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
    const int sig = sigtimedwait(&set, nullptr, &ts);
    if (sig > 0) return sig;
    if (Clock::now() >= *deadline) return std::nullopt;
  }
}

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void reload(ConfigStore& store, Logger& logger, const std::vector<std::string>& args,
            const Environment& env) {
  ReloadResult result = reload_config(args, env);
  if (result.error) {
    store.record_reload(false, unix_now());
    logger.error("config reload rejected, running config unchanged",
                 {{"source", result.error->source},
                  {"setting", result.error->setting},
                  {"reason", result.error->reason}});
    return;
  }
  Config running = store.current();
  Config next_static = result.config;
  next_static.runtime = running.runtime;
  if (!(next_static == running)) {
    logger.warn("config reload: settings that are not runtime-changeable differ and are ignored "
                "until restart");
  }
  apply_runtime_settings(store, logger, result.config.runtime, "SIGHUP");
  store.record_reload(true, unix_now());
}

/// A second SIGTERM/SIGINT during shutdown ends the process at once.
[[noreturn]] void exit_now(Logger& logger, int sig) {
  logger.warn("second signal during shutdown: exiting now", {{"signal", std::int64_t{sig}}});
  std::_Exit(1);
}

/// Sleeps until `deadline` unless a second stop signal arrives (SIGHUP is ignored here).
void wait_or_exit(Logger& logger, Clock::time_point deadline) {
  while (auto sig = wait_for_signal(deadline)) {
    if (*sig != SIGHUP) exit_now(logger, *sig);
  }
}

}  // namespace

int run_daemon(const Config& config, const std::vector<std::string>& args,
               const Environment& env) {
  Logger logger(config.log_format, config.runtime.log_level);

  // Block the handled signals before any thread starts so every thread inherits the mask
  // and only sigwait() here sees them; a peer that resets must never kill us with SIGPIPE.
  const sigset_t set = handled_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  ConfigStore store(config);
  store.mark_loaded(unix_now());
  Lifecycle lifecycle;
  EchoServer echo(config, store, logger);
  if (auto err = echo.bind()) {
    logger.error("cannot bind echo port",
                 {{"address", config.listen.to_string()}, {"error", *err}});
    return 1;
  }
  AdminServer admin(store, echo, lifecycle, logger);
  if (auto err = admin.bind(config.admin_listen)) {
    logger.error("cannot bind admin port",
                 {{"address", config.admin_listen.to_string()}, {"error", *err}});
    return 1;
  }
  echo.start();
  admin.start();
  lifecycle.mark_listeners_bound();
  logger.info("echod started", {{"version", std::string(kVersion)},
                                {"echo_address", echo.bound_address()},
                                {"admin_address", admin.bound_address()},
                                {"udp", config.udp},
                                {"proxy_protocol", std::string(to_string(config.proxy_protocol))},
                                {"workers", std::uint64_t{echo.worker_count()}}});

  int stop_signal = 0;
  while (stop_signal == 0) {
    const int sig = *wait_for_signal(std::nullopt);
    if (sig == SIGHUP) {
      reload(store, logger, args, env);
    } else {
      stop_signal = sig;
    }
  }

  // Shutdown order matters: readiness goes first so load balancers stop sending, the
  // listeners stay open through shutdown-delay for the stragglers they already sent, then
  // open connections get drain-timeout to finish on their own.
  lifecycle.begin_shutdown();
  const RuntimeSettings rt = store.runtime();
  logger.info("shutdown: readiness off", {{"signal", std::int64_t{stop_signal}},
                                          {"shutdown_delay", format_duration(rt.shutdown_delay)}});
  wait_or_exit(logger, Clock::now() + rt.shutdown_delay);

  echo.stop_accepting();
  logger.info("shutdown: listeners closed, draining",
              {{"active_connections", echo.active_connections()},
               {"drain_timeout", format_duration(rt.drain_timeout)}});
  const auto drain_deadline = Clock::now() + rt.drain_timeout;
  bool drained = false;
  while (!drained) {
    drained = echo.wait_for_drain(std::chrono::milliseconds(50));
    if (drained || Clock::now() >= drain_deadline) break;
    if (auto sig = wait_for_signal(Clock::now()); sig && *sig != SIGHUP) exit_now(logger, *sig);
  }
  if (!drained) {
    logger.warn("shutdown: drain timeout, closing remaining connections",
                {{"active_connections", echo.active_connections()}});
    echo.close_all();
  }
  echo.stop();
  admin.stop();
  logger.info("echod stopped", {{"drained", drained}});
  return 0;
}

}  // namespace echod
