#include "admin_server.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "http_front.h"
#include "instance_identity.h"
#include "fault_rules.h"
#include "metrics.h"
#include "runtime_update.h"
#include "version.h"

namespace echod {
namespace {

using json = nlohmann::json;

constexpr const char* kJson = "application/json";
constexpr const char* kText = "text/plain; charset=utf-8";
constexpr const char* kMetricsType = "text/plain; version=0.0.4; charset=utf-8";
/// An event loop that has not turned for this long is stuck (loops turn at least once a
/// second, so this is five missed turns, long enough to ride out a busy machine).
constexpr std::chrono::seconds kStuckAfter{5};

/// The endpoints and the methods each allows (HEAD rides along with GET). Anything else is
/// 404 or 405, decided before routing so a request body is never read for them.
const std::map<std::string, std::vector<std::string>, std::less<>>& endpoints() {
  static const std::map<std::string, std::vector<std::string>, std::less<>> kEndpoints{
      {"/", {"GET"}},       {"/livez", {"GET"}},   {"/healthz", {"GET"}},
      {"/readyz", {"GET"}}, {"/metrics", {"GET"}}, {"/config", {"GET", "PUT"}},
      {"/faults", {"GET", "PUT", "DELETE"}}};
  return kEndpoints;
}

void reply_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  // Replace rather than throw on invalid UTF-8: an error text may quote client bytes.
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n", kJson);
}

void reply_error(httplib::Response& res, int status, std::string error, std::string setting = {}) {
  json body{{"error", std::move(error)}};
  if (!setting.empty() || status == 400) body["setting"] = std::move(setting);
  reply_json(res, status, body);
}

/// Compares without an early exit, so the time taken does not reveal how much matched.
bool same_secret(std::string_view given, std::string_view secret) {
  unsigned char diff = given.size() == secret.size() ? 0 : 1;
  for (std::size_t i = 0; i < secret.size(); ++i) {
    const char g = i < given.size() ? given[i] : '\0';
    diff |= static_cast<unsigned char>(g ^ secret[i]);
  }
  return diff == 0;
}

/// The request as cpp-httplib's router reads it: exactly the bytes the front gathered,
/// then end of stream. The answer is collected whole; the front writes it. No socket is
/// behind this stream (socket() is invalid): httplib never sees a descriptor.
class RequestStream final : public httplib::Stream {
 public:
  explicit RequestStream(const HttpRequest& req) : req_(req) {}
  bool is_readable() const override { return pos_ < req_.bytes.size(); }
  bool is_writable() const override { return true; }
  ssize_t read(char* ptr, size_t size) override {
    const std::size_t n = std::min(size, req_.bytes.size() - pos_);
    std::memcpy(ptr, req_.bytes.data() + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    if (status_ == 0 && size >= 12 && std::memcmp(ptr, "HTTP/1.", 7) == 0) {
      status_ = std::atoi(std::string(ptr + 9, 3).c_str());
    }
    out_.append(ptr, size);
    return static_cast<ssize_t>(size);
  }
  /// The status of the answer written (0 before the status line).
  int status() const { return status_; }
  std::string take_answer() { return std::move(out_); }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = req_.remote_ip;
    port = req_.remote_port;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip.clear();
    port = 0;
  }
  socket_t socket() const override { return INVALID_SOCKET; }

 private:
  const HttpRequest& req_;
  std::size_t pos_ = 0;
  int status_ = 0;
  std::string out_;
};

/// cpp-httplib as a request router only: the front owns sockets and threads, this class
/// parses one gathered request, runs its handler and collects the answer. Parsing a
/// stream is httplib's protected process_request(): its public API only serves sockets.
class Router final : public httplib::Server {
 public:
  HttpAnswer serve(const HttpRequest& req) {
    RequestStream stream(req);
    bool connection_closed = false;
    const bool ok = process_request(stream, req.last, connection_closed, nullptr);
    HttpAnswer answer;
    // After a request httplib could not parse, where the next one starts is a guess: close.
    answer.keep_alive = ok && !connection_closed && stream.status() != 400;
    answer.bytes = stream.take_answer();
    return answer;
  }

  /// Runs a few side-effect-free requests on the calling thread before the front's threads exist.
  /// httplib initializes function-local statics (method set, range regex) on first use;
  /// doing that here, before those threads start, orders it before every later reader,
  /// which also keeps ThreadSanitizer from flagging the uninstrumented library.
  void warm_up() {
    for (const char* request :
         {"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n", "HEAD /readyz HTTP/1.0\r\n\r\n",
          "GET /nope HTTP/1.1\r\nRange: bytes=0-1\r\n\r\n", "BREW / HTTP/1.1\r\n\r\n",
          "POST /livez HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"}) {
      HttpRequest req;
      req.bytes = request;
      req.last = true;
      req.remote_ip = "127.0.0.1";
      serve(req);
    }
  }
};

}  // namespace

struct AdminServer::Impl {
  ConfigStore& store;
  const EchoServer& echo;
  const Lifecycle& lifecycle;
  Logger& logger;
  const InstanceIdentity identity = InstanceIdentity::from_environment();
  MetricsExporter metrics_exporter;
  Router router;
  HttpFront front;
  std::mutex put_mutex;  // PUT /config is read-modify-write of the runtime settings
  std::atomic<std::int64_t> last_refusal_log_ms{-1000};

  Impl(ConfigStore& s, const EchoServer& e, const Lifecycle& l, Logger& log)
      : store(s),
        echo(e),
        lifecycle(l),
        logger(log),
        metrics_exporter(e, s, l, identity),
        front(HttpFrontLimits{}, {"/livez", "/healthz", "/readyz"},
              [this](const HttpRequest& req) { return router.serve(req); }) {
    routes();
  }

  void routes() {
    // Only for the Keep-Alive header httplib writes; the front enforces the real limits.
    const HttpFrontLimits limits;
    router.set_keep_alive_max_count(limits.max_requests_per_connection);
    router.set_keep_alive_timeout(
        std::chrono::duration_cast<std::chrono::seconds>(limits.keep_alive_timeout).count());
    router.set_payload_max_length(limits.max_body_bytes);
    router.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
      const auto it = endpoints().find(req.path);
      if (it == endpoints().end()) {
        reply_error(res, 404, "no such endpoint; GET / lists them");
        return httplib::Server::HandlerResponse::Handled;
      }
      const auto& allowed = it->second;
      const std::string method = req.method == "HEAD" ? "GET" : req.method;
      if (std::find(allowed.begin(), allowed.end(), method) == allowed.end()) {
        std::string allow;
        for (const auto& m : allowed) allow += (allow.empty() ? "" : ", ") + m;
        res.set_header("Allow", allow);
        reply_error(res, 405, "method not allowed; allowed: " + allow);
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    // Answers httplib makes itself (400 bad request line, 413, 414) get a JSON body too.
    router.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request&,
                                                                     httplib::Response& res) {
      if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
      reply_error(res, res.status, "request rejected (HTTP " + std::to_string(res.status) + ")");
      return httplib::Server::HandlerResponse::Handled;
    }));
    router.set_exception_handler(
        [this](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
          std::string what = "unknown";
          try {
            if (ep) std::rethrow_exception(ep);
          } catch (const std::exception& e) {
            what = e.what();
          } catch (...) {
          }
          logger.error("admin request failed", {{"path", req.path}, {"error", what}});
          reply_error(res, 500, "internal error");
        });

    router.Get("/", [this](const httplib::Request&, httplib::Response& res) { landing(res); });
    router.Get("/livez", [this](const httplib::Request&, httplib::Response& res) { livez(res); });
    router.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) { livez(res); });
    router.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) { readyz(res); });
    router.Get("/metrics",
               [this](const httplib::Request&, httplib::Response& res) { metrics(res); });
    router.Get("/config",
               [this](const httplib::Request&, httplib::Response& res) { get_config(res); });
    router.Put("/config", [this](const httplib::Request& req, httplib::Response& res) {
      put_config(req, res);
    });
    router.Get("/faults",
               [this](const httplib::Request&, httplib::Response& res) { get_faults(res); });
    router.Put("/faults", [this](const httplib::Request& req, httplib::Response& res) {
      put_faults(req, res, false);
    });
    router.Delete("/faults", [this](const httplib::Request& req, httplib::Response& res) {
      put_faults(req, res, true);
    });
  }

  void landing(httplib::Response& res) {
    json eps = json::array();
    for (const auto& [path, methods] : endpoints()) {
      for (const auto& m : methods) eps.push_back(m + " " + path);
    }
    reply_json(res, 200,
               {{"name", "echod"},
                {"version", kVersion},
                {"revision", kRevision},
                {"echo_address", echo.bound_address()},
                {"admin_address", front.bound_address()},
                {"tls_address", echo.tls_bound_address()},  // "" without --tls-listen
                {"instance",
                 {{"pod", identity.pod},
                  {"namespace", identity.pod_namespace},
                  {"node", identity.node}}},
                {"endpoints", eps},
                {"fault_rules", json::parse(fault_rules_to_json(store.runtime().faults))}});
  }

  void livez(httplib::Response& res) {
    const std::int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                 std::chrono::steady_clock::now().time_since_epoch())
                                 .count();
    const std::int64_t limit = std::chrono::nanoseconds(kStuckAfter).count();
    for (std::size_t w = 0; w < echo.worker_count(); ++w) {
      const std::int64_t beat = echo.worker_stats(w).heartbeat_ns.load(std::memory_order_relaxed);
      if (now - beat > limit) {
        const double age = static_cast<double>(now - beat) / 1e9;
        res.status = 503;
        res.set_content(beat == 0
                            ? "worker " + std::to_string(w) + " event loop never turned\n"
                            : "worker " + std::to_string(w) + " event loop has not turned for " +
                                  std::to_string(static_cast<long long>(age)) + "s\n",
                        kText);
        return;
      }
    }
    res.set_content("ok\n", kText);
  }

  void readyz(httplib::Response& res) {
    if (lifecycle.ready()) {
      res.set_content("ok\n", kText);
      return;
    }
    res.status = 503;
    res.set_content(lifecycle.not_ready_reason() + "\n", kText);
  }

  void metrics(httplib::Response& res) {
    res.set_content(metrics_exporter.scrape(), kMetricsType);
  }

  /// The effective config; the token itself never leaves the process, only whether one is set.
  json effective_config() {
    const Config config = store.current();
    json body = json::parse(to_json(config, false));
    if (!config.admin_token.empty()) body["admin_token"] = "<redacted>";
    return body;
  }

  void get_config(httplib::Response& res) { reply_json(res, 200, effective_config()); }

  /// The admin token rules of every change: 403 when none is configured, 401 when wrong.
  /// True when the request may go on; otherwise the answer is written.
  bool authorized(const httplib::Request& req, httplib::Response& res, const char* what) {
    const std::string token = store.current().admin_token;
    if (token.empty()) {
      reply_error(res, 403,
                  "changes are disabled: no admin token configured "
                  "(--admin-token-file or ECHOD_ADMIN_TOKEN)");
      return false;
    }
    constexpr std::string_view kBearer = "Bearer ";
    const std::string auth = req.get_header_value("Authorization");
    const bool has_bearer =
        auth.size() > kBearer.size() && std::equal(kBearer.begin(), kBearer.end(), auth.begin());
    if (!has_bearer || !same_secret(std::string_view(auth).substr(kBearer.size()), token)) {
      res.set_header("WWW-Authenticate", "Bearer realm=\"echod\"");
      reply_error(res, 401, has_bearer ? "wrong token" : "missing Authorization: Bearer token");
      // At most one line a second, so a client guessing tokens cannot flood the log.
      const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count();
      std::int64_t last = last_refusal_log_ms.load(std::memory_order_relaxed);
      if (now - last >= 1000 &&
          last_refusal_log_ms.compare_exchange_strong(last, now, std::memory_order_relaxed)) {
        logger.warn(std::string(what) + " refused: bad or missing token",
                    {{"remote", req.remote_addr}});
      }
      return false;
    }
    return true;
  }

  void put_config(const httplib::Request& req, httplib::Response& res) {
    if (!authorized(req, res, "PUT /config")) return;
    std::lock_guard lock(put_mutex);
    Config next = store.current();
    std::optional<ConfigError> err = apply_json(next, req.body, JsonScope::kRuntime, "PUT /config");
    if (!err) err = validate(next);
    if (err) {
      logger.warn("PUT /config rejected, config unchanged",
                  {{"setting", err->setting}, {"reason", err->reason}});
      reply_error(res, 400, err->reason, err->setting);
      return;
    }
    apply_runtime_settings(store, logger, next.runtime, "PUT /config");
    reply_json(res, 200, effective_config());
  }

  json faults_body() {
    return {{"rules", json::parse(fault_rules_to_json(store.runtime().faults))}};
  }

  void get_faults(httplib::Response& res) { reply_json(res, 200, faults_body()); }

  /// PUT replaces every rule (all or nothing), DELETE removes them all. New connections
  /// (and datagrams) get the new rules; open connections keep the rule they were given.
  void put_faults(const httplib::Request& req, httplib::Response& res, bool remove) {
    const char* what = remove ? "DELETE /faults" : "PUT /faults";
    if (!authorized(req, res, what)) return;
    FaultRules rules;
    if (!remove) {
      if (auto err = parse_fault_rules_body(req.body, rules)) {
        logger.warn(std::string(what) + " rejected, rules unchanged",
                    {{"setting", err->setting}, {"reason", err->reason}});
        reply_error(res, 400, err->reason, err->setting);
        return;
      }
    }
    std::lock_guard lock(put_mutex);
    RuntimeSettings next = store.runtime();
    next.faults = std::move(rules);
    apply_runtime_settings(store, logger, next, what);
    reply_json(res, 200, faults_body());
  }
};

AdminServer::AdminServer(ConfigStore& store, const EchoServer& echo, const Lifecycle& lifecycle,
                         Logger& logger)
    : impl_(std::make_unique<Impl>(store, echo, lifecycle, logger)) {}

AdminServer::~AdminServer() { stop(); }

std::optional<std::string> AdminServer::bind(const Endpoint& at) {
  return impl_->front.bind(at);
}

std::string AdminServer::bound_address() const { return impl_->front.bound_address(); }
std::uint16_t AdminServer::port() const { return impl_->front.port(); }
void AdminServer::start() {
  impl_->router.warm_up();
  impl_->front.start();
}
void AdminServer::stop() { impl_->front.stop(); }

}  // namespace echod
