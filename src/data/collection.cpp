#include "data/collection.hpp"

#include <cmath>

namespace fedmesh::data {

using json = nlohmann::json;

namespace {

constexpr std::size_t kMaxProperties = 256;

std::string_view type_name(ValueType t) {
  switch (t) {
    case ValueType::any: return "any";
    case ValueType::string: return "string";
    case ValueType::number: return "number";
    case ValueType::integer: return "integer";
    case ValueType::boolean: return "boolean";
    case ValueType::reference: return "reference";
  }
  return "?";
}

std::optional<ValueType> type_from(std::string_view s) {
  for (auto t : {ValueType::any, ValueType::string, ValueType::number, ValueType::integer, ValueType::boolean,
                 ValueType::reference})
    if (type_name(t) == s) return t;
  return std::nullopt;
}

Error invalid(const std::string& what) {
  return make_error(ErrorCode::config_invalid, "collection settings: " + what);
}

bool fits(ValueType t, const Value& v) {
  switch (t) {
    case ValueType::any: return true;
    case ValueType::string: return v.index() == 3;
    case ValueType::number: return v.index() == 2;
    case ValueType::integer: return v.index() == 2 && std::get<double>(v) == std::floor(std::get<double>(v));
    case ValueType::boolean: return v.index() == 1;
    case ValueType::reference: return v.index() == 4;
  }
  return false;
}

}  // namespace

Resolver CollectionSettings::resolver_for(const std::string& property) const {
  if (auto it = properties.find(property); it != properties.end() && it->second.resolver) return *it->second.resolver;
  return resolver;
}

Result<CollectionSettings> settings_from_json(const json& j) {
  if (!j.is_object()) return invalid("must be an object");
  CollectionSettings s;
  for (const auto& [key, value] : j.items()) {
    if (key == "resolver") {
      auto r = value.is_string() ? resolver_from_string(value.get<std::string>()) : std::nullopt;
      if (!r)
        return invalid(
            "'resolver' must be one of last-writer-wins, first-writer-wins, min, max, sum, "
            "average, count, union, majority");
      s.resolver = *r;
    } else if (key == "additional_properties") {
      if (!value.is_boolean()) return invalid("'additional_properties' must be true or false");
      s.additional_properties = value.get<bool>();
    } else if (key == "properties") {
      if (!value.is_object() || value.size() > kMaxProperties)
        return invalid("'properties' must be an object of at most 256 properties");
      for (const auto& [name, rule_json] : value.items()) {
        std::string where = "property '" + name.substr(0, 64) + "'";
        if (!valid_property_name(name)) return invalid(where + " is not a valid property name");
        if (!rule_json.is_object()) return invalid(where + " must be an object");
        PropertyRule rule;
        for (const auto& [rk, rv] : rule_json.items()) {
          if (rk == "type") {
            auto t = rv.is_string() ? type_from(rv.get<std::string>()) : std::nullopt;
            if (!t) return invalid(where + ": 'type' must be any, string, number, integer, boolean or reference");
            rule.type = *t;
          } else if (rk == "required") {
            if (!rv.is_boolean()) return invalid(where + ": 'required' must be true or false");
            rule.required = rv.get<bool>();
          } else if (rk == "collection") {
            if (!rv.is_string() || !valid_collection_name(rv.get<std::string>()))
              return invalid(where + ": 'collection' must name a collection");
            rule.references = rv.get<std::string>();
          } else if (rk == "resolver") {
            auto r = rv.is_string() ? resolver_from_string(rv.get<std::string>()) : std::nullopt;
            if (!r) return invalid(where + ": unknown resolver");
            rule.resolver = *r;
          } else {
            return invalid(where + ": unknown member '" + rk.substr(0, 64) + "'");
          }
        }
        if (rule.type == ValueType::reference && rule.references.empty())
          return invalid(where + ": a reference names its 'collection'");
        if (rule.type != ValueType::reference && !rule.references.empty())
          return invalid(where + ": 'collection' only goes with type reference");
        s.properties[name] = std::move(rule);
      }
    } else {
      return invalid("unknown member '" + key.substr(0, 64) + "'");
    }
  }
  return s;
}

json to_json(const CollectionSettings& s) {
  json props = json::object();
  for (const auto& [name, r] : s.properties) {
    json rule = {{"type", type_name(r.type)}, {"required", r.required}};
    if (!r.references.empty()) rule["collection"] = r.references;
    if (r.resolver) rule["resolver"] = to_string(*r.resolver);
    props[name] = std::move(rule);
  }
  return {
      {"resolver", to_string(s.resolver)}, {"properties", props}, {"additional_properties", s.additional_properties}};
}

Result<std::map<std::string, Value>> check_write(const CollectionSettings& s, const json& properties,
                                                 const json& current,
                                                 const std::function<bool(const EntityRef&)>& exists) {
  auto refuse = [](const std::string& name, const std::string& why) {
    return make_error(ErrorCode::invalid_argument, "property '" + name.substr(0, 64) + "': " + why)
        .with("property", name.substr(0, 128));
  };
  if (!properties.is_object()) return make_error(ErrorCode::bad_json, "'properties' must be an object");
  if (properties.size() > kMaxProperties)
    return make_error(ErrorCode::invalid_argument, "a write sets at most 256 properties");
  std::map<std::string, Value> out;
  for (const auto& [name, raw] : properties.items()) {
    if (name == "id") continue;  // the entity's id is its address, not a property
    if (!valid_property_name(name)) return refuse(name, "not a valid property name");
    auto rule = s.properties.find(name);
    if (rule == s.properties.end() && !s.additional_properties)
      return refuse(name, "not in the collection's schema, which allows no other properties");
    json j = raw;
    if (rule != s.properties.end() && rule->second.type == ValueType::reference && raw.is_string())
      j = {{"collection", rule->second.references}, {"entity", raw.get<std::string>()}};
    auto v = value_from_json(j, "property '" + name.substr(0, 64) + "'");
    if (!v) return std::move(v).error().with("property", name.substr(0, 128));
    if (rule != s.properties.end()) {
      const PropertyRule& r = rule->second;
      if (v->index() == 0) {
        if (r.required) return refuse(name, "is required and may not be null");
      } else if (!fits(r.type, *v)) {
        std::string type(type_name(r.type));
        return refuse(name, std::string(type == "integer" ? "must be an " : "must be a ") + type);
      } else if (r.type == ValueType::reference) {
        const auto& ref = std::get<EntityRef>(*v);
        if (ref.collection != r.references) return refuse(name, "must reference the collection '" + r.references + "'");
        if (exists && !exists(ref))
          return refuse(name, "references " + ref.collection + "/" + ref.id + ", which does not exist");
      }
    }
    out[name] = std::move(*v);
  }
  for (const auto& [name, r] : s.properties) {
    if (!r.required) continue;
    bool present = out.contains(name) || (current.is_object() && current.contains(name) && !current[name].is_null());
    if (!present) return refuse(name, "is required");
  }
  return out;
}

}  // namespace fedmesh::data
