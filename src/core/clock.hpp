// Time as the node sees it. Clock is the one source of wall time, injected so tests can
// hold or move it (FakeClock). HybridClock is a hybrid logical clock in microseconds
// since the epoch: its timestamps never go backwards, stay close to wall time, absorb
// remote timestamps, and refuse ones too far in the future. All thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

#include "core/error.hpp"
#include "core/time.hpp"

namespace fedmesh {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual SystemTime now() const = 0;
  // The process's real clock.
  static const Clock& system();
};

// A clock that moves only when told to (tests).
class FakeClock : public Clock {
 public:
  explicit FakeClock(SystemTime start = SystemTime(std::chrono::seconds(1'800'000'000))) : now_(start) {}
  SystemTime now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }
  void set(SystemTime t) {
    std::lock_guard lock(mu_);
    now_ = t;
  }
  void advance(std::chrono::microseconds d) {
    std::lock_guard lock(mu_);
    now_ += d;
  }

 private:
  mutable std::mutex mu_;  // guards now_
  SystemTime now_;
};

// Microseconds since the Unix epoch.
std::int64_t to_micros(SystemTime t);

class HybridClock {
 public:
  // Remote timestamps more than `max_future` ahead of this node's wall time are refused.
  explicit HybridClock(const Clock& clock, std::chrono::microseconds max_future = std::chrono::hours(24))
      : clock_(clock), max_future_(max_future) {}

  // A timestamp greater than every one issued or observed, and not behind wall time.
  std::int64_t next();
  // Absorbs a remote timestamp so later next() values are greater; invalid_argument when
  // it is more than max_future ahead of wall time (nothing changes then).
  Status observe(std::int64_t remote);
  // The greatest timestamp issued or observed (0 before any).
  std::int64_t last() const;

 private:
  const Clock& clock_;
  std::chrono::microseconds max_future_;
  mutable std::mutex mu_;  // guards last_
  std::int64_t last_ = 0;
};

}  // namespace fedmesh
