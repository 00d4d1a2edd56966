// DeltaStore: shared data's append-only log of signed deltas, the signed runs that cover
// them, the certificates of their creators, which entities exist, and each collection's
// settings. Deltas are indexed by (creator, collection, seq) and by (collection, entity,
// property); not by id alone (random ids make a costly index: find one within its entity). Thread-safe; calls block
// (run them on the store pool).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace fedmesh {

struct DeltaRecord {
  std::string id;  // 64 hex digits
  std::string creator;
  std::string collection;
  std::int64_t seq = 0;
  std::int64_t time = 0;
  std::string entity;
  std::string property;       // "" for a tombstone
  std::string body;           // the canonical form (docs/data-model.md)
  std::int64_t position = 0;  // arrival order on this node; set by the store
};

struct RunRecord {
  std::string creator;
  std::string collection;
  std::int64_t first = 0;
  std::int64_t last = 0;
  std::string root;       // hex
  std::string signature;  // hex
};

// The highest seq held of one creator's deltas in one collection.
struct StreamHead {
  std::string creator;
  std::string collection;
  std::int64_t seq = 0;
  std::string id;  // the id (hex) of the delta at `seq`; "" when not known
};

// Evidence that a creator signed two different deltas for one seq of one stream
// (docs/data-model.md, "Equivocation").
struct EquivocationRecord {
  std::string creator;
  std::string collection;
  std::int64_t seq = 0;
  std::string held;           // id (hex) of the delta this node holds
  std::string other;          // id (hex) of the one that differs
  std::string from;           // the peer that sent it
  std::string evidence;       // JSON: both deltas, the run that signs the other, its audit path
  std::int64_t detected = 0;  // microseconds since the epoch
  std::int64_t resolved = 0;  // when an operator lifted the quarantine; 0 while it holds
};

struct EntityExistence {
  std::string collection;
  std::string entity;
  bool exists = false;
};

struct CreatorRecord {
  std::string name;
  std::string cert;  // PEM
  std::string fingerprint;
};

struct CollectionRecord {
  std::string name;
  std::string settings;  // JSON
  std::string source;    // "api" or "package:NAME"
};

class DeltaStore {
 public:
  virtual ~DeltaStore() = default;
  // Appends deltas (in order), the runs that cover them and the entities' new existence,
  // all in one transaction: a crash stores all of it or none. store_error (nothing
  // stored) when a (creator, collection, seq) is already held.
  virtual Status append(const std::vector<DeltaRecord>& deltas, const std::vector<RunRecord>& runs,
                        const std::vector<EntityExistence>& entities) = 0;
  // One entity's deltas, in arrival order.
  virtual Result<std::vector<DeltaRecord>> entity(std::string_view collection, std::string_view entity) = 0;
  // A stream's deltas with seq in [from, to], by seq.
  virtual Result<std::vector<DeltaRecord>> stream(std::string_view creator, std::string_view collection,
                                                  std::int64_t from, std::int64_t to) = 0;
  // Deltas after `after_position`, in arrival order, at most `limit`.
  virtual Result<std::vector<DeltaRecord>> page(std::int64_t after_position, std::size_t limit) = 0;
  // One delta of an entity by id. Ids are not indexed on their own (they are random, and
  // a unique (creator, collection, seq) already keeps each delta once): always look one
  // up within its entity.
  virtual Result<std::optional<DeltaRecord>> find(std::string_view collection, std::string_view entity,
                                                  std::string_view id) = 0;
  virtual Result<std::int64_t> count() = 0;
  // Every stream's highest seq, with the id of the delta there.
  virtual Result<std::vector<StreamHead>> heads() = 0;
  // The runs of a stream that overlap [from, to], by first.
  virtual Result<std::vector<RunRecord>> runs(std::string_view creator, std::string_view collection, std::int64_t from,
                                              std::int64_t to) = 0;
  // Entities of a collection that exist, by id (bytes); from `after`, at most `limit`.
  virtual Result<std::vector<std::string>> entities(std::string_view collection, std::string_view after,
                                                    std::size_t limit) = 0;
  // Which of `entities` of a collection hold deltas (existing or deleted); one query per
  // few hundred names, so a batch of new entities costs no read each.
  virtual Result<std::vector<std::string>> known_entities(std::string_view collection,
                                                          const std::vector<std::string>& entities) = 0;
  // Collections that hold deltas, with their entity counts (existing ones).
  virtual Result<std::vector<std::pair<std::string, std::int64_t>>> collections() = 0;

  virtual Status put_creator(const CreatorRecord& creator) = 0;
  virtual Result<std::vector<CreatorRecord>> creators() = 0;

  virtual Status put_collection(const CollectionRecord& collection) = 0;
  virtual Status remove_collection(std::string_view name) = 0;
  virtual Result<std::vector<CollectionRecord>> collection_settings() = 0;

  // Keeps evidence of an equivocation; one kept already (same creator, collection, seq
  // and other) stays as it is.
  virtual Status add_equivocation(const EquivocationRecord& e) = 0;
  // Marks a stream's unresolved equivocations resolved at `at` (microseconds).
  virtual Status resolve_equivocations(std::string_view creator, std::string_view collection, std::int64_t at) = 0;
  // Every equivocation kept, in the order they were detected.
  virtual Result<std::vector<EquivocationRecord>> equivocations() = 0;
};

}  // namespace fedmesh
