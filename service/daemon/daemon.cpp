#include "daemon.h"

#include <signal.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include "admin_server.h"
#include "config_store.h"
#include "echo_server.h"
#include "lifecycle.h"
#include "logger.h"
#include "runtime_update.h"
#include "tls_context.h"
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

TlsSettings tls_settings(const Config& config) {
  return {config.tls_cert_file, config.tls_key_file, config.tls_client_ca_file,
          config.tls_min_version};
}

/// The TLS listener's certificate after start: re-read on SIGHUP and when the files change
/// on disk (polled once a second by the control loop). A new certificate reaches new
/// handshakes; a bad one is refused whole and the served one stays.
class TlsReloader {
 public:
  TlsReloader(const TlsSettings& settings, EchoServer& echo, Logger& logger)
      : settings_(settings), watch_(settings), echo_(echo), logger_(logger) {}

  void poll() {
    if (watch_.changed()) reload("file change");
  }
  void reload(std::string_view origin) {
    watch_.changed();  // what is loaded now is the baseline for the next poll
    auto loaded = TlsContext::load(settings_);
    if (auto* error = std::get_if<std::string>(&loaded)) {
      echo_.record_tls_reload(false);
      logger_.error("tls reload rejected, serving the previous certificate",
                    {{"origin", std::string(origin)}, {"error", *error}});
      return;
    }
    auto context = std::get<std::shared_ptr<const TlsContext>>(std::move(loaded));
    const double not_after = context->leaf_not_after_unix();
    echo_.set_tls_context(std::move(context));
    echo_.record_tls_reload(true);
    logger_.info("tls certificate reloaded",
                 {{"origin", std::string(origin)}, {"not_after_unix", not_after}});
  }

 private:
  TlsSettings settings_;
  TlsFileWatch watch_;
  EchoServer& echo_;
  Logger& logger_;
};

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

  // Bad TLS files are bad config: one line naming the setting, exit 2, nothing started.
  std::shared_ptr<const TlsContext> tls_context;
  if (config.tls_listen) {
    auto loaded = TlsContext::load(tls_settings(config));
    if (auto* error = std::get_if<std::string>(&loaded)) {
      std::fprintf(stderr, "echod: config: setting %s\n", error->c_str());
      return 2;
    }
    tls_context = std::get<std::shared_ptr<const TlsContext>>(std::move(loaded));
  }

  ConfigStore store(config);
  store.mark_loaded(unix_now());
  Lifecycle lifecycle;
  EchoServer echo(config, store, logger);
  std::unique_ptr<TlsReloader> tls_reloader;
  if (tls_context) {
    echo.set_tls_context(std::move(tls_context));
    tls_reloader = std::make_unique<TlsReloader>(tls_settings(config), echo, logger);
  }
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
                                {"tls_address", echo.tls_bound_address()},
                                {"udp", config.udp},
                                {"proxy_protocol", std::string(to_string(config.proxy_protocol))},
                                {"workers", std::uint64_t{echo.worker_count()}}});

  int stop_signal = 0;
  while (stop_signal == 0) {
    // With TLS on, the loop also wakes once a second to look at the certificate files.
    const auto sig = wait_for_signal(
        tls_reloader ? std::optional(Clock::now() + std::chrono::seconds(1)) : std::nullopt);
    if (!sig) {
      tls_reloader->poll();
    } else if (*sig == SIGHUP) {
      reload(store, logger, args, env);
      if (tls_reloader) tls_reloader->reload("SIGHUP");
    } else {
      stop_signal = *sig;
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
