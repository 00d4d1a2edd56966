// Forest: a random-forest binary classifier for federated jobs. Each datasource grows trees
// on its own rows (grow_forest), the aggregator appends them into one model (Forest::merge)
// and scores it where the rows live (evaluate_partial, then evaluate_combine). A Forest is a
// plain value, immutable once built except by merge; const use is thread-safe.
//
// Model JSON: {"features": [names], "trees": [tree, ...]}. A tree is a flat array of nodes,
// node 0 the root; a split is {"f": feature index, "t": threshold, "l": left, "r": right}
// (go left when value <= t, right otherwise, and a missing value, NaN, goes right); a leaf
// is {"p": probability of class 1}. Children come after their parent and every node but the
// root has exactly one parent, so a tree is a tree: no cycle, no shared or orphaned node.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "jobs/table.hpp"

namespace fedmesh::jobs {

// The node budget (docs/jobs.md, "Tree node budget"). A tree holds at most kMaxTreeNodes
// nodes (a full tree of depth 14); one datasource's forest (a partial) at most
// kMaxPartialNodes in all its trees, so 500 full trees of depth 8 fit; a merged model at
// most kMaxModelNodes. grow_forest stays within the first two; Forest::from_json and merge
// refuse what does not.
constexpr std::size_t kMaxTreeNodes = 32'767;
constexpr std::size_t kMaxPartialNodes = 262'144;
constexpr std::size_t kMaxModelNodes = 4'194'304;
// Other bounds of a model read with Forest::from_json (and kept by merge).
constexpr std::size_t kMaxForestTrees = 5'000;
constexpr std::size_t kMaxForestFeatures = 4'096;
// Bounds of ForestOptions.
constexpr int kMaxGrowTrees = 500;
constexpr int kMaxTreeDepth = 32;
// evaluate_partial's score histogram: equal-width bins on [0, 1].
constexpr std::size_t kScoreBins = 1'000;

// What Forest::from_json accepts: a model by default; a partial's check narrows it to the
// job (its tree count, its max_depth, kMaxPartialNodes).
struct ForestBudget {
  std::size_t trees = kMaxForestTrees;     // trees, at most
  std::size_t tree_nodes = kMaxTreeNodes;  // nodes of one tree, at most
  std::size_t nodes = kMaxModelNodes;      // nodes of all trees together, at most
  int depth = kMaxTreeDepth;               // depth of any node (the root is depth 0), at most
};

struct ForestOptions {
  int trees = 10;          // trees to grow (1..500)
  int max_depth = 8;       // 1..32; the root is depth 0, so 1 grows stumps
  int min_leaf = 1;        // rows (bootstrap draws) a leaf must hold at least
  int max_features = 0;    // features tried per split; 0 = round(sqrt(p)), at most p
  std::uint64_t seed = 1;  // deterministic: same data + options -> same trees, on any platform
};

// A merged forest, compact for prediction.
class Forest {
 public:
  // An empty forest: no features, no trees. It predicts 0.5 and merging into it adopts the
  // other forest whole, so it can start a fold over partial models.
  Forest() = default;

  // Validates a model JSON within `budget`: 1..kMaxForestFeatures unique non-empty feature
  // names; 1..budget.trees trees of 1..budget.tree_nodes nodes, budget.nodes in all; each
  // node a leaf {"p"} or a split {"f", "t", "l", "r"} and nothing else; children in range
  // and after their parent; every node but the root the child of exactly one split; no node
  // deeper than budget.depth; feature indices < features.size(); finite thresholds; leaf p
  // in [0, 1]. One pass over the nodes (time and memory linear in them); a bound is checked
  // before what it bounds is built. Errors are invalid_argument naming the tree and node.
  static Result<Forest> from_json(const nlohmann::json& model, const ForestBudget& budget = {});
  nlohmann::json to_json() const;  // {"features": [names], "trees": [tree, ...]}

  const std::vector<std::string>& features() const { return features_; }
  std::size_t trees() const { return trees_.size(); }
  std::size_t nodes() const;  // in all trees

  // The columns of `table` holding features(), in order: invalid_argument when one is
  // absent or not numeric. What predict takes.
  Result<std::vector<const Column*>> bind(const Table& table) const;

  // Mean of the trees' leaf probabilities for `row`. cols[i] is the number column of
  // features()[i] (see bind) and row < its size: the caller's precondition, not checked.
  // A missing (NaN) value goes to the right child, as the comparison value <= t is false.
  double predict(const std::vector<const Column*>& cols, std::size_t row) const;

  // Appends another forest's trees: Flotta's MERGE. invalid_argument when the feature lists
  // differ (same names, same order) or the result would exceed kMaxForestTrees or
  // kMaxModelNodes; this forest is unchanged then.
  Status merge(const Forest& other);

 private:
  friend Result<Forest> grow_forest(const Table& table, const std::vector<std::size_t>& rows,
                                    const std::vector<std::string>& features, const std::string& target,
                                    const ForestOptions& options);

  // A split (feature >= 0: value is the threshold, left/right are node indices) or a leaf
  // (feature < 0: value is p).
  struct Node {
    double value = 0;
    std::uint32_t left = 0;
    std::uint32_t right = 0;
    std::int32_t feature = -1;
  };
  using Tree = std::vector<Node>;

  std::vector<std::string> features_;
  std::vector<Tree> trees_;
};

// Grows a forest on `rows` (row indices into the table) of a binary target column (values 0
// or 1; any other value -> invalid_argument naming the row and its value). Rows where the
// target or any feature is missing are skipped; none left is invalid_argument. Each tree: a
// bootstrap sample (with replacement, as many draws as usable rows), CART with Gini
// impurity; at each node `max_features` random features are tried (more are drawn while the
// ones tried are constant in the node); thresholds are midpoints between consecutive
// distinct values, or up to 64 quantile thresholds when a node has more than 64 distinct
// values. A node becomes a leaf at max_depth, when pure, when no split leaves min_leaf draws
// on each side, or when the tree reaches its share of the node budget: min(kMaxTreeNodes,
// kMaxPartialNodes / trees) nodes (trees grow breadth first, so a cut tree is cut evenly).
// Features must be distinct number columns other than the target.
Result<Forest> grow_forest(const Table& table, const std::vector<std::size_t>& rows,
                           const std::vector<std::string>& features, const std::string& target,
                           const ForestOptions& options);

// Evaluation of a forest on rows, split into a per-datasource partial and a combine, so a
// merged model is scored without moving rows.
//
// Partial: {"n": rows scored, "tp", "fp", "tn", "fn", "pos": [kScoreBins counts of positives
// per score bin], "neg": [...]}. Rows with a missing target are skipped; missing features
// are scored (NaN goes right). A row is predicted positive when its score is >= 0.5; score s
// falls in bin min(floor(s * kScoreBins), kScoreBins - 1).
Result<nlohmann::json> evaluate_partial(const Forest& forest, const Table& table, const std::vector<std::size_t>& rows,
                                        const std::string& target);

// Combines partials into {"n", "accuracy", "precision", "recall", "auc"}. Shapes are
// validated (invalid_argument: counts are non-negative integers, bins have kScoreBins
// entries, n = tp + fp + tn + fn, the bins add up to the positives and negatives). A metric
// with a zero denominator (no rows, no predicted positives, no positives, or one class only
// for auc) is null. AUC comes from the binned ROC: trapezoids, so ties inside a bin count half.
Result<nlohmann::json> evaluate_combine(const std::vector<nlohmann::json>& partials);

}  // namespace fedmesh::jobs
