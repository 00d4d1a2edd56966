// Table: a datasource's rows in memory, column by column, read from CSV or TSV by a
// bounded reader. Every column is typed once from its cells: `number` when each
// non-empty cell parses as a finite number, else `string`; empty cells are missing.
// Errors name the file, line and column. Immutable once read; thread-safe to share.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace fedmesh::jobs {

enum class ColumnType { number, string };
std::string_view to_string(ColumnType type);

struct Column {
  std::string name;
  ColumnType type = ColumnType::number;
  std::vector<double> numbers;        // number columns: one per row, NaN when missing
  std::vector<std::string> texts;     // string columns: one per row
  std::vector<std::uint8_t> present;  // string columns: 1 when the cell was not empty

  bool missing(std::size_t row) const {
    return type == ColumnType::number ? std::isnan(numbers[row]) : present[row] == 0;
  }
  // The cell as JSON: a number, a string or null.
  nlohmann::json cell(std::size_t row) const;
};

struct Table {
  std::string source;  // the file name errors and metadata use
  std::vector<Column> columns;
  std::size_t rows = 0;

  // The column called `name`, or null.
  const Column* find(std::string_view name) const;
  // {"rows": n, "columns": [{"name", "type"}]}: what a client tells its aggregator.
  nlohmann::json metadata() const;
};

struct ReadLimits {
  std::uint64_t max_bytes = 1ull << 30;  // the file
  std::size_t max_columns = 1024;
  std::size_t max_field = std::size_t{64} * 1024;  // bytes of one cell
};

// Reads CSV (delimiter ',') or TSV ('\t'): a header row of unique, non-empty names, then
// rows of exactly as many cells. RFC 4180 quoting ("a, b", "say ""hi""", newlines inside
// quotes); a UTF-8 byte-order mark is skipped; CRLF or LF line ends.
Result<Table> read_table(const std::string& path, char delimiter, const ReadLimits& limits = {});
// The same from text (tests, fuzzing); `name` stands for the file in errors.
Result<Table> parse_table(std::string_view text, char delimiter, const std::string& name,
                          const ReadLimits& limits = {});

}  // namespace fedmesh::jobs
