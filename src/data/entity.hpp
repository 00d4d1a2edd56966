// EntityState: everything the deltas say about one entity, kept so views are cheap:
// every value of every property in resolution order, the tombstones and the negations.
// apply() takes deltas in any order (a negation may arrive before what it negates) and
// the result depends only on the set of deltas applied, never on their arrival order.
// lossless() shows all of it; resolved() one value per property through a Resolver.
// Not thread-safe: the owner (DataService) guards each state.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/delta.hpp"

namespace fedmesh::data {

// How a property's values become one. Ties (equal keys or counts) are broken by the
// resolution order (time, then creator, then delta id), never by arrival.
enum class Resolver {
  last_writer_wins,
  first_writer_wins,
  min,
  max,
  sum,
  average,
  count,
  union_set,  // "union"
  majority,
};
std::string_view to_string(Resolver r);
std::optional<Resolver> resolver_from_string(std::string_view name);

// Creator names, interned: keys hold a stable pointer (thread-safe).
const std::string* intern_creator(std::string_view name);

// A delta's place in the resolution order: time, then creator, then id.
struct OrderKey {
  std::int64_t time = 0;
  const std::string* creator = nullptr;
  DeltaId id{};
  bool operator<(const OrderKey& o) const;
  bool operator==(const OrderKey& o) const { return id == o.id; }
};

struct DeltaIdHash {
  std::size_t operator()(const DeltaId& id) const;
};

class EntityState {
 public:
  struct Entry {
    OrderKey key;
    Value value;
  };

  // Applies one delta of this entity; false (nothing changes) when already applied.
  bool apply(const Delta& d);

  // True when some property has a value that is neither negated nor deleted.
  bool exists() const;
  // {property: value} through `resolver_for(property)`; properties without a visible
  // value are absent.
  nlohmann::json resolved(const std::function<Resolver(const std::string&)>& resolver_for) const;
  // One property, resolved; nullopt when it has no visible value.
  std::optional<nlohmann::json> resolved(const std::string& property, Resolver resolver) const;
  // Every value with its delta, creator, time and whether a negation or a tombstone hides it.
  nlohmann::json lossless() const;

  // Deltas applied (each counts once).
  std::size_t size() const { return seen_.size(); }
  const std::map<std::string, std::vector<Entry>>& properties() const { return properties_; }

 private:
  bool visible(const Entry& e, const OrderKey* tomb) const;
  std::optional<nlohmann::json> compute(const std::string& property, Resolver resolver) const;
  const OrderKey* latest_tombstone() const;

  std::map<std::string, std::vector<Entry>> properties_;  // each in resolution order
  std::vector<OrderKey> tombstones_;                      // in resolution order
  struct Negation {
    OrderKey key;
    DeltaId target;
  };
  std::vector<Negation> negations_;
  std::unordered_set<DeltaId, DeltaIdHash> negated_;  // targets of negations
  std::unordered_set<DeltaId, DeltaIdHash> seen_;
  // Resolved values since the last apply: property -> (resolver, value). Reads fill it,
  // which the owner's lock covers like any other access.
  mutable std::map<std::string, std::pair<Resolver, std::optional<nlohmann::json>>> memo_;
};

}  // namespace fedmesh::data
