#include "kernel_drops.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

namespace echod::test {
namespace {

/// One "Prefix: names..." / "Prefix: values..." pair of /proc/net/netstat as a map.
std::map<std::string, std::uint64_t> netstat_section(const std::string& prefix) {
  std::ifstream in("/proc/net/netstat");
  std::string names, values;
  std::map<std::string, std::uint64_t> out;
  while (std::getline(in, names) && std::getline(in, values)) {
    if (names.rfind(prefix + ":", 0) != 0) continue;
    std::istringstream n(names.substr(prefix.size() + 1)), v(values.substr(prefix.size() + 1));
    std::string name;
    std::uint64_t value = 0;
    while (n >> name && v >> value) out[name] = value;
  }
  return out;
}

/// drop + early_drop + insert_failed of /proc/net/stat/nf_conntrack (hex, one row per CPU);
/// 0 without conntrack.
std::uint64_t read_conntrack_drops() {
  std::ifstream in("/proc/net/stat/nf_conntrack");
  std::string header;
  if (!std::getline(in, header)) return 0;
  std::vector<std::string> columns;
  std::istringstream h(header);
  for (std::string c; h >> c;) columns.push_back(c);
  std::uint64_t sum = 0;
  for (std::string row; std::getline(in, row);) {
    std::istringstream r(row);
    std::string cell;
    for (std::size_t i = 0; r >> cell && i < columns.size(); ++i) {
      if (columns[i] == "drop" || columns[i] == "early_drop" || columns[i] == "insert_failed") {
        sum += std::stoull(cell, nullptr, 16);
      }
    }
  }
  return sum;
}

/// Accept-queue depth of the listening socket on `port` in /proc/net/tcp and tcp6 (st 0A:
/// for listeners the rx_queue column is the accept queue); -1 if none. The kernel lists
/// listeners first, so reading stops at the first other row (thousands of TIME-WAIT rows
/// would make every sample cost milliseconds).
int accept_queue(std::uint16_t port) {
  int deepest = -1;
  for (const char* file : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(file);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream l(line);
      std::string slot, local, remote, state, queues;
      if (!(l >> slot >> local >> remote >> state >> queues)) continue;
      if (state != "0A") break;
      const auto colon = local.rfind(':');
      if (colon == std::string::npos || std::stoul(local.substr(colon + 1), nullptr, 16) != port) {
        continue;
      }
      const auto q = queues.find(':');
      if (q == std::string::npos) continue;
      deepest = std::max(deepest, static_cast<int>(std::stoul(queues.substr(q + 1), nullptr, 16)));
    }
  }
  return deepest;
}

/// The backlog and drop count of the listener on `port`, from `ss -ltm` (Send-Q of the
/// LISTEN row, and the d field of its skmem line); -1 each if ss is missing.
struct ListenerState {
  int backlog = -1;
  long long drops = -1;
};
ListenerState listener_state(std::uint16_t port) {
  const std::string cmd = "ss -Hltm 'sport = :" + std::to_string(port) + "' 2>/dev/null";
  ListenerState st;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return st;
  char line[1024];
  while (std::fgets(line, sizeof line, p) != nullptr) {
    std::istringstream l(line);
    std::string state;
    int recv_q = 0, send_q = 0;
    if (l >> state >> recv_q >> send_q && state == "LISTEN") st.backlog = send_q;
    const std::string text(line);
    if (const auto skmem = text.find("skmem:("); skmem != std::string::npos) {
      if (const auto d = text.find(",d", skmem); d != std::string::npos) {
        st.drops = std::atoll(text.c_str() + d + 2);
      }
    }
  }
  ::pclose(p);
  return st;
}

/// The "some ... total=" microseconds of /proc/pressure/cpu; -1 without PSI.
long long cpu_pressure_total_us() {
  std::ifstream in("/proc/pressure/cpu");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("some ", 0) != 0) continue;
    if (const auto t = line.find("total="); t != std::string::npos) {
      return std::atoll(line.c_str() + t + 6);
    }
  }
  return -1;
}

}  // namespace

CpuPressure::CpuPressure()
    : start_us_(cpu_pressure_total_us()), start_(std::chrono::steady_clock::now()) {}

double CpuPressure::percent() const {
  const long long now_us = cpu_pressure_total_us();
  const double wall_us = std::chrono::duration<double, std::micro>(
                             std::chrono::steady_clock::now() - start_).count();
  if (now_us < 0 || start_us_ < 0 || wall_us <= 0) return -1;
  return 100.0 * static_cast<double>(now_us - start_us_) / wall_us;
}

std::string CpuPressure::describe() const {
  char out[160];
  std::ifstream in("/proc/loadavg");
  std::string load = "?";
  in >> load;
  std::snprintf(out, sizeof out,
                "machine CPU pressure %.1f%% (some task waiting for a CPU), load average %s",
                percent(), load.c_str());
  return out;
}

KernelDrops KernelDrops::now() {
  const auto ext = netstat_section("TcpExt");
  auto get = [&](const char* name) {
    const auto it = ext.find(name);
    return it == ext.end() ? 0 : it->second;
  };
  KernelDrops d;
  d.listen_overflows = get("ListenOverflows");
  d.listen_drops = get("ListenDrops");
  d.req_queue_drops = get("TCPReqQFullDrop");
  d.syn_retransmits = get("TCPSynRetrans");
  d.conntrack_drops = read_conntrack_drops();
  return d;
}

KernelDrops KernelDrops::operator-(const KernelDrops& before) const {
  KernelDrops d;
  d.listen_overflows = listen_overflows - before.listen_overflows;
  d.listen_drops = listen_drops - before.listen_drops;
  d.req_queue_drops = req_queue_drops - before.req_queue_drops;
  d.syn_retransmits = syn_retransmits - before.syn_retransmits;
  d.conntrack_drops = conntrack_drops - before.conntrack_drops;
  return d;
}

std::string KernelDrops::describe() const {
  return "TcpExtListenOverflows +" + std::to_string(listen_overflows) + ", TcpExtListenDrops +" +
         std::to_string(listen_drops) + ", TcpExtTCPReqQFullDrop +" +
         std::to_string(req_queue_drops) + ", TcpExtTCPSynRetrans +" +
         std::to_string(syn_retransmits) + ", nf_conntrack drop+early_drop+insert_failed +" +
         std::to_string(conntrack_drops);
}

ListenerWatch::ListenerWatch(std::uint16_t port) : port_(port) {
  const ListenerState st = listener_state(port);
  backlog_ = st.backlog;
  drops_at_start_ = st.drops;
  sampler_ = std::thread([this] {
    while (!stop_.load()) {
      const int q = accept_queue(port_);
      if (q > deepest_.load()) deepest_ = q;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
}

ListenerWatch::~ListenerWatch() {
  stop_ = true;
  sampler_.join();
}

long long ListenerWatch::drops() const {
  const long long now = listener_state(port_).drops;
  return now < 0 || drops_at_start_ < 0 ? -1 : now - drops_at_start_;
}

std::string ListenerWatch::describe() const {
  return "listener :" + std::to_string(port_) + ": " + std::to_string(drops()) +
         " drops, accept queue peaked at " + std::to_string(deepest()) + " (backlog " +
         std::to_string(backlog_) + ")";
}

}  // namespace echod::test
