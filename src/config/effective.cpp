// The effective configuration as `config check` shows it: every key with its value,
// secrets masked, and the keys the environment set.
#include <sstream>

#include <toml++/toml.h>

#include "config/loader_parts.hpp"

namespace fedmesh::config {

using json = nlohmann::json;

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
    if (it != slot->end() && it->is_array()) {
      for (auto& item : *it) item = "****";
      continue;
    }
    if (it == slot->end() || !it->is_string() || it->get<std::string>().empty()) continue;
    if (o.key == "store.url") {
      *it = mask_url_password(it->get<std::string>());
    } else {
      *it = "****";
    }
  }
  // Tokens inside tables: projects and datasources.
  if (auto jobs = out.find("jobs"); jobs != out.end()) {
    for (const char* list : {"projects", "datasources"}) {
      auto it = jobs->find(list);
      if (it == jobs->end()) continue;
      for (auto& item : *it) {
        if (item.contains("token")) item["token"] = "****";
        if (item.contains("tokens"))
          for (auto& t : item["tokens"]) t = "****";
      }
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

std::string render_toml(const json& tree) {
  std::ostringstream out;
  out << to_toml_table(tree);
  return out.str();
}

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
