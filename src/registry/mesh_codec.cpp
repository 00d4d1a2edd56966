#include "registry/mesh_codec.hpp"

#include <regex>

namespace fedmesh::registry {

using json = nlohmann::json;

json encode_change(const CatalogNode& n) {
  json flows_json = json::array();
  for (const auto& f : *n.flows) flows_json.push_back(f.to_json());
  return {{"name", n.name},       {"url", n.url},           {"organization", n.organization},
          {"created", n.created}, {"modified", n.modified}, {"heartbeat", n.heartbeat},
          {"flows", flows_json},  {"origin", n.origin},     {"version", n.version},
          {"deleted", n.deleted}, {"kind", n.kind},         {"via", n.via}};
}

Result<CatalogNode> decode_change(const json& c, SystemTime now) {
  if (!c.is_object()) return make_error(ErrorCode::bad_json, "a change must be an object");
  static const std::regex name_re("[a-z0-9][a-z0-9._-]{0,62}");
  CatalogNode n;
  auto str = [&](const char* key, std::string& out, std::size_t max) -> Status {
    auto it = c.find(key);
    if (it == c.end() || !it->is_string() || it->get<std::string>().size() > max)
      return make_error(ErrorCode::bad_json, std::string("change field '") + key + "' must be a string");
    out = it->get<std::string>();
    return {};
  };
  for (auto [key, field, max] :
       std::vector<std::tuple<const char*, std::string*, std::size_t>>{{"name", &n.name, 63},
                                                                       {"url", &n.url, 2048},
                                                                       {"organization", &n.organization, 256},
                                                                       {"created", &n.created, 40},
                                                                       {"modified", &n.modified, 40},
                                                                       {"heartbeat", &n.heartbeat, 40},
                                                                       {"origin", &n.origin, 63}}) {
    if (auto s = str(key, *field, max); !s) return std::move(s).error();
  }
  if (!std::regex_match(n.name, name_re)) return make_error(ErrorCode::bad_json, "change: bad node name");
  if (!std::regex_match(n.origin, name_re)) return make_error(ErrorCode::bad_json, "change: bad origin");
  auto hb = parse_iso8601(n.heartbeat);
  if (!hb) return make_error(ErrorCode::bad_json, "change: heartbeat is not an ISO-8601 time");
  n.heartbeat_at = *hb;
  auto v = c.find("version");
  if (v == c.end() || !v->is_number_integer() || v->get<std::int64_t>() <= 0)
    return make_error(ErrorCode::bad_json, "change: version must be a positive integer");
  n.version = v->get<std::int64_t>();
  // The same bound the hybrid clock applies when it absorbs the version.
  if (n.version > to_micros(now) + kMaxFuture.count())
    return make_error(ErrorCode::bad_json, "change: version is more than a day in the future");
  auto d = c.find("deleted");
  if (d == c.end() || !d->is_boolean()) return make_error(ErrorCode::bad_json, "change: deleted must be a boolean");
  n.deleted = d->get<bool>();
  if (auto k = c.find("kind"); k != c.end()) {  // absent from fedmesh versions before Kodo compatibility
    if (!k->is_string() || (*k != kKindFedmesh && *k != kKindKodo))
      return make_error(ErrorCode::bad_json, "change: kind must be \"fedmesh\" or \"kodo\"");
    n.kind = k->get<std::string>();
  }
  auto flows = decode_flows(c.value("flows", json::array()), 1024, n.kind == kKindFedmesh);
  if (!flows) return std::move(flows).error();
  n.flows = make_flows(std::move(*flows));
  if (auto via = c.find("via"); via != c.end()) {
    if (!via->is_array() || via->size() > 256)
      return make_error(ErrorCode::bad_json, "change: via must be a short list");
    for (const auto& v : *via) {
      if (!v.is_string() || !std::regex_match(v.get<std::string>(), name_re))
        return make_error(ErrorCode::bad_json, "change: via must list registry names");
      n.via.push_back(v.get<std::string>());
    }
  }
  return n;
}

}  // namespace fedmesh::registry
