// Worker: the jobs role that computes. A client node loads its datasources (CSV or TSV
// files, read once at start), tells its aggregator what they hold (names, row counts,
// typed columns, digests of the project tokens each serves; per-column summaries only
// where a datasource allows it), then polls for tasks: the aggregator never calls a
// client, so clients behind firewalls and NAT work. For each task the worker checks the
// task's project token against the datasource, selects the rows, refuses when fewer
// than the datasource's `min_rows` remain, computes the operation's partial on the
// compute pool, and sends back only that partial. Failures back off; nothing is
// retried that is not safe to send twice (a result names its lease). Thread-safe.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "config/node_config.hpp"
#include "core/error.hpp"
#include "jobs/table.hpp"
#include "net/http_client.hpp"
#include "net/io_pool.hpp"

namespace fedmesh::jobs {

class Aggregator;

struct LoadedDatasource {
  DatasourceConfig config;
  std::shared_ptr<const Table> table;
  std::vector<std::string> digests;  // token_digest() of each token it serves
  nlohmann::json report;             // what the aggregator is told
};

// Reads every datasource; config_invalid naming the file, line and column of a problem.
Result<std::vector<LoadedDatasource>> load_datasources(const std::vector<DatasourceConfig>& configs);

// How a worker reaches its aggregator: `op` is hello, next or result.
class JobsLink {
 public:
  virtual ~JobsLink() = default;
  virtual boost::asio::awaitable<Result<nlohmann::json>> call(std::string op, std::string body, Millis timeout) = 0;
  // The aggregator's certificate name, once known.
  virtual std::string aggregator() const = 0;
};

// Over mutual TLS to https://host:port; `expected_name` pins the aggregator's name. With
// several URLs (aggregators on one database), a call that cannot connect moves on to the
// next one.
std::unique_ptr<JobsLink> make_http_link(net::HttpClient& client, const std::vector<std::string>& urls,
                                         const std::string& expected_name);
// In process (standalone): calls the aggregator directly as client `self`.
std::unique_ptr<JobsLink> make_local_link(Aggregator& aggregator, const std::string& self,
                                          const std::string& organization);

struct WorkerOptions {
  Millis poll{20'000};
  Millis retry_initial{200};
  Millis retry_max{10'000};
};

struct WorkerCounters {
  std::atomic<std::uint64_t> tasks{0}, refused{0}, failed_sends{0};
};

class Worker {
 public:
  Worker(net::IoPool& io, std::unique_ptr<JobsLink> link, std::vector<LoadedDatasource> sources, WorkerOptions options);
  ~Worker();
  void start();
  void stop();
  // {aggregator, connected, datasources, tasks, refused, last_error}
  nlohmann::json status() const;
  const WorkerCounters& counters() const { return counters_; }

 private:
  boost::asio::awaitable<void> loop();
  boost::asio::awaitable<bool> pause(Millis d);
  // The partial of a task, or {"error": {...}} to send instead.
  nlohmann::json run_task(const nlohmann::json& task) const;
  boost::asio::awaitable<void> send_result(const nlohmann::json& task, nlohmann::json outcome);
  void note_error(const std::string& what);

  net::IoPool& io_;
  std::unique_ptr<JobsLink> link_;
  std::vector<LoadedDatasource> sources_;
  WorkerOptions options_;
  WorkerCounters counters_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> connected_{false};
  std::shared_ptr<boost::asio::steady_timer> timer_;
  mutable std::mutex mu_;  // guards last_error_
  std::string last_error_;
};

}  // namespace fedmesh::jobs
