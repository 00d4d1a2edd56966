// The random forest: learning, determinism, model validation, merging, and the split
// evaluation (partials per datasource, then a combine) agreeing with a whole evaluation;
// the node budget, kept by the grower and enforced while a partial is decoded and checked.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "jobs/forest.hpp"
#include "jobs/operations.hpp"
#include "jobs/partial_check.hpp"
#include "jobs/table.hpp"
#include "support/forest_shapes.hpp"

namespace fedmesh::jobs {
namespace {

using fedmesh::testing::heap_tree;
using nlohmann::json;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

Column number_column(std::string name, std::vector<double> values) {
  Column column;
  column.name = std::move(name);
  column.type = ColumnType::number;
  column.numbers = std::move(values);
  return column;
}

Column string_column(std::string name, std::vector<std::string> values) {
  Column column;
  column.name = std::move(name);
  column.type = ColumnType::string;
  column.present.assign(values.size(), 1);
  column.texts = std::move(values);
  return column;
}

Table make_table(std::vector<Column> columns) {
  Table table;
  table.source = "test.csv";
  table.rows =
      columns.front().type == ColumnType::number ? columns.front().numbers.size() : columns.front().texts.size();
  table.columns = std::move(columns);
  return table;
}

std::vector<std::size_t> row_range(std::size_t begin, std::size_t end) {
  std::vector<std::size_t> rows;
  for (std::size_t r = begin; r < end; ++r) rows.push_back(r);
  return rows;
}

// Uniform in [0, 1), the same on every platform.
double uniform(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

// x1 decides the class with a gap (class 0 below 0.4, class 1 above 0.6); x2 is noise.
Table separable_table(std::size_t n) {
  std::mt19937_64 rng(7);
  std::vector<double> x1, x2, y;
  for (std::size_t i = 0; i < n; ++i) {
    const bool positive = i % 2 == 1;
    x1.push_back(positive ? 0.6 + 0.4 * uniform(rng) : 0.4 * uniform(rng));
    x2.push_back(uniform(rng));
    y.push_back(positive ? 1 : 0);
  }
  return make_table({number_column("x1", x1), number_column("x2", x2), number_column("y", y)});
}

// Three features, the class a noisy function of two of them, and some missing cells.
Table noisy_table(std::size_t n) {
  std::mt19937_64 rng(11);
  std::vector<double> a, b, c, y;
  for (std::size_t i = 0; i < n; ++i) {
    a.push_back(uniform(rng));
    b.push_back(std::floor(uniform(rng) * 5));  // few distinct values
    c.push_back(uniform(rng) * 100);
    const double signal = a.back() + 0.1 * b.back() + 0.3 * (uniform(rng) - 0.5);
    y.push_back(signal > 0.7 ? 1 : 0);
  }
  a[3] = kNaN;  // skipped when growing, scored (going right) when evaluating
  y[5] = kNaN;  // skipped by both
  return make_table({number_column("a", a), number_column("b", b), number_column("c", c), number_column("y", y)});
}

std::vector<double> predictions(const Forest& forest, const Table& table) {
  auto columns = forest.bind(table);
  EXPECT_TRUE(columns.ok());
  std::vector<double> scores;
  for (std::size_t r = 0; r < table.rows; ++r) scores.push_back(forest.predict(*columns, r));
  return scores;
}

// A valid model of two features: one split on feature 1 at 0.5 and two leaves.
json small_model() {
  return json::parse(R"({"features": ["a", "b"],
                         "trees": [[{"f": 1, "t": 0.5, "l": 1, "r": 2}, {"p": 0.25}, {"p": 1}]]})");
}

std::string rejection(const json& model) {
  auto forest = Forest::from_json(model);
  EXPECT_FALSE(forest.ok()) << model.dump();
  if (forest.ok()) return {};
  EXPECT_EQ(forest.error().code(), ErrorCode::invalid_argument);
  return forest.error().message();
}

json partial(std::vector<std::uint64_t> pos, std::vector<std::uint64_t> neg, std::uint64_t tp, std::uint64_t fp,
             std::uint64_t tn, std::uint64_t fn) {
  return json{{"n", tp + fp + tn + fn}, {"tp", tp}, {"fp", fp}, {"tn", tn}, {"fn", fn}, {"pos", pos}, {"neg", neg}};
}

TEST(Forest, LearnsSeparableDataPerfectly) {
  Table table = separable_table(400);
  ForestOptions options;
  options.max_features = 2;  // every split sees x1
  auto forest = grow_forest(table, row_range(0, table.rows), {"x1", "x2"}, "y", options);
  ASSERT_TRUE(forest.ok()) << forest.error().message();
  EXPECT_EQ(forest->trees(), 10u);
  EXPECT_EQ(forest->features(), (std::vector<std::string>{"x1", "x2"}));
  auto scores = predictions(*forest, table);
  for (std::size_t r = 0; r < table.rows; ++r) EXPECT_EQ(scores[r], table.columns[2].numbers[r]) << "row " << r;

  auto metrics = evaluate_combine({*evaluate_partial(*forest, table, row_range(0, table.rows), "y")});
  ASSERT_TRUE(metrics.ok()) << metrics.error().message();
  EXPECT_EQ((*metrics)["n"], 400);
  EXPECT_EQ((*metrics)["accuracy"], 1.0);
  EXPECT_EQ((*metrics)["precision"], 1.0);
  EXPECT_EQ((*metrics)["recall"], 1.0);
  EXPECT_EQ((*metrics)["auc"], 1.0);

  // With at most 64 distinct values a node tries every midpoint, so a stump splits in the
  // gap and its two leaves are pure. (Above 64 it tries 64 quantiles and may need more depth.)
  Table small = separable_table(60);
  options.max_depth = 1;
  auto stumps = grow_forest(small, row_range(0, small.rows), {"x1", "x2"}, "y", options);
  ASSERT_TRUE(stumps.ok());
  const json stump_model = stumps->to_json();  // kept alive: the loop walks inside it
  for (const auto& tree : stump_model["trees"]) {
    ASSERT_EQ(tree.size(), 3u);
    EXPECT_EQ(tree[0]["f"], 0);
    EXPECT_GT(tree[0]["t"].get<double>(), 0.4);
    EXPECT_LT(tree[0]["t"].get<double>(), 0.6);
    EXPECT_EQ(tree[1]["p"], 0.0);
    EXPECT_EQ(tree[2]["p"], 1.0);
  }
  EXPECT_EQ(predictions(*stumps, small), small.columns[2].numbers);
}

TEST(Forest, IsDeterministicAndRoundTrips) {
  Table table = noisy_table(600);
  ForestOptions options;
  options.trees = 5;
  options.seed = 42;
  auto first = grow_forest(table, row_range(0, table.rows), {"a", "b", "c"}, "y", options);
  auto second = grow_forest(table, row_range(0, table.rows), {"a", "b", "c"}, "y", options);
  ASSERT_TRUE(first.ok()) << first.error().message();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(first->to_json().dump(), second->to_json().dump());

  options.seed = 43;
  auto other = grow_forest(table, row_range(0, table.rows), {"a", "b", "c"}, "y", options);
  ASSERT_TRUE(other.ok());
  EXPECT_NE(first->to_json().dump(), other->to_json().dump());

  // Children come after their parent, and the JSON reads back to the same predictions.
  const json first_model = first->to_json();
  for (const auto& tree : first_model["trees"]) {
    for (std::size_t i = 0; i < tree.size(); ++i) {
      if (tree[i].contains("f")) {
        EXPECT_GT(tree[i]["l"].get<std::size_t>(), i);
        EXPECT_GT(tree[i]["r"].get<std::size_t>(), i);
      }
    }
  }
  auto parsed = Forest::from_json(json::parse(first->to_json().dump()));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed->to_json(), first->to_json());
  EXPECT_EQ(predictions(*parsed, table), predictions(*first, table));
}

TEST(Forest, PredictSendsMissingValuesRight) {
  auto forest = Forest::from_json(small_model());
  ASSERT_TRUE(forest.ok()) << forest.error().message();
  Table table = make_table({number_column("a", {0, 0, 0}), number_column("b", {0.5, 0.7, kNaN})});
  EXPECT_EQ(predictions(*forest, table), (std::vector<double>{0.25, 1, 1}));
}

TEST(Forest, FromJsonRejectsMalformedModels) {
  json model = small_model();
  ASSERT_TRUE(Forest::from_json(model).ok());

  json bad = model;
  bad["trees"][0][0]["l"] = 7;
  EXPECT_NE(rejection(bad).find("tree 0 node 0: left child 7 is out of range"), std::string::npos) << rejection(bad);

  bad = model;
  bad["trees"][0][0]["r"] = 0;
  EXPECT_NE(rejection(bad).find("right child 0 does not come after its parent"), std::string::npos) << rejection(bad);

  bad = model;
  bad["trees"][0][2] = json::object();
  EXPECT_NE(rejection(bad).find("tree 0 node 2 has neither 'p'"), std::string::npos) << rejection(bad);

  bad = model;
  bad["trees"][0][1]["p"] = 1.5;
  EXPECT_NE(rejection(bad).find("not a number in [0, 1]"), std::string::npos) << rejection(bad);

  bad = model;
  bad["trees"][0][0]["f"] = 2;
  EXPECT_NE(rejection(bad).find("feature index 2 is out of range"), std::string::npos) << rejection(bad);

  bad = model;
  bad["trees"][0][0]["f"] = -1;
  EXPECT_NE(rejection(bad).find("feature index -1"), std::string::npos) << rejection(bad);

  bad = model;
  bad["trees"][0][0]["t"] = std::numeric_limits<double>::infinity();
  EXPECT_NE(rejection(bad).find("threshold 't'"), std::string::npos) << rejection(bad);

  bad = model;
  bad["trees"] = json::array();
  for (int i = 0; i < 5001; ++i) bad["trees"].push_back(model["trees"][0]);
  EXPECT_NE(rejection(bad).find("5001 trees; at most 5000"), std::string::npos) << rejection(bad);

  bad = model;
  bad["trees"][0] = json::array();
  for (int i = 0; i < 100'001; ++i) bad["trees"][0].push_back({{"p", 0}});
  EXPECT_NE(rejection(bad).find("100001 nodes"), std::string::npos) << rejection(bad);

  bad = model;
  bad["features"] = json::array({"a", "a"});
  EXPECT_NE(rejection(bad).find("'a' is listed twice"), std::string::npos) << rejection(bad);

  EXPECT_NE(rejection(json::array()).find("not an object"), std::string::npos);
  EXPECT_NE(rejection(json::parse(R"({"features": ["a"]})")).find("'trees'"), std::string::npos);
  EXPECT_NE(rejection(json::parse(R"({"features": ["a"], "trees": [[1]]})")).find("tree 0 node 0 is not an object"),
            std::string::npos);
  EXPECT_NE(rejection(json::parse(R"({"features": ["a"], "trees": []})")).find("no trees"), std::string::npos);
}

TEST(Forest, MergeAppendsTreesOfTheSameFeatures) {
  Table table = noisy_table(300);
  ForestOptions options;
  options.trees = 3;
  auto first = grow_forest(table, row_range(0, 150), {"a", "b", "c"}, "y", options);
  options.trees = 4;
  options.seed = 9;
  auto second = grow_forest(table, row_range(150, 300), {"a", "b", "c"}, "y", options);
  ASSERT_TRUE(first.ok() && second.ok());

  Forest merged;
  ASSERT_TRUE(merged.merge(*first).ok());  // an empty forest adopts the first
  ASSERT_TRUE(merged.merge(*second).ok());
  EXPECT_EQ(merged.trees(), 7u);
  json trees = first->to_json()["trees"];
  const json second_model = second->to_json();
  for (const auto& tree : second_model["trees"]) trees.push_back(tree);
  EXPECT_EQ(merged.to_json()["trees"], trees);
  EXPECT_EQ(merged.features(), first->features());

  // The merged score is the mean over all seven trees.
  auto a = predictions(*first, table), b = predictions(*second, table), m = predictions(merged, table);
  for (std::size_t r = 0; r < table.rows; ++r) EXPECT_NEAR(m[r], (3 * a[r] + 4 * b[r]) / 7, 1e-12);

  ASSERT_TRUE(merged.merge(merged).ok());  // merging with itself doubles the trees
  EXPECT_EQ(merged.trees(), 14u);

  auto different = grow_forest(table, row_range(0, 300), {"a", "c"}, "y", options);
  ASSERT_TRUE(different.ok());
  auto refused = merged.merge(*different);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::invalid_argument);
  EXPECT_NE(refused.error().message().find("different features"), std::string::npos) << refused.error().message();
  auto reordered = grow_forest(table, row_range(0, 300), {"a", "c", "b"}, "y", options);
  ASSERT_TRUE(reordered.ok());
  refused = merged.merge(*reordered);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("feature 1 is 'b' in one and 'c' in the other"), std::string::npos)
      << refused.error().message();
  EXPECT_EQ(merged.trees(), 14u);
}

TEST(Forest, PartialsOverHalvesEqualTheWholeEvaluation) {
  Table table = noisy_table(1000);
  auto forest = grow_forest(table, row_range(0, 700), {"a", "b", "c"}, "y", {});
  ASSERT_TRUE(forest.ok()) << forest.error().message();

  auto whole = evaluate_partial(*forest, table, row_range(0, 1000), "y");
  auto low = evaluate_partial(*forest, table, row_range(0, 400), "y");
  auto high = evaluate_partial(*forest, table, row_range(400, 1000), "y");
  ASSERT_TRUE(whole.ok() && low.ok() && high.ok());
  EXPECT_EQ((*whole)["n"], 999);  // row 5 has no target
  EXPECT_EQ((*whole)["pos"].size(), kScoreBins);

  auto combined = evaluate_combine({*low, *high});
  auto alone = evaluate_combine({*whole});
  ASSERT_TRUE(combined.ok()) << combined.error().message();
  ASSERT_TRUE(alone.ok());
  for (const char* key : {"n", "accuracy", "precision", "recall", "auc"}) EXPECT_EQ((*combined)[key], (*alone)[key]);

  // The counts agree with scoring the rows directly.
  auto scores = predictions(*forest, table);
  std::uint64_t tp = 0, fp = 0, tn = 0, fn = 0;
  for (std::size_t r = 0; r < table.rows; ++r) {
    const double y = table.columns[3].numbers[r];
    if (std::isnan(y)) continue;
    if (y == 1)
      ++(scores[r] >= 0.5 ? tp : fn);
    else
      ++(scores[r] >= 0.5 ? fp : tn);
  }
  EXPECT_EQ((*whole)["tp"], tp);
  EXPECT_EQ((*whole)["tn"], tn);
  EXPECT_DOUBLE_EQ((*alone)["accuracy"].get<double>(), static_cast<double>(tp + tn) / 999);
  EXPECT_DOUBLE_EQ((*alone)["precision"].get<double>(), static_cast<double>(tp) / static_cast<double>(tp + fp));
  EXPECT_DOUBLE_EQ((*alone)["recall"].get<double>(), static_cast<double>(tp) / static_cast<double>(tp + fn));
  EXPECT_GT((*alone)["auc"].get<double>(), 0.8);  // a real signal, scored partly out of sample
  EXPECT_LE((*alone)["auc"].get<double>(), 1.0);
}

TEST(Forest, AucOfPerfectAndConstantRankings) {
  std::vector<std::uint64_t> pos(kScoreBins, 0), neg(kScoreBins, 0);
  pos[900] = 30;
  neg[100] = 20;
  auto perfect = evaluate_combine({partial(pos, neg, 30, 0, 20, 0)});
  ASSERT_TRUE(perfect.ok()) << perfect.error().message();
  EXPECT_EQ((*perfect)["auc"], 1.0);
  EXPECT_EQ((*perfect)["accuracy"], 1.0);

  std::vector<std::uint64_t> same_pos(kScoreBins, 0), same_neg(kScoreBins, 0);
  same_pos[500] = 30;
  same_neg[500] = 20;
  auto constant = evaluate_combine({partial(same_pos, same_neg, 30, 20, 0, 0)});
  ASSERT_TRUE(constant.ok());
  EXPECT_EQ((*constant)["auc"], 0.5);
  EXPECT_EQ((*constant)["precision"], 0.6);
  EXPECT_EQ((*constant)["recall"], 1.0);

  // Reversed: every negative above every positive.
  auto reversed = evaluate_combine({partial(neg, pos, 0, 30, 0, 20)});
  ASSERT_TRUE(reversed.ok());
  EXPECT_EQ((*reversed)["auc"], 0.0);
  EXPECT_EQ((*reversed)["precision"], 0.0);
  EXPECT_EQ((*reversed)["accuracy"], 0.0);

  std::vector<std::uint64_t> none(kScoreBins, 0);
  auto one_class = evaluate_combine({partial(pos, none, 30, 0, 0, 0)});
  ASSERT_TRUE(one_class.ok());
  EXPECT_TRUE((*one_class)["auc"].is_null());  // no negatives: no ROC
  auto none_predicted = evaluate_combine({partial(neg, none, 0, 0, 0, 20)});
  ASSERT_TRUE(none_predicted.ok()) << none_predicted.error().message();
  EXPECT_TRUE((*none_predicted)["precision"].is_null());
  EXPECT_EQ((*none_predicted)["recall"], 0.0);
}

TEST(Forest, CombineRejectsWrongShapes) {
  std::vector<std::uint64_t> pos(kScoreBins, 0), neg(kScoreBins, 0);
  pos[700] = 3;
  neg[200] = 2;
  const json good = partial(pos, neg, 3, 0, 2, 0);
  ASSERT_TRUE(evaluate_combine({good}).ok());

  const auto message = [](const std::vector<json>& partials) {
    auto combined = evaluate_combine(partials);
    EXPECT_FALSE(combined.ok());
    if (combined.ok()) return std::string();
    EXPECT_EQ(combined.error().code(), ErrorCode::invalid_argument);
    EXPECT_EQ(combined.error().http_status(), 400);
    return combined.error().message();
  };
  EXPECT_NE(message({}).find("no partial"), std::string::npos);
  EXPECT_NE(message({good, json::array()}).find("partial 1 is not an object"), std::string::npos);
  json bad = good;
  bad["pos"].erase(bad["pos"].begin());
  EXPECT_NE(message({bad}).find("'pos' is not an array of 1000 counts"), std::string::npos);
  bad = good;
  bad["neg"][3] = -1;
  EXPECT_NE(message({bad}).find("'neg' bin 3 is not a count"), std::string::npos);
  bad = good;
  bad["tp"] = "3";
  EXPECT_NE(message({bad}).find("'tp' is missing or not a count"), std::string::npos);
  bad = good;
  bad["n"] = 6;
  EXPECT_NE(message({bad}).find("n is not tp + fp + tn + fn"), std::string::npos);
  bad = good;
  bad["pos"][0] = 1;
  EXPECT_NE(message({bad}).find("'pos' does not add up"), std::string::npos);
}

TEST(Forest, RefusesBadTargetsFeaturesAndOptions) {
  Table table = make_table({number_column("x", {1, 2, 3, 4}), number_column("y", {0, 1, 0, 2}),
                            string_column("name", {"a", "b", "c", "d"}), number_column("half", {0, 0.5, 1, 1})});
  auto grown = grow_forest(table, row_range(0, 4), {"x"}, "y", {});
  ASSERT_FALSE(grown.ok());
  EXPECT_EQ(grown.error().code(), ErrorCode::invalid_argument);
  EXPECT_NE(grown.error().message().find("target 'y' has value 2 in row 3"), std::string::npos)
      << grown.error().message();
  // Rows not asked for are not looked at.
  EXPECT_TRUE(grow_forest(table, row_range(0, 3), {"x"}, "y", {}).ok());

  grown = grow_forest(table, row_range(0, 4), {"x"}, "half", {});
  ASSERT_FALSE(grown.ok());
  EXPECT_NE(grown.error().message().find("value 0.5 in row 1"), std::string::npos) << grown.error().message();

  auto forest = grow_forest(table, row_range(0, 3), {"x"}, "y", {});
  ASSERT_TRUE(forest.ok());
  auto scored = evaluate_partial(*forest, table, row_range(0, 4), "y");
  ASSERT_FALSE(scored.ok());
  EXPECT_NE(scored.error().message().find("value 2 in row 3"), std::string::npos) << scored.error().message();

  grown = grow_forest(table, row_range(0, 3), {"x", "name"}, "y", {});
  ASSERT_FALSE(grown.ok());
  EXPECT_EQ(grown.error().message(), "column 'name' is not numeric");
  grown = grow_forest(table, row_range(0, 3), {"x", "nope"}, "y", {});
  ASSERT_FALSE(grown.ok());
  EXPECT_NE(grown.error().message().find("'nope'"), std::string::npos);
  grown = grow_forest(table, row_range(0, 3), {"x", "y"}, "y", {});
  ASSERT_FALSE(grown.ok());
  grown = grow_forest(table, {0, 9}, {"x"}, "y", {});
  ASSERT_FALSE(grown.ok());
  EXPECT_NE(grown.error().message().find("row 9 is out of range"), std::string::npos) << grown.error().message();

  ForestOptions options;
  options.trees = 501;
  EXPECT_FALSE(grow_forest(table, row_range(0, 3), {"x"}, "y", options).ok());
  options = {};
  options.max_depth = 33;
  EXPECT_FALSE(grow_forest(table, row_range(0, 3), {"x"}, "y", options).ok());
  options = {};
  options.max_features = 2;
  EXPECT_FALSE(grow_forest(table, row_range(0, 3), {"x"}, "y", options).ok());
  options = {};
  options.min_leaf = 0;
  EXPECT_FALSE(grow_forest(table, row_range(0, 3), {"x"}, "y", options).ok());

  Table empty = make_table({number_column("x", {kNaN}), number_column("y", {1})});
  grown = grow_forest(empty, row_range(0, 1), {"x"}, "y", {});
  ASSERT_FALSE(grown.ok());
  EXPECT_NE(grown.error().message().find("no row"), std::string::npos);
}

TEST(Forest, MinLeafAndDepthBoundTheTrees) {
  Table table = noisy_table(500);
  ForestOptions options;
  options.trees = 3;
  options.max_depth = 3;
  options.min_leaf = 40;
  auto forest = grow_forest(table, row_range(0, table.rows), {"a", "b", "c"}, "y", options);
  ASSERT_TRUE(forest.ok());
  const json model = forest->to_json();
  for (const auto& tree : model["trees"]) {
    EXPECT_LE(tree.size(), 15u);  // depth 3: at most 7 splits and 8 leaves
    // Depth of each node, from its parent's (children come after parents).
    std::vector<int> depth(tree.size(), 0);
    for (std::size_t i = 0; i < tree.size(); ++i) {
      if (!tree[i].contains("f")) continue;
      depth[tree[i]["l"].get<std::size_t>()] = depth[i] + 1;
      depth[tree[i]["r"].get<std::size_t>()] = depth[i] + 1;
      EXPECT_LT(depth[i], 3);
    }
  }
}

// The body a client posts with `trees` as its forest.
std::string result_body(const json& trees, int indent = -1) {
  json body = {{"task", "job-0123456789abcdef.0.0"},
               {"lease", "0123456789abcdef01234567"},
               {"result", {{"n", 5000}, {"forest", {{"features", {"a", "b"}}, {"trees", trees}}}}}};
  return body.dump(indent);
}

Operation forest_job(int trees, int max_depth) {
  auto op = parse_operation({{"kind", "random_forest"},
                             {"target", "y"},
                             {"features", {"a", "b"}},
                             {"trees_per_datasource", trees},
                             {"max_depth", max_depth}});
  EXPECT_TRUE(op.ok());
  return *op;
}

TEST(Forest, FromJsonChecksEachTreeInOnePass) {
  const auto refused = [](const json& trees, const std::string& why, const ForestBudget& budget = {}) {
    auto forest = Forest::from_json({{"features", {"a", "b"}}, {"trees", trees}}, budget);
    ASSERT_FALSE(forest.ok()) << trees;
    EXPECT_NE(forest.error().message().find(why), std::string::npos) << forest.error().message();
  };
  // Node 3 is named by no split: unreachable.
  refused(json::parse(R"([[{"f": 0, "t": 1, "l": 1, "r": 2}, {"p": 0}, {"p": 1}, {"p": 1}]])"),
          "tree 0 node 3 is not the child of any split");
  // Node 2 is the child of two splits: a DAG, not a tree.
  refused(json::parse(R"([[{"f": 0, "t": 1, "l": 1, "r": 2}, {"f": 1, "t": 2, "l": 2, "r": 3}, {"p": 0}, {"p": 1}]])"),
          "tree 0 node 1: left child 2 has a parent already");
  refused(json::parse(R"([[{"f": 0, "t": 1, "l": 1, "r": 1}, {"p": 0}]])"), "right child 1 has a parent already");
  refused(json::parse(R"([[{"p": 0.5, "rows": [1, 2]}]])"), "a leaf is {\"p\": ...}");
  refused(json::parse(R"([[{"f": 0, "t": 1, "l": 1, "r": 2, "pad": "xxxx"}, {"p": 0}, {"p": 1}]])"),
          "a split is {\"f\", \"t\", \"l\", \"r\"}");
  ForestBudget budget;
  budget.depth = 3;
  refused(json::array({heap_tree(31)}), "tree 0 node 7 is at depth 3: its children would be deeper than 3", budget);
  EXPECT_TRUE(Forest::from_json({{"features", {"a", "b"}}, {"trees", {heap_tree(15)}}}, budget).ok());
  budget = {};
  budget.tree_nodes = 15;
  refused(json::array({heap_tree(17)}), "tree 0 has 17 nodes; expected 1 to 15 (the tree node budget)", budget);
  budget = {};
  budget.nodes = 40;
  refused(json::array({heap_tree(15), heap_tree(15), heap_tree(15)}),
          "the trees up to tree 2 hold more than 40 nodes (the forest's node budget)", budget);
  budget = {};
  budget.trees = 2;
  refused(json::array({heap_tree(1), heap_tree(1), heap_tree(1)}), "3 trees; at most 2", budget);
}

TEST(Forest, AHundredThousandNodeTreeIsRefusedQuicklyWhileDecoding) {
  // The partial of issue 19: one tree of 100,000 nodes. Written with indentation it is
  // 15.6 MB, refused by its size before a byte is decoded; written compactly it fits the
  // size, and decoding stops at the tree node budget. The quadratic parser this replaces
  // took 26.6 s over it.
  const json tree = heap_tree(100'001);
  const std::string padded = result_body(json::array({tree}), 6);
  const std::string compact = result_body(json::array({tree}));
  ASSERT_GT(padded.size(), kMaxResultBytes);
  ASSERT_LT(compact.size(), kMaxResultBytes);
  auto started = std::chrono::steady_clock::now();
  auto too_big = decode_result(padded);
  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.error().code(), ErrorCode::payload_too_large);
  EXPECT_NE(too_big.error().message().find("bytes; at most"), std::string::npos) << too_big.error().message();
  auto over_budget = decode_result(compact);
  ASSERT_FALSE(over_budget.ok());
  EXPECT_EQ(over_budget.error().code(), ErrorCode::payload_too_large);
  EXPECT_NE(over_budget.error().message().find("more than 32767 elements in result.forest.trees[0]"), std::string::npos)
      << over_budget.error().message();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
}

TEST(Forest, AFullTreeWithinTheBudgetIsAcceptedInLinearTime) {
  // A full tree of depth 14: kMaxTreeNodes nodes, the largest tree a partial may hold.
  const std::string body = result_body({heap_tree(kMaxTreeNodes), heap_tree(1)});
  auto started = std::chrono::steady_clock::now();
  auto decoded = decode_result(body);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message();
  const json& partial = (*decoded)["result"];
  auto checked = check_partial(forest_job(2, 14), 0, json::object(), partial, 5000);
  EXPECT_TRUE(checked.ok()) << checked.error().message();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
  // The same partial for a job that asked for depth 13 at most.
  auto shallower = check_partial(forest_job(2, 13), 0, json::object(), partial, 5000);
  ASSERT_FALSE(shallower.ok());
  EXPECT_NE(shallower.error().message().find("deeper than 13 (max_depth)"), std::string::npos)
      << shallower.error().message();
}

TEST(Forest, GrownForestsStayWithinTheNodeBudget) {
  // Deep trees on labels that are coin flips grow until their leaves are pure, far past
  // their share of kMaxPartialNodes: each is cut at min(kMaxTreeNodes, kMaxPartialNodes /
  // trees) nodes, breadth first.
  std::mt19937_64 rng(5);
  std::vector<double> a, b, c, y;
  for (int i = 0; i < 1000; ++i) {
    a.push_back(uniform(rng));
    b.push_back(uniform(rng));
    c.push_back(uniform(rng));
    y.push_back(uniform(rng) < 0.5 ? 0 : 1);
  }
  Table table =
      make_table({number_column("a", a), number_column("b", b), number_column("c", c), number_column("y", y)});
  ForestOptions options;
  options.trees = 500;
  options.max_depth = 32;
  auto forest = grow_forest(table, row_range(0, table.rows), {"a", "b", "c"}, "y", options);
  ASSERT_TRUE(forest.ok()) << forest.error().message();
  const std::size_t share = kMaxPartialNodes / 500;
  const json model = forest->to_json();
  std::size_t largest = 0;
  for (const auto& tree : model["trees"]) largest = std::max(largest, tree.size());
  EXPECT_LE(largest, share);
  EXPECT_GT(largest, share - 2);  // some tree was cut there
  EXPECT_LE(forest->nodes(), kMaxPartialNodes);
  // And the partial passes the aggregator's checks for that job.
  json partial = {{"n", table.rows}, {"forest", model}};
  auto op = parse_operation({{"kind", "random_forest"},
                             {"target", "y"},
                             {"features", {"a", "b", "c"}},
                             {"trees_per_datasource", 500},
                             {"max_depth", 32}});
  ASSERT_TRUE(op.ok());
  auto checked = check_partial(*op, 0, json::object(), partial, table.rows);
  EXPECT_TRUE(checked.ok()) << checked.error().message();
}

}  // namespace
}  // namespace fedmesh::jobs
