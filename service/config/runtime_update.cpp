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
  logger.set_level(next.log_level);
}

}  // namespace echod
