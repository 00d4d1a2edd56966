// DataService's side of replication: verifying and storing a peer's message, and the
// pages and messages this node sends (docs/data-model.md, "Replication").
#include <spdlog/spdlog.h>

#include <algorithm>

#include "data/service.hpp"

namespace fedmesh::data {

using json = nlohmann::json;

namespace {

using StreamKey = std::pair<std::string, std::string>;  // (creator, collection)

// What an operator reads when a quarantined stream refuses deltas.
std::string quarantine_note(const std::string& creator, const std::string& collection) {
  return "stream quarantined: " + creator + " signed two different deltas for one seq of '" + collection +
         "'; deltas of it are refused until an operator resolves it (fedmesh data resolve NODE " + creator + " " +
         collection + ", docs/operations.md)";
}

}  // namespace

void DataService::count_reject(const std::string& reason, std::size_t n) {
  if (auto it = counters_.rejected.find(reason); it != counters_.rejected.end()) it->second += n;
}

Result<IngestReport> DataService::ingest(const std::string& from, const WireBatch& batch,
                                         const std::function<bool(const std::string&)>& shared) {
  IngestReport rep;
  rep.received = batch.deltas.size();
  std::map<StreamKey, std::vector<const WireDelta*>> streams;
  for (const auto& wd : batch.deltas) streams[{wd.delta.creator, wd.delta.collection}].push_back(&wd);
  std::map<StreamKey, std::vector<const Run*>> runs_of;
  for (const auto& r : batch.runs) runs_of[{r.creator, r.collection}].push_back(&r);

  auto reject = [&](const StreamKey& k, const std::string& reason, std::size_t n, const std::string& why) {
    rep.rejected[reason] += n;
    count_reject(reason, n);
    rep.problems.push_back(reason + ": " + k.first + "/" + k.second + ": " + why);
  };

  auto commit = std::make_shared<Commit>();
  commit->from = from;
  std::shared_ptr<Commit> done_commit;
  std::unique_lock lock(write_mu_);
  auto saved_heads = heads_;
  std::vector<const Delta*> accepted;
  std::vector<RunRecord> new_runs;
  std::vector<Equivocation> detected;  // logged once the lock is released

  for (auto& [key, list] : streams) {
    const auto& [creator, collection] = key;
    if (!shared(collection)) {
      reject(key, "not_shared", list.size(), "this node does not share '" + collection + "' with " + from);
      continue;
    }
    if (quarantined(creator, collection)) {
      reject(key, "equivocation", list.size(), quarantine_note(creator, collection));
      continue;
    }
    bool ordered = true;
    for (std::size_t i = 1; i < list.size(); ++i)
      if (list[i]->delta.seq != list[i - 1]->delta.seq + 1) ordered = false;
    if (!ordered) {
      reject(key, "malformed", list.size(), "a stream's deltas must follow each other by seq");
      continue;
    }
    std::int64_t have = 0;
    if (auto h = heads_.find(key); h != heads_.end()) have = h->second;
    auto first_new = std::find_if(list.begin(), list.end(), [&](const WireDelta* w) { return w->delta.seq > have; });
    std::size_t dups = static_cast<std::size_t>(first_new - list.begin());
    if (dups > 0) {
      // A duplicate must be the very delta held: the same seq with another id, both signed
      // by the creator, is an equivocation. One its signature does not prove is refused,
      // so a relay cannot frame an honest creator.
      const std::int64_t front = list.front()->delta.seq;
      auto held = store_.stream(creator, collection, front, list[dups - 1]->delta.seq);
      if (!held) {
        heads_ = saved_heads;
        return std::move(held).error();
      }
      std::string refused, refused_why;
      for (const auto& row : *held) {
        const WireDelta* w = list[static_cast<std::size_t>(row.seq - front)];
        std::string other = to_hex(w->delta.id);
        if (row.id == other) continue;
        auto cert = batch.creators.find(creator);
        auto verdict = creators_.check(creator, cert == batch.creators.end() ? std::string() : cert->second);
        if (verdict.problem != CreatorProblem::none) {
          refused = std::string(to_string(verdict.problem));
          refused_why = verdict.why;
          break;
        }
        const Run* run = signed_run_of(*w, list, runs_of[key], *verdict.key);
        if (!run) {
          refused = "bad_signature";
          refused_why = "delta " + std::to_string(row.seq) + " differs from the one held (" + row.id.substr(0, 12) +
                        ") and no run of the message proves that " + creator + " signed it";
          break;
        }
        if (known_equivocation(creator, collection, row.seq, other)) continue;  // resolved by an operator already
        Equivocation e{creator, collection, row.seq, row.id, other, from, to_micros(options_.clock->now())};
        auto held_delta = delta_from_record(row);
        e.evidence["held"] = held_delta ? to_json(*held_delta) : json{{"id", row.id}, {"body", row.body}};
        if (auto held_runs = store_.runs(creator, collection, row.seq, row.seq); held_runs && !held_runs->empty())
          if (auto r = run_from_record(held_runs->front())) e.evidence["held_run"] = to_json(*r);
        e.evidence["other"] = to_json(w->delta);
        e.evidence["run"] = to_json(*run);
        json proof = json::array();
        for (const auto& h : w->proof) proof.push_back(to_hex(h));
        e.evidence["proof"] = std::move(proof);
        if (auto s = store_.add_equivocation(record_of(e)); !s) {
          heads_ = saved_heads;
          return std::move(s).error();
        }
        {
          std::lock_guard elock(evidence_mu_);
          equivocations_.push_back(e);
          quarantined_.insert(key);
        }
        detected.push_back(std::move(e));
        refused = "equivocation";
        refused_why = quarantine_note(creator, collection) + "; here at seq " + std::to_string(row.seq) + ", held " +
                      row.id + ", sent " + other;
        break;
      }
      if (!refused.empty()) {
        reject(key, refused, list.size(), refused_why);
        continue;
      }
    }
    rep.duplicates += dups;
    counters_.duplicates += dups;
    std::vector<const WireDelta*> fresh(first_new, list.end());
    if (fresh.empty()) continue;
    if (fresh.front()->delta.seq != have + 1) {
      rep.gaps.push_back({creator, collection, have});
      reject(key, "gap", fresh.size(),
             "starts at seq " + std::to_string(fresh.front()->delta.seq) + " but this node holds up to " +
                 std::to_string(have));
      continue;
    }
    auto cert = batch.creators.find(creator);
    auto verdict = creators_.check(creator, cert == batch.creators.end() ? std::string() : cert->second);
    if (verdict.problem != CreatorProblem::none) {
      reject(key, std::string(to_string(verdict.problem)), fresh.size(), verdict.why);
      continue;
    }
    std::int64_t last = fresh.back()->delta.seq;
    // Every fresh delta must lie in a run of the message that ends within it.
    std::string why;
    std::string reason = "malformed";
    std::vector<const Run*> covering;
    for (const Run* r : runs_of[key])
      if (r->last > have && r->first <= last) covering.push_back(r);
    std::sort(covering.begin(), covering.end(), [](const Run* a, const Run* b) { return a->first < b->first; });
    std::int64_t next = have + 1;
    for (const Run* r : covering) {
      if (r->first > next || (r->first < next && r != covering.front())) {
        why = "runs overlap or leave a hole at seq " + std::to_string(next);
        break;
      }
      if (r->last > last) {
        why = "run " + std::to_string(r->first) + ".." + std::to_string(r->last) + " ends beyond the message";
        break;
      }
      std::optional<Hash> root;
      if (r->first > have) {
        std::vector<DeltaId> ids;
        for (std::int64_t s = r->first; s <= r->last; ++s)
          ids.push_back(fresh[static_cast<std::size_t>(s - have - 1)]->delta.id);
        root = merkle_root(ids);
      } else {
        // The run's head is held already: each delta of its tail proves itself.
        for (std::int64_t s = have + 1; s <= r->last; ++s) {
          const WireDelta* w = fresh[static_cast<std::size_t>(s - have - 1)];
          auto mine = root_from_proof(w->delta.id, static_cast<std::size_t>(s - r->first),
                                      static_cast<std::size_t>(r->size()), w->proof);
          if (!mine || (root && *root != *mine)) {
            root.reset();
            why = "delta " + std::to_string(s) + " does not prove itself part of its run";
            break;
          }
          root = mine;
        }
        if (!why.empty()) {
          reason = "bad_signature";
          break;
        }
      }
      if (!root || *root != r->root || !verify_run(*r, *verdict.key)) {
        reason = "bad_signature";
        why = "run " + std::to_string(r->first) + ".." + std::to_string(r->last) + " of " + creator +
              " does not verify against its creator's key";
        break;
      }
      for (std::int64_t s = std::max(r->first, have + 1); s <= r->last; ++s) {
        const Delta& d = fresh[static_cast<std::size_t>(s - have - 1)]->delta;
        if (d.tx < r->first || d.tx + d.tx_size - 1 > r->last) {
          why = "delta " + std::to_string(s) + "'s transaction crosses its run";
          break;
        }
      }
      if (!why.empty()) break;
      next = r->last + 1;
    }
    if (why.empty() && next != last + 1) why = "deltas from seq " + std::to_string(next) + " lie in no run";
    if (!why.empty()) {
      reject(key, reason, fresh.size(), why);
      continue;
    }
    bool in_time = true;
    for (const auto* w : fresh)
      if (!hlc_.observe(w->delta.time)) in_time = false;
    if (!in_time) {
      reject(key, "future_time", fresh.size(), "a delta is stamped too far in the future");
      continue;
    }
    creators_.confirm(creator, verdict);  // its certificate signed what it carried
    for (const Run* r : covering) {
      if (r->first > have) new_runs.push_back(record_of(*r));
      commit->runs.push_back(record_of(*r));
    }
    for (const auto* w : fresh) accepted.push_back(&w->delta);
    heads_[key] = last;
  }

  if (!accepted.empty()) {
    std::vector<EntityRef> refs;
    refs.reserve(accepted.size());
    for (const Delta* d : accepted) refs.push_back({d->collection, d->entity});
    preload(refs);
    std::map<std::string, std::shared_ptr<EntityState>> touched;
    std::map<std::string, std::pair<bool, bool>> before;  // key -> (held deltas, existed)
    for (const Delta* d : accepted) {
      auto key = cache_key(d->collection, d->entity);
      if (touched.contains(key)) continue;
      auto st = state_of(d->collection, d->entity);
      if (!st) {
        heads_ = saved_heads;
        return std::move(st).error();
      }
      touched[key] = *st;
      {
        std::lock_guard clock(cache_mu_);
        before[key] = {(*st)->size() > 0, (*st)->exists()};
      }
      commit->entities.push_back({d->collection, d->entity});
    }
    std::vector<EntityExistence> existence;
    {
      std::lock_guard clock(cache_mu_);
      for (const Delta* d : accepted) touched[cache_key(d->collection, d->entity)]->apply(*d);
      existence = existence_changes(commit->entities, touched, before);
    }
    for (const Delta* d : accepted) commit->deltas.push_back(record_of(*d, canonical(*d)));
    auto stored = store_.append(commit->deltas, new_runs, existence);
    if (!stored) {
      heads_ = saved_heads;
      std::lock_guard clock(cache_mu_);
      for (const auto& [key, st] : touched) cache_.erase(key);
      return std::move(stored).error();
    }
    publish_heads(commit->deltas);
    {
      std::lock_guard clock(cache_mu_);
      for (const auto& [key, st] : touched) cache_.resized(key);
    }
    rep.stored = accepted.size();
    counters_.ingested += accepted.size();
    done_commit = commit;
  }
  lock.unlock();
  for (const auto& e : detected)
    spdlog::warn(
        "data: EQUIVOCATION: {} signed two different deltas for seq {} of '{}': this node holds {}, {} sent {}. "
        "The stream is quarantined: its deltas are refused until an operator resolves it (fedmesh data resolve "
        "NODE {} {}; docs/operations.md)",
        e.creator, e.seq, e.collection, e.held, e.from, e.other, e.creator, e.collection);
  if (done_commit) notify(done_commit);
  return rep;
}

Status DataService::load_equivocations() {
  auto rows = store_.equivocations();
  if (!rows) return std::move(rows).error();
  std::vector<Equivocation> list;
  std::set<StreamKey> quarantined;
  for (const auto& r : *rows) {
    list.push_back(equivocation_from_record(r));
    if (r.resolved == 0) quarantined.insert({r.creator, r.collection});
  }
  std::lock_guard lock(evidence_mu_);
  equivocations_ = std::move(list);
  quarantined_ = std::move(quarantined);
  return {};
}

json DataService::equivocations(bool all) const {
  json out = json::array();
  std::lock_guard lock(evidence_mu_);
  for (const auto& e : equivocations_)
    if (all || e.resolved == 0) out.push_back(to_json(e));
  return out;
}

bool DataService::quarantined(const std::string& creator, const std::string& collection) const {
  std::lock_guard lock(evidence_mu_);
  return quarantined_.contains({creator, collection});
}

std::size_t DataService::quarantined_streams() const {
  std::lock_guard lock(evidence_mu_);
  return quarantined_.size();
}

bool DataService::known_equivocation(const std::string& creator, const std::string& collection, std::int64_t seq,
                                     const std::string& other) const {
  std::lock_guard lock(evidence_mu_);
  return std::any_of(equivocations_.begin(), equivocations_.end(), [&](const Equivocation& e) {
    return e.creator == creator && e.collection == collection && e.seq == seq && e.other == other;
  });
}

Result<json> DataService::resolve_equivocation(const std::string& creator, const std::string& collection) {
  // Under the writer lock, so no ingest sees the stream half lifted.
  std::unique_lock lock(write_mu_);
  if (!quarantined(creator, collection))
    return make_error(ErrorCode::not_found, "the stream " + creator + "/" + collection + " is not quarantined");
  std::int64_t at = to_micros(options_.clock->now());
  if (auto s = store_.resolve_equivocations(creator, collection, at); !s) return std::move(s).error();
  json lifted = json::array();
  {
    std::lock_guard elock(evidence_mu_);
    for (auto& e : equivocations_) {
      if (e.creator != creator || e.collection != collection || e.resolved != 0) continue;
      e.resolved = at;
      lifted.push_back(to_json(e));
    }
    quarantined_.erase({creator, collection});
  }
  lock.unlock();
  spdlog::warn(
      "data: the quarantine of {}/{} was lifted by an operator: its deltas are accepted again (this node "
      "keeps the chain it holds)",
      creator, collection);
  return json{{"creator", creator}, {"collection", collection}, {"resolved", std::move(lifted)}};
}

Result<std::pair<std::string, std::int64_t>> DataService::page(const std::string& creator,
                                                               const std::string& collection, std::int64_t since,
                                                               std::size_t limit, std::size_t max_bytes) {
  auto runs = store_.runs(creator, collection, since + 1, since + static_cast<std::int64_t>(limit));
  if (!runs) return std::move(runs).error();
  if (runs->empty()) return std::pair<std::string, std::int64_t>{"", 0};
  std::int64_t to = runs->front().last;
  // A page is one message: at most kMaxMessageRuns runs, which the receiver enforces
  // (many small commits make many runs of few deltas).
  std::size_t taken = 1;
  while (taken < runs->size() && taken < kMaxMessageRuns &&
         (*runs)[taken].last - since <= static_cast<std::int64_t>(limit))
    to = (*runs)[taken++].last;
  runs->resize(taken);
  auto rows = store_.stream(creator, collection, since + 1, to);
  if (!rows) return std::move(rows).error();
  // Past max_bytes, stop at the end of the run that crossed it.
  std::size_t bytes = 0, keep = rows->size();
  for (std::size_t i = 0; i < rows->size(); ++i) {
    bytes += (*rows)[i].body.size() + 80;
    if (bytes > max_bytes) {
      auto r = std::find_if(runs->begin(), runs->end(), [&](const RunRecord& x) { return x.last >= (*rows)[i].seq; });
      to = r->last;
      runs->erase(r + 1, runs->end());
      keep = static_cast<std::size_t>(to - since);
      break;
    }
  }
  rows->resize(std::min(keep, rows->size()));
  if (rows->empty() || rows->back().seq != to)
    return make_error(ErrorCode::store_error,
                      "stream " + creator + "/" + collection + " has a hole before seq " + std::to_string(to));
  std::map<std::string, std::vector<Hash>> proofs;
  const RunRecord& head = runs->front();
  if (head.first <= since) {
    auto before = store_.stream(creator, collection, head.first, since);
    if (!before) return std::move(before).error();
    std::vector<DeltaId> ids;
    for (const auto& r : *before) ids.push_back(*id_from_hex(r.id));
    for (const auto& r : *rows) {
      if (r.seq > head.last) break;
      ids.push_back(*id_from_hex(r.id));
    }
    for (const auto& r : *rows) {
      if (r.seq > head.last) break;
      proofs[r.id] = merkle_proof(ids, static_cast<std::size_t>(r.seq - head.first));
    }
  }
  std::map<std::string, std::string> certs{{creator, creators_.cert_of(creator)}};
  return std::pair<std::string, std::int64_t>{encode_batch(certs, *runs, *rows, proofs), to};
}

Result<std::string> DataService::message_for(const Commit& commit,
                                             const std::function<bool(const std::string&)>& shared) {
  std::vector<DeltaRecord> rows;
  std::map<std::string, std::string> certs;
  for (const auto& d : commit.deltas) {
    if (!shared(d.collection)) continue;
    rows.push_back(d);
    if (!certs.contains(d.creator)) certs[d.creator] = creators_.cert_of(d.creator);
  }
  if (rows.empty()) return std::string();
  std::vector<RunRecord> runs;
  std::map<std::string, std::vector<Hash>> proofs;
  for (const auto& r : commit.runs) {
    if (!shared(r.collection)) continue;
    runs.push_back(r);
    // A run whose head this node held before: its tail travels with audit paths.
    auto in_commit = std::count_if(rows.begin(), rows.end(), [&](const DeltaRecord& d) {
      return d.creator == r.creator && d.collection == r.collection && d.seq >= r.first && d.seq <= r.last;
    });
    if (in_commit == r.last - r.first + 1) continue;
    auto all = store_.stream(r.creator, r.collection, r.first, r.last);
    if (!all) return std::move(all).error();
    std::vector<DeltaId> ids;
    for (const auto& x : *all) ids.push_back(*id_from_hex(x.id));
    for (const auto& x : *all)
      for (const auto& d : rows)
        if (d.id == x.id) proofs[d.id] = merkle_proof(ids, static_cast<std::size_t>(x.seq - r.first));
  }
  return encode_batch(certs, runs, rows, proofs);
}

}  // namespace fedmesh::data
