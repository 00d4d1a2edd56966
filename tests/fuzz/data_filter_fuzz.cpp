// Fuzz target: the JSON-Logic filters of data queries (POST /api/v1/data/{c}/query,
// Rhizome's POST /api/query/{c}; docs/data-model.md). The bytes are read as a query body
// as the routes read it (JSON, depth 40), its filter checked by data::check_logic, and a
// checked filter run by data::matches_logic over a few entities under a small budget, as
// a node runs it. Whatever the filter, each run ends within its budget: a quadratic
// search or an uncharged copy shows up as a timeout.
#include "core/budget.hpp"
#include "core/json.hpp"
#include "data/json_logic.hpp"
#include "fuzz/fuzz_input.hpp"

namespace {

using namespace fedmesh;
using json = nlohmann::json;

// Entities with the shapes filters meet: numbers, strings (one long), lists, nesting.
const std::vector<json>& entities() {
  static const auto* list = new std::vector<json>{
      {{"id", "u1"}, {"name", "Peon"}, {"age", 263}, {"alive", false}, {"tags", {"a", "b"}}},
      {{"id", "u2"}, {"name", ""}, {"age", "263"}, {"n", {{"x", 1}, {"y", {1, 2, 3}}}}},
      {{"id", "big"}, {"text", std::string(16 * 1024, 'x')}, {"list", json::array({1, "1", nullptr, true})}},
  };
  return *list;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > fuzz::kMaxInput) return 0;
  auto body = parse_json(fuzz::as_text(data, size), 40);
  if (!body) return 0;
  const json& filter = body->is_object() && body->contains("filter") ? (*body)["filter"] : *body;
  if (!data::check_logic(filter)) return 0;
  for (const auto& e : entities()) {
    Budget budget(BudgetLimits{.work = 2'000'000, .time = std::chrono::seconds(10)});
    (void)data::matches_logic(filter, e, budget);
  }
  return 0;
}
