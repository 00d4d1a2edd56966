#include "net/io_pool.hpp"

#include <spdlog/spdlog.h>

namespace fedmesh::net {

IoPool::IoPool(int threads, int script_threads)
    : script_threads_(static_cast<std::size_t>(std::max(1, script_threads))),
      scripts_(std::make_unique<boost::asio::thread_pool>(script_threads_)) {
  for (int i = 0; i < std::max(1, threads); ++i) {
    contexts_.push_back(std::make_unique<boost::asio::io_context>(1));
    guards_.emplace_back(contexts_.back()->get_executor());
  }
}

IoPool::~IoPool() {
  stop();
}

void IoPool::start() {
  for (auto& ctx : contexts_) {
    threads_.emplace_back([c = ctx.get()] {
      for (;;) {
        try {
          c->run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("uncaught exception on I/O thread: {}", e.what());
        }
      }
    });
  }
}

void IoPool::stop() {
  guards_.clear();
  for (auto& ctx : contexts_) ctx->stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  // Script steps still queued have no one waiting for them; running ones end at their
  // next budget check once the skill host has halted them.
  scripts_->stop();
  scripts_->join();
  // A build in progress finishes before what it reads goes away. Queued queries have no
  // one to answer; a running one ends at its budget's deadline.
  compute_.join();
  queries_.stop();
  queries_.join();
  // Finish queued store writes rather than drop them: join() without a prior stop()
  // waits until the queue is empty.
  store_.join();
}

boost::asio::io_context& IoPool::next() {
  return *contexts_[next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size()];
}

}  // namespace fedmesh::net
