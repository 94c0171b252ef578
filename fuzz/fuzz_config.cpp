// apply_json, both scopes (first input byte: even = file, odd = runtime / PUT /config).
// Contract checked on every input:
//  - all or nothing: on error the config is untouched;
//  - the runtime scope never changes a setting that is not runtime-changeable;
//  - the error text can be served as JSON (PUT /config answers {"error": reason}), i.e.
//    it is valid UTF-8 - nlohmann's dump() throws otherwise and the client gets a 500;
//  - an accepted config round-trips through to_json() as a config file.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string_view>

#include "config.h"

namespace {

bool serializable(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto scope = (data[0] & 1) ? echod::JsonScope::kRuntime : echod::JsonScope::kFile;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  // admin_token_file makes the file scope read a file: keep the fuzzer off devices.
  if (text.find("/dev/") != std::string_view::npos || text.find("/proc/") != std::string_view::npos) {
    return 0;
  }
  echod::Config config;
  config.admin_token = "fuzz-token";
  const echod::Config before = config;
  const auto err = echod::apply_json(config, text, scope, "fuzz");
  if (err) {
    if (!(config == before)) std::abort();  // half-applied
    if (!serializable(err->reason) || !serializable(err->setting)) {
      std::fprintf(stderr, "error text is not valid UTF-8: %s\n", err->message().c_str());
      std::abort();
    }
    return 0;
  }
  if (scope == echod::JsonScope::kRuntime) {
    echod::Config same_static = config;
    same_static.runtime = before.runtime;
    if (!(same_static == before)) std::abort();  // a static setting moved at runtime
  }
  if (!config.admin_token_file.empty()) return 0;  // would re-read the token file
  echod::Config round;
  round.admin_token = config.admin_token;
  if (echod::apply_json(round, echod::to_json(config), echod::JsonScope::kFile, "round trip") ||
      !(round == config)) {
    std::abort();
  }
  return 0;
}
