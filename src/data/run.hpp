// Signed runs: a creator signs a contiguous run of its deltas in one collection (seq
// `first` to `last`) at once, by signing the Merkle root (RFC 9162 tree hash) of their
// ids. One signature covers up to kMaxRun deltas, yet any single delta stays verifiable
// alone with its audit path (`proof`). docs/data-model.md gives the exact bytes and the
// measurements behind the choice. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "crypto/sign.hpp"
#include "data/delta.hpp"

namespace fedmesh::data {

constexpr std::int64_t kMaxRun = 1024;

using Hash = DeltaId;

struct Run {
  std::string creator;
  std::string collection;
  std::int64_t first = 0;
  std::int64_t last = 0;
  Hash root{};
  std::string signature;  // 64 raw bytes
  std::int64_t size() const { return last - first + 1; }
  bool covers(std::int64_t seq) const { return seq >= first && seq <= last; }
};

// The Merkle tree hash of `ids` (in seq order); `ids` is not empty.
Hash merkle_root(std::span<const DeltaId> ids);
// The audit path of leaf `index`.
std::vector<Hash> merkle_proof(std::span<const DeltaId> ids, std::size_t index);
// The root that leaf `id` at `index` of a `size`-leaf tree implies with `proof`, or
// nullopt when the proof has the wrong length.
std::optional<Hash> root_from_proof(const DeltaId& id, std::size_t index, std::size_t size,
                                    std::span<const Hash> proof);

// The bytes a creator signs for a run.
std::string run_message(const Run& run);
// Fills run.root from `ids` and signs it.
void sign_run(Run& run, std::span<const DeltaId> ids, const crypto::SigningKey& key);
bool verify_run(const Run& run, const crypto::VerifyingKey& key);

nlohmann::json to_json(const Run& run);
Result<Run> run_from_json(const nlohmann::json& j);

}  // namespace fedmesh::data
