// The environment's part in a config: `${VAR}` substitution and FEDMESH_* overrides,
// system service tables included, and Rhizome's RHIZOME_* variables.
#include <algorithm>
#include <memory>
#include <sstream>
#include <string>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "config/loader_parts.hpp"
#include "core/address.hpp"

extern char** environ;

namespace fedmesh::config {

using json = nlohmann::json;

Environment Environment::from_process() {
  std::map<std::string, std::string> vars;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    auto eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    vars.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return Environment(std::move(vars));
}

std::optional<std::string> Environment::get(std::string_view name) const {
  auto it = vars_.find(std::string(name));
  if (it == vars_.end()) return std::nullopt;
  return it->second;
}

namespace detail {

// ${NAME}, ${NAME:-default}; "$$" is a literal "$".
Result<std::string> substitute(const std::string& in, const Environment& env) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '$') {
      out += in[i];
      continue;
    }
    if (i + 1 < in.size() && in[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    if (i + 1 >= in.size() || in[i + 1] != '{') {
      out += '$';
      continue;
    }
    auto close = in.find('}', i + 2);
    if (close == std::string::npos) return make_error(ErrorCode::config_invalid, "unterminated ${ in value");
    std::string inner = in.substr(i + 2, close - i - 2);
    std::string name = inner;
    std::optional<std::string> fallback;
    if (auto dash = inner.find(":-"); dash != std::string::npos) {
      name = inner.substr(0, dash);
      fallback = inner.substr(dash + 2);
    }
    bool valid = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
      return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    });
    if (!valid) return make_error(ErrorCode::config_invalid, "'${" + inner + "}' is not a valid variable reference");
    auto value = env.get(name);
    if (!value) {
      if (!fallback) return make_error(ErrorCode::config_invalid, "environment variable " + name + " is not set");
      value = fallback;
    }
    out += *value;
    i = close;
  }
  return out;
}

void substitute_tree(json& node, const std::string& path, const Environment& env, Problems& problems) {
  if (node.is_string()) {
    auto r = substitute(node.get<std::string>(), env);
    if (r) {
      node = *r;
    } else {
      problems.add(path, r.error().message());
    }
  } else if (node.is_object()) {
    for (auto& [k, v] : node.items()) substitute_tree(v, path.empty() ? k : path + "." + k, env, problems);
  } else if (node.is_array()) {
    for (std::size_t i = 0; i < node.size(); ++i)
      substitute_tree(node[i], path + "[" + std::to_string(i) + "]", env, problems);
  }
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

const NodeOption* find_option(std::string_view key) {
  for (const auto& o : node_options()) {
    if (o.key == key) return &o;
  }
  return nullptr;
}

// Converts an environment string to the option's JSON type (checked later).
Result<json> env_value(const NodeOption& option, const std::string& text) {
  switch (option.kind) {
    case Kind::Int:
      try {
        std::size_t used = 0;
        long long n = std::stoll(text, &used);
        if (used != text.size()) throw std::invalid_argument("trailing");
        return json(n);
      } catch (...) {
        return make_error(ErrorCode::config_invalid, "expected an integer, got '" + text + "'");
      }
    case Kind::Bool: {
      auto t = lower(text);
      if (t == "true" || t == "1" || t == "yes") return json(true);
      if (t == "false" || t == "0" || t == "no") return json(false);
      return make_error(ErrorCode::config_invalid, "expected true or false, got '" + text + "'");
    }
    case Kind::StringList: {
      if (!text.empty() && text.front() == '[') {
        auto parsed = json::parse(text, nullptr, false);
        if (parsed.is_discarded()) return make_error(ErrorCode::config_invalid, "not a JSON list");
        return parsed;
      }
      json arr = json::array();
      std::stringstream in(text);
      std::string item;
      while (std::getline(in, item, ',')) {
        auto b = item.find_first_not_of(" \t");
        auto e = item.find_last_not_of(" \t");
        if (b != std::string::npos) arr.push_back(item.substr(b, e - b + 1));
      }
      return arr;
    }
    case Kind::PeerList:
    case Kind::TableList: return make_error(ErrorCode::config_invalid, "cannot be set from the environment");
    default: return json(text);
  }
}

// The value of FEDMESH_SYSTEM_SERVICES__NAME__KEY, typed like the one it replaces; with
// nothing to replace, JSON when it parses as JSON, else the text.
Result<json> service_value(const json* replaced, const std::string& text) {
  auto parsed = json::parse(text, nullptr, false);
  if (!replaced || replaced->is_null()) return parsed.is_discarded() ? json(text) : parsed;
  if (replaced->is_string()) return json(text);
  if (replaced->is_boolean()) {
    if (text == "true" || text == "false") return json(text == "true");
    return make_error(ErrorCode::config_invalid, "expected true or false, like the value it replaces");
  }
  if (replaced->is_number_integer()) {
    if (parsed.is_number_integer()) return parsed;
    return make_error(ErrorCode::config_invalid, "expected an integer, like the value it replaces");
  }
  if (replaced->is_number()) {
    if (parsed.is_number()) return json(parsed.get<double>());
    return make_error(ErrorCode::config_invalid, "expected a number, like the value it replaces");
  }
  if (replaced->is_array() && parsed.is_array()) return parsed;
  if (replaced->is_object() && parsed.is_object()) return parsed;
  return make_error(
      ErrorCode::config_invalid,
      std::string("expected a JSON ") + (replaced->is_array() ? "array" : "object") + ", like the value it replaces");
}

// The member of `table` named `key` up to case (environment names are uppercase).
json::iterator find_key(json& table, const std::string& key) {
  for (auto it = table.begin(); it != table.end(); ++it) {
    if (lower(it.key()) == key) return it;
  }
  return table.end();
}

// FEDMESH_SYSTEM_SERVICES__<NAME>__<KEY>[__<KEY>...] sets a key of [system_services.NAME].
void apply_service_override(json& tree, const std::string& var, const std::string& parts_text, const std::string& value,
                            Problems& problems, Sources& sources) {
  std::vector<std::string> parts;
  for (std::size_t start = 0;;) {
    auto sep = parts_text.find("__", start);
    parts.push_back(lower(parts_text.substr(start, sep == std::string::npos ? std::string::npos : sep - start)));
    if (sep == std::string::npos) break;
    start = sep + 2;
  }
  if (std::any_of(parts.begin(), parts.end(), [](const std::string& p) { return p.empty(); }))
    return problems.add("environment " + var, "expected FEDMESH_SYSTEM_SERVICES__<NAME>__<KEY>");
  auto& services = tree["system_services"];
  if (!services.is_object()) services = json::object();
  json* table = &services[parts[0]];
  if (table->is_null()) *table = json::object();
  std::string path = "system_services." + parts[0];
  for (std::size_t i = 1; i + 1 < parts.size(); ++i) {
    if (!table->is_object()) return problems.add("environment " + var, path + " is not a table");
    auto it = find_key(*table, parts[i]);
    if (it == table->end()) it = table->emplace(parts[i], json::object()).first;
    path += "." + it.key();
    table = &*it;
  }
  if (!table->is_object()) return problems.add("environment " + var, path + " is not a table");
  auto it = find_key(*table, parts.back());
  std::string key = it == table->end() ? parts.back() : it.key();
  auto typed = service_value(it == table->end() ? nullptr : &*it, value);
  if (!typed) return problems.add("environment " + var, path + "." + key + ": " + typed.error().message());
  (*table)[key] = std::move(*typed);
  sources[path + "." + key] = var;
}

void apply_env_overrides(json& tree, const Environment& env, Problems& problems, Sources& sources) {
  constexpr std::string_view kServices = "SYSTEM_SERVICES__";
  for (const auto& [var, value] : env.vars()) {
    if (!var.starts_with("FEDMESH_")) continue;
    std::string rest = var.substr(8);
    if (rest.starts_with(kServices) && rest.find("__", kServices.size()) != std::string::npos) {
      apply_service_override(tree, var, rest.substr(kServices.size()), value, problems, sources);
      continue;
    }
    std::string key;
    if (auto sep = rest.find("__"); sep != std::string::npos) {
      key = lower(rest.substr(0, sep)) + "." + lower(rest.substr(sep + 2));
    } else {
      key = lower(rest);
      // Plain FEDMESH_X variables are free for ${} substitution unless they name a top-level key.
      if (!find_option(key) || key.find('.') != std::string::npos) continue;
    }
    const NodeOption* option = find_option(key);
    if (!option) {
      problems.add("environment " + var, unknown_key_reason(suggest_key(key)));
      continue;
    }
    auto converted = env_value(*option, value);
    if (!converted) {
      problems.add("environment " + var, converted.error().message());
      continue;
    }
    auto dot = key.find('.');
    if (dot == std::string::npos) {
      tree[key] = *converted;
    } else {
      auto section = key.substr(0, dot);
      if (!tree.contains(section) || !tree[section].is_object()) tree[section] = json::object();
      tree[section][key.substr(dot + 1)] = *converted;
    }
    sources[key] = var;
  }
  apply_rhizome_variables(tree, env, problems, sources);
}

// ---- Rhizome's variables (docs/rhizome-compat.md, "Environment variables") ----------------

namespace {

// One line on stderr per variable read, at load time: the node's own logger is not set up
// yet then, and stdout carries `config check`'s output.
void note(const std::string& line) {
  static const auto logger = [] {
    auto l = std::make_shared<spdlog::logger>("config", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    l->set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %-5l [config] %v", spdlog::pattern_time_type::utc);
    return l;
  }();
  logger->info("{}", line);
}

std::string trimmed(std::string_view s) {
  auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return "";
  auto e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

// Where a value already in the tree came from: a FEDMESH_* variable or the file.
std::string origin(const Sources& sources, const std::string& key) {
  auto it = sources.find(key);
  return it == sources.end() ? "the config file" : it->second;
}

// RHIZOME_PEER_ID: the node's name.
void rhizome_peer_id(json& tree, const std::string& value, Problems& problems, Sources& sources) {
  const std::string var = "environment RHIZOME_PEER_ID";
  std::string id = trimmed(value);
  if (auto why = check_value(*find_option("name"), json(id)); !why.empty())
    return problems.add(var, "'" + value + "' is not a fedmesh node name: " + why);
  if (auto it = tree.find("name"); it != tree.end()) {
    if (*it != id)
      return problems.add(var, "'" + id + "' conflicts with name = " + it->dump() + " from " + origin(sources, "name") +
                                   "; remove one of them");
    return note("RHIZOME_PEER_ID=" + id + " agrees with name from " + origin(sources, "name"));
  }
  tree["name"] = id;
  sources["name"] = "RHIZOME_PEER_ID";
  note("RHIZOME_PEER_ID=" + id + " read as name = \"" + id + "\" (docs/rhizome-compat.md)");
}

// RHIZOME_HTTP_API_PORT: the port of the operator listener, whose host stays fedmesh's
// (loopback unless http.listen says otherwise).
void rhizome_http_port(json& tree, const std::string& value, Problems& problems, Sources& sources) {
  const std::string var = "environment RHIZOME_HTTP_API_PORT";
  auto port = trimmed(value);
  bool digits = !port.empty() && port.size() <= 5 &&
                std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || std::stoi(port) < 1 || std::stoi(port) > 65535)
    return problems.add(var, "expected a port number from 1 to 65535, got '" + value + "'");
  auto number = static_cast<std::uint16_t>(std::stoi(port));
  json* http = nullptr;
  if (auto it = tree.find("http"); it != tree.end()) {
    if (!it->is_object()) return;  // the config check names [http]
    http = &*it;
  }
  if (http && http->contains("listen")) {
    if (!(*http)["listen"].is_string()) return;  // the config check names http.listen
    auto listen = (*http)["listen"].get<std::string>();
    auto current = parse_host_port(listen);
    if (!current) return;  // the option check names http.listen
    if (current->port != number)
      return problems.add(var, "port " + port + " conflicts with http.listen = \"" + listen + "\" from " +
                                   origin(sources, "http.listen") + "; remove one of them");
    return note("RHIZOME_HTTP_API_PORT=" + port + " agrees with http.listen from " + origin(sources, "http.listen"));
  }
  auto fallback = parse_host_port(json::parse(find_option("http.listen")->default_json).get<std::string>());
  HostPort listen{fallback ? fallback->host : "127.0.0.1", number};
  if (!http) http = &(tree["http"] = json::object());
  (*http)["listen"] = listen.to_string();
  sources["http.listen"] = "RHIZOME_HTTP_API_PORT";
  note("RHIZOME_HTTP_API_PORT=" + port + " read as http.listen = \"" + listen.to_string() +
       "\" (docs/rhizome-compat.md)");
}

// RHIZOME_SEED_PEERS: "NAME@HOST:PORT, ..." added to [[federation.peers]] as
// https://HOST:PORT, bidirectional. Rhizome's bare HOST:PORT names no certificate, so it
// is refused with what to write instead. The node's own entry is skipped, so one list can
// serve every node.
void rhizome_seed_peers(json& tree, const std::string& value, Problems& problems, Sources& sources) {
  const std::string var = "environment RHIZOME_SEED_PEERS";
  if (trimmed(value).empty()) return note("RHIZOME_SEED_PEERS is empty: no peers added");
  if (!tree.contains("federation") || !tree["federation"].is_object())
    return problems.add(var, "seed peers need a [federation] section (listen, cert, key, trust) in the config file");
  json& federation = tree["federation"];
  if (!federation.contains("peers")) federation["peers"] = json::array();
  json& peers = federation["peers"];
  if (!peers.is_array()) return;  // the option check names federation.peers
  const std::string self = tree.contains("name") && tree["name"].is_string() ? tree["name"].get<std::string>() : "";
  std::vector<std::string> added, skipped;
  std::stringstream in(value);
  for (std::string item; std::getline(in, item, ',');) {
    std::string entry = trimmed(item);
    if (entry.empty()) continue;
    auto at = entry.find('@');
    if (at == std::string::npos)
      return problems.add(var, "'" + entry + "': fedmesh knows a peer by the name in its certificate; write NAME@" +
                                   entry + " (e.g. peer2@localhost:4002)");
    json peer = {{"name", entry.substr(0, at)}, {"url", "https://" + entry.substr(at + 1)}, {"bidirectional", true}};
    for (const auto& o : peer_options()) {
      if (!peer.contains(std::string(o.key))) continue;
      if (auto why = check_value(o, peer[std::string(o.key)]); !why.empty())
        return problems.add(var, "'" + entry + "': " + std::string(o.key) + ": " + why);
    }
    const auto name = peer["name"].get<std::string>();
    if (name == self) {
      skipped.push_back(name);
      continue;
    }
    auto same = std::find_if(peers.begin(), peers.end(),
                             [&](const json& p) { return p.is_object() && p.contains("name") && p["name"] == name; });
    if (same != peers.end()) {
      if (same->contains("url") && (*same)["url"] == peer["url"]) continue;  // the file says the same
      return problems.add(var, "'" + entry + "' conflicts with the [[federation.peers]] entry named " + name +
                                   (same->contains("url") ? " (url = " + (*same)["url"].dump() + ")" : "") +
                                   " in the config file; remove one of them");
    }
    added.push_back(name + " at " + peer["url"].get<std::string>());
    peers.push_back(std::move(peer));
  }
  std::string line = "RHIZOME_SEED_PEERS read as federation.peers:";
  if (added.empty()) line += " nothing to add";
  for (std::size_t i = 0; i < added.size(); ++i) line += (i ? ", " : " ") + added[i];
  if (!skipped.empty()) line += " (" + skipped.front() + " is this node: skipped)";
  if (!added.empty()) sources["federation.peers"] = "RHIZOME_SEED_PEERS";
  note(line + " (docs/rhizome-compat.md)");
}

}  // namespace

void apply_rhizome_variables(json& tree, const Environment& env, Problems& problems, Sources& sources) {
  // The name first: the seed peers skip this node's own entry.
  if (auto v = env.get("RHIZOME_PEER_ID")) rhizome_peer_id(tree, *v, problems, sources);
  if (auto v = env.get("RHIZOME_HTTP_API_PORT")) rhizome_http_port(tree, *v, problems, sources);
  if (auto v = env.get("RHIZOME_SEED_PEERS")) rhizome_seed_peers(tree, *v, problems, sources);
}

}  // namespace detail
}  // namespace fedmesh::config
