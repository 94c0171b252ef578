#pragma once
// Fault-injection rules as plain values (issue 13). JSON in and out lives in fault_rules.cpp;
// the echo path sees only these structs, copied with the runtime settings.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "duration.h"

namespace echod {

enum class FaultAction : std::size_t {
  kDelay,      // every echo held `delay` (+ up to `jitter`)
  kBandwidth,  // echo paced to bytes_per_second
  kClose,      // FIN after after_bytes echoed / `after` since accept
  kReset,      // RST after after_bytes / `after` (0 = at accept)
  kStall,      // stop reading and writing after after_bytes / `after`
  kRefuse,     // accepted and closed at once
  kCorrupt,    // one byte flipped per every_bytes echoed
  kDrop,       // UDP datagram not answered
  kCount
};
constexpr std::array<std::string_view, static_cast<std::size_t>(FaultAction::kCount)>
    kFaultActionNames{"delay", "bandwidth", "close", "reset", "stall", "refuse", "corrupt", "drop"};

enum class FaultListener { kAny, kTcp, kTls, kUdp };

/// Whether `a` acts on UDP datagrams: drop, and the per-echo delay and corrupt. The others
/// need a connection (a rate over a stream, an end, a refusal).
constexpr bool fault_action_applies_to_udp(FaultAction a) {
  return a == FaultAction::kDrop || a == FaultAction::kDelay || a == FaultAction::kCorrupt;
}

/// An address prefix ("10.0.0.0/8", "::1/128"). IPv4 is kept as 4 bytes; an IPv4-mapped
/// IPv6 peer (dual-stack listener) is matched as IPv4.
struct Cidr {
  bool v6 = false;
  std::array<std::uint8_t, 16> addr{};
  unsigned prefix = 0;
  bool operator==(const Cidr&) const = default;
  /// `bytes` is 4 (IPv4) or 16 (IPv6) bytes in network order.
  bool contains(bool peer_v6, const std::uint8_t* bytes) const;
};
std::optional<Cidr> parse_cidr(std::string_view text);
std::string to_string(const Cidr& cidr);

struct FaultRule {
  std::string name;
  FaultAction action = FaultAction::kDelay;
  double probability = 1.0;
  std::optional<Cidr> source;
  FaultListener listener = FaultListener::kAny;
  Duration delay{0};
  Duration jitter{0};
  std::uint64_t bytes_per_second = 0;
  std::optional<std::uint64_t> after_bytes;  // close / reset / stall: one of these two
  std::optional<Duration> after;
  std::uint64_t every_bytes = 0;  // corrupt
  bool operator==(const FaultRule&) const = default;
};

/// The active rules, in order: the first that matches a new connection (or datagram) wins.
struct FaultRules {
  std::vector<FaultRule> rules;
  bool operator==(const FaultRules&) const = default;
};

/// Why a rule list was refused: `setting` names the field ("rules[2].probability").
struct FaultRulesError {
  std::string setting;
  std::string reason;
};

/// Parses a JSON array of rules (the config file's `faults`). `prefix` names the list in
/// errors ("rules" for PUT /faults, "faults" for the file). All or nothing.
std::optional<FaultRulesError> parse_fault_rule_list(std::string_view json_text,
                                                     const std::string& prefix, FaultRules& out);
/// Parses a PUT /faults body: {"rules": [RULE, ...]}.
std::optional<FaultRulesError> parse_fault_rules_body(std::string_view json_text,
                                                      FaultRules& out);
/// The rules as a JSON array (the grammar parse_fault_rule_list reads back).
std::string fault_rules_to_json(const FaultRules& rules);

}  // namespace echod
