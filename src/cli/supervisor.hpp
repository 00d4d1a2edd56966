// Process supervision for `fedmesh up/down/ps`: where a network's nodes keep their
// config, pid and log (DIR/.fedmesh/...), writing a node's config, starting a node as a
// detached process, and telling whether it still runs. Used from the CLI's one thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>

#include "cli/network.hpp"
#include "core/error.hpp"

namespace fedmesh::cli {

std::string pid_file(const Network& net, const std::string& node);
std::string log_file(const Network& net, const std::string& node);
std::string config_file(const Network& net, const std::string& node);

// The pid a started node left, or 0.
pid_t read_pid(const Network& net, const std::string& node);
// Running, and not a zombie waiting for whoever reaps orphans here.
bool alive(pid_t pid);
// Polls `done` every 100 ms until it holds or the time is up (a CLI may sleep).
bool wait_for(const std::function<bool()>& done, std::chrono::seconds limit);
// The last `lines` lines of a log, indented for a message.
std::string tail(const std::string& path, std::size_t lines);

// DIR/.fedmesh/nodes/NAME.toml for the node, written with toml++ (certificates from the
// network's CA, its links as peers, the variables it sets as the ones packages may read).
Status write_node_config(const Network& net, const NetworkNode& node);
// Starts `fedmesh node` for it in its own session, output to its log; records the pid.
Status start_node(const Network& net, const NetworkNode& node);

}  // namespace fedmesh::cli
