// The HTTP routes of every module, built from the Node facade: one router for the
// operator listener and one for the federation listener, each composed from one routes
// file per module. Handlers are pure functions of the request that return a Result; the
// adapter (adapter.hpp) turns it into a response. Routers are immutable once built;
// handlers are thread-safe.
#pragma once

#include <memory>
#include <string_view>

#include "net/router.hpp"
#include "node/node.hpp"
#include "registry/flow_index.hpp"

namespace fedmesh::api {

std::shared_ptr<const net::Router> operator_routes(Node& node);
std::shared_ptr<const net::Router> federation_routes(Node& node);
// Kodo v1's routes alone, for the dedicated `registry.kodo_listen` listener (kodo_routes.cpp).
std::shared_ptr<const net::Router> kodo_routes(Node& node);
// Joining an aggregator, for the `jobs.join_listen` listener (job_routes.cpp).
std::shared_ptr<const net::Router> join_routes(Node& node);

// One function per module's routes file.
void add_node_routes(net::Router& router, Node& node);                // node_routes.cpp: dashboard, health, status
void add_skill_routes(net::Router& router, Node& node);               // skill_routes.cpp: operator side
void add_federated_skill_routes(net::Router& router, Node& node);     // skill_routes.cpp: peers' calls
void add_registry_routes(net::Router& router, Node& node);            // registry_routes.cpp: queries
void add_federated_registry_routes(net::Router& router, Node& node);  // registry_routes.cpp: registration, mesh
void add_kodo_routes(net::Router& router, Node& node);                // kodo_routes.cpp: all Kodo routes but GET /
void add_data_routes(net::Router& router, Node& node);                // data_routes.cpp: fedmesh's and Rhizome's (last)
void add_federated_data_routes(net::Router& router, Node& node);      // data_routes.cpp: replication
void add_job_routes(net::Router& router, Node& node);                 // job_routes.cpp: jobs, clients, worker
void add_federated_job_routes(net::Router& router, Node& node);       // job_routes.cpp: hello, next, result

// Shared by the route files.
Result<registry::QueryRequest> query_request(const net::Request& req);  // q, by, p, pp
bool wants_html(const net::Request& req);  // format=html, or Accept: text/html without format
std::string flows_html(const nlohmann::json& page, const std::vector<std::string>& columns);
std::string html_escape(std::string_view s);  // < > & " as entities (registry_routes.cpp)

}  // namespace fedmesh::api
