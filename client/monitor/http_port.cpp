#include "http_port.h"

#include <httplib.h>

#include <stdexcept>
#include <thread>

namespace echo_probe::monitor {

struct HttpPort::Impl {
  HttpHandlers handlers;
  httplib::Server server;
  std::thread thread;
};

HttpPort::HttpPort(HttpHandlers handlers) : impl_(std::make_unique<Impl>()) {
  impl_->handlers = std::move(handlers);
  auto& s = impl_->server;
  s.new_task_queue = [] { return new httplib::ThreadPool(2); };
  s.set_read_timeout(5, 0);
  s.set_write_timeout(5, 0);
  s.set_keep_alive_max_count(10);
  s.set_payload_max_length(4096);
  const HttpHandlers& h = impl_->handlers;
  auto text_endpoint = [](const std::function<bool(std::string*)>& fn, const char* type) {
    return [fn, type](const httplib::Request&, httplib::Response& res) {
      std::string text;
      if (fn(&text)) {
        res.set_content(text, type);
      } else {
        res.status = 503;
        res.set_content("monitor loop did not answer in time\n", "text/plain");
      }
    };
  };
  s.Get("/metrics", text_endpoint(h.metrics, "text/plain; version=0.0.4; charset=utf-8"));
  s.Get("/report", text_endpoint(h.report, "application/json"));
  auto check = [](const std::function<bool(std::string*)>& fn) {
    return [fn](const httplib::Request&, httplib::Response& res) {
      std::string why;
      if (fn(&why)) {
        res.set_content("ok\n", "text/plain");
      } else {
        res.status = 503;
        res.set_content(why + "\n", "text/plain");
      }
    };
  };
  s.Get("/livez", check(h.live));
  s.Get("/readyz", check(h.ready));
}

HttpPort::~HttpPort() { stop(); }

std::uint16_t HttpPort::bind(const std::string& host, std::uint16_t port) {
  int bound = port == 0 ? impl_->server.bind_to_any_port(host) :
                          (impl_->server.bind_to_port(host, port) ? port : -1);
  if (bound <= 0) {
    throw std::runtime_error("--listen: cannot bind " + host + ":" + std::to_string(port));
  }
  return static_cast<std::uint16_t>(bound);
}

void HttpPort::start() {
  impl_->thread = std::thread([this] { impl_->server.listen_after_bind(); });
}

void HttpPort::stop() {
  if (!impl_) return;
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace echo_probe::monitor
