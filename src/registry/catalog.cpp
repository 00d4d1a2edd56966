#include "registry/catalog.hpp"

#include <regex>

#include "core/json.hpp"

namespace fedmesh::registry {

using json = nlohmann::json;

json FlowSpec::to_json() const {
  return {{"name", name},     {"url", url},   {"description", description},
          {"author", author}, {"tags", tags}, {"version", version}};
}

Result<std::vector<FlowSpec>> decode_flows(const json& flows, std::size_t max_flows) {
  if (!flows.is_array()) return make_error(ErrorCode::bad_json, "field 'flows' must be a list");
  if (flows.size() > max_flows)
    return make_error(ErrorCode::payload_too_large, "more than " + std::to_string(max_flows) + " flows");
  static const std::regex name_re("[a-z0-9][a-z0-9_]{0,62}/[a-z0-9][a-z0-9_]{0,62}");
  std::vector<FlowSpec> out;
  for (std::size_t i = 0; i < flows.size(); ++i) {
    const json& f = flows[i];
    std::string where = "flows[" + std::to_string(i) + "]";
    if (!f.is_object()) return make_error(ErrorCode::bad_json, where + " must be an object");
    FlowSpec s;
    auto str = [&](const char* key, std::string& out_field, std::size_t max, bool required) -> Status {
      auto it = f.find(key);
      if (it == f.end()) {
        if (required) return make_error(ErrorCode::bad_json, where + "." + key + " is missing");
        return {};
      }
      if (!it->is_string() || it->get<std::string>().size() > max)
        return make_error(ErrorCode::bad_json,
                          where + "." + key + " must be a string of at most " + std::to_string(max));
      out_field = it->get<std::string>();
      return {};
    };
    if (auto st = str("name", s.name, 127, true); !st) return std::move(st).error();
    if (!std::regex_match(s.name, name_re))
      return make_error(ErrorCode::bad_json, where + ".name must be \"pkg/skill\"");
    for (auto [key, field, max] :
         std::vector<std::tuple<const char*, std::string*, std::size_t>>{{"url", &s.url, 2048},
                                                                         {"description", &s.description, 4096},
                                                                         {"author", &s.author, 256},
                                                                         {"version", &s.version, 64}}) {
      if (auto st = str(key, *field, max, false); !st) return std::move(st).error();
    }
    if (auto it = f.find("tags"); it != f.end()) {
      if (!it->is_array() || it->size() > 32)
        return make_error(ErrorCode::bad_json, where + ".tags must be a short list");
      for (const auto& t : *it) {
        if (!t.is_string() || t.get<std::string>().empty() || t.get<std::string>().size() > 64)
          return make_error(ErrorCode::bad_json, where + ".tags must list strings of 1-64 characters");
        s.tags.push_back(t.get<std::string>());
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

Catalog::Catalog(Store& store, std::string registry_name, std::chrono::milliseconds stale_after,
                 std::chrono::milliseconds gone_after)
    : store_(store), registry_(std::move(registry_name)), stale_after_(stale_after), gone_after_(gone_after) {}

Status Catalog::load(bool reset) {
  if (reset) {
    if (auto s = store_.catalog_clear(); !s) return s;
  }
  auto records = store_.catalog_load();
  if (!records) return std::move(records).error();
  std::lock_guard lock(mu_);
  nodes_.clear();
  for (const auto& r : *records) {
    CatalogNode n{r.name, r.url, r.organization, r.created, r.modified, r.heartbeat, {}, {}};
    n.heartbeat_at = parse_iso8601(r.heartbeat).value_or(std::chrono::system_clock::now());
    auto flows = parse_json(r.flows, 8);
    if (flows) {
      if (auto decoded = decode_flows(*flows, 100'000)) n.flows = std::move(*decoded);
    }
    nodes_[n.name] = std::move(n);
  }
  return {};
}

Status Catalog::persist(const CatalogNode& n) {
  json flows = json::array();
  for (const auto& f : n.flows) flows.push_back(f.to_json());
  return store_.catalog_put({n.name, n.url, n.organization, n.created, n.modified, n.heartbeat, dump_json(flows)});
}

Result<Catalog::Registered> Catalog::register_node(const std::string& name, const std::string& url,
                                                   const std::string& organization, std::vector<FlowSpec> flows) {
  auto now = std::chrono::system_clock::now();
  std::string stamp = iso8601(now);
  CatalogNode copy;
  Registered out;
  {
    std::lock_guard lock(mu_);
    auto it = nodes_.find(name);
    out.first = it == nodes_.end();
    CatalogNode& n = nodes_[name];
    if (out.first) {
      n.name = name;
      n.created = stamp;
    }
    n.url = url;
    n.organization = organization;
    n.modified = stamp;
    n.heartbeat = stamp;
    n.heartbeat_at = now;
    n.flows = std::move(flows);  // the new skill set replaces the old one
    out.created = n.created;
    out.modified = n.modified;
    copy = n;
  }
  if (auto s = persist(copy); !s) return std::move(s).error();
  return out;
}

Result<bool> Catalog::heartbeat(const std::string& name) {
  auto now = std::chrono::system_clock::now();
  CatalogNode copy;
  {
    std::lock_guard lock(mu_);
    auto it = nodes_.find(name);
    if (it == nodes_.end()) return false;
    it->second.heartbeat = iso8601(now);
    it->second.heartbeat_at = now;
    copy = it->second;
  }
  if (auto s = persist(copy); !s) return std::move(s).error();
  return true;
}

Result<bool> Catalog::deregister(const std::string& name) {
  {
    std::lock_guard lock(mu_);
    if (nodes_.erase(name) == 0) return false;
  }
  if (auto s = store_.catalog_delete(name); !s) return std::move(s).error();
  return true;
}

std::vector<std::string> Catalog::sweep() {
  auto now = std::chrono::system_clock::now();
  std::vector<std::string> gone;
  {
    std::lock_guard lock(mu_);
    for (auto it = nodes_.begin(); it != nodes_.end();) {
      if (now - it->second.heartbeat_at > gone_after_) {
        gone.push_back(it->first);
        it = nodes_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const auto& name : gone) (void)store_.catalog_delete(name);
  return gone;
}

std::string Catalog::status_of(const CatalogNode& n, SystemTime now) const {
  auto age = now - n.heartbeat_at;
  if (age > gone_after_) return "gone";
  if (age > stale_after_) return "stale";
  return "alive";
}

std::vector<FlowRecord> Catalog::flows() const {
  auto now = std::chrono::system_clock::now();
  std::vector<FlowRecord> out;
  std::lock_guard lock(mu_);
  for (const auto& [name, n] : nodes_) {
    std::string status = status_of(n, now);
    for (const auto& f : n.flows) {
      out.push_back({registry_, n.name, n.organization, n.created, n.modified, n.heartbeat, f.url, f.name, f.author,
                     f.description, f.tags, status});
    }
  }
  return out;
}

json Catalog::node_json(const CatalogNode& n, SystemTime now) const {
  json flows = json::array();
  for (const auto& f : n.flows) flows.push_back(f.to_json());
  return {{"name", n.name},
          {"url", n.url},
          {"organization", n.organization},
          {"created", n.created},
          {"modified", n.modified},
          {"heartbeat", n.heartbeat},
          {"status", status_of(n, now)},
          {"registry", registry_},
          {"flows", flows}};
}

json Catalog::nodes() const {
  auto now = std::chrono::system_clock::now();
  json out = json::array();
  std::lock_guard lock(mu_);
  for (const auto& [name, n] : nodes_) out.push_back(node_json(n, now));
  return out;
}

std::optional<json> Catalog::node(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(name);
  if (it == nodes_.end()) return std::nullopt;
  return node_json(it->second, std::chrono::system_clock::now());
}

}  // namespace fedmesh::registry
