#include "probe.h"

#include <sys/socket.h>

#include <cstdio>
#include <exception>
#include <string>

#include "engine.h"
#include "http_check.h"
#include "report.h"

namespace echo_probe {
namespace {

// Progress lines go to stderr once per second for runs expected to last more than about
// two seconds (--duration > 2s, or no count limit, or a count run still going after 2 s).
// --quiet and --json turn them off: JSON users often merge stdout and stderr (kubectl logs).
bool wants_progress(const Options& o) { return !o.quiet && !o.json; }

int run_http(const Options& o) {
  const HttpResult r = run_http_checks(o);
  const std::string text = o.json ? format_http_json(o, r) : format_http_summary(o, r);
  std::fputs(text.c_str(), stdout);
  return r.ok() ? 0 : 1;
}

int run_echo(const Options& o) {
  if (o.tls && o.tls->insecure()) std::fprintf(stderr, "echo-probe: %s\n", kTlsInsecureWarning);
  std::string dns_error;
  const int socktype = o.protocol == Protocol::kUdp ? SOCK_DGRAM : SOCK_STREAM;
  auto addresses = resolve(o.endpoint, socktype, &dns_error);
  LoadResult result;
  if (addresses.empty()) {
    std::fprintf(stderr, "echo-probe: cannot resolve %s\n", dns_error.c_str());
    result.total.errors.add(ErrorClass::kDns);
  } else {
    if (!o.all_addresses) addresses.resize(1);
    const bool long_run = (o.duration && o.duration->count() > 2'000'000'000) || o.count == 0;
    ProgressSample previous;
    ProgressFn progress = [&](const ProgressSample& s) {
      if (wants_progress(o) && (long_run || s.elapsed_s > 2.0)) {
        std::fprintf(stderr, "%s\n", format_progress(s, previous).c_str());
      }
      previous = s;
    };
    result = run_load(o, addresses, progress);
  }
  const std::string text = o.json ? format_json(o, result) : format_summary(o, result);
  std::fputs(text.c_str(), stdout);
  return load_succeeded(result) ? 0 : 1;
}

}  // namespace

int run_probe(const Options& options) {
  try {
    return options.protocol == Protocol::kHttp ? run_http(options) : run_echo(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "echo-probe: %s\n", e.what());
    return 1;
  }
}

}  // namespace echo_probe
