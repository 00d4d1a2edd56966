// The wire form of an Error, written once. Everywhere an error leaves a node it is
// {"code", "message", "node"?, "skill"?, ...context}: HTTP error bodies carry it under
// "error", and scripts see it as a table. A peer's answer or a script's error table comes
// back through error_from_fields. Pure; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace fedmesh {

nlohmann::json error_to_json(const Error& error);

// A code named in the catalogue keeps its code (and HTTP status); any other name travels
// as skill_error under that name. Only `node` and `skill` are kept as context.
Error error_from_fields(std::string_view code, std::string message, const std::optional<std::string>& node = {},
                        const std::optional<std::string>& skill = {});

// The same from a JSON object; `fallback` is the message when the object has none.
Error error_from_json(const nlohmann::json& error, const std::string& fallback);

}  // namespace fedmesh
