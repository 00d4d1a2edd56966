#include "store/postgres_store.hpp"

#include <pqxx/pqxx>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "store/migrations.hpp"

namespace fedmesh {

namespace {

// postgresql://user:secret@host/db -> postgresql://user:***@host/db
std::string mask_password(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  auto at = url.find('@', scheme + 3);
  auto colon = url.find(':', scheme + 3);
  if (at == std::string::npos || colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

std::string with_connect_timeout(const std::string& url) {
  if (url.find("connect_timeout") != std::string::npos) return url;
  if (url.find("://") == std::string::npos) return url + " connect_timeout=10";  // key=value form
  return url + (url.find('?') == std::string::npos ? "?" : "&") + "connect_timeout=10";
}

std::string number_text(double value) {
  char buf[64];
  if (value == static_cast<double>(static_cast<long long>(value)) && std::abs(value) < 1e15) {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(value));
  } else {
    std::snprintf(buf, sizeof buf, "%.17g", value);
  }
  return buf;
}

std::string str(std::string_view v) {
  return std::string(v);
}

// The stored JSON value of a state key as a number: nullopt when absent.
Result<std::optional<double>> number_of(pqxx::work& w, std::string_view package, std::string_view key) {
  auto r = w.exec_params("SELECT value FROM package_state WHERE package = $1 AND key = $2 FOR UPDATE", str(package),
                         str(key));
  if (r.empty()) return std::optional<double>();
  auto text = r[0][0].as<std::string>();
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || *end != '\0')
    return make_error(ErrorCode::conflict, "state key '" + std::string(key) + "' does not hold a number");
  return std::optional<double>(v);
}

void set_number(pqxx::work& w, std::string_view package, std::string_view key, double value) {
  w.exec_params(
      "INSERT INTO package_state(package, key, value) VALUES ($1, $2, $3) "
      "ON CONFLICT(package, key) DO UPDATE SET value = excluded.value",
      str(package), str(key), number_text(value));
}

}  // namespace

struct PostgresStore::Connection {
  explicit Connection(const std::string& url) : c(url) {}
  pqxx::connection c;
};

PostgresStore::PostgresStore(std::string url) : url_(std::move(url)), shown_url_(mask_password(url_)) {}

PostgresStore::~PostgresStore() = default;

Result<std::unique_ptr<PostgresStore>> PostgresStore::open(const std::string& url) {
  std::unique_ptr<PostgresStore> store(new PostgresStore(url));
  try {
    store->conn_ = std::make_unique<Connection>(with_connect_timeout(url));
  } catch (const std::exception& e) {
    std::string why = e.what();
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    return make_error(ErrorCode::store_error,
                      "cannot open PostgreSQL store " + store->shown_url_ + ": " + mask_password(why));
  }
  if (auto s = store->migrate(); !s) return std::move(s).error();
  return store;
}

template <typename F>
auto PostgresStore::run(const char* what, F&& fn) {
  using R = decltype(fn(std::declval<pqxx::connection&>()));
  std::lock_guard lock(mu_);
  try {
    if (!conn_ || !conn_->c.is_open()) conn_ = std::make_unique<Connection>(with_connect_timeout(url_));
    return R(fn(conn_->c));
  } catch (const pqxx::broken_connection& e) {
    conn_.reset();  // reopened by the next call
    return R(make_error(ErrorCode::store_error, shown_url_ + ": " + what + ": connection lost: " + e.what()));
  } catch (const std::exception& e) {
    return R(make_error(ErrorCode::store_error, shown_url_ + ": " + what + ": " + e.what()));
  }
}

int PostgresStore::schema_version() {
  auto r = run("schema_version", [](pqxx::connection& c) -> Result<int> {
    pqxx::nontransaction n(c);
    return n.exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")[0][0].as<int>();
  });
  return r ? *r : 0;
}

Status PostgresStore::migrate() {
  return run("migrate", [](pqxx::connection& c) -> Status {
    {
      pqxx::work w(c);
      w.exec(
          "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL "
          "DEFAULT now())");
      // One migrator at a time, even across processes sharing the database.
      w.exec("LOCK TABLE schema_migrations IN EXCLUSIVE MODE");
      int current = w.exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")[0][0].as<int>();
      for (const auto& m : store::migrations()) {
        if (m.version <= current) continue;
        try {
          w.exec(store::sql_for(m, store::Dialect::postgresql));
          w.exec_params("INSERT INTO schema_migrations(version) VALUES ($1)", m.version);
        } catch (const std::exception& e) {
          return make_error(ErrorCode::store_error,
                            "migration " + std::to_string(m.version) + " failed: " + std::string(e.what()));
        }
      }
      w.commit();
    }
    return {};
  });
}

Result<std::optional<std::string>> PostgresStore::get_meta(std::string_view key) {
  return run("get_meta", [&](pqxx::connection& c) -> Result<std::optional<std::string>> {
    pqxx::nontransaction n(c);
    auto r = n.exec_params("SELECT value FROM node_meta WHERE key = $1", str(key));
    if (r.empty()) return std::optional<std::string>();
    return std::optional<std::string>(r[0][0].as<std::string>());
  });
}

Status PostgresStore::set_meta(std::string_view key, std::string_view value) {
  return run("set_meta", [&](pqxx::connection& c) -> Status {
    pqxx::nontransaction n(c);
    n.exec_params(
        "INSERT INTO node_meta(key, value) VALUES ($1, $2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        str(key), str(value));
    return {};
  });
}

Status PostgresStore::upsert_peer(const PeerRecord& p) {
  return run("upsert_peer", [&](pqxx::connection& c) -> Status {
    pqxx::nontransaction n(c);
    n.exec_params(R"sql(
INSERT INTO peers(name, url, origin, organization, version, roles, fingerprint, created_at, last_seen)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT(name) DO UPDATE SET url = excluded.url, origin = excluded.origin,
  organization = excluded.organization, version = excluded.version, roles = excluded.roles,
  fingerprint = excluded.fingerprint, last_seen = excluded.last_seen)sql",
                  p.name, p.url, p.origin, p.organization, p.version, p.roles, p.fingerprint, p.created_at,
                  p.last_seen);
    return {};
  });
}

Result<std::vector<PeerRecord>> PostgresStore::list_peers() {
  return run("list_peers", [&](pqxx::connection& c) -> Result<std::vector<PeerRecord>> {
    pqxx::nontransaction n(c);
    auto r = n.exec(
        "SELECT name, url, origin, organization, version, roles, fingerprint, created_at, last_seen FROM peers "
        "ORDER BY name");
    std::vector<PeerRecord> out;
    for (const auto& row : r) {
      out.push_back({row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>(),
                     row[3].as<std::string>(), row[4].as<std::string>(), row[5].as<std::string>(),
                     row[6].as<std::string>(), row[7].as<std::string>(), row[8].as<std::string>()});
    }
    return out;
  });
}

Status PostgresStore::delete_peer(std::string_view name) {
  return run("delete_peer", [&](pqxx::connection& c) -> Status {
    pqxx::nontransaction n(c);
    n.exec_params("DELETE FROM peers WHERE name = $1", str(name));
    return {};
  });
}

Status PostgresStore::put_package(const PackageRecord& p) {
  return run("put_package", [&](pqxx::connection& c) -> Status {
    pqxx::nontransaction n(c);
    n.exec_params(R"sql(
INSERT INTO packages(name, version, hash, source, installed_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT(name) DO UPDATE SET version = excluded.version, hash = excluded.hash, source = excluded.source,
  installed_at = excluded.installed_at)sql",
                  p.name, p.version, p.hash, p.source, p.installed_at);
    return {};
  });
}

Result<std::optional<PackageRecord>> PostgresStore::get_package(std::string_view name) {
  return run("get_package", [&](pqxx::connection& c) -> Result<std::optional<PackageRecord>> {
    pqxx::nontransaction n(c);
    auto r = n.exec_params("SELECT name, version, hash, source, installed_at FROM packages WHERE name = $1", str(name));
    if (r.empty()) return std::optional<PackageRecord>();
    const auto& row = r[0];
    return std::optional<PackageRecord>(PackageRecord{row[0].as<std::string>(), row[1].as<std::string>(),
                                                      row[2].as<std::string>(), row[3].as<std::string>(),
                                                      row[4].as<std::string>()});
  });
}

Result<std::vector<PackageRecord>> PostgresStore::list_packages() {
  return run("list_packages", [&](pqxx::connection& c) -> Result<std::vector<PackageRecord>> {
    pqxx::nontransaction n(c);
    std::vector<PackageRecord> out;
    for (const auto& row : n.exec("SELECT name, version, hash, source, installed_at FROM packages ORDER BY name"))
      out.push_back({row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>(),
                     row[3].as<std::string>(), row[4].as<std::string>()});
    return out;
  });
}

Status PostgresStore::delete_package(std::string_view name) {
  return run("delete_package", [&](pqxx::connection& c) -> Status {
    pqxx::nontransaction n(c);
    n.exec_params("DELETE FROM packages WHERE name = $1", str(name));
    return {};
  });
}

Result<std::optional<std::string>> PostgresStore::state_get(std::string_view package, std::string_view key) {
  return run("state_get", [&](pqxx::connection& c) -> Result<std::optional<std::string>> {
    pqxx::nontransaction n(c);
    auto r = n.exec_params("SELECT value FROM package_state WHERE package = $1 AND key = $2", str(package), str(key));
    if (r.empty()) return std::optional<std::string>();
    return std::optional<std::string>(r[0][0].as<std::string>());
  });
}

Status PostgresStore::state_set(std::string_view package, std::string_view key, std::string_view value) {
  return run("state_set", [&](pqxx::connection& c) -> Status {
    pqxx::nontransaction n(c);
    n.exec_params(
        "INSERT INTO package_state(package, key, value) VALUES ($1, $2, $3) "
        "ON CONFLICT(package, key) DO UPDATE SET value = excluded.value",
        str(package), str(key), str(value));
    return {};
  });
}

Status PostgresStore::state_delete(std::string_view package, std::string_view key) {
  return run("state_delete", [&](pqxx::connection& c) -> Status {
    pqxx::nontransaction n(c);
    n.exec_params("DELETE FROM package_state WHERE package = $1 AND key = $2", str(package), str(key));
    return {};
  });
}

Result<std::vector<std::string>> PostgresStore::state_keys(std::string_view package, std::string_view prefix) {
  return run("state_keys", [&](pqxx::connection& c) -> Result<std::vector<std::string>> {
    pqxx::nontransaction n(c);
    // left() compares bytes of the prefix as given; COLLATE "C" orders keys bytewise, as SQLite does.
    auto r = n.exec_params(
        "SELECT key FROM package_state WHERE package = $1 AND left(key, length($2)) = $2 ORDER BY key COLLATE \"C\"",
        str(package), str(prefix));
    std::vector<std::string> out;
    for (const auto& row : r) out.push_back(row[0].as<std::string>());
    return out;
  });
}

Result<double> PostgresStore::state_incr(std::string_view package, std::string_view key, double delta) {
  return run("state_incr", [&](pqxx::connection& c) -> Result<double> {
    pqxx::work w(c);  // the row lock (FOR UPDATE) makes read-modify-write atomic
    auto current = number_of(w, package, key);
    if (!current) return std::move(current).error();
    double next = current->value_or(0) + delta;
    set_number(w, package, key, next);
    w.commit();
    return next;
  });
}

Result<DecrResult> PostgresStore::state_decr_if(std::string_view package, std::string_view key, double amount,
                                                double floor) {
  return run("state_decr_if", [&](pqxx::connection& c) -> Result<DecrResult> {
    pqxx::work w(c);
    auto current = number_of(w, package, key);
    if (!current) return std::move(current).error();
    double value = current->value_or(0);
    if (value - amount < floor) return DecrResult{false, value};
    set_number(w, package, key, value - amount);
    w.commit();
    return DecrResult{true, value - amount};
  });
}

Status PostgresStore::ledger_append(const std::vector<LedgerEntry>& entries) {
  if (entries.empty()) return {};
  return run("ledger_append", [&](pqxx::connection& c) -> Status {
    pqxx::work w(c);
    for (const auto& e : entries)
      w.exec_params(
          "INSERT INTO ledger(call_id, at, direction, caller, callee, skill, status, duration_us, error) "
          "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
          e.call_id, e.at, e.direction, e.caller, e.callee, e.skill, e.status, e.duration_us, e.error);
    w.commit();
    return {};
  });
}

Result<std::vector<LedgerEntry>> PostgresStore::ledger_query(const LedgerQuery& q) {
  return run("ledger_query", [&](pqxx::connection& c) -> Result<std::vector<LedgerEntry>> {
    pqxx::nontransaction n(c);
    auto r = n.exec_params(R"sql(
SELECT id, call_id, at, direction, caller, callee, skill, status, duration_us, error FROM ledger
WHERE ($1 = '' OR skill = $1)
  AND ($2 = '' OR ($2 = 'error' AND status <> 'ok') OR status = $2)
  AND ($3::bigint = 0 OR id < $3::bigint)
ORDER BY id DESC LIMIT $4::bigint)sql",
                           q.skill, q.status, static_cast<long long>(q.before_id), static_cast<long long>(q.limit));
    std::vector<LedgerEntry> out;
    for (const auto& row : r) {
      out.push_back({row[0].as<std::int64_t>(), row[1].as<std::string>(), row[2].as<std::string>(),
                     row[3].as<std::string>(), row[4].as<std::string>(), row[5].as<std::string>(),
                     row[6].as<std::string>(), row[7].as<std::string>(), row[8].as<std::int64_t>(),
                     row[9].as<std::string>()});
    }
    return out;
  });
}

Status PostgresStore::ledger_trim(std::int64_t keep) {
  return run("ledger_trim", [&](pqxx::connection& c) -> Status {
    pqxx::nontransaction n(c);
    n.exec_params("DELETE FROM ledger WHERE id <= (SELECT MAX(id) FROM ledger) - $1::bigint",
                  static_cast<long long>(keep));
    return {};
  });
}

Status PostgresStore::catalog_put(const CatalogNodeRecord& r) {
  return run("catalog_put", [&](pqxx::connection& c) -> Status {
    pqxx::nontransaction n(c);
    n.exec_params(R"sql(
INSERT INTO registry_nodes(name, url, organization, created, modified, heartbeat, flows, origin, version, deleted,
  kind)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT(name) DO UPDATE SET url = excluded.url, organization = excluded.organization,
  created = excluded.created, modified = excluded.modified, heartbeat = excluded.heartbeat, flows = excluded.flows,
  origin = excluded.origin, version = excluded.version, deleted = excluded.deleted, kind = excluded.kind)sql",
                  r.name, r.url, r.organization, r.created, r.modified, r.heartbeat, r.flows, r.origin,
                  static_cast<long long>(r.version), r.deleted ? 1 : 0, r.kind);
    return {};
  });
}

Status PostgresStore::catalog_delete(std::string_view name) {
  return run("catalog_delete", [&](pqxx::connection& c) -> Status {
    pqxx::nontransaction n(c);
    n.exec_params("DELETE FROM registry_nodes WHERE name = $1", str(name));
    return {};
  });
}

Result<std::vector<CatalogNodeRecord>> PostgresStore::catalog_load() {
  return run("catalog_load", [&](pqxx::connection& c) -> Result<std::vector<CatalogNodeRecord>> {
    pqxx::nontransaction n(c);
    auto r = n.exec(
        "SELECT name, url, organization, created, modified, heartbeat, flows, origin, version, deleted, kind FROM "
        "registry_nodes ORDER BY name COLLATE \"C\"");
    std::vector<CatalogNodeRecord> out;
    for (const auto& row : r)
      out.push_back({row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>(),
                     row[3].as<std::string>(), row[4].as<std::string>(), row[5].as<std::string>(),
                     row[6].as<std::string>(), row[7].as<std::string>(), row[8].as<std::int64_t>(),
                     row[9].as<int>() != 0, row[10].as<std::string>()});
    return out;
  });
}

Status PostgresStore::catalog_clear() {
  return run("catalog_clear", [&](pqxx::connection& c) -> Status {
    pqxx::nontransaction n(c);
    n.exec("DELETE FROM registry_nodes");
    return {};
  });
}

Status PostgresStore::flush() {
  return {};  // every call has committed by the time it returns
}

}  // namespace fedmesh
