// Federated jobs' pure halves: the bounded CSV reader, operations split into partials and
// combines, and the promise that matters most: combining the three California splits'
// partials equals the same computation over the whole file. Then the aggregator's side of
// a partial: decoding within budgets, and every invariant of each kind checked.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "jobs/bounded_json.hpp"
#include "jobs/operations.hpp"
#include "jobs/partial_check.hpp"
#include "jobs/table.hpp"
#include "support/harness.hpp"
#include "support/json_close.hpp"

namespace fedmesh::jobs {
namespace {

using json = nlohmann::json;
using testing::expect_close;

std::string california(const std::string& file) {
  return testing::source_dir() + "/data/california/" + file;
}

const std::vector<std::string>& splits() {
  static const std::vector<std::string> s = {"california_housing.MedInc1.csv", "california_housing.MedInc2.csv",
                                             "california_housing.validation.csv"};
  return s;
}

const Table& load(const std::string& file) {
  static std::map<std::string, Table> cache;
  auto it = cache.find(file);
  if (it == cache.end()) {
    auto t = read_table(california(file), ',');
    EXPECT_TRUE(t) << t.error().message();
    it = cache.emplace(file, std::move(*t)).first;
  }
  return it->second;
}

// Runs an operation over the three splits (federated) and over the whole file.
struct Both {
  json federated;
  json single;
};

json run(const Operation& op, const std::vector<std::string>& files, const json& where = nullptr) {
  json input = first_input(op);
  json state = json::object();
  for (int round = 0; round < op.rounds; ++round) {
    std::vector<json> partials;
    for (const auto& f : files) {
      const Table& t = load(f);
      auto rows = select_rows(t, where);
      EXPECT_TRUE(rows) << rows.error().message();
      auto p = compute_partial(op, input, t, *rows, std::hash<std::string>{}(f));
      EXPECT_TRUE(p) << p.error().message();
      // An honest partial passes every check, within its datasource's rows.
      auto checked = check_partial(op, round, input, *p, t.rows);
      EXPECT_TRUE(checked) << (checked ? "" : checked.error().message());
      partials.push_back(std::move(*p));
    }
    auto step = combine_round(op, round, input, partials, state);
    EXPECT_TRUE(step) << step.error().message();
    if (step->done)
      return step->model.is_null() ? step->result : json{{"result", step->result}, {"model", step->model}};
    input = step->next_input;
  }
  ADD_FAILURE() << "no result after " << op.rounds << " rounds";
  return nullptr;
}

Both both(const json& spec, const json& where = nullptr) {
  auto op = parse_operation(spec);
  EXPECT_TRUE(op) << op.error().message();
  return {run(*op, splits(), where), run(*op, {"california.csv"}, where)};
}

const std::vector<std::string> kColumns = {"MedInc",   "HouseAge", "AveRooms",  "AveBedrms",          "Population",
                                           "AveOccup", "Latitude", "Longitude", "MedHouseValDiscrete"};

TEST(JobsTable, ReadsTypedColumnsWithQuotesAndMissingCells) {
  auto t = parse_table("\xEF\xBB\xBFname,age,city\r\n\"Smith, J\",41,\"say \"\"hi\"\"\"\r\nLee,,Bern\n", ',', "t.csv");
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_EQ(t->rows, 2u);
  EXPECT_EQ(t->columns[0].type, ColumnType::string);
  EXPECT_EQ(t->columns[0].texts[0], "Smith, J");
  EXPECT_EQ(t->columns[1].type, ColumnType::number);
  EXPECT_TRUE(t->columns[1].missing(1));
  EXPECT_EQ(t->columns[2].texts[0], "say \"hi\"");
  EXPECT_EQ(t->metadata()["columns"][1], (json{{"name", "age"}, {"type", "number"}}));
  auto tsv = parse_table("a\tb\n1\t2\n", '\t', "t.tsv");
  ASSERT_TRUE(tsv);
  EXPECT_EQ(tsv->columns[1].numbers[0], 2);
}

TEST(JobsTable, ProblemsNameTheFileLineAndColumn) {
  auto expect = [](std::string_view text, const std::string& where) {
    auto t = parse_table(text, ',', "d.csv");
    ASSERT_FALSE(t) << text;
    EXPECT_NE(t.error().message().find(where), std::string::npos) << t.error().message();
  };
  expect("a,b\n1,2\n3\n", "d.csv:3:2: 1 cells, but the header names 2 columns");
  expect("a,b\n1,2,3\n", "d.csv:2:3");
  expect("a,a\n", "d.csv:1:2: column 'a' appears twice");
  expect("a,\n", "d.csv:1:2: a column without a name");
  expect("a,b\n1,\"open\n", "d.csv:2:2: a quoted cell is never closed");
  expect("a,b\n1,x\"y\n", "d.csv:2:2: a quote inside an unquoted cell");
  expect("", "d.csv:1: empty file");
  ReadLimits small;
  small.max_field = 4;
  auto t = parse_table("a\n12345\n", ',', "d.csv", small);
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message().find("d.csv:2:1: a cell longer than 4 bytes"), std::string::npos);
  auto missing = read_table("/nonexistent/x.csv", ',');
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("/nonexistent/x.csv"), std::string::npos);
}

TEST(JobsTable, TheThreeSplitsHoldEveryRow) {
  std::size_t n = 0;
  for (const auto& f : splits()) n += load(f).rows;
  EXPECT_EQ(n, 20'640u);
  EXPECT_EQ(load("california.csv").rows, 20'640u);
}

TEST(JobsOperations, CountMeanVarianceAndMinMaxEqualTheWholeFile) {
  auto count = both({{"kind", "count"}});
  EXPECT_EQ(count.federated, (json{{"count", 20'640}}));
  EXPECT_EQ(count.single, count.federated);
  for (const char* kind : {"mean", "variance", "min_max"}) {
    auto r = both({{"kind", kind}, {"columns", kColumns}});
    expect_close(r.federated, r.single, 1e-9);
  }
  auto v = both({{"kind", "variance"}, {"columns", {"MedInc"}}});
  EXPECT_EQ(v.federated["count"], 20'640);
  EXPECT_NEAR(v.federated["std"]["MedInc"].get<double>(), std::sqrt(v.federated["variance"]["MedInc"].get<double>()),
              1e-12);
}

TEST(JobsOperations, HistogramsAndGroupsEqualTheWholeFile) {
  auto h = both({{"kind", "histogram"}, {"column", "HouseAge"}, {"bins", {0, 10, 20, 30, 40, 52}}});
  EXPECT_EQ(h.federated, h.single);
  std::uint64_t total = 0;
  for (const auto& c : h.federated["counts"]) total += c.get<std::uint64_t>();
  EXPECT_EQ(total + h.federated["below"].get<std::uint64_t>() + h.federated["above"].get<std::uint64_t>(), 20'640u);
  auto g = both({{"kind", "group_count"}, {"by", "MedHouseValDiscrete"}});
  EXPECT_EQ(g.federated, g.single);
  EXPECT_EQ(g.federated["groups"].size(), 2u);
  auto gm = both({{"kind", "group_mean"}, {"by", "MedHouseValDiscrete"}, {"columns", {"MedInc", "HouseAge"}}});
  expect_close(gm.federated, gm.single, 1e-9);
}

// ---- an oracle independent of read_table and compute_partial: plain loops over the rows ----

// california.csv read with getline and strtod (the file has no quotes and no missing cells).
struct PlainRows {
  std::vector<std::string> header;
  std::vector<std::vector<double>> rows;
  std::size_t at(const std::string& name) const {
    auto it = std::find(header.begin(), header.end(), name);
    EXPECT_NE(it, header.end()) << name;
    return static_cast<std::size_t>(it - header.begin());
  }
};

std::vector<std::string> split_commas(const std::string& line) {
  std::vector<std::string> cells;
  std::stringstream in(line);
  for (std::string cell; std::getline(in, cell, ',');) cells.push_back(cell);
  return cells;
}

const PlainRows& plain_rows() {
  static const PlainRows rows = [] {
    PlainRows r;
    std::ifstream in(california("california.csv"));
    std::string line;
    std::getline(in, line);
    r.header = split_commas(line);
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      std::vector<double> values;
      for (const auto& cell : split_commas(line)) {
        char* end = nullptr;
        values.push_back(std::strtod(cell.c_str(), &end));
        EXPECT_EQ(*end, '\0') << cell;
      }
      EXPECT_EQ(values.size(), r.header.size()) << line;
      r.rows.push_back(std::move(values));
    }
    return r;
  }();
  return rows;
}

// Mean, sample variance (two passes) and extremes of one column over the rows `keep` accepts.
struct ColumnStats {
  std::size_t n = 0;
  long double mean = 0, variance = 0;
  double min = 0, max = 0;
};

ColumnStats column_stats(const std::string& column,
                         const std::function<bool(const std::vector<double>&)>& keep = nullptr) {
  const auto& data = plain_rows();
  std::size_t c = data.at(column);
  ColumnStats s;
  long double sum = 0;
  for (const auto& row : data.rows) {
    if (keep && !keep(row)) continue;
    if (s.n == 0 || row[c] < s.min) s.min = row[c];
    if (s.n == 0 || row[c] > s.max) s.max = row[c];
    sum += row[c];
    ++s.n;
  }
  s.mean = sum / static_cast<long double>(s.n);
  long double squares = 0;
  for (const auto& row : data.rows) {
    if (keep && !keep(row)) continue;
    squares += (row[c] - s.mean) * (row[c] - s.mean);
  }
  s.variance = squares / static_cast<long double>(s.n - 1);
  return s;
}

TEST(JobsOperations, MeanVarianceAndMinMaxEqualPlainLoopsOverTheRows) {
  ASSERT_EQ(plain_rows().rows.size(), 20'640u);
  json mean = json::object(), variance = json::object(), sd = json::object(), lo = json::object(), hi = json::object();
  for (const auto& column : kColumns) {
    auto s = column_stats(column);
    mean[column] = static_cast<double>(s.mean);
    variance[column] = static_cast<double>(s.variance);
    sd[column] = static_cast<double>(std::sqrt(s.variance));
    lo[column] = s.min;
    hi[column] = s.max;
  }
  auto m = both({{"kind", "mean"}, {"columns", kColumns}});
  expect_close(m.federated, json{{"count", 20'640}, {"mean", mean}}, 1e-9);
  auto v = both({{"kind", "variance"}, {"columns", kColumns}});
  expect_close(v.federated, json{{"count", 20'640}, {"mean", mean}, {"variance", variance}, {"std", sd}}, 1e-9);
  // The extremes are cells of the file: exact.
  auto mm = both({{"kind", "min_max"}, {"columns", kColumns}});
  EXPECT_EQ(mm.federated, (json{{"min", lo}, {"max", hi}}));
  // With a filter: only the rows it selects count, on every datasource.
  std::size_t age = plain_rows().at("HouseAge");
  auto old = column_stats("MedInc", [age](const std::vector<double>& row) { return row[age] >= 30; });
  auto filtered = both({{"kind", "variance"}, {"columns", {"MedInc"}}}, {{">=", {{{"var", "HouseAge"}}, 30}}});
  expect_close(filtered.federated,
               json{{"count", old.n},
                    {"mean", {{"MedInc", static_cast<double>(old.mean)}}},
                    {"variance", {{"MedInc", static_cast<double>(old.variance)}}},
                    {"std", {{"MedInc", static_cast<double>(std::sqrt(old.variance))}}}},
               1e-9);
}

TEST(JobsOperations, HistogramsAndGroupMeansEqualPlainLoopsOverTheRows) {
  const auto& data = plain_rows();
  // Bin i holds e_i <= x < e_(i+1), the last bin also x == e_k; below and above the rest.
  auto histogram = [&](const std::string& column, const std::vector<double>& edges) {
    std::size_t c = data.at(column);
    std::vector<std::uint64_t> counts(edges.size() - 1, 0);
    std::uint64_t below = 0, above = 0;
    for (const auto& row : data.rows) {
      double x = row[c];
      if (x < edges.front()) {
        ++below;
      } else if (x > edges.back()) {
        ++above;
      } else if (x == edges.back()) {
        ++counts.back();
      } else {
        std::size_t i = 0;
        while (!(x < edges[i + 1])) ++i;
        ++counts[i];
      }
    }
    return json{{"counts", counts}, {"below", below}, {"above", above}};
  };
  // HouseAge is whole years from 1 to 52: these edges put rows on edges, below and above.
  for (const std::vector<double>& edges : {std::vector<double>{0, 10, 20, 30, 40, 52},
                                           std::vector<double>{10, 20, 30, 40}, std::vector<double>{15.5, 16, 52}}) {
    auto h = both({{"kind", "histogram"}, {"column", "HouseAge"}, {"bins", edges}});
    EXPECT_EQ(h.federated, histogram("HouseAge", edges)) << json(edges);
  }
  auto expected = histogram("HouseAge", {10, 20, 30, 40});
  EXPECT_GT(expected["below"].get<std::uint64_t>(), 0u);
  EXPECT_GT(expected["above"].get<std::uint64_t>(), 0u);

  // Group keys of whole numbers are their decimal text ("0", "52").
  auto group_means = [&](const std::string& by, const std::vector<std::string>& columns) {
    std::size_t b = data.at(by);
    std::map<std::string, std::map<std::string, std::pair<long double, std::size_t>>> sums;
    for (const auto& row : data.rows) {
      EXPECT_EQ(row[b], std::floor(row[b])) << by;
      auto key = std::to_string(static_cast<long long>(row[b]));
      for (const auto& column : columns) {
        auto& [sum, n] = sums[key][column];
        sum += row[data.at(column)];
        ++n;
      }
    }
    json groups = json::object();
    for (const auto& [key, cols] : sums)
      for (const auto& [column, sn] : cols) groups[key][column] = static_cast<double>(sn.first / sn.second);
    return json{{"groups", groups}};
  };
  auto by_class = both({{"kind", "group_mean"}, {"by", "MedHouseValDiscrete"}, {"columns", {"MedInc", "HouseAge"}}});
  expect_close(by_class.federated, group_means("MedHouseValDiscrete", {"MedInc", "HouseAge"}), 1e-9);
  auto by_age = both({{"kind", "group_mean"}, {"by", "HouseAge"}, {"columns", {"MedInc", "AveRooms"}}});
  auto oracle = group_means("HouseAge", {"MedInc", "AveRooms"});
  EXPECT_EQ(oracle["groups"].size(), 52u);
  expect_close(by_age.federated, oracle, 1e-9);
}

TEST(JobsOperations, WhereFiltersRowsOnEveryDatasource) {
  json where = {{">=", {{{"var", "HouseAge"}}, 30}}};
  auto r = both({{"kind", "count"}}, where);
  EXPECT_EQ(r.federated, r.single);
  EXPECT_LT(r.federated["count"].get<int>(), 20'640);
  EXPECT_GT(r.federated["count"].get<int>(), 0);
}

TEST(JobsOperations, LinearRegressionEqualsTheSingleSiteSolution) {
  std::vector<std::string> features = {"MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population", "AveOccup"};
  auto r = both({{"kind", "linear_regression"}, {"target", "Latitude"}, {"features", features}});
  expect_close(r.federated, r.single, 1e-6);
  EXPECT_EQ(r.federated["n"], 20'640);
  // Against an independent fit: normal equations in long double over the whole file.
  const Table& t = load("california.csv");
  std::size_t k = features.size() + 1;
  std::vector<std::vector<long double>> a(k, std::vector<long double>(k + 1, 0));
  for (std::size_t row = 0; row < t.rows; ++row) {
    std::vector<long double> x(k, 1);
    for (std::size_t j = 0; j < features.size(); ++j) x[j + 1] = t.find(features[j])->numbers[row];
    long double y = t.find("Latitude")->numbers[row];
    for (std::size_t i = 0; i < k; ++i) {
      for (std::size_t j = 0; j < k; ++j) a[i][j] += x[i] * x[j];
      a[i][k] += x[i] * y;
    }
  }
  for (std::size_t c = 0; c < k; ++c)  // Gauss-Jordan
    for (std::size_t r2 = 0; r2 < k; ++r2) {
      if (r2 == c) continue;
      long double f = a[r2][c] / a[c][c];
      for (std::size_t j = c; j <= k; ++j) a[r2][j] -= f * a[c][j];
    }
  const json& coef = r.federated["coefficients"];
  EXPECT_NEAR(coef["intercept"].get<double>(), static_cast<double>(a[0][k] / a[0][0]),
              1e-6 * std::abs(static_cast<double>(a[0][k] / a[0][0])));
  for (std::size_t j = 0; j < features.size(); ++j) {
    double expected = static_cast<double>(a[j + 1][k] / a[j + 1][j + 1]);
    EXPECT_NEAR(coef[features[j]].get<double>(), expected, 1e-6 * std::abs(expected)) << features[j];
  }
  EXPECT_GT(r.federated["r2"].get<double>(), 0);
  EXPECT_LT(r.federated["r2"].get<double>(), 1);
}

TEST(JobsOperations, LogisticRegressionByFederatedAveragingMatchesOneSite) {
  json spec = {{"kind", "logistic_regression"},
               {"target", "MedHouseValDiscrete"},
               {"features", {"MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population", "AveOccup"}},
               {"rounds", 20},
               {"learning_rate", 0.5}};
  auto r = both(spec);
  // One local epoch per round: federated averaging is the same gradient step as one site's.
  expect_close(r.federated["result"], r.single["result"], 1e-6);
  const json& acc = r.federated["result"]["accuracy"];
  ASSERT_EQ(acc.size(), 20u);
  EXPECT_GT(acc.back().get<double>(), 0.7);
  const json& loss = r.federated["result"]["loss"];
  EXPECT_LT(loss.back().get<double>(), loss.front().get<double>());
  EXPECT_EQ(r.federated["model"]["kind"], "logistic_regression");
}

TEST(JobsOperations, RandomForestsMergeAndEvaluateWithoutMovingRows) {
  json spec = {{"kind", "random_forest"},
               {"target", "MedHouseValDiscrete"},
               {"features", {"MedInc", "HouseAge", "AveRooms", "Latitude", "Longitude"}},
               {"trees_per_datasource", 4},
               {"max_depth", 6}};
  auto op = parse_operation(spec);
  ASSERT_TRUE(op);
  auto merged = run(*op, {splits()[0], splits()[1]});
  EXPECT_EQ(merged["result"]["trees"], 8);
  auto eval = parse_operation({{"kind", "evaluate"}, {"model", "job-x"}});
  ASSERT_TRUE(eval);
  // The evaluation's input is the model; two halves of the validation rows combine to the whole.
  const Table& v = load(splits()[2]);
  std::vector<std::size_t> all(v.rows), first, second;
  for (std::size_t i = 0; i < v.rows; ++i) (i < v.rows / 2 ? first : second).push_back(all[i] = i);
  auto whole = compute_partial(*eval, merged["model"], v, all);
  auto a = compute_partial(*eval, merged["model"], v, first);
  auto b = compute_partial(*eval, merged["model"], v, second);
  ASSERT_TRUE(whole && a && b) << (whole ? "" : whole.error().message());
  json state;
  auto one = combine_round(*eval, 0, merged["model"], {*whole}, state);
  auto two = combine_round(*eval, 0, merged["model"], {*a, *b}, state);
  ASSERT_TRUE(one && two);
  EXPECT_EQ(one->result, two->result);
  EXPECT_GT(one->result["accuracy"].get<double>(), 0.75);
}

TEST(JobsOperations, BadOperationsAreRefusedNamingTheField) {
  auto refused = [](const json& spec, const std::string& why) {
    auto op = parse_operation(spec);
    ASSERT_FALSE(op) << spec;
    EXPECT_NE(op.error().message().find(why), std::string::npos) << op.error().message();
  };
  refused(json::array(), "'operation' must be an object");
  refused({{"kind", "median"}}, "unknown operation kind 'median'");
  refused({{"kind", "mean"}}, "'columns' must list");
  refused({{"kind", "mean"}, {"columns", {"a", "a"}}}, "names 'a' twice");
  refused({{"kind", "count"}, {"column", "a"}}, "'column' is not known for kind 'count'");
  refused({{"kind", "histogram"}, {"column", "a"}, {"bins", {3, 1}}}, "increasing");
  refused({{"kind", "logistic_regression"}, {"target", "y"}, {"features", {"a"}}, {"rounds", 0}}, "'rounds'");
  refused({{"kind", "linear_regression"}, {"target", "a"}, {"features", {"a"}}}, "cannot also be a feature");
  refused({{"kind", "evaluate"}}, "'model'");
}

TEST(JobsOperations, PartialsOfTheWrongShapeAreRefused) {
  auto op = parse_operation({{"kind", "mean"}, {"columns", {"MedInc"}}});
  ASSERT_TRUE(op);
  for (const json& bad :
       {json::array(), json{{"n", -1}}, json{{"n", 3}, {"columns", {{"MedInc", {1, 2}}}}},
        json{{"n", 3}, {"columns", json::object()}}, json{{"n", 3}, {"columns", {{"MedInc", {1, 2, -5}}}}}})
    EXPECT_FALSE(check_partial(*op, 0, json::object(), bad)) << bad;
  auto lin = parse_operation({{"kind", "linear_regression"}, {"target", "y"}, {"features", {"x"}}});
  ASSERT_TRUE(lin);
  EXPECT_FALSE(
      check_partial(*lin, 0, json::object(), {{"n", 2}, {"xtx", {{1, 2}}}, {"xty", {1, 2}}, {"yty", 1}, {"sy", 1}}));
  EXPECT_TRUE(check_partial(*lin, 0, json::object(),
                            {{"n", 1}, {"xtx", {{1, 2}, {2, 4}}}, {"xty", {1, 2}}, {"yty", 1}, {"sy", 1}}));
  auto count = parse_operation({{"kind", "count"}});
  EXPECT_FALSE(check_partial(*count, 0, json::object(), {{"n", "many"}}));
}

TEST(JobsOperations, AColumnThatIsNotNumericIsRefusedAtTheClient) {
  auto t = parse_table("city,n\nBern,1\nLee,2\n", ',', "c.csv");
  ASSERT_TRUE(t);
  auto op = parse_operation({{"kind", "mean"}, {"columns", {"city"}}});
  auto rows = select_rows(*t, nullptr);
  auto p = compute_partial(*op, json::object(), *t, *rows);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message().find("column 'city' is not numeric"), std::string::npos);
  auto unknown = parse_operation({{"kind", "mean"}, {"columns", {"nope"}}});
  EXPECT_FALSE(compute_partial(*unknown, json::object(), *t, *rows));
}

TEST(JobsOperations, HostileNumbersAndModelsAreRefusedNotUndefined) {
  auto mean = parse_operation({{"kind", "mean"}, {"columns", {"MedInc"}}});
  EXPECT_FALSE(check_partial(*mean, 0, json::object(),
                             {{"n", 9223372036854775807LL}, {"columns", {{"MedInc", {9.2e18, 1, 0}}}}}));
  auto count = parse_operation({{"kind", "count"}});
  EXPECT_FALSE(check_partial(*count, 0, json::object(), {{"n", 9223372036854775807LL}}));
  auto eval = parse_operation({{"kind", "evaluate"}, {"model", "m"}});
  const Table& t = load(splits()[2]);
  std::vector<std::size_t> rows = {0, 1, 2};
  for (const json& model : {json{{"kind", "logistic_regression"}, {"target", "MedHouseValDiscrete"}},
                            json{{"kind", "logistic_regression"}, {"target", "MedHouseValDiscrete"}, {"features", {1}}},
                            json{{"kind", "random_forest"}, {"target", "MedHouseValDiscrete"}}, json::array()})
    EXPECT_FALSE(compute_partial(*eval, model, t, rows)) << model;
  // Coefficients that overflow score NaN: counted as 0.5, never cast.
  json nan_model = {{"kind", "logistic_regression"},
                    {"target", "MedHouseValDiscrete"},
                    {"features", {"MedInc", "HouseAge"}},
                    {"coefficients", {1e308, 1e308, -1e308}}};
  auto p = compute_partial(*eval, nan_model, t, rows);
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ((*p)["n"], 3);
}

// ---- decoding a result body, and the invariants of each kind of partial ----

Operation op_of(const json& spec) {
  auto op = parse_operation(spec);
  EXPECT_TRUE(op) << op.error().message();
  return *op;
}

// check_partial refuses `partial` (over a datasource of `rows` rows) with a message
// holding `why`.
void refused(const Operation& op, const json& partial, const std::string& why, std::uint64_t rows = 1000, int round = 0,
             const json& input = json::object()) {
  auto s = check_partial(op, round, input, partial, rows);
  ASSERT_FALSE(s) << op.kind << ": " << partial;
  EXPECT_EQ(s.error().code(), ErrorCode::invalid_argument);
  EXPECT_NE(s.error().message().find(why), std::string::npos) << op.kind << ": " << s.error().message();
}

void accepted(const Operation& op, const json& partial, std::uint64_t rows = 1000, int round = 0,
              const json& input = json::object()) {
  auto s = check_partial(op, round, input, partial, rows);
  EXPECT_TRUE(s) << op.kind << ": " << partial << ": " << (s ? "" : s.error().message());
}

TEST(JobsPartials, BoundedDecodingBuildsWhatParseBuildsWithinItsBudget) {
  const std::string text = R"({"a": [1, -2, 3.5, "x", null, true, {"b": {}}], "c": {"d": [[]]}, "c": 7})";
  auto decoded = decode_bounded_json(text, JsonBudget{});
  ASSERT_TRUE(decoded) << decoded.error().message();
  EXPECT_EQ(*decoded, json::parse(text));  // the last duplicate key wins, as with parse
  EXPECT_EQ((*decoded)["a"][1].get<std::int64_t>(), -2);

  auto elements = decode_bounded_json(R"({"a": {"b": [[1, 2, 3]]}})", JsonBudget{8, 100, 2});
  ASSERT_FALSE(elements);
  EXPECT_EQ(elements.error().code(), ErrorCode::payload_too_large);
  EXPECT_NE(elements.error().message().find("more than 2 elements in a.b[0]"), std::string::npos)
      << elements.error().message();
  auto members = decode_bounded_json(R"({"a": 1, "b": 2, "c": 3})", JsonBudget{8, 100, 2});
  ASSERT_FALSE(members);
  EXPECT_NE(members.error().message().find("more than 2 members in the body"), std::string::npos)
      << members.error().message();
  auto values = decode_bounded_json("[[1, 2], [3, 4]]", JsonBudget{8, 5, 100});
  ASSERT_FALSE(values);
  EXPECT_NE(values.error().message().find("more than 5 JSON values"), std::string::npos) << values.error().message();
  auto deep = decode_bounded_json("[[[[1]]]]", JsonBudget{3, 100, 100});
  ASSERT_FALSE(deep);
  EXPECT_EQ(deep.error().code(), ErrorCode::bad_json);
  EXPECT_NE(deep.error().message().find("deeper than 3"), std::string::npos);
  for (const char* bad : {"{", "[1,]", "{\"a\" 1}", "1 2", "", "1e999", "\"\\ud800\""}) {
    auto r = decode_bounded_json(bad, JsonBudget{});
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::bad_json) << bad << ": " << r.error().message();
  }
}

TEST(JobsPartials, DecodingIsLinearInTheObjectsOfOneArray) {
  // nlohmann's callback parser (core's parse_json) rescans an array after each object it
  // closes: 100,000 objects took 15 s there. One pass here, well within the deadline.
  std::string text = "[";
  for (int i = 0; i < 200'000; ++i) text += i == 0 ? "{}" : ",{}";
  text += "]";
  auto started = std::chrono::steady_clock::now();
  auto decoded = decode_bounded_json(text, JsonBudget{4, 1 << 20, 1 << 20});
  ASSERT_TRUE(decoded) << decoded.error().message();
  EXPECT_EQ(decoded->size(), 200'000u);
  // A deadline, not a timing: generous for sanitizers, still well short of the quadratic minute.
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(30));
}

TEST(JobsPartials, AResultBodyIsRefusedOverItsSizeBeforeItIsRead) {
  std::string body(kMaxResultBytes + 1, ' ');
  auto r = decode_result(body);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::payload_too_large);
  EXPECT_NE(r.error().message().find("bytes; at most " + std::to_string(kMaxResultBytes)), std::string::npos);
  EXPECT_EQ(decode_result("[1]").error().code(), ErrorCode::bad_json);  // not an object
  EXPECT_TRUE(decode_result(R"({"task": "t", "lease": "l", "result": {"n": 1}})"));
}

TEST(JobsPartials, AClientChecksItsPartialAgainstTheDecodingBudget) {
  EXPECT_TRUE(check_result_budget({{"n", 3}, {"columns", {{"x", {3, 1.5, 2}}}}}));
  json wide = {{"counts", json::array()}};
  for (std::size_t i = 0; i <= kResultBudget.members; ++i) wide["counts"].push_back(1);
  auto refused = check_result_budget(wide);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::payload_too_large);
  EXPECT_NE(refused.error().message().find("an array or object of 32768 elements"), std::string::npos)
      << refused.error().message();
  // What the aggregator's decoder says of the same body, it says first.
  auto body = decode_result(json{{"task", "t"}, {"lease", "l"}, {"result", wide}}.dump());
  EXPECT_EQ(body.error().code(), ErrorCode::payload_too_large);
  json deep = 1;
  for (int i = 0; i < 8; ++i) deep = json::array({deep});
  EXPECT_FALSE(check_result_budget(deep));  // 8 levels under the body's one: 9 in all
  EXPECT_FALSE(decode_result(json{{"result", deep}}.dump()));
  json fits = 1;
  for (int i = 0; i < 7; ++i) fits = json::array({fits});
  EXPECT_TRUE(check_result_budget(fits));
  EXPECT_TRUE(decode_result(json{{"task", "t"}, {"lease", "l"}, {"result", fits}}.dump()));
}

TEST(JobsPartials, CountsAndMomentsStayWithinTheirRows) {
  auto count = op_of({{"kind", "count"}});
  accepted(count, {{"n", 1000}});
  refused(count, {{"n", 1001}}, "'n' is 1001, more than the datasource's 1000 rows");
  refused(count, {{"n", 1}, {"extra", 0}}, "unknown field 'extra'");
  refused(count, json::object(), "'n' is missing");

  auto mean = op_of({{"kind", "mean"}, {"columns", {"x", "y"}}});
  accepted(mean, {{"n", 3}, {"columns", {{"x", {3, 1.5, 2}}, {"y", {0, 0, 0}}}}});
  refused(mean, {{"n", 3}, {"columns", {{"x", {5, 1.5, 2}}, {"y", {0, 0, 0}}}}},
          "the count of column 'x' is 5, more than the rows selected ('n') (3)");
  refused(mean, {{"n", 3}, {"columns", {{"x", {3, 1.5, 2}}, {"y", {0, 0, 0}}, {"ssn", {3, 123456789, 0}}}}},
          "'columns' holds column 'ssn', which the job did not ask for");
  refused(mean, {{"n", 3}, {"columns", {{"x", {3, 1.5, 2}}}}}, "'columns' has no entry for column 'y'");
  refused(mean, {{"n", 3}, {"columns", {{"x", {0, 4, 0}}, {"y", {0, 0, 0}}}}}, "count no value but have a mean");
  refused(mean, {{"n", 3}, {"columns", {{"x", {1, 4, 0.5}}, {"y", {0, 0, 0}}}}}, "count one value but have an m2");
  refused(mean, {{"n", 3}, {"columns", {{"x", {2.5, 4, 0.5}}, {"y", {0, 0, 0}}}}}, "is not a whole number");
  refused(mean, {{"n", 3}, {"columns", {{"x", {3, 4, -0.5}}, {"y", {0, 0, 0}}}}}, "a sum of squares is never negative");
  refused(mean, {{"n", 3}, {"columns", {{"x", {3, 1.5, 2}}, {"y", {0, 0, 0}}}}, {"rows", {1, 2}}},
          "unknown field 'rows'");

  auto variance = op_of({{"kind", "variance"}, {"columns", {"x"}}});
  refused(variance, {{"n", 2000}, {"columns", {{"x", {3, 1.5, 2}}}}}, "more than the datasource's 1000 rows");

  // The statistics round of a logistic regression reads only rows holding every feature.
  auto logistic = op_of({{"kind", "logistic_regression"}, {"target", "t"}, {"features", {"x"}}});
  accepted(logistic, {{"n", 3}, {"columns", {{"x", {3, 1.5, 2}}}}});
  refused(logistic, {{"n", 3}, {"columns", {{"x", {2, 1.5, 2}}}}}, "counts every row it reads");
}

TEST(JobsPartials, MinMaxHistogramsAndGroupsAreConsistent) {
  auto mm = op_of({{"kind", "min_max"}, {"columns", {"x", "y"}}});
  accepted(mm, {{"min", {{"x", -1}, {"y", nullptr}}}, {"max", {{"x", 4}, {"y", nullptr}}}});
  refused(mm, {{"min", {{"x", 5}, {"y", nullptr}}}, {"max", {{"x", 4}, {"y", nullptr}}}},
          "the min of column 'x' (5) is greater than its max (4)");
  refused(mm, {{"min", {{"x", 1}, {"y", nullptr}}}, {"max", {{"x", 4}, {"y", 3}}}}, "a min or a max but not both");
  refused(mm, {{"min", {{"x", 1}, {"y", 0}, {"z", 0}}}, {"max", {{"x", 4}, {"y", 3}}}},
          "which the job did not ask for");

  auto hist = op_of({{"kind", "histogram"}, {"column", "x"}, {"bins", {0, 1, 2}}});
  accepted(hist, {{"counts", {400, 500}}, {"below", 50}, {"above", 50}});
  refused(hist, {{"counts", {400, 500}}, {"below", 50}, {"above", 51}},
          "count more values than the datasource's 1000 rows");
  refused(hist, {{"counts", {400, 500, 1}}, {"below", 0}, {"above", 0}}, "must hold 2 counts");

  auto groups = op_of({{"kind", "group_count"}, {"by", "g"}});
  accepted(groups, {{"groups", {{"north", 3}, {"52", 1}}}});
  refused(groups, {{"groups", {{"north", 3}, {"south", 0}}}}, "the count of group 'south' is 0");
  refused(groups, {{"groups", {{"", 3}}}}, "a group's key is empty");
  refused(groups, {{"groups", {{"north", 600}, {"south", 401}}}}, "the groups count more rows than the datasource's");
  refused(groups, {{"groups", {{"a", 1}, {"b", 1}, {"c", 1}}}}, "3 groups, more than the datasource's 2 rows", 2);

  auto group_mean = op_of({{"kind", "group_mean"}, {"by", "g"}, {"columns", {"x"}}});
  accepted(group_mean, {{"groups", {{"north", {{"x", {2, 1.5, 0.5}}}}, {"south", {{"x", {0, 0, 0}}}}}}});
  refused(group_mean, {{"groups", {{"north", {{"x", {2, 1.5, 0.5}}, {"y", {1, 1, 0}}}}}}},
          "group 'north' holds column 'y', which the job did not ask for");
  refused(group_mean, {{"groups", {{"north", {{"x", {700, 1.5, 0.5}}}}, {"south", {{"x", {400, 1, 0}}}}}}},
          "the groups count more values of column 'x' than the datasource's 1000 rows");
}

TEST(JobsPartials, LinearRegressionSumsFormASymmetricGramMatrix) {
  auto lin = op_of({{"kind", "linear_regression"}, {"target", "y"}, {"features", {"x"}}});
  // Rows (x, y): (1, 2), (2, 3), (3, 5).
  const json good = {{"n", 3}, {"xtx", {{3, 6}, {6, 14}}}, {"xty", {10, 23}}, {"yty", 38}, {"sy", 10}};
  accepted(lin, good);
  json bad = good;
  bad["xtx"][1][0] = 7;
  refused(lin, bad, "'xtx' is not symmetric: [1][0] is 7 but [0][1] is 6");
  bad = good;
  bad["xtx"][0][0] = 4;
  refused(lin, bad, "'xtx'[0][0] (4) is not 'n' (3)");
  bad = good;
  bad["xty"][0] = 11;
  refused(lin, bad, "both are the sum of y");
  bad = good;
  bad["xtx"][0][1] = bad["xtx"][1][0] = 60;  // (Σx)² > n Σx²
  refused(lin, bad, "'xtx'[1][0] is larger than its row and column allow");
  bad = good;
  bad["yty"] = 1;
  refused(lin, bad, "'xty'[0] is larger than 'xtx' and 'yty' allow");
  bad = good;
  bad["xtx"][1][1] = -14;
  refused(lin, bad, "a sum of squares is never negative");
  refused(lin, {{"n", 0}, {"xtx", {{0, 0}, {0, 5}}}, {"xty", {0, 0}}, {"yty", 0}, {"sy", 0}}, "sums over no row are 0");
  refused(lin, {{"n", 2000}, {"xtx", {{2000, 0}, {0, 5}}}, {"xty", {0, 0}}, {"yty", 0}, {"sy", 0}},
          "more than the datasource's 1000 rows");
}

TEST(JobsPartials, LogisticRoundsStayWithinTheirRowsAndLoss) {
  auto lr = op_of({{"kind", "logistic_regression"}, {"target", "t"}, {"features", {"x"}}, {"standardize", false}});
  const json input = first_input(lr);
  accepted(lr, {{"n", 6}, {"weights", {0.1, -0.2}}, {"loss", 0.69}, {"correct", 4}}, 1000, 0, input);
  refused(lr, {{"n", 6}, {"weights", {0.1, -0.2}}, {"loss", 0.69}, {"correct", 7}}, "'correct' (7) exceeds 'n' (6)",
          1000, 0, input);
  refused(lr, {{"n", 6}, {"weights", {0.1, -0.2}}, {"loss", 99}, {"correct", 4}}, "a mean log loss is from 0 to", 1000,
          0, input);
  refused(lr, {{"n", 6}, {"weights", {0.1, -0.2}}, {"loss", -1}, {"correct", 4}}, "a mean log loss", 1000, 0, input);
  refused(lr, {{"n", 0}, {"weights", {0.5, 0}}, {"loss", 0}, {"correct", 0}}, "with no row they are the round's input",
          1000, 0, input);
  refused(lr, {{"n", 6}, {"weights", {0.1}}, {"loss", 0.69}, {"correct", 4}}, "'weights' must hold 2 finite numbers",
          1000, 0, input);
}

TEST(JobsPartials, ForestPartialsHoldTheTreesTheJobAskedFor) {
  auto rf = op_of({{"kind", "random_forest"},
                   {"target", "t"},
                   {"features", {"x", "y"}},
                   {"trees_per_datasource", 2},
                   {"max_depth", 2}});
  const json stump = json::array({{{"f", 0}, {"t", 1.5}, {"l", 1}, {"r", 2}}, {{"p", 0}}, {{"p", 1}}});
  const json leaf = json::array({{{"p", 0.5}}});
  json good = {{"n", 10}, {"forest", {{"features", {"x", "y"}}, {"trees", {stump, leaf}}}}};
  accepted(rf, good);
  json bad = good;
  bad["forest"]["trees"].push_back(leaf);
  refused(rf, bad, "the job asked for 2 trees per datasource; this forest has 3");
  bad = good;
  bad["forest"]["features"] = {"y", "x"};
  refused(rf, bad, "other features than the job's");
  bad = good;
  bad["forest"]["pickle"] = "gASV";
  refused(rf, bad, "'forest' must be");
  bad = good;
  bad["n"] = 0;
  refused(rf, bad, "a forest grows on one row at least");
  bad = good;
  bad["n"] = 1001;
  refused(rf, bad, "more than the datasource's 1000 rows");
  // Depth 3 where the job's max_depth is 2.
  json deep = json::array({{{"f", 0}, {"t", 1}, {"l", 1}, {"r", 2}},
                           {{"p", 0}},
                           {{"f", 1}, {"t", 1}, {"l", 3}, {"r", 4}},
                           {{"p", 0}},
                           {{"f", 0}, {"t", 2}, {"l", 5}, {"r", 6}},
                           {{"p", 0}},
                           {{"p", 1}}});
  bad = good;
  bad["forest"]["trees"][0] = deep;
  refused(rf, bad, "tree 0 node 4 is at depth 2: its children would be deeper than 2 (max_depth)");
}

TEST(JobsPartials, EvaluationsAddUp) {
  auto eval = op_of({{"kind", "evaluate"}, {"model", "job-x"}});
  std::vector<std::uint64_t> pos(1000, 0), neg(1000, 0);
  pos[900] = 2;
  neg[100] = 3;
  json good = {{"n", 5}, {"tp", 2}, {"fp", 0}, {"tn", 3}, {"fn", 0}, {"pos", pos}, {"neg", neg}};
  accepted(eval, good);
  json bad = good;
  bad["rows"] = json::array({1, 2});
  refused(eval, bad, "unknown field 'rows'");
  bad = good;
  bad["tn"] = 4;
  refused(eval, bad, "n is not tp + fp + tn + fn");
  refused(eval, good, "more than the datasource's 4 rows", 4);
}

}  // namespace
}  // namespace fedmesh::jobs
