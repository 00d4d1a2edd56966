// Ledger: every invocation, recorded without making the caller wait. Entries collect in a
// bounded buffer and one flush at a time writes them in a single transaction on the store
// pool (a transaction per call cost more than the call itself). Entries beyond the buffer
// are dropped, counted and logged; the newest `keep` entries are kept. Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <vector>

#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "store/ledger_store.hpp"

namespace fedmesh::skills {

class Ledger {
 public:
  Ledger(LedgerStore& store, boost::asio::thread_pool& pool, std::int64_t keep)
      : store_(store), pool_(pool), keep_(keep) {}

  void record(LedgerEntry entry);
  // Writes what is buffered now, on the calling thread (shutdown, reads).
  void flush();
  // {items, next_before?}, newest first; flushes first. Blocks: call on the store pool.
  Result<nlohmann::json> page(const LedgerQuery& query);

  static constexpr std::size_t kBuffer = 65'536;

 private:
  LedgerStore& store_;
  boost::asio::thread_pool& pool_;
  std::int64_t keep_;
  std::mutex mu_;  // guards the three below
  std::vector<LedgerEntry> pending_;
  bool flushing_ = false;
  std::uint64_t dropped_ = 0;
  std::uint64_t writes_ = 0;  // touched by one flush at a time
};

}  // namespace fedmesh::skills
