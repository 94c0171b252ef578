#include "report_json.h"

#include <cmath>
#include <nlohmann/json.hpp>

namespace echo_probe::monitor {
namespace {

using json = nlohmann::json;

json error_classes(const ErrorCounts& e) {
  json out = json::object();
  for (int c = 0; c < kErrorClassCount; ++c) {
    out[std::string(error_class_name(static_cast<ErrorClass>(c)))] = e.by_class[c];
  }
  return out;
}

json break_classes(const std::array<std::uint64_t, kBreakClassCount>& b) {
  json out = json::object();
  for (int c = 0; c < kBreakClassCount; ++c) out[break_class_name(static_cast<BreakClass>(c))] = b[c];
  return out;
}

json mode_json(const ModeSeries& s) {
  return {{"messages", s.messages}, {"verified", s.verified},    {"lost", s.lost},
          {"errors", s.errors.total()}, {"error_classes", error_classes(s.errors)}};
}

json target_json(const TargetSeries& t) {
  json addresses = json::array();
  std::uint64_t messages = 0, verified = 0, lost = 0;
  ErrorCounts errors;
  errors.by_class[static_cast<int>(ErrorClass::kDns)] = t.dns_errors;
  for (const auto& [text, a] : t.addresses) {
    json modes = json::object();
    for (Mode m : {Mode::kNew, Mode::kPersistent}) {
      const ModeSeries& s = a->mode(m);
      modes[mode_name(m)] = mode_json(s);
      messages += s.messages;
      verified += s.verified;
      lost += s.lost;
      errors.merge(s.errors);
    }
    addresses.push_back({{"address", text},
                         {"probed", a->probed},
                         {"persistent_connections", a->persistent_connections},
                         {"breaks", break_classes(a->breaks)},
                         {"modes", modes}});
  }
  json breaks = json::array();
  for (const auto& b : t.breaks) {
    breaks.push_back({{"time", rfc3339(b.time_unix)},
                      {"address", b.address},
                      {"class", break_class_name(b.cls)},
                      {"connection_age_s", std::round(b.connection_age_s * 1000) / 1000},
                      {"outage_ms", b.outage_ms ? json(std::round(*b.outage_ms * 1000) / 1000)
                                                : json(nullptr)}});
  }
  std::uint64_t break_count = 0;
  for (auto n : t.break_totals) break_count += n;
  json totals = {{"messages", messages},
                 {"verified", verified},
                 {"lost", lost},
                 {"errors", errors.total()},
                 {"error_classes", error_classes(errors)},
                 {"breaks", break_count},
                 {"break_classes", break_classes(t.break_totals)},
                 {"breaks_not_listed", t.breaks_not_recorded}};
  return {{"target", t.target}, {"addresses", addresses}, {"breaks", breaks}, {"totals", totals}};
}

}  // namespace

std::string render_report(const Monitor& monitor) {
  json targets = json::array();
  for (const auto& t : monitor.series()) targets.push_back(target_json(*t));
  json report = {{"started", rfc3339(monitor.started_unix())},
                 {"now", rfc3339(unix_now())},
                 {"disrupted", monitor.disrupted()},
                 {"targets", targets}};
  return report.dump(2) + "\n";
}

}  // namespace echo_probe::monitor
