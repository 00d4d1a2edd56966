// SqliteStore: the default Store, one SQLite file in WAL mode (or ":memory:").
// One connection guarded by a mutex; every method is thread-safe and blocking.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "store/store.hpp"

struct sqlite3;

namespace fedmesh {

class SqliteStore final : public Store {
 public:
  // Opens (creating if needed) and migrates.
  static Result<std::unique_ptr<SqliteStore>> open(const std::string& path);
  ~SqliteStore() override;

  Status migrate() override;
  int schema_version() override;
  Result<std::optional<std::string>> get_meta(std::string_view key) override;
  Status set_meta(std::string_view key, std::string_view value) override;
  Status upsert_peer(const PeerRecord& peer) override;
  Result<std::vector<PeerRecord>> list_peers() override;
  Status delete_peer(std::string_view name) override;
  Status put_package(const PackageRecord& package) override;
  Result<std::optional<PackageRecord>> get_package(std::string_view name) override;
  Result<std::vector<PackageRecord>> list_packages() override;
  Status delete_package(std::string_view name) override;
  Result<std::optional<std::string>> state_get(std::string_view package, std::string_view key) override;
  Status state_set(std::string_view package, std::string_view key, std::string_view json_value) override;
  Status state_delete(std::string_view package, std::string_view key) override;
  Result<std::vector<std::string>> state_keys(std::string_view package, std::string_view prefix) override;
  Result<double> state_incr(std::string_view package, std::string_view key, double delta) override;
  Result<DecrResult> state_decr_if(std::string_view package, std::string_view key, double amount,
                                   double floor) override;
  Status ledger_append(const std::vector<LedgerEntry>& entries) override;
  Result<std::vector<LedgerEntry>> ledger_query(const LedgerQuery& query) override;
  Status ledger_trim(std::int64_t keep) override;
  Status catalog_put(const CatalogNodeRecord& node) override;
  Status catalog_delete(std::string_view name) override;
  Result<std::vector<CatalogNodeRecord>> catalog_load() override;
  Status catalog_clear() override;
  Status flush() override;
  std::string_view backend() const override { return "sqlite"; }

 private:
  explicit SqliteStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  Status exec(const char* sql);
  int schema_version_locked();
  Result<std::optional<double>> number_locked(std::string_view package, std::string_view key);
  Status set_number_locked(std::string_view package, std::string_view key, double value);

  std::mutex mu_;  // guards db_
  sqlite3* db_;
  std::string path_;
};

}  // namespace fedmesh
