// Fuzz target: federated job specs. The bytes are a job as POST /api/v1/jobs takes it
// ({"project", "token", "where", "operation", "datasources"}, parsed at the aggregator's
// depth), or a task as a client receives it from an aggregator (the same `operation` and
// `where`, and the round's `input`). As Aggregator::submit does: jobs::parse_operation on
// `operation`, data::check_logic on `where` and, once checked, data::apply_logic on a row.
// As Worker::run_task does: jobs::select_rows and jobs::compute_partial on a small table
// (an `evaluate` task's input is a whole model), and the aggregator's check of the partial.
#include "core/json.hpp"
#include "data/json_logic.hpp"
#include "fuzz/fuzz_input.hpp"
#include "fuzz/table_fixture.hpp"
#include "jobs/operations.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace fedmesh;
  using nlohmann::json;
  if (size > fuzz::kMaxInput) return 0;
  auto body = parse_json_object(fuzz::as_text(data, size), 40);
  if (!body) return 0;
  json where = body->value("where", json());
  if (!where.is_null() && data::check_logic(where)) {
    static const json row = {{"x", 1.5}, {"y", nullptr}, {"label", 1}, {"g", "north"}, {"id", "row-1"}};
    (void)data::logic_truthy(data::apply_logic(where, row));
  }
  auto spec = body->find("operation");
  if (spec == body->end()) return 0;
  auto op = jobs::parse_operation(*spec);
  if (!op) return 0;
  const auto& table = fuzz::fixture_table();
  auto rows = jobs::select_rows(table, where);
  if (!rows) return 0;
  json input = body->value("input", jobs::first_input(*op));
  auto partial = jobs::compute_partial(*op, input, table, *rows, 1);
  if (!partial) return 0;
  int round = input.is_object() && input.contains("weights") ? 1 : 0;
  (void)jobs::check_partial(*op, round, input, *partial);
  (void)dump_json(*partial);
  return 0;
}
