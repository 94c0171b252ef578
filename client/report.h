#pragma once
// What echo-probe prints: the human summary and the --json object (SPEC keys).
#include <string>

#include "engine.h"
#include "http_check.h"
#include "options.h"

namespace echo_probe {

/// Every message sent was echoed and verified, and nothing failed.
bool load_succeeded(const LoadResult& r);

/// Multi-line table for people: counts, rates, errors by class, latency percentiles.
std::string format_summary(const Options& o, const LoadResult& r);
/// One JSON object (one line): target, protocol, connections, sent, received,
/// verified_bytes, errors, error_classes, timeouts, mismatches, duration_s, msgs_per_sec,
/// bytes_per_sec, latency_us, connect_us; with --tls also tls (true), tls_insecure,
/// tls_handshake_us (the keys of connect_us) and tls_error (the first TLS failure's reason,
/// only when there was one); proxy_protocol ("v1"/"v2") with --proxy-protocol; and
/// per_address with --all-addresses (with tls_handshake_us under --tls).
std::string format_json(const Options& o, const LoadResult& r);

std::string format_http_summary(const Options& o, const HttpResult& r);
/// target, protocol, sent, received, errors, error_classes, duration_s, checks
/// ({"/livez": {status, latency_us, ok}, "/readyz": {...}}), ok.
std::string format_http_json(const Options& o, const HttpResult& r);

/// The stderr progress line: elapsed, totals, rate over the last interval, errors.
std::string format_progress(const ProgressSample& now, const ProgressSample& previous);

}  // namespace echo_probe
