// PeerLink<T>: a bounded, batching, backing-off stream of items to one peer, shared by
// the registry mesh, the Kodo feed and shared data's replication. Items wait in a
// bounded queue, optionally coalesced by key (a newer item replaces the queued one with
// the same key). One coroutine sends them in batches through `send`.
//
// Nothing is lost silently. When the queue is full, the item is dropped and the link
// asks for a catch-up: the owner's recovery, such as a digest exchange. A failed send
// backs off (capped, jittered). Lossless owners then clear the queue and catch up;
// owners with `attempts` > 0 retry the batch up to that many times and then drop it,
// counted and reported.
//
// push(), request_catch_up(), stats() and idle() are thread-safe. start() and stop() run
// on the control thread. The coroutine runs on the executor given, and stop() ends it
// at its next wake.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/error.hpp"
#include "core/time.hpp"
#include "federation/backoff.hpp"

namespace fedmesh::federation {

struct PeerLinkStats {
  std::string peer;
  bool up = false;  // the last send or catch-up succeeded
  bool needs_catch_up = false;
  bool in_flight = false;
  std::size_t queued = 0;
  std::uint64_t batches = 0;  // send calls that succeeded
  std::uint64_t items_sent = 0;
  std::uint64_t dropped = 0;  // items dropped: a full queue, or a batch out of attempts
  std::string last_ok;        // ISO-8601 of the last success
  std::string last_error;
};

template <class T>
class PeerLink : public std::enable_shared_from_this<PeerLink<T>> {
 public:
  using Batch = std::vector<T>;
  struct Handlers {
    std::function<boost::asio::awaitable<Status>(Batch)> send;
    std::function<boost::asio::awaitable<Status>()> catch_up;        // optional: none means nothing to recover
    std::function<void(bool up, const std::string& error)> changed;  // optional: up/down transitions
  };
  struct Options {
    std::size_t queue_limit = 10'000;
    std::size_t batch = 256;
    std::chrono::milliseconds retry_initial{100};
    std::chrono::milliseconds retry_max{10'000};
    int attempts = 0;             // 0: a failed batch is dropped and a catch-up asked for; N: retried N times
    bool catch_up_first = false;  // start by catching up (a link that may have missed items)
    std::chrono::milliseconds idle_wake{30'000};
    std::function<std::string(const T&)> key;  // when set, items with one key coalesce
  };

  PeerLink(std::string peer, const boost::asio::any_io_executor& ex, Options options, Handlers handlers)
      : peer_(std::move(peer)),
        timer_(ex),
        options_(std::move(options)),
        handlers_(std::move(handlers)),
        backoff_(options_.retry_initial, options_.retry_max),
        needs_catch_up_(options_.catch_up_first && handlers_.catch_up) {}

  const std::string& peer() const { return peer_; }

  void start() {
    auto self = this->shared_from_this();
    boost::asio::co_spawn(
        timer_.get_executor(), [self]() { return self->run(); }, boost::asio::detached);
  }
  void stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake();
  }

  // Queues `item`; false when the queue was full: the item is dropped and a catch-up is due.
  bool push(T item) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return false;
      std::string k = options_.key ? options_.key(item) : std::string();
      if (options_.key) {
        if (auto it = index_.find(k); it != index_.end()) {
          queue_[it->second - popped_].second = std::move(item);  // newer wins
          return true;
        }
      }
      if (queue_.size() >= options_.queue_limit) {
        ++dropped_;
        if (handlers_.catch_up) needs_catch_up_ = true;
        return false;
      }
      if (options_.key) index_[k] = popped_ + queue_.size();
      queue_.emplace_back(std::move(k), std::move(item));
      // A link backing off after a failure waits its time out: new items must not turn
      // the backoff into one attempt per item against a peer that is down.
      if (backing_off_) return true;
    }
    wake();
    return true;
  }

  void request_catch_up() {
    if (!handlers_.catch_up) return;
    {
      std::lock_guard lock(mu_);
      needs_catch_up_ = true;
    }
    wake();
  }

  PeerLinkStats stats() const {
    std::lock_guard lock(mu_);
    PeerLinkStats s = stats_;
    s.peer = peer_;
    s.needs_catch_up = needs_catch_up_;
    s.in_flight = in_flight_;
    s.queued = queue_.size();
    s.dropped = dropped_;
    return s;
  }

  // Nothing queued or in flight, and no catch-up due while the peer is reachable.
  bool idle() const {
    std::lock_guard lock(mu_);
    return !in_flight_ && queue_.empty() && !(needs_catch_up_ && stats_.up);
  }

 private:
  void wake() {
    auto self = this->shared_from_this();
    boost::asio::post(timer_.get_executor(), [self] { self->timer_.cancel(); });
  }

  Batch take_batch() {  // call with mu_ held
    Batch out;
    while (!queue_.empty() && out.size() < options_.batch) {
      if (options_.key) index_.erase(queue_.front().first);
      out.push_back(std::move(queue_.front().second));
      queue_.pop_front();
      ++popped_;
    }
    return out;
  }

  void requeue(Batch batch) {  // call with mu_ held: a failed batch goes back, unless newer items replaced it
    for (auto& item : batch) {
      std::string k = options_.key ? options_.key(item) : std::string();
      if (options_.key && index_.contains(k)) continue;
      if (queue_.size() >= options_.queue_limit) {
        ++dropped_;
        continue;
      }
      if (options_.key) index_[k] = popped_ + queue_.size();
      queue_.emplace_back(std::move(k), std::move(item));
    }
  }

  boost::asio::awaitable<void> sleep(std::chrono::milliseconds d) {
    timer_.expires_after(d);
    co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  }

  boost::asio::awaitable<void> run() {
    int failures = 0;  // of the batch being retried
    for (;;) {
      bool catch_up = false;
      Batch batch;
      {
        std::lock_guard lock(mu_);
        if (stopping_) co_return;
        catch_up = needs_catch_up_;
        if (!catch_up) batch = take_batch();
        in_flight_ = catch_up || !batch.empty();
      }
      if (!catch_up && batch.empty()) {
        co_await sleep(options_.idle_wake);
        continue;
      }
      std::size_t count = batch.size();
      Status s;
      if (catch_up) {
        s = co_await handlers_.catch_up();
      } else {
        s = co_await handlers_.send(batch);
      }
      bool was_up;
      bool gave_up = false;
      {
        std::lock_guard lock(mu_);
        in_flight_ = false;
        was_up = stats_.up;
        if (s) {
          if (catch_up) {
            needs_catch_up_ = false;
          } else {
            ++stats_.batches;
            stats_.items_sent += count;
          }
          stats_.up = true;
          stats_.last_ok = now_iso8601();
          stats_.last_error.clear();
          failures = 0;
        } else {
          stats_.up = false;
          stats_.last_error = s.error().message();
          if (catch_up) {
            // Still due: the next round tries it again.
          } else if (options_.attempts > 0) {
            if (++failures < options_.attempts) {
              requeue(std::move(batch));
            } else {
              dropped_ += count;
              gave_up = true;
              failures = 0;
            }
          } else if (handlers_.catch_up) {
            // The catch-up recovers whatever was queued or in this batch: drop them unsent.
            needs_catch_up_ = true;
            index_.clear();
            queue_.clear();
          } else {
            dropped_ += count;
            gave_up = true;
          }
        }
      }
      if (s) {
        backoff_.reset();
        if (!was_up && handlers_.changed) handlers_.changed(true, "");
        continue;
      }
      if (handlers_.changed && (was_up || gave_up))
        handlers_.changed(false, gave_up ? s.error().message() + " (gave up on " + std::to_string(count) + " item(s))"
                                         : s.error().message());
      {
        std::lock_guard lock(mu_);
        backing_off_ = true;
      }
      co_await sleep(backoff_.next());  // a catch-up asked for (the peer is back) cuts it short
      {
        std::lock_guard lock(mu_);
        backing_off_ = false;
      }
    }
  }

  std::string peer_;
  boost::asio::steady_timer timer_;  // the coroutine's wake-up; touched on its executor only
  Options options_;
  Handlers handlers_;
  Backoff backoff_;  // the coroutine's own

  mutable std::mutex mu_;                                 // guards everything below
  std::deque<std::pair<std::string, T>> queue_;           // (coalescing key, item)
  std::unordered_map<std::string, std::uint64_t> index_;  // key -> absolute position (popped_ + index)
  std::uint64_t popped_ = 0;                              // items taken from the front so far
  bool needs_catch_up_;
  bool backing_off_ = false;  // the coroutine sleeps after a failure: push() does not wake it
  bool in_flight_ = false;
  bool stopping_ = false;
  std::uint64_t dropped_ = 0;
  PeerLinkStats stats_;
};

}  // namespace fedmesh::federation
