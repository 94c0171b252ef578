#include "fault_rules.h"

#include <arpa/inet.h>

#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

namespace echod {
namespace {

using json = nlohmann::json;

constexpr std::size_t kMaxRules = 64;
constexpr std::size_t kMaxNameBytes = 128;
constexpr Duration kMaxDelay = std::chrono::hours(1);
constexpr std::uint64_t kMaxCount = std::uint64_t{1} << 53;  // exact in a double and in JSON

struct Fail {
  std::string field;  // relative to the rule: "probability"; empty = the rule itself
  std::string reason;
};

std::optional<FaultAction> parse_action(std::string_view s) {
  for (std::size_t i = 0; i < kFaultActionNames.size(); ++i) {
    if (kFaultActionNames[i] == s) return static_cast<FaultAction>(i);
  }
  return std::nullopt;
}

constexpr std::string_view listener_name(FaultListener l) {
  switch (l) {
    case FaultListener::kTcp:
      return "tcp";
    case FaultListener::kTls:
      return "tls";
    case FaultListener::kUdp:
      return "udp";
    case FaultListener::kAny:
      break;
  }
  return "any";
}

std::optional<Fail> get_duration(const json& j, const char* key, Duration& out) {
  if (!j.is_string()) return Fail{key, "expected a duration string like \"200ms\", got " + j.dump()};
  auto d = parse_duration(j.get<std::string>());
  if (!d) return Fail{key, "expected a duration like 250ms, 5s, 2m or 1h, got " + j.dump()};
  if (*d > kMaxDelay) return Fail{key, "must be at most 1h"};
  out = *d;
  return std::nullopt;
}

std::optional<Fail> get_count(const json& j, const char* key, std::uint64_t lo,
                              std::uint64_t& out) {
  if (!j.is_number_unsigned() || j.get<std::uint64_t>() < lo ||
      j.get<std::uint64_t>() > kMaxCount) {
    return Fail{key, "expected an integer between " + std::to_string(lo) + " and 2^53, got " +
                         j.dump()};
  }
  out = j.get<std::uint64_t>();
  return std::nullopt;
}

std::optional<Fail> parse_rule(const json& j, FaultRule& r) {
  if (!j.is_object()) return Fail{"", "expected a rule object, got " + j.dump()};
  const auto action_it = j.find("action");
  if (action_it == j.end()) return Fail{"action", "missing (one of delay, bandwidth, close, "
                                                  "reset, stall, refuse, corrupt, drop)"};
  if (!action_it->is_string() || !parse_action(action_it->get<std::string>())) {
    return Fail{"action", "expected one of delay, bandwidth, close, reset, stall, refuse, "
                          "corrupt, drop, got " + action_it->dump()};
  }
  r.action = *parse_action(action_it->get<std::string>());
  bool has_delay = false;
  bool has_rate = false;
  bool has_every = false;
  for (const auto& [key, v] : j.items()) {
    if (key == "action") continue;
    if (key == "name") {
      if (!v.is_string() || v.get<std::string>().size() > kMaxNameBytes) {
        return Fail{key, "expected a string of at most 128 bytes, got " + v.dump()};
      }
      r.name = v.get<std::string>();
    } else if (key == "probability") {
      if (!v.is_number() || !(v.get<double>() >= 0.0 && v.get<double>() <= 1.0)) {
        return Fail{key, "expected a number between 0 and 1, got " + v.dump()};
      }
      r.probability = v.get<double>();
    } else if (key == "source") {
      if (!v.is_string() || !parse_cidr(v.get<std::string>())) {
        return Fail{key, "expected a CIDR like 10.0.0.0/8, 192.0.2.7 or ::1/128, got " + v.dump()};
      }
      r.source = parse_cidr(v.get<std::string>());
    } else if (key == "listener") {
      const std::string s = v.is_string() ? v.get<std::string>() : "";
      if (s == "any") {
        r.listener = FaultListener::kAny;
      } else if (s == "tcp") {
        r.listener = FaultListener::kTcp;
      } else if (s == "tls") {
        r.listener = FaultListener::kTls;
      } else if (s == "udp") {
        r.listener = FaultListener::kUdp;
      } else {
        return Fail{key, "expected tcp, tls, udp or any, got " + v.dump()};
      }
    } else if (key == "delay" && r.action == FaultAction::kDelay) {
      if (auto f = get_duration(v, "delay", r.delay)) return f;
      has_delay = true;
    } else if (key == "jitter" && r.action == FaultAction::kDelay) {
      if (auto f = get_duration(v, "jitter", r.jitter)) return f;
    } else if (key == "bytes_per_second" && r.action == FaultAction::kBandwidth) {
      if (auto f = get_count(v, "bytes_per_second", 1, r.bytes_per_second)) return f;
      has_rate = true;
    } else if (key == "every_bytes" && r.action == FaultAction::kCorrupt) {
      if (auto f = get_count(v, "every_bytes", 1, r.every_bytes)) return f;
      has_every = true;
    } else if (key == "after_bytes" &&
               (r.action == FaultAction::kClose || r.action == FaultAction::kReset ||
                r.action == FaultAction::kStall)) {
      std::uint64_t n = 0;
      if (auto f = get_count(v, "after_bytes", 0, n)) return f;
      r.after_bytes = n;
    } else if (key == "after" &&
               (r.action == FaultAction::kClose || r.action == FaultAction::kReset ||
                r.action == FaultAction::kStall)) {
      Duration d{0};
      if (auto f = get_duration(v, "after", d)) return f;
      r.after = d;
    } else {
      return Fail{key, "unknown key for action " + action_it->get<std::string>()};
    }
  }
  if (r.action == FaultAction::kDelay && !has_delay) return Fail{"delay", "missing"};
  if (r.action == FaultAction::kBandwidth && !has_rate) return Fail{"bytes_per_second", "missing"};
  if (r.action == FaultAction::kCorrupt && !has_every) return Fail{"every_bytes", "missing"};
  if (r.after_bytes && r.after) return Fail{"after", "give after_bytes or after, not both"};
  if (r.action == FaultAction::kClose && !r.after_bytes && !r.after) {
    return Fail{"after_bytes", "missing (close needs after_bytes or after)"};
  }
  // UDP has datagrams, not connections: drop is UDP's alone, and of the connection actions
  // only those that act on each echo (delay, corrupt) mean something for a datagram.
  if (r.action == FaultAction::kDrop &&
      (r.listener == FaultListener::kTcp || r.listener == FaultListener::kTls)) {
    return Fail{"listener", "drop applies to udp datagrams only"};
  }
  if (r.listener == FaultListener::kUdp && !fault_action_applies_to_udp(r.action)) {
    return Fail{"listener", "only the drop, delay and corrupt actions apply to udp"};
  }
  return std::nullopt;
}

std::optional<FaultRulesError> parse_list(const json& list, const std::string& prefix,
                                          FaultRules& out) {
  if (!list.is_array()) return FaultRulesError{prefix, "expected a JSON array of rules"};
  if (list.size() > kMaxRules) {
    return FaultRulesError{prefix, "at most " + std::to_string(kMaxRules) + " rules"};
  }
  FaultRules next;
  for (std::size_t i = 0; i < list.size(); ++i) {
    FaultRule r;
    if (auto f = parse_rule(list[i], r)) {
      std::string where = prefix + "[" + std::to_string(i) + "]";
      if (!f->field.empty()) where += "." + f->field;
      return FaultRulesError{where, f->reason};
    }
    if (r.name.empty()) r.name = "rule" + std::to_string(i);
    next.rules.push_back(std::move(r));
  }
  out = std::move(next);
  return std::nullopt;
}

std::optional<json> parse_text(std::string_view text, std::optional<FaultRulesError>& err) {
  try {
    return json::parse(text);
  } catch (const json::exception&) {
    err = FaultRulesError{"", "malformed JSON"};
    return std::nullopt;
  }
}

}  // namespace

bool Cidr::contains(bool peer_v6, const std::uint8_t* bytes) const {
  if (peer_v6 != v6) return false;
  unsigned bits = prefix;
  for (std::size_t i = 0; bits > 0; ++i) {
    const unsigned take = bits >= 8 ? 8 : bits;
    const std::uint8_t mask = static_cast<std::uint8_t>(0xFF00u >> take);
    if ((bytes[i] & mask) != (addr[i] & mask)) return false;
    bits -= take;
  }
  return true;
}

std::optional<Cidr> parse_cidr(std::string_view text) {
  Cidr c;
  std::string_view host = text;
  std::optional<unsigned> prefix;
  if (const auto slash = text.find('/'); slash != std::string_view::npos) {
    host = text.substr(0, slash);
    const std::string_view p = text.substr(slash + 1);
    unsigned v = 0;
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (p.empty() || ec != std::errc{} || ptr != p.data() + p.size()) return std::nullopt;
    prefix = v;
  }
  const std::string h(host);
  if (inet_pton(AF_INET, h.c_str(), c.addr.data()) == 1) {
    c.v6 = false;
    c.prefix = prefix.value_or(32);
    if (c.prefix > 32) return std::nullopt;
  } else if (inet_pton(AF_INET6, h.c_str(), c.addr.data()) == 1) {
    c.v6 = true;
    c.prefix = prefix.value_or(128);
    if (c.prefix > 128) return std::nullopt;
  } else {
    return std::nullopt;
  }
  return c;
}

std::string to_string(const Cidr& c) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(c.v6 ? AF_INET6 : AF_INET, c.addr.data(), buf, sizeof buf);
  return std::string(buf) + "/" + std::to_string(c.prefix);
}

std::optional<FaultRulesError> parse_fault_rule_list(std::string_view json_text,
                                                     const std::string& prefix, FaultRules& out) {
  std::optional<FaultRulesError> err;
  auto doc = parse_text(json_text, err);
  if (!doc) return err;
  return parse_list(*doc, prefix, out);
}

std::optional<FaultRulesError> parse_fault_rules_body(std::string_view json_text,
                                                      FaultRules& out) {
  std::optional<FaultRulesError> err;
  auto doc = parse_text(json_text, err);
  if (!doc) return err;
  if (!doc->is_object()) return FaultRulesError{"", "expected {\"rules\": [RULE, ...]}"};
  for (const auto& [key, value] : doc->items()) {
    if (key != "rules") return FaultRulesError{key, "unknown key (expected only \"rules\")"};
  }
  const auto it = doc->find("rules");
  if (it == doc->end()) return FaultRulesError{"rules", "missing"};
  return parse_list(*it, "rules", out);
}

std::string fault_rules_to_json(const FaultRules& rules) {
  json list = json::array();
  for (const FaultRule& r : rules.rules) {
    json j{{"name", r.name},
           {"action", kFaultActionNames[static_cast<std::size_t>(r.action)]},
           {"probability", r.probability},
           {"listener", listener_name(r.listener)}};
    if (r.source) j["source"] = to_string(*r.source);
    switch (r.action) {
      case FaultAction::kDelay:
        j["delay"] = format_duration(r.delay);
        j["jitter"] = format_duration(r.jitter);
        break;
      case FaultAction::kBandwidth:
        j["bytes_per_second"] = r.bytes_per_second;
        break;
      case FaultAction::kCorrupt:
        j["every_bytes"] = r.every_bytes;
        break;
      case FaultAction::kClose:
      case FaultAction::kReset:
      case FaultAction::kStall:
        if (r.after_bytes) j["after_bytes"] = *r.after_bytes;
        if (r.after) j["after"] = format_duration(*r.after);
        break;
      default:
        break;
    }
    list.push_back(std::move(j));
  }
  return list.dump();
}

}  // namespace echod
