#include "cli/network_commands.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "cli/network.hpp"
#include "cli/operator_client.hpp"
#include "cli/supervisor.hpp"
#include "core/json.hpp"
#include "crypto/certs.hpp"
#include "crypto/files.hpp"
#include "net/http_types.hpp"
#include "skills/package.hpp"

namespace fedmesh::cli {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::string url_of(const NetworkNode& n) {
  return "http://127.0.0.1:" + std::to_string(n.http);
}
bool healthy(const NetworkNode& n) {
  auto r = operator_request(url_of(n), "GET", "/healthz", "", 1s);
  return r && r->status == 200;
}

Result<json> get_json(const NetworkNode& n, const std::string& path) {
  auto r = operator_request(url_of(n), "GET", path);
  if (!r) return std::move(r).error();
  auto j = parse_json(r->body);
  if (!j || r->status != 200) return make_error(ErrorCode::peer_unavailable, n.name + " " + path + ": " + r->body);
  return j;
}

// Installs the node's packages through its operator API; prints one line each.
bool install_packages(const Network& net, const NetworkNode& n, std::vector<std::string>* names,
                      bool* changed = nullptr) {
  bool ok = true;
  for (const auto& folder : n.packages) {
    auto pkg = skills::load_package_dir(folder);
    if (!pkg) {
      std::cerr << "  " << n.name << ": " << pkg.error().message() << "\n";
      ok = false;
      continue;
    }
    json body = skills::package_source_json(*pkg);
    body["config"] = n.config.value(pkg->manifest.name, json::object());
    auto r = operator_request(url_of(n), "POST", "/api/v1/packages", dump_json(body), 30s);
    if (!r || (r->status != 200 && r->status != 201)) {
      std::cerr << "  " << n.name << ": installing " << pkg->manifest.name
                << " failed: " << (r ? r->body : r.error().message()) << "\n";
      ok = false;
      continue;
    }
    auto outcome = parse_json(r->body);
    std::cout << fmt::format("  {:<10} {} {} ({})\n", n.name, pkg->manifest.name, pkg->manifest.version,
                             outcome ? outcome->value("outcome", "?") : "?");
    if (names) names->push_back(pkg->manifest.name);
    if (changed && outcome && outcome->value("outcome", "") != "unchanged") *changed = true;
  }
  (void)net;
  return ok;
}

// True when `from` has heard (in hello) every skill `to` exports.
bool knows_exports(const NetworkNode& from, const NetworkNode& to) {
  auto skills = get_json(to, "/api/v1/skills");
  auto peers = get_json(from, "/api/v1/peers");
  if (!skills || !peers) return false;
  std::set<std::string> heard;
  for (const auto& p : (*peers)["peers"]) {
    if (p.value("name", "") == to.name && p.value("state", "") == "up")
      for (const auto& s : p["skills"]) heard.insert(s.get<std::string>());
  }
  for (const auto& s : (*skills)["skills"]) {
    if (s["acl"] != "local" && !heard.contains(s["name"].get<std::string>())) return false;
  }
  return true;
}

}  // namespace

Result<std::string> resolve_node(const std::string& node, const std::string& dir) {
  if (node.starts_with("http://") || node.starts_with("https://")) return node;
  auto net = load_network(dir);
  if (!net) return std::move(net).error();
  auto* n = net->node(node);
  if (!n) return make_error(ErrorCode::not_found, "no node '" + node + "' in " + dir + "/fedmesh.toml");
  return url_of(*n);
}

int print_answer(const Result<OperatorResponse>& r, const std::string& what) {
  if (!r) {
    std::cerr << "fedmesh " << what << ": " << r.error().message() << "\n";
    return 1;
  }
  auto body = parse_json(r->body);
  if (r->status >= 200 && r->status < 300) {
    std::cout << (body ? body->dump(2) : r->body) << "\n";
    return 0;
  }
  if (body && (*body)["error"].is_object()) {
    const auto& e = (*body)["error"];
    std::cerr << "error " << r->status << ": " << e.value("code", "?") << ": " << e.value("message", "")
              << (e.contains("node") ? " (node " + e.value("node", "") + ")" : "") << "\n";
  } else {
    std::cerr << "error " << r->status << ": " << r->body << "\n";
  }
  return 1;
}

int network_up(const std::string& dir) {
  auto net = load_network(dir);
  if (!net) {
    std::cerr << "fedmesh up: " << net.error().message() << "\n";
    return 2;
  }
  std::string sd = net->state_dir();
  for (const char* sub : {"", "/run", "/logs", "/nodes", "/var"}) {
    std::error_code ec;
    fs::create_directories(sd + sub, ec);
    ::chmod((sd + sub).c_str(), 0700);
  }
  if (!fs::exists(sd + "/ca/ca.crt")) {
    if (auto s = crypto::init_ca(sd + "/ca", net->name + " development CA"); !s) {
      std::cerr << "fedmesh up: " << s.error().message() << "\n";
      return 1;
    }
    std::cout << "created a development CA in " << sd << "/ca\n";
  }
  for (const auto& n : net->nodes) {
    if (fs::exists(sd + "/certs/" + n.name + ".crt")) continue;
    crypto::CertOptions opts;
    opts.organization = n.organization;
    // The network's own CA issues only its nodes' names: a certificate gone from certs/ is
    // renewed (never a name a client joined under: that stays refused).
    opts.reissue = true;
    if (auto r = crypto::issue_cert(sd + "/ca", n.name, sd + "/certs", opts); !r) {
      std::cerr << "fedmesh up: " << r.error().message() << "\n";
      return 1;
    }
  }
  std::vector<const NetworkNode*> started;
  for (const auto& n : net->nodes) {
    if (auto s = write_node_config(*net, n); !s) {
      std::cerr << "fedmesh up: " << s.error().message() << "\n";
      return 1;
    }
    if (alive(read_pid(*net, n.name)) && healthy(n)) {
      std::cout << "  " << n.name << " is already running\n";
      continue;
    }
    if (auto s = start_node(*net, n); !s) {
      std::cerr << "fedmesh up: " << s.error().message() << "\n";
      return 1;
    }
    started.push_back(&n);
  }
  for (const auto& n : net->nodes) {
    bool up = wait_for([&] { return healthy(n) || !alive(read_pid(*net, n.name)); }, 30s) && healthy(n);
    if (!up) {
      std::cerr << "fedmesh up: node " << n.name << " did not start; the end of " << log_file(*net, n.name) << ":\n"
                << tail(log_file(*net, n.name), 15);
      return 1;
    }
  }
  for (const auto& l : net->links) {
    auto peer_up = [&](const NetworkNode& a, const std::string& b) {
      auto peers = get_json(a, "/api/v1/peers");
      if (!peers) return false;
      for (const auto& p : (*peers)["peers"])
        if (p.value("name", "") == b && p.value("state", "") == "up") return true;
      return false;
    };
    const auto& from = *net->node(l.from);
    const auto& to = *net->node(l.to);
    if (!wait_for([&] { return peer_up(from, l.to) && (!l.bidirectional || peer_up(to, l.from)); }, 30s)) {
      std::cerr << "fedmesh up: " << l.from << " and " << l.to << " did not federate within 30 s; see "
                << log_file(*net, l.from) << "\n";
      return 1;
    }
  }
  std::cout << "packages:\n";
  std::map<std::string, std::vector<std::string>> installed;
  std::map<std::string, bool> changed;
  bool ok = true;
  for (const auto& n : net->nodes) ok = install_packages(*net, n, &installed[n.name], &changed[n.name]) && ok;
  if (!ok) return 1;
  for (const auto& l : net->links) {
    const auto& from = *net->node(l.from);
    const auto& to = *net->node(l.to);
    wait_for([&] { return knows_exports(from, to) && (!l.bidirectional || knows_exports(to, from)); }, 15s);
  }
  // A node that restored its packages fired startup itself; only new installs need it.
  for (const auto* n : started) {
    if (!changed[n->name]) continue;
    auto r = operator_request(url_of(*n), "POST", "/api/v1/events/startup", "{}", 30s);
    if (!r || r->status != 200) std::cerr << "  " << n->name << ": startup event failed\n";
  }
  std::cout << "\n" << fmt::format("{:<10} {:<24} {:<24} {}\n", "ID", "HTTP", "FEDERATION", "PACKAGES");
  for (const auto& n : net->nodes) {
    std::string pkgs;
    for (const auto& p : installed[n.name]) pkgs += (pkgs.empty() ? "" : ", ") + p;
    std::cout << fmt::format("{:<10} {:<24} {:<24} {}\n", n.name, url_of(n),
                             "https://127.0.0.1:" + std::to_string(n.federation), pkgs);
  }
  std::cout << "\ndashboards:";
  for (const auto& n : net->nodes) std::cout << " " << url_of(n) << "/";
  std::cout << "\n";
  return 0;
}

int network_down(const std::string& dir) {
  auto net = load_network(dir);
  if (!net) {
    std::cerr << "fedmesh down: " << net.error().message() << "\n";
    return 2;
  }
  int stopped = 0;
  for (const auto& n : net->nodes) {
    pid_t pid = read_pid(*net, n.name);
    if (alive(pid)) {
      ::kill(pid, SIGTERM);
      if (!wait_for([&] { return !alive(pid); }, 15s)) {
        std::cerr << "  " << n.name << " did not stop within 15 s; killing it\n";
        ::kill(pid, SIGKILL);
      }
      std::cout << "  stopped " << n.name << "\n";
      ++stopped;
    }
    std::error_code ec;
    fs::remove(pid_file(*net, n.name), ec);
  }
  if (stopped == 0) std::cout << "nothing was running\n";
  return 0;
}

int network_ps(const std::string& dir) {
  auto net = load_network(dir);
  if (!net) {
    std::cerr << "fedmesh ps: " << net.error().message() << "\n";
    return 2;
  }
  std::cout << fmt::format("{:<10} {:<8} {:<9} {:<24} {:<8} {}\n", "ID", "PID", "STATE", "HTTP", "PEERS", "PACKAGES");
  for (const auto& n : net->nodes) {
    pid_t pid = read_pid(*net, n.name);
    bool running = alive(pid);
    std::string state = running ? (healthy(n) ? "running" : "starting") : "stopped";
    std::string peers = "-", pkgs = "-";
    if (state == "running") {
      if (auto s = get_json(n, "/api/v1/status"))
        peers = fmt::format("{}/{}", (*s)["peers"].value("up", 0),
                            (*s)["peers"].value("up", 0) + (*s)["peers"].value("down", 0) +
                                (*s)["peers"].value("connecting", 0) + (*s)["peers"].value("refused", 0));
      if (auto p = get_json(n, "/api/v1/packages")) {
        pkgs.clear();
        for (const auto& pk : (*p)["packages"]) pkgs += (pkgs.empty() ? "" : ", ") + pk.value("name", "");
      }
    }
    std::cout << fmt::format("{:<10} {:<8} {:<9} {:<24} {:<8} {}\n", n.name, running ? std::to_string(pid) : "-", state,
                             url_of(n), peers, pkgs);
  }
  return 0;
}

int network_install(const std::string& dir, const std::string& only_node) {
  auto net = load_network(dir);
  if (!net) {
    std::cerr << "fedmesh install: " << net.error().message() << "\n";
    return 2;
  }
  if (!only_node.empty() && !net->node(only_node)) {
    std::cerr << "fedmesh install: no node '" << only_node << "' in " << dir << "/fedmesh.toml\n";
    return 2;
  }
  bool ok = true;
  for (const auto& n : net->nodes) {
    if (!only_node.empty() && n.name != only_node) continue;
    if (!healthy(n)) {
      std::cerr << "  " << n.name << " is not running (fedmesh up " << dir << ")\n";
      ok = false;
      continue;
    }
    ok = install_packages(*net, n, nullptr) && ok;
  }
  return ok ? 0 : 1;
}

int deploy_package(const std::string& node, const std::string& folder, const std::string& config,
                   const std::string& dir) {
  auto url = resolve_node(node, dir);
  if (!url) {
    std::cerr << "fedmesh deploy: " << url.error().message() << "\n";
    return 2;
  }
  auto pkg = skills::load_package_dir(folder);
  if (!pkg) {
    std::cerr << "fedmesh deploy: " << folder << ": " << pkg.error().message() << "\n";
    return 2;
  }
  auto cfg = parse_json(config.empty() ? "{}" : config);
  if (!cfg || !cfg->is_object()) {
    std::cerr << "fedmesh deploy: --config must be a JSON object"
              << (cfg ? std::string() : ": " + cfg.error().message()) << "\n";
    return 2;
  }
  json body = skills::package_source_json(*pkg);
  body["config"] = std::move(*cfg);
  return print_answer(operator_request(*url, "POST", "/api/v1/packages", dump_json(body), 30s), "deploy");
}

int call_skill(const std::string& node, const std::string& skill, const std::string& args, const std::string& dir) {
  auto url = resolve_node(node, dir);
  if (!url) {
    std::cerr << "fedmesh call: " << url.error().message() << "\n";
    return 2;
  }
  auto parsed = parse_json(args.empty() ? "{}" : args);
  if (!parsed) {
    std::cerr << "fedmesh call: the arguments are not JSON: " << parsed.error().message() << "\n";
    return 2;
  }
  if (skill.find('/') == std::string::npos) {
    std::cerr << "fedmesh call: '" << skill << "' is not a package/skill name\n";
    return 2;
  }
  return print_answer(operator_request(*url, "POST", "/api/v1/skills/" + skill, parsed->dump(), 60s), "call");
}

int registry_query(const std::string& node, const std::string& q, const std::string& by, long long page,
                   long long page_size, bool as_json, const std::string& dir) {
  auto url = resolve_node(node, dir);
  if (!url) {
    std::cerr << "fedmesh registry query: " << url.error().message() << "\n";
    return 2;
  }
  std::string path = fmt::format("/api/v1/registry/flows?p={}&pp={}&q={}&by={}", page, page_size,
                                 net::percent_encode(q), net::percent_encode(by));
  auto r = operator_request(*url, "GET", path);
  if (!r || r->status != 200) return print_answer(r, "registry query");
  auto body = parse_json(r->body);
  if (!body) return print_answer(r, "registry query");
  if (as_json) {
    std::cout << dump_json(*body, 2) << "\n";
    return 0;
  }
  if (body->contains("parse_error"))
    std::cout << "q did not parse (" << (*body)["parse_error"].get<std::string>() << "); full-text search used\n";
  std::cout << fmt::format("{:<28} {:<12} {:<18} {:<10} {:<20} {}\n", "FLOW", "NODE", "ORGANIZATION", "STATUS", "TAGS",
                           "AUTHOR");
  for (const auto& item : (*body)["items"]) {
    std::string tags;
    for (const auto& t : item["tags"]) tags += (tags.empty() ? "" : ",") + t.get<std::string>();
    std::cout << fmt::format("{:<28} {:<12} {:<18} {:<10} {:<20} {}\n", item.value("name", ""), item.value("node", ""),
                             item.value("organization", ""), item.value("status", ""), tags, item.value("author", ""));
  }
  std::cout << fmt::format("page {} ({} per page): {} of {} flows match\n", page, page_size,
                           (*body)["filtered"].get<long long>(), (*body)["total"].get<long long>());
  return 0;
}

int fire_event(const std::string& node, const std::string& event, const std::string& payload, const std::string& dir) {
  auto url = resolve_node(node, dir);
  if (!url) {
    std::cerr << "fedmesh event: " << url.error().message() << "\n";
    return 2;
  }
  auto parsed = parse_json(payload.empty() ? "{}" : payload);
  if (!parsed) {
    std::cerr << "fedmesh event: the payload is not JSON: " << parsed.error().message() << "\n";
    return 2;
  }
  return print_answer(operator_request(*url, "POST", "/api/v1/events/" + event, parsed->dump(), 60s), "event");
}

}  // namespace fedmesh::cli
