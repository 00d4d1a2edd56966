// Federated jobs' pure halves: the bounded CSV reader, operations split into partials and
// combines, and the promise that matters most: combining the three California splits'
// partials equals the same computation over the whole file.
#include <gtest/gtest.h>

#include <cmath>

#include "jobs/operations.hpp"
#include "jobs/table.hpp"
#include "support/harness.hpp"
#include "support/json_close.hpp"

namespace fedmesh::jobs {
namespace {

using json = nlohmann::json;
using testing::expect_close;

std::string california(const std::string& file) {
  return testing::source_dir() + "/../shared/data/california/" + file;
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
      EXPECT_TRUE(check_partial(op, round, input, *p));
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

}  // namespace
}  // namespace fedmesh::jobs
