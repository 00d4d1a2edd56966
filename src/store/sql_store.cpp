// Every stored aggregate, written once against the Sql seam; SQLite and PostgreSQL run
// the same statements (docs/storage.md lists the tables).
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "store/sql.hpp"

namespace fedmesh::store {

namespace {

// Keys and names sort by bytes on both backends (SQLite's default; "C" in PostgreSQL).
std::string_view byte_order(const Sql& db) {
  return db.dialect() == Dialect::postgresql ? " COLLATE \"C\"" : "";
}

std::int64_t as_int(bool b) {
  return b ? 1 : 0;
}

class SqlMeta final : public MetaStore {
 public:
  explicit SqlMeta(Sql& db) : db_(db) {}
  Result<std::optional<std::string>> get(std::string_view key) override {
    std::optional<std::string> out;
    auto s = db_.run("meta.get", "SELECT value FROM node_meta WHERE key = ?1", {key},
                     [&](const SqlRow& r) { out = r.text(0); });
    if (!s) return std::move(s).error();
    return out;
  }
  Status set(std::string_view key, std::string_view value) override {
    return db_.run("meta.set",
                   "INSERT INTO node_meta(key, value) VALUES (?1, ?2) "
                   "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                   {key, value});
  }

 private:
  Sql& db_;
};

class SqlPeers final : public PeerStore {
 public:
  explicit SqlPeers(Sql& db) : db_(db) {}
  Status upsert(const PeerRecord& p) override {
    return db_.run(
        "peers.upsert", R"sql(
INSERT INTO peers(name, url, origin, organization, version, roles, fingerprint, created_at, last_seen)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
ON CONFLICT(name) DO UPDATE SET url = excluded.url, origin = excluded.origin,
  organization = excluded.organization, version = excluded.version, roles = excluded.roles,
  fingerprint = excluded.fingerprint, last_seen = excluded.last_seen)sql",
        {p.name, p.url, p.origin, p.organization, p.version, p.roles, p.fingerprint, p.created_at, p.last_seen});
  }
  Result<std::vector<PeerRecord>> list() override {
    std::vector<PeerRecord> out;
    std::string sql =
        "SELECT name, url, origin, organization, version, roles, fingerprint, created_at, last_seen FROM peers "
        "ORDER BY name" +
        std::string(byte_order(db_));
    auto s = db_.run("peers.list", sql, {}, [&](const SqlRow& r) {
      out.push_back(
          {r.text(0), r.text(1), r.text(2), r.text(3), r.text(4), r.text(5), r.text(6), r.text(7), r.text(8)});
    });
    if (!s) return std::move(s).error();
    return out;
  }
  Status remove(std::string_view name) override {
    return db_.run("peers.remove", "DELETE FROM peers WHERE name = ?1", {name});
  }

 private:
  Sql& db_;
};

class SqlPackages final : public PackageStore {
 public:
  explicit SqlPackages(Sql& db) : db_(db) {}
  Status put(const PackageRecord& p) override {
    return db_.run("packages.put", R"sql(
INSERT INTO packages(name, version, hash, source, installed_at) VALUES (?1, ?2, ?3, ?4, ?5)
ON CONFLICT(name) DO UPDATE SET version = excluded.version, hash = excluded.hash, source = excluded.source,
  installed_at = excluded.installed_at)sql",
                   {p.name, p.version, p.hash, p.source, p.installed_at});
  }
  Result<std::optional<PackageRecord>> get(std::string_view name) override {
    std::optional<PackageRecord> out;
    auto s = db_.run("packages.get", "SELECT name, version, hash, source, installed_at FROM packages WHERE name = ?1",
                     {name}, [&](const SqlRow& r) { out = read(r); });
    if (!s) return std::move(s).error();
    return out;
  }
  Result<std::vector<PackageRecord>> list() override {
    std::vector<PackageRecord> out;
    std::string sql =
        "SELECT name, version, hash, source, installed_at FROM packages ORDER BY name" + std::string(byte_order(db_));
    auto s = db_.run("packages.list", sql, {}, [&](const SqlRow& r) { out.push_back(read(r)); });
    if (!s) return std::move(s).error();
    return out;
  }
  Status remove(std::string_view name) override {
    return db_.run("packages.remove", "DELETE FROM packages WHERE name = ?1", {name});
  }

 private:
  static PackageRecord read(const SqlRow& r) { return {r.text(0), r.text(1), r.text(2), r.text(3), r.text(4)}; }
  Sql& db_;
};

std::string number_text(double value) {
  char buf[64];
  if (value == static_cast<double>(static_cast<long long>(value)) && std::abs(value) < 1e15) {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(value));
  } else {
    std::snprintf(buf, sizeof buf, "%.17g", value);
  }
  return buf;
}

class SqlState final : public StateStore {
 public:
  explicit SqlState(Sql& db) : db_(db) {}
  Result<std::optional<std::string>> get(std::string_view package, std::string_view key) override {
    std::optional<std::string> out;
    auto s = db_.run("state.get", "SELECT value FROM package_state WHERE package = ?1 AND key = ?2", {package, key},
                     [&](const SqlRow& r) { out = r.text(0); });
    if (!s) return std::move(s).error();
    return out;
  }
  Status set(std::string_view package, std::string_view key, std::string_view value) override {
    return write(db_, package, key, value);
  }
  Status remove(std::string_view package, std::string_view key) override {
    return db_.run("state.remove", "DELETE FROM package_state WHERE package = ?1 AND key = ?2", {package, key});
  }
  Result<std::vector<std::string>> keys(std::string_view package, std::string_view prefix) override {
    std::vector<std::string> out;
    std::string sql =
        "SELECT key FROM package_state WHERE package = ?1 AND substr(key, 1, length(?2)) = ?2 ORDER BY key" +
        std::string(byte_order(db_));
    auto s = db_.run("state.keys", sql, {package, prefix}, [&](const SqlRow& r) { out.push_back(r.text(0)); });
    if (!s) return std::move(s).error();
    return out;
  }
  Result<double> incr(std::string_view package, std::string_view key, double delta) override {
    double next = 0;
    auto s = db_.transaction("state.incr", [&](Sql& tx) -> Status {
      auto current = number(tx, package, key);
      if (!current) return std::move(current).error();
      next = current->value_or(0) + delta;
      return write(tx, package, key, number_text(next));
    });
    if (!s) return std::move(s).error();
    return next;
  }
  Result<DecrResult> decr_if(std::string_view package, std::string_view key, double amount, double floor) override {
    DecrResult out;
    auto s = db_.transaction("state.decr_if", [&](Sql& tx) -> Status {
      auto current = number(tx, package, key);
      if (!current) return std::move(current).error();
      out.value = current->value_or(0);
      if (out.value - amount < floor) return {};
      out.applied = true;
      out.value -= amount;
      return write(tx, package, key, number_text(out.value));
    });
    if (!s) return std::move(s).error();
    return out;
  }

 private:
  static Status write(Sql& db, std::string_view package, std::string_view key, std::string_view value) {
    return db.run("state.set",
                  "INSERT INTO package_state(package, key, value) VALUES (?1, ?2, ?3) "
                  "ON CONFLICT(package, key) DO UPDATE SET value = excluded.value",
                  {package, key, value});
  }
  // The value of a key as a number, read inside the transaction. SQLite's transaction
  // holds the whole database; in PostgreSQL a transaction-scoped advisory lock on the key
  // serializes writers even while the key does not exist yet (no row to lock).
  static Result<std::optional<double>> number(Sql& tx, std::string_view package, std::string_view key) {
    if (tx.dialect() == Dialect::postgresql) {
      auto locked = tx.run("state", "SELECT pg_advisory_xact_lock(hashtext(?1), hashtext(?2))", {package, key});
      if (!locked) return std::move(locked).error();
    }
    std::optional<std::string> text;
    auto s = tx.run("state", "SELECT value FROM package_state WHERE package = ?1 AND key = ?2", {package, key},
                    [&](const SqlRow& r) { text = r.text(0); });
    if (!s) return std::move(s).error();
    if (!text) return std::optional<double>();
    char* end = nullptr;
    double v = std::strtod(text->c_str(), &end);
    if (end == text->c_str() || *end != '\0')
      return make_error(ErrorCode::conflict, "state key '" + std::string(key) + "' does not hold a number");
    return std::optional<double>(v);
  }
  Sql& db_;
};

class SqlLedger final : public LedgerStore {
 public:
  explicit SqlLedger(Sql& db) : db_(db) {}
  Status append(const std::vector<LedgerEntry>& entries) override {
    if (entries.empty()) return {};
    return db_.transaction("ledger.append", [&](Sql& tx) -> Status {
      for (const auto& e : entries) {
        auto s = tx.run("ledger.append",
                        "INSERT INTO ledger(call_id, at, direction, caller, callee, skill, status, duration_us, error) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                        {e.call_id, e.at, e.direction, e.caller, e.callee, e.skill, e.status, e.duration_us, e.error});
        if (!s) return s;
      }
      return {};
    });
  }
  Result<std::vector<LedgerEntry>> query(const LedgerQuery& q) override {
    std::vector<LedgerEntry> out;
    auto s = db_.run("ledger.query", R"sql(
SELECT id, call_id, at, direction, caller, callee, skill, status, duration_us, error FROM ledger
WHERE (?1 = '' OR skill = ?1)
  AND (?2 = '' OR (?2 = 'error' AND status <> 'ok') OR status = ?2)
  AND (CAST(?3 AS BIGINT) = 0 OR id < CAST(?3 AS BIGINT))
ORDER BY id DESC LIMIT CAST(?4 AS BIGINT))sql",
                     {q.skill, q.status, q.before_id, static_cast<std::int64_t>(q.limit)}, [&](const SqlRow& r) {
                       out.push_back({r.integer(0), r.text(1), r.text(2), r.text(3), r.text(4), r.text(5), r.text(6),
                                      r.text(7), r.integer(8), r.text(9)});
                     });
    if (!s) return std::move(s).error();
    return out;
  }
  Status trim(std::int64_t keep) override {
    return db_.run("ledger.trim", "DELETE FROM ledger WHERE id <= (SELECT MAX(id) FROM ledger) - CAST(?1 AS BIGINT)",
                   {keep});
  }

 private:
  Sql& db_;
};

class SqlCatalog final : public CatalogStore {
 public:
  explicit SqlCatalog(Sql& db) : db_(db) {}
  Status put(const CatalogNodeRecord& n) override {
    return db_.run("catalog.put", R"sql(
INSERT INTO registry_nodes(name, url, organization, created, modified, heartbeat, flows, origin, version, deleted,
  kind)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
ON CONFLICT(name) DO UPDATE SET url = excluded.url, organization = excluded.organization,
  created = excluded.created, modified = excluded.modified, heartbeat = excluded.heartbeat, flows = excluded.flows,
  origin = excluded.origin, version = excluded.version, deleted = excluded.deleted, kind = excluded.kind)sql",
                   {n.name, n.url, n.organization, n.created, n.modified, n.heartbeat, n.flows, n.origin, n.version,
                    as_int(n.deleted), n.kind});
  }
  Status remove(std::string_view name) override {
    return db_.run("catalog.remove", "DELETE FROM registry_nodes WHERE name = ?1", {name});
  }
  Result<std::vector<CatalogNodeRecord>> load() override {
    std::vector<CatalogNodeRecord> out;
    std::string sql =
        "SELECT name, url, organization, created, modified, heartbeat, flows, origin, version, deleted, kind FROM "
        "registry_nodes ORDER BY name" +
        std::string(byte_order(db_));
    auto s = db_.run("catalog.load", sql, {}, [&](const SqlRow& r) {
      out.push_back({r.text(0), r.text(1), r.text(2), r.text(3), r.text(4), r.text(5), r.text(6), r.text(7),
                     r.integer(8), r.integer(9) != 0, r.text(10)});
    });
    if (!s) return std::move(s).error();
    return out;
  }
  Status clear() override { return db_.run("catalog.clear", "DELETE FROM registry_nodes", {}); }

 private:
  Sql& db_;
};

class SqlStore final : public Store {
 public:
  explicit SqlStore(std::unique_ptr<SqlBackend> db)
      : db_(std::move(db)),
        meta_(*db_),
        peers_(*db_),
        packages_(*db_),
        state_(*db_),
        ledger_(*db_),
        catalog_(*db_),
        deltas_(make_sql_delta_store(*db_)),
        jobs_(make_sql_job_store(*db_)) {}
  MetaStore& meta() override { return meta_; }
  PeerStore& peers() override { return peers_; }
  PackageStore& packages() override { return packages_; }
  StateStore& state() override { return state_; }
  LedgerStore& ledger() override { return ledger_; }
  CatalogStore& catalog() override { return catalog_; }
  DeltaStore& deltas() override { return *deltas_; }
  JobStore& jobs() override { return *jobs_; }
  Status migrate() override { return db_->migrate(); }
  int schema_version() override { return db_->schema_version(); }
  Status flush() override { return db_->flush(); }
  std::string_view backend() const override { return db_->name(); }

 private:
  std::unique_ptr<SqlBackend> db_;
  SqlMeta meta_;
  SqlPeers peers_;
  SqlPackages packages_;
  SqlState state_;
  SqlLedger ledger_;
  SqlCatalog catalog_;
  std::unique_ptr<DeltaStore> deltas_;
  std::unique_ptr<JobStore> jobs_;
};

}  // namespace

std::unique_ptr<Store> make_sql_store(std::unique_ptr<SqlBackend> backend) {
  return std::make_unique<SqlStore>(std::move(backend));
}

}  // namespace fedmesh::store
