// Fuzz target: the partial a client sends back for a task (POST /fed/v1/jobs/result's
// `result`), decoded as the aggregator decodes a result body (jobs::decode_bounded_json
// within kResultBudget, and again within a small budget so that inputs of fuzzing size
// cross its bounds too) and checked by jobs::check_partial against one operation of every
// kind, in every round it has (a logistic regression's statistics round, a middle round
// and its last), with the round inputs the aggregator would hold, with and without a
// bound on the datasource's rows.
#include <cstdlib>
#include <set>
#include <vector>

#include "fuzz/fuzz_input.hpp"
#include "jobs/bounded_json.hpp"
#include "jobs/operations.hpp"
#include "jobs/partial_check.hpp"

namespace {

using namespace fedmesh;
using nlohmann::json;

struct Check {
  jobs::Operation op;
  int round;
  json input;
};

const std::vector<Check>& checks() {
  static const auto* all = [] {
    const char* specs[] = {
        R"({"kind": "count"})",
        R"({"kind": "mean", "columns": ["x", "y"]})",
        R"({"kind": "variance", "columns": ["x"]})",
        R"({"kind": "min_max", "columns": ["x", "y"]})",
        R"({"kind": "histogram", "column": "x", "bins": [0, 1, 2.5, 10]})",
        R"({"kind": "group_count", "by": "g"})",
        R"({"kind": "group_mean", "by": "g", "columns": ["x", "y"]})",
        R"({"kind": "linear_regression", "target": "y", "features": ["x"]})",
        R"({"kind": "logistic_regression", "target": "label", "features": ["x", "y"], "rounds": 2})",
        R"({"kind": "logistic_regression", "target": "label", "features": ["x"], "standardize": false})",
        R"({"kind": "random_forest", "target": "label", "features": ["x", "y"], "trees_per_datasource": 2})",
        R"({"kind": "evaluate", "model": "job-0123456789abcdef"})",
    };
    auto* out = new std::vector<Check>;
    for (const char* text : specs) {
      auto op = jobs::parse_operation(json::parse(text));
      if (!op) std::abort();  // the harness itself is broken, not the input
      json input = jobs::first_input(*op);
      out->push_back({*op, 0, input});
      if (op->kind != "logistic_regression") continue;
      std::size_t p = op->spec["features"].size();
      json trained = {{"weights", std::vector<double>(p + 1, 0.1)},
                      {"mean", std::vector<double>(p, 1.0)},
                      {"std", std::vector<double>(p, 2.0)}};
      for (int round : std::set<int>{1, op->rounds - 1})  // a middle round and the last
        if (round > 0) out->push_back({*op, round, trained});
    }
    return out;
  }();
  return *all;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > fuzz::kMaxInput) return 0;
  const auto text = fuzz::as_text(data, size);
  (void)jobs::decode_bounded_json(text, jobs::JsonBudget{4, 256, 16});
  auto partial = jobs::decode_bounded_json(text, jobs::kResultBudget);
  if (!partial) return 0;
  for (const auto& c : checks()) {
    (void)jobs::check_partial(c.op, c.round, c.input, *partial);
    (void)jobs::check_partial(c.op, c.round, c.input, *partial, 10);
  }
  return 0;
}
