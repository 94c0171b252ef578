#pragma once
// /metrics: the Prometheus text exposition (version 0.0.4) of the monitor's series.
#include <string>

#include "monitor.h"

namespace echo_probe::monitor {

/// Every echo_probe_* family of SPEC "echo-probe monitor" and the process_* families.
/// Every label value known in advance (modes, error and break classes) is there from the
/// start, as 0. Loop thread (it reads the series).
std::string render_metrics(const Monitor& monitor);

/// A label value with \, " and newline escaped as the exposition format wants.
std::string escape_label_value(const std::string& value);

}  // namespace echo_probe::monitor
