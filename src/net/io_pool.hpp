// IoPool: N threads, one io_context each (measured faster than one shared context with
// strands). Connections are spread round-robin with next(). Beside them, three pools for
// work that must never run on an I/O thread, kept apart so one kind cannot starve
// another: `store` (disk and database calls), `queries` (data queries and large
// assembled reads, which may scan for seconds), `scripts` (Lua, each package on a
// strand) and `compute` (index builds, jobs' partials and checks). start() once, stop() once; next()
// and the pools are safe from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

namespace fedmesh::net {

class IoPool {
 public:
  explicit IoPool(int threads, int script_threads = 2);
  ~IoPool();
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  void start();
  // Stops the loops and joins the threads.
  void stop();

  boost::asio::io_context& next();
  boost::asio::io_context& at(std::size_t i) { return *contexts_[i]; }
  std::size_t size() const { return contexts_.size(); }

  // Store calls (and other file work): two threads.
  boost::asio::thread_pool& store() { return store_; }
  // CPU-heavy work that is neither I/O nor a script: one thread.
  boost::asio::thread_pool& compute() { return compute_; }
  // Data queries and large assembled reads (bounded by their budgets): one thread, so a
  // scan never holds the store threads that point reads and writes need.
  boost::asio::thread_pool& queries() { return queries_; }
  // The pool scripts run on (each package on its own strand of it).
  boost::asio::thread_pool& scripts() { return *scripts_; }
  std::size_t script_threads() const { return script_threads_; }

 private:
  using Guard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::vector<Guard> guards_;
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> next_{0};
  boost::asio::thread_pool store_{2};
  boost::asio::thread_pool compute_{1};
  boost::asio::thread_pool queries_{1};
  std::size_t script_threads_;
  std::unique_ptr<boost::asio::thread_pool> scripts_;
};

}  // namespace fedmesh::net
