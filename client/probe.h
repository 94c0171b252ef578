#pragma once
// One echo-probe invocation after parsing: resolve, run, print, decide the exit code.
#include "options.h"

namespace echo_probe {

/// Runs the probe `options` describe, prints the summary (or JSON) on stdout and progress
/// lines on stderr, and returns the exit code: 0 when every message was verified (http:
/// both endpoints 200), 1 on any failure.
int run_probe(const Options& options);

}  // namespace echo_probe
