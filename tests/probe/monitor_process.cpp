#include "monitor_process.h"

#include <httplib.h>

#include <sstream>

namespace echo_probe::test {

double metric_sum(const std::string& text, const std::string& name,
                  const std::vector<std::string>& labels) {
  double sum = 0;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + "{", 0) != 0 && line.rfind(name + " ", 0) != 0) continue;
    const auto close = line.rfind('}');
    const std::string label_part = close == std::string::npos ? "" : line.substr(0, close);
    bool all = true;
    for (const auto& l : labels) all = all && label_part.find(l) != std::string::npos;
    if (all) sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

MonitorProcess::MonitorProcess(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"monitor", "--listen", "127.0.0.1:0"};
  argv.insert(argv.end(), args.begin(), args.end());
  child_ = std::make_unique<echod::test::ChildProcess>(ECHO_PROBE_BINARY, argv);
  const auto line = child_->wait_for_line(
      [](const std::string& l) { return l.find("\"monitor started\"") != std::string::npos; },
      milliseconds(10'000));
  if (line) port_ = echod::test::port_from_log_field(*line, "listen");
}

std::string MonitorProcess::get(const std::string& path) const {
  httplib::Client client("127.0.0.1", port_);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(5, 0);
  const auto r = client.Get(path.c_str());
  return r && r->status == 200 ? r->body : std::string();
}

double MonitorProcess::metric(const std::string& name,
                              const std::vector<std::string>& labels) const {
  return metric_sum(get("/metrics"), name, labels);
}

nlohmann::json MonitorProcess::report() const {
  return nlohmann::json::parse(get("/report"), nullptr, false);
}

}  // namespace echo_probe::test
