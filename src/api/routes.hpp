// The HTTP routes of every module, built from the Node facade: one router for the
// operator listener (status, peers, health, metrics) and one for the federation
// listener (hello, ping). Routers are immutable once built; handlers are thread-safe.
#pragma once

#include <memory>

#include "net/router.hpp"
#include "node/node.hpp"
#include "registry/flow_index.hpp"

namespace fedmesh::api {

std::shared_ptr<const net::Router> operator_routes(Node& node);
std::shared_ptr<const net::Router> federation_routes(Node& node);
// Kodo v1's routes alone, for the dedicated `registry.kodo_listen` listener (kodo_routes.cpp).
std::shared_ptr<const net::Router> kodo_routes(Node& node);

// Shared by the route files.
void add_kodo_routes(net::Router& router, Node& node);                  // all Kodo routes but GET /
Result<registry::QueryRequest> query_request(const net::Request& req);  // q, by, p, pp
bool wants_html(const net::Request& req);  // format=html, or Accept: text/html without format
std::string flows_html(const nlohmann::json& page, const std::vector<std::string>& columns);

}  // namespace fedmesh::api
