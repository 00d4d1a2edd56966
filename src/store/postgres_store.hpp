// PostgresStore: the Store on a PostgreSQL server (libpqxx). One connection guarded by
// a mutex, like SqliteStore; every method is thread-safe and blocking. The node owns
// its database (or the schema its URL selects with `options=-csearch_path=...`): the
// tables are the same as SQLite's, created by the same migrations. A connection the
// server dropped is reopened on the next call; the call that saw it drop fails.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "store/store.hpp"

namespace fedmesh {

class PostgresStore final : public Store {
 public:
  // Connects (within the URL's connect_timeout, 10 s when it names none) and migrates.
  static Result<std::unique_ptr<PostgresStore>> open(const std::string& url);
  ~PostgresStore() override;

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
  std::string_view backend() const override { return "postgresql"; }

 private:
  struct Connection;  // wraps pqxx::connection (a typedef there, so it cannot be declared here)
  explicit PostgresStore(std::string url);
  // Runs `fn` on a live connection under the lock; turns libpqxx exceptions into a
  // store_error naming `what` (and never the password).
  template <typename F>
  auto run(const char* what, F&& fn);

  std::mutex mu_;
  std::string url_;
  std::string shown_url_;  // password masked
  std::unique_ptr<Connection> conn_;
};

}  // namespace fedmesh
