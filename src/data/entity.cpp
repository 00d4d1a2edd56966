#include "data/entity.hpp"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <unordered_set>

namespace fedmesh::data {

using json = nlohmann::json;

std::string_view to_string(Resolver r) {
  switch (r) {
    case Resolver::last_writer_wins: return "last-writer-wins";
    case Resolver::first_writer_wins: return "first-writer-wins";
    case Resolver::min: return "min";
    case Resolver::max: return "max";
    case Resolver::sum: return "sum";
    case Resolver::average: return "average";
    case Resolver::count: return "count";
    case Resolver::union_set: return "union";
    case Resolver::majority: return "majority";
  }
  return "?";
}

std::optional<Resolver> resolver_from_string(std::string_view name) {
  if (name == "lww") return Resolver::last_writer_wins;  // the short names users write
  if (name == "fww") return Resolver::first_writer_wins;
  for (auto r : {Resolver::last_writer_wins, Resolver::first_writer_wins, Resolver::min, Resolver::max, Resolver::sum,
                 Resolver::average, Resolver::count, Resolver::union_set, Resolver::majority})
    if (to_string(r) == name) return r;
  return std::nullopt;
}

const std::string* intern_creator(std::string_view name) {
  static std::mutex mu;  // guards names
  static std::unordered_set<std::string> names;
  std::lock_guard lock(mu);
  return &*names.emplace(name).first;
}

bool OrderKey::operator<(const OrderKey& o) const {
  if (time != o.time) return time < o.time;
  if (creator != o.creator) {
    int c = creator->compare(*o.creator);
    if (c != 0) return c < 0;
  }
  return id < o.id;
}

std::size_t DeltaIdHash::operator()(const DeltaId& id) const {
  std::size_t h;
  std::memcpy(&h, id.data(), sizeof h);  // a SHA-256 is uniform already
  return h;
}

namespace {

template <class V, class K>
void insert_ordered(std::vector<V>& v, V item, K key_of) {
  // Deltas mostly arrive in order: append unless the last one sorts after.
  if (v.empty() || key_of(v.back()) < key_of(item)) {
    v.push_back(std::move(item));
    return;
  }
  auto at = std::upper_bound(v.begin(), v.end(), item, [&](const V& a, const V& b) { return key_of(a) < key_of(b); });
  v.insert(at, std::move(item));
}

json key_json(const OrderKey& k) {
  return {{"delta", to_hex(k.id)}, {"creator", *k.creator}, {"time", k.time}};
}

}  // namespace

bool EntityState::apply(const Delta& d) {
  if (!seen_.insert(d.id).second) return false;
  memo_.clear();
  OrderKey key{d.time, intern_creator(d.creator), d.id};
  switch (d.kind) {
    case DeltaKind::set:
      insert_ordered(properties_[d.property], Entry{key, d.value},
                     [](const Entry& e) -> const OrderKey& { return e.key; });
      break;
    case DeltaKind::remove:
      insert_ordered(tombstones_, key, [](const OrderKey& k) -> const OrderKey& { return k; });
      break;
    case DeltaKind::negate:
      insert_ordered(negations_, Negation{key, d.negates}, [](const Negation& n) -> const OrderKey& { return n.key; });
      negated_.insert(d.negates);
      break;
  }
  return true;
}

const OrderKey* EntityState::latest_tombstone() const {
  for (auto it = tombstones_.rbegin(); it != tombstones_.rend(); ++it)
    if (!negated_.contains(it->id)) return &*it;
  return nullptr;
}

bool EntityState::visible(const Entry& e, const OrderKey* tomb) const {
  if (tomb && !(*tomb < e.key)) return false;
  return negated_.empty() || !negated_.contains(e.key.id);
}

bool EntityState::exists() const {
  const OrderKey* tomb = latest_tombstone();
  for (const auto& [name, entries] : properties_)
    for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
      if (tomb && !(*tomb < it->key)) break;  // everything before is hidden too
      if (visible(*it, tomb)) return true;
    }
  return false;
}

std::optional<json> EntityState::resolved(const std::string& property, Resolver resolver) const {
  // Resolvers that look at every value (sum, majority...) run once per change, not per read.
  if (auto m = memo_.find(property); m != memo_.end() && m->second.first == resolver) return m->second.second;
  auto v = compute(property, resolver);
  memo_[property] = {resolver, v};
  return v;
}

std::optional<json> EntityState::compute(const std::string& property, Resolver resolver) const {
  auto p = properties_.find(property);
  if (p == properties_.end()) return std::nullopt;
  const auto& entries = p->second;
  const OrderKey* tomb = latest_tombstone();
  // Entries after the tombstone, newest first, are the only candidates.
  auto begin = entries.begin();
  if (tomb)
    begin = std::upper_bound(entries.begin(), entries.end(), *tomb,
                             [](const OrderKey& k, const Entry& e) { return k < e.key; });
  auto shown = [&](const Entry& e) { return negated_.empty() || !negated_.contains(e.key.id); };
  switch (resolver) {
    case Resolver::last_writer_wins:
      for (auto it = entries.end(); it != begin;) {
        --it;
        if (shown(*it)) return to_json(it->value);
      }
      return std::nullopt;
    case Resolver::first_writer_wins:
      for (auto it = begin; it != entries.end(); ++it)
        if (shown(*it)) return to_json(it->value);
      return std::nullopt;
    default: break;
  }
  std::vector<const Entry*> live;
  for (auto it = begin; it != entries.end(); ++it)
    if (shown(*it)) live.push_back(&*it);
  if (live.empty()) return std::nullopt;
  switch (resolver) {
    case Resolver::min:
    case Resolver::max: {
      const Entry* best = live.front();
      for (const Entry* e : live) {
        int c = compare(e->value, best->value);
        if (resolver == Resolver::min ? c < 0 : c > 0) best = e;
      }
      return to_json(best->value);
    }
    case Resolver::sum:
    case Resolver::average: {
      double total = 0;
      std::size_t n = 0;
      for (const Entry* e : live)
        if (e->value.index() == 2) {
          total += std::get<double>(e->value);
          ++n;
        }
      if (resolver == Resolver::sum) return to_json(Value(total));
      if (n == 0) return json(nullptr);
      return to_json(Value(total / static_cast<double>(n)));
    }
    case Resolver::count: return json(live.size());
    case Resolver::union_set: {
      std::vector<const Value*> values;
      values.reserve(live.size());
      for (const Entry* e : live) values.push_back(&e->value);
      std::sort(values.begin(), values.end(), [](const Value* a, const Value* b) { return compare(*a, *b) < 0; });
      json out = json::array();
      for (std::size_t i = 0; i < values.size(); ++i)
        if (i == 0 || compare(*values[i - 1], *values[i]) != 0) out.push_back(to_json(*values[i]));
      return out;
    }
    case Resolver::majority: {
      // Count each distinct value (sorted, so equal values are neighbours); the most
      // votes win, and among equals the value voted for latest (live is in order).
      std::vector<std::size_t> order(live.size());
      for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        int c = compare(live[a]->value, live[b]->value);
        return c != 0 ? c < 0 : a < b;
      });
      std::pair<std::size_t, std::size_t> best{0, 0};  // (votes, latest index)
      const Value* winner = nullptr;
      for (std::size_t i = 0; i < order.size();) {
        std::size_t j = i;
        while (j < order.size() && compare(live[order[i]]->value, live[order[j]]->value) == 0) ++j;
        std::pair<std::size_t, std::size_t> votes{j - i, order[j - 1]};
        if (!winner || best < votes) {
          best = votes;
          winner = &live[order[i]]->value;
        }
        i = j;
      }
      return to_json(*winner);
    }
    default: return std::nullopt;
  }
}

json EntityState::resolved(const std::function<Resolver(const std::string&)>& resolver_for) const {
  json out = json::object();
  for (const auto& [name, entries] : properties_) {
    if (auto v = resolved(name, resolver_for(name))) out[name] = std::move(*v);
  }
  return out;
}

json EntityState::lossless() const {
  const OrderKey* tomb = latest_tombstone();
  json props = json::object();
  for (const auto& [name, entries] : properties_) {
    json list = json::array();
    for (const auto& e : entries) {
      json item = key_json(e.key);
      item["value"] = to_json(e.value);
      if (negated_.contains(e.key.id)) item["negated"] = true;
      if (tomb && !(*tomb < e.key)) item["deleted"] = true;
      list.push_back(std::move(item));
    }
    props[name] = std::move(list);
  }
  json deletes = json::array();
  for (const auto& k : tombstones_) {
    json item = key_json(k);
    if (negated_.contains(k.id)) item["negated"] = true;
    deletes.push_back(std::move(item));
  }
  json negations = json::array();
  for (const auto& n : negations_) {
    json item = key_json(n.key);
    item["negates"] = to_hex(n.target);
    negations.push_back(std::move(item));
  }
  return {{"exists", exists()}, {"properties", props}, {"deletes", deletes}, {"negations", negations}};
}

}  // namespace fedmesh::data
