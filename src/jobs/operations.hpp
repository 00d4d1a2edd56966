// Operations: what a federated job computes, split in two halves so that rows never
// leave their owner. A client runs compute_partial() over its own rows and sends back
// only the partial (counts, sums, sufficient statistics, model weights or trees); the
// aggregator checks each partial on arrival and combines a round's partials with
// combine_round(). Multi-round operations (logistic regression) hand each round's
// combined state to the next round's tasks. Every message is typed JSON; nothing is
// executed that the client did not install. Pure functions; thread-safe.
// docs/jobs.md documents every kind and its result shape.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "jobs/table.hpp"

namespace fedmesh::jobs {

struct Operation {
  std::string kind;
  nlohmann::json spec;  // as submitted, with defaults filled in
  // Columns the operation reads, and whether each must be numeric: checked against every
  // datasource's metadata before any task is planned.
  std::vector<std::pair<std::string, bool>> columns;
  std::string model;  // evaluate: the id of the job whose model is scored
  int rounds = 1;     // rounds of tasks (logistic regression: a statistics round, then its rounds)
};

// Checks an operation ({"kind": ..., ...}) and fills in its defaults; invalid_argument
// naming the field otherwise.
Result<Operation> parse_operation(const nlohmann::json& spec);

// The input of the first round's tasks (the model itself for `evaluate`, set by the caller).
nlohmann::json first_input(const Operation& op);

// The rows a `where` rule (JSON-Logic over the columns; null selects every row) selects.
Result<std::vector<std::size_t>> select_rows(const Table& table, const nlohmann::json& where);

// One datasource's partial over `rows`. `salt` varies randomness between datasources.
Result<nlohmann::json> compute_partial(const Operation& op, const nlohmann::json& input, const Table& table,
                                       const std::vector<std::size_t>& rows, std::uint64_t salt = 0);

// What combining a round decided: the final result, or the next round's input.
struct Step {
  bool done = false;
  nlohmann::json result;      // when done
  nlohmann::json next_input;  // when not
  nlohmann::json model;       // when done and the operation made a model (kept apart from the result)
};

// Combines one round's partials; `state` carries what rounds learn across rounds (loss
// history) and is updated in place. invalid_argument when a partial is not the shape the
// operation produces, or the union cannot be solved (collinear features).
Result<Step> combine_round(const Operation& op, int round, const nlohmann::json& input,
                           const std::vector<nlohmann::json>& partials, nlohmann::json& state);

// Checks one partial on arrival: its fields and every invariant of its kind
// (check_invariants in partial_check.hpp), computed over a datasource of `rows` rows, then
// by combining it alone (a lone datasource may be degenerate where the union is not). A
// partial that fails is refused before it is stored; invalid_argument says why.
Status check_partial(const Operation& op, int round, const nlohmann::json& input, const nlohmann::json& partial,
                     std::uint64_t rows = std::uint64_t{1} << 53);

}  // namespace fedmesh::jobs
