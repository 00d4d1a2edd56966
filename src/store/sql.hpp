// The seam between the stores and the SQL backends. Every aggregate (sql_store.cpp) is
// written once against Sql: run one statement with bound values and read its rows, or run
// several in one transaction. Statements use ?1, ?2, ... placeholders in every dialect
// (the PostgreSQL backend rewrites them). A backend is thread-safe; inside transaction()
// the body uses the `tx` it is handed, which holds the connection until the body ends.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "core/error.hpp"
#include "store/delta_store.hpp"
#include "store/migrations.hpp"
#include "store/store.hpp"

namespace fedmesh::store {

// A bound value: text, a 64-bit integer or a double.
using SqlValue = std::variant<std::string_view, std::int64_t, double>;

class SqlRow {
 public:
  virtual ~SqlRow() = default;
  virtual std::string text(int column) const = 0;  // "" for NULL
  virtual std::int64_t integer(int column) const = 0;
};

using RowFn = std::function<void(const SqlRow&)>;

class Sql {
 public:
  virtual ~Sql() = default;
  virtual Dialect dialect() const = 0;
  // Runs one statement; `row` (when given) sees every result row. Errors are store_error
  // naming `what`.
  Status run(std::string_view what, std::string_view sql, std::initializer_list<SqlValue> args,
             const RowFn& row = nullptr) {
    return run_values(what, sql, std::span<const SqlValue>(args.begin(), args.size()), row);
  }
  // The same with values counted at run time (statements built for a number of rows).
  virtual Status run_values(std::string_view what, std::string_view sql, std::span<const SqlValue> args,
                            const RowFn& row) = 0;
  // Runs `body` in one transaction that locks what it touches; committed when body
  // succeeds, rolled back otherwise.
  virtual Status transaction(std::string_view what, const std::function<Status(Sql& tx)>& body) = 0;
};

// What a backend adds to Sql: its schema and durability.
class SqlBackend : public Sql {
 public:
  virtual Status migrate() = 0;
  virtual int schema_version() = 0;
  virtual Status flush() = 0;
  virtual std::string_view name() const = 0;
};

// Shared data's log over one backend (sql_delta_store.cpp).
std::unique_ptr<DeltaStore> make_sql_delta_store(Sql& db);
// Federated jobs over one backend (sql_job_store.cpp).
std::unique_ptr<JobStore> make_sql_job_store(Sql& db);

// The Store over one backend: every aggregate, written once.
std::unique_ptr<Store> make_sql_store(std::unique_ptr<SqlBackend> backend);

}  // namespace fedmesh::store
