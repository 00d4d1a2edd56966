#include "jobs/table.hpp"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <unordered_set>

namespace fedmesh::jobs {

namespace {

Error table_error(const std::string& name, std::size_t line, std::size_t column, const std::string& why) {
  std::string where = name + ":" + std::to_string(line);
  if (column > 0) where += ":" + std::to_string(column);
  return make_error(ErrorCode::invalid_argument, where + ": " + why);
}

// A cell as a finite number, when all of it is one.
bool parse_number(std::string_view s, double& out) {
  while (!s.empty() && (s.front() == ' ')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ')) s.remove_suffix(1);
  if (s.empty()) return false;
  if (s.front() == '+') s.remove_prefix(1);
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() && std::isfinite(out);
}

// Splits records field by field (RFC 4180), tracking line numbers for errors.
class Reader {
 public:
  Reader(std::string_view text, char delimiter, const std::string& name, const ReadLimits& limits)
      : text_(text), delimiter_(delimiter), name_(name), limits_(limits) {
    if (text_.starts_with("\xEF\xBB\xBF")) pos_ = 3;
  }

  bool done() const { return pos_ >= text_.size(); }
  std::size_t line() const { return line_; }

  // One record into `fields`; false with `error` set on bad input.
  bool next(std::vector<std::string>& fields, std::optional<Error>& error) {
    fields.clear();
    record_line_ = line_;
    std::string field;
    for (;;) {
      field.clear();
      bool quoted = false;
      if (pos_ < text_.size() && text_[pos_] == '"') {
        quoted = true;
        ++pos_;
        for (;;) {
          if (pos_ >= text_.size()) {
            error = table_error(name_, record_line_, fields.size() + 1, "a quoted cell is never closed");
            return false;
          }
          char c = text_[pos_++];
          if (c == '"') {
            if (pos_ < text_.size() && text_[pos_] == '"') {
              field += '"';
              ++pos_;
              continue;
            }
            break;
          }
          if (c == '\n') ++line_;
          field += c;
          if (field.size() > limits_.max_field) return too_long(fields, error);
        }
      } else {
        std::size_t start = pos_;
        while (pos_ < text_.size() && text_[pos_] != delimiter_ && text_[pos_] != '\n' && text_[pos_] != '\r') {
          if (text_[pos_] == '"') {
            error =
                table_error(name_, line_, fields.size() + 1, "a quote inside an unquoted cell (quote the whole cell)");
            return false;
          }
          ++pos_;
        }
        field.assign(text_.substr(start, pos_ - start));
        if (field.size() > limits_.max_field) return too_long(fields, error);
      }
      fields.push_back(field);
      if (fields.size() > limits_.max_columns) {
        error = table_error(name_, record_line_, fields.size(),
                            "more than " + std::to_string(limits_.max_columns) + " cells in a row");
        return false;
      }
      if (pos_ >= text_.size()) return true;
      char c = text_[pos_];
      if (c == delimiter_) {
        ++pos_;
        continue;
      }
      if (c == '\r') ++pos_;
      if (pos_ < text_.size() && text_[pos_] == '\n') ++pos_;
      if (c == '\n' || c == '\r') {
        ++line_;
        return true;
      }
      error = table_error(name_, record_line_, fields.size(),
                          quoted ? "text after a closing quote" : "unexpected character");
      return false;
    }
  }

 private:
  bool too_long(const std::vector<std::string>& fields, std::optional<Error>& error) {
    error = table_error(name_, record_line_, fields.size() + 1,
                        "a cell longer than " + std::to_string(limits_.max_field) + " bytes");
    return false;
  }

  std::string_view text_;
  char delimiter_;
  const std::string& name_;
  const ReadLimits& limits_;
  std::size_t pos_ = 0;
  std::size_t line_ = 1;
  std::size_t record_line_ = 1;
};

}  // namespace

std::string_view to_string(ColumnType type) {
  return type == ColumnType::number ? "number" : "string";
}

nlohmann::json Column::cell(std::size_t row) const {
  if (missing(row)) return nullptr;
  if (type == ColumnType::number) return numbers[row];
  return texts[row];
}

const Column* Table::find(std::string_view name) const {
  for (const auto& c : columns)
    if (c.name == name) return &c;
  return nullptr;
}

nlohmann::json Table::metadata() const {
  nlohmann::json cols = nlohmann::json::array();
  for (const auto& c : columns) cols.push_back({{"name", c.name}, {"type", to_string(c.type)}});
  return {{"rows", rows}, {"columns", std::move(cols)}};
}

Result<Table> parse_table(std::string_view text, char delimiter, const std::string& name, const ReadLimits& limits) {
  if (text.size() > limits.max_bytes)
    return make_error(ErrorCode::invalid_argument,
                      name + ": larger than " + std::to_string(limits.max_bytes) + " bytes");
  Reader reader(text, delimiter, name, limits);
  std::vector<std::string> fields;
  std::optional<Error> error;
  if (reader.done()) return table_error(name, 1, 0, "empty file: expected a header row");
  if (!reader.next(fields, error)) return *error;
  Table table;
  table.source = name;
  std::unordered_set<std::string> seen;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    std::string n = fields[i];
    while (!n.empty() && n.back() == ' ') n.pop_back();
    while (!n.empty() && n.front() == ' ') n.erase(0, 1);
    if (n.empty()) return table_error(name, 1, i + 1, "a column without a name in the header");
    if (!seen.insert(n).second) return table_error(name, 1, i + 1, "column '" + n + "' appears twice in the header");
    table.columns.push_back(Column{n, ColumnType::number, {}, {}, {}});
  }
  // Cells as text first; each column is typed once all its cells are known.
  std::vector<std::vector<std::string>> cells(table.columns.size());
  while (!reader.done()) {
    std::size_t line = reader.line();
    if (!reader.next(fields, error)) return *error;
    if (fields.size() == 1 && fields[0].empty()) continue;  // a blank line
    if (fields.size() != table.columns.size())
      return table_error(name, line, std::min(fields.size(), table.columns.size()) + 1,
                         std::to_string(fields.size()) + " cells, but the header names " +
                             std::to_string(table.columns.size()) + " columns");
    for (std::size_t i = 0; i < fields.size(); ++i) cells[i].push_back(std::move(fields[i]));
    ++table.rows;
  }
  for (std::size_t i = 0; i < table.columns.size(); ++i) {
    auto& col = table.columns[i];
    auto& raw = cells[i];
    col.numbers.resize(raw.size());
    bool numeric = true;
    for (std::size_t r = 0; r < raw.size() && numeric; ++r) {
      if (raw[r].empty()) {
        col.numbers[r] = std::numeric_limits<double>::quiet_NaN();
      } else if (!parse_number(raw[r], col.numbers[r])) {
        numeric = false;
      }
    }
    if (numeric) continue;
    col.type = ColumnType::string;
    col.numbers.clear();
    col.numbers.shrink_to_fit();
    col.present.resize(raw.size());
    for (std::size_t r = 0; r < raw.size(); ++r) col.present[r] = raw[r].empty() ? 0 : 1;
    col.texts = std::move(raw);
  }
  return table;
}

Result<Table> read_table(const std::string& path, char delimiter, const ReadLimits& limits) {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  if (ec) return make_error(ErrorCode::invalid_argument, path + ": cannot be read: " + ec.message());
  if (size > limits.max_bytes)
    return make_error(ErrorCode::invalid_argument,
                      path + ": " + std::to_string(size) + " bytes, more than " + std::to_string(limits.max_bytes));
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorCode::invalid_argument, path + ": cannot be read");
  std::string text(size, '\0');
  in.read(text.data(), static_cast<std::streamsize>(size));
  if (!in) return make_error(ErrorCode::invalid_argument, path + ": cannot be read");
  return parse_table(text, delimiter, path, limits);
}

}  // namespace fedmesh::jobs
