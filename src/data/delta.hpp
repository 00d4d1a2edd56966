// Delta: one immutable, signed fact of shared data. A creator (node name) numbers its
// deltas per collection without gaps (`seq`), stamps them with its hybrid logical clock
// (`time`, microseconds) and groups them into transactions (`tx`: the seq of the
// transaction's first delta, `tx_size`: how many). Three kinds: set a property of an
// entity, negate an earlier delta, delete an entity (a tombstone). On the wire and in
// docs/data-model.md a delta is a list of pointers; here it is held decoded, and
// canonical() rebuilds the exact bytes its id (SHA-256) and signature cover.
// Plain values; functions are pure and thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "data/value.hpp"

namespace fedmesh::data {

enum class DeltaKind { set, negate, remove };
std::string_view to_string(DeltaKind k);

using DeltaId = std::array<unsigned char, 32>;  // SHA-256 of the canonical form

struct Delta {
  std::string creator;
  std::string collection;
  std::int64_t seq = 0;
  std::int64_t time = 0;
  std::int64_t tx = 0;
  std::int64_t tx_size = 1;
  DeltaKind kind = DeltaKind::set;
  std::string entity;
  std::string property;  // set; negate (the negated delta's property, "" for a tombstone)
  Value value;           // set
  DeltaId negates{};     // negate
  DeltaId id{};          // filled by seal() or decode
};

// Transactions hold at most this many deltas; a delta carries at most this much.
constexpr std::int64_t kMaxTransaction = 256;
constexpr std::int64_t kMaxSafeInteger = 9'007'199'254'740'991;  // 2^53 - 1

// The canonical JSON of everything but the id (docs/data-model.md, "Canonical form").
std::string canonical(const Delta& d);
// Computes and stores d.id from the canonical form, which it returns.
std::string seal(Delta& d);

std::string to_hex(const DeltaId& id);
// Parses 64 lowercase hex digits.
Result<DeltaId> id_from_hex(std::string_view hex);

// {"id", "creator", "collection", "seq", "time", "tx", "tx_size", "pointers"}.
nlohmann::json to_json(const Delta& d);
// The wire text of to_json(d), built from canonical bytes already at hand.
std::string wire_text(const Delta& d, std::string_view canonical_form);
// Decodes a delta from its JSON, checks every field and that `id` matches the content;
// bad_json naming the field otherwise. Members other than these and `proof` are refused.
Result<Delta> delta_from_json(const nlohmann::json& j);

}  // namespace fedmesh::data
