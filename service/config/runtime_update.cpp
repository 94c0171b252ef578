#include "runtime_update.h"

#include <string>

namespace echod {

void apply_runtime_settings(ConfigStore& store, Logger& logger, const RuntimeSettings& next,
                            std::string_view origin) {
  const RuntimeSettings previous = store.set_runtime(next);
  const std::string changes = describe_changes(previous, next);
  // Logged before the level moves, so a change to warn or error still records itself.
  logger.info("config changed", {{"origin", std::string(origin)},
                                 {"changes", changes.empty() ? std::string("none") : changes}});
  if (!(previous.faults == next.faults)) {
    std::string names;
    for (const FaultRule& r : next.faults.rules) {
      names += (names.empty() ? "" : ",") + r.name + ":" +
               std::string(kFaultActionNames[static_cast<std::size_t>(r.action)]);
    }
    // warn, not info: fault rules make echod misbehave on purpose, nobody should miss it.
    logger.warn("fault rules changed", {{"origin", std::string(origin)},
                                        {"rules", std::uint64_t{next.faults.rules.size()}},
                                        {"active", names.empty() ? std::string("none") : names}});
  }
  logger.set_level(next.log_level);
}

}  // namespace echod
