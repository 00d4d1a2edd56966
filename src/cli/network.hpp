// A network file (DIR/fedmesh.toml): nodes with ports, env, packages and package
// config, links between them, and which collections of shared data they share ([data]
// share for all, a node's `share` for itself). Parsing is pure validation; `up`, `down`, `ps`,
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
  nlohmann::json share;            // [{collection, with}] for this node; null: the network's [data] share
  std::vector<std::string> roles;  // empty: ["node"]
  // The node's [jobs] table; datasource paths resolved against DIR, and `aggregator`
  // naming a node of the network (resolved to its federation URL when configs are written).
  nlohmann::json jobs;
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
  nlohmann::json share = nlohmann::json::array();  // [data] share: every node's, unless it has its own
  const NetworkNode* node(const std::string& name) const;
  std::string state_dir() const { return dir + "/.fedmesh"; }
};

Result<Network> load_network(const std::string& dir);

}  // namespace fedmesh::cli
