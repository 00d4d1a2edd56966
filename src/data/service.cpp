#include "data/service.hpp"

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <set>

#include "core/json.hpp"
#include "data/json_logic.hpp"

namespace fedmesh::data {

using json = nlohmann::json;

namespace {

constexpr std::size_t kRunBytes = std::size_t{256} << 10;  // a run closes past this much canonical text
constexpr std::size_t kMaxQueued = 100'000;                // local writes waiting for the writer
constexpr std::size_t kMaxScan = 100'000;                  // entities a query looks at
constexpr std::size_t kMaxExpanded = 1000;                 // entities one read expands, at most
constexpr std::uint64_t kEntityCost = 64;                  // work units a query charges per entity it looks at

std::string new_entity_id() {
  unsigned char b[16];
  RAND_bytes(b, sizeof b);
  b[6] = (b[6] & 0x0f) | 0x40;  // a version-4 UUID
  b[8] = (b[8] & 0x3f) | 0x80;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[b[i] >> 4];
    out += kHex[b[i] & 15];
  }
  return out;
}

Status check_address(const std::string& collection, const std::string& id) {
  if (!valid_collection_name(collection))
    return make_error(ErrorCode::invalid_argument,
                      "'" + collection.substr(0, 64) + "' is not a collection name (1-64 of a-z, 0-9, '_', '-')");
  if (!id.empty() && !valid_entity_id(id))
    return make_error(ErrorCode::invalid_argument,
                      "'" + id.substr(0, 64) + "' is not an entity id (1-256 printable characters without / ? # % \\)");
  return {};
}

}  // namespace

void DataService::note_stopped_read(const Error& error) {
  const char* reason = nullptr;
  switch (error.code()) {
    case ErrorCode::query_too_costly: reason = "work"; break;
    case ErrorCode::deadline_exceeded: reason = "time"; break;
    case ErrorCode::payload_too_large: reason = "bytes"; break;
    case ErrorCode::unavailable:
      if (error.message().find("has gone") != std::string::npos) reason = "gone";
      break;
    default: break;
  }
  if (!reason) return;
  counters_.reads_stopped.at(reason).fetch_add(1, std::memory_order_relaxed);
  auto& last_log = last_stopped_log_;
  auto now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  auto before = last_log.load();
  if (now - before >= 10 && last_log.compare_exchange_strong(before, now))
    spdlog::warn("data: a read was stopped ({}): {}", reason, error.message());
}

json IngestReport::to_json() const {
  json gap_list = json::array();
  for (const auto& g : gaps)
    gap_list.push_back({{"creator", g.creator}, {"collection", g.collection}, {"have", g.seq}});
  return {{"received", received}, {"stored", stored}, {"duplicates", duplicates},
          {"rejected", rejected}, {"gaps", gap_list}, {"problems", problems}};
}

DataService::DataService(DeltaStore& store, Creators& creators, HybridClock& hlc, crypto::SigningKey key, Post post,
                         DataServiceOptions options)
    : store_(store),
      creators_(creators),
      hlc_(hlc),
      key_(std::move(key)),
      post_(std::move(post)),
      options_(std::move(options)),
      cache_(options_.cache_deltas) {
  for (const char* reason : {"bad_signature", "unknown_creator", "untrusted_creator", "denied_creator",
                             "jobs_client_creator", "gap", "not_shared", "future_time", "malformed", "equivocation"})
    counters_.rejected[reason];
  for (const char* reason : {"work", "time", "bytes", "gone"}) counters_.reads_stopped[reason];
}

Status DataService::open() {
  auto heads = store_.heads();
  if (!heads) return std::move(heads).error();
  std::map<std::string, CollectionSettings> settings;
  auto rows = store_.collection_settings();
  if (!rows) return std::move(rows).error();
  for (const auto& r : *rows) {
    auto j = parse_json(r.settings, 16);
    if (!j) continue;
    auto s = settings_from_json(*j);
    if (!s) {
      spdlog::warn("collection {}: stored settings ignored: {}", r.name, s.error().message());
      continue;
    }
    settings[r.name] = std::move(*s);
  }
  if (auto s = load_equivocations(); !s) return s;
  std::unique_lock lock(write_mu_);
  for (const auto& h : *heads) {
    heads_[{h.creator, h.collection}] = h.seq;
    head_ids_[{h.creator, h.collection}] = h.id;
  }
  publish_heads();
  std::lock_guard slock(settings_mu_);
  settings_ = std::move(settings);
  return {};
}

CollectionSettings DataService::settings_for(const std::string& collection) const {
  std::lock_guard lock(settings_mu_);
  auto it = settings_.find(collection);
  return it == settings_.end() ? CollectionSettings{} : it->second;
}

Status DataService::set_collection(const std::string& name, const json& settings, const std::string& source) {
  if (!valid_collection_name(name))
    return make_error(ErrorCode::invalid_argument, "'" + name.substr(0, 64) + "' is not a collection name");
  auto s = settings_from_json(settings);
  if (!s) return make_error(ErrorCode::invalid_argument, s.error().message());
  if (auto st = store_.put_collection({name, dump_json(to_json(*s)), source}); !st) return st;
  std::lock_guard lock(settings_mu_);
  settings_[name] = std::move(*s);
  return {};
}

Status DataService::remove_collection(const std::string& name) {
  if (auto st = store_.remove_collection(name); !st) return st;
  std::lock_guard lock(settings_mu_);
  settings_.erase(name);
  return {};
}

Result<std::shared_ptr<EntityState>> DataService::state_of(const std::string& collection, const std::string& id) {
  std::string key = cache_key(collection, id);
  {
    std::lock_guard lock(cache_mu_);
    if (auto s = cache_.find(key)) return s;
  }
  auto rows = store_.entity(collection, id);
  if (!rows) return std::move(rows).error();
  auto state = std::make_shared<EntityState>();
  for (const auto& r : *rows) {
    auto d = delta_from_record(r);
    if (!d)
      return make_error(ErrorCode::store_error, "stored delta " + r.id + " does not decode: " + d.error().message());
    state->apply(*d);
  }
  std::lock_guard lock(cache_mu_);
  if (auto s = cache_.find(key)) return s;  // another reader loaded it meanwhile
  cache_.put(key, state);
  return state;
}

void DataService::preload(const std::vector<EntityRef>& refs) {
  std::map<std::string, std::vector<std::string>> missing;  // collection -> ids not cached
  {
    std::lock_guard lock(cache_mu_);
    for (const auto& r : refs)
      if (!cache_.find(cache_key(r.collection, r.id))) missing[r.collection].push_back(r.id);
  }
  for (auto& [collection, ids] : missing) {
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    if (ids.size() < 8) continue;  // a few reads cost less than building the query
    auto known = store_.known_entities(collection, ids);
    if (!known) continue;  // state_of reads them one by one
    std::set<std::string> held(known->begin(), known->end());
    std::lock_guard lock(cache_mu_);
    for (const auto& id : ids)
      if (!held.contains(id)) cache_.put(cache_key(collection, id), std::make_shared<EntityState>());
  }
}

std::vector<EntityExistence> DataService::existence_changes(
    const std::vector<EntityRef>& entities, const std::map<std::string, std::shared_ptr<EntityState>>& touched,
    const std::map<std::string, std::pair<bool, bool>>& before) {
  std::vector<EntityExistence> out;
  for (const auto& ref : entities) {
    auto key = cache_key(ref.collection, ref.id);
    bool exists = touched.at(key)->exists();
    auto b = before.find(key);
    if (b != before.end() && b->second.first && b->second.second == exists) continue;  // its row says so already
    out.push_back({ref.collection, ref.id, exists});
  }
  return out;
}

json DataService::entity_json(const std::string& collection, const std::string& id, const EntityState& s) const {
  return entity_json(settings_for(collection), id, s);
}

json DataService::entity_json(const CollectionSettings& settings, const std::string& id, const EntityState& s) {
  return {{"id", id}, {"properties", s.resolved([&](const std::string& p) { return settings.resolver_for(p); })}};
}

// ---- local writes ----

void DataService::write(WriteRequest req, std::function<void(Result<json>)> done) {
  {
    std::lock_guard lock(queue_mu_);
    if (queue_.size() >= kMaxQueued) {
      done(make_error(ErrorCode::unavailable, "too many writes waiting; try again"));
      return;
    }
    queue_.push_back({std::move(req), std::move(done)});
    if (draining_) return;
    draining_ = true;
  }
  post_([this] { drain(); });
}

Result<json> DataService::write_and_wait(WriteRequest req) {
  auto promise = std::make_shared<std::promise<Result<json>>>();
  auto future = promise->get_future();
  write(std::move(req), [promise](Result<json> r) { promise->set_value(std::move(r)); });
  return future.get();
}

void DataService::drain() {
  for (;;) {
    std::vector<Pending> batch;
    {
      std::lock_guard lock(queue_mu_);
      if (queue_.empty()) {
        draining_ = false;
        return;
      }
      // One commit carries one handler depth: the writes that follow at another depth wait
      // for the next commit (an operator's write never inherits a deep handler's depth).
      std::size_t n = 1;
      while (n < queue_.size() && n < 512 && queue_[n].req.depth == queue_[0].req.depth) ++n;
      batch.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.begin() + n));
      queue_.erase(queue_.begin(), queue_.begin() + n);
    }
    commit_writes(batch);
  }
}

void DataService::commit_writes(std::vector<Pending>& batch) {
  std::vector<std::optional<Result<json>>> answers(batch.size());
  std::vector<std::size_t> writers;  // requests that made deltas
  auto commit = std::make_shared<Commit>();
  std::shared_ptr<Commit> done_commit;
  {
    std::unique_lock lock(write_mu_);
    std::map<std::string, std::shared_ptr<EntityState>> touched;  // this batch's states, pinned
    std::map<std::string, std::pair<bool, bool>> before;          // key -> (held deltas, existed)
    std::set<std::string> listed;                                 // keys in commit->entities
    auto load = [&](const std::string& collection, const std::string& id) -> Result<std::shared_ptr<EntityState>> {
      auto key = cache_key(collection, id);
      if (auto it = touched.find(key); it != touched.end()) return it->second;
      auto s = state_of(collection, id);
      if (s) {
        touched[key] = *s;
        std::lock_guard clock(cache_mu_);
        before[key] = {(*s)->size() > 0, (*s)->exists()};
      }
      return s;
    };
    auto saved_heads = heads_;
    std::vector<EntityRef> refs;
    for (auto& p : batch) {
      if (p.req.op == WriteRequest::Op::set && p.req.id.empty()) p.req.id = new_entity_id();
      refs.push_back({p.req.collection, p.req.id});
    }
    preload(refs);
    std::vector<Delta> made;
    std::vector<std::string> bodies;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      auto& req = batch[i].req;
      if (auto s = check_address(req.collection, req.id); !s) {
        answers[i] = std::move(s).error();
        continue;
      }
      if (req.op == WriteRequest::Op::set && req.id.empty()) req.id = new_entity_id();
      auto state = load(req.collection, req.id);
      if (!state) {
        answers[i] = std::move(state).error();
        continue;
      }
      EntityState& st = **state;
      auto settings = settings_for(req.collection);
      std::vector<Delta> deltas;
      Delta base;
      base.creator = options_.self;
      base.collection = req.collection;
      base.entity = req.id;
      if (req.op == WriteRequest::Op::set) {
        json current;
        {
          std::lock_guard clock(cache_mu_);
          current = st.resolved([&](const std::string& p) { return settings.resolver_for(p); });
        }
        auto typed = check_write(settings, req.properties, current, [&](const EntityRef& ref) {
          auto other = load(ref.collection, ref.id);
          std::lock_guard clock(cache_mu_);
          return other && (*other)->exists();
        });
        if (!typed) {
          answers[i] = std::move(typed).error();
          continue;
        }
        for (auto& [name, value] : *typed) {
          // Last-writer-wins: writing the value already shown is no change. Other resolvers
          // count every write (a vote, a sample, an increment).
          if (settings.resolver_for(name) == Resolver::last_writer_wins) {
            auto it = current.find(name);
            if (it != current.end() && *it == to_json(value)) continue;
          }
          Delta d = base;
          d.kind = DeltaKind::set;
          d.property = name;
          d.value = std::move(value);
          deltas.push_back(std::move(d));
        }
      } else if (req.op == WriteRequest::Op::remove) {
        bool exists;
        {
          std::lock_guard clock(cache_mu_);
          exists = st.exists();
        }
        if (!exists) {
          answers[i] = make_error(ErrorCode::not_found, "no entity " + req.collection + "/" + req.id);
          continue;
        }
        Delta d = base;
        d.kind = DeltaKind::remove;
        deltas.push_back(std::move(d));
      } else {
        auto target = id_from_hex(req.negate);
        if (!target) {
          answers[i] = make_error(ErrorCode::invalid_argument, "'" + req.negate.substr(0, 80) + "' is not a delta id");
          continue;
        }
        std::optional<std::string> property;
        {
          std::lock_guard clock(cache_mu_);
          for (const auto& [name, entries] : st.properties())
            for (const auto& e : entries)
              if (e.key.id == *target) property = name;
        }
        if (!property) {
          // A value or a delete can be negated (negating a delete undoes it); a negation is final.
          auto row = store_.find(req.collection, req.id, req.negate);
          if (row && *row) {
            auto d = delta_from_record(**row);
            if (d && d->kind == DeltaKind::negate) {
              answers[i] = make_error(ErrorCode::invalid_argument,
                                      "delta " + req.negate + " is a negation, which cannot be negated");
              continue;
            }
            property = (*row)->property;
          }
        }
        if (!property) {
          answers[i] = make_error(ErrorCode::not_found,
                                  "entity " + req.collection + "/" + req.id + " has no delta " + req.negate);
          continue;
        }
        Delta d = base;
        d.kind = DeltaKind::negate;
        d.property = *property;
        d.negates = *target;
        deltas.push_back(std::move(d));
      }
      if (deltas.empty()) {  // nothing changes: answer with the entity as it is
        std::lock_guard clock(cache_mu_);
        answers[i] = entity_json(req.collection, req.id, st);
        continue;
      }
      auto& head = heads_[{options_.self, req.collection}];
      std::int64_t time = hlc_.next();
      std::int64_t tx = head + 1;
      for (auto& d : deltas) {
        d.seq = ++head;
        d.time = time;
        d.tx = tx;
        d.tx_size = static_cast<std::int64_t>(deltas.size());
        bodies.push_back(seal(d));
        made.push_back(std::move(d));
      }
      {
        std::lock_guard clock(cache_mu_);
        for (std::size_t k = made.size() - deltas.size(); k < made.size(); ++k) st.apply(made[k]);
      }
      // Each entity once: two writes to one new entity in one commit make one entity row
      // (PostgreSQL refuses an upsert that touches a row twice).
      if (listed.insert(cache_key(req.collection, req.id)).second) commit->entities.push_back({req.collection, req.id});
      writers.push_back(i);
    }
    if (!made.empty()) {
      // One run per stream, closed at transaction boundaries past kMaxRun deltas or kRunBytes.
      std::map<std::string, std::vector<std::size_t>> by_collection;
      for (std::size_t k = 0; k < made.size(); ++k) by_collection[made[k].collection].push_back(k);
      for (const auto& [collection, idx] : by_collection) {
        std::size_t start = 0;
        while (start < idx.size()) {
          std::size_t end = start, bytes = 0;
          while (end < idx.size()) {
            const Delta& d = made[idx[end]];
            bool tx_start = d.seq == d.tx;
            if (end > start && tx_start &&
                (static_cast<std::int64_t>(end - start) + d.tx_size > kMaxRun || bytes >= kRunBytes))
              break;
            bytes += bodies[idx[end]].size();
            ++end;
          }
          std::vector<DeltaId> ids;
          for (std::size_t k = start; k < end; ++k) ids.push_back(made[idx[k]].id);
          Run run{options_.self, collection, made[idx[start]].seq, made[idx[end - 1]].seq, {}, {}};
          sign_run(run, ids, key_);
          commit->runs.push_back(record_of(run));
          start = end;
        }
      }
      for (std::size_t k = 0; k < made.size(); ++k) commit->deltas.push_back(record_of(made[k], std::move(bodies[k])));
      std::vector<EntityExistence> existence;
      {
        std::lock_guard clock(cache_mu_);
        existence = existence_changes(commit->entities, touched, before);
      }
      auto stored = store_.append(commit->deltas, commit->runs, existence);
      if (!stored) {
        heads_ = saved_heads;
        std::lock_guard clock(cache_mu_);
        for (const auto& ref : commit->entities) cache_.erase(cache_key(ref.collection, ref.id));
        for (auto i : writers) answers[i] = stored.error();
        spdlog::error("data: a write of {} delta(s) failed: {}", made.size(), stored.error().message());
      } else {
        publish_heads(commit->deltas);
        counters_.local_deltas += made.size();
        int depth = 0;
        for (auto i : writers) {
          depth = std::max(depth, batch[i].req.depth);
          if (!commit->trigger_budget) commit->trigger_budget = batch[i].req.trigger_budget;
        }
        commit->depth = depth;
        done_commit = commit;
        std::lock_guard clock(cache_mu_);
        for (auto i : writers) {
          const auto& req = batch[i].req;
          auto& st = *touched[cache_key(req.collection, req.id)];
          if (req.op == WriteRequest::Op::set) {
            answers[i] = entity_json(req.collection, req.id, st);
          } else {
            answers[i] = json{{"id", req.id}, {"deleted", !st.exists()}};
          }
        }
        for (const auto& [key, st] : touched) cache_.resized(key);
      }
    }
  }
  if (done_commit) notify(done_commit);
  for (std::size_t i = 0; i < batch.size(); ++i) batch[i].done(std::move(*answers[i]));
}

// ---- reads ----

Result<json> DataService::get(const std::string& collection, const std::string& id, bool lossless, int expand_depth,
                              Budget* budget) {
  if (auto s = check_address(collection, id); !s) return std::move(s).error();
  if (id.empty()) return make_error(ErrorCode::invalid_argument, "an entity id is required");
  std::shared_ptr<EntityState> state;
  {
    std::shared_lock lock(write_mu_);
    auto s = state_of(collection, id);
    if (!s) return std::move(s).error();
    state = std::move(*s);
  }
  json out;
  {
    std::lock_guard lock(cache_mu_);
    if (!state->exists() && !lossless) return make_error(ErrorCode::not_found, "no entity " + collection + "/" + id);
    if (lossless) {
      if (state->size() == 0) return make_error(ErrorCode::not_found, "no entity " + collection + "/" + id);
      out = state->lossless();
      out["id"] = id;
      out["collection"] = collection;
    } else {
      out = entity_json(collection, id, *state);
    }
  }
  if (budget) {
    if (auto s = budget->charge_answer(approx_json_size(out)); !s) return std::move(s).error();
  }
  if (expand_depth > 0 && !lossless) {
    std::vector<std::string> path{cache_key(collection, id)};
    std::size_t count = kMaxExpanded;
    BudgetLimits unlimited{.work = UINT64_MAX, .time = std::chrono::hours(24), .answer_bytes = SIZE_MAX};
    Budget none(unlimited);
    auto expanded =
        expand(out["properties"], std::min(expand_depth, options_.max_expand), path, count, budget ? *budget : none);
    if (!expanded) return std::move(expanded).error();
    out["properties"] = std::move(*expanded);
  }
  return out;
}

Result<json> DataService::expand(const json& properties, int depth, std::vector<std::string>& path, std::size_t& count,
                                 Budget& budget) {
  auto one = [&](const json& v) -> Result<json> {
    auto ref = value_from_json(v, "");
    if (!ref || ref->index() != 4) return v;
    const auto& r = std::get<EntityRef>(*ref);
    std::string key = cache_key(r.collection, r.id);
    if (std::find(path.begin(), path.end(), key) != path.end()) return v;  // a cycle: leave the reference
    if (count == 0) {                                                      // wide fan-out: the rest stay references
      json out = v;
      out["truncated"] = true;
      return out;
    }
    --count;
    // Each expanded copy is charged before it is built, so a fan-out of large entities
    // stops at the byte budget instead of assembling gigabytes.
    auto target = get(r.collection, r.id, false, 0, &budget);
    json out = v;
    if (!target) {
      if (target.error().code() != ErrorCode::not_found) return std::move(target).error();
      out["missing"] = true;
      return out;
    }
    path.push_back(key);
    if (depth > 1) {
      auto inner = expand((*target)["properties"], depth - 1, path, count, budget);
      if (!inner) return std::move(inner).error();
      out["properties"] = std::move(*inner);
    } else {
      out["properties"] = std::move((*target)["properties"]);
    }
    path.pop_back();
    return out;
  };
  json out = json::object();
  for (const auto& [name, value] : properties.items()) {
    if (value.is_array()) {
      json list = json::array();
      for (const auto& v : value) {
        auto e = one(v);
        if (!e) return std::move(e).error();
        list.push_back(std::move(*e));
      }
      out[name] = std::move(list);
    } else {
      auto e = one(value);
      if (!e) return std::move(e).error();
      out[name] = std::move(*e);
    }
  }
  return out;
}

Result<json> DataService::ids(const std::string& collection, const std::string& after, std::size_t limit) {
  if (auto s = check_address(collection, ""); !s) return std::move(s).error();
  auto rows = store_.entities(collection, after, limit + 1);
  if (!rows) return std::move(rows).error();
  json out = {{"ids", json::array()}};
  for (std::size_t i = 0; i < rows->size() && i < limit; ++i) out["ids"].push_back((*rows)[i]);
  if (limit > 0 && rows->size() > limit) out["next"] = (*rows)[limit - 1];
  return out;
}

Result<json> DataService::query(const std::string& collection, const json& filter, std::size_t limit,
                                std::size_t offset, Budget& budget) {
  if (auto s = check_address(collection, ""); !s) return std::move(s).error();
  if (auto s = check_logic(filter); !s) return std::move(s).error();
  json matches = json::array();
  std::size_t total = 0, scanned = 0;
  std::string after;
  auto settings = settings_for(collection);
  for (;;) {
    if (auto s = budget.check(); !s) return std::move(s).error();
    auto page = store_.entities(collection, after, 1000);
    if (!page) return std::move(page).error();
    for (const auto& id : *page) {
      if (++scanned > kMaxScan)
        return make_error(ErrorCode::invalid_argument, "a query looks at most at 100000 entities");
      if (auto s = budget.charge(kEntityCost); !s) return std::move(s).error();
      std::shared_ptr<EntityState> st;
      {
        std::shared_lock lock(write_mu_);
        auto s = state_of(collection, id);
        if (!s) return std::move(s).error();
        st = std::move(*s);
      }
      json entity;
      {
        std::lock_guard lock(cache_mu_);
        entity = entity_json(settings, id, *st);  // the settings read once per query
      }
      auto& props = entity["properties"];
      props["id"] = id;  // what a filter sees; taken out again below
      auto pass = matches_logic(filter, props, budget);
      props.erase("id");
      if (!pass) return std::move(pass).error();
      if (*pass) {
        if (total >= offset && matches.size() < limit) {
          if (auto s = budget.charge_answer(approx_json_size(entity)); !s) return std::move(s).error();
          matches.push_back(std::move(entity));
        }
        ++total;
      }
    }
    if (page->size() < 1000) break;
    after = page->back();
  }
  return json{{"entities", std::move(matches)}, {"total", total}};
}

Result<json> DataService::query_lossless(const std::string& collection, const json& filter, std::size_t limit,
                                         Budget& budget) {
  auto found = query(collection, filter, limit == 0 ? kMaxScan : limit, 0, budget);
  if (!found) return found;
  json entities = json::object();
  for (auto& e : (*found)["entities"]) {
    std::string id = e["id"];
    auto rows = store_.entity(collection, id);
    if (!rows) return std::move(rows).error();
    json props = json::object();
    for (const auto& r : *rows) {
      if (r.property.empty()) continue;
      auto d = delta_from_record(r);
      if (!d) continue;
      json j = to_json(*d);
      if (auto s = budget.charge_answer(approx_json_size(j)); !s) return std::move(s).error();
      props[r.property].push_back(std::move(j));
    }
    entities[id] = {{"id", id},
                    {"referencedAs", json::array({collection})},
                    {"propertyDeltas", std::move(props)},
                    {"properties", std::move(e["properties"])}};
  }
  std::size_t total = (*found)["total"];
  return json{{"entities", std::move(entities)}, {"totalFound", total}, {"limited", limit != 0 && total > limit}};
}

Result<json> DataService::collections() {
  auto rows = store_.collections();
  if (!rows) return std::move(rows).error();
  std::map<std::string, json> out;
  for (const auto& [name, n] : *rows) out[name] = {{"name", name}, {"entities", n}};
  {
    std::lock_guard lock(settings_mu_);
    for (const auto& [name, s] : settings_) {
      auto& item = out[name];
      if (!item.contains("name")) item = {{"name", name}, {"entities", 0}};
      item["settings"] = to_json(s);
    }
  }
  json list = json::array();
  for (auto& [name, item] : out) list.push_back(std::move(item));
  return list;
}

Result<std::vector<DeltaRecord>> DataService::delta_rows(std::int64_t after_position, std::size_t limit) {
  return store_.page(after_position, limit);
}

Result<json> DataService::deltas(std::int64_t after_position, std::size_t limit, Budget& budget, bool whole) {
  auto rows = store_.page(after_position, limit);
  if (!rows) return std::move(rows).error();
  json list = json::array();
  std::int64_t last = after_position;
  bool cut = false;
  for (const auto& r : *rows) {
    auto d = delta_from_record(r);
    if (!d) continue;
    json j = to_json(*d);
    j["position"] = r.position;
    if (auto s = budget.charge_answer(approx_json_size(j)); !s) {
      // A page may end early at the byte budget (its `next` says where to go on), but
      // never empty, and never when the caller needs the whole list.
      if (whole || list.empty()) return std::move(s).error();
      cut = true;
      break;
    }
    list.push_back(std::move(j));
    last = r.position;
  }
  json out = {{"deltas", std::move(list)}};
  if (cut || (rows->size() == limit && !rows->empty())) out["next"] = cut ? last : rows->back().position;
  return out;
}

Result<json> DataService::deltas_since(const std::map<std::pair<std::string, std::string>, std::int64_t>& since,
                                       std::size_t limit, Budget& budget) {
  json list = json::array();
  auto vector = since;
  bool more = false;
  for (const auto& h : heads()) {
    auto& from = vector[{h.creator, h.collection}];
    if (h.seq <= from) continue;
    if (list.size() >= limit) {
      more = true;
      break;
    }
    std::int64_t to = std::min<std::int64_t>(h.seq, from + static_cast<std::int64_t>(limit - list.size()));
    auto rows = store_.stream(h.creator, h.collection, from + 1, to);
    if (!rows) return std::move(rows).error();
    for (const auto& r : *rows) {
      auto d = delta_from_record(r);
      if (!d) continue;
      json j = to_json(*d);
      if (auto s = budget.charge_answer(approx_json_size(j)); !s) return std::move(s).error();
      list.push_back(std::move(j));
    }
    from = to;
    if (to < h.seq) more = true;
  }
  json out = {{"deltas", list}};
  if (more) {
    std::string next;
    for (const auto& [k, seq] : vector) {
      if (seq == 0) continue;
      if (!next.empty()) next += ',';
      next += k.first + "/" + k.second + ":" + std::to_string(seq);
    }
    out["next"] = next;
  }
  return out;
}

Result<std::int64_t> DataService::count() {
  return store_.count();
}

std::vector<StreamHead> DataService::heads() const {
  std::lock_guard lock(published_mu_);
  return published_;
}

void DataService::publish_heads(const std::vector<DeltaRecord>& added) {
  for (const auto& d : added)
    if (auto h = heads_.find({d.creator, d.collection}); h != heads_.end() && h->second == d.seq)
      head_ids_[h->first] = d.id;
  std::vector<StreamHead> out;
  out.reserve(heads_.size());
  for (const auto& [k, seq] : heads_) {
    auto id = head_ids_.find(k);
    out.push_back({k.first, k.second, seq, id == head_ids_.end() ? std::string() : id->second});
  }
  std::lock_guard lock(published_mu_);
  published_ = std::move(out);
}

Result<json> DataService::script_call(const std::string& op, const json& args, int depth,
                                      std::shared_ptr<std::atomic<int>> trigger_budget) {
  auto text = [&](const char* k) { return args.contains(k) && args[k].is_string() ? args[k].get<std::string>() : ""; };
  std::string collection = text("collection");
  if (op == "put" || op == "delete") {
    WriteRequest req;
    req.op = op == "put" ? WriteRequest::Op::set : WriteRequest::Op::remove;
    req.collection = collection;
    req.id = text("id");
    if (op == "put") req.properties = args.value("properties", json::object());
    req.depth = depth;
    req.trigger_budget = std::move(trigger_budget);
    return write_and_wait(std::move(req));
  }
  if (op == "get") return get(collection, text("id"), false, 0);
  if (op == "query") {
    std::size_t limit = 100;
    if (args.contains("limit") && args["limit"].is_number_integer())
      limit = static_cast<std::size_t>(std::clamp<long long>(args["limit"].get<long long>(), 0, 10'000));
    Budget budget(options_.read_limits, nullptr, "data.query");
    auto r = query(collection, args.value("filter", json()), limit, 0, budget);
    if (!r) return r;
    return (*r)["entities"];
  }
  return make_error(ErrorCode::invalid_argument, "no data operation '" + op + "'");
}

int DataService::add_listener(CommitListener listener) {
  std::lock_guard lock(listeners_mu_);
  listeners_[next_listener_] = std::move(listener);
  return next_listener_++;
}

void DataService::remove_listener(int id) {
  std::lock_guard lock(listeners_mu_);
  listeners_.erase(id);
}

void DataService::notify(const std::shared_ptr<const Commit>& commit) {
  std::vector<CommitListener> copy;
  {
    std::lock_guard lock(listeners_mu_);
    for (const auto& [id, l] : listeners_) copy.push_back(l);
  }
  for (const auto& l : copy) l(commit);
}

}  // namespace fedmesh::data
