#include "store/sqlite_store.hpp"

#include <sqlite3.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "store/migrations.hpp"

namespace fedmesh {

namespace {

// A prepared statement that finalizes itself.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) { rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  bool ok() const { return rc_ == SQLITE_OK; }
  Stmt& bind(int i, std::string_view text) {
    sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    return *this;
  }
  int step() { return sqlite3_step(stmt_); }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  std::string text(int col) const {
    auto p = sqlite3_column_text(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string();
  }
  int integer(int col) const { return sqlite3_column_int(stmt_, col); }
  Stmt& bind_int(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  std::int64_t int64(int col) const { return sqlite3_column_int64(stmt_, col); }
  Stmt& bind_double(int i, double v) {
    sqlite3_bind_double(stmt_, i, v);
    return *this;
  }
  Error error(std::string_view what) const {
    return make_error(ErrorCode::store_error, std::string(what) + ": " + sqlite3_errmsg(db_));
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

}  // namespace

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return make_error(ErrorCode::store_error, path + ": cannot open SQLite store: " + msg);
  }
  std::unique_ptr<SqliteStore> store(new SqliteStore(db, path));
  sqlite3_busy_timeout(db, 5000);
  if (path != ":memory:") {
    if (auto s = store->exec("PRAGMA journal_mode=WAL"); !s) return std::move(s).error();
  }
  if (auto s = store->exec("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON"); !s) return std::move(s).error();
  if (auto s = store->migrate(); !s) return std::move(s).error();
  return store;
}

SqliteStore::~SqliteStore() {
  sqlite3_close(db_);
}

Status SqliteStore::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return make_error(ErrorCode::store_error, path_ + ": " + msg);
  }
  return {};
}

int SqliteStore::schema_version_locked() {
  Stmt s(db_, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  if (!s.ok() || s.step() != SQLITE_ROW) return 0;
  return s.integer(0);
}

int SqliteStore::schema_version() {
  std::lock_guard lock(mu_);
  return schema_version_locked();
}

Status SqliteStore::migrate() {
  std::lock_guard lock(mu_);
  if (auto s = exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT "
                    "NOT NULL DEFAULT CURRENT_TIMESTAMP)");
      !s)
    return s;
  int current = schema_version_locked();
  for (const auto& m : store::migrations()) {
    if (m.version <= current) continue;
    if (auto s = exec("BEGIN IMMEDIATE"); !s) return s;
    std::string sql = store::sql_for(m, store::Dialect::sqlite);
    auto applied = exec(sql.c_str());
    if (applied) {
      std::string record = "INSERT INTO schema_migrations(version) VALUES (" + std::to_string(m.version) + ")";
      applied = exec(record.c_str());
    }
    if (!applied) {
      (void)exec("ROLLBACK");
      return make_error(ErrorCode::store_error,
                        "migration " + std::to_string(m.version) + " failed: " + applied.error().message());
    }
    if (auto s = exec("COMMIT"); !s) return s;
  }
  return {};
}

Result<std::optional<std::string>> SqliteStore::get_meta(std::string_view key) {
  std::lock_guard lock(mu_);
  Stmt s(db_, "SELECT value FROM node_meta WHERE key = ?1");
  if (!s.ok()) return s.error("get_meta");
  s.bind(1, key);
  int rc = s.step();
  if (rc == SQLITE_ROW) return std::optional<std::string>(s.text(0));
  if (rc == SQLITE_DONE) return std::optional<std::string>();
  return s.error("get_meta");
}

Status SqliteStore::set_meta(std::string_view key, std::string_view value) {
  std::lock_guard lock(mu_);
  Stmt s(db_,
         "INSERT INTO node_meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  if (!s.ok()) return s.error("set_meta");
  s.bind(1, key).bind(2, value);
  if (s.step() != SQLITE_DONE) return s.error("set_meta");
  return {};
}

Status SqliteStore::upsert_peer(const PeerRecord& p) {
  std::lock_guard lock(mu_);
  Stmt s(db_, R"sql(
INSERT INTO peers(name, url, origin, organization, version, roles, fingerprint, created_at, last_seen)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
ON CONFLICT(name) DO UPDATE SET url = excluded.url, origin = excluded.origin,
  organization = excluded.organization, version = excluded.version, roles = excluded.roles,
  fingerprint = excluded.fingerprint, last_seen = excluded.last_seen)sql");
  if (!s.ok()) return s.error("upsert_peer");
  s.bind(1, p.name).bind(2, p.url).bind(3, p.origin).bind(4, p.organization).bind(5, p.version).bind(6, p.roles);
  s.bind(7, p.fingerprint).bind(8, p.created_at).bind(9, p.last_seen);
  if (s.step() != SQLITE_DONE) return s.error("upsert_peer");
  return {};
}

Result<std::vector<PeerRecord>> SqliteStore::list_peers() {
  std::lock_guard lock(mu_);
  Stmt s(db_,
         "SELECT name, url, origin, organization, version, roles, fingerprint, created_at, last_seen FROM peers "
         "ORDER BY name");
  if (!s.ok()) return s.error("list_peers");
  std::vector<PeerRecord> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    out.push_back({s.text(0), s.text(1), s.text(2), s.text(3), s.text(4), s.text(5), s.text(6), s.text(7), s.text(8)});
  }
  if (rc != SQLITE_DONE) return s.error("list_peers");
  return out;
}

Status SqliteStore::delete_peer(std::string_view name) {
  std::lock_guard lock(mu_);
  Stmt s(db_, "DELETE FROM peers WHERE name = ?1");
  if (!s.ok()) return s.error("delete_peer");
  s.bind(1, name);
  if (s.step() != SQLITE_DONE) return s.error("delete_peer");
  return {};
}

Status SqliteStore::put_package(const PackageRecord& p) {
  std::lock_guard lock(mu_);
  Stmt s(db_, R"sql(
INSERT INTO packages(name, version, hash, source, installed_at) VALUES (?1, ?2, ?3, ?4, ?5)
ON CONFLICT(name) DO UPDATE SET version = excluded.version, hash = excluded.hash, source = excluded.source,
  installed_at = excluded.installed_at)sql");
  if (!s.ok()) return s.error("put_package");
  s.bind(1, p.name).bind(2, p.version).bind(3, p.hash).bind(4, p.source).bind(5, p.installed_at);
  if (s.step() != SQLITE_DONE) return s.error("put_package");
  return {};
}

Result<std::optional<PackageRecord>> SqliteStore::get_package(std::string_view name) {
  std::lock_guard lock(mu_);
  Stmt s(db_, "SELECT name, version, hash, source, installed_at FROM packages WHERE name = ?1");
  if (!s.ok()) return s.error("get_package");
  s.bind(1, name);
  int rc = s.step();
  if (rc == SQLITE_ROW)
    return std::optional<PackageRecord>(PackageRecord{s.text(0), s.text(1), s.text(2), s.text(3), s.text(4)});
  if (rc == SQLITE_DONE) return std::optional<PackageRecord>();
  return s.error("get_package");
}

Result<std::vector<PackageRecord>> SqliteStore::list_packages() {
  std::lock_guard lock(mu_);
  Stmt s(db_, "SELECT name, version, hash, source, installed_at FROM packages ORDER BY name");
  if (!s.ok()) return s.error("list_packages");
  std::vector<PackageRecord> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back({s.text(0), s.text(1), s.text(2), s.text(3), s.text(4)});
  if (rc != SQLITE_DONE) return s.error("list_packages");
  return out;
}

Status SqliteStore::delete_package(std::string_view name) {
  std::lock_guard lock(mu_);
  Stmt s(db_, "DELETE FROM packages WHERE name = ?1");
  if (!s.ok()) return s.error("delete_package");
  s.bind(1, name);
  if (s.step() != SQLITE_DONE) return s.error("delete_package");
  return {};
}

Result<std::optional<std::string>> SqliteStore::state_get(std::string_view package, std::string_view key) {
  std::lock_guard lock(mu_);
  Stmt s(db_, "SELECT value FROM package_state WHERE package = ?1 AND key = ?2");
  if (!s.ok()) return s.error("state_get");
  s.bind(1, package).bind(2, key);
  int rc = s.step();
  if (rc == SQLITE_ROW) return std::optional<std::string>(s.text(0));
  if (rc == SQLITE_DONE) return std::optional<std::string>();
  return s.error("state_get");
}

Status SqliteStore::state_set(std::string_view package, std::string_view key, std::string_view value) {
  std::lock_guard lock(mu_);
  Stmt s(db_,
         "INSERT INTO package_state(package, key, value) VALUES (?1, ?2, ?3) "
         "ON CONFLICT(package, key) DO UPDATE SET value = excluded.value");
  if (!s.ok()) return s.error("state_set");
  s.bind(1, package).bind(2, key).bind(3, value);
  if (s.step() != SQLITE_DONE) return s.error("state_set");
  return {};
}

Status SqliteStore::state_delete(std::string_view package, std::string_view key) {
  std::lock_guard lock(mu_);
  Stmt s(db_, "DELETE FROM package_state WHERE package = ?1 AND key = ?2");
  if (!s.ok()) return s.error("state_delete");
  s.bind(1, package).bind(2, key);
  if (s.step() != SQLITE_DONE) return s.error("state_delete");
  return {};
}

Result<std::vector<std::string>> SqliteStore::state_keys(std::string_view package, std::string_view prefix) {
  std::lock_guard lock(mu_);
  Stmt s(db_, "SELECT key FROM package_state WHERE package = ?1 AND substr(key, 1, length(?2)) = ?2 ORDER BY key");
  if (!s.ok()) return s.error("state_keys");
  s.bind(1, package).bind(2, prefix);
  std::vector<std::string> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back(s.text(0));
  if (rc != SQLITE_DONE) return s.error("state_keys");
  return out;
}

Result<std::optional<double>> SqliteStore::number_locked(std::string_view package, std::string_view key) {
  Stmt s(db_, "SELECT value FROM package_state WHERE package = ?1 AND key = ?2");
  if (!s.ok()) return s.error("state");
  s.bind(1, package).bind(2, key);
  int rc = s.step();
  if (rc == SQLITE_DONE) return std::optional<double>();
  if (rc != SQLITE_ROW) return s.error("state");
  auto text = s.text(0);
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || *end != '\0')
    return make_error(ErrorCode::conflict, "state key '" + std::string(key) + "' does not hold a number");
  return std::optional<double>(v);
}

Status SqliteStore::set_number_locked(std::string_view package, std::string_view key, double value) {
  Stmt s(db_,
         "INSERT INTO package_state(package, key, value) VALUES (?1, ?2, ?3) "
         "ON CONFLICT(package, key) DO UPDATE SET value = excluded.value");
  if (!s.ok()) return s.error("state");
  char buf[64];
  if (value == static_cast<double>(static_cast<long long>(value)) && std::abs(value) < 1e15) {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(value));
  } else {
    std::snprintf(buf, sizeof buf, "%.17g", value);
  }
  s.bind(1, package).bind(2, key).bind(3, buf);
  if (s.step() != SQLITE_DONE) return s.error("state");
  return {};
}

Result<double> SqliteStore::state_incr(std::string_view package, std::string_view key, double delta) {
  std::lock_guard lock(mu_);  // one connection, one lock: read-modify-write is atomic
  auto current = number_locked(package, key);
  if (!current) return std::move(current).error();
  double next = current->value_or(0) + delta;
  if (auto s = set_number_locked(package, key, next); !s) return std::move(s).error();
  return next;
}

Result<DecrResult> SqliteStore::state_decr_if(std::string_view package, std::string_view key, double amount,
                                              double floor) {
  std::lock_guard lock(mu_);
  auto current = number_locked(package, key);
  if (!current) return std::move(current).error();
  double value = current->value_or(0);
  if (value - amount < floor) return DecrResult{false, value};
  if (auto s = set_number_locked(package, key, value - amount); !s) return std::move(s).error();
  return DecrResult{true, value - amount};
}

Status SqliteStore::ledger_append(const std::vector<LedgerEntry>& entries) {
  if (entries.empty()) return {};
  std::lock_guard lock(mu_);
  if (auto s = exec("BEGIN"); !s) return s;
  Stmt s(db_,
         "INSERT INTO ledger(call_id, at, direction, caller, callee, skill, status, duration_us, error) "
         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  if (!s.ok()) {
    (void)exec("ROLLBACK");
    return s.error("ledger_append");
  }
  for (const auto& e : entries) {
    s.reset();
    s.bind(1, e.call_id).bind(2, e.at).bind(3, e.direction).bind(4, e.caller).bind(5, e.callee).bind(6, e.skill);
    s.bind(7, e.status).bind_int(8, e.duration_us).bind(9, e.error);
    if (s.step() != SQLITE_DONE) {
      auto err = s.error("ledger_append");
      (void)exec("ROLLBACK");
      return err;
    }
  }
  return exec("COMMIT");
}

Result<std::vector<LedgerEntry>> SqliteStore::ledger_query(const LedgerQuery& q) {
  std::lock_guard lock(mu_);
  Stmt s(db_, R"sql(
SELECT id, call_id, at, direction, caller, callee, skill, status, duration_us, error FROM ledger
WHERE (?1 = '' OR skill = ?1)
  AND (?2 = '' OR (?2 = 'error' AND status <> 'ok') OR status = ?2)
  AND (?3 = 0 OR id < ?3)
ORDER BY id DESC LIMIT ?4)sql");
  if (!s.ok()) return s.error("ledger_query");
  s.bind(1, q.skill).bind(2, q.status).bind_int(3, q.before_id).bind_int(4, q.limit);
  std::vector<LedgerEntry> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    out.push_back({s.int64(0), s.text(1), s.text(2), s.text(3), s.text(4), s.text(5), s.text(6), s.text(7), s.int64(8),
                   s.text(9)});
  }
  if (rc != SQLITE_DONE) return s.error("ledger_query");
  return out;
}

Status SqliteStore::ledger_trim(std::int64_t keep) {
  std::lock_guard lock(mu_);
  Stmt s(db_, "DELETE FROM ledger WHERE id <= (SELECT MAX(id) FROM ledger) - ?1");
  if (!s.ok()) return s.error("ledger_trim");
  s.bind_int(1, keep);
  if (s.step() != SQLITE_DONE) return s.error("ledger_trim");
  return {};
}

Status SqliteStore::catalog_put(const CatalogNodeRecord& n) {
  std::lock_guard lock(mu_);
  Stmt s(db_, R"sql(
INSERT INTO registry_nodes(name, url, organization, created, modified, heartbeat, flows, origin, version, deleted,
  kind)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
ON CONFLICT(name) DO UPDATE SET url = excluded.url, organization = excluded.organization,
  created = excluded.created, modified = excluded.modified, heartbeat = excluded.heartbeat, flows = excluded.flows,
  origin = excluded.origin, version = excluded.version, deleted = excluded.deleted, kind = excluded.kind)sql");
  if (!s.ok()) return s.error("catalog_put");
  s.bind(1, n.name).bind(2, n.url).bind(3, n.organization).bind(4, n.created).bind(5, n.modified);
  s.bind(6, n.heartbeat)
      .bind(7, n.flows)
      .bind(8, n.origin)
      .bind_int(9, n.version)
      .bind_int(10, n.deleted ? 1 : 0)
      .bind(11, n.kind);
  if (s.step() != SQLITE_DONE) return s.error("catalog_put");
  return {};
}

Status SqliteStore::catalog_delete(std::string_view name) {
  std::lock_guard lock(mu_);
  Stmt s(db_, "DELETE FROM registry_nodes WHERE name = ?1");
  if (!s.ok()) return s.error("catalog_delete");
  s.bind(1, name);
  if (s.step() != SQLITE_DONE) return s.error("catalog_delete");
  return {};
}

Result<std::vector<CatalogNodeRecord>> SqliteStore::catalog_load() {
  std::lock_guard lock(mu_);
  Stmt s(db_,
         "SELECT name, url, organization, created, modified, heartbeat, flows, origin, version, deleted, kind FROM "
         "registry_nodes ORDER BY name");
  if (!s.ok()) return s.error("catalog_load");
  std::vector<CatalogNodeRecord> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    out.push_back({s.text(0), s.text(1), s.text(2), s.text(3), s.text(4), s.text(5), s.text(6), s.text(7), s.int64(8),
                   s.int64(9) != 0, s.text(10)});
  if (rc != SQLITE_DONE) return s.error("catalog_load");
  return out;
}

Status SqliteStore::catalog_clear() {
  std::lock_guard lock(mu_);
  return exec("DELETE FROM registry_nodes");
}

Status SqliteStore::flush() {
  std::lock_guard lock(mu_);
  if (path_ == ":memory:") return {};
  return exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

}  // namespace fedmesh
