// The environment's part in a config: `${VAR}` substitution and FEDMESH_* overrides,
// system service tables included.
#include <algorithm>

#include "config/loader_parts.hpp"

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
}

}  // namespace detail
}  // namespace fedmesh::config
