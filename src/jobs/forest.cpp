#include "jobs/forest.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>
#include <random>
#include <sstream>
#include <unordered_set>
#include <utility>

namespace fedmesh::jobs {
namespace {

using nlohmann::json;

// Counts in partials stay exact as JSON numbers and as doubles.
constexpr std::uint64_t kMaxCount = 1ull << 53;
// A node with more distinct values than this tries this many quantile thresholds instead.
constexpr std::uint64_t kMaxThresholds = 64;

Error invalid(std::string message) {
  return make_error(ErrorCode::invalid_argument, std::move(message));
}

std::string format_number(double value) {
  std::ostringstream out;
  out.precision(15);
  out << value;
  return out.str();
}

// A non-negative integer no greater than `max` (an integral float such as 3.0 too, as
// scripts may send), or nothing.
std::optional<std::uint64_t> as_count(const json& value, std::uint64_t max) {
  if (value.is_number_unsigned()) {
    auto u = value.get<std::uint64_t>();
    if (u <= max) return u;
  } else if (value.is_number_integer()) {
    auto i = value.get<std::int64_t>();
    if (i >= 0 && static_cast<std::uint64_t>(i) <= max) return static_cast<std::uint64_t>(i);
  } else if (value.is_number_float()) {
    double d = value.get<double>();
    if (std::isfinite(d) && d >= 0 && d == std::floor(d) && d <= static_cast<double>(std::min(max, kMaxCount)))
      return static_cast<std::uint64_t>(d);
  }
  return std::nullopt;
}

const Column* number_column(const Table& table, const std::string& name, const char* role, Error* error) {
  const Column* column = table.find(name);
  if (column == nullptr) {
    *error = invalid(std::string(role) + " column '" + name + "' is not in the datasource");
    return nullptr;
  }
  if (column->type != ColumnType::number) {
    *error = invalid("column '" + name + "' is not numeric");
    return nullptr;
  }
  return column;
}

// Reads a binary target cell: 0, 1 or missing (nullopt); anything else is an error.
Result<std::optional<std::uint8_t>> target_value(const Table& table, const Column& target, std::size_t row) {
  if (row >= table.rows)
    return invalid("row " + std::to_string(row) + " is out of range: " + table.source + " has " +
                   std::to_string(table.rows) + " rows");
  double value = target.numbers[row];
  if (std::isnan(value)) return std::optional<std::uint8_t>();
  if (value != 0 && value != 1)
    return invalid("target '" + target.name + "' has value " + format_number(value) + " in row " + std::to_string(row) +
                   "; expected 0 or 1");
  return std::optional<std::uint8_t>(static_cast<std::uint8_t>(value));
}

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Uniform in [0, bound), bound >= 1. Rejection sampling on the engine's raw output, whose
// sequence the standard fixes, so trees are the same with any standard library
// (std::uniform_int_distribution is not).
std::uint64_t draw(std::mt19937_64& rng, std::uint64_t bound) {
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  const std::uint64_t limit = kMax - kMax % bound;
  for (;;) {
    std::uint64_t r = rng();
    if (r < limit) return r % bound;
  }
}

// n times the Gini impurity of a set of n with c positives, halved: c (n - c) / n.
double weighted_gini(std::uint64_t n, std::uint64_t c) {
  return static_cast<double>(c) * static_cast<double>(n - c) / static_cast<double>(n);
}

// A node as grown; Forest converts it to its own.
struct GrownNode {
  double value = 0;  // threshold, or p for a leaf
  std::uint32_t left = 0;
  std::uint32_t right = 0;
  std::int32_t feature = -1;
};

// Grows CART trees on a dense copy of the usable rows. One grower grows the trees one after
// the other, reusing its scratch vectors.
class TreeGrower {
 public:
  // x: p columns of n values each (x[f * n + i]); y: n labels 0 or 1.
  TreeGrower(const std::vector<double>& x, const std::vector<std::uint8_t>& y, std::size_t p,
             const ForestOptions& options, std::size_t max_features)
      : x_(x),
        y_(y),
        n_(y.size()),
        p_(p),
        options_(options),
        max_features_(max_features),
        // The tree's share of the node budget: a partial of `trees` trees stays within
        // kMaxPartialNodes, and each tree within kMaxTreeNodes.
        max_nodes_(std::min(kMaxTreeNodes, kMaxPartialNodes / static_cast<std::size_t>(options.trees))) {
    sample_.resize(n_);
    scratch_.reserve(n_);
    order_.resize(p_);
  }

  std::vector<GrownNode> grow(std::uint64_t tree) {
    rng_.seed(splitmix64(options_.seed ^ splitmix64(tree)));
    for (auto& s : sample_) s = static_cast<std::uint32_t>(draw(rng_, n_));

    struct Pending {
      std::uint32_t node, begin, end;
      int depth;
    };
    std::vector<GrownNode> nodes(1);
    std::vector<Pending> queue{{0, 0, static_cast<std::uint32_t>(n_), 0}};
    // Breadth first, so children always come after their parent and a tree that reaches
    // its node budget is cut evenly.
    for (std::size_t q = 0; q < queue.size(); ++q) {
      const Pending at = queue[q];
      const std::uint32_t count = at.end - at.begin;
      std::uint32_t positives = 0;
      for (std::uint32_t k = at.begin; k < at.end; ++k) positives += y_[sample_[k]];

      Split split;
      if (at.depth < options_.max_depth && positives != 0 && positives != count &&
          count >= 2 * static_cast<std::uint64_t>(options_.min_leaf) && nodes.size() + 2 <= max_nodes_)
        split = best_split(at.begin, at.end, positives);
      if (!split.found) {
        nodes[at.node].value = static_cast<double>(positives) / count;
        continue;
      }
      const double* column = x_.data() + split.feature * n_;
      auto middle = std::partition(sample_.begin() + at.begin, sample_.begin() + at.end,
                                   [&](std::uint32_t i) { return column[i] <= split.threshold; });
      const auto mid = static_cast<std::uint32_t>(middle - sample_.begin());
      const auto left = static_cast<std::uint32_t>(nodes.size());
      nodes.resize(nodes.size() + 2);
      nodes[at.node] = {split.threshold, left, left + 1, static_cast<std::int32_t>(split.feature)};
      queue.push_back({left, at.begin, mid, at.depth + 1});
      queue.push_back({left + 1, mid, at.end, at.depth + 1});
    }
    return nodes;
  }

 private:
  struct Split {
    bool found = false;
    std::size_t feature = 0;
    double threshold = 0;
    double score = 0;
  };
  struct Sample {
    double value;
    std::uint8_t label;
  };

  // The best Gini split of sample_[begin, end). Features are drawn without replacement until
  // max_features of them that are not constant in the node have been tried.
  Split best_split(std::uint32_t begin, std::uint32_t end, std::uint32_t positives) {
    Split best;
    const std::uint64_t count = end - begin;
    const auto min_leaf = static_cast<std::uint64_t>(options_.min_leaf);
    std::iota(order_.begin(), order_.end(), std::size_t{0});
    std::size_t tried = 0;
    for (std::size_t k = 0; k < p_ && tried < max_features_; ++k) {
      std::swap(order_[k], order_[k + draw(rng_, p_ - k)]);
      const std::size_t feature = order_[k];
      const double* column = x_.data() + feature * n_;
      scratch_.clear();
      for (std::uint32_t s = begin; s < end; ++s) scratch_.push_back({column[sample_[s]], y_[sample_[s]]});
      std::sort(scratch_.begin(), scratch_.end(), [](const Sample& a, const Sample& b) { return a.value < b.value; });
      if (scratch_.front().value == scratch_.back().value) continue;  // constant here: draw another
      ++tried;

      std::uint64_t distinct = 1;
      for (std::size_t i = 1; i < count; ++i) distinct += scratch_[i - 1].value != scratch_[i].value;
      const bool quantiles = distinct > kMaxThresholds;
      std::uint64_t next_quantile = 1;  // of kMaxThresholds, at positions q * count / (kMaxThresholds + 1)

      std::uint64_t left_positives = 0;
      for (std::size_t i = 1; i < count; ++i) {  // the left side is scratch_[0, i)
        left_positives += scratch_[i - 1].label;
        if (scratch_[i - 1].value == scratch_[i].value) continue;
        if (i < min_leaf || count - i < min_leaf) continue;
        if (quantiles) {
          if (next_quantile > kMaxThresholds || i < next_quantile * count / (kMaxThresholds + 1)) continue;
          while (next_quantile <= kMaxThresholds && next_quantile * count / (kMaxThresholds + 1) <= i) ++next_quantile;
        }
        const double score = weighted_gini(i, left_positives) + weighted_gini(count - i, positives - left_positives);
        if (best.found && !(score < best.score)) continue;
        // The midpoint, kept in [a, b) so that a goes left and b right whatever the rounding.
        const double a = scratch_[i - 1].value, b = scratch_[i].value;
        double threshold = a / 2 + b / 2;
        if (!(threshold >= a && threshold < b)) threshold = a;
        best = {true, feature, threshold, score};
      }
    }
    return best;
  }

  const std::vector<double>& x_;
  const std::vector<std::uint8_t>& y_;
  const std::size_t n_;
  const std::size_t p_;
  const ForestOptions& options_;
  const std::size_t max_features_;
  const std::size_t max_nodes_;
  std::mt19937_64 rng_;
  std::vector<std::uint32_t> sample_;  // the bootstrap draws, partitioned node by node
  std::vector<Sample> scratch_;
  std::vector<std::size_t> order_;
};

}  // namespace

Result<Forest> Forest::from_json(const json& model, const ForestBudget& budget) {
  if (!model.is_object()) return invalid("model is not an object");
  auto names = model.find("features");
  if (names == model.end() || !names->is_array()) return invalid("model has no 'features' array");
  if (names->empty() || names->size() > kMaxForestFeatures)
    return invalid("model has " + std::to_string(names->size()) + " features; expected 1 to " +
                   std::to_string(kMaxForestFeatures));
  Forest forest;
  std::unordered_set<std::string> seen;
  for (std::size_t i = 0; i < names->size(); ++i) {
    const json& name = (*names)[i];
    if (!name.is_string() || name.get_ref<const std::string&>().empty())
      return invalid("feature " + std::to_string(i) + " is not a non-empty string");
    if (!seen.insert(name.get<std::string>()).second)
      return invalid("feature '" + name.get<std::string>() + "' is listed twice");
    forest.features_.push_back(name.get<std::string>());
  }
  const std::uint64_t feature_count = forest.features_.size();

  auto trees = model.find("trees");
  if (trees == model.end() || !trees->is_array()) return invalid("model has no 'trees' array");
  if (trees->empty()) return invalid("model has no trees");
  if (trees->size() > budget.trees)
    return invalid("model has " + std::to_string(trees->size()) + " trees; at most " + std::to_string(budget.trees));
  forest.trees_.reserve(trees->size());

  // One pass per tree, in node order. A node's parent comes before it, so by the time a
  // node is read every split that could name it has been: a node no split named is
  // unreachable. Each child is marked once (a second parent is refused) and gets its
  // parent's depth + 1, so the depth bound is checked without walking any path.
  std::vector<std::uint8_t> has_parent;
  std::vector<std::uint32_t> depth;
  std::size_t total = 0;
  for (std::size_t t = 0; t < trees->size(); ++t) {
    const json& nodes = (*trees)[t];
    const auto tree_name = [t] { return "tree " + std::to_string(t); };
    if (!nodes.is_array()) return invalid(tree_name() + " is not an array of nodes");
    const std::size_t count = nodes.size();
    if (count == 0 || count > budget.tree_nodes)
      return invalid(tree_name() + " has " + std::to_string(count) + " nodes; expected 1 to " +
                     std::to_string(budget.tree_nodes) + " (the tree node budget)");
    if (count > budget.nodes - total)
      return invalid("the trees up to " + tree_name() + " hold more than " + std::to_string(budget.nodes) +
                     " nodes (the forest's node budget)");
    total += count;
    has_parent.assign(count, 0);
    depth.assign(count, 0);
    Tree tree(count);
    for (std::size_t i = 0; i < count; ++i) {
      const json& node = nodes[i];
      const auto where = [&] { return tree_name() + " node " + std::to_string(i); };
      if (!node.is_object()) return invalid(where() + " is not an object");
      if (i > 0 && !has_parent[i])
        return invalid(where() + " is not the child of any split: every node but the root is");
      auto p = node.find("p");
      if (p != node.end()) {
        if (node.size() != 1) return invalid(where() + " is a leaf ('p') with other fields; a leaf is {\"p\": ...}");
        if (!p->is_number() || !(p->get<double>() >= 0 && p->get<double>() <= 1))
          return invalid(where() + ": leaf probability 'p' is not a number in [0, 1]");
        tree[i].value = p->get<double>();
        continue;
      }
      auto f = node.find("f");
      if (f == node.end()) return invalid(where() + " has neither 'p' (a leaf) nor 'f' (a split)");
      if (node.size() != 4)
        return invalid(where() + " is a split with missing or unknown fields; a split is {\"f\", \"t\", \"l\", \"r\"}");
      auto feature = as_count(*f, feature_count - 1);
      if (!feature)
        return invalid(where() + ": feature index " + f->dump() + " is out of range (" + std::to_string(feature_count) +
                       " features)");
      auto t_value = node.find("t");
      if (t_value == node.end() || !t_value->is_number() || !std::isfinite(t_value->get<double>()))
        return invalid(where() + ": threshold 't' is missing or not a finite number");
      std::uint32_t children[2] = {0, 0};
      const char* keys[2] = {"l", "r"};
      const char* sides[2] = {"left", "right"};
      for (int side = 0; side < 2; ++side) {
        auto child = node.find(keys[side]);
        if (child == node.end())
          return invalid(where() + ": " + sides[side] + " child '" + keys[side] + "' is missing");
        auto index = as_count(*child, std::numeric_limits<std::uint32_t>::max());
        if (!index || *index >= count)
          return invalid(where() + ": " + sides[side] + " child " + child->dump() + " is out of range (" + tree_name() +
                         " has " + std::to_string(count) + " nodes)");
        if (*index <= i)
          return invalid(where() + ": " + sides[side] + " child " + std::to_string(*index) +
                         " does not come after its parent");
        if (has_parent[*index])
          return invalid(where() + ": " + sides[side] + " child " + std::to_string(*index) +
                         " has a parent already (a node is the child of one split only)");
        if (depth[i] + 1 > static_cast<std::uint32_t>(std::max(budget.depth, 0)))
          return invalid(where() + " is at depth " + std::to_string(depth[i]) + ": its children would be deeper than " +
                         std::to_string(budget.depth) + " (max_depth)");
        has_parent[*index] = 1;
        depth[*index] = depth[i] + 1;
        children[side] = static_cast<std::uint32_t>(*index);
      }
      tree[i] = {t_value->get<double>(), children[0], children[1], static_cast<std::int32_t>(*feature)};
    }
    forest.trees_.push_back(std::move(tree));
  }
  return forest;
}

std::size_t Forest::nodes() const {
  std::size_t total = 0;
  for (const auto& tree : trees_) total += tree.size();
  return total;
}

json Forest::to_json() const {
  json trees = json::array();
  for (const auto& tree : trees_) {
    json nodes = json::array();
    for (const auto& node : tree) {
      if (node.feature < 0)
        nodes.push_back({{"p", node.value}});
      else
        nodes.push_back({{"f", node.feature}, {"t", node.value}, {"l", node.left}, {"r", node.right}});
    }
    trees.push_back(std::move(nodes));
  }
  return {{"features", features_}, {"trees", std::move(trees)}};
}

Result<std::vector<const Column*>> Forest::bind(const Table& table) const {
  std::vector<const Column*> columns;
  columns.reserve(features_.size());
  Error error(ErrorCode::internal, "");
  for (const auto& name : features_) {
    const Column* column = number_column(table, name, "feature", &error);
    if (column == nullptr) return error;
    columns.push_back(column);
  }
  return columns;
}

double Forest::predict(const std::vector<const Column*>& cols, std::size_t row) const {
  if (trees_.empty()) return 0.5;
  double sum = 0;
  for (const auto& tree : trees_) {
    std::uint32_t i = 0;
    while (tree[i].feature >= 0) {
      const Node& node = tree[i];
      // NaN <= t is false: a missing value goes right.
      i = cols[static_cast<std::size_t>(node.feature)]->numbers[row] <= node.value ? node.left : node.right;
    }
    sum += tree[i].value;
  }
  return sum / static_cast<double>(trees_.size());
}

Status Forest::merge(const Forest& other) {
  if (features_.empty() && trees_.empty()) {
    if (this != &other) *this = other;
    return {};
  }
  if (other.features_ != features_) {
    if (other.features_.size() != features_.size())
      return invalid("cannot merge forests of different features: " + std::to_string(features_.size()) + " and " +
                     std::to_string(other.features_.size()) + " features");
    for (std::size_t i = 0; i < features_.size(); ++i) {
      if (features_[i] != other.features_[i])
        return invalid("cannot merge forests of different features: feature " + std::to_string(i) + " is '" +
                       features_[i] + "' in one and '" + other.features_[i] + "' in the other");
    }
  }
  const std::size_t total = trees_.size() + other.trees_.size();
  if (total > kMaxForestTrees)
    return invalid("the merged forest would have " + std::to_string(total) + " trees; at most " +
                   std::to_string(kMaxForestTrees));
  const std::size_t total_nodes = nodes() + other.nodes();
  if (total_nodes > kMaxModelNodes)
    return invalid("the merged forest would have " + std::to_string(total_nodes) + " nodes; at most " +
                   std::to_string(kMaxModelNodes) + " (the model's node budget)");
  const std::size_t appended = other.trees_.size();  // other may be *this
  trees_.reserve(total);
  for (std::size_t i = 0; i < appended; ++i) trees_.push_back(other.trees_[i]);
  return {};
}

Result<Forest> grow_forest(const Table& table, const std::vector<std::size_t>& rows,
                           const std::vector<std::string>& features, const std::string& target,
                           const ForestOptions& options) {
  if (options.trees < 1 || options.trees > kMaxGrowTrees)
    return invalid("trees must be 1 to " + std::to_string(kMaxGrowTrees) + ", not " + std::to_string(options.trees));
  if (options.max_depth < 1 || options.max_depth > kMaxTreeDepth)
    return invalid("max_depth must be 1 to " + std::to_string(kMaxTreeDepth) + ", not " +
                   std::to_string(options.max_depth));
  if (options.min_leaf < 1) return invalid("min_leaf must be at least 1, not " + std::to_string(options.min_leaf));
  if (features.empty()) return invalid("no features to grow a forest on");
  if (features.size() > kMaxForestFeatures)
    return invalid(std::to_string(features.size()) + " features; at most " + std::to_string(kMaxForestFeatures));
  const std::size_t p = features.size();
  if (options.max_features < 0 || static_cast<std::size_t>(options.max_features) > p)
    return invalid("max_features must be 0 to " + std::to_string(p) + " (the number of features), not " +
                   std::to_string(options.max_features));
  const std::size_t max_features =
      options.max_features == 0
          ? std::max<std::size_t>(1, static_cast<std::size_t>(std::lround(std::sqrt(static_cast<double>(p)))))
          : static_cast<std::size_t>(options.max_features);

  std::unordered_set<std::string> seen;
  for (const auto& name : features) {
    if (!seen.insert(name).second) return invalid("feature '" + name + "' is listed twice");
    if (name == target) return invalid("target '" + target + "' cannot also be a feature");
  }
  Error error(ErrorCode::internal, "");
  const Column* target_column = number_column(table, target, "target", &error);
  if (target_column == nullptr) return error;
  Forest forest;
  forest.features_ = features;
  auto columns = forest.bind(table);
  if (!columns) return std::move(columns).error();

  // A dense copy of the usable rows, column by column.
  std::vector<std::uint8_t> y;
  std::vector<std::vector<double>> by_feature(p);
  for (std::size_t row : rows) {
    auto label = target_value(table, *target_column, row);
    if (!label) return std::move(label).error();
    if (!label->has_value()) continue;
    bool complete = true;
    for (const Column* column : *columns) complete = complete && !std::isnan(column->numbers[row]);
    if (!complete) continue;
    y.push_back(**label);
    for (std::size_t f = 0; f < p; ++f) by_feature[f].push_back((*columns)[f]->numbers[row]);
  }
  if (y.empty()) return invalid("no row has the target and every feature present");
  if (y.size() > std::numeric_limits<std::uint32_t>::max() / 2)
    return invalid(std::to_string(y.size()) + " rows are too many to grow a forest on");
  std::vector<double> x;
  x.reserve(p * y.size());
  for (auto& values : by_feature) {
    x.insert(x.end(), values.begin(), values.end());
    std::vector<double>().swap(values);
  }

  TreeGrower grower(x, y, p, options, max_features);
  forest.trees_.reserve(static_cast<std::size_t>(options.trees));
  for (int t = 0; t < options.trees; ++t) {
    std::vector<GrownNode> grown = grower.grow(static_cast<std::uint64_t>(t));
    Forest::Tree tree(grown.size());
    for (std::size_t i = 0; i < grown.size(); ++i)
      tree[i] = {grown[i].value, grown[i].left, grown[i].right, grown[i].feature};
    forest.trees_.push_back(std::move(tree));
  }
  return forest;
}

Result<json> evaluate_partial(const Forest& forest, const Table& table, const std::vector<std::size_t>& rows,
                              const std::string& target) {
  if (forest.trees() == 0) return invalid("the model has no trees");
  auto columns = forest.bind(table);
  if (!columns) return std::move(columns).error();
  Error error(ErrorCode::internal, "");
  const Column* target_column = number_column(table, target, "target", &error);
  if (target_column == nullptr) return error;

  std::vector<std::uint64_t> pos(kScoreBins, 0), neg(kScoreBins, 0);
  std::uint64_t n = 0, tp = 0, fp = 0, tn = 0, fn = 0;
  for (std::size_t row : rows) {
    auto label = target_value(table, *target_column, row);
    if (!label) return std::move(label).error();
    if (!label->has_value()) continue;
    const double score = forest.predict(*columns, row);
    const bool positive = **label == 1;
    const bool predicted = score >= 0.5;
    std::size_t bin = 0;
    if (score > 0) bin = std::min(kScoreBins - 1, static_cast<std::size_t>(std::floor(score * kScoreBins)));
    ++n;
    ++(positive ? pos : neg)[bin];
    if (positive)
      ++(predicted ? tp : fn);
    else
      ++(predicted ? fp : tn);
  }
  return json{{"n", n}, {"tp", tp}, {"fp", fp}, {"tn", tn}, {"fn", fn}, {"pos", pos}, {"neg", neg}};
}

Result<json> evaluate_combine(const std::vector<json>& partials) {
  if (partials.empty()) return invalid("no partial evaluations to combine");
  std::uint64_t n = 0, tp = 0, fp = 0, tn = 0, fn = 0;
  std::vector<std::uint64_t> pos(kScoreBins, 0), neg(kScoreBins, 0);
  const auto add = [](std::uint64_t& total, std::uint64_t value) {
    total += value;  // both <= 2^53: no overflow
    return total <= kMaxCount;
  };
  for (std::size_t k = 0; k < partials.size(); ++k) {
    const json& partial = partials[k];
    const std::string where = "partial " + std::to_string(k);
    if (!partial.is_object()) return invalid(where + " is not an object");
    std::uint64_t counts[5] = {};
    const char* names[5] = {"n", "tp", "fp", "tn", "fn"};
    for (int c = 0; c < 5; ++c) {
      auto it = partial.find(names[c]);
      std::optional<std::uint64_t> value;
      if (it != partial.end()) value = as_count(*it, kMaxCount);
      if (!value) return invalid(where + ": '" + names[c] + "' is missing or not a count");
      counts[c] = *value;
    }
    if (counts[1] + counts[2] + counts[3] + counts[4] != counts[0])
      return invalid(where + ": n is not tp + fp + tn + fn");
    std::uint64_t bin_sums[2] = {0, 0};
    const char* bin_names[2] = {"pos", "neg"};
    std::vector<std::uint64_t>* bin_totals[2] = {&pos, &neg};
    for (int side = 0; side < 2; ++side) {
      auto bins = partial.find(bin_names[side]);
      if (bins == partial.end() || !bins->is_array() || bins->size() != kScoreBins)
        return invalid(where + ": '" + bin_names[side] + "' is not an array of " + std::to_string(kScoreBins) +
                       " counts");
      for (std::size_t b = 0; b < kScoreBins; ++b) {
        auto value = as_count((*bins)[b], kMaxCount);
        if (!value) return invalid(where + ": '" + bin_names[side] + "' bin " + std::to_string(b) + " is not a count");
        if (!add(bin_sums[side], *value) || !add((*bin_totals[side])[b], *value))
          return invalid(where + ": counts are too large");
      }
    }
    if (bin_sums[0] != counts[1] + counts[4]) return invalid(where + ": 'pos' does not add up to tp + fn");
    if (bin_sums[1] != counts[2] + counts[3]) return invalid(where + ": 'neg' does not add up to fp + tn");
    if (!add(n, counts[0]) || !add(tp, counts[1]) || !add(fp, counts[2]) || !add(tn, counts[3]) || !add(fn, counts[4]))
      return invalid("the partials' counts are too large");
  }

  const auto ratio = [](std::uint64_t num, std::uint64_t den) -> json {
    if (den == 0) return nullptr;
    return static_cast<double>(num) / static_cast<double>(den);
  };
  // The ROC walked from the highest bin down; a bin's negatives see the positives above it
  // and half of those beside them.
  json auc = nullptr;
  const std::uint64_t positives = tp + fn, negatives = fp + tn;
  if (positives > 0 && negatives > 0) {
    double area = 0, above = 0;
    for (std::size_t b = kScoreBins; b-- > 0;) {
      area += static_cast<double>(neg[b]) * (above + static_cast<double>(pos[b]) / 2);
      above += static_cast<double>(pos[b]);
    }
    auc = area / (static_cast<double>(positives) * static_cast<double>(negatives));
  }
  return json{{"n", n},
              {"accuracy", ratio(tp + tn, n)},
              {"precision", ratio(tp, tp + fp)},
              {"recall", ratio(tp, tp + fn)},
              {"auc", std::move(auc)}};
}

}  // namespace fedmesh::jobs
