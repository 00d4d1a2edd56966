#include "jobs/operations.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "data/json_logic.hpp"
#include "jobs/forest.hpp"
#include "jobs/partial_check.hpp"

namespace fedmesh::jobs {

using json = nlohmann::json;

namespace {

constexpr std::size_t kMaxColumns = 256;
constexpr std::size_t kMaxBins = 10'000;
constexpr std::size_t kMaxGroups = 10'000;
constexpr std::int64_t kMaxCount = std::int64_t{1} << 53;

Error bad(const std::string& why) {
  return make_error(ErrorCode::invalid_argument, why);
}

// ---- reading the spec ----

Result<std::string> name_field(const json& spec, const char* key) {
  auto it = spec.find(key);
  if (it == spec.end() || !it->is_string() || it->get_ref<const std::string&>().empty())
    return bad(std::string("operation field '") + key + "' must name a column");
  return it->get<std::string>();
}

Result<std::vector<std::string>> names_field(const json& spec, const char* key) {
  auto it = spec.find(key);
  if (it == spec.end() || !it->is_array() || it->empty() || it->size() > kMaxColumns)
    return bad(std::string("operation field '") + key + "' must list 1 to " + std::to_string(kMaxColumns) +
               " column names");
  std::vector<std::string> out;
  for (const auto& v : *it) {
    if (!v.is_string() || v.get_ref<const std::string&>().empty())
      return bad(std::string("operation field '") + key + "' must list column names (strings)");
    if (std::find(out.begin(), out.end(), v.get<std::string>()) != out.end())
      return bad(std::string("operation field '") + key + "' names '" + v.get<std::string>() + "' twice");
    out.push_back(v.get<std::string>());
  }
  return out;
}

// An integer field within bounds, or its default when absent.
Result<std::int64_t> int_field(json& spec, const char* key, std::int64_t def, std::int64_t lo, std::int64_t hi) {
  auto it = spec.find(key);
  if (it == spec.end()) {
    spec[key] = def;
    return def;
  }
  if (!it->is_number_integer() || it->get<std::int64_t>() < lo || it->get<std::int64_t>() > hi)
    return bad(std::string("operation field '") + key + "' must be an integer from " + std::to_string(lo) + " to " +
               std::to_string(hi));
  return it->get<std::int64_t>();
}

Result<double> real_field(json& spec, const char* key, double def, double lo, double hi) {
  auto it = spec.find(key);
  if (it == spec.end()) {
    spec[key] = def;
    return def;
  }
  if (!it->is_number() || !(it->get<double>() >= lo) || !(it->get<double>() <= hi))
    return bad(fmt::format("operation field '{}' must be a number from {} to {}", key, lo, hi));
  return it->get<double>();
}

Result<bool> bool_field(json& spec, const char* key, bool def) {
  auto it = spec.find(key);
  if (it == spec.end()) {
    spec[key] = def;
    return def;
  }
  if (!it->is_boolean()) return bad(std::string("operation field '") + key + "' must be true or false");
  return it->get<bool>();
}

Status only_keys(const json& spec, std::initializer_list<const char*> keys) {
  for (const auto& item : spec.items()) {
    const std::string& k = item.key();
    if (k == "kind") continue;
    if (std::none_of(keys.begin(), keys.end(), [&](const char* known) { return k == known; })) {
      std::string list;
      for (const char* known : keys) list += std::string(list.empty() ? "" : ", ") + known;
      return bad("operation field '" + k + "' is not known for kind '" + spec["kind"].get<std::string>() +
                 "' (expected: " + (list.empty() ? "no fields" : list) + ")");
    }
  }
  return {};
}

// ---- reading partials ----

Result<double> number_in(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number() || !std::isfinite(it->get<double>()))
    return bad(std::string("partial result: '") + key + "' must be a finite number");
  return it->get<double>();
}

Result<std::int64_t> count_in(const json& j, const char* key) {
  auto it = j.find(key);
  // Counts stay below 2^53: exact as doubles, and far beyond any datasource.
  if (it == j.end() || !it->is_number_integer() || it->get<std::int64_t>() < 0 || it->get<std::int64_t>() > kMaxCount)
    return bad(std::string("partial result: '") + key + "' must be a count");
  return it->get<std::int64_t>();
}

// An integer from 0 to 2^53, signed or unsigned as JSON holds it.
std::optional<std::uint64_t> whole_count(const json& v) {
  if (v.is_number_unsigned()) {
    if (v.get<std::uint64_t>() > static_cast<std::uint64_t>(kMaxCount)) return std::nullopt;
    return v.get<std::uint64_t>();
  }
  if (!v.is_number_integer() || v.get<std::int64_t>() < 0 || v.get<std::int64_t>() > kMaxCount) return std::nullopt;
  return static_cast<std::uint64_t>(v.get<std::int64_t>());
}

Result<std::vector<double>> numbers_in(const json& j, const char* key, std::size_t size) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_array() || it->size() != size)
    return bad(std::string("partial result: '") + key + "' must hold " + std::to_string(size) + " numbers");
  std::vector<double> out;
  out.reserve(size);
  for (const auto& v : *it) {
    if (!v.is_number() || !std::isfinite(v.get<double>()))
      return bad(std::string("partial result: '") + key + "' must hold finite numbers");
    out.push_back(v.get<double>());
  }
  return out;
}

const json& object_in(const json& j, const char* key, std::optional<Error>& error) {
  static const json empty = json::object();
  auto it = j.find(key);
  if (it == j.end() || !it->is_object()) {
    error = bad(std::string("partial result: '") + key + "' must be an object");
    return empty;
  }
  return *it;
}

// ---- moments: count, mean and the sum of squared deviations (Chan et al.) ----

struct Moments {
  double n = 0, mean = 0, m2 = 0;
  void add(double x) {
    n += 1;
    double d = x - mean;
    mean += d / n;
    m2 += d * (x - mean);
  }
  void merge(const Moments& o) {
    if (o.n == 0) return;
    double total = n + o.n;
    double d = o.mean - mean;
    mean += d * o.n / total;
    m2 += o.m2 + d * d * n * o.n / total;
    n = total;
  }
  json to_json() const { return json::array({n, mean, m2}); }
  static Result<Moments> from(const json& j) {
    if (!j.is_array() || j.size() != 3 || !j[0].is_number() || !j[1].is_number() || !j[2].is_number())
      return bad("partial result: column moments must be [count, mean, m2]");
    Moments m{j[0].get<double>(), j[1].get<double>(), j[2].get<double>()};
    if (!std::isfinite(m.n) || m.n < 0 || m.n > static_cast<double>(kMaxCount) || m.n != std::floor(m.n) ||
        !std::isfinite(m.mean) || !std::isfinite(m.m2) || m.m2 < 0)
      return bad("partial result: column moments must be [count, mean, m2] with a whole count and m2 >= 0");
    return m;
  }
};

std::vector<const Column*> columns_of(const Table& t, const std::vector<std::string>& names) {
  std::vector<const Column*> out;
  out.reserve(names.size());
  for (const auto& n : names) out.push_back(t.find(n));
  return out;
}

Result<std::vector<const Column*>> numeric_columns(const Table& t, const std::vector<std::string>& names) {
  auto cols = columns_of(t, names);
  for (std::size_t i = 0; i < cols.size(); ++i) {
    if (!cols[i]) return bad("unknown column '" + names[i] + "'");
    if (cols[i]->type != ColumnType::number) return bad("column '" + names[i] + "' is not numeric");
  }
  return cols;
}

// Rows where every one of `cols` holds a value.
std::vector<std::size_t> complete_rows(const std::vector<const Column*>& cols, const std::vector<std::size_t>& rows) {
  std::vector<std::size_t> out;
  out.reserve(rows.size());
  for (auto r : rows) {
    bool ok = true;
    for (const auto* c : cols) ok = ok && !std::isnan(c->numbers[r]);
    if (ok) out.push_back(r);
  }
  return out;
}

std::string group_key(const Column& c, std::size_t row) {
  if (c.type == ColumnType::string) return c.texts[row];
  return fmt::format("{}", c.numbers[row]);
}

// ---- linear algebra: Gaussian elimination with partial pivoting ----

Result<std::vector<double>> solve(std::vector<std::vector<double>> a, std::vector<double> b) {
  std::size_t n = b.size();
  double scale = 0;
  for (std::size_t i = 0; i < n; ++i) scale = std::max(scale, std::abs(a[i][i]));
  for (std::size_t col = 0; col < n; ++col) {
    std::size_t pivot = col;
    for (std::size_t r = col + 1; r < n; ++r)
      if (std::abs(a[r][col]) > std::abs(a[pivot][col])) pivot = r;
    if (std::abs(a[pivot][col]) <= 1e-12 * std::max(scale, 1.0))
      return bad("the features are collinear or constant over the selected rows: no unique solution");
    std::swap(a[col], a[pivot]);
    std::swap(b[col], b[pivot]);
    for (std::size_t r = col + 1; r < n; ++r) {
      double f = a[r][col] / a[col][col];
      if (f == 0) continue;
      for (std::size_t k = col; k < n; ++k) a[r][k] -= f * a[col][k];
      b[r] -= f * b[col];
    }
  }
  std::vector<double> x(n);
  for (std::size_t i = n; i-- > 0;) {
    double s = b[i];
    for (std::size_t k = i + 1; k < n; ++k) s -= a[i][k] * x[k];
    x[i] = s / a[i][i];
  }
  return x;
}

double sigmoid(double z) {
  if (z >= 0) return 1.0 / (1.0 + std::exp(-z));
  double e = std::exp(z);
  return e / (1.0 + e);
}

Status binary_target(const Column& y, const std::vector<std::size_t>& rows) {
  for (auto r : rows)
    if (y.numbers[r] != 0 && y.numbers[r] != 1)
      return bad("target column '" + y.name + "' holds values other than 0 and 1");
  return {};
}

// The evaluation partial of scores in [0, 1] against 0/1 labels (the shape evaluate_partial makes).
json score_partial(const std::vector<double>& scores, const std::vector<double>& labels) {
  constexpr std::size_t kBins = 1000;
  std::vector<std::uint64_t> pos(kBins, 0), neg(kBins, 0);
  std::uint64_t tp = 0, fp = 0, tn = 0, fn = 0;
  for (std::size_t i = 0; i < scores.size(); ++i) {
    double s = std::isnan(scores[i]) ? 0.5 : std::clamp(scores[i], 0.0, 1.0);
    auto bin = std::min<std::size_t>(kBins - 1, static_cast<std::size_t>(s * kBins));
    bool predicted = s >= 0.5;
    if (labels[i] == 1) {
      ++pos[bin];
      predicted ? ++tp : ++fn;
    } else {
      ++neg[bin];
      predicted ? ++fp : ++tn;
    }
  }
  return {{"n", scores.size()}, {"tp", tp}, {"fp", fp}, {"tn", tn}, {"fn", fn}, {"pos", pos}, {"neg", neg}};
}

// ---- partials, one function per kind ----

Result<json> moments_partial(const Table& t, const std::vector<std::size_t>& rows,
                             const std::vector<std::string>& names) {
  auto cols = numeric_columns(t, names);
  if (!cols) return std::move(cols).error();
  json out = json::object();
  for (std::size_t i = 0; i < names.size(); ++i) {
    Moments m;
    for (auto r : rows)
      if (double x = (*cols)[i]->numbers[r]; !std::isnan(x)) m.add(x);
    out[names[i]] = m.to_json();
  }
  return json{{"n", rows.size()}, {"columns", std::move(out)}};
}

Result<json> logistic_partial(const Operation& op, const json& input, const Table& t,
                              const std::vector<std::size_t>& rows) {
  auto features = op.spec["features"].get<std::vector<std::string>>();
  auto target = op.spec["target"].get<std::string>();
  auto names = features;
  names.push_back(target);
  auto cols = numeric_columns(t, names);
  if (!cols) return std::move(cols).error();
  auto used = complete_rows(*cols, rows);
  const Column& y = *cols->back();
  if (auto s = binary_target(y, used); !s) return std::move(s).error();
  std::size_t p = features.size();
  auto w = numbers_in(input, "weights", p + 1);
  auto mean = numbers_in(input, "mean", p);
  auto sd = numbers_in(input, "std", p);
  if (!w || !mean || !sd) return bad("round input: weights, mean and std do not match the features");
  // Standardized features, once per task.
  std::vector<std::vector<double>> x(used.size(), std::vector<double>(p));
  for (std::size_t i = 0; i < used.size(); ++i)
    for (std::size_t j = 0; j < p; ++j) x[i][j] = ((*cols)[j]->numbers[used[i]] - (*mean)[j]) / (*sd)[j];
  double lr = op.spec["learning_rate"].get<double>();
  double l2 = op.spec["l2"].get<double>();
  int epochs = op.spec["local_epochs"].get<int>();
  std::vector<double> weights = *w;
  double loss = 0;
  std::uint64_t correct = 0;
  for (int e = 0; e < epochs; ++e) {
    std::vector<double> grad(p + 1, 0.0);
    double epoch_loss = 0;
    std::uint64_t epoch_correct = 0;
    for (std::size_t i = 0; i < used.size(); ++i) {
      double z = weights[0];
      for (std::size_t j = 0; j < p; ++j) z += weights[j + 1] * x[i][j];
      double prob = sigmoid(z);
      double label = y.numbers[used[i]];
      epoch_loss -= label == 1 ? std::log(std::max(prob, 1e-15)) : std::log(std::max(1 - prob, 1e-15));
      epoch_correct += ((prob >= 0.5) == (label == 1)) ? 1 : 0;
      double err = prob - label;
      grad[0] += err;
      for (std::size_t j = 0; j < p; ++j) grad[j + 1] += err * x[i][j];
    }
    if (e == 0) {  // loss and accuracy of the weights the round started from
      loss = used.empty() ? 0 : epoch_loss / static_cast<double>(used.size());
      correct = epoch_correct;
    }
    if (used.empty()) break;
    double inv = 1.0 / static_cast<double>(used.size());
    weights[0] -= lr * grad[0] * inv;
    for (std::size_t j = 1; j <= p; ++j) weights[j] -= lr * (grad[j] * inv + l2 * weights[j]);
  }
  return json{{"n", used.size()}, {"weights", weights}, {"loss", loss}, {"correct", correct}};
}

Result<json> linear_partial(const Operation& op, const Table& t, const std::vector<std::size_t>& rows) {
  auto features = op.spec["features"].get<std::vector<std::string>>();
  auto names = features;
  names.push_back(op.spec["target"].get<std::string>());
  auto cols = numeric_columns(t, names);
  if (!cols) return std::move(cols).error();
  auto used = complete_rows(*cols, rows);
  std::size_t k = features.size() + 1;
  std::vector<std::vector<double>> xtx(k, std::vector<double>(k, 0.0));
  std::vector<double> xty(k, 0.0), x(k, 1.0);
  double yty = 0, sy = 0;
  for (auto r : used) {
    for (std::size_t j = 1; j < k; ++j) x[j] = (*cols)[j - 1]->numbers[r];
    double y = cols->back()->numbers[r];
    for (std::size_t a = 0; a < k; ++a) {
      for (std::size_t b = a; b < k; ++b) xtx[a][b] += x[a] * x[b];
      xty[a] += x[a] * y;
    }
    yty += y * y;
    sy += y;
  }
  for (std::size_t a = 0; a < k; ++a)
    for (std::size_t b = 0; b < a; ++b) xtx[a][b] = xtx[b][a];
  return json{{"n", used.size()}, {"xtx", xtx}, {"xty", xty}, {"yty", yty}, {"sy", sy}};
}

Result<json> evaluate_model(const json& model, const Table& t, const std::vector<std::size_t>& rows) {
  if (!model.is_object() || !model.contains("kind") || !model.contains("target") || !model["target"].is_string())
    return bad("round input: not a model");
  std::string target = model["target"].get<std::string>();
  if (model["kind"] == "random_forest") {
    auto forest = Forest::from_json(model.value("forest", json()));
    if (!forest) return std::move(forest).error();
    return evaluate_partial(*forest, t, rows, target);
  }
  if (model["kind"] != "logistic_regression" || !model.contains("features") || !model["features"].is_array())
    return bad("round input: not a model");
  std::vector<std::string> features;
  for (const auto& f : model["features"]) {
    if (!f.is_string()) return bad("round input: not a model");
    features.push_back(f.get<std::string>());
  }
  auto coef = numbers_in(model, "coefficients", features.size() + 1);
  if (!coef) return std::move(coef).error();
  auto names = features;
  names.push_back(target);
  auto cols = numeric_columns(t, names);
  if (!cols) return std::move(cols).error();
  auto used = complete_rows(*cols, rows);
  if (auto s = binary_target(*cols->back(), used); !s) return std::move(s).error();
  std::vector<double> scores, labels;
  for (auto r : used) {
    double z = (*coef)[0];
    for (std::size_t j = 0; j < features.size(); ++j) z += (*coef)[j + 1] * (*cols)[j]->numbers[r];
    scores.push_back(sigmoid(z));
    labels.push_back(cols->back()->numbers[r]);
  }
  return score_partial(scores, labels);
}

// ---- combining, one function per kind ----

Result<std::map<std::string, Moments>> merged_moments(const std::vector<json>& partials,
                                                      const std::vector<std::string>& names, double& rows) {
  std::map<std::string, Moments> out;
  rows = 0;
  for (const auto& p : partials) {
    auto n = count_in(p, "n");
    if (!n) return std::move(n).error();
    rows += static_cast<double>(*n);
    std::optional<Error> error;
    const json& cols = object_in(p, "columns", error);
    if (error) return *error;
    for (const auto& name : names) {
      if (!cols.contains(name)) return bad("partial result: no moments for column '" + name + "'");
      auto m = Moments::from(cols[name]);
      if (!m) return std::move(m).error();
      out[name].merge(*m);
    }
  }
  return out;
}

json null_if_empty(double n, double value) {
  return n > 0 ? json(value) : json(nullptr);
}

Result<Step> combine_moments(const Operation& op, const std::vector<json>& partials) {
  auto names = op.spec["columns"].get<std::vector<std::string>>();
  double rows = 0;
  auto merged = merged_moments(partials, names, rows);
  if (!merged) return std::move(merged).error();
  json mean = json::object(), variance = json::object(), sd = json::object();
  for (const auto& name : names) {
    const auto& m = (*merged)[name];
    mean[name] = null_if_empty(m.n, m.mean);
    double var = m.n > 1 ? m.m2 / (m.n - 1) : 0;
    variance[name] = null_if_empty(m.n - 1, var);
    sd[name] = null_if_empty(m.n - 1, std::sqrt(var));
  }
  Step step;
  step.done = true;
  step.result = {{"count", static_cast<std::int64_t>(rows)}, {"mean", mean}};
  if (op.kind == "variance") {
    step.result["variance"] = variance;
    step.result["std"] = sd;
  }
  return step;
}

Result<Step> combine_min_max(const Operation& op, const std::vector<json>& partials) {
  auto names = op.spec["columns"].get<std::vector<std::string>>();
  json lo = json::object(), hi = json::object();
  for (const auto& n : names) lo[n] = hi[n] = nullptr;
  for (const auto& p : partials) {
    std::optional<Error> error;
    const json& pmin = object_in(p, "min", error);
    const json& pmax = object_in(p, "max", error);
    if (error) return *error;
    for (const auto& n : names) {
      for (auto [src, dst, less] : {std::tuple{&pmin, &lo, true}, std::tuple{&pmax, &hi, false}}) {
        auto it = src->find(n);
        if (it == src->end()) return bad("partial result: no value for column '" + n + "'");
        if (it->is_null()) continue;
        if (!it->is_number() || !std::isfinite(it->get<double>()))
          return bad("partial result: min and max must be numbers or null");
        double v = it->get<double>();
        auto& slot = (*dst)[n];
        if (slot.is_null() || (less ? v < slot.get<double>() : v > slot.get<double>())) slot = v;
      }
    }
  }
  Step step;
  step.done = true;
  step.result = {{"min", lo}, {"max", hi}};
  return step;
}

Result<Step> combine_counts(const Operation& op, const std::vector<json>& partials) {
  std::size_t bins = op.spec["bins"].size() - 1;
  std::vector<std::uint64_t> counts(bins, 0);
  std::uint64_t below = 0, above = 0;
  for (const auto& p : partials) {
    auto it = p.find("counts");
    if (it == p.end() || !it->is_array() || it->size() != bins)
      return bad("partial result: 'counts' must hold " + std::to_string(bins) + " counts");
    for (std::size_t i = 0; i < bins; ++i) {
      auto c = whole_count((*it)[i]);
      if (!c) return bad("partial result: 'counts' must hold counts");
      counts[i] += *c;
    }
    auto b = count_in(p, "below");
    auto a = count_in(p, "above");
    if (!b || !a) return bad("partial result: 'below' and 'above' must be counts");
    below += static_cast<std::uint64_t>(*b);
    above += static_cast<std::uint64_t>(*a);
  }
  Step step;
  step.done = true;
  step.result = {{"counts", counts}, {"below", below}, {"above", above}};
  return step;
}

Result<Step> combine_groups(const Operation& op, const std::vector<json>& partials) {
  bool means = op.kind == "group_mean";
  std::vector<std::string> names;
  if (means) names = op.spec["columns"].get<std::vector<std::string>>();
  std::map<std::string, std::uint64_t> counts;
  std::map<std::string, std::map<std::string, Moments>> moments;
  for (const auto& p : partials) {
    std::optional<Error> error;
    const json& groups = object_in(p, "groups", error);
    if (error) return *error;
    for (const auto& [key, g] : groups.items()) {
      if (!means) {
        auto c = whole_count(g);
        if (!c) return bad("partial result: group counts must be counts");
        counts[key] += *c;
        continue;
      }
      if (!g.is_object()) return bad("partial result: each group must map columns to moments");
      for (const auto& name : names) {
        if (!g.contains(name)) return bad("partial result: a group has no moments for column '" + name + "'");
        auto m = Moments::from(g[name]);
        if (!m) return std::move(m).error();
        moments[key][name].merge(*m);
      }
    }
    if (counts.size() > kMaxGroups || moments.size() > kMaxGroups)
      return bad("more than " + std::to_string(kMaxGroups) + " groups");
  }
  Step step;
  step.done = true;
  json out = json::object();
  if (!means) {
    for (const auto& [k, n] : counts) out[k] = n;
  } else {
    for (const auto& [k, cols] : moments) {
      json g = json::object();
      for (const auto& [name, m] : cols) g[name] = null_if_empty(m.n, m.mean);
      out[k] = std::move(g);
    }
  }
  step.result = {{"groups", std::move(out)}};
  return step;
}

Result<Step> combine_linear(const Operation& op, const std::vector<json>& partials, bool lenient) {
  auto features = op.spec["features"].get<std::vector<std::string>>();
  std::size_t k = features.size() + 1;
  std::vector<std::vector<double>> xtx(k, std::vector<double>(k, 0.0));
  std::vector<double> xty(k, 0.0);
  double yty = 0, sy = 0, n = 0;
  for (const auto& p : partials) {
    auto pn = count_in(p, "n");
    auto pxty = numbers_in(p, "xty", k);
    auto pyty = number_in(p, "yty");
    auto psy = number_in(p, "sy");
    if (!pn || !pxty || !pyty || !psy) return bad("partial result: expected n, xtx, xty, yty and sy");
    auto rows = p.find("xtx");
    if (rows == p.end() || !rows->is_array() || rows->size() != k)
      return bad("partial result: 'xtx' must be a " + std::to_string(k) + "x" + std::to_string(k) + " matrix");
    for (std::size_t a = 0; a < k; ++a) {
      const json& row = (*rows)[a];
      if (!row.is_array() || row.size() != k)
        return bad("partial result: 'xtx' must be a " + std::to_string(k) + "x" + std::to_string(k) + " matrix");
      for (std::size_t b = 0; b < k; ++b) {
        if (!row[b].is_number() || !std::isfinite(row[b].get<double>()))
          return bad("partial result: 'xtx' must hold finite numbers");
        xtx[a][b] += row[b].get<double>();
      }
      xty[a] += (*pxty)[a];
    }
    n += static_cast<double>(*pn);
    yty += *pyty;
    sy += *psy;
  }
  Step step;
  step.done = true;
  if (n < static_cast<double>(k)) {
    // Fewer rows than unknowns (only when checking a lone partial that may be one of many).
    step.result = {{"n", n}};
    if (lenient) return step;
    return bad("fewer rows (" + std::to_string(static_cast<std::int64_t>(n)) + ") than coefficients to fit");
  }
  auto b = solve(xtx, xty);
  if (!b) {
    if (lenient) return step;  // a lone datasource may be degenerate; the union may not
    return std::move(b).error();
  }
  double bxty = 0, bxtxb = 0;
  for (std::size_t i = 0; i < k; ++i) {
    bxty += (*b)[i] * xty[i];
    for (std::size_t j = 0; j < k; ++j) bxtxb += (*b)[i] * xtx[i][j] * (*b)[j];
  }
  double sse = yty - 2 * bxty + bxtxb;
  double sst = yty - sy * sy / n;
  json coef = {{"intercept", (*b)[0]}};
  for (std::size_t j = 0; j < features.size(); ++j) coef[features[j]] = (*b)[j + 1];
  step.result = {{"coefficients", coef}, {"r2", sst > 0 ? 1 - sse / sst : 1.0}, {"n", static_cast<std::int64_t>(n)}};
  return step;
}

Result<Step> combine_logistic(const Operation& op, int round, const json& input, const std::vector<json>& partials,
                              json& state, bool lenient) {
  auto features = op.spec["features"].get<std::vector<std::string>>();
  std::size_t p = features.size();
  bool standardize = op.spec["standardize"].get<bool>();
  Step step;
  if (standardize && round == 0) {
    // The statistics round: global means and standard deviations of the features.
    double rows = 0;
    auto merged = merged_moments(partials, features, rows);
    if (!merged) return std::move(merged).error();
    std::vector<double> mean, sd;
    for (const auto& f : features) {
      const auto& m = (*merged)[f];
      mean.push_back(m.mean);
      double s = m.n > 1 ? std::sqrt(m.m2 / (m.n - 1)) : 0;
      sd.push_back(s > 0 ? s : 1.0);
    }
    step.next_input = {{"weights", std::vector<double>(p + 1, 0.0)}, {"mean", mean}, {"std", sd}};
    return step;
  }
  auto w0 = numbers_in(input, "weights", p + 1);
  if (!w0) return bad("round input: weights do not match the features");
  std::vector<double> w(p + 1, 0.0);
  double n = 0, loss = 0, correct = 0;
  for (const auto& part : partials) {
    auto pn = count_in(part, "n");
    auto pw = numbers_in(part, "weights", p + 1);
    auto pl = number_in(part, "loss");
    auto pc = count_in(part, "correct");
    if (!pn || !pw || !pl || !pc)
      return bad("partial result: expected n, weights (" + std::to_string(p + 1) + " numbers), loss and correct");
    if (*pc > *pn) return bad("partial result: 'correct' exceeds 'n'");
    double k = static_cast<double>(*pn);
    for (std::size_t j = 0; j <= p; ++j) w[j] += k * (*pw)[j];
    n += k;
    loss += k * *pl;
    correct += static_cast<double>(*pc);
  }
  if (n == 0) {
    if (lenient) return step;
    return bad("no rows with every feature and the target present");
  }
  for (auto& x : w) x /= n;
  double l2 = op.spec["l2"].get<double>(), penalty = 0;
  for (std::size_t j = 1; j <= p; ++j) penalty += 0.5 * l2 * (*w0)[j] * (*w0)[j];
  if (!state.is_object()) state = json::object();
  state["loss"].push_back(loss / n + penalty);
  state["accuracy"].push_back(correct / n);
  int last = op.rounds - 1;
  if (round < last) {
    step.next_input = input;
    step.next_input["weights"] = w;
    return step;
  }
  // Coefficients in the columns' own units: b_j / s_j, and the intercept shifted by the means.
  auto mean = numbers_in(input, "mean", p);
  auto sd = numbers_in(input, "std", p);
  if (!mean || !sd) return bad("round input: mean and std do not match the features");
  std::vector<double> raw(p + 1);
  raw[0] = w[0];
  for (std::size_t j = 0; j < p; ++j) {
    raw[j + 1] = w[j + 1] / (*sd)[j];
    raw[0] -= w[j + 1] * (*mean)[j] / (*sd)[j];
  }
  json coef = {{"intercept", raw[0]}};
  for (std::size_t j = 0; j < p; ++j) coef[features[j]] = raw[j + 1];
  step.done = true;
  step.result = {{"coefficients", coef},
                 {"n", static_cast<std::int64_t>(n)},
                 {"rounds", op.spec["rounds"]},
                 {"loss", state["loss"]},
                 {"accuracy", state["accuracy"]}};
  step.model = {
      {"kind", "logistic_regression"}, {"target", op.spec["target"]}, {"features", features}, {"coefficients", raw}};
  return step;
}

Result<Step> combine_forest(const Operation& op, const std::vector<json>& partials) {
  std::optional<Forest> merged;
  std::int64_t n = 0;
  for (const auto& p : partials) {
    auto rows = count_in(p, "n");
    if (!rows) return std::move(rows).error();
    n += *rows;
    auto f = Forest::from_json(p.value("forest", json()));
    if (!f) return std::move(f).error();
    if (f->features() != op.spec["features"].get<std::vector<std::string>>())
      return bad("partial result: the trees use other features than the job's");
    if (!merged) {
      merged = std::move(*f);
    } else if (auto s = merged->merge(*f); !s) {
      return std::move(s).error();
    }
  }
  Step step;
  step.done = true;
  if (!merged) return bad("no partial results to merge");
  step.result = {{"trees", merged->trees()},
                 {"features", op.spec["features"]},
                 {"target", op.spec["target"]},
                 {"datasources", partials.size()},
                 {"n", n}};
  step.model = {{"kind", "random_forest"}, {"target", op.spec["target"]}, {"forest", merged->to_json()}};
  return step;
}

}  // namespace

Result<Operation> parse_operation(const json& spec_in) {
  if (!spec_in.is_object()) return bad("'operation' must be an object with a 'kind'");
  auto kind_it = spec_in.find("kind");
  if (kind_it == spec_in.end() || !kind_it->is_string()) return bad("'operation' must be an object with a 'kind'");
  Operation op;
  op.kind = kind_it->get<std::string>();
  op.spec = spec_in;
  json& s = op.spec;
  auto need = [&](const std::vector<std::string>& names, bool numeric) {
    for (const auto& n : names) op.columns.emplace_back(n, numeric);
  };
  if (op.kind == "count") {
    if (auto st = only_keys(s, {}); !st) return std::move(st).error();
  } else if (op.kind == "mean" || op.kind == "variance" || op.kind == "min_max") {
    if (auto st = only_keys(s, {"columns"}); !st) return std::move(st).error();
    auto cols = names_field(s, "columns");
    if (!cols) return std::move(cols).error();
    need(*cols, true);
  } else if (op.kind == "histogram") {
    if (auto st = only_keys(s, {"column", "bins"}); !st) return std::move(st).error();
    auto col = name_field(s, "column");
    if (!col) return std::move(col).error();
    auto bins = s.find("bins");
    if (bins == s.end() || !bins->is_array() || bins->size() < 2 || bins->size() > kMaxBins + 1)
      return bad("operation field 'bins' must list 2 to " + std::to_string(kMaxBins + 1) + " bin edges");
    for (std::size_t i = 0; i < bins->size(); ++i) {
      const auto& e = (*bins)[i];
      if (!e.is_number() || !std::isfinite(e.get<double>()) ||
          (i > 0 && !(e.get<double>() > (*bins)[i - 1].get<double>())))
        return bad("operation field 'bins' must list increasing finite numbers");
    }
    need({*col}, true);
  } else if (op.kind == "group_count" || op.kind == "group_mean") {
    bool means = op.kind == "group_mean";
    if (auto st = means ? only_keys(s, {"by", "columns"}) : only_keys(s, {"by"}); !st) return std::move(st).error();
    auto by = name_field(s, "by");
    if (!by) return std::move(by).error();
    need({*by}, false);
    if (means) {
      auto cols = names_field(s, "columns");
      if (!cols) return std::move(cols).error();
      need(*cols, true);
    }
  } else if (op.kind == "linear_regression" || op.kind == "logistic_regression" || op.kind == "random_forest") {
    Status st;
    if (op.kind == "linear_regression") st = only_keys(s, {"target", "features"});
    if (op.kind == "logistic_regression")
      st = only_keys(s, {"target", "features", "rounds", "learning_rate", "l2", "standardize", "local_epochs"});
    if (op.kind == "random_forest")
      st = only_keys(s, {"target", "features", "trees_per_datasource", "max_depth", "min_leaf", "seed"});
    if (!st) return std::move(st).error();
    auto target = name_field(s, "target");
    if (!target) return std::move(target).error();
    auto features = names_field(s, "features");
    if (!features) return std::move(features).error();
    if (std::find(features->begin(), features->end(), *target) != features->end())
      return bad("the target '" + *target + "' cannot also be a feature");
    need(*features, true);
    need({*target}, true);
    if (op.kind == "logistic_regression") {
      for (auto r : {int_field(s, "rounds", 10, 1, 1000), int_field(s, "local_epochs", 1, 1, 100)})
        if (!r) return std::move(r).error();
      for (auto r : {real_field(s, "learning_rate", 0.5, 1e-9, 100), real_field(s, "l2", 0, 0, 1e6)})
        if (!r) return std::move(r).error();
      auto standardize = bool_field(s, "standardize", true);
      if (!standardize) return std::move(standardize).error();
      op.rounds = s["rounds"].get<int>() + (*standardize ? 1 : 0);
    }
    if (op.kind == "random_forest") {
      for (auto r : {int_field(s, "trees_per_datasource", 10, 1, 500), int_field(s, "max_depth", 8, 1, 32),
                     int_field(s, "min_leaf", 1, 1, 1'000'000), int_field(s, "seed", 1, 0, 1LL << 53)})
        if (!r) return std::move(r).error();
    }
  } else if (op.kind == "evaluate") {
    if (auto st = only_keys(s, {"model", "datasource"}); !st) return std::move(st).error();
    auto model = s.find("model");
    if (model == s.end() || !model->is_string() || model->get_ref<const std::string&>().empty())
      return bad("operation field 'model' must be the id of a completed random_forest or logistic_regression job");
    if (s.contains("datasource") && !s["datasource"].is_string())
      return bad("operation field 'datasource' must name a datasource");
    op.model = model->get<std::string>();
  } else {
    return bad("unknown operation kind '" + op.kind +
               "' (count, mean, variance, min_max, histogram, group_count, group_mean, linear_regression, "
               "logistic_regression, random_forest, evaluate)");
  }
  return op;
}

json first_input(const Operation& op) {
  if (op.kind == "logistic_regression" && !op.spec["standardize"].get<bool>()) {
    std::size_t p = op.spec["features"].size();
    return {{"weights", std::vector<double>(p + 1, 0.0)},
            {"mean", std::vector<double>(p, 0.0)},
            {"std", std::vector<double>(p, 1.0)}};
  }
  return json::object();
}

Result<std::vector<std::size_t>> select_rows(const Table& table, const json& where) {
  std::vector<std::size_t> rows;
  if (where.is_null() || (where.is_object() && where.empty())) {
    rows.resize(table.rows);
    for (std::size_t i = 0; i < table.rows; ++i) rows[i] = i;
    return rows;
  }
  if (auto s = data::check_logic(where); !s) return std::move(s).error();
  json row = json::object();
  for (const auto& c : table.columns) row[c.name] = nullptr;
  for (std::size_t r = 0; r < table.rows; ++r) {
    for (const auto& c : table.columns) row[c.name] = c.cell(r);
    if (data::logic_truthy(data::apply_logic(where, row))) rows.push_back(r);
  }
  return rows;
}

Result<json> compute_partial(const Operation& op, const json& input, const Table& t,
                             const std::vector<std::size_t>& rows, std::uint64_t salt) {
  for (const auto& [name, numeric] : op.columns) {
    const Column* c = t.find(name);
    if (!c) return bad("unknown column '" + name + "'");
    if (numeric && c->type != ColumnType::number) return bad("column '" + name + "' is not numeric");
  }
  const json& s = op.spec;
  if (op.kind == "count") return json{{"n", rows.size()}};
  if (op.kind == "mean" || op.kind == "variance")
    return moments_partial(t, rows, s["columns"].get<std::vector<std::string>>());
  if (op.kind == "min_max") {
    json lo = json::object(), hi = json::object();
    for (const auto& name : s["columns"].get<std::vector<std::string>>()) {
      const Column& c = *t.find(name);
      double mn = INFINITY, mx = -INFINITY;
      for (auto r : rows) {
        if (std::isnan(c.numbers[r])) continue;
        mn = std::min(mn, c.numbers[r]);
        mx = std::max(mx, c.numbers[r]);
      }
      lo[name] = std::isfinite(mn) ? json(mn) : json(nullptr);
      hi[name] = std::isfinite(mx) ? json(mx) : json(nullptr);
    }
    return json{{"min", lo}, {"max", hi}};
  }
  if (op.kind == "histogram") {
    const Column& c = *t.find(s["column"].get<std::string>());
    auto edges = s["bins"].get<std::vector<double>>();
    std::vector<std::uint64_t> counts(edges.size() - 1, 0);
    std::uint64_t below = 0, above = 0;
    for (auto r : rows) {
      double x = c.numbers[r];
      if (std::isnan(x)) continue;
      if (x < edges.front()) {
        ++below;
      } else if (x > edges.back()) {
        ++above;
      } else {
        // Bins are [e_i, e_i+1), the last one closed.
        auto it = std::upper_bound(edges.begin(), edges.end(), x);
        auto bin = std::min<std::size_t>(static_cast<std::size_t>(it - edges.begin()) - 1, counts.size() - 1);
        ++counts[bin];
      }
    }
    return json{{"counts", counts}, {"below", below}, {"above", above}};
  }
  if (op.kind == "group_count" || op.kind == "group_mean") {
    const Column& by = *t.find(s["by"].get<std::string>());
    bool means = op.kind == "group_mean";
    std::vector<std::string> names;
    if (means) names = s["columns"].get<std::vector<std::string>>();
    auto cols = columns_of(t, names);
    std::map<std::string, std::uint64_t> counts;
    std::map<std::string, std::vector<Moments>> moments;
    for (auto r : rows) {
      if (by.missing(r)) continue;
      auto key = group_key(by, r);
      if (!means) {
        ++counts[key];
      } else {
        auto& m = moments[key];
        m.resize(names.size());
        for (std::size_t i = 0; i < names.size(); ++i)
          if (double x = cols[i]->numbers[r]; !std::isnan(x)) m[i].add(x);
      }
      if (counts.size() > kMaxGroups || moments.size() > kMaxGroups)
        return bad("more than " + std::to_string(kMaxGroups) + " groups");
    }
    json groups = json::object();
    for (const auto& [k, n] : counts) groups[k] = n;
    for (const auto& [k, ms] : moments) {
      json g = json::object();
      for (std::size_t i = 0; i < names.size(); ++i) g[names[i]] = ms[i].to_json();
      groups[k] = std::move(g);
    }
    return json{{"groups", std::move(groups)}};
  }
  if (op.kind == "linear_regression") return linear_partial(op, t, rows);
  if (op.kind == "logistic_regression") {
    if (s["standardize"].get<bool>() && !input.contains("weights")) {
      // The statistics round sees the rows the training rounds will: every feature and the target present.
      auto features = s["features"].get<std::vector<std::string>>();
      auto names = features;
      names.push_back(s["target"].get<std::string>());
      return moments_partial(t, complete_rows(*numeric_columns(t, names), rows), features);
    }
    return logistic_partial(op, input, t, rows);
  }
  if (op.kind == "random_forest") {
    ForestOptions fo;
    fo.trees = s["trees_per_datasource"].get<int>();
    fo.max_depth = s["max_depth"].get<int>();
    fo.min_leaf = s["min_leaf"].get<int>();
    fo.seed = s["seed"].get<std::uint64_t>() ^ (salt * 0x9E3779B97F4A7C15ull);
    auto features = s["features"].get<std::vector<std::string>>();
    auto target = s["target"].get<std::string>();
    auto names = features;
    names.push_back(target);
    auto used = complete_rows(*numeric_columns(t, names), rows);
    if (auto st = binary_target(*t.find(target), used); !st) return std::move(st).error();
    auto forest = grow_forest(t, used, features, target, fo);
    if (!forest) return std::move(forest).error();
    return json{{"n", used.size()}, {"forest", forest->to_json()}};
  }
  if (op.kind == "evaluate") return evaluate_model(input, t, rows);
  return bad("unknown operation kind '" + op.kind + "'");
}

namespace {

Result<Step> combine(const Operation& op, int round, const json& input, const std::vector<json>& partials, json& state,
                     bool lenient) {
  for (const auto& p : partials)
    if (!p.is_object()) return bad("partial result: expected a JSON object");
  if (op.kind == "count") {
    std::int64_t n = 0;
    for (const auto& p : partials) {
      auto k = count_in(p, "n");
      if (!k) return std::move(k).error();
      n += *k;
    }
    Step step;
    step.done = true;
    step.result = {{"count", n}};
    return step;
  }
  if (op.kind == "mean" || op.kind == "variance") return combine_moments(op, partials);
  if (op.kind == "min_max") return combine_min_max(op, partials);
  if (op.kind == "histogram") return combine_counts(op, partials);
  if (op.kind == "group_count" || op.kind == "group_mean") return combine_groups(op, partials);
  if (op.kind == "linear_regression") return combine_linear(op, partials, lenient);
  if (op.kind == "logistic_regression") return combine_logistic(op, round, input, partials, state, lenient);
  if (op.kind == "random_forest") return combine_forest(op, partials);
  if (op.kind == "evaluate") {
    auto r = evaluate_combine(partials);
    if (!r) return std::move(r).error();
    Step step;
    step.done = true;
    step.result = std::move(*r);
    return step;
  }
  return bad("unknown operation kind '" + op.kind + "'");
}

}  // namespace

Result<Step> combine_round(const Operation& op, int round, const json& input, const std::vector<json>& partials,
                           json& state) {
  return combine(op, round, input, partials, state, false);
}

Status check_partial(const Operation& op, int round, const json& input, const json& partial, std::uint64_t rows) {
  if (auto s = check_invariants(op, round, input, partial, rows); !s) return s;
  // check_invariants read every tree within the job's budget; combining would read them again.
  if (op.kind == "random_forest") return {};
  json state = json::object();
  auto step = combine(op, round, input, {partial}, state, true);
  if (!step) return std::move(step).error();
  return {};
}

}  // namespace fedmesh::jobs
