// JSON helpers: bounded parsing of outside bytes (size and nesting depth) with messages
// that say where the input went wrong. Pure functions; thread-safe.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace fedmesh {

// Parses `text` as JSON; bad_json when malformed or nested deeper than max_depth.
Result<nlohmann::json> parse_json(std::string_view text, int max_depth = 32);

// Parses and requires an object.
Result<nlohmann::json> parse_json_object(std::string_view text, int max_depth = 32);

// Serializes without throwing: invalid UTF-8 in strings becomes U+FFFD.
std::string dump_json(const nlohmann::json& value, int indent = -1);

// True when `text` is well-formed UTF-8.
bool valid_utf8(std::string_view text);

// Reads a required string member; bad_json naming the member otherwise.
Result<std::string> string_member(const nlohmann::json& obj, std::string_view key, std::size_t max_len = 4096);

}  // namespace fedmesh
