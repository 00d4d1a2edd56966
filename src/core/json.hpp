// JSON helpers: bounded parsing of outside bytes (size and nesting depth) with messages
// that say where the input went wrong. Pure functions; thread-safe.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace fedmesh {

// The deepest JSON that crosses into a script (skill arguments, events, replies, state,
// config): bodies headed for Lua are parsed with this limit and refused beyond it.
constexpr int kMaxJsonDepth = 32;

// Parses `text` as JSON; bad_json when malformed or when objects and arrays nest more
// than max_depth levels (json_depth() > max_depth).
Result<nlohmann::json> parse_json(std::string_view text, int max_depth = kMaxJsonDepth);

// Parses and requires an object.
Result<nlohmann::json> parse_json_object(std::string_view text, int max_depth = kMaxJsonDepth);

// How deeply `value` nests (a scalar is 0, [1] is 1).
int json_depth(const nlohmann::json& value);

// About how many bytes `value` takes when serialized (strings by their length, without
// escapes; numbers as 8): linear in its nodes and much cheaper than dump(). Reads that
// assemble answers charge their byte budget with it.
std::size_t approx_json_size(const nlohmann::json& value);

// Serializes without throwing: invalid UTF-8 in strings becomes U+FFFD.
std::string dump_json(const nlohmann::json& value, int indent = -1);

// True when `text` is well-formed UTF-8.
bool valid_utf8(std::string_view text);

// A member that is a string, or `fallback` (absent, or another type); never throws.
std::string string_or(const nlohmann::json& obj, std::string_view key, std::string fallback = "");

// Reads a required string member; bad_json naming the member otherwise.
Result<std::string> string_member(const nlohmann::json& obj, std::string_view key, std::size_t max_len = 4096);

}  // namespace fedmesh
