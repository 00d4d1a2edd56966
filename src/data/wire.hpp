// The replication message between peers (docs/data-model.md, "Replication"):
//   {"creators": {NAME: CERT_PEM}, "runs": [RUN...], "deltas": [DELTA...]}
// Deltas come in seq order per stream; a delta whose run is not whole in the message
// carries its audit path as "proof". Pure functions; thread-safe.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "data/delta.hpp"
#include "data/run.hpp"
#include "store/delta_store.hpp"

namespace fedmesh::data {

constexpr std::size_t kMaxMessageDeltas = 8192;
constexpr std::size_t kMaxMessageRuns = 1024;
constexpr std::size_t kMaxMessageCreators = 256;

struct WireDelta {
  Delta delta;
  std::vector<Hash> proof;
};

struct WireBatch {
  std::map<std::string, std::string> creators;
  std::vector<Run> runs;
  std::vector<WireDelta> deltas;
};

// Decodes and checks the shape of every part; bad_json (or payload_too_large) naming
// the part otherwise. Signatures are checked later, by the ingest.
Result<WireBatch> decode_batch(std::string_view body);

// Builds a message from stored rows. `proofs` maps a delta id (hex) to its audit path
// for deltas whose run is not whole in the message.
std::string encode_batch(const std::map<std::string, std::string>& creators, const std::vector<RunRecord>& runs,
                         const std::vector<DeltaRecord>& deltas,
                         const std::map<std::string, std::vector<Hash>>& proofs = {});

// A stored row back into a delta (checks that the id matches the body).
Result<Delta> delta_from_record(const DeltaRecord& r);
// A delta's row, with its canonical form.
DeltaRecord record_of(const Delta& d, std::string canonical_form);
RunRecord record_of(const Run& r);
Result<Run> run_from_record(const RunRecord& r);

}  // namespace fedmesh::data
