// The HTTP routes of every module, built from the Node facade: one router for the
// operator listener (status, peers, health, metrics) and one for the federation
// listener (hello, ping). Routers are immutable once built; handlers are thread-safe.
#pragma once

#include <memory>

#include "net/router.hpp"
#include "node/node.hpp"

namespace fedmesh::api {

std::shared_ptr<const net::Router> operator_routes(Node& node);
std::shared_ptr<const net::Router> federation_routes(Node& node);

}  // namespace fedmesh::api
