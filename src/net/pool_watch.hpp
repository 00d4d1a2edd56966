// PoolWatch: tells how long a worker pool (store, queries, compute) has been too busy to
// start new work. Every tick it posts a probe to each pool that has none waiting; a
// probe that has waited longer than `busy_after` marks its pool busy, so /healthz can
// say that reads and writes are stuck behind long work even while the I/O threads
// answer. Costs one tiny task per pool per tick. start() and stop() once, from one
// thread; health() from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

namespace fedmesh::net {

class PoolWatch {
 public:
  PoolWatch(boost::asio::io_context& io, std::chrono::milliseconds tick, std::chrono::milliseconds busy_after);
  ~PoolWatch();
  PoolWatch(const PoolWatch&) = delete;
  PoolWatch& operator=(const PoolWatch&) = delete;

  // Watches `pool` under `name`; call before start().
  void watch(std::string name, boost::asio::thread_pool& pool);
  void start();
  void stop();

  // {"NAME": {"waiting_ms": N, "busy": bool}, ...}: how long the oldest probe has waited
  // (0 when none waits), busy past busy_after.
  nlohmann::json health() const;
  // Whether any watched pool is busy past busy_after.
  bool busy() const;

 private:
  struct Watched {
    std::string name;
    boost::asio::thread_pool* pool;
    // Steady-clock nanoseconds when the waiting probe was posted; 0 when none waits.
    std::shared_ptr<std::atomic<std::int64_t>> posted = std::make_shared<std::atomic<std::int64_t>>(0);
  };
  void tick();
  std::chrono::milliseconds waiting(const Watched& w) const;

  boost::asio::steady_timer timer_;
  std::chrono::milliseconds tick_;
  std::chrono::milliseconds busy_after_;
  std::vector<Watched> pools_;
  std::shared_ptr<std::atomic<bool>> stopped_ = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace fedmesh::net
