// Flows as registries keep them: what a node offers (FlowSpec), its flows as one shared
// immutable list, and a flow record as queries see it. Plain values; thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fedmesh::registry {

// A flow as a node offers it.
struct FlowSpec {
  std::string name;  // "pkg/skill" (free text for Kodo flows)
  std::string url;
  std::string description;
  std::string author;
  std::vector<std::string> tags;
  std::string version;
  nlohmann::json to_json() const;
  bool operator==(const FlowSpec&) const = default;
};
// A node's flows, immutable once built: the catalog and its query indexes share them.
using FlowList = std::shared_ptr<const std::vector<FlowSpec>>;
FlowList make_flows(std::vector<FlowSpec> flows = {});
const FlowList& no_flows();  // one shared empty list

// One node's fields as the index shows them, and its flows.
struct NodeFlows {
  std::string registry;
  std::string node;
  std::string organization;
  std::string created;
  std::string modified;
  std::string heartbeat;
  std::string status;
  FlowList flows;
};

struct FlowRecord {
  std::string registry;
  std::string node;
  std::string organization;
  std::string created;
  std::string modified;
  std::string heartbeat;
  std::string url;
  std::string name;  // "pkg/skill"
  std::string author;
  std::string description;
  std::vector<std::string> tags;
  std::string status;  // alive | stale | gone
  nlohmann::json to_json() const;
};

}  // namespace fedmesh::registry
