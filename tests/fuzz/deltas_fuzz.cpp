// Fuzz target: shared-data deltas from peers (docs/data-model.md). The bytes are read as a
// replication message (POST /fed/v1/data/deltas) by data::decode_batch, and as JSON whose
// object (or each element of whose list) is one wire delta for data::delta_from_json. What
// decodes is encoded again (canonical form, stored row, wire JSON) as a node stores, reads
// back and serves it.
#include "core/json.hpp"
#include "data/wire.hpp"
#include "fuzz/fuzz_input.hpp"

namespace {

using namespace fedmesh;

constexpr std::size_t kMaxListed = 64;  // deltas decoded from a top-level list

// As a node stores a peer's delta, reads it back and serves it.
void reencode(const data::Delta& d) {
  auto canonical = data::canonical(d);
  (void)data::wire_text(d, canonical);
  (void)data::delta_from_record(data::record_of(d, canonical));
  (void)data::to_json(d);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > fuzz::kMaxInput) return 0;
  auto text = fuzz::as_text(data, size);
  if (auto batch = data::decode_batch(text)) {
    for (const auto& w : batch->deltas) reencode(w.delta);
    for (const auto& r : batch->runs) (void)data::record_of(r);
  }
  auto j = parse_json(text, 8);
  if (!j) return 0;
  if (j->is_object()) {
    if (auto d = data::delta_from_json(*j)) reencode(*d);
  } else if (j->is_array()) {
    std::size_t n = 0;
    for (const auto& item : *j) {
      if (++n > kMaxListed) break;
      if (auto d = data::delta_from_json(item)) reencode(*d);
    }
  }
  return 0;
}
