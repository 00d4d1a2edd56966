// System services: the packages a node's config names in [system_services] (or, without
// `enable`, every package on its path), deployed after the node is up and at every start
// (installed, updated or left as they are, by content hash and config), then `startup`
// fired for every package. A package deployed so at an earlier start and no longer a
// service is removed, its state kept (the names are recorded in `deployed_file`). Like
// Fluence's deployer; a deployment that fails stops the node with the reason.
#pragma once

#include <boost/asio/io_context.hpp>

#include "config/node_config.hpp"
#include "core/error.hpp"
#include "skills/skill_host.hpp"

namespace fedmesh::skills {

// Blocks the calling (control) thread; the installs run as coroutines on `io`.
Status deploy_system_services(SkillHost& host, const SystemServicesConfig& services, boost::asio::io_context& io);

}  // namespace fedmesh::skills
