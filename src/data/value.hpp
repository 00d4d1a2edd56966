// Values of shared data: what a property holds (null, a boolean, a number, a string or a
// reference to an entity of some collection), their canonical JSON (RFC 8785, so another
// implementation hashes the same bytes) and their one total order. Plain values.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace fedmesh::data {

// An entity of a collection: `user/peon-1`.
struct EntityRef {
  std::string collection;
  std::string id;
  bool operator==(const EntityRef&) const = default;
};

using Value = std::variant<std::nullptr_t, bool, double, std::string, EntityRef>;

// Limits on names and values (docs/data-model.md).
constexpr std::size_t kMaxNameBytes = 128;       // collection (64), property and context names
constexpr std::size_t kMaxEntityIdBytes = 256;   // entity ids
constexpr std::size_t kMaxStringValue = 65'536;  // string values

// A collection name: 1 to 64 of [a-z0-9_-], starting with a letter or digit.
bool valid_collection_name(std::string_view name);
// An entity id: 1 to 256 printable ASCII bytes without '/', '?', '#', '%', space or '\\'.
bool valid_entity_id(std::string_view id);
// A property name: 1 to 128 bytes of valid UTF-8 without control characters, not "id".
bool valid_property_name(std::string_view name);

// Canonical JSON of a value: references as {"collection":C,"entity":ID}.
void append_canonical(std::string& out, const Value& v);
// RFC 8785 string and number serialization.
void append_canonical_string(std::string& out, std::string_view s);
void append_canonical_number(std::string& out, double d);

nlohmann::json to_json(const Value& v);
// A value from JSON: scalars, or an object {"collection","entity"} for a reference.
// bad_json naming `what` for arrays, other objects, non-finite numbers, oversized strings.
Result<Value> value_from_json(const nlohmann::json& j, std::string_view what);

// The total order used by min, max and union: null < false < true < numbers < strings
// (by bytes) < references (by collection, then id). Returns <0, 0 or >0.
int compare(const Value& a, const Value& b);
// JSON-Logic truthiness: null, false, 0 and "" are false.
bool truthy(const Value& v);

}  // namespace fedmesh::data
