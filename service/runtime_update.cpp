#include "runtime_update.h"

#include <string>

namespace echod {

void apply_runtime_settings(ConfigStore& store, Logger& logger, const RuntimeSettings& next,
                            std::string_view origin) {
  const RuntimeSettings previous = store.set_runtime(next);
  logger.set_level(next.log_level);
  const std::string changes = describe_changes(previous, next);
  logger.info("config changed", {{"origin", std::string(origin)},
                                 {"changes", changes.empty() ? std::string("none") : changes}});
}

}  // namespace echod
