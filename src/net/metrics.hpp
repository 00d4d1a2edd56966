// HttpMetrics: request counters by route and status, a latency histogram per route and
// an in-flight gauge for one listener. Lock-free (relaxed atomics) on the request path;
// rendering reads a consistent-enough snapshot. Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace fedmesh::net {

class HttpMetrics {
 public:
  // `routes` are the router's patterns; one extra slot counts unmatched requests.
  HttpMetrics(std::string listener, std::vector<std::string> routes);

  void record(int route, const std::string& method, int status, std::uint64_t micros);
  void inflight_add(int delta) { inflight_.fetch_add(delta, std::memory_order_relaxed); }
  std::int64_t inflight() const { return inflight_.load(std::memory_order_relaxed); }
  void connection_opened() { connections_.fetch_add(1, std::memory_order_relaxed); }
  void connection_closed() { connections_.fetch_sub(1, std::memory_order_relaxed); }
  void tls_refused() { tls_refused_.fetch_add(1, std::memory_order_relaxed); }

  // Prometheus text exposition of this listener's series.
  void render(std::string& out) const;

  static constexpr std::array<double, 12> kBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                      0.01,   0.025,   0.05,   0.1,   0.5,    2.5};

 private:
  static constexpr int kMethods = 6;  // GET POST PUT DELETE HEAD other
  struct RouteStats {
    std::array<std::array<std::atomic<std::uint64_t>, 500>, kMethods> by_status{};  // index status-100
    std::array<std::atomic<std::uint64_t>, kBuckets.size() + 1> buckets{};
    std::atomic<std::uint64_t> sum_micros{0};
    std::atomic<std::uint64_t> count{0};
  };
  std::string listener_;
  std::vector<std::string> routes_;
  std::unique_ptr<RouteStats[]> stats_;
  std::atomic<std::int64_t> inflight_{0};
  std::atomic<std::int64_t> connections_{0};
  std::atomic<std::uint64_t> tls_refused_{0};
};

}  // namespace fedmesh::net
