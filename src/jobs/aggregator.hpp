// Aggregator: the jobs role that hands out work. A workbench submits an artifact (a
// project, its token, a JSON-Logic `where` and an operation); the aggregator plans one
// task per datasource that serves the project, leases each task to the client that
// holds the datasource when that client polls (long-poll; clients are never called),
// checks every partial result on arrival, and combines each round once all its tasks
// are done. Leases expire and are granted again up to `max_attempts`; a result for a
// lease that is not current is refused. All of it lives in the JobStore, so several
// aggregator processes on one PostgreSQL database share the work. Also signs the
// certificates of clients that join with a token. Thread-safe; the coroutines run on
// any I/O thread and leave it for the store pool.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "config/node_config.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "net/io_pool.hpp"
#include "store/job_store.hpp"

namespace fedmesh::jobs {

struct AggregatorOptions {
  std::string self;  // this node's name (recorded on the leases it grants)
  std::vector<ProjectConfig> projects;
  std::vector<std::string> join_tokens;
  std::vector<std::string> reserved_names;  // names a joining client may not take (self, peers)
  std::string issuer;                       // CA folder that signs joining clients ("" = no joining)
  // The federation URL clients poll (federation.advertise, read when a client joins: final
  // once the listener is bound); told to joining clients.
  std::function<std::string()> url;
  Millis lease{30'000};
  Millis max_wait{20'000};  // the longest a poll is held
  Millis job_timeout{0};    // a job not over after this long fails (0: never)
  int max_attempts = 3;
  bool allow_partial_results = false;
};

// The hash a client reports for each project token its datasource serves, so the
// aggregator can match datasources to projects without the client sending the token.
std::string token_digest(std::string_view token);

struct AggregatorCounters {
  std::atomic<std::uint64_t> submitted{0}, leases{0}, results{0}, refused_results{0}, expired{0}, failed{0},
      completed{0};
  // Partials refused, by reason: over the body size or the decoding budget (too_large), not
  // JSON or not a result (malformed), failing their operation's checks (invalid).
  std::atomic<std::uint64_t> partials_too_large{0}, partials_malformed{0}, partials_invalid{0};
};

class Aggregator {
 public:
  Aggregator(JobStore& store, net::IoPool& io, AggregatorOptions options, const Clock& clock);
  ~Aggregator();

  // Starts the sweeper that fails tasks whose leases ran out of attempts.
  void start();
  // Answers every held poll at once (no task) and stops the sweeper.
  void stop();

  // Operator API.
  boost::asio::awaitable<Result<nlohmann::json>> submit(std::string body);
  boost::asio::awaitable<Result<nlohmann::json>> job(std::string id);
  boost::asio::awaitable<Result<nlohmann::json>> model(std::string id);
  // Fails a job that is not over yet ("cancelled by the operator"); its open tasks end.
  boost::asio::awaitable<Result<nlohmann::json>> cancel(std::string id);
  boost::asio::awaitable<Result<nlohmann::json>> jobs(std::size_t limit);
  boost::asio::awaitable<Result<nlohmann::json>> clients();

  // What clients call (over mutual TLS, or in process in standalone): `client` is the
  // certificate's name. hello registers datasources; next holds until a task is leased
  // or `wait_ms` passes; result stores a partial or an error for a lease. A partial is
  // decoded within its budgets (jobs/partial_check.hpp) and checked on the compute pool;
  // a refused one is counted against the client, and when it was well-formed JSON for a
  // current lease, it ends that lease as a failed attempt with the reason.
  boost::asio::awaitable<Result<nlohmann::json>> hello(std::string client, std::string organization, std::string body);
  boost::asio::awaitable<Result<nlohmann::json>> next(std::string client, std::string body);
  boost::asio::awaitable<Result<nlohmann::json>> result(std::string client, std::string body);

  // Joining: the CA certificate (no secret) and signing a CSR for a good token.
  Result<nlohmann::json> ca() const;
  boost::asio::awaitable<Result<nlohmann::json>> join(std::string body);

  const AggregatorCounters& counters() const { return counters_; }
  bool can_join() const { return !options_.issuer.empty(); }

 private:
  std::int64_t now_ms() const;
  // Combines the round when its last task is in; fails the job when that fails.
  void try_advance(const std::string& artifact, int round);
  void fail_job(const std::string& artifact, const nlohmann::json& error);
  void notify();
  boost::asio::awaitable<void> sweep_loop();
  // What a round's tasks carry, read once per (job, round): a round never changes once
  // it has begun. Blocking (store pool).
  struct RoundView {
    std::string project;
    std::string token;
    nlohmann::json spec;
    nlohmann::json input;
  };
  Result<std::shared_ptr<const RoundView>> round_view(const std::string& artifact, int round);
  // The rows of a client's datasource as its last hello reported them, read from the store
  // (the hello may have gone to another aggregator), refreshing rows_. nullopt when
  // unknown. Blocking (store pool).
  std::optional<std::uint64_t> datasource_rows(const std::string& client, const std::string& datasource);
  // Counts a refused partial against `client` (metrics, its record in clients(), a log line).
  void refuse_partial(const std::string& client, const std::string& task, const Error& error, const char* reason);

  // What a client's refused partials cost it, since this process started.
  struct Refusals {
    std::uint64_t count = 0;
    std::int64_t last_at = 0;
    std::string last_task;
    std::string last_message;
  };
  static constexpr std::size_t kMaxRefusalRecords = 10'000;  // clients with a record; more are counted in metrics only
  static constexpr std::size_t kInlineDecodeBytes = 64 << 10;  // larger result bodies are decoded on the compute pool

  JobStore& store_;
  net::IoPool& io_;
  AggregatorOptions options_;
  const Clock& clock_;
  AggregatorCounters counters_;
  std::mutex mu_;  // guards waiters_, known_, rounds_, round_order_, refusals_, rows_
  std::set<std::shared_ptr<boost::asio::steady_timer>> waiters_;
  std::set<std::string> known_;  // clients that said hello to this process
  std::map<std::pair<std::string, int>, std::shared_ptr<const RoundView>> rounds_;  // guarded by mu_
  std::deque<std::pair<std::string, int>> round_order_;                             // oldest first
  std::map<std::string, Refusals> refusals_;                                        // by client
  std::map<std::pair<std::string, std::string>, std::uint64_t> rows_;               // (client, datasource) -> rows
  std::atomic<bool> stopping_{false};
  std::shared_ptr<boost::asio::steady_timer> sweeper_;
};

}  // namespace fedmesh::jobs
