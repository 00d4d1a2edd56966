// LedgerStore: every skill invocation, appended in batches and read newest first.
// Thread-safe; calls block (run them off the I/O threads).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace fedmesh {

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

class LedgerStore {
 public:
  virtual ~LedgerStore() = default;
  // Appends the entries in one transaction.
  virtual Status append(const std::vector<LedgerEntry>& entries) = 0;
  // Newest first.
  virtual Result<std::vector<LedgerEntry>> query(const LedgerQuery& query) = 0;
  // Keeps the newest `keep` entries.
  virtual Status trim(std::int64_t keep) = 0;
};

}  // namespace fedmesh
