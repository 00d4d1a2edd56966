// A skill package: package.toml (name, version, description, env it reads, config
// defaults, declared skills with description, input/output shape and ACL) plus Lua
// files. Its identity is a content hash over the manifest and every file. Loading is
// pure validation of outside bytes (size and count limits, names, paths); thread-safe.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace fedmesh::skills {

// Who may call a skill. `local` (the node's own operator and packages) always may.
struct Acl {
  bool any_peer = false;                   // "peers"
  std::vector<std::string> peers;          // peer names
  std::vector<std::string> organizations;  // "org:NAME" entries
  bool exported() const { return any_peer || !peers.empty() || !organizations.empty(); }
  nlohmann::json to_json() const;
};

struct Caller {
  bool local = true;         // operator API or a package on this node
  std::string peer;          // certificate name of the calling peer
  std::string organization;  // the peer's organization, as it said at hello
};

bool allows(const Acl& acl, const Caller& caller);

struct SkillSpec {
  std::string name;
  std::string description;
  Acl acl;
  nlohmann::json input = nlohmann::json::object();   // informational shape
  nlohmann::json output = nlohmann::json::object();  // informational shape
  std::string author;                                // shown in registries
  std::vector<std::string> tags;                     // shown and searchable in registries
};

struct Manifest {
  std::string name;
  std::string version;
  std::string description;
  std::string main = "main.lua";
  // Other package names its skills also answer to (`aliases = ["pallete"]` serves
  // pallete/color_blend as palette/color_blend); at most kMaxAliases, none of them `name`.
  std::vector<std::string> aliases;
  std::vector<std::string> env;                      // variables env() may read
  nlohmann::json config = nlohmann::json::object();  // defaults
  std::vector<SkillSpec> skills;
  // [collections.NAME]: shared-data collection settings (docs/data-model.md, "Schemas"),
  // applied when the package is installed.
  nlohmann::json collections = nlohmann::json::object();
  const SkillSpec* skill(std::string_view name) const;
  // `name` itself or one of `aliases`.
  bool answers_to(std::string_view package) const;
  static constexpr std::size_t kMaxAliases = 8;
};

struct Package {
  Manifest manifest;
  std::string manifest_text;
  std::map<std::string, std::string> files;  // relative path -> content
  std::string hash;                          // sha256 hex over manifest and files
};

struct PackageLimits {
  std::size_t max_files = 64;
  std::size_t max_file_bytes = 256 << 10;
  std::size_t max_total_bytes = 1 << 20;
};

// From a folder on disk.
Result<Package> load_package_dir(const std::string& dir, const PackageLimits& limits = {});
// From the upload form {"manifest": "<package.toml text>", "files": {"main.lua": "..."}}.
Result<Package> package_from_json(const nlohmann::json& source, const PackageLimits& limits = {});
nlohmann::json package_source_json(const Package& package);
// From a manifest text and files (both above end here).
Result<Package> make_package(std::string manifest_text, std::map<std::string, std::string> files,
                             const PackageLimits& limits = {});

}  // namespace fedmesh::skills
