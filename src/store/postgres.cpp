// The PostgreSQL backend (libpqxx): one connection behind a mutex, reopened by the next
// call after it drops. Statements come with ?N placeholders and run as $N.
#include <pqxx/pqxx>

#include <mutex>
#include <unordered_map>

#include "config/loader.hpp"
#include "store/open.hpp"
#include "store/sql.hpp"

namespace fedmesh {

namespace store {
namespace {

std::string with_connect_timeout(const std::string& url) {
  if (url.find("connect_timeout") != std::string::npos) return url;
  if (url.find("://") == std::string::npos) return url + " connect_timeout=10";  // key=value form
  return url + (url.find('?') == std::string::npos ? "?" : "&") + "connect_timeout=10";
}

// ?1 -> $1 (outside quotes: our statements have no '?' in literals).
std::string dollar_placeholders(std::string_view sql) {
  std::string out;
  out.reserve(sql.size());
  for (char c : sql) out += c == '?' ? '$' : c;
  return out;
}

class PgRow final : public SqlRow {
 public:
  explicit PgRow(const pqxx::row& row) : row_(row) {}
  std::string text(int col) const override {
    const auto& f = row_[col];
    return f.is_null() ? std::string() : f.as<std::string>();
  }
  std::int64_t integer(int col) const override {
    const auto& f = row_[col];
    return f.is_null() ? 0 : f.as<std::int64_t>();
  }

 private:
  const pqxx::row& row_;
};

// The text form of each bound value (libpqxx sends parameters as text).
std::vector<std::string> params_of(std::span<const SqlValue> args) {
  std::vector<std::string> out;
  out.reserve(args.size());
  for (const auto& arg : args) {
    if (const auto* text = std::get_if<std::string_view>(&arg)) {
      out.emplace_back(*text);
    } else if (const auto* n = std::get_if<std::int64_t>(&arg)) {
      out.push_back(std::to_string(*n));
    } else {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.17g", std::get<double>(arg));
      out.emplace_back(buf);
    }
  }
  return out;
}

class PgBackend final : public SqlBackend {
 public:
  explicit PgBackend(std::string url) : url_(std::move(url)), shown_(config::mask_url_password(url_)) {}

  Status connect() {
    std::lock_guard lock(mu_);
    return guarded("connect", [&]() -> Status {
      ensure_open();
      return {};
    });
  }

  Dialect dialect() const override { return Dialect::postgresql; }
  std::string_view name() const override { return "postgresql"; }

  Status run_values(std::string_view what, std::string_view sql, std::span<const SqlValue> args,
                    const RowFn& row) override {
    std::lock_guard lock(mu_);
    return guarded(what, [&]() -> Status {
      ensure_open();
      pqxx::nontransaction n(*conn_);
      exec(n, sql, args, row);
      return {};
    });
  }

  Status transaction(std::string_view what, const std::function<Status(Sql&)>& body) override {
    std::lock_guard lock(mu_);
    return guarded(what, [&]() -> Status {
      ensure_open();
      pqxx::work w(*conn_);
      Tx tx(*this, w);
      auto s = body(tx);
      if (!s) return s;  // the work rolls back when it goes out of scope
      w.commit();
      return {};
    });
  }

  Status migrate() override {
    std::lock_guard lock(mu_);
    return guarded("migrate", [&]() -> Status {
      ensure_open();
      pqxx::work w(*conn_);
      // One migrator at a time, even across processes sharing the database, from the first
      // statement: two processes starting at once on an empty database would otherwise both
      // create schema_migrations (CREATE TABLE IF NOT EXISTS is not safe against a concurrent
      // creator). The lock is the transaction's, released at commit or rollback.
      w.exec("SELECT pg_advisory_xact_lock(7305231981)");  // fedmesh's migration lock (any fixed key)
      w.exec(
          "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL "
          "DEFAULT now())");
      int current = w.exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")[0][0].as<int>();
      for (const auto& m : migrations()) {
        if (m.version <= current) continue;
        try {
          w.exec(sql_for(m, Dialect::postgresql));
          w.exec_params("INSERT INTO schema_migrations(version) VALUES ($1)", m.version);
        } catch (const std::exception& e) {
          return make_error(ErrorCode::store_error,
                            "migration " + std::to_string(m.version) + " failed: " + std::string(e.what()));
        }
      }
      w.commit();
      return {};
    });
  }

  int schema_version() override {
    int version = 0;
    auto s = run("schema_version", "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", {},
                 [&](const SqlRow& r) { version = static_cast<int>(r.integer(0)); });
    return s ? version : 0;
  }

  Status flush() override { return {}; }  // every call has committed by the time it returns

 private:
  class Tx final : public Sql {
   public:
    Tx(PgBackend& owner, pqxx::work& work) : owner_(owner), work_(work) {}
    Dialect dialect() const override { return Dialect::postgresql; }
    Status run_values(std::string_view, std::string_view sql, std::span<const SqlValue> args,
                      const RowFn& row) override {
      owner_.exec(work_, sql, args, row);  // errors throw to transaction(), which reports them
      return {};
    }
    Status transaction(std::string_view, const std::function<Status(Sql&)>& body) override { return body(*this); }

   private:
    PgBackend& owner_;
    pqxx::work& work_;
  };

  void ensure_open() {
    if (!conn_ || !conn_->is_open()) conn_ = std::make_unique<pqxx::connection>(with_connect_timeout(url_));
  }

  void exec(pqxx::transaction_base& t, std::string_view sql, std::span<const SqlValue> args, const RowFn& row) {
    auto& text = converted_[std::string(sql)];
    if (text.empty()) text = dollar_placeholders(sql);
    auto params = params_of(args);
    auto result = t.exec_params(text, pqxx::prepare::make_dynamic_params(params));
    if (!row) return;
    for (const auto& r : result) row(PgRow(r));
  }

  // Runs fn, turning libpqxx's exceptions into store errors; a lost connection is
  // reopened by the next call.
  template <class F>
  Status guarded(std::string_view what, F&& fn) {
    try {
      return fn();
    } catch (const pqxx::broken_connection& e) {
      conn_.reset();
      return make_error(ErrorCode::store_error, shown_ + ": " + std::string(what) +
                                                    ": connection lost: " + config::mask_url_password(e.what()));
    } catch (const pqxx::sql_error& e) {
      // SQLSTATE 53100: the server's disk is full.
      auto code = e.sqlstate() == "53100" ? ErrorCode::storage_full : ErrorCode::store_error;
      return make_error(code, shown_ + ": " + std::string(what) + ": " + reason(e));
    } catch (const std::exception& e) {
      return make_error(ErrorCode::store_error, shown_ + ": " + std::string(what) + ": " + reason(e));
    }
  }

  static std::string reason(const std::exception& e) {
    std::string why = e.what();
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    return config::mask_url_password(why);
  }

  std::mutex mu_;  // guards conn_ and converted_
  std::string url_;
  std::string shown_;  // the URL with its password masked
  std::unique_ptr<pqxx::connection> conn_;
  std::unordered_map<std::string, std::string> converted_;
};

}  // namespace
}  // namespace store

Result<std::unique_ptr<Store>> open_postgres_store(const std::string& url) {
  auto backend = std::make_unique<store::PgBackend>(url);
  if (auto s = backend->connect(); !s)
    return make_error(ErrorCode::store_error, "cannot open PostgreSQL store " + s.error().message());
  if (auto s = backend->migrate(); !s) return std::move(s).error();
  return store::make_sql_store(std::move(backend));
}

}  // namespace fedmesh
