#include "core/clock.hpp"

namespace fedmesh {

namespace {

class SystemClock : public Clock {
 public:
  SystemTime now() const override { return std::chrono::system_clock::now(); }
};

}  // namespace

const Clock& Clock::system() {
  static const SystemClock clock;
  return clock;
}

std::int64_t to_micros(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

std::int64_t HybridClock::next() {
  auto wall = to_micros(clock_.now());
  std::lock_guard lock(mu_);
  last_ = std::max(wall, last_ + 1);
  return last_;
}

Status HybridClock::observe(std::int64_t remote) {
  auto wall = to_micros(clock_.now());
  if (remote > wall + max_future_.count())
    return make_error(ErrorCode::invalid_argument,
                      "timestamp " + std::to_string(remote) + " is more than " +
                          std::to_string(std::chrono::duration_cast<std::chrono::seconds>(max_future_).count()) +
                          " s in the future");
  std::lock_guard lock(mu_);
  last_ = std::max(last_, remote);
  return {};
}

std::int64_t HybridClock::last() const {
  std::lock_guard lock(mu_);
  return last_;
}

}  // namespace fedmesh
