#include "jobs/partial_check.hpp"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace fedmesh::jobs {
namespace {

using json = nlohmann::json;

constexpr std::uint64_t kMaxCount = std::uint64_t{1} << 53;
constexpr std::size_t kMaxGroups = 10'000;
// The largest per-row log loss a client reports: it clamps probabilities to [1e-15, 1].
const double kMaxLoss = -std::log(1e-15);

Error refuse(const std::string& why) {
  return make_error(ErrorCode::invalid_argument, "partial result: " + why);
}

// A name taken from the partial, short enough for a message.
std::string shown(const std::string& name) {
  constexpr std::size_t kShown = 64;
  return "'" + (name.size() <= kShown ? name : name.substr(0, kShown) + "...") + "'";
}

std::string number(double value) {
  return fmt::format("{}", value);
}

// The partial is an object holding exactly `keys`.
Status exact_fields(const json& partial, std::initializer_list<const char*> keys) {
  if (!partial.is_object()) return refuse("expected a JSON object");
  for (const char* key : keys)
    if (!partial.contains(key)) return refuse(std::string("'") + key + "' is missing");
  if (partial.size() != keys.size()) {
    for (const auto& item : partial.items()) {
      if (std::none_of(keys.begin(), keys.end(), [&](const char* k) { return item.key() == k; }))
        return refuse("unknown field " + shown(item.key()));
    }
  }
  return {};
}

// An integer count in [0, 2^53] (counts are exact as doubles below that).
Result<std::uint64_t> count_of(const json& value, const std::string& what) {
  if (value.is_number_unsigned() && value.get<std::uint64_t>() <= kMaxCount) return value.get<std::uint64_t>();
  if (value.is_number_integer() && value.get<std::int64_t>() >= 0 &&
      static_cast<std::uint64_t>(value.get<std::int64_t>()) <= kMaxCount)
    return static_cast<std::uint64_t>(value.get<std::int64_t>());
  return refuse(what + " must be a count (an integer from 0 to 2^53)");
}

// A count no greater than the datasource's rows.
Result<std::uint64_t> rows_of(const json& partial, const char* key, std::uint64_t rows) {
  auto n = count_of(partial[key], std::string("'") + key + "'");
  if (!n) return n;
  if (*n > rows)
    return refuse(std::string("'") + key + "' is " + std::to_string(*n) + ", more than the datasource's " +
                  std::to_string(rows) + " rows");
  return n;
}

Result<double> finite_of(const json& value, const std::string& what) {
  if (!value.is_number() || !std::isfinite(value.get<double>())) return refuse(what + " must be a finite number");
  return value.get<double>();
}

Result<std::vector<double>> finite_array(const json& value, std::size_t size, const std::string& what) {
  if (!value.is_array() || value.size() != size)
    return refuse(what + " must hold " + std::to_string(size) + " finite numbers");
  std::vector<double> out;
  out.reserve(size);
  for (const auto& v : value) {
    auto x = finite_of(v, what);
    if (!x) return std::move(x).error();
    out.push_back(*x);
  }
  return out;
}

// [count, mean, m2] of a column (Chan et al.): a whole count no greater than `max_count`,
// a finite mean, m2 >= 0; with no value the mean and m2 are 0, with one value m2 is 0.
// Returns the count.
Result<std::uint64_t> moments_of(const json& m, const std::string& where, std::uint64_t max_count,
                                 const std::string& max_name) {
  if (!m.is_array() || m.size() != 3 || !m[0].is_number() || !m[1].is_number() || !m[2].is_number())
    return refuse("moments of " + where + " must be [count, mean, m2]");
  const double n = m[0].get<double>(), mean = m[1].get<double>(), m2 = m[2].get<double>();
  if (!std::isfinite(n) || n < 0 || n != std::floor(n) || n > static_cast<double>(kMaxCount))
    return refuse("the count of " + where + " (" + number(n) + ") is not a whole number from 0 to 2^53");
  if (!std::isfinite(mean) || !std::isfinite(m2)) return refuse("the mean and m2 of " + where + " must be finite");
  if (m2 < 0) return refuse("m2 of " + where + " is " + number(m2) + ": a sum of squares is never negative");
  const auto count = static_cast<std::uint64_t>(n);
  if (count > max_count)
    return refuse("the count of " + where + " is " + std::to_string(count) + ", more than " + max_name + " (" +
                  std::to_string(max_count) + ")");
  if (count == 0 && (mean != 0 || m2 != 0))
    return refuse("the moments of " + where + " count no value but have a mean or m2 that is not 0");
  if (count == 1 && m2 != 0) return refuse("the moments of " + where + " count one value but have an m2 that is not 0");
  return count;
}

// An object holding exactly the job's columns.
Status exact_columns(const json& object, const std::vector<std::string>& names, const std::string& where) {
  if (!object.is_object()) return refuse(where + " must be an object of the job's columns");
  for (const auto& name : names)
    if (!object.contains(name)) return refuse(where + " has no entry for column " + shown(name));
  if (object.size() != names.size()) {
    for (const auto& item : object.items())
      if (std::find(names.begin(), names.end(), item.key()) == names.end())
        return refuse(where + " holds column " + shown(item.key()) + ", which the job did not ask for");
  }
  return {};
}

std::vector<std::string> names_in(const json& spec, const char* key) {
  return spec.at(key).get<std::vector<std::string>>();
}

// {"n", "columns": {column: [count, mean, m2]}}; `every_row`: each count equals n (the
// logistic statistics round reads only rows holding every feature).
Status check_moments(const json& p, const std::vector<std::string>& names, std::uint64_t rows, bool every_row) {
  if (auto s = exact_fields(p, {"n", "columns"}); !s) return s;
  auto n = rows_of(p, "n", rows);
  if (!n) return std::move(n).error();
  const json& columns = p["columns"];
  if (auto s = exact_columns(columns, names, "'columns'"); !s) return s;
  for (const auto& name : names) {
    auto count = moments_of(columns[name], "column " + shown(name), *n, "the rows selected ('n')");
    if (!count) return std::move(count).error();
    if (every_row && *count != *n)
      return refuse("the statistics round counts every row it reads, but column " + shown(name) + " counts " +
                    std::to_string(*count) + " of 'n' = " + std::to_string(*n));
  }
  return {};
}

Status check_min_max(const json& p, const std::vector<std::string>& names) {
  if (auto s = exact_fields(p, {"min", "max"}); !s) return s;
  if (auto s = exact_columns(p["min"], names, "'min'"); !s) return s;
  if (auto s = exact_columns(p["max"], names, "'max'"); !s) return s;
  for (const auto& name : names) {
    const json &lo = p["min"][name], &hi = p["max"][name];
    if (lo.is_null() != hi.is_null())
      return refuse("column " + shown(name) + " has a min or a max but not both (null means no value)");
    if (lo.is_null()) continue;
    auto a = finite_of(lo, "the min of column " + shown(name));
    if (!a) return std::move(a).error();
    auto b = finite_of(hi, "the max of column " + shown(name));
    if (!b) return std::move(b).error();
    if (*a > *b)
      return refuse("the min of column " + shown(name) + " (" + number(*a) + ") is greater than its max (" +
                    number(*b) + ")");
  }
  return {};
}

Status check_histogram(const json& p, std::size_t bins, std::uint64_t rows) {
  if (auto s = exact_fields(p, {"counts", "below", "above"}); !s) return s;
  const json& counts = p["counts"];
  if (!counts.is_array() || counts.size() != bins)
    return refuse("'counts' must hold " + std::to_string(bins) + " counts, one per bin");
  std::uint64_t total = 0;
  for (const auto& c : counts) {
    auto k = count_of(c, "each of 'counts'");
    if (!k) return std::move(k).error();
    total += *k;  // total <= rows <= 2^53 before each addition: no overflow
    if (total > rows) break;
  }
  for (const char* key : {"below", "above"}) {
    auto k = count_of(p[key], std::string("'") + key + "'");
    if (!k) return std::move(k).error();
    if (total <= rows) total += *k;
  }
  if (total > rows)
    return refuse("the bins, 'below' and 'above' count more values than the datasource's " + std::to_string(rows) +
                  " rows");
  return {};
}

Status check_groups(const json& p, const Operation& op, std::uint64_t rows) {
  if (auto s = exact_fields(p, {"groups"}); !s) return s;
  const json& groups = p["groups"];
  if (!groups.is_object()) return refuse("'groups' must be an object");
  if (groups.size() > kMaxGroups) return refuse("more than " + std::to_string(kMaxGroups) + " groups");
  if (groups.size() > rows)
    return refuse(std::to_string(groups.size()) + " groups, more than the datasource's " + std::to_string(rows) +
                  " rows");
  const bool means = op.kind == "group_mean";
  std::vector<std::string> names;
  if (means) names = names_in(op.spec, "columns");
  std::uint64_t total = 0;                          // group_count: rows in all groups
  std::vector<std::uint64_t> totals(names.size());  // group_mean: values per column in all groups
  for (const auto& [key, group] : groups.items()) {
    if (key.empty()) return refuse("a group's key is empty: a missing 'by' value makes no group");
    const std::string where = "group " + shown(key);
    if (!means) {
      auto k = count_of(group, "the count of " + where);
      if (!k) return std::move(k).error();
      if (*k == 0) return refuse("the count of " + where + " is 0: a group holds at least one row");
      total += *k;
      if (total > rows)
        return refuse("the groups count more rows than the datasource's " + std::to_string(rows) + " rows");
      continue;
    }
    if (auto s = exact_columns(group, names, where); !s) return s;
    for (std::size_t i = 0; i < names.size(); ++i) {
      auto k = moments_of(group[names[i]], "column " + shown(names[i]) + " in " + where, rows, "the datasource's rows");
      if (!k) return std::move(k).error();
      totals[i] += *k;
      if (totals[i] > rows)
        return refuse("the groups count more values of column " + shown(names[i]) + " than the datasource's " +
                      std::to_string(rows) + " rows");
    }
  }
  return {};
}

// XᵀX over [1, features], Xᵀy, Σy², Σy: a Gram matrix of sums over the same rows.
Status check_linear(const json& p, const Operation& op, std::uint64_t rows) {
  if (auto s = exact_fields(p, {"n", "xtx", "xty", "yty", "sy"}); !s) return s;
  auto n = rows_of(p, "n", rows);
  if (!n) return std::move(n).error();
  const std::size_t k = op.spec["features"].size() + 1;
  const std::string shape = std::to_string(k) + "x" + std::to_string(k);
  const json& rows_json = p["xtx"];
  if (!rows_json.is_array() || rows_json.size() != k) return refuse("'xtx' must be a " + shape + " matrix");
  std::vector<std::vector<double>> xtx;
  xtx.reserve(k);
  for (const auto& row : rows_json) {
    auto r = finite_array(row, k, "each row of 'xtx'");
    if (!r) return refuse("'xtx' must be a " + shape + " matrix of finite numbers");
    xtx.push_back(std::move(*r));
  }
  auto xty = finite_array(p["xty"], k, "'xty'");
  if (!xty) return std::move(xty).error();
  auto yty = finite_of(p["yty"], "'yty'");
  if (!yty) return std::move(yty).error();
  auto sy = finite_of(p["sy"], "'sy'");
  if (!sy) return std::move(sy).error();

  const auto n_value = static_cast<double>(*n);
  if (xtx[0][0] != n_value)
    return refuse("'xtx'[0][0] (" + number(xtx[0][0]) + ") is not 'n' (" + std::to_string(*n) +
                  "): it counts the rows used");
  if ((*xty)[0] != *sy)
    return refuse("'xty'[0] (" + number((*xty)[0]) + ") is not 'sy' (" + number(*sy) + "): both are the sum of y");
  if (*yty < 0) return refuse("'yty' is " + number(*yty) + ": a sum of squares is never negative");
  for (std::size_t a = 0; a < k; ++a) {
    if (xtx[a][a] < 0)
      return refuse("'xtx'[" + std::to_string(a) + "][" + std::to_string(a) + "] is " + number(xtx[a][a]) +
                    ": a sum of squares is never negative");
    for (std::size_t b = 0; b < a; ++b)
      if (xtx[a][b] != xtx[b][a])
        return refuse("'xtx' is not symmetric: [" + std::to_string(a) + "][" + std::to_string(b) + "] is " +
                      number(xtx[a][b]) + " but [" + std::to_string(b) + "][" + std::to_string(a) + "] is " +
                      number(xtx[b][a]));
  }
  if (*n == 0) {
    bool zero = *yty == 0 && *sy == 0;
    for (std::size_t a = 0; a < k; ++a) {
      zero = zero && (*xty)[a] == 0;
      for (std::size_t b = 0; b < k; ++b) zero = zero && xtx[a][b] == 0;
    }
    if (!zero) return refuse("'n' is 0 but the sums are not: sums over no row are 0");
    return {};
  }
  // Cauchy–Schwarz: a sum of products is at most the root of the two sums of squares (with
  // room for rounding in sums over many rows).
  const auto bounded = [](double product, double square_a, double square_b) {
    return product * product <= square_a * square_b * (1 + 1e-5) + 1e-300;
  };
  for (std::size_t a = 0; a < k; ++a) {
    for (std::size_t b = 0; b < a; ++b)
      if (!bounded(xtx[a][b], xtx[a][a], xtx[b][b]))
        return refuse("'xtx'[" + std::to_string(a) + "][" + std::to_string(b) +
                      "] is larger than its row and column allow (|Σab| <= sqrt(Σa² Σb²))");
    if (!bounded((*xty)[a], xtx[a][a], *yty))
      return refuse("'xty'[" + std::to_string(a) + "] is larger than 'xtx' and 'yty' allow (|Σay| <= sqrt(Σa² Σy²))");
  }
  return {};
}

Status check_logistic_round(const json& p, const Operation& op, const json& input, std::uint64_t rows) {
  if (auto s = exact_fields(p, {"n", "weights", "loss", "correct"}); !s) return s;
  auto n = rows_of(p, "n", rows);
  if (!n) return std::move(n).error();
  const std::size_t size = op.spec["features"].size() + 1;
  auto weights = finite_array(p["weights"], size, "'weights'");
  if (!weights) return std::move(weights).error();
  auto loss = finite_of(p["loss"], "'loss'");
  if (!loss) return std::move(loss).error();
  if (*loss < 0 || *loss > kMaxLoss * (1 + 1e-6))
    return refuse("'loss' is " + number(*loss) + ": a mean log loss is from 0 to " + number(kMaxLoss));
  auto correct = count_of(p["correct"], "'correct'");
  if (!correct) return std::move(correct).error();
  if (*correct > *n)
    return refuse("'correct' (" + std::to_string(*correct) + ") exceeds 'n' (" + std::to_string(*n) + ")");
  if (*n == 0) {
    if (*loss != 0 || *correct != 0) return refuse("'n' is 0 but 'loss' or 'correct' is not");
    // No row: the weights are the round's, unchanged.
    if (input.contains("weights") && input["weights"] != p["weights"])
      return refuse("'n' is 0 but the weights moved: with no row they are the round's input");
  }
  return {};
}

Status check_forest(const json& p, const Operation& op, std::uint64_t rows) {
  if (auto s = exact_fields(p, {"n", "forest"}); !s) return s;
  auto n = rows_of(p, "n", rows);
  if (!n) return std::move(n).error();
  if (*n == 0) return refuse("'n' is 0: a forest grows on one row at least");
  const json& forest = p["forest"];
  if (!forest.is_object() || forest.size() != 2 || !forest.contains("features") || !forest.contains("trees") ||
      !forest["trees"].is_array())
    return refuse("'forest' must be {\"features\": [names], \"trees\": [tree, ...]} and nothing else");
  const auto asked = op.spec["trees_per_datasource"].get<std::size_t>();
  const json& trees = forest["trees"];
  if (trees.size() != asked)
    return refuse("the job asked for " + std::to_string(asked) + " trees per datasource; this forest has " +
                  std::to_string(trees.size()));
  ForestBudget budget;
  budget.trees = asked;
  budget.tree_nodes = kMaxTreeNodes;
  budget.nodes = kMaxPartialNodes;
  budget.depth = op.spec["max_depth"].get<int>();
  auto f = Forest::from_json(forest, budget);
  if (!f) return refuse(f.error().message());
  if (f->features() != names_in(op.spec, "features")) return refuse("the trees use other features than the job's");
  return {};
}

Status check_evaluate(const json& p, std::uint64_t rows) {
  if (auto s = exact_fields(p, {"n", "tp", "fp", "tn", "fn", "pos", "neg"}); !s) return s;
  auto n = rows_of(p, "n", rows);
  if (!n) return std::move(n).error();
  auto combined = evaluate_combine({p});  // counts, bins, and that they add up
  if (!combined) return refuse(combined.error().message());
  return {};
}

}  // namespace

Result<json> decode_result(std::string_view body) {
  if (body.size() > kMaxResultBytes)
    return make_error(ErrorCode::payload_too_large, "the result body is " + std::to_string(body.size()) +
                                                        " bytes; at most " + std::to_string(kMaxResultBytes));
  auto decoded = decode_bounded_json(body, kResultBudget);
  if (!decoded) {
    if (decoded.error().code() != ErrorCode::payload_too_large) return std::move(decoded).error();
    return make_error(ErrorCode::payload_too_large,
                      "the result is over its decoding budget: " + decoded.error().message() +
                          " (a tree holds at most " + std::to_string(kMaxTreeNodes) + " nodes)");
  }
  if (!decoded->is_object()) return make_error(ErrorCode::bad_json, "expected a JSON object");
  return decoded;
}

Status check_result_budget(const json& partial) {
  // The body around a partial: {"task", "lease", "result": partial}.
  constexpr std::size_t kEnvelopeValues = 3;
  constexpr int kEnvelopeLevels = 1;
  std::size_t values = kEnvelopeValues;
  std::vector<std::pair<const json*, int>> todo{{&partial, kEnvelopeLevels + (partial.is_structured() ? 1 : 0)}};
  while (!todo.empty()) {
    auto [value, depth] = todo.back();
    todo.pop_back();
    ++values;
    if (!value->is_structured()) continue;
    if (depth > kResultBudget.depth)
      return make_error(ErrorCode::payload_too_large,
                        "the partial nests deeper than a result may (" + std::to_string(kResultBudget.depth) + ")");
    if (value->size() > kResultBudget.members)
      return make_error(ErrorCode::payload_too_large,
                        "the partial holds an array or object of " + std::to_string(value->size()) +
                            " elements; a result may hold " + std::to_string(kResultBudget.members));
    for (const auto& item : *value) todo.emplace_back(&item, depth + 1);
    if (values + todo.size() > kResultBudget.values)
      return make_error(
          ErrorCode::payload_too_large,
          "the partial holds more than the " + std::to_string(kResultBudget.values) + " JSON values a result may hold");
  }
  return {};
}

Status check_invariants(const Operation& op, int round, const json& input, const json& p, std::uint64_t rows) {
  rows = std::min(rows, kMaxCount);
  if (!p.is_object()) return refuse("expected a JSON object");
  const std::string& kind = op.kind;
  if (kind == "count") {
    if (auto s = exact_fields(p, {"n"}); !s) return s;
    auto n = rows_of(p, "n", rows);
    if (!n) return std::move(n).error();
    return {};
  }
  if (kind == "mean" || kind == "variance") return check_moments(p, names_in(op.spec, "columns"), rows, false);
  if (kind == "min_max") return check_min_max(p, names_in(op.spec, "columns"));
  if (kind == "histogram") return check_histogram(p, op.spec["bins"].size() - 1, rows);
  if (kind == "group_count" || kind == "group_mean") return check_groups(p, op, rows);
  if (kind == "linear_regression") return check_linear(p, op, rows);
  if (kind == "logistic_regression") {
    if (op.spec["standardize"].get<bool>() && round == 0)
      return check_moments(p, names_in(op.spec, "features"), rows, true);
    return check_logistic_round(p, op, input, rows);
  }
  if (kind == "random_forest") return check_forest(p, op, rows);
  if (kind == "evaluate") return check_evaluate(p, rows);
  return refuse("unknown operation kind " + shown(kind));
}

}  // namespace fedmesh::jobs
