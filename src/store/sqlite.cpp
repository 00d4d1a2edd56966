// The SQLite backend: one connection in WAL mode (or ":memory:") behind a mutex, with
// its prepared statements cached by text.
#include <sqlite3.h>

#include <mutex>
#include <unordered_map>

#include "store/open.hpp"
#include "store/sql.hpp"

namespace fedmesh {

namespace store {
namespace {

class SqliteRow final : public SqlRow {
 public:
  explicit SqliteRow(sqlite3_stmt* stmt) : stmt_(stmt) {}
  std::string text(int col) const override {
    auto p = sqlite3_column_text(stmt_, col);
    if (!p) return {};
    return std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
  }
  std::int64_t integer(int col) const override { return sqlite3_column_int64(stmt_, col); }

 private:
  sqlite3_stmt* stmt_;
};

class SqliteBackend final : public SqlBackend {
 public:
  SqliteBackend(sqlite3* db, std::string path) : db_(db), path_(std::move(path)), tx_(*this) {}
  ~SqliteBackend() override {
    for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
    sqlite3_close(db_);
  }

  Dialect dialect() const override { return Dialect::sqlite; }
  std::string_view name() const override { return "sqlite"; }

  Status run_values(std::string_view what, std::string_view sql, std::span<const SqlValue> args,
                    const RowFn& row) override {
    std::lock_guard lock(mu_);
    return run_locked(what, sql, args, row);
  }

  Status transaction(std::string_view what, const std::function<Status(Sql&)>& body) override {
    std::lock_guard lock(mu_);
    // IMMEDIATE takes the write lock at once: a read-modify-write cannot interleave.
    if (auto s = exec_locked("BEGIN IMMEDIATE"); !s) return s;
    auto s = body(tx_);
    if (!s) {
      (void)exec_locked("ROLLBACK");
      return make_error(s.error().code(), std::string(what) + ": " + s.error().message());
    }
    return exec_locked("COMMIT");
  }

  Status migrate() override {
    std::lock_guard lock(mu_);
    if (auto s = exec_locked("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at "
                             "TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)");
        !s)
      return s;
    int current = version_locked();
    for (const auto& m : migrations()) {
      if (m.version <= current) continue;
      if (auto s = exec_locked("BEGIN IMMEDIATE"); !s) return s;
      auto applied = exec_locked(sql_for(m, Dialect::sqlite));
      if (applied)
        applied = exec_locked("INSERT INTO schema_migrations(version) VALUES (" + std::to_string(m.version) + ")");
      if (!applied) {
        (void)exec_locked("ROLLBACK");
        return make_error(ErrorCode::store_error,
                          "migration " + std::to_string(m.version) + " failed: " + applied.error().message());
      }
      if (auto s = exec_locked("COMMIT"); !s) return s;
    }
    return {};
  }

  int schema_version() override {
    std::lock_guard lock(mu_);
    return version_locked();
  }

  Status flush() override {
    std::lock_guard lock(mu_);
    if (path_ == ":memory:") return {};
    return exec_locked("PRAGMA wal_checkpoint(TRUNCATE)");
  }

  Status exec_locked(const std::string& sql) {
    char* err = nullptr;
    if (int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err); rc != SQLITE_OK) {
      std::string msg = err ? err : "unknown error";
      sqlite3_free(err);
      return make_error(code_of(rc), path_ + ": " + msg);
    }
    return {};
  }

 private:
  // Runs statements while the caller holds the connection (transaction bodies).
  class Tx final : public Sql {
   public:
    explicit Tx(SqliteBackend& owner) : owner_(owner) {}
    Dialect dialect() const override { return Dialect::sqlite; }
    Status run_values(std::string_view what, std::string_view sql, std::span<const SqlValue> args,
                      const RowFn& row) override {
      return owner_.run_locked(what, sql, args, row);
    }
    Status transaction(std::string_view, const std::function<Status(Sql&)>& body) override {
      return body(*this);  // already inside one
    }

   private:
    SqliteBackend& owner_;
  };

  // A full disk is its own code: the operator frees space and the same write succeeds.
  static ErrorCode code_of(int rc) {
    return (rc & 0xff) == SQLITE_FULL ? ErrorCode::storage_full : ErrorCode::store_error;
  }

  Error failed(std::string_view what) const {
    return make_error(code_of(sqlite3_extended_errcode(db_)), std::string(what) + ": " + sqlite3_errmsg(db_));
  }

  Status run_locked(std::string_view what, std::string_view sql, std::span<const SqlValue> args, const RowFn& row) {
    auto& stmt = statements_[std::string(sql)];
    if (!stmt && sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr) != SQLITE_OK) {
      auto err = failed(what);
      statements_.erase(std::string(sql));
      return err;
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    int i = 1;
    for (const auto& arg : args) {
      if (const auto* text = std::get_if<std::string_view>(&arg)) {
        sqlite3_bind_text(stmt, i, text->data(), static_cast<int>(text->size()), SQLITE_TRANSIENT);
      } else if (const auto* n = std::get_if<std::int64_t>(&arg)) {
        sqlite3_bind_int64(stmt, i, *n);
      } else {
        sqlite3_bind_double(stmt, i, std::get<double>(arg));
      }
      ++i;
    }
    SqliteRow view(stmt);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      if (row) row(view);
    }
    auto result = rc == SQLITE_DONE ? Status{} : Status(failed(what));
    sqlite3_reset(stmt);
    return result;
  }

  int version_locked() {
    int version = 0;
    auto s = run_locked("schema_version", "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", {},
                        [&](const SqlRow& r) { version = static_cast<int>(r.integer(0)); });
    return s ? version : 0;
  }

  std::mutex mu_;  // guards db_ and statements_
  sqlite3* db_;
  std::string path_;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
  Tx tx_;
};

}  // namespace
}  // namespace store

Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return make_error(ErrorCode::store_error, path + ": cannot open SQLite store: " + msg);
  }
  sqlite3_busy_timeout(db, 5000);
  auto backend = std::make_unique<store::SqliteBackend>(db, path);
  if (path != ":memory:") {
    if (auto s = backend->exec_locked("PRAGMA journal_mode=WAL"); !s) return std::move(s).error();
  }
  // A 64 MiB page cache: shared data's indexes are written all over (entity ids are
  // often random); with SQLite's 2 MiB default most inserts read their page back from
  // disk. Checkpoints every 32 MiB of WAL instead of 4: a page written many times in
  // between is copied back once.
  if (auto s = backend->exec_locked("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-65536; "
                                    "PRAGMA wal_autocheckpoint=8192");
      !s)
    return std::move(s).error();
  if (auto s = backend->migrate(); !s) return std::move(s).error();
  return store::make_sql_store(std::move(backend));
}

}  // namespace fedmesh
