#include "cli/network.hpp"

#include <filesystem>
#include <regex>
#include <set>

#include "config/loader.hpp"
#include "config/options.hpp"
#include "crypto/files.hpp"

namespace fedmesh::cli {

namespace fs = std::filesystem;
using json = nlohmann::json;

const NetworkNode* Network::node(const std::string& name) const {
  for (const auto& n : nodes) {
    if (n.name == name) return &n;
  }
  return nullptr;
}

Result<Network> load_network(const std::string& dir) {
  std::string path = (fs::path(dir) / "fedmesh.toml").string();
  auto text = crypto::read_file(path);
  if (!text)
    return make_error(ErrorCode::config_invalid,
                      "no network file " + path + " (give the network folder, e.g. --network examples/hello-federate)");
  auto tree = config::parse_tree(*text, config::Format::Toml, "fedmesh.toml");
  if (!tree) return make_error(ErrorCode::config_invalid, tree.error().message());
  auto bad = [](const std::string& key, const std::string& reason) {
    return make_error(ErrorCode::config_invalid, "fedmesh.toml: " + key + ": " + reason);
  };
  Network net;
  net.dir = fs::absolute(dir).lexically_normal().string();
  if (!net.dir.empty() && net.dir.back() == '/') net.dir.pop_back();
  const json& t = *tree;
  for (const auto& [k, _] : t.items()) {
    if (k != "name" && k != "nodes" && k != "links" && k != "data")
      return bad(k, "unknown key (known: name, nodes, links, data)");
  }
  // The same rules as a node's [data] share.
  auto check_share = [&](const json& v, const std::string& key) -> Status {
    if (auto why = config::check_share_rules(v); !why.empty()) return bad(key, why);
    return {};
  };
  if (auto d = t.find("data"); d != t.end()) {
    if (!d->is_object()) return bad("data", "expected a table");
    for (const auto& [k, v] : d->items()) {
      if (k != "share") return bad("data." + k, "unknown key (known: share)");
      if (auto s = check_share(v, "data.share"); !s) return std::move(s).error();
      net.share = v;
    }
  }
  net.name = t.value("name", fs::path(net.dir).filename().string());
  auto nodes = t.find("nodes");
  if (nodes == t.end() || !nodes->is_object() || nodes->empty())
    return bad("nodes", "declare at least one [nodes.NAME]");
  static const std::regex name_re("[a-z0-9][a-z0-9._-]{0,62}");
  std::set<int> ports;
  // toml++ keeps tables sorted; the file's order is not recoverable, so nodes sort by name.
  for (const auto& [name, spec] : nodes->items()) {
    std::string where = "nodes." + name;
    if (!std::regex_match(name, name_re))
      return bad(where, "node names are 1-63 characters of a-z, 0-9, '.', '_', '-'");
    if (!spec.is_object()) return bad(where, "expected a table");
    NetworkNode n;
    n.name = name;
    for (const auto& [k, v] : spec.items()) {
      std::string key = where + "." + k;
      if (k == "organization") {
        if (!v.is_string()) return bad(key, "expected a string");
        n.organization = v.get<std::string>();
      } else if (k == "http" || k == "federation") {
        if (!v.is_number_integer() || v.get<int>() < 1 || v.get<int>() > 65535)
          return bad(key, "expected a port (1-65535)");
        (k == "http" ? n.http : n.federation) = v.get<int>();
        if (!ports.insert(v.get<int>()).second)
          return bad(key, "port " + std::to_string(v.get<int>()) + " is used twice");
      } else if (k == "env") {
        if (!v.is_object()) return bad(key, "expected a table of strings");
        for (const auto& [ek, ev] : v.items()) {
          if (!ev.is_string()) return bad(key + "." + ek, "expected a string");
          n.env[ek] = ev.get<std::string>();
        }
      } else if (k == "packages") {
        if (!v.is_array()) return bad(key, "expected a list of package folders");
        for (const auto& p : v) {
          if (!p.is_string()) return bad(key, "expected a list of package folders");
          auto folder = (fs::path(net.dir) / p.get<std::string>()).lexically_normal().string();
          if (!fs::is_regular_file(fs::path(folder) / "package.toml"))
            return bad(key, "'" + p.get<std::string>() + "' is not a package folder (no package.toml)");
          n.packages.push_back(folder);
        }
      } else if (k == "config") {
        if (!v.is_object()) return bad(key, "expected a table of package tables");
        for (const auto& [pk, pv] : v.items()) {
          if (!pv.is_object()) return bad(key + "." + pk, "expected a table");
        }
        n.config = v;
      } else if (k == "share") {
        if (auto s = check_share(v, key); !s) return std::move(s).error();
        n.share = v;
      } else if (k == "roles") {
        if (!v.is_array()) return bad(key, "expected a list of roles");
        for (const auto& r : v) {
          if (!r.is_string() ||
              (r != "node" && r != "registry" && r != "aggregator" && r != "client" && r != "standalone"))
            return bad(key, "roles are node, registry, aggregator, client or standalone");
          n.roles.push_back(r.get<std::string>());
        }
      } else if (k == "jobs") {
        if (!v.is_object()) return bad(key, "expected a table (the node's [jobs] options)");
        n.jobs = v;
        if (auto ds = n.jobs.find("datasources"); ds != n.jobs.end()) {
          if (!ds->is_array()) return bad(key + ".datasources", "expected a list of tables");
          for (auto& d : *ds) {
            if (!d.is_object() || !d.contains("path") || !d["path"].is_string())
              return bad(key + ".datasources", "each datasource needs a path");
            d["path"] = (fs::path(net.dir) / d["path"].get<std::string>()).lexically_normal().string();
          }
        }
      } else {
        return bad(key,
                   "unknown key (known: organization, http, federation, env, packages, config, share, roles, jobs)");
      }
    }
    if (n.http == 0) return bad(where + ".http", "missing required key");
    if (n.federation == 0) return bad(where + ".federation", "missing required key");
    if (n.organization.empty()) n.organization = name;
    net.nodes.push_back(std::move(n));
  }
  for (const auto& n : net.nodes) {
    if (!n.jobs.is_object() || !n.jobs.contains("aggregator")) continue;
    const json& a = n.jobs["aggregator"];
    if (!a.is_string() || !net.node(a.get<std::string>()))
      return bad("nodes." + n.name + ".jobs.aggregator", "must name a node of this network");
  }
  if (auto links = t.find("links"); links != t.end()) {
    if (!links->is_array()) return bad("links", "expected [[links]] tables");
    for (std::size_t i = 0; i < links->size(); ++i) {
      const json& l = (*links)[i];
      std::string where = "links[" + std::to_string(i) + "]";
      if (!l.is_object()) return bad(where, "expected a table");
      NetworkLink link;
      for (const auto& [k, v] : l.items()) {
        if (k == "from" || k == "to") {
          if (!v.is_string()) return bad(where + "." + k, "expected a node name");
          (k == "from" ? link.from : link.to) = v.get<std::string>();
        } else if (k == "bidirectional") {
          if (!v.is_boolean()) return bad(where + "." + k, "expected true or false");
          link.bidirectional = v.get<bool>();
        } else {
          return bad(where + "." + k, "unknown key (known: from, to, bidirectional)");
        }
      }
      if (!net.node(link.from)) return bad(where + ".from", "'" + link.from + "' is not a node of this network");
      if (!net.node(link.to)) return bad(where + ".to", "'" + link.to + "' is not a node of this network");
      if (link.from == link.to) return bad(where, "a node cannot link to itself");
      net.links.push_back(std::move(link));
    }
  }
  return net;
}

}  // namespace fedmesh::cli
