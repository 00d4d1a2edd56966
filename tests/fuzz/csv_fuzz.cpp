// Fuzz target: a client's datasource file, CSV and TSV (jobs::parse_table, the reader
// behind read_table), under small limits so that the limits themselves are reached. A
// table that reads is described as a client reports it and every cell read back.
#include "fuzz/fuzz_input.hpp"
#include "jobs/table.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace fedmesh;
  if (size > fuzz::kMaxInput) return 0;
  auto text = fuzz::as_text(data, size);
  jobs::ReadLimits limits;
  limits.max_bytes = 32 << 10;
  limits.max_columns = 64;
  limits.max_field = 1024;
  for (char delimiter : {',', '\t'}) {
    auto table = jobs::parse_table(text, delimiter, "fuzz.csv", limits);
    if (!table) continue;
    (void)table->metadata();
    for (const auto& c : table->columns) {
      (void)table->find(c.name);
      for (std::size_t r = 0; r < table->rows; ++r) (void)c.cell(r);
    }
  }
  return 0;
}
