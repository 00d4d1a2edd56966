#include "config/loader.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <toml++/toml.h>

#include "config/options.hpp"
#include "core/address.hpp"

extern char** environ;

namespace fedmesh::config {

using json = nlohmann::json;
namespace fs = std::filesystem;

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

namespace {

// Collects "file: key: reason" lines.
using Sources = std::map<std::string, std::string>;  // key path -> environment variable

class Problems {
 public:
  explicit Problems(std::string file) : file_(std::move(file)) {}
  void add(const std::string& key, const std::string& reason) {
    lines_.push_back(key.empty() ? file_ + ": " + reason : file_ + ": " + key + ": " + reason);
  }
  bool empty() const { return lines_.empty(); }
  Error error() const {
    std::string msg;
    for (const auto& l : lines_) {
      if (!msg.empty()) msg += '\n';
      msg += l;
    }
    return make_error(ErrorCode::config_invalid, msg);
  }

 private:
  std::string file_;
  std::vector<std::string> lines_;
};

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

std::string unknown_key_reason(const std::string& suggestion) {
  if (suggestion.empty()) return "unknown key";
  return "unknown key (did you mean " + suggestion + "?)";
}

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
    case Kind::PeerList: return make_error(ErrorCode::config_invalid, "cannot be set from the environment");
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
  if (c.federation.retry_initial > c.federation.retry_max)
    problems.add("federation.retry_initial", "must not exceed federation.retry_max");
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
  substitute_tree(tree, "", env, problems);
  apply_env_overrides(tree, env, problems, sources);
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
    } else if (federation_key && !c.federation.enabled) {
      continue;  // none of it applies; the defaults in FederationConfig stay
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
  if (!problems.empty()) return problems.error();

  c.system_services.configs = service_configs;
  for (const auto& [name, _] : service_configs.items()) {
    const auto& enabled = c.system_services.enable;
    if (std::find(enabled.begin(), enabled.end(), name) == enabled.end())
      problems.add("system_services." + name, "a table for a service that system_services.enable does not list");
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
  }
  for (auto& p : c.system_services.path) p = resolve(base, p);
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
  }
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

json masked_effective(const LoadedConfig& loaded) {
  json out = loaded.effective;
  for (const auto& o : node_options()) {
    if (!o.secret) continue;
    auto dot = o.key.find('.');
    json* slot = &out;
    if (dot != std::string_view::npos) {
      auto sec = out.find(std::string(o.key.substr(0, dot)));
      if (sec == out.end()) continue;
      slot = &*sec;
    }
    auto name = std::string(dot == std::string_view::npos ? o.key : o.key.substr(dot + 1));
    auto it = slot->find(name);
    if (it == slot->end() || !it->is_string() || it->get<std::string>().empty()) continue;
    if (o.key == "store.url") {
      *it = mask_url_password(it->get<std::string>());
    } else {
      *it = "****";
    }
  }
  return out;
}

namespace {

toml::array to_toml_array(const json& j);

toml::table to_toml_table(const json& j) {
  toml::table t;
  for (const auto& [k, v] : j.items()) {
    if (v.is_object()) {
      t.insert(k, to_toml_table(v));
    } else if (v.is_array()) {
      t.insert(k, to_toml_array(v));
    } else if (v.is_boolean()) {
      t.insert(k, v.get<bool>());
    } else if (v.is_number_integer()) {
      t.insert(k, v.get<std::int64_t>());
    } else if (v.is_number()) {
      t.insert(k, v.get<double>());
    } else if (v.is_string()) {
      t.insert(k, v.get<std::string>());
    }
  }
  return t;
}

toml::array to_toml_array(const json& j) {
  toml::array a;
  for (const auto& v : j) {
    if (v.is_object()) {
      a.push_back(to_toml_table(v));
    } else if (v.is_string()) {
      a.push_back(v.get<std::string>());
    } else if (v.is_boolean()) {
      a.push_back(v.get<bool>());
    } else if (v.is_number_integer()) {
      a.push_back(v.get<std::int64_t>());
    }
  }
  return a;
}

}  // namespace

std::string render_effective_toml(const LoadedConfig& loaded) {
  std::ostringstream out;
  if (!loaded.config.federation.enabled)
    out << "# No [federation] section: this node runs its operator listener only; it has no peers,\n"
           "# makes no remote calls and joins no registry mesh.\n";
  if (!loaded.sources.empty()) {
    out << "# Set from the environment:\n";
    for (const auto& [key, var] : loaded.sources) out << "#   " << key << "  <-  " << var << "\n";
  }
  out << to_toml_table(masked_effective(loaded)) << "\n";
  return out.str();
}

}  // namespace fedmesh::config
