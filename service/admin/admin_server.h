#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "config.h"
#include "config_store.h"
#include "echo_server.h"
#include "lifecycle.h"
#include "logger.h"

namespace echod {

/// The admin port: /livez, /readyz, /metrics, /config, / on cpp-httplib, on threads of its
/// own so nothing it does can touch the echo path. bind() -> start() -> stop(), from one
/// controlling thread; it reads `echo`, `lifecycle` and `store` from its own threads.
class AdminServer {
 public:
  AdminServer(ConfigStore& store, const EchoServer& echo, const Lifecycle& lifecycle,
              Logger& logger);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  /// Returns an error text, or nullopt on success.
  std::optional<std::string> bind(const Endpoint& at);
  std::string bound_address() const;
  std::uint16_t port() const;
  void start();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace echod
