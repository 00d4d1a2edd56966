// The `fedmesh` subcommands. Each returns the process exit code: 0 success,
// 1 runtime failure, 2 bad input (arguments, config, files named by the config).
#pragma once

#include <optional>
#include <string>

namespace CLI {
class App;
}

namespace fedmesh::cli {

// When the command line's words name a command that does not exist (`fedmesh frobnicate`,
// `fedmesh ca frob`), the message naming the word and the commands there are.
std::optional<std::string> unknown_command(CLI::App& app, int argc, char** argv);

int run_node(const std::string& config_path, bool reset_registry = false);
int config_check(const std::string& config_path, bool as_json);
int config_docs();
int ca_init(const std::string& dir, const std::string& common_name);
// A node certificate; `reissue` renews a name this CA issued to a node before.
int ca_issue(const std::string& ca_dir, const std::string& name, const std::string& out_dir,
             const std::string& organization, int days, bool reissue = false);
int version();
// Prints a node's status or peer table from its operator URL.
int show_status(const std::string& url, bool as_json);
int show_peers(const std::string& url, bool as_json);

}  // namespace fedmesh::cli
