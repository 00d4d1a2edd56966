// Loads a node configuration from TOML or YAML (by file extension) into a validated
// NodeConfig. Steps: parse -> ${VAR} substitution -> FEDMESH_SECTION__KEY overrides ->
// check against the option table (unknown keys, types, bounds) -> cross-field checks ->
// resolve paths. Errors name the file, the key path and the reason, one per line.
// Pure apart from reading the file; thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/node_config.hpp"
#include "core/error.hpp"

namespace fedmesh::config {

// A snapshot of environment variables; injected so tests control it.
class Environment {
 public:
  Environment() = default;
  explicit Environment(std::map<std::string, std::string> vars) : vars_(std::move(vars)) {}
  static Environment from_process();

  std::optional<std::string> get(std::string_view name) const;
  const std::map<std::string, std::string>& vars() const { return vars_; }

 private:
  std::map<std::string, std::string> vars_;
};

struct LoadedConfig {
  NodeConfig config;
  nlohmann::json effective;  // every key with its effective value (defaults filled in)
  std::string file;          // the name errors use
  // Keys set from the environment: key path -> variable (FEDMESH_HTTP__LISTEN, or
  // FEDMESH_SYSTEM_SERVICES__SVC__GREETING for system_services.svc.greeting).
  std::map<std::string, std::string> sources;
  // Keys of a Flotta config that mean nothing in fedmesh, with why (logged at start).
  std::vector<std::string> warnings;
  bool flotta = false;  // read from Flotta's config shape
};

enum class Format { Toml, Yaml };

// Chooses the format by extension: .toml, or .yaml / .yml.
Result<LoadedConfig> load_config(const std::string& path, const Environment& env);

// The same from text; base_dir anchors relative paths.
Result<LoadedConfig> load_config_text(std::string_view text, Format format, const std::string& display_name,
                                      const std::string& base_dir, const Environment& env);

// Parses TOML or YAML into a JSON tree (no validation). Errors carry line:column.
Result<nlohmann::json> parse_tree(std::string_view text, Format format, const std::string& display_name);

// A JSON tree as TOML text (tables, arrays of tables, strings, numbers, booleans).
std::string render_toml(const nlohmann::json& tree);

// The effective config as TOML, secrets replaced by "****".
std::string render_effective_toml(const LoadedConfig& loaded);
nlohmann::json masked_effective(const LoadedConfig& loaded);

// The known key closest to `key`, when close enough to suggest ("" otherwise).
std::string suggest_key(std::string_view key);

// Replaces the password in scheme://user:password@host/... by ****.
std::string mask_url_password(std::string_view url);

}  // namespace fedmesh::config
