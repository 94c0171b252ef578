#include "process_stats.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <vector>

namespace echo_probe::monitor {
namespace {

// Fields of /proc/self/stat after the ")" that ends the command name (which may hold
// spaces): index 0 is field 3 (state).
std::vector<std::string> stat_fields() {
  std::string all;
  if (FILE* f = std::fopen("/proc/self/stat", "r")) {
    char buf[1024];
    all.assign(buf, std::fread(buf, 1, sizeof buf, f));
    std::fclose(f);
  }
  std::vector<std::string> out;
  const auto close = all.rfind(')');
  if (close == std::string::npos) return out;
  std::istringstream rest(all.substr(close + 1));
  std::string f;
  while (rest >> f) out.push_back(f);
  return out;
}

double boot_time_seconds() {
  std::ifstream in("/proc/stat");
  std::string key;
  double value = 0;
  while (in >> key) {
    if (key == "btime") {
      in >> value;
      return value;
    }
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

int open_fds() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (const dirent* e = readdir(d)) n += e->d_name[0] != '.' ? 1 : 0;
    closedir(d);
    --n;  // the descriptor opendir itself holds
  }
  return n;
}

void family(std::string& out, const char* name, const char* type, const char* help,
            double value) {
  char line[256];
  std::snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name,
                type, name, value);
  out += line;
}

}  // namespace

std::string render_process_metrics() {
  const auto f = stat_fields();
  // Field numbers of proc(5) minus 3: utime 14, stime 15, num_threads 20, starttime 22,
  // vsize 23, rss 24.
  auto at = [&](int field) { return f.size() > static_cast<std::size_t>(field - 3) ? std::stod(f[field - 3]) : 0.0; };
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  std::string out;
  family(out, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
         (at(14) + at(15)) / ticks);
  family(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
         at(24) * page);
  family(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", at(23));
  family(out, "process_open_fds", "gauge", "Number of open file descriptors.", open_fds());
  family(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
         static_cast<double>(lim.rlim_cur));
  family(out, "process_start_time_seconds", "gauge",
         "Start time of the process since unix epoch in seconds.",
         boot_time_seconds() + at(22) / ticks);
  family(out, "process_threads", "gauge", "Number of OS threads in the process.", at(20));
  return out;
}

}  // namespace echo_probe::monitor
