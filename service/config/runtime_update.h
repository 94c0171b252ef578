#pragma once
#include <string_view>

#include "config.h"
#include "config_store.h"
#include "logger.h"

namespace echod {

/// The one way runtime settings change (SIGHUP and PUT /config both come here): swaps them
/// in the store as a unit, moves the log level, and logs which settings went old -> new.
void apply_runtime_settings(ConfigStore& store, Logger& logger, const RuntimeSettings& next,
                            std::string_view origin);

}  // namespace echod
