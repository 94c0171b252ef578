#pragma once
// Which pod, namespace and node this echod runs in, as Kubernetes' downward API tells it.
#include <cstdlib>
#include <string>

namespace echod {

/// Read once at startup from POD_NAME, POD_NAMESPACE and NODE_NAME (empty when unset).
/// Only the environment supplies these values: no request can add a label value.
struct InstanceIdentity {
  std::string pod;
  std::string pod_namespace;
  std::string node;

  static InstanceIdentity from_environment() {
    const auto env = [](const char* name) {
      const char* v = std::getenv(name);
      return std::string(v != nullptr ? v : "");
    };
    return {env("POD_NAME"), env("POD_NAMESPACE"), env("NODE_NAME")};
  }
};

}  // namespace echod
