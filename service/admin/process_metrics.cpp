#include "process_metrics.h"

#include <prometheus/metric_family.h>

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>

namespace echod {
namespace {

using prometheus::MetricFamily;
using prometheus::MetricType;

/// The fields of /proc/self/stat we export (proc(5) numbering in the comments).
struct ProcStat {
  double utime_ticks = 0;      // (14)
  double stime_ticks = 0;      // (15)
  double num_threads = 0;      // (20)
  double starttime_ticks = 0;  // (22) since boot
  double vsize_bytes = 0;      // (23)
  double rss_pages = 0;        // (24)
  bool ok = false;
};

ProcStat read_proc_stat() {
  ProcStat st;
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return st;
  // comm (2) may hold spaces and parentheses: the fields we want start after the last ')'.
  const auto paren = line.rfind(')');
  if (paren == std::string::npos) return st;
  std::istringstream fields(line.substr(paren + 2));
  std::string f;
  // fields[0] is (3) state, so field (n) is fields[n - 3].
  for (int n = 3; n <= 24 && fields >> f; ++n) {
    const double v = std::strtod(f.c_str(), nullptr);
    switch (n) {
      case 14:
        st.utime_ticks = v;
        break;
      case 15:
        st.stime_ticks = v;
        break;
      case 20:
        st.num_threads = v;
        break;
      case 22:
        st.starttime_ticks = v;
        break;
      case 23:
        st.vsize_bytes = v;
        break;
      case 24:
        st.rss_pages = v;
        st.ok = true;
        break;
      default:
        break;
    }
  }
  return st;
}

/// Boot time in Unix seconds, from the btime line of /proc/stat; 0 when unreadable.
double boot_time_seconds() {
  std::ifstream in("/proc/stat");
  std::string key;
  while (in >> key) {
    if (key == "btime") {
      double v = 0;
      in >> v;
      return v;
    }
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

double open_fds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  double count = 0;
  while (const dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count - 1;  // the descriptor opendir() itself holds
}

double max_fds() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 0;
  return static_cast<double>(rl.rlim_cur);
}

MetricFamily gauge_or_counter(std::string name, std::string help, MetricType type, double value) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  prometheus::ClientMetric m;
  if (type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
  return f;
}

}  // namespace

// /proc/stat is costly to generate on many-CPU machines; btime never changes, so the start
// time is computed once rather than on every scrape.
ProcessCollector::ProcessCollector()
    : start_time_seconds_(boot_time_seconds() + read_proc_stat().starttime_ticks /
                                                    static_cast<double>(sysconf(_SC_CLK_TCK))) {}

std::vector<MetricFamily> ProcessCollector::Collect() const {
  std::vector<MetricFamily> out;
  const ProcStat st = read_proc_stat();
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  if (st.ok && ticks > 0) {
    out.push_back(gauge_or_counter("process_cpu_seconds_total",
                                   "Total user and system CPU time spent in seconds.",
                                   MetricType::Counter, (st.utime_ticks + st.stime_ticks) / ticks));
    out.push_back(gauge_or_counter("process_resident_memory_bytes",
                                   "Resident memory size in bytes.", MetricType::Gauge,
                                   st.rss_pages * page));
    out.push_back(gauge_or_counter("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                                   MetricType::Gauge, st.vsize_bytes));
    out.push_back(gauge_or_counter("process_start_time_seconds",
                                   "Start time of the process since unix epoch in seconds.",
                                   MetricType::Gauge, start_time_seconds_));
    out.push_back(gauge_or_counter("process_threads", "Number of OS threads in the process.",
                                   MetricType::Gauge, st.num_threads));
  }
  out.push_back(gauge_or_counter("process_open_fds", "Number of open file descriptors.",
                                 MetricType::Gauge, open_fds()));
  out.push_back(gauge_or_counter("process_max_fds", "Maximum number of open file descriptors.",
                                 MetricType::Gauge, max_fds()));
  return out;
}

}  // namespace echod
