// Partial checks: what the aggregator verifies about a partial before it stores it. A
// client may send any bytes as its partial, so the body is decoded within budgets (size,
// values, elements per array, depth: decode_result), then the partial must hold exactly
// the fields its operation produces and satisfy every invariant an honest computation
// guarantees (check_invariants): a count within the rows, a min no greater than its max, a
// symmetric XᵀX, the trees the job asked for. Pure functions, linear in the partial's
// size; thread-safe. docs/jobs.md ("Checks on partials") lists them per operation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "jobs/bounded_json.hpp"
#include "jobs/forest.hpp"
#include "jobs/operations.hpp"

namespace fedmesh::jobs {

// The largest result body (POST /fed/v1/jobs/result) the aggregator decodes, derived from
// the forest budget: kMaxPartialNodes nodes of at most 48 bytes each as the worker writes
// them (a split is at most 60, a leaf 26, and a tree has one leaf more than splits), and
// 1 MiB for everything else (12 MiB + 1 MiB = 13 MiB). A larger body is refused unread.
constexpr std::size_t kMaxResultBytes = kMaxPartialNodes * 48 + (std::size_t{1} << 20);
// While decoding: the deepest partial nests 6 levels (body, result, forest, trees, tree,
// node); no array or object of an honest partial holds more than a tree's nodes (groups
// and histogram bins: 10,000); a forest of kMaxPartialNodes nodes is fewer than 4 values a
// node.
constexpr JsonBudget kResultBudget{8, 4 * kMaxPartialNodes, kMaxTreeNodes};

// No bound on a partial's rows beyond the largest exact count (2^53).
constexpr std::uint64_t kAnyRows = std::uint64_t{1} << 53;

// A result body, decoded: kMaxResultBytes and kResultBudget, else payload_too_large (and
// bad_json when malformed, or not an object).
Result<nlohmann::json> decode_result(std::string_view body);

// Whether a partial, sent as a result body, stays within kResultBudget (its values,
// elements per array or object, nesting under the body's two levels): what a client checks
// before it sends, so a partial the aggregator would refuse unread fails its task with
// the reason instead. payload_too_large naming the bound.
Status check_result_budget(const nlohmann::json& partial);

// Every field and invariant of a partial for `op` in `round` (`input`: the round's input),
// computed over a datasource of `rows` rows (as its client reported them). invalid_argument
// naming the field and the broken invariant.
Status check_invariants(const Operation& op, int round, const nlohmann::json& input, const nlohmann::json& partial,
                        std::uint64_t rows = kAnyRows);

}  // namespace fedmesh::jobs
