// HttpMetrics: request counters by route, method and status, a latency histogram per
// route, and in-flight/connection gauges for one listener. Each I/O thread writes its
// own cache-line-aligned shard (relaxed atomics, no sharing on the request path);
// render() sums the shards. Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace fedmesh::net {

class HttpMetrics {
 public:
  // `routes` are the router's patterns; one extra slot counts unmatched requests.
  HttpMetrics(std::string listener, std::vector<std::string> routes);

  void record(int route, const std::string& method, int status, std::uint64_t micros);
  void inflight_add(int delta) { shard().inflight.fetch_add(delta, std::memory_order_relaxed); }
  std::int64_t inflight() const;
  void connection_opened() { shard().connections.fetch_add(1, std::memory_order_relaxed); }
  void connection_closed() { shard().connections.fetch_sub(1, std::memory_order_relaxed); }
  void tls_refused() { shard().tls_refused.fetch_add(1, std::memory_order_relaxed); }
  void connection_refused() { shard().connections_refused.fetch_add(1, std::memory_order_relaxed); }

  // Prometheus text exposition of several listeners: each family's HELP and TYPE once,
  // then every listener's series with its `listener` label.
  static void render(const std::vector<const HttpMetrics*>& listeners, std::string& out);

  static constexpr std::array<double, 12> kBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                      0.01,   0.025,   0.05,   0.1,   0.5,    2.5};
  // Statuses counted individually; anything else lands in the last slot as its class.
  static constexpr std::array<int, 23> kStatuses = {200, 201, 202, 204, 301, 302, 304, 400, 401, 403, 404, 405,
                                                    408, 409, 413, 415, 422, 429, 500, 501, 502, 503, 504};

 private:
  static constexpr int kMethods = 6;                                 // GET POST PUT DELETE HEAD other
  static constexpr std::size_t kStatusSlots = kStatuses.size() + 5;  // + 1xx..5xx classes
  static constexpr std::size_t kShards = 8;
  struct RouteStats {
    std::array<std::array<std::atomic<std::uint64_t>, kStatusSlots>, kMethods> by_status{};
    std::array<std::atomic<std::uint64_t>, kBuckets.size() + 1> buckets{};
    std::atomic<std::uint64_t> sum_micros{0};
    std::atomic<std::uint64_t> count{0};
  };
  struct alignas(64) Shard {
    std::unique_ptr<RouteStats[]> stats;
    std::atomic<std::int64_t> inflight{0};
    std::atomic<std::int64_t> connections{0};
    std::atomic<std::uint64_t> tls_refused{0};
    std::atomic<std::uint64_t> connections_refused{0};
  };
  Shard& shard();
  std::uint64_t sum(const std::function<const std::atomic<std::uint64_t>&(const Shard&)>& get) const;
  void render_requests(std::string& out) const;
  void render_durations(std::string& out) const;

  std::string listener_;
  std::vector<std::string> routes_;
  std::array<Shard, kShards> shards_;
};

}  // namespace fedmesh::net
