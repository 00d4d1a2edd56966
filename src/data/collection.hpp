// CollectionSettings: what a node says about one collection: the resolver of each
// property (with a default) and an optional schema (types, required properties,
// references to other collections, whether unknown properties are allowed). Declared in
// a package's package.toml or over the API; checked on local writes only (a peer's
// signed deltas are its own word). Plain values; functions are pure.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "data/entity.hpp"
#include "data/value.hpp"

namespace fedmesh::data {

enum class ValueType { any, string, number, integer, boolean, reference };

struct PropertyRule {
  ValueType type = ValueType::any;
  bool required = false;
  std::string references;  // type reference: the collection referred to
  std::optional<Resolver> resolver;
};

struct CollectionSettings {
  Resolver resolver = Resolver::last_writer_wins;
  std::map<std::string, PropertyRule> properties;
  bool additional_properties = true;
  Resolver resolver_for(const std::string& property) const;
};

// {"resolver", "properties": {NAME: {"type", "required", "collection", "resolver"}},
// "additional_properties"}; config_invalid naming the member otherwise.
Result<CollectionSettings> settings_from_json(const nlohmann::json& j);
nlohmann::json to_json(const CollectionSettings& s);

// The properties of a write, typed: invalid_argument naming the property and the reason
// for anything the schema refuses. A string written to a reference property becomes a
// reference to that collection. `current` holds the entity's resolved properties (empty
// when it does not exist yet); `exists` says whether a referenced entity exists.
Result<std::map<std::string, Value>> check_write(const CollectionSettings& s, const nlohmann::json& properties,
                                                 const nlohmann::json& current,
                                                 const std::function<bool(const EntityRef&)>& exists);

}  // namespace fedmesh::data
