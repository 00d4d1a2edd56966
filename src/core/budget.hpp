// Budget: what one read may spend before it stops with a clear error: work units (one
// per filter operation, one per byte a string search or copy touches), wall time (a
// steady-clock deadline) and answer bytes; and a flag that says the client has gone.
// A query or an assembled read (expand, delta lists, lossless views) charges it as it
// goes, so a request that would cost minutes or gigabytes stops in milliseconds and
// frees what it built. One budget belongs to one request on one thread at a time.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/error.hpp"

namespace fedmesh {

struct BudgetLimits {
  std::uint64_t work = 100'000'000;                  // work units
  std::chrono::milliseconds time{5000};              // wall time from the budget's start
  std::size_t answer_bytes = std::size_t{32} << 20;  // bytes of the answer it builds
};

class Budget {
 public:
  using Flag = std::shared_ptr<const std::atomic<bool>>;
  // `gone`, when given, turns true once the client that asked has disconnected.
  explicit Budget(const BudgetLimits& limits, Flag gone = nullptr, std::string what = "query");

  // Spends `units` of work. Every 64K units (and on the first charge) it also looks at
  // the clock and the client: query_too_costly, deadline_exceeded or unavailable
  // ("the client has gone") once the budget is spent, and from then on.
  Status charge(std::uint64_t units);
  // Adds `bytes` to the answer: payload_too_large once past the byte budget.
  Status charge_answer(std::size_t bytes);
  // The same checks as charge(0), made now.
  Status check();

  std::uint64_t work_used() const { return used_; }
  std::size_t answer_used() const { return answer_; }
  const BudgetLimits& limits() const { return limits_; }

 private:
  Status fail(Error e);

  BudgetLimits limits_;
  Flag gone_;
  std::string what_;
  std::chrono::steady_clock::time_point deadline_;
  std::uint64_t used_ = 0;
  std::uint64_t next_check_ = 0;
  std::size_t answer_ = 0;
  std::optional<Error> failed_;
};

}  // namespace fedmesh
