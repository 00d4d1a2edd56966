// A network file (DIR/fedmesh.toml): nodes with ports, env, packages and package
// config, and links between them. Parsing is pure validation; `up`, `down`, `ps`,
// `install`, `call` and `event` (network_commands.cpp) act on it.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace fedmesh::cli {

struct NetworkNode {
  std::string name;
  std::string organization;
  int http = 0;
  int federation = 0;
  std::map<std::string, std::string> env;
  std::vector<std::string> packages;                 // folders, resolved against DIR
  nlohmann::json config = nlohmann::json::object();  // package name -> config table
};

struct NetworkLink {
  std::string from;
  std::string to;
  bool bidirectional = false;
};

struct Network {
  std::string dir;  // absolute
  std::string name;
  std::vector<NetworkNode> nodes;  // in file order
  std::vector<NetworkLink> links;
  const NetworkNode* node(const std::string& name) const;
  std::string state_dir() const { return dir + "/.fedmesh"; }
};

Result<Network> load_network(const std::string& dir);

}  // namespace fedmesh::cli
