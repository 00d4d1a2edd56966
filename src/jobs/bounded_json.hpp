// Bounded JSON decoding for bodies that may be large (a client's partial result): one
// linear pass over the text that builds the value under a budget of nesting levels,
// values, and elements per array or object, and stops at the first bound it crosses, so a
// body over budget is refused before it is built. Pure function; thread-safe.
//
// Why not core's parse_json: nlohmann's callback parser, which it uses to limit depth,
// scans the enclosing array after every object it closes, so an array of n objects costs
// n^2 / 2 steps (a tree of 100,000 nodes: seconds to minutes). This one builds the value
// through nlohmann's SAX interface and never rescans.
#pragma once

#include <cstddef>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace fedmesh::jobs {

struct JsonBudget {
  int depth = 32;                              // levels of objects and arrays ([1] is one level)
  std::size_t values = 1 << 20;                // values of any kind, objects and arrays included
  std::size_t members = std::size_t{1} << 16;  // elements of one array, or members of one object
};

// Parses `text` (one JSON value, nothing after it) within `budget`. bad_json when it is
// malformed or nests deeper than budget.depth; payload_too_large naming the bound and
// where it was crossed (a path such as result.forest.trees[0]) when it holds more values,
// or more elements in one array or object, than the budget allows. Nothing is kept on
// failure. Duplicate keys: the last one wins, as with nlohmann::json::parse.
Result<nlohmann::json> decode_bounded_json(std::string_view text, const JsonBudget& budget);

}  // namespace fedmesh::jobs
