#pragma once
#include "fault.h"

namespace echod {

/// close, reset, stall: the echo is plain until `after_bytes` were echoed or `after`
/// passed since accept; then FIN, RST, or nothing at all ever again (a dead peer).
class CutoffFault final : public Fault {
 public:
  CutoffFault(const FaultRule& rule, std::int64_t opened_ns) : Fault(rule.action) {
    ending = rule.action == FaultAction::kClose   ? FaultEnding::kClose
             : rule.action == FaultAction::kReset ? FaultEnding::kReset
                                                  : FaultEnding::kStall;
    if (rule.after) {
      end_at_ns = opened_ns + to_ns(*rule.after);
    } else {
      end_after_bytes = rule.after_bytes.value_or(0);  // reset/stall without either: at accept
    }
  }
};

}  // namespace echod
