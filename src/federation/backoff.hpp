// Backoff: capped exponential delays with jitter, for retrying a peer that failed. The
// first delay is `initial`; each next() doubles it up to `max`; every delay returned is
// scaled by a random factor in [1 - jitter, 1 + jitter] so peers do not retry in step.
// Not thread-safe: one owner (a peer's loop) uses it.
#pragma once

#include <algorithm>
#include <chrono>
#include <random>

namespace fedmesh::federation {

class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, double jitter = 0.2)
      : initial_(initial), max_(std::max(max, initial)), jitter_(jitter), next_(initial) {}

  // The delay to wait now; the following one doubles (capped).
  std::chrono::milliseconds next() {
    auto base = next_;
    next_ = std::min(next_ * 2, max_);
    std::uniform_real_distribution<double> scale(1.0 - jitter_, 1.0 + jitter_);
    return std::chrono::milliseconds(static_cast<long long>(static_cast<double>(base.count()) * scale(rng())));
  }
  // After a success: the next failure waits `initial` again.
  void reset() { next_ = initial_; }
  // The base of the next delay (before jitter).
  std::chrono::milliseconds upcoming() const { return next_; }

 private:
  static std::mt19937& rng() {
    thread_local std::mt19937 generator{std::random_device{}()};
    return generator;
  }
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  double jitter_;
  std::chrono::milliseconds next_;
};

}  // namespace fedmesh::federation
