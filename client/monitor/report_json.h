#pragma once
// /report and --report FILE: the disruption report (SPEC JSON shape).
#include <string>

#include "monitor.h"

namespace echo_probe::monitor {

/// {"started", "now", "targets": [{"target", "addresses": [{address, probed, ...}],
/// "breaks": [{"time", "address", "class", "connection_age_s", "outage_ms"}],
/// "totals": {...}}]}; times are RFC 3339 UTC, outage_ms is null while the outage lasts.
/// Loop thread (it reads the series).
std::string render_report(const Monitor& monitor);

}  // namespace echo_probe::monitor
