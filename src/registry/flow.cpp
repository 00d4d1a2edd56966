#include "registry/flow.hpp"

namespace fedmesh::registry {

using json = nlohmann::json;

json FlowSpec::to_json() const {
  return {{"name", name},     {"url", url},   {"description", description},
          {"author", author}, {"tags", tags}, {"version", version}};
}

FlowList make_flows(std::vector<FlowSpec> flows) {
  return std::make_shared<const std::vector<FlowSpec>>(std::move(flows));
}

const FlowList& no_flows() {
  static const FlowList empty = make_flows();
  return empty;
}

json FlowRecord::to_json() const {
  return {{"registry", registry},
          {"node", node},
          {"organization", organization},
          {"created", created},
          {"modified", modified},
          {"heartbeat", heartbeat},
          {"url", url},
          {"name", name},
          {"author", author},
          {"description", description},
          {"tags", tags},
          {"status", status}};
}

}  // namespace fedmesh::registry
