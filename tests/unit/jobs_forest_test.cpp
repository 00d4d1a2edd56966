// The random forest: learning, determinism, model validation, merging, and the split
// evaluation (partials per datasource, then a combine) agreeing with a whole evaluation.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "jobs/forest.hpp"
#include "jobs/table.hpp"

namespace fedmesh::jobs {
namespace {

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

}  // namespace
}  // namespace fedmesh::jobs
