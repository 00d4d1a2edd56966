// JobStore written once against the Sql seam. A claim is one UPDATE ... RETURNING whose
// subquery picks the task; on PostgreSQL the subquery locks it FOR UPDATE SKIP LOCKED,
// so concurrent aggregators each take a different task and never wait on each other.
#include <string>
#include <vector>

#include "store/sql.hpp"

namespace fedmesh::store {

namespace {

constexpr std::string_view kArtifactColumns =
    "id, project, token, spec, state, round, rounds, input, progress, result, model, error, created_at, updated_at";
constexpr std::string_view kTaskColumns =
    "id, artifact, round, client, datasource, state, lease, lease_until, leased_by, attempts, result, error, "
    "created_at, updated_at";

ArtifactRecord read_artifact(const SqlRow& r) {
  return {r.text(0),
          r.text(1),
          r.text(2),
          r.text(3),
          r.text(4),
          static_cast<int>(r.integer(5)),
          static_cast<int>(r.integer(6)),
          r.text(7),
          r.text(8),
          r.text(9),
          r.text(10),
          r.text(11),
          r.integer(12),
          r.integer(13)};
}

TaskRecord read_task(const SqlRow& r) {
  return {
      r.text(0),    r.text(1), static_cast<int>(r.integer(2)), r.text(3),  r.text(4),  r.text(5),     r.text(6),
      r.integer(7), r.text(8), static_cast<int>(r.integer(9)), r.text(10), r.text(11), r.integer(12), r.integer(13)};
}

Status insert_task(Sql& tx, const TaskRecord& t) {
  return tx.run("jobs.task",
                "INSERT INTO jobs_tasks(id, artifact, round, client, datasource, state, created_at, updated_at) "
                "VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?6)",
                {t.id, t.artifact, static_cast<std::int64_t>(t.round), t.client, t.datasource, t.created_at});
}

class SqlJobs final : public JobStore {
 public:
  explicit SqlJobs(Sql& db) : db_(db) {}

  Status put_client(const JobClientRecord& c) override {
    return db_.run("jobs.put_client",
                   "INSERT INTO jobs_clients(name, organization, datasources, seen_at) VALUES (?1, ?2, ?3, ?4) "
                   "ON CONFLICT(name) DO UPDATE SET organization = excluded.organization, "
                   "datasources = excluded.datasources, seen_at = excluded.seen_at",
                   {c.name, c.organization, c.datasources, c.seen_at});
  }

  Result<std::vector<JobClientRecord>> clients() override {
    std::vector<JobClientRecord> out;
    auto s = db_.run("jobs.clients", "SELECT name, organization, datasources, seen_at FROM jobs_clients ORDER BY name",
                     {}, [&](const SqlRow& r) {
                       out.push_back({r.text(0), r.text(1), r.text(2), r.integer(3)});
                     });
    if (!s) return std::move(s).error();
    return out;
  }

  Status create(const ArtifactRecord& a, const std::vector<TaskRecord>& tasks) override {
    return db_.transaction("jobs.create", [&](Sql& tx) -> Status {
      auto s = tx.run("jobs.create",
                      "INSERT INTO jobs_artifacts(id, project, token, spec, state, round, rounds, input, progress, "
                      "result, model, error, created_at, updated_at) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, '', '', '', ?10, ?10)",
                      {a.id, a.project, a.token, a.spec, a.state, static_cast<std::int64_t>(a.round),
                       static_cast<std::int64_t>(a.rounds), a.input, a.progress, a.created_at});
      for (const auto& t : tasks) {
        if (!s) break;
        s = insert_task(tx, t);
      }
      return s;
    });
  }

  Result<std::optional<ArtifactRecord>> artifact(std::string_view id) override {
    std::optional<ArtifactRecord> out;
    auto s = db_.run("jobs.artifact", "SELECT " + std::string(kArtifactColumns) + " FROM jobs_artifacts WHERE id = ?1",
                     {id}, [&](const SqlRow& r) { out = read_artifact(r); });
    if (!s) return std::move(s).error();
    return out;
  }

  Result<std::vector<ArtifactRecord>> artifacts(std::size_t limit) override {
    std::vector<ArtifactRecord> out;
    auto s = db_.run("jobs.artifacts",
                     "SELECT id, project, '', spec, state, round, rounds, '', progress, result, '', error, created_at, "
                     "updated_at FROM jobs_artifacts ORDER BY created_at DESC, id LIMIT ?1",
                     {static_cast<std::int64_t>(limit)}, [&](const SqlRow& r) { out.push_back(read_artifact(r)); });
    if (!s) return std::move(s).error();
    return out;
  }

  Result<std::vector<TaskRecord>> tasks(std::string_view artifact) override {
    std::vector<TaskRecord> out;
    auto s = db_.run("jobs.tasks",
                     "SELECT " + std::string(kTaskColumns) +
                         " FROM jobs_tasks WHERE artifact = ?1 ORDER BY round, datasource, client",
                     {artifact}, [&](const SqlRow& r) { out.push_back(read_task(r)); });
    if (!s) return std::move(s).error();
    return out;
  }

  Result<std::optional<TaskRecord>> task(std::string_view id) override {
    std::optional<TaskRecord> out;
    auto s = db_.run("jobs.task", "SELECT " + std::string(kTaskColumns) + " FROM jobs_tasks WHERE id = ?1", {id},
                     [&](const SqlRow& r) { out = read_task(r); });
    if (!s) return std::move(s).error();
    return out;
  }

  Result<std::optional<TaskRecord>> claim(std::string_view client, std::string_view lease, std::string_view leased_by,
                                          std::int64_t now, std::int64_t until, int max_attempts) override {
    std::optional<TaskRecord> out;
    std::string skip = db_.dialect() == Dialect::postgresql ? " FOR UPDATE SKIP LOCKED" : "";
    // One statement: atomic on its own, and one round trip.
    auto s = db_.run("jobs.claim",
                     "UPDATE jobs_tasks SET state = 'leased', lease = ?1, lease_until = ?2, leased_by = ?3, "
                     "attempts = attempts + 1, updated_at = ?4 WHERE id = (SELECT id FROM jobs_tasks "
                     "WHERE client = ?5 AND (state = 'pending' OR (state = 'leased' AND lease_until < ?4)) "
                     "AND attempts < ?6 ORDER BY created_at, id LIMIT 1" +
                         skip + ") RETURNING " + std::string(kTaskColumns),
                     {lease, until, leased_by, now, client, static_cast<std::int64_t>(max_attempts)},
                     [&](const SqlRow& r) { out = read_task(r); });
    if (!s) return std::move(s).error();
    if (out && out->round == 0 && out->attempts == 1) {
      s = db_.run("jobs.running",
                  "UPDATE jobs_artifacts SET state = 'running', updated_at = ?2 WHERE id = ?1 AND state = 'submitted'",
                  {out->artifact, now});
      if (!s) return std::move(s).error();
    }
    return out;
  }

  Result<std::optional<int>> complete(std::string_view task, std::string_view client, std::string_view lease,
                                      std::string_view result, std::int64_t now) override {
    std::optional<std::pair<std::string, std::int64_t>> done;
    auto s =
        db_.run("jobs.complete",
                "UPDATE jobs_tasks SET state = 'done', result = ?4, updated_at = ?5 "
                "WHERE id = ?1 AND client = ?2 AND lease = ?3 AND state = 'leased' RETURNING artifact, round",
                {task, client, lease, result, now}, [&](const SqlRow& r) { done.emplace(r.text(0), r.integer(1)); });
    if (!s) return std::move(s).error();
    if (!done) return std::optional<int>();
    int remaining = 0;
    s = db_.run("jobs.remaining",
                "SELECT count(*) FROM jobs_tasks WHERE artifact = ?1 AND round = ?2 AND state <> 'done'",
                {done->first, done->second}, [&](const SqlRow& r) { remaining = static_cast<int>(r.integer(0)); });
    if (!s) return std::move(s).error();
    return std::optional<int>(remaining);
  }

  Result<bool> fail_task(std::string_view task, std::string_view client, std::string_view lease, std::string_view error,
                         bool permanent, int max_attempts, std::int64_t now) override {
    bool done = false;
    auto s = db_.run("jobs.fail_task",
                     "UPDATE jobs_tasks SET state = CASE WHEN ?5 = 1 OR attempts >= ?6 THEN 'failed' ELSE 'pending' "
                     "END, error = ?4, lease = '', updated_at = ?7 "
                     "WHERE id = ?1 AND client = ?2 AND lease = ?3 AND state = 'leased' RETURNING id",
                     {task, client, lease, error, static_cast<std::int64_t>(permanent ? 1 : 0),
                      static_cast<std::int64_t>(max_attempts), now},
                     [&](const SqlRow&) { done = true; });
    if (!s) return std::move(s).error();
    return done;
  }

  Result<std::vector<TaskRecord>> expire(std::int64_t now, int max_attempts) override {
    std::vector<TaskRecord> out;
    auto s =
        db_.run("jobs.expire",
                "UPDATE jobs_tasks SET state = 'failed', updated_at = ?1, error = ?3 "
                "WHERE state = 'leased' AND lease_until < ?1 AND attempts >= ?2 RETURNING " +
                    std::string(kTaskColumns),
                {now, static_cast<std::int64_t>(max_attempts),
                 std::string_view(R"({"code":"deadline_exceeded","message":"the lease expired on every attempt"})")},
                [&](const SqlRow& r) { out.push_back(read_task(r)); });
    if (!s) return std::move(s).error();
    return out;
  }

  Result<bool> advance(
      std::string_view artifact, int round, std::int64_t now,
      const std::function<RoundOutcome(const ArtifactRecord&, const std::vector<TaskRecord>&)>& decide) override {
    bool advanced = false;
    std::string lock = db_.dialect() == Dialect::postgresql ? " FOR UPDATE" : "";
    auto s = db_.transaction("jobs.advance", [&](Sql& tx) -> Status {
      std::optional<ArtifactRecord> a;
      auto st = tx.run("jobs.advance",
                       "SELECT " + std::string(kArtifactColumns) + " FROM jobs_artifacts WHERE id = ?1" + lock,
                       {artifact}, [&](const SqlRow& r) { a = read_artifact(r); });
      if (!st) return st;
      if (!a || a->round != round || (a->state != "submitted" && a->state != "running")) return {};
      std::vector<TaskRecord> tasks;
      bool complete = true;
      st = tx.run("jobs.advance",
                  "SELECT " + std::string(kTaskColumns) +
                      " FROM jobs_tasks WHERE artifact = ?1 AND round = ?2 "
                      "ORDER BY datasource, client",
                  {artifact, static_cast<std::int64_t>(round)}, [&](const SqlRow& r) {
                    tasks.push_back(read_task(r));
                    complete = complete && tasks.back().state == "done";
                  });
      if (!st || !complete || tasks.empty()) return st;
      auto outcome = decide(*a, tasks);
      int next_round = outcome.state == "running" ? round + 1 : round;
      st = tx.run("jobs.advance",
                  "UPDATE jobs_artifacts SET state = ?2, round = ?3, input = ?4, progress = ?5, result = ?6, "
                  "model = ?7, error = ?8, updated_at = ?9 WHERE id = ?1",
                  {artifact, outcome.state, static_cast<std::int64_t>(next_round),
                   outcome.state == "running" ? std::string_view(outcome.input) : std::string_view(a->input),
                   outcome.progress, outcome.result, outcome.model, outcome.error, now});
      for (const auto& t : outcome.next_tasks) {
        if (!st) break;
        st = insert_task(tx, t);
      }
      advanced = static_cast<bool>(st);
      return st;
    });
    if (!s) return std::move(s).error();
    return advanced;
  }

  Result<std::vector<std::string>> overdue(std::int64_t cutoff) override {
    std::vector<std::string> out;
    auto s = db_.run("jobs.overdue",
                     "SELECT id FROM jobs_artifacts WHERE state IN ('submitted', 'running') AND created_at < ?1",
                     {cutoff}, [&](const SqlRow& r) { out.push_back(r.text(0)); });
    if (!s) return std::move(s).error();
    return out;
  }

  Status fail_artifact(std::string_view artifact, std::string_view error, std::int64_t now) override {
    return db_.transaction("jobs.fail", [&](Sql& tx) -> Status {
      auto s = tx.run("jobs.fail",
                      "UPDATE jobs_artifacts SET state = 'failed', error = ?2, updated_at = ?3 "
                      "WHERE id = ?1 AND state IN ('submitted', 'running')",
                      {artifact, error, now});
      if (!s) return s;
      return tx.run("jobs.cancel",
                    "UPDATE jobs_tasks SET state = 'cancelled', updated_at = ?2 "
                    "WHERE artifact = ?1 AND state IN ('pending', 'leased')",
                    {artifact, now});
    });
  }

  Result<bool> record_join(std::string_view name, std::string_view token_hash, std::string_view fingerprint,
                           std::int64_t now) override {
    bool recorded = false;
    auto s = db_.transaction("jobs.join", [&](Sql& tx) -> Status {
      bool taken = false;
      auto st = tx.run("jobs.join", "SELECT name FROM jobs_clients WHERE name = ?1", {name},
                       [&](const SqlRow&) { taken = true; });
      if (!st || taken) return st;
      // The name's primary key and the one-time token's unique index decide, even between
      // aggregators racing on one database.
      st = tx.run("jobs.join",
                  "INSERT INTO jobs_joins(name, token_hash, fingerprint, issued_at) VALUES (?1, ?2, ?3, ?4) "
                  "ON CONFLICT DO NOTHING RETURNING name",
                  {name, token_hash, fingerprint, now}, [&](const SqlRow&) { recorded = true; });
      return st;
    });
    if (!s) return std::move(s).error();
    return recorded;
  }

  Result<std::vector<std::pair<std::string, int>>> stalled() override {
    std::vector<std::pair<std::string, int>> out;
    auto s = db_.run("jobs.stalled",
                     "SELECT a.id, a.round FROM jobs_artifacts a WHERE a.state IN ('submitted', 'running') AND "
                     "NOT EXISTS (SELECT 1 FROM jobs_tasks t WHERE t.artifact = a.id AND t.round = a.round AND "
                     "t.state <> 'done')",
                     {}, [&](const SqlRow& r) { out.emplace_back(r.text(0), static_cast<int>(r.integer(1))); });
    if (!s) return std::move(s).error();
    return out;
  }

 private:
  Sql& db_;
};

}  // namespace

std::unique_ptr<JobStore> make_sql_job_store(Sql& db) {
  return std::make_unique<SqlJobs>(db);
}

}  // namespace fedmesh::store
