// JSON-Logic (jsonlogic.com) filters over resolved entities, with the operators users of
// Rhizome write: var, ==, !=, <, <=, >, >= (and the three-argument "between" form of <
// and <=), and, or, !, in. Equality and ordering follow JSON-Logic's JavaScript rules
// ("1" == 1; numbers compare numerically, two strings by bytes); [] is false, as in
// JSON-Logic. Pure functions; thread-safe.
#pragma once

#include <nlohmann/json.hpp>

#include "core/budget.hpp"
#include "core/error.hpp"

namespace fedmesh::data {

// Checks a rule before it runs: known operators, argument counts, nesting at most 32
// levels and 4096 nodes. invalid_argument naming the operator otherwise.
Status check_logic(const nlohmann::json& rule);
// Applies a checked rule to `data`, without a budget (rules of bounded cost: jobs' `where`
// over one CSV row).
nlohmann::json apply_logic(const nlohmann::json& rule, const nlohmann::json& data);
// Whether `data` passes a checked rule (a null rule passes everything), charging `budget`
// one unit per operation and one per byte that a comparison or substring search touches
// (the search is linear: glibc's two-way memmem). The budget's error once it is spent.
Result<bool> matches_logic(const nlohmann::json& rule, const nlohmann::json& data, Budget& budget);
// JSON-Logic truthiness: false, null, 0, "" and [] are false.
bool logic_truthy(const nlohmann::json& v);

}  // namespace fedmesh::data
