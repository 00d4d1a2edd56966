#include "cli/commands.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <csignal>
#include <iostream>
#include <regex>
#include <thread>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "api/routes.hpp"
#include "cli/operator_client.hpp"
#include "config/loader.hpp"
#include "config/options.hpp"
#include "core/crash.hpp"
#include "core/json.hpp"
#include "core/log.hpp"
#include "core/version.hpp"
#include "crypto/certs.hpp"
#include "crypto/files.hpp"
#include "node/node.hpp"

namespace fedmesh::cli {

namespace {

int exit_code_for(const Error& e) {
  switch (e.code()) {
    case ErrorCode::config_invalid:
    case ErrorCode::invalid_argument:
    case ErrorCode::crypto_error:
    case ErrorCode::not_found:
    case ErrorCode::conflict: return 2;
    default: return 1;
  }
}

}  // namespace

int run_node(const std::string& config_path, bool reset_registry) {
  auto loaded = config::load_config(config_path, config::Environment::from_process());
  if (!loaded) {
    std::cerr << "fedmesh: invalid config:\n" << loaded.error().message() << "\n";
    return 2;
  }
  if (reset_registry) loaded->config.registry.reset = true;
  const NodeConfig& cfg = loaded->config;
  setup_logging({cfg.log.level, cfg.log.format, cfg.name});
  install_crash_handler(cfg.name, cfg.log.format == "json");
  if (loaded->flotta)
    spdlog::info("{} is a Flotta config: mapped onto fedmesh's options (docs/flotta-compat.md)", config_path);
  for (const auto& w : loaded->warnings) spdlog::warn("{}: {}", config_path, w);

  // Every connection is a descriptor: take what the hard limit allows (Debian's soft
  // default of 1,024 would let a thousand idle connections starve the node).
  if (rlimit lim{}; ::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    rlim_t was = lim.rlim_cur;
    lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, 1 << 20);
    if (::setrlimit(RLIMIT_NOFILE, &lim) == 0) spdlog::debug("open-file limit raised from {} to {}", was, lim.rlim_cur);
  }

  // Signals are caught on this thread only; I/O threads start after this point.
  boost::asio::io_context signals_ctx;
  boost::asio::signal_set signals(signals_ctx, SIGINT, SIGTERM);
  std::signal(SIGPIPE, SIG_IGN);

  auto node = Node::create(cfg);
  if (!node) {
    std::cerr << "fedmesh: cannot start node " << cfg.name << ": " << node.error().message() << "\n";
    return exit_code_for(node.error());
  }
  auto http_routes = api::operator_routes(**node);
  auto fed_routes = api::federation_routes(**node);
  auto kodo_routes = (*node)->kodo() ? api::kodo_routes(**node) : nullptr;
  auto join_routes = (*node)->aggregator() ? api::join_routes(**node) : nullptr;
  if (auto s = (*node)->start(http_routes, fed_routes, kodo_routes, join_routes); !s) {
    std::cerr << "fedmesh: cannot start node " << cfg.name << ": " << s.error().message() << "\n";
    (*node)->stop();
    return exit_code_for(s.error());
  }
  int received = 0;
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (!ec) received = sig;
  });
  signals_ctx.run();
  spdlog::info("received {}", received == SIGINT ? "SIGINT" : "SIGTERM");
  // The stop halts scripts when the grace ends; should anything still hold the process
  // (a store call that never returns), it ends anyway a little later.
  std::thread([grace = cfg.shutdown_grace] {
    std::this_thread::sleep_for(grace + std::chrono::seconds(5));
    spdlog::critical("did not stop within shutdown_grace + 5s; exiting now");
    spdlog::default_logger()->flush();
    std::_Exit(1);
  }).detach();
  (*node)->stop();
  return 0;
}

int config_check(const std::string& config_path, bool as_json) {
  auto loaded = config::load_config(config_path, config::Environment::from_process());
  if (!loaded) {
    std::cerr << loaded.error().message() << "\n";
    return 2;
  }
  for (const auto& w : loaded->warnings) std::cerr << "warning: " << config_path << ": " << w << "\n";
  if (as_json) {
    std::cout << dump_json(config::masked_effective(*loaded), 2) << "\n";
  } else {
    std::cout << "# " << config_path << ": valid. Effective configuration (secrets masked):\n";
    std::cout << config::render_effective_toml(*loaded);
  }
  return 0;
}

int config_docs() {
  std::cout << config::options_markdown();
  return 0;
}

int ca_init(const std::string& dir, const std::string& common_name) {
  if (auto s = crypto::init_ca(dir, common_name); !s) {
    std::cerr << "fedmesh ca init: " << s.error().message() << "\n";
    return exit_code_for(s.error());
  }
  auto files = crypto::ca_files(dir);
  std::cout << "created federation CA\n  certificate: " << files.cert << "\n  key:         " << files.key
            << " (0600)\n";
  if (auto pem = crypto::read_file(files.cert)) {
    if (auto fp = crypto::cert_fingerprint(*pem)) std::cout << "  SHA-256:     " << *fp << "\n";
  }
  return 0;
}

int ca_issue(const std::string& ca_dir, const std::string& name, const std::string& out_dir,
             const std::string& organization, int days, bool reissue) {
  static const std::regex re("[a-z0-9][a-z0-9._-]{0,62}");
  if (!std::regex_match(name, re)) {
    std::cerr << "fedmesh ca issue: --name '" << name
              << "' must be 1-63 characters of a-z, 0-9, '.', '_', '-', starting with a letter or digit\n";
    return 2;
  }
  crypto::CertOptions opts;
  opts.organization = organization;
  opts.not_after = std::chrono::hours(24) * days;
  opts.reissue = reissue;
  auto issued = crypto::issue_cert(ca_dir, name, out_dir, opts);
  if (!issued) {
    std::cerr << "fedmesh ca issue: " << issued.error().message() << "\n";
    return exit_code_for(issued.error());
  }
  std::cout << "issued certificate for " << name << "\n  certificate: " << issued->cert
            << "\n  key:         " << issued->key << " (0600)\n  sha256:      " << issued->fingerprint << "\n";
  return 0;
}

namespace {

Result<nlohmann::json> fetch_json(const std::string& url, const std::string& path) {
  auto res = operator_request(url, "GET", path);
  if (!res) return std::move(res).error();
  auto body = parse_json_object(res->body);
  if (!body) return make_error(ErrorCode::peer_unavailable, url + path + ": answer is not JSON");
  if (res->status != 200) {
    std::string msg = (*body)["error"].is_object() ? (*body)["error"].value("message", "") : res->body;
    return make_error(ErrorCode::peer_unavailable, url + path + ": " + std::to_string(res->status) + " " + msg);
  }
  return body;
}

std::string cell(const nlohmann::json& v) {
  return v.is_string() ? v.get<std::string>() : dump_json(v);
}

}  // namespace

// Fetches url+path; prints the error (as `command: ...`) or, with as_json, the document.
// Returns the document when the caller still has to print it as a table.
static std::optional<nlohmann::json> fetch_for_display(const char* command, const std::string& url,
                                                       const std::string& path, bool as_json, int& exit_code) {
  auto s = fetch_json(url, path);
  if (!s) {
    std::cerr << "fedmesh " << command << ": " << s.error().message() << "\n";
    exit_code = 1;
    return std::nullopt;
  }
  exit_code = 0;
  if (as_json) {
    std::cout << s->dump(2) << "\n";
    return std::nullopt;
  }
  return std::move(*s);
}

int show_status(const std::string& url, bool as_json) {
  int code = 0;
  auto s = fetch_for_display("status", url, "/api/v1/status", as_json, code);
  if (!s) return code;
  std::cout << fmt::format("{} ({}) version {}, up {:.0f}s, idle {}\n", cell((*s)["name"]), cell((*s)["organization"]),
                           cell((*s)["version"]), (*s)["uptime"].get<double>(), cell((*s)["idle"]));
  std::cout << "peers:";
  for (auto& [state, n] : (*s)["peers"].items()) std::cout << " " << state << "=" << n.get<int>();
  std::cout << "\n";
  return 0;
}

int show_peers(const std::string& url, bool as_json) {
  int code = 0;
  auto s = fetch_for_display("peers", url, "/api/v1/peers", as_json, code);
  if (!s) return code;
  std::cout << fmt::format("{:<12} {:<10} {:<8} {:<16} {:<26} {}\n", "PEER", "STATE", "ORIGIN", "ORGANIZATION", "URL",
                           "LAST ERROR");
  for (const auto& p : (*s)["peers"]) {
    std::cout << fmt::format("{:<12} {:<10} {:<8} {:<16} {:<26} {}\n", cell(p["name"]), cell(p["state"]),
                             cell(p["origin"]), cell(p["organization"]), cell(p["url"]), cell(p["last_error"]));
  }
  return 0;
}

std::optional<std::string> unknown_command(CLI::App& app, int argc, char** argv) {
  CLI::App* at = &app;
  std::string path = "fedmesh";
  for (int i = 1; i < argc; ++i) {
    std::string word = argv[i];
    if (word.starts_with("-") || at->get_require_subcommand_min() == 0) return std::nullopt;
    CLI::App* sub = nullptr;
    std::string names;
    for (CLI::App* s : at->get_subcommands([](CLI::App*) { return true; })) {
      names += (names.empty() ? "" : ", ") + s->get_name();
      if (s->get_name() == word) sub = s;
    }
    if (!sub) return fmt::format("{}: '{}' is not a command (commands: {}; {} --help)", path, word, names, path);
    at = sub;
    path += " " + word;
  }
  return std::nullopt;
}

int version() {
  std::cout << "fedmesh " << kVersion << "\n";
  return 0;
}

}  // namespace fedmesh::cli
