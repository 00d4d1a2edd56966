#include "net/pool_watch.hpp"

#include <boost/asio/post.hpp>

namespace fedmesh::net {

namespace {
std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

PoolWatch::PoolWatch(boost::asio::io_context& io, std::chrono::milliseconds tick, std::chrono::milliseconds busy_after)
    : timer_(io), tick_(tick), busy_after_(busy_after) {}

PoolWatch::~PoolWatch() {
  stop();
}

void PoolWatch::watch(std::string name, boost::asio::thread_pool& pool) {
  pools_.push_back({std::move(name), &pool});
}

void PoolWatch::start() {
  tick();
}

void PoolWatch::stop() {
  // The timer runs on an I/O thread: a flag, not cancel(), which is not thread-safe. The
  // owner destroys the watch only once the I/O threads have stopped.
  stopped_->store(true);
}

void PoolWatch::tick() {
  if (stopped_->load()) return;
  for (auto& w : pools_) {
    std::int64_t expected = 0;
    if (!w.posted->compare_exchange_strong(expected, now_ns())) continue;  // the last probe still waits
    // The probe owns what it touches: the pool may outlive this watch or not.
    boost::asio::post(*w.pool, [posted = w.posted] { posted->store(0); });
  }
  timer_.expires_after(tick_);
  timer_.async_wait([this, stopped = stopped_](const boost::system::error_code& ec) {
    if (ec || stopped->load()) return;
    tick();
  });
}

std::chrono::milliseconds PoolWatch::waiting(const Watched& w) const {
  auto posted = w.posted->load();
  if (posted == 0) return std::chrono::milliseconds(0);
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::nanoseconds(now_ns() - posted));
}

nlohmann::json PoolWatch::health() const {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& w : pools_) {
    auto ms = waiting(w);
    out[w.name] = {{"waiting_ms", ms.count()}, {"busy", ms >= busy_after_}};
  }
  return out;
}

bool PoolWatch::busy() const {
  for (const auto& w : pools_)
    if (waiting(w) >= busy_after_) return true;
  return false;
}

}  // namespace fedmesh::net
