// JobStore: federated jobs' clients, artifacts (submitted jobs), their tasks and leases,
// and the certificates issued to joining clients. Everything an aggregator decides lives
// here, so several aggregator processes on one PostgreSQL database share the work: a
// task is claimed by one conditional update (FOR UPDATE SKIP LOCKED on PostgreSQL), a
// result is stored only for the lease that is current, and a round is combined by
// whichever aggregator takes the artifact's row first. Thread-safe; calls block (run
// them on the store pool). Times are milliseconds since the epoch.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace fedmesh {

struct JobClientRecord {
  std::string name;
  std::string organization;
  std::string datasources;  // JSON: [{name, rows, columns, tokens (hashes), summaries?}]
  std::int64_t seen_at = 0;
};

struct ArtifactRecord {
  std::string id;
  std::string project;
  std::string token;  // the project token the job was submitted with: tasks carry it to clients
  std::string spec;   // JSON: {where, operation, datasources}
  std::string state;  // submitted | running | completed | failed
  int round = 0;
  int rounds = 1;
  std::string input;     // JSON: the current round's input
  std::string progress;  // JSON: what rounds carry over (loss history)
  std::string result;    // JSON, "" until completed
  std::string model;     // JSON, "" unless the job made a model
  std::string error;     // JSON, "" unless failed
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
};

struct TaskRecord {
  std::string id;
  std::string artifact;
  int round = 0;
  std::string client;
  std::string datasource;
  std::string state;  // pending | leased | done | failed | cancelled
  std::string lease;  // the current lease's id
  std::int64_t lease_until = 0;
  std::string leased_by;  // the aggregator that granted the lease
  int attempts = 0;
  std::string result;  // JSON, "" until done
  std::string error;   // JSON, "" unless failed
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
};

// What combining a finished round decided, applied in the transaction that read it.
struct RoundOutcome {
  std::string state;     // running (a next round follows) | completed | failed
  std::string input;     // the next round's input
  std::string progress;  // updated progress
  std::string result;
  std::string model;
  std::string error;
  std::vector<TaskRecord> next_tasks;  // the next round's tasks
};

class JobStore {
 public:
  virtual ~JobStore() = default;

  virtual Status put_client(const JobClientRecord& client) = 0;
  virtual Result<std::vector<JobClientRecord>> clients() = 0;

  // An artifact and its first round's tasks, in one transaction.
  virtual Status create(const ArtifactRecord& artifact, const std::vector<TaskRecord>& tasks) = 0;
  virtual Result<std::optional<ArtifactRecord>> artifact(std::string_view id) = 0;
  // Newest first, at most `limit`, without their input and model (which may be large).
  virtual Result<std::vector<ArtifactRecord>> artifacts(std::size_t limit) = 0;
  virtual Result<std::vector<TaskRecord>> tasks(std::string_view artifact) = 0;
  virtual Result<std::optional<TaskRecord>> task(std::string_view id) = 0;

  // Leases the oldest task of `client` that is pending, or leased with its lease expired
  // and fewer than `max_attempts` attempts made: one conditional update, so no task is
  // handed out twice. The first lease of a job's first round turns it running. nullopt
  // when there is none.
  virtual Result<std::optional<TaskRecord>> claim(std::string_view client, std::string_view lease,
                                                  std::string_view leased_by, std::int64_t now, std::int64_t until,
                                                  int max_attempts) = 0;
  // Stores the result of the current lease (state done) and says how many tasks of its
  // round are not done yet. nullopt when `lease` is not the task's current lease (expired
  // and granted again, or the task is over).
  virtual Result<std::optional<int>> complete(std::string_view task, std::string_view client, std::string_view lease,
                                              std::string_view result, std::int64_t now) = 0;
  // A client's error for its current lease: the task fails for good when `permanent` or
  // out of attempts, else returns to pending. False when the lease is not current.
  virtual Result<bool> fail_task(std::string_view task, std::string_view client, std::string_view lease,
                                 std::string_view error, bool permanent, int max_attempts, std::int64_t now) = 0;
  // Tasks whose lease expired with no attempts left turn failed; returns them.
  virtual Result<std::vector<TaskRecord>> expire(std::int64_t now, int max_attempts) = 0;
  // When every task of `round` of a running artifact is done, runs `decide` on them and
  // applies its outcome, all in one transaction holding the artifact's row: only one
  // aggregator combines a round. False when the round is not complete or taken already.
  virtual Result<bool> advance(
      std::string_view artifact, int round, std::int64_t now,
      const std::function<RoundOutcome(const ArtifactRecord&, const std::vector<TaskRecord>&)>& decide) = 0;
  // Artifacts not over yet whose current round has every task done: a round whose
  // combine did not happen (the aggregator that stored its last result died first).
  virtual Result<std::vector<std::pair<std::string, int>>> stalled() = 0;
  // Artifacts not over yet that were created before `cutoff`.
  virtual Result<std::vector<std::string>> overdue(std::int64_t cutoff) = 0;
  // Fails an artifact that is not over yet, and cancels its open tasks.
  virtual Status fail_artifact(std::string_view artifact, std::string_view error, std::int64_t now) = 0;

  // Records a certificate issued to a joining client; false (nothing recorded) when the
  // name already has one, is a client's that connected already, or a one-time token
  // (`token_hash` non-empty) was used before. Atomic across aggregators.
  virtual Result<bool> record_join(std::string_view name, std::string_view token_hash, std::string_view fingerprint,
                                   std::int64_t now) = 0;
};

}  // namespace fedmesh
