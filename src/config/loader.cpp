#include "config/loader.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <toml++/toml.h>

#include "config/loader_parts.hpp"
#include "config/options.hpp"
#include "core/address.hpp"

namespace fedmesh::config {

using json = nlohmann::json;
namespace fs = std::filesystem;
using detail::find_option;
using detail::Problems;
using detail::Sources;
using detail::unknown_key_reason;

namespace detail {

std::string unknown_key_reason(const std::string& suggestion) {
  if (suggestion.empty()) return "unknown key";
  return "unknown key (did you mean " + suggestion + "?)";
}

}  // namespace detail

namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string suggest_among(std::string_view key, const std::vector<std::string>& known) {
  std::string best;
  std::size_t best_d = std::string::npos;
  for (const auto& k : known) {
    auto d = edit_distance(key, k);
    if (d < best_d) {
      best_d = d;
      best = k;
    }
  }
  std::size_t limit = std::max<std::size_t>(2, key.size() / 4);
  return best_d <= limit ? best : "";
}

std::vector<std::string> known_node_keys() {
  std::vector<std::string> keys;
  for (const auto& o : node_options()) keys.emplace_back(o.key);
  return keys;
}

const json* lookup(const json& tree, std::string_view key) {
  auto dot = key.find('.');
  if (dot == std::string_view::npos) {
    auto it = tree.find(std::string(key));
    return it == tree.end() ? nullptr : &*it;
  }
  auto sec = tree.find(std::string(key.substr(0, dot)));
  if (sec == tree.end() || !sec->is_object()) return nullptr;
  auto it = sec->find(std::string(key.substr(dot + 1)));
  return it == sec->end() ? nullptr : &*it;
}

void store_effective(json& effective, std::string_view key, const json& value) {
  auto dot = key.find('.');
  if (dot == std::string_view::npos) {
    effective[std::string(key)] = value;
  } else {
    effective[std::string(key.substr(0, dot))][std::string(key.substr(dot + 1))] = value;
  }
}

void check_unknown_keys(const json& tree, Problems& problems) {
  const auto& secs = sections();
  for (const auto& [k, v] : tree.items()) {
    bool is_section = std::find(secs.begin(), secs.end(), k) != secs.end();
    if (is_section) {
      if (!v.is_object()) {
        problems.add(k, "expected a table");
        continue;
      }
      for (const auto& [sub, _] : v.items()) {
        std::string full = k + "." + sub;
        if (!find_option(full)) problems.add(full, unknown_key_reason(suggest_key(full)));
      }
    } else if (!find_option(k)) {
      problems.add(k, unknown_key_reason(suggest_key(k)));
    }
  }
}

std::vector<PeerConfig> check_peers(const json& list, json& effective_list, Problems& problems) {
  std::vector<PeerConfig> peers;
  std::vector<std::string> known;
  for (const auto& o : peer_options()) known.emplace_back(o.key);
  for (std::size_t i = 0; i < list.size(); ++i) {
    const json& item = list[i];
    std::string prefix = "federation.peers[" + std::to_string(i) + "]";
    for (const auto& [k, _] : item.items()) {
      if (std::find(known.begin(), known.end(), k) == known.end()) {
        auto s = suggest_among(k, known);
        problems.add(prefix + "." + k, unknown_key_reason(s.empty() ? s : prefix + "." + s));
      }
    }
    PeerConfig peer;
    json eff = json::object();
    for (const auto& o : peer_options()) {
      std::string key = prefix + "." + std::string(o.key);
      json value;
      if (auto it = item.find(std::string(o.key)); it != item.end()) {
        value = *it;
      } else if (o.default_json.empty()) {
        problems.add(key, "missing required key");
        continue;
      } else {
        value = json::parse(o.default_json);
      }
      if (auto reason = check_value(o, value); !reason.empty()) {
        problems.add(key, reason);
        continue;
      }
      o.apply(peer, value);
      eff[std::string(o.key)] = value;
    }
    effective_list.push_back(eff);
    peers.push_back(std::move(peer));
  }
  return peers;
}

std::string resolve(const fs::path& base, const std::string& p) {
  if (p.empty() || p == ":memory:") return p;
  fs::path path(p);
  if (path.is_absolute()) return path.lexically_normal().string();
  return (base / path).lexically_normal().string();
}

void cross_checks(NodeConfig& c, Problems& problems) {
  std::vector<std::string> seen;
  for (std::size_t i = 0; i < c.federation.peers.size(); ++i) {
    const auto& p = c.federation.peers[i];
    std::string key = "federation.peers[" + std::to_string(i) + "].name";
    if (p.name == c.name) problems.add(key, "a node cannot be its own peer");
    if (std::find(seen.begin(), seen.end(), p.name) != seen.end())
      problems.add(key, "peer '" + p.name + "' is listed twice");
    seen.push_back(p.name);
  }
  if (auto hp = parse_host_port(c.http.listen); hp && !is_loopback_host(hp->host)) {
    if (c.http.tls_cert.empty() || c.http.tls_key.empty() || c.http.token.empty())
      problems.add("http.listen",
                   c.http.listen + " is beyond loopback: set http.tls_cert, http.tls_key and http.token");
  }
  if (c.http.tls_cert.empty() != c.http.tls_key.empty())
    problems.add("http.tls_cert", "http.tls_cert and http.tls_key must be set together");
  if (c.store.backend == "postgresql" && c.store.url.empty())
    problems.add("store.url", "required when store.backend = \"postgresql\"");
  if (c.registry.stale_after >= c.registry.gone_after)
    problems.add("registry.stale_after", "must be shorter than registry.gone_after");
  bool registry_role = std::find(c.roles.begin(), c.roles.end(), "registry") != c.roles.end();
  if (c.registry.kodo_compat && !registry_role)
    problems.add("registry.kodo_compat", "needs the registry role (roles = [\"registry\", ...])");
  if (!c.registry.kodo_compat && (!c.registry.kodo_listen.empty() || !c.registry.kodo_url.empty()))
    problems.add(c.registry.kodo_listen.empty() ? "registry.kodo_url" : "registry.kodo_listen",
                 "has no effect unless registry.kodo_compat = true");
  if (!c.registry.kodo_compat && !c.registry.kodo_connect.empty())
    problems.add("registry.kodo_connect", "has no effect unless registry.kodo_compat = true");
  if (c.federation.retry_initial > c.federation.retry_max)
    problems.add("federation.retry_initial", "must not exceed federation.retry_max");
  auto has_role = [&](const char* role) { return std::find(c.roles.begin(), c.roles.end(), role) != c.roles.end(); };
  bool standalone = has_role("standalone");
  bool aggregator = standalone || has_role("aggregator");
  bool client = standalone || has_role("client");
  if (!aggregator) {
    if (!c.jobs.projects.empty()) problems.add("jobs.projects", "needs the aggregator or standalone role");
    if (!c.jobs.join_listen.empty()) problems.add("jobs.join_listen", "needs the aggregator role");
  }
  if (!c.jobs.join_listen.empty() && c.federation.issuer.empty())
    problems.add("jobs.join_listen", "needs federation.issuer (the CA folder that signs joining clients)");
  if (!client && !aggregator && !c.jobs.datasources.empty())
    problems.add("jobs.datasources", "needs the client, aggregator or standalone role");
  if (client && !standalone && c.jobs.aggregator.empty())
    problems.add("jobs.aggregator", "the client role needs the aggregator's URL (https://host:port)");
  if (has_role("client") && !c.federation.enabled)
    problems.add("roles",
                 "the client role needs a [federation] section: clients reach their aggregator over mutual TLS");
  if (has_role("aggregator") && !c.federation.enabled)
    problems.add("roles", "the aggregator role needs a [federation] section: clients poll it over mutual TLS");
  if (!c.federation.enabled) {
    // Without [federation] the node has no peers; say so where a key needs them.
    if (!c.registry.peers.empty())
      problems.add("registry.peers", "needs a [federation] section: registries sync over mutual TLS");
    if (!c.discovery.registries.empty())
      problems.add("discovery.registries", "needs a [federation] section: nodes register over mutual TLS");
  }
}

}  // namespace

std::string suggest_key(std::string_view key) {
  return suggest_among(key, known_node_keys());
}

std::string mask_url_password(std::string_view url) {
  auto scheme = url.find("://");
  auto at = url.find('@');
  if (scheme == std::string_view::npos || at == std::string_view::npos || at < scheme) return std::string(url);
  auto colon = url.find(':', scheme + 3);
  if (colon == std::string_view::npos || colon > at) return std::string(url);
  return std::string(url.substr(0, colon + 1)) + "****" + std::string(url.substr(at));
}

Result<LoadedConfig> load_config_text(std::string_view text, Format format, const std::string& display_name,
                                      const std::string& base_dir, const Environment& env) {
  auto parsed = parse_tree(text, format, display_name);
  if (!parsed) return std::move(parsed).error();
  json tree = std::move(*parsed);
  if (!tree.is_object()) return make_error(ErrorCode::config_invalid, display_name + ": top level must be a table");

  Problems problems(display_name);
  Sources sources;
  detail::substitute_tree(tree, "", env, problems);
  std::vector<std::string> warnings;
  bool flotta = format == Format::Yaml && detail::looks_like_flotta(tree);
  if (flotta) {
    tree = detail::from_flotta(tree, problems, warnings);
    if (!problems.empty()) return problems.error();
  }
  detail::apply_env_overrides(tree, env, problems, sources);
  // [system_services.NAME] tables are per-package config, not options: set them aside.
  json service_configs = json::object();
  if (auto it = tree.find("system_services"); it != tree.end() && it->is_object()) {
    for (auto sub = it->begin(); sub != it->end();) {
      if (sub->is_object()) {
        service_configs[sub.key()] = *sub;
        sub = it->erase(sub);
      } else {
        ++sub;
      }
    }
  }
  check_unknown_keys(tree, problems);

  LoadedConfig loaded;
  loaded.file = display_name;
  loaded.sources = std::move(sources);
  loaded.warnings = std::move(warnings);
  loaded.flotta = flotta;
  NodeConfig& c = loaded.config;
  // [federation] is optional: without it the node runs its operator listener only.
  c.federation.enabled = tree.contains("federation");
  json effective = json::object();
  for (const auto& o : node_options()) {
    const json* found = lookup(tree, o.key);
    bool federation_key = std::string_view(o.key).starts_with("federation.");
    json value;
    if (found) {
      value = *found;
    } else if ((federation_key && !c.federation.enabled) || o.default_json == "null") {
      // Without [federation] none of it applies (FederationConfig's defaults stay); an
      // option whose default is "null" means something by its absence (system_services.enable).
      continue;
    } else if (o.default_json.empty()) {
      problems.add(std::string(o.key), "missing required key");
      continue;
    } else {
      value = json::parse(o.default_json);
    }
    if (auto reason = check_value(o, value); !reason.empty()) {
      problems.add(std::string(o.key), reason);
      continue;
    }
    if (o.kind == Kind::PeerList) {
      json eff_list = json::array();
      c.federation.peers = check_peers(value, eff_list, problems);
      store_effective(effective, o.key, eff_list);
      continue;
    }
    o.apply(c, value);
    store_effective(effective, o.key, value);
  }
  // No early return: the checks below run too, so one `config check` reports every problem
  // (an option that failed keeps its default for them).

  // Without a [system_services] section nothing is a system service; with one and no
  // `enable`, every package on the path is (Fluence's default).
  if (!tree.contains("system_services") && !c.system_services.enable)
    c.system_services.enable = std::vector<std::string>{};

  // [system_services.TABLE] configures the service whose name, '-' written '_', is TABLE.
  c.system_services.configs = service_configs;
  for (const auto& [table, _] : service_configs.items()) {
    if (table.find('-') != std::string::npos)
      problems.add(
          "system_services." + table,
          "'-' in a service name is '_' in its table name: write [system_services." + service_table_name(table) + "]");
  }
  // A table no enabled service uses is a warning. Without `enable` every package on the
  // path is a service, known at start only: deploy_system_services matches tables then.
  if (const auto& enabled = c.system_services.enable) {
    std::map<std::string, std::string> tables;  // table name -> the service it configures
    for (const auto& name : *enabled) {
      auto [it, fresh] = tables.emplace(service_table_name(name), name);
      if (fresh) continue;
      problems.add("system_services.enable", it->second == name
                                                 ? "'" + name + "' is listed twice"
                                                 : "'" + it->second + "' and '" + name +
                                                       "' would share the table [system_services." + it->first + "]");
    }
    for (const auto& [table, _] : service_configs.items()) {
      if (table.find('-') == std::string::npos && !tables.contains(table))
        loaded.warnings.push_back("system_services." + table +
                                  ": a table for a service that system_services.enable does not list (ignored)");
    }
  }
  cross_checks(c, problems);
  if (!problems.empty()) return problems.error();

  // Resolve paths: config-relative for files, workdir-relative for the store.
  fs::path base = fs::absolute(base_dir.empty() ? fs::path(".") : fs::path(base_dir));
  c.workdir = resolve(base, c.workdir.empty() ? "var/" + c.name : c.workdir);
  c.http.tls_cert = resolve(base, c.http.tls_cert);
  c.http.tls_key = resolve(base, c.http.tls_key);
  if (c.federation.enabled) {
    c.federation.cert = resolve(base, c.federation.cert);
    c.federation.key = resolve(base, c.federation.key);
    for (auto& t : c.federation.trust) t = resolve(base, t);
    c.federation.issuer = resolve(base, c.federation.issuer);
  }
  for (auto& d : c.jobs.datasources) d.path = resolve(base, d.path);
  for (auto& p : c.system_services.path) p = resolve(base, p);
  c.system_services.deployed_file = (fs::path(c.workdir) / "system_services.json").string();
  if (c.store.backend == "sqlite") c.store.path = resolve(c.workdir, c.store.path);
  if (c.federation.enabled && c.federation.advertise.empty()) c.federation.advertise = "https://" + c.federation.listen;
  if (c.threads == 0) c.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  effective["workdir"] = c.workdir;
  effective["threads"] = c.threads;
  if (c.federation.enabled) {
    effective["federation"]["advertise"] = c.federation.advertise;
    effective["federation"]["cert"] = c.federation.cert;
    effective["federation"]["key"] = c.federation.key;
    effective["federation"]["trust"] = c.federation.trust;
    effective["federation"]["issuer"] = c.federation.issuer;
  }
  for (std::size_t i = 0; i < c.jobs.datasources.size(); ++i)
    effective["jobs"]["datasources"][i]["path"] = c.jobs.datasources[i].path;
  effective["store"]["path"] = c.store.path;
  effective["system_services"]["path"] = c.system_services.path;
  for (const auto& [name, table] : service_configs.items()) effective["system_services"][name] = table;
  loaded.effective = std::move(effective);
  return loaded;
}

Result<LoadedConfig> load_config(const std::string& path, const Environment& env) {
  fs::path p(path);
  auto ext = p.extension().string();
  Format format;
  if (ext == ".toml") {
    format = Format::Toml;
  } else if (ext == ".yaml" || ext == ".yml") {
    format = Format::Yaml;
  } else {
    return make_error(ErrorCode::config_invalid,
                      path + ": unknown config format '" + ext + "' (use .toml, .yaml or .yml)");
  }
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) return make_error(ErrorCode::config_invalid, path + ": no such file");
  if (fs::file_size(p, ec) > (4u << 20))
    return make_error(ErrorCode::config_invalid, path + ": file is larger than 4 MiB");
  std::ifstream in(p, std::ios::binary);
  if (!in) return make_error(ErrorCode::config_invalid, path + ": cannot be read");
  std::stringstream buf;
  buf << in.rdbuf();
  return load_config_text(buf.str(), format, p.filename().string(), p.parent_path().string(), env);
}

}  // namespace fedmesh::config
