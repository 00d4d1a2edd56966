#include "data/equivocation.hpp"

#include "core/json.hpp"
#include "core/time.hpp"

namespace fedmesh::data {

using json = nlohmann::json;

namespace {

std::string iso_micros(std::int64_t micros) {
  return iso8601(SystemTime(std::chrono::microseconds(micros)));
}

}  // namespace

json to_json(const Equivocation& e) {
  return {{"creator", e.creator},
          {"collection", e.collection},
          {"seq", e.seq},
          {"held", e.held},
          {"other", e.other},
          {"from", e.from},
          {"detected", iso_micros(e.detected)},
          {"resolved", e.resolved == 0 ? json() : json(iso_micros(e.resolved))},
          {"evidence", e.evidence}};
}

EquivocationRecord record_of(const Equivocation& e) {
  return {e.creator, e.collection, e.seq, e.held, e.other, e.from, dump_json(e.evidence), e.detected, e.resolved};
}

Equivocation equivocation_from_record(const EquivocationRecord& r) {
  Equivocation e{r.creator, r.collection, r.seq, r.held, r.other, r.from, r.detected, r.resolved};
  auto evidence = parse_json(r.evidence, 16);
  e.evidence = evidence && evidence->is_object() ? std::move(*evidence) : json::object();
  return e;
}

const Run* signed_run_of(const WireDelta& w, const std::vector<const WireDelta*>& stream,
                         const std::vector<const Run*>& runs, const crypto::VerifyingKey& key) {
  if (stream.empty()) return nullptr;
  const std::int64_t seq = w.delta.seq;
  const std::int64_t front = stream.front()->delta.seq;
  const std::int64_t back = stream.back()->delta.seq;
  for (const Run* r : runs) {
    if (!r->covers(seq)) continue;
    std::optional<Hash> root;
    if (r->first >= front && r->last <= back) {
      std::vector<DeltaId> ids;
      for (std::int64_t s = r->first; s <= r->last; ++s)
        ids.push_back(stream[static_cast<std::size_t>(s - front)]->delta.id);
      root = merkle_root(ids);
    } else if (!w.proof.empty()) {
      root = root_from_proof(w.delta.id, static_cast<std::size_t>(seq - r->first), static_cast<std::size_t>(r->size()),
                             w.proof);
    }
    if (root && *root == r->root && verify_run(*r, key)) return r;
  }
  return nullptr;
}

}  // namespace fedmesh::data
