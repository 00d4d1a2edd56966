// Private to config/: the pieces the loader and the environment handling share. Problems
// collects every "file: key: reason" line of one load; Sources records which keys the
// environment set.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/loader.hpp"
#include "config/options.hpp"

namespace fedmesh::config::detail {

using Sources = std::map<std::string, std::string>;  // key path -> environment variable

class Problems {
 public:
  explicit Problems(std::string file) : file_(std::move(file)) {}
  void add(const std::string& key, const std::string& reason) {
    lines_.push_back(key.empty() ? file_ + ": " + reason : file_ + ": " + key + ": " + reason);
  }
  bool empty() const { return lines_.empty(); }
  Error error() const {
    std::string msg;
    for (const auto& l : lines_) {
      if (!msg.empty()) msg += '\n';
      msg += l;
    }
    return make_error(ErrorCode::config_invalid, msg);
  }

 private:
  std::string file_;
  std::vector<std::string> lines_;
};

// "unknown key", with "(did you mean ...?)" when a known key is close.
std::string unknown_key_reason(const std::string& suggestion);
const NodeOption* find_option(std::string_view key);

// ${NAME} and ${NAME:-default} in every string of the tree ("$$" is a literal "$").
void substitute_tree(nlohmann::json& node, const std::string& path, const Environment& env, Problems& problems);
// A YAML file in Flotta's shape (mode, node, join, datasources, database; no name).
bool looks_like_flotta(const nlohmann::json& tree);
// Flotta's config as a fedmesh tree; what has no meaning in fedmesh goes to `warnings`
// (flotta.cpp, docs/flotta-compat.md).
nlohmann::json from_flotta(const nlohmann::json& flotta, Problems& problems, std::vector<std::string>& warnings);
// FEDMESH_SECTION__KEY (and FEDMESH_SYSTEM_SERVICES__NAME__KEY...) over the tree, then
// apply_rhizome_variables.
void apply_env_overrides(nlohmann::json& tree, const Environment& env, Problems& problems, Sources& sources);
// Rhizome's RHIZOME_PEER_ID, RHIZOME_HTTP_API_PORT and RHIZOME_SEED_PEERS as name,
// http.listen's port and [[federation.peers]]. Each fills in what neither the file nor a
// FEDMESH_* variable set; a value that differs from theirs is a problem naming both. Every
// variable read is logged (stderr) and recorded in `sources`.
void apply_rhizome_variables(nlohmann::json& tree, const Environment& env, Problems& problems, Sources& sources);

}  // namespace fedmesh::config::detail
