// Equivocation: a creator that signed two different deltas for one seq of one stream
// (docs/data-model.md, "Equivocation"). The evidence a node keeps of it, and the check
// that the creator really signed the delta that differs, so a relay cannot frame an
// honest creator. Plain values and pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "crypto/sign.hpp"
#include "data/run.hpp"
#include "data/wire.hpp"
#include "store/delta_store.hpp"

namespace fedmesh::data {

struct Equivocation {
  std::string creator;
  std::string collection;
  std::int64_t seq = 0;
  std::string held;           // id (hex) of the delta this node holds at seq
  std::string other;          // id of the one that differs
  std::string from;           // the peer that sent it
  std::int64_t detected = 0;  // microseconds since the epoch
  std::int64_t resolved = 0;  // when an operator lifted the quarantine; 0 while it holds
  // {held: DELTA, held_run: RUN?, other: DELTA, run: RUN, proof: [HASH]}: both deltas,
  // and the signed runs (with the other's audit path) that make each one the creator's.
  nlohmann::json evidence = nlohmann::json::object();
};

// {creator, collection, seq, held, other, from, detected, resolved (null while it holds),
// evidence}; times as ISO-8601.
nlohmann::json to_json(const Equivocation& e);
EquivocationRecord record_of(const Equivocation& e);
// Evidence whose JSON no longer parses is kept as {}.
Equivocation equivocation_from_record(const EquivocationRecord& r);

// The run of `runs` by which `w`'s creator signed it at its seq, or nullptr when none
// proves it: the run covers the seq, its root (from the ids of `stream` when the run lies
// whole in it, else from w's audit path) is the run's, and its signature verifies under
// `key`. `stream` is the message's deltas of w's stream, seqs following each other; `runs`
// the message's runs of that stream.
const Run* signed_run_of(const WireDelta& w, const std::vector<const WireDelta*>& stream,
                         const std::vector<const Run*>& runs, const crypto::VerifyingKey& key);

}  // namespace fedmesh::data
