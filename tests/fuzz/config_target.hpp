// The body of the config_toml and config_yaml targets: a config file's text through the
// loader (parse, ${VAR} substitution, environment overrides, Flotta's shape for YAML, the
// option table, cross-field checks, paths), then what `fedmesh config show` prints of it.
// The environment is fixed: the variables the examples and docs name (so their ${VAR}s
// resolve) and one override of each kind (so overrides meet every fuzzed tree shape).
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "config/loader.hpp"

namespace fedmesh::fuzz {

inline const config::Environment& config_environment() {
  static const config::Environment env(std::map<std::string, std::string>{
      {"FEDMESH_TOKEN", "fuzz-token-0123456789"},
      {"COLOR", "red"},
      {"PGPASSWORD", "secret"},
      {"HOUSING_TOKEN", "housing-token-0123"},
      {"DATABASE_USER", "flotta"},
      {"DATABASE_PASSWORD", "secret"},
      {"JOIN_TOKEN", "join-token-0123"},
      {"JOIN_TOKEN_NORTH", "join-north-0123"},
      {"JOIN_TOKEN_SOUTH", "join-south-0123"},
      {"FEDMESH_LOG__LEVEL", "debug"},
      {"FEDMESH_SYSTEM_SERVICES__PALETTE__GREETING", "hi"},
  });
  return env;
}

inline void load_config(std::string_view text, config::Format format) {
  auto loaded = config::load_config_text(text, format, "fuzz", "/nonexistent-base", config_environment());
  if (!loaded) return;
  (void)config::render_effective_toml(*loaded);
  (void)config::masked_effective(*loaded);
}

}  // namespace fedmesh::fuzz
