// The fault-rule parser (PUT /faults bodies): never crash, all or nothing, and whatever
// parses serializes to a list that parses back to the same rules; matching a parsed list
// against any peer never crashes.
#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "fault.h"
#include "fault_rules.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  echod::FaultRules rules;
  rules.rules.push_back({});
  const echod::FaultRules before = rules;
  if (auto err = echod::parse_fault_rules_body(text, rules)) {
    if (!(rules == before)) std::abort();  // a refused body changed the rules
    return 0;
  }
  echod::FaultRules again;
  if (echod::parse_fault_rule_list(echod::fault_rules_to_json(rules), "rules", again)) std::abort();
  if (!(again == rules)) std::abort();
  sockaddr_storage peer{};
  std::memcpy(&peer, data, size < sizeof peer ? size : sizeof peer);
  peer.ss_family = (size & 1) ? AF_INET6 : AF_INET;
  echod::FaultRng rng(size);
  (void)echod::choose_fault_rule(rules, echod::FaultListener::kTcp, &peer, rng);
  (void)echod::choose_fault_rule(rules, echod::FaultListener::kUdp, &peer, rng);
  return 0;
}
