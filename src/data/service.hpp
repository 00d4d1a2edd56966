// DataService: shared data on one node. Local writes become signed deltas; peers'
// deltas are verified and ingested; both land in the DeltaStore in one transaction each
// and update the in-memory state of the entities they touch, from which reads resolve
// without replaying history. Collections carry settings (resolvers, schema).
//
// Threads: every method blocks on the store, so callers run them on the store pool.
// Writes (local and ingested) are serialised by one writer lock; concurrent local writes
// queue and are committed together, under one signature per stream. Reads run in
// parallel with each other. Commit listeners are called after each commit, outside the
// locks, on the committing thread. Thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/budget.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "crypto/sign.hpp"
#include "data/collection.hpp"
#include "data/creators.hpp"
#include "data/entity.hpp"
#include "data/entity_cache.hpp"
#include "data/equivocation.hpp"
#include "data/wire.hpp"
#include "store/delta_store.hpp"

namespace fedmesh::data {

struct DataServiceOptions {
  std::string self;                    // this node's name: the creator of its deltas
  std::size_t cache_deltas = 500'000;  // budget of the entity cache
  int max_expand = 3;
  int max_trigger_depth = 8;              // writes made by data.*.changed handlers, nested
  BudgetLimits read_limits;               // what one query or assembled read may spend (scripts' data.query)
  const Clock* clock = &Clock::system();  // wall time: when an equivocation was detected or resolved
};

// What one commit added.
struct Commit {
  std::string from;  // "" for local writes, else the peer the deltas came from
  std::vector<DeltaRecord> deltas;
  std::vector<RunRecord> runs;
  std::vector<EntityRef> entities;  // changed, each once
  int depth = 0;                    // handler nesting of the writes (local only)
  // How many more data.*.changed handler runs the write that began this cascade may set
  // off (shared along the cascade; null for writes no handler made). Opaque here.
  std::shared_ptr<std::atomic<int>> trigger_budget;
};
using CommitListener = std::function<void(const std::shared_ptr<const Commit>&)>;

// A local write: set properties of an entity, delete it, or negate one of its deltas.
struct WriteRequest {
  enum class Op { set, remove, negate };
  Op op = Op::set;
  std::string collection;
  std::string id;  // "" in a set: a new id is made
  nlohmann::json properties = nlohmann::json::object();
  std::string negate;                                // op negate: the delta id
  int depth = 0;                                     // nesting of data.*.changed handlers that made this write
  std::shared_ptr<std::atomic<int>> trigger_budget;  // see Commit
};

struct IngestReport {
  std::size_t received = 0;
  std::size_t stored = 0;
  std::size_t duplicates = 0;
  std::map<std::string, std::size_t> rejected;  // reason -> deltas
  std::vector<StreamHead> gaps;                 // streams that did not follow on: what this node holds
  std::vector<std::string> problems;            // one line per reason, for the sender's log
  nlohmann::json to_json() const;
};

struct DataCounters {
  std::atomic<std::uint64_t> local_deltas{0};
  std::atomic<std::uint64_t> ingested{0};
  std::atomic<std::uint64_t> duplicates{0};
  std::map<std::string, std::atomic<std::uint64_t>> rejected;  // fixed keys, made at construction
  // Queries and assembled reads their budget stopped, by what ran out: work, time, bytes,
  // or the client that asked went away (gone). Fixed keys, made at construction.
  std::map<std::string, std::atomic<std::uint64_t>> reads_stopped;
};

class DataService {
 public:
  using Post = std::function<void(std::function<void()>)>;
  // `post` runs the writer on the store pool.
  DataService(DeltaStore& store, Creators& creators, HybridClock& hlc, crypto::SigningKey key, Post post,
              DataServiceOptions options);
  // Loads stream heads and collection settings.
  Status open();

  // Queues a local write; `done` gets the resolved entity ({id, properties}), or for a
  // delete {id, deleted: true}, once it is durable. A write that changes nothing is
  // answered at once.
  void write(WriteRequest req, std::function<void(Result<nlohmann::json>)> done);
  // The same, waiting for the answer (scripts).
  Result<nlohmann::json> write_and_wait(WriteRequest req);

  // {id, properties}; lossless: every value with its provenance. not_found when the
  // entity does not exist. expand: follow references this deep (cycles cut; resolved
  // views only). `budget`, when given, bounds the answer's bytes, expansions included:
  // payload_too_large once past it, before the rest is built.
  Result<nlohmann::json> get(const std::string& collection, const std::string& id, bool lossless, int expand,
                             Budget* budget = nullptr);
  // {ids: [...], next?}: existing entities by id.
  Result<nlohmann::json> ids(const std::string& collection, const std::string& after, std::size_t limit);
  // Resolved entities that pass a JSON-Logic filter: {entities: [{id, properties}], total}.
  // The filter's evaluation, each entity looked at and the answer's bytes are charged to
  // `budget`; its error (query_too_costly, deadline_exceeded, payload_too_large, or the
  // client gone) ends the query at once.
  Result<nlohmann::json> query(const std::string& collection, const nlohmann::json& filter, std::size_t limit,
                               std::size_t offset, Budget& budget);
  // For Rhizome's POST /api/query: each match with its property deltas (budget as query).
  Result<nlohmann::json> query_lossless(const std::string& collection, const nlohmann::json& filter, std::size_t limit,
                                        Budget& budget);
  // [{name, entities, settings?}].
  Result<nlohmann::json> collections();

  Status set_collection(const std::string& name, const nlohmann::json& settings, const std::string& source);
  Status remove_collection(const std::string& name);
  CollectionSettings settings_for(const std::string& collection) const;

  // Deltas by arrival: {deltas, next}. A page ends early at the budget's answer bytes
  // (`next` says where to resume) unless `whole`, when going past it is payload_too_large.
  Result<nlohmann::json> deltas(std::int64_t after_position, std::size_t limit, Budget& budget, bool whole = false);
  Result<std::vector<DeltaRecord>> delta_rows(std::int64_t after_position, std::size_t limit);
  // Deltas of every stream beyond `since` ((creator, collection) -> seq; absent: 0), by
  // stream and seq, at most `limit`: {deltas, next?} where next is the vector to resume
  // from, as text ("creator/collection:seq,...").
  Result<nlohmann::json> deltas_since(const std::map<std::pair<std::string, std::string>, std::int64_t>& since,
                                      std::size_t limit, Budget& budget);
  Result<std::int64_t> count();

  // Replication: verifies and stores a peer's message. `shared` says whether a collection
  // may come from that peer.
  Result<IngestReport> ingest(const std::string& from, const WireBatch& batch,
                              const std::function<bool(const std::string& collection)>& shared);
  // What this node holds of every stream, as of the last commit (never waits for one).
  std::vector<StreamHead> heads() const;

  // Equivocations (docs/data-model.md, "Equivocation"): a creator's two different deltas
  // for one seq, both signed. Detected by ingest, which keeps the evidence in the store
  // and then refuses every delta of that stream (reason `equivocation`) until an
  // operator resolves it. `all`: also those resolved; else only the quarantined streams'.
  // A list of to_json(Equivocation), in the order they were detected.
  nlohmann::json equivocations(bool all) const;
  // Whether ingest refuses a stream's deltas for an equivocation.
  bool quarantined(const std::string& creator, const std::string& collection) const;
  // How many streams are quarantined (the fedmesh_data_equivocations gauge).
  std::size_t quarantined_streams() const;
  // Lifts a stream's quarantine: this node keeps the chain it holds, and accepts the
  // stream's deltas again (the evidence stays, marked resolved). The equivocations it
  // lifted, or not_found when the stream is not quarantined.
  Result<nlohmann::json> resolve_equivocation(const std::string& creator, const std::string& collection);
  // One page for a peer that holds `since` of a stream: whole runs from since+1, about
  // `limit` deltas and `max_bytes`. The message text and the last seq it carries (0: none).
  Result<std::pair<std::string, std::int64_t>> page(const std::string& creator, const std::string& collection,
                                                    std::int64_t since, std::size_t limit, std::size_t max_bytes);
  // A message carrying a commit's rows that a peer shares ("" when none); reads the store
  // for the audit paths of runs the commit holds only part of.
  Result<std::string> message_for(const Commit& commit, const std::function<bool(const std::string&)>& shared);

  // Scripts' data.put/get/query/delete (op "put", "get", "query", "delete") with their
  // arguments as JSON; `depth` is the handler nesting their writes carry. Blocks until
  // durable: call it from the scripts pool, never from the store pool.
  Result<nlohmann::json> script_call(const std::string& op, const nlohmann::json& args, int depth,
                                     std::shared_ptr<std::atomic<int>> trigger_budget = nullptr);

  int add_listener(CommitListener listener);
  void remove_listener(int id);

  const DataCounters& counters() const { return counters_; }
  // Counts (and logs, at most every ten seconds) a read that its budget stopped; other
  // errors are left alone.
  void note_stopped_read(const Error& error);
  const std::string& self() const { return options_.self; }

 private:
  struct Pending {
    WriteRequest req;
    std::function<void(Result<nlohmann::json>)> done;
  };
  // The entity cache's key of an entity.
  static std::string cache_key(const std::string& collection, const std::string& id) { return collection + '/' + id; }
  void drain();
  void commit_writes(std::vector<Pending>& batch);
  // The state of an entity, from the cache or the store. Call with write_mu_ held
  // (shared or unique).
  Result<std::shared_ptr<EntityState>> state_of(const std::string& collection, const std::string& id);
  // Before a commit touches many entities: those the store has never seen start empty in
  // the cache, found by one query per collection instead of one read each. Call with
  // write_mu_ held (unique).
  void preload(const std::vector<EntityRef>& refs);
  // The data_entities rows a commit must write: entities new to the store, and those
  // whose existence changed. `before`: key -> (held deltas, existed) ahead of the commit.
  // Call with cache_mu_ held.
  static std::vector<EntityExistence> existence_changes(
      const std::vector<EntityRef>& entities, const std::map<std::string, std::shared_ptr<EntityState>>& touched,
      const std::map<std::string, std::pair<bool, bool>>& before);
  nlohmann::json entity_json(const std::string& collection, const std::string& id, const EntityState& s) const;
  static nlohmann::json entity_json(const CollectionSettings& settings, const std::string& id, const EntityState& s);
  // Expands references `depth` deep; `count` is the entities one read may still expand,
  // `budget` the bytes its answer may still take.
  Result<nlohmann::json> expand(const nlohmann::json& properties, int depth, std::vector<std::string>& path,
                                std::size_t& count, Budget& budget);
  void notify(const std::shared_ptr<const Commit>& commit);
  void count_reject(const std::string& reason, std::size_t n);
  // Loads the equivocations kept in the store (open()).
  Status load_equivocations();
  // Whether evidence of this very equivocation is kept (quarantined or resolved).
  bool known_equivocation(const std::string& creator, const std::string& collection, std::int64_t seq,
                          const std::string& other) const;

  DeltaStore& store_;
  Creators& creators_;
  HybridClock& hlc_;
  crypto::SigningKey key_;
  Post post_;
  DataServiceOptions options_;
  DataCounters counters_;

  mutable std::shared_mutex write_mu_;  // unique: a commit in progress; shared: a cold load from the store
  std::map<std::pair<std::string, std::string>, std::int64_t> heads_;    // (creator, collection) -> seq; write_mu_
  std::map<std::pair<std::string, std::string>, std::string> head_ids_;  // the id at each head; write_mu_
  // Copies heads_ for heads(), taking head ids from the deltas a commit `added`. Call with
  // write_mu_ held, after a commit is stored.
  void publish_heads(const std::vector<DeltaRecord>& added = {});
  mutable std::mutex published_mu_;  // guards published_
  std::vector<StreamHead> published_;

  mutable std::mutex cache_mu_;  // guards cache_ and every EntityState in it
  EntityCache cache_;

  mutable std::mutex settings_mu_;  // guards settings_
  std::map<std::string, CollectionSettings> settings_;

  std::mutex queue_mu_;  // guards queue_ and draining_
  std::vector<Pending> queue_;
  bool draining_ = false;

  mutable std::mutex evidence_mu_;                             // guards equivocations_ and quarantined_
  std::vector<Equivocation> equivocations_;                    // every one kept, as detected
  std::set<std::pair<std::string, std::string>> quarantined_;  // (creator, collection)

  std::atomic<std::int64_t> last_stopped_log_{0};  // steady seconds of the last "read was stopped" log line

  std::mutex listeners_mu_;  // guards listeners_
  std::map<int, CommitListener> listeners_;
  int next_listener_ = 1;
};

}  // namespace fedmesh::data
