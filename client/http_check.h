#pragma once
// echo-probe http: GET /livez and /readyz on echod's admin port.
#include <optional>
#include <string>
#include <vector>

#include "error_class.h"
#include "options.h"

namespace echo_probe {

/// One request's outcome: the status (0 when no response) and how long it took.
struct HttpCheck {
  std::string path;
  int status = 0;
  double latency_us = 0;
  std::optional<ErrorClass> error;  // set when no response arrived
  std::string body;                 // first line of the body, for the summary
};

/// Both checks of one `echo-probe http` run, in order (/livez, /readyz).
struct HttpResult {
  std::vector<HttpCheck> checks;
  double duration_s = 0;
  /// Both endpoints answered 200.
  bool ok() const;
};

/// Sends GET /livez then GET /readyz to options.endpoint, each bounded by --timeout.
HttpResult run_http_checks(const Options& options);

}  // namespace echo_probe
