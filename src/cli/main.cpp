// fedmesh: the node daemon and its CLI. main only parses arguments and dispatches.
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/data_commands.hpp"
#include "cli/job_commands.hpp"
#include "cli/network_commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"fedmesh — a federation runtime: sovereign nodes, skills, registries, shared data, federated jobs"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every subcommand");

  std::string config_path;
  auto* node = app.add_subcommand("node", "Run a node in the foreground (SIGINT/SIGTERM stop it gracefully)");
  node->add_option("-c,--config", config_path, "Node config file (.toml, .yaml or .yml)")->required();
  bool reset_registry = false;
  node->add_flag("--reset-registry", reset_registry, "Registry role: start with an empty catalog");

  auto* config = app.add_subcommand("config", "Work with config files");
  config->require_subcommand(1);
  std::string check_path;
  bool check_json = false;
  auto* check =
      config->add_subcommand("check", "Validate a config and print the effective config (secrets masked); exit 0 or 2");
  check->add_option("file", check_path, "Config file")->required();
  check->add_flag("--json", check_json, "Print the effective config as JSON");

  auto* docs = config->add_subcommand("docs", "Print the reference table of every config option (Markdown)");

  auto* ca = app.add_subcommand("ca", "Federation certificate authority");
  ca->require_subcommand(1);
  std::string ca_dir, ca_name = "fedmesh federation CA";
  auto* ca_init = ca->add_subcommand("init", "Create a federation CA in DIR (ca.key 0600 + ca.crt)");
  ca_init->add_option("dir", ca_dir, "Directory for the CA")->required();
  ca_init->add_option("--common-name", ca_name, "Subject common name of the CA");

  std::string issue_ca, issue_name, issue_out, issue_org;
  int issue_days = 825;
  bool issue_again = false;
  auto* ca_issue = ca->add_subcommand(
      "issue", "Issue a node certificate and key signed by a CA; a CA issues each name once (docs/security.md)");
  ca_issue->add_option("--ca", issue_ca, "CA directory (from `fedmesh ca init`)")->required();
  ca_issue->add_option("--name", issue_name, "Node name (certificate CN and DNS SAN)")->required();
  ca_issue->add_option("--out", issue_out, "Output directory for NAME.crt and NAME.key")->required();
  ca_issue->add_option("--organization", issue_org, "Organization (certificate O)");
  ca_issue->add_option("--days", issue_days, "Validity in days")->check(CLI::Range(1, 3650));
  ca_issue->add_flag("--reissue", issue_again,
                     "Renew: issue a name this CA issued before, only ever to a node (never a joined client's name)");

  std::string status_url, peers_url, status_net = ".", peers_net = ".";
  bool status_json = false, peers_json = false;
  auto* status = app.add_subcommand("status", "Show a running node's status: fedmesh status NODE");
  status
      ->add_option("node", status_url,
                   "Node name (of the network) or operator URL, e.g. http://127.0.0.1:3026 (FEDMESH_TOKEN is sent "
                   "when set)")
      ->required();
  status->add_flag("--json", status_json, "Print JSON");
  status->add_option("--network", status_net, "Network folder (default: the current directory)");
  auto* peers = app.add_subcommand("peers", "Show a running node's peer table: fedmesh peers NODE");
  peers
      ->add_option("node", peers_url,
                   "Node name (of the network) or operator URL, e.g. http://127.0.0.1:3026 (FEDMESH_TOKEN is sent "
                   "when set)")
      ->required();
  peers->add_flag("--json", peers_json, "Print JSON");
  peers->add_option("--network", peers_net, "Network folder (default: the current directory)");

  std::string net_dir = ".";
  auto* up =
      app.add_subcommand("up", "Start the network described by DIR/fedmesh.toml (certificates, nodes, packages)");
  up->add_option("dir", net_dir, "Network folder (with fedmesh.toml)")->required();
  std::string down_dir;
  auto* down = app.add_subcommand("down", "Stop the network's nodes gracefully");
  down->add_option("dir", down_dir, "Network folder")->required();
  std::string ps_dir;
  auto* ps = app.add_subcommand("ps", "Show the network's nodes: state, peers, packages");
  ps->add_option("dir", ps_dir, "Network folder")->required();
  std::string install_dir, install_node;
  auto* install = app.add_subcommand("install", "Redeploy the network's packages without restarting nodes");
  install->add_option("dir", install_dir, "Network folder")->required();
  install->add_option("--node", install_node, "Only this node");
  std::string deploy_node, deploy_dir, deploy_config, deploy_net = ".";
  auto* deploy = app.add_subcommand(
      "deploy", "Install or update a package folder on a running node: fedmesh deploy NODE PACKAGE_DIR");
  deploy->add_option("node", deploy_node, "Node name (of the network) or operator URL")->required();
  deploy->add_option("package", deploy_dir, "Package folder (package.toml and its Lua files)")->required();
  deploy->add_option("--config", deploy_config, "The package's config, a JSON object (default {})");
  deploy->add_option("--network", deploy_net, "Network folder (default: the current directory)");
  std::string call_node, call_skill_name, call_args, call_net = ".";
  auto* call = app.add_subcommand("call", "Call a skill: fedmesh call NODE pkg/skill '{json}'");
  call->add_option("node", call_node, "Node name (of the network) or operator URL")->required();
  call->add_option("skill", call_skill_name, "package/skill")->required();
  call->add_option("args", call_args, "JSON arguments (default {})");
  call->add_option("--network", call_net, "Network folder (default: the current directory)");
  std::string event_node, event_name, event_payload, event_net = ".";
  auto* event = app.add_subcommand("event", "Fire an event on a node: fedmesh event NODE NAME ['{json}']");
  event->add_option("node", event_node, "Node name (of the network) or operator URL")->required();
  event->add_option("name", event_name, "Event name, e.g. system.reset")->required();
  event->add_option("payload", event_payload, "JSON payload (default {})");
  event->add_option("--network", event_net, "Network folder (default: the current directory)");

  auto* registry = app.add_subcommand("registry", "Query a registry's catalog");
  registry->require_subcommand(1);
  std::string rq_node, rq_q, rq_by, rq_net = ".";
  long long rq_page = 0, rq_pp = 20;
  bool rq_json = false;
  auto* rquery =
      registry->add_subcommand("query", "List flows: fedmesh registry query NODE ['q'] [--by ..] [--page ..]");
  rquery->add_option("node", rq_node, "Registry node (name in the network, or operator URL)")->required();
  rquery->add_option("q", rq_q, "Filter, e.g. '@tag(\"ml\") & organization ~ \"acme\"' (free text otherwise)");
  rquery->add_option("--by", rq_by, "Sort fields, e.g. organization:desc,name");
  rquery->add_option("--page", rq_page, "Page, from 0")->check(CLI::NonNegativeNumber);
  rquery->add_option("--pp", rq_pp, "Page size")->check(CLI::Range(1, 10000));
  rquery->add_flag("--json", rq_json, "Print the JSON answer");
  rquery->add_option("--network", rq_net, "Network folder (default: the current directory)");

  fedmesh::cli::DataCommand dc;
  auto* data = app.add_subcommand(
      "data", "Shared data: fedmesh data get|put|delete|ids|query|deltas|status|resolve NODE ... (docs/data-model.md)");
  data->add_option("verb", dc.verb,
                   "get | put | delete | ids | query | deltas | status (collections, links, equivocations) | "
                   "resolve (lift an equivocation's quarantine)")
      ->required()
      ->check(CLI::IsMember({"get", "put", "delete", "ids", "query", "deltas", "status", "resolve"}));
  data->add_option("node", dc.node, "Node name (of the network) or operator URL")->required();
  data->add_option("args", dc.args,
                   "get/delete: COLLECTION ID; put: COLLECTION [ID] '{props}'; ids: COLLECTION; query: COLLECTION "
                   "['{filter}']; status: none; resolve: CREATOR COLLECTION");
  data->add_option("--view", dc.view, "get: resolved (default) or lossless")
      ->check(CLI::IsMember({"resolved", "lossless"}));
  data->add_option("--expand", dc.expand, "get: follow references this deep")->check(CLI::Range(0, 10));
  data->add_option("--since", dc.since, "deltas: creator/collection:seq,... to start after");
  data->add_option("--limit", dc.limit, "ids, query, deltas: at most this many")->check(CLI::Range(1, 10000));
  data->add_option("--network", dc.network, "Network folder (default: the current directory)");

  fedmesh::cli::JobCommand jc;
  auto* job = app.add_subcommand(
      "job", "Federated jobs: fedmesh job submit|status|wait|cancel|list|clients NODE ... (docs/jobs.md)");
  job->add_option("verb", jc.verb, "submit | status | wait | cancel | list | clients")
      ->required()
      ->check(CLI::IsMember({"submit", "status", "wait", "cancel", "list", "clients"}));
  job->add_option("node", jc.node, "Aggregator: node name (of the network) or operator URL")->required();
  job->add_option("id", jc.id, "status, wait, cancel: the job's id");
  job->add_option("--project", jc.project, "submit: the project");
  job->add_option("--token", jc.token, "submit: the project token (or FEDMESH_PROJECT_TOKEN)");
  job->add_option("--operation", jc.operation, "submit: '{\"kind\": \"mean\", \"columns\": [...]}'");
  job->add_option("--where", jc.where, "submit: a JSON-Logic filter over the columns");
  job->add_option("--datasource", jc.datasources, "submit: only this datasource, NAME or CLIENT/NAME (repeatable)")
      ->allow_extra_args(false);
  job->add_option("--file", jc.file, "submit: the whole job as a JSON file {project, token, where, operation}");
  job->add_flag("--wait", jc.wait, "submit: wait for the result and print it");
  job->add_option("--timeout", jc.timeout, "wait: give up after this many seconds")->check(CLI::Range(1, 86400));
  job->add_option("--network", jc.network, "Network folder (default: the current directory)");

  fedmesh::cli::JoinCommand joc;
  auto* join = app.add_subcommand(
      "join",
      "Join an aggregator with a token: make a key, get a jobs client's certificate signed by its CA, good for "
      "the aggregator's jobs routes only (docs/jobs.md)");
  join->add_option("url", joc.url, "The aggregator's join listener, https://host:port")->required();
  join->add_option("--name", joc.name, "This client's node name")->required();
  join->add_option("--token", joc.token, "A join or project token (or FEDMESH_JOIN_TOKEN)");
  join->add_option("--ca-sha256", joc.ca_sha256, "The aggregator's CA fingerprint, to pin it");
  join->add_option("--out", joc.out, "Where to write NAME.key, NAME.crt and ca.crt (default: certs)");

  auto* version = app.add_subcommand("version", "Print the version (also: fedmesh --version)");
  if (argc == 2 && std::string_view(argv[1]) == "--version") return fedmesh::cli::version();
  // A word that names no command is named back, with the commands there are (CLI11 alone
  // would only say that a subcommand is required).
  if (auto unknown = fedmesh::cli::unknown_command(app, argc, argv)) {
    std::cerr << *unknown << "\n";
    return 2;
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }

  if (*node) return fedmesh::cli::run_node(config_path, reset_registry);
  if (*check) return fedmesh::cli::config_check(check_path, check_json);
  if (*docs) return fedmesh::cli::config_docs();
  if (*ca_init) return fedmesh::cli::ca_init(ca_dir, ca_name);
  if (*ca_issue) return fedmesh::cli::ca_issue(issue_ca, issue_name, issue_out, issue_org, issue_days, issue_again);
  if (*status || *peers) {
    auto url = fedmesh::cli::resolve_node(*status ? status_url : peers_url, *status ? status_net : peers_net);
    if (!url) {
      std::cerr << "fedmesh " << (*status ? "status" : "peers") << ": " << url.error().message() << "\n";
      return 2;
    }
    if (*status) return fedmesh::cli::show_status(*url, status_json);
    return fedmesh::cli::show_peers(*url, peers_json);
  }
  if (*up) return fedmesh::cli::network_up(net_dir);
  if (*down) return fedmesh::cli::network_down(down_dir);
  if (*ps) return fedmesh::cli::network_ps(ps_dir);
  if (*install) return fedmesh::cli::network_install(install_dir, install_node);
  if (*deploy) return fedmesh::cli::deploy_package(deploy_node, deploy_dir, deploy_config, deploy_net);
  if (*call) return fedmesh::cli::call_skill(call_node, call_skill_name, call_args, call_net);
  if (*event) return fedmesh::cli::fire_event(event_node, event_name, event_payload, event_net);
  if (*rquery) return fedmesh::cli::registry_query(rq_node, rq_q, rq_by, rq_page, rq_pp, rq_json, rq_net);
  if (*data) return fedmesh::cli::data_command(dc);
  if (*job) return fedmesh::cli::job_command(jc);
  if (*join) return fedmesh::cli::join_command(joc);
  if (*version) return fedmesh::cli::version();
  return 2;
}
