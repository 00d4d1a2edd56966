// `fedmesh up/down/ps/install/call/event`: running a network of local nodes from a
// network file (see network.hpp). Each returns the process exit code.
#pragma once

#include <string>

#include "cli/operator_client.hpp"
#include "core/error.hpp"

namespace fedmesh::cli {

// The operator URL of NODE: a node name of the network in `dir`, or a URL as it is.
Result<std::string> resolve_node(const std::string& node, const std::string& dir);
// Prints a 2xx answer's JSON to stdout (0), or the error to stderr (1).
int print_answer(const Result<OperatorResponse>& r, const std::string& what);

int network_up(const std::string& dir);
int network_down(const std::string& dir);
int network_ps(const std::string& dir);
int network_install(const std::string& dir, const std::string& only_node);
// Installs (or updates) the package in FOLDER on a running node, with its config (a JSON
// object, "" for none). NODE is a node name of the network in `dir`, or an operator URL.
int deploy_package(const std::string& node, const std::string& folder, const std::string& config,
                   const std::string& dir);
// NODE is a node name of the network in `dir`, or an operator URL.
int call_skill(const std::string& node, const std::string& skill, const std::string& args, const std::string& dir);
// Prints a registry's flows as a table (q, by, page, page size as the query API takes them).
int registry_query(const std::string& node, const std::string& q, const std::string& by, long long page,
                   long long page_size, bool as_json, const std::string& dir);
int fire_event(const std::string& node, const std::string& event, const std::string& payload, const std::string& dir);

}  // namespace fedmesh::cli
