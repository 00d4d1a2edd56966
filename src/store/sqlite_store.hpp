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
  Status flush() override;
  std::string_view backend() const override { return "sqlite"; }

 private:
  explicit SqliteStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  Status exec(const char* sql);
  int schema_version_locked();

  std::mutex mu_;  // guards db_
  sqlite3* db_;
  std::string path_;
};

}  // namespace fedmesh
