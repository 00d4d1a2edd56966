#include "registry/catalog.hpp"

#include <regex>

#include "core/json.hpp"

namespace fedmesh::registry {

using json = nlohmann::json;

Result<std::vector<std::string>> decode_tags(const json& tags, const std::string& where) {
  if (!tags.is_array() || tags.size() > 32)
    return make_error(ErrorCode::bad_json, where + ".tags must be a short list");
  std::vector<std::string> out;
  for (const auto& t : tags) {
    if (!t.is_string() || t.get<std::string>().empty() || t.get<std::string>().size() > 64)
      return make_error(ErrorCode::bad_json, where + ".tags must list strings of 1-64 characters");
    out.push_back(t.get<std::string>());
  }
  return out;
}

Result<std::vector<FlowSpec>> decode_flows(const json& flows, std::size_t max_flows, bool pkg_names) {
  if (!flows.is_array()) return make_error(ErrorCode::bad_json, "field 'flows' must be a list");
  if (flows.size() > max_flows)
    return make_error(ErrorCode::payload_too_large, "more than " + std::to_string(max_flows) + " flows");
  // package/skill: package names may hold '-' (aqua-ipfs), skill names may not.
  static const std::regex name_re("[a-z0-9][a-z0-9_-]{0,62}/[a-z0-9][a-z0-9_]{0,62}");
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
    if (pkg_names && !std::regex_match(s.name, name_re))
      return make_error(ErrorCode::bad_json, where + ".name must be \"pkg/skill\"");
    if (s.name.empty()) return make_error(ErrorCode::bad_json, where + ".name is empty");
    for (auto [key, field, max] :
         std::vector<std::tuple<const char*, std::string*, std::size_t>>{{"url", &s.url, 2048},
                                                                         {"description", &s.description, 4096},
                                                                         {"author", &s.author, 256},
                                                                         {"version", &s.version, 64}}) {
      if (auto st = str(key, *field, max, false); !st) return std::move(st).error();
    }
    if (auto it = f.find("tags"); it != f.end()) {
      auto tags = decode_tags(*it, where);
      if (!tags) return std::move(tags).error();
      s.tags = std::move(*tags);
    }
    out.push_back(std::move(s));
  }
  return out;
}

Catalog::Catalog(CatalogStore& store, std::string registry_name, std::chrono::milliseconds stale_after,
                 std::chrono::milliseconds gone_after, const Clock& clock)
    : store_(store),
      clock_(clock),
      hlc_(clock),
      registry_(std::move(registry_name)),
      stale_after_(stale_after),
      gone_after_(gone_after),
      index_([this] { return node_flows(); }) {}

Status Catalog::load(bool reset) {
  if (reset) {
    if (auto s = store_.clear(); !s) return s;
  }
  auto records = store_.load();
  if (!records) return std::move(records).error();
  std::lock_guard lock(mu_);
  nodes_.clear();
  for (const auto& r : *records) {
    CatalogNode n{r.name, r.url, r.organization, r.created, r.modified, r.heartbeat,
                  {},     {},    r.origin,       r.version, r.deleted};
    n.kind = r.kind;
    n.heartbeat_at = parse_iso8601(r.heartbeat).value_or(clock_.now());
    auto flows = parse_json(r.flows, 8);
    if (flows) {
      if (auto decoded = decode_flows(*flows, 100'000, n.kind == kKindFedmesh))
        n.flows = make_flows(std::move(*decoded));
    }
    (void)hlc_.observe(n.version);  // a stored version far ahead (a clock once wrong) is not absorbed
    nodes_[n.name] = std::move(n);
  }
  return {};
}

int Catalog::add_listener(Listener listener) {
  std::lock_guard lock(mu_);
  listeners_.emplace_back(++next_listener_, std::move(listener));
  return next_listener_;
}

void Catalog::remove_listener(int id) {
  std::lock_guard lock(mu_);
  std::erase_if(listeners_, [id](const auto& l) { return l.first == id; });
}

void Catalog::changed(const CatalogNode& node, const ChangeSource& source, bool heartbeat_only) {
  (heartbeat_only ? heartbeat_generation_ : generation_).fetch_add(1);
  std::vector<std::pair<int, Listener>> listeners;
  {
    std::lock_guard lock(mu_);
    listeners = listeners_;
  }
  for (const auto& [id, listener] : listeners) listener(node, source);
}

Status Catalog::persist(const CatalogNode& n) {
  json flows = json::array();
  for (const auto& f : *n.flows) flows.push_back(f.to_json());
  return store_.put({n.name, n.url, n.organization, n.created, n.modified, n.heartbeat, dump_json(flows), n.origin,
                     n.version, n.deleted, n.kind});
}

Result<Catalog::Registered> Catalog::register_node(const std::string& name, const std::string& url,
                                                   const std::string& organization, std::vector<FlowSpec> flows) {
  auto now = clock_.now();
  std::string stamp = iso8601(now);
  CatalogNode copy;
  Registered out;
  {
    std::lock_guard lock(mu_);
    auto it = nodes_.find(name);
    out.first = it == nodes_.end() || it->second.deleted;
    CatalogNode& n = nodes_[name];
    if (out.first) {
      n.name = name;
      n.created = stamp;
      n.deleted = false;
    }
    renew(n, kKindFedmesh, url, organization, std::move(flows), now);  // the new skill set replaces the old one
    out.created = n.created;
    out.modified = n.modified;
    copy = n;
  }
  if (auto s = persist(copy); !s) return std::move(s).error();
  changed(copy, {});
  return out;
}

void Catalog::renew(CatalogNode& n, std::string_view kind, const std::string& url, const std::string& organization,
                    std::vector<FlowSpec> flows, SystemTime now) {
  std::string stamp = iso8601(now);
  n.kind = std::string(kind);
  n.origin = registry_;  // a registration is a local change: this registry is its origin
  n.version = next_version();
  n.received = stamp;
  n.url = url;
  n.organization = organization;
  n.modified = stamp;
  n.heartbeat = stamp;
  n.heartbeat_at = now;
  n.flows = make_flows(std::move(flows));
}

Result<Catalog::KodoPut> Catalog::put_kodo(const std::string& name, const std::string& url,
                                           const std::string& organization, std::vector<FlowSpec> flows, bool touch,
                                           const std::string& kodo_source) {
  auto now = clock_.now();
  std::string stamp = iso8601(now);
  CatalogNode copy;
  KodoPut out;
  {
    std::lock_guard lock(mu_);
    auto it = nodes_.find(name);
    bool live = it != nodes_.end() && !it->second.deleted;
    if (live && it->second.kind != kKindKodo)
      return make_error(ErrorCode::conflict, "'" + name + "' is a fedmesh node; a Kodo registration cannot replace it");
    out.first = !live;
    out.changed = !live || touch || it->second.url != url || it->second.organization != organization ||
                  *it->second.flows != flows;
    if (!out.changed) {
      out.created = it->second.created;
      return out;
    }
    CatalogNode& n = nodes_[name];
    if (out.first) {
      n = CatalogNode{};
      n.name = name;
      n.created = stamp;
    }
    renew(n, kKindKodo, url, organization, std::move(flows), now);
    out.created = n.created;
    copy = n;
  }
  if (auto s = persist(copy); !s) return std::move(s).error();
  changed(copy, ChangeSource{"", kodo_source});
  return out;
}

void Catalog::set_kodo_ttl(std::chrono::milliseconds ttl) {
  std::lock_guard lock(mu_);
  kodo_ttl_ = ttl;
}

std::vector<CatalogNode> Catalog::live_nodes() const {
  std::vector<CatalogNode> out;
  std::lock_guard lock(mu_);
  for (const auto& [name, n] : nodes_)
    if (!n.deleted) out.push_back(n);
  return out;
}

std::set<std::string> Catalog::live_urls(std::string_view kind) const {
  std::set<std::string> out;
  std::lock_guard lock(mu_);
  for (const auto& [name, n] : nodes_)
    if (!n.deleted && n.kind == kind) out.insert(n.url);
  return out;
}

Result<bool> Catalog::update_local(const std::string& name, const std::function<void(CatalogNode&)>& mutate,
                                   bool heartbeat_only) {
  CatalogNode copy;
  {
    std::lock_guard lock(mu_);
    auto it = nodes_.find(name);
    if (it == nodes_.end() || it->second.deleted) return false;
    mutate(it->second);
    it->second.origin = registry_;  // a local change: this registry is its origin
    it->second.version = next_version();
    copy = it->second;
  }
  if (auto s = persist(copy); !s) return std::move(s).error();
  changed(copy, {}, heartbeat_only);
  return true;
}

Result<bool> Catalog::heartbeat(const std::string& name) {
  auto now = clock_.now();
  return update_local(
      name,
      [&](CatalogNode& n) {
        n.heartbeat = iso8601(now);
        n.heartbeat_at = now;
      },
      true);
}

Result<bool> Catalog::deregister(const std::string& name) {
  return update_local(name, [this](CatalogNode& n) {
    n.deleted = true;  // a tombstone, so the removal travels through the mesh
    n.flows = no_flows();
    n.modified = iso8601(clock_.now());
  });
}

std::vector<std::string> Catalog::sweep() {
  auto now = clock_.now();
  std::vector<std::string> gone;
  std::vector<CatalogNode> tombstones;
  std::vector<std::string> purged;
  {
    std::lock_guard lock(mu_);
    for (auto it = nodes_.begin(); it != nodes_.end();) {
      auto& n = it->second;
      if (n.deleted) {
        auto modified = parse_iso8601(n.modified).value_or(now);
        if (now - modified > 2 * gone_after_) {
          purged.push_back(it->first);
          it = nodes_.erase(it);
          continue;
        }
      } else if (n.kind == kKindKodo ? kodo_ttl_.count() > 0 && now - n.heartbeat_at > kodo_ttl_
                                     : now - n.heartbeat_at > gone_after_) {
        n.deleted = true;
        n.flows = no_flows();
        n.modified = iso8601(now);
        n.origin = registry_;
        n.version = next_version();
        gone.push_back(n.name);
        tombstones.push_back(n);
      }
      ++it;
    }
  }
  for (const auto& t : tombstones) {
    (void)persist(t);
    changed(t, {});
  }
  for (const auto& name : purged) (void)store_.remove(name);
  return gone;
}

Result<bool> Catalog::apply(const CatalogNode& change, const std::string& from) {
  bool heartbeat_only = false;
  {
    std::lock_guard lock(mu_);
    (void)hlc_.observe(change.version);  // decode_change refused versions too far ahead
    auto it = nodes_.find(change.name);
    if (it != nodes_.end() &&
        std::tie(it->second.version, it->second.origin) >= std::tie(change.version, change.origin))
      return false;  // not newer: not applied, not forwarded
    if (it != nodes_.end()) {
      const auto& held = it->second;
      heartbeat_only = held.deleted == change.deleted && held.url == change.url &&
                       held.organization == change.organization && held.created == change.created &&
                       held.modified == change.modified && held.kind == change.kind && *held.flows == *change.flows &&
                       (held.origin.empty() ? registry_ : held.origin) == change.origin;
    }
    nodes_[change.name] = change;
    nodes_[change.name].via.clear();  // in-flight routing, not state
    nodes_[change.name].received = iso8601(clock_.now());
  }
  if (auto s = persist(change); !s) return std::move(s).error();
  changed(change, ChangeSource{from, ""}, heartbeat_only);
  return true;
}

json Catalog::digest() const {
  json out = json::object();
  std::lock_guard lock(mu_);
  for (const auto& [name, n] : nodes_) out[name] = json::array({n.version, n.origin});
  return out;
}

std::vector<CatalogNode> Catalog::newer_than(const json& digest) const {
  std::vector<CatalogNode> out;
  std::lock_guard lock(mu_);
  for (const auto& [name, n] : nodes_) {
    auto it = digest.find(name);
    bool theirs_older = it == digest.end() || !it->is_array() || it->size() != 2 || !(*it)[0].is_number_integer() ||
                        !(*it)[1].is_string() ||
                        std::make_tuple((*it)[0].get<std::int64_t>(), (*it)[1].get<std::string>()) <
                            std::make_tuple(n.version, n.origin);
    if (theirs_older) out.push_back(n);
  }
  return out;
}

std::vector<std::string> Catalog::wanted_from(const json& digest) const {
  std::vector<std::string> out;
  if (!digest.is_object()) return out;
  std::lock_guard lock(mu_);
  for (const auto& [name, v] : digest.items()) {
    if (!v.is_array() || v.size() != 2 || !v[0].is_number_integer() || !v[1].is_string()) continue;
    auto it = nodes_.find(name);
    if (it == nodes_.end() || std::make_tuple(it->second.version, it->second.origin) <
                                  std::make_tuple(v[0].get<std::int64_t>(), v[1].get<std::string>()))
      out.push_back(name);
  }
  return out;
}

std::vector<CatalogNode> Catalog::entries(const std::vector<std::string>& names) const {
  std::vector<CatalogNode> out;
  std::lock_guard lock(mu_);
  for (const auto& name : names) {
    auto it = nodes_.find(name);
    if (it != nodes_.end()) out.push_back(it->second);
  }
  return out;
}

std::string Catalog::status_of(const CatalogNode& n, SystemTime now) const {
  auto age = now - n.heartbeat_at;
  if (n.kind == kKindKodo) {
    if (kodo_ttl_.count() == 0) return "unknown";  // Kodo v1 nodes send no heartbeats
    return age > kodo_ttl_ ? "gone" : "alive";
  }
  if (age > gone_after_) return "gone";
  if (age > stale_after_) return "stale";
  return "alive";
}

std::vector<NodeFlows> Catalog::node_flows() const {
  auto now = clock_.now();
  std::vector<NodeFlows> out;
  std::lock_guard lock(mu_);
  out.reserve(nodes_.size());
  for (const auto& [name, n] : nodes_) {
    if (n.deleted || n.flows->empty()) continue;
    out.push_back({n.origin.empty() ? registry_ : n.origin, n.name, n.organization, n.created, n.modified, n.heartbeat,
                   status_of(n, now), n.flows});
  }
  return out;
}

void Catalog::set_index_runner(std::function<void(std::function<void()>)> runner) {
  index_.set_runner(std::move(runner));
}

std::pair<std::uint64_t, std::uint64_t> Catalog::generations() const {
  return {generation_.load(), heartbeat_generation_.load()};
}

void Catalog::prepare_index() {
  auto [structure, heartbeats] = generations();
  index_.prepare(structure, heartbeats);
}

std::shared_ptr<const FlowIndex> Catalog::index() {
  auto [structure, heartbeats] = generations();
  return index_.get(structure, heartbeats);
}

Result<json> Catalog::query(const QueryRequest& request, const QueryLimits& limits) {
  auto index = this->index();
  auto now = clock_.now();
  // Status and heartbeat come from the live entries, not the index: they change the
  // most often and status changes with time alone.
  FlowIndex::Live live;
  live.status = [&](const std::string& node) {
    std::lock_guard lock(mu_);
    auto it = nodes_.find(node);
    return it == nodes_.end() || it->second.deleted ? std::string("gone") : status_of(it->second, now);
  };
  live.item = [&](json& item) {
    std::lock_guard lock(mu_);
    auto it = nodes_.find(item["node"].get<std::string>());
    if (it == nodes_.end() || it->second.deleted) {
      item["status"] = "gone";
      return;
    }
    item["status"] = status_of(it->second, now);
    item["heartbeat"] = it->second.heartbeat;
  };
  return index->query(request, limits, live);
}

json Catalog::counts() {
  return index()->counts();
}

json Catalog::providers(const std::string& skill) const {
  auto now = clock_.now();
  json out = json::array();
  std::lock_guard lock(mu_);
  for (const auto& [name, n] : nodes_) {
    if (n.deleted) continue;
    std::string status = status_of(n, now);
    if (status == "gone") continue;
    for (const auto& f : *n.flows) {
      if (f.name == skill) {
        out.push_back({{"name", n.name}, {"url", n.url}, {"organization", n.organization}, {"status", status}});
        break;
      }
    }
  }
  return out;
}

json Catalog::node_json(const CatalogNode& n, SystemTime now) const {
  json flows = json::array();
  for (const auto& f : *n.flows) flows.push_back(f.to_json());
  return {{"name", n.name},
          {"url", n.url},
          {"organization", n.organization},
          {"created", n.created},
          {"modified", n.modified},
          {"heartbeat", n.heartbeat},
          {"status", status_of(n, now)},
          {"registry", n.origin.empty() ? registry_ : n.origin},
          {"flows", flows},
          {"received", n.received}};
}

json Catalog::nodes() const {
  auto now = clock_.now();
  json out = json::array();
  std::lock_guard lock(mu_);
  for (const auto& [name, n] : nodes_)
    if (!n.deleted) out.push_back(node_json(n, now));
  return out;
}

std::optional<json> Catalog::node(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(name);
  if (it == nodes_.end() || it->second.deleted) return std::nullopt;
  return node_json(it->second, clock_.now());
}

}  // namespace fedmesh::registry
