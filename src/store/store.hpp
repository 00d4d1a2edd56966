// Store: the node's persistent state behind one interface (SQLite now, PostgreSQL
// later). Calls are synchronous and may block on disk: call them off the I/O threads
// (see core/offload.hpp). Implementations are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace fedmesh {

// A peer as remembered across restarts. Live state (up/down) is not persisted.
struct PeerRecord {
  std::string name;
  std::string url;
  std::string origin;  // "config" or "hello" (added by a bidirectional caller)
  std::string organization;
  std::string version;
  std::string roles;  // JSON array text
  std::string fingerprint;
  std::string created_at;
  std::string last_seen;
  bool operator==(const PeerRecord&) const = default;
};

// An installed package: its source (manifest + files, as JSON text) and content hash.
struct PackageRecord {
  std::string name;
  std::string version;
  std::string hash;
  std::string source;
  std::string installed_at;
};

// Result of an atomic conditional decrement.
struct DecrResult {
  bool applied = false;
  double value = 0;  // the value after the call (unchanged when not applied)
};

// One invocation, as the ledger keeps it.
struct LedgerEntry {
  std::int64_t id = 0;  // assigned by the store
  std::string call_id;
  std::string at;         // ISO-8601
  std::string direction;  // local | incoming | outgoing
  std::string caller;
  std::string callee;
  std::string skill;   // pkg/skill
  std::string status;  // ok, or the error code
  std::int64_t duration_us = 0;
  std::string error;
};

struct LedgerQuery {
  std::string skill;           // "" = any
  std::string status;          // "" = any; "error" = anything but ok
  std::int64_t before_id = 0;  // 0 = newest; else entries with id < before_id
  int limit = 50;
};

// A node in a registry's catalog; `flows` is its flow list as JSON text.
struct CatalogNodeRecord {
  std::string name;
  std::string url;
  std::string organization;
  std::string created;
  std::string modified;
  std::string heartbeat;
  std::string flows;
  std::string origin;            // registry that accepted the registration
  std::int64_t version = 0;      // hybrid clock, microseconds
  bool deleted = false;          // tombstone
  std::string kind = "fedmesh";  // fedmesh | kodo (registered through the Kodo v1 routes)
};

class Store {
 public:
  virtual ~Store() = default;

  // Applies pending schema migrations; idempotent.
  virtual Status migrate() = 0;
  virtual int schema_version() = 0;

  // Small key/value facts about the node itself (identity, first start, ...).
  virtual Result<std::optional<std::string>> get_meta(std::string_view key) = 0;
  virtual Status set_meta(std::string_view key, std::string_view value) = 0;

  virtual Status upsert_peer(const PeerRecord& peer) = 0;
  virtual Result<std::vector<PeerRecord>> list_peers() = 0;
  virtual Status delete_peer(std::string_view name) = 0;

  virtual Status put_package(const PackageRecord& package) = 0;
  virtual Result<std::optional<PackageRecord>> get_package(std::string_view name) = 0;
  virtual Result<std::vector<PackageRecord>> list_packages() = 0;
  virtual Status delete_package(std::string_view name) = 0;  // keeps its state

  // Per-package state: JSON values by key. Every call is atomic.
  virtual Result<std::optional<std::string>> state_get(std::string_view package, std::string_view key) = 0;
  virtual Status state_set(std::string_view package, std::string_view key, std::string_view json_value) = 0;
  virtual Status state_delete(std::string_view package, std::string_view key) = 0;
  virtual Result<std::vector<std::string>> state_keys(std::string_view package, std::string_view prefix) = 0;
  // Adds delta to a numeric value (missing counts as 0); returns the new value.
  virtual Result<double> state_incr(std::string_view package, std::string_view key, double delta) = 0;
  // Subtracts amount only if the result stays >= floor (missing counts as 0).
  virtual Result<DecrResult> state_decr_if(std::string_view package, std::string_view key, double amount,
                                           double floor) = 0;

  // Appends the entries in one transaction.
  virtual Status ledger_append(const std::vector<LedgerEntry>& entries) = 0;
  // Newest first.
  virtual Result<std::vector<LedgerEntry>> ledger_query(const LedgerQuery& query) = 0;
  // Keeps the newest `keep` entries.
  virtual Status ledger_trim(std::int64_t keep) = 0;

  virtual Status catalog_put(const CatalogNodeRecord& node) = 0;
  virtual Status catalog_delete(std::string_view name) = 0;
  virtual Result<std::vector<CatalogNodeRecord>> catalog_load() = 0;
  virtual Status catalog_clear() = 0;

  // Makes everything written so far durable (checkpoint); called at shutdown.
  virtual Status flush() = 0;
  virtual std::string_view backend() const = 0;
};

}  // namespace fedmesh
