#include "core/budget.hpp"

namespace fedmesh {

namespace {
constexpr std::uint64_t kCheckEvery = 65'536;

std::string mib(std::size_t bytes) {
  constexpr std::size_t kMiB = std::size_t{1} << 20;
  if (bytes % kMiB == 0) return std::to_string(bytes / kMiB) + " MiB";
  return std::to_string(bytes) + " bytes";
}
}  // namespace

Budget::Budget(const BudgetLimits& limits, Flag gone, std::string what)
    : limits_(limits),
      gone_(std::move(gone)),
      what_(std::move(what)),
      deadline_(std::chrono::steady_clock::now() + limits.time) {}

Status Budget::fail(Error e) {
  failed_ = e;
  return e;
}

Status Budget::check() {
  if (failed_) return *failed_;
  if (used_ > limits_.work)
    return fail(make_error(ErrorCode::query_too_costly,
                           "the " + what_ + " needs more than its work budget of " + std::to_string(limits_.work) +
                               " units (data.query_work); narrow the filter or the collection")
                    .with("budget", std::to_string(limits_.work)));
  if (std::chrono::steady_clock::now() >= deadline_)
    return fail(make_error(ErrorCode::deadline_exceeded, "the " + what_ + " ran past its time limit of " +
                                                             std::to_string(limits_.time.count()) +
                                                             " ms (data.query_timeout)"));
  if (gone_ && gone_->load(std::memory_order_relaxed))
    return fail(make_error(ErrorCode::unavailable, "the client that asked for the " + what_ + " has gone"));
  return {};
}

Status Budget::charge(std::uint64_t units) {
  used_ += units;
  if (used_ < next_check_ && used_ <= limits_.work && !failed_) return {};
  next_check_ = used_ + kCheckEvery;
  return check();
}

Status Budget::charge_answer(std::size_t bytes) {
  if (failed_) return *failed_;
  answer_ += bytes;
  if (answer_ > limits_.answer_bytes)
    return fail(make_error(ErrorCode::payload_too_large, "the answer to this " + what_ + " would exceed " +
                                                             mib(limits_.answer_bytes) +
                                                             " (data.max_answer_bytes); ask for less: a smaller "
                                                             "limit, a narrower filter or a shallower expand")
                    .with("limit_bytes", std::to_string(limits_.answer_bytes)));
  return {};
}

}  // namespace fedmesh
