#include "data/run.hpp"

#include <openssl/sha.h>

#include <bit>

namespace fedmesh::data {

namespace {

Hash leaf_hash(const DeltaId& id) {
  unsigned char buf[33];
  buf[0] = 0x00;
  std::copy(id.begin(), id.end(), buf + 1);
  Hash h;
  SHA256(buf, sizeof buf, h.data());
  return h;
}

Hash node_hash(const Hash& left, const Hash& right) {
  unsigned char buf[65];
  buf[0] = 0x01;
  std::copy(left.begin(), left.end(), buf + 1);
  std::copy(right.begin(), right.end(), buf + 33);
  Hash h;
  SHA256(buf, sizeof buf, h.data());
  return h;
}

// The largest power of two below n (n >= 2): RFC 9162's split point.
std::size_t split(std::size_t n) {
  return std::bit_floor(n - 1);
}

Hash subtree(std::span<const DeltaId> ids) {
  if (ids.size() == 1) return leaf_hash(ids[0]);
  std::size_t k = split(ids.size());
  return node_hash(subtree(ids.subspan(0, k)), subtree(ids.subspan(k)));
}

void path(std::span<const DeltaId> ids, std::size_t index, std::vector<Hash>& out) {
  if (ids.size() == 1) return;
  std::size_t k = split(ids.size());
  if (index < k) {
    path(ids.subspan(0, k), index, out);
    out.push_back(subtree(ids.subspan(k)));
  } else {
    path(ids.subspan(k), index - k, out);
    out.push_back(subtree(ids.subspan(0, k)));
  }
}

Error bad(const std::string& what) {
  return make_error(ErrorCode::bad_json, "run: " + what);
}

}  // namespace

Hash merkle_root(std::span<const DeltaId> ids) {
  return subtree(ids);
}

std::vector<Hash> merkle_proof(std::span<const DeltaId> ids, std::size_t index) {
  std::vector<Hash> out;
  path(ids, index, out);
  return out;
}

std::optional<Hash> root_from_proof(const DeltaId& id, std::size_t index, std::size_t size,
                                    std::span<const Hash> proof) {
  // RFC 9162, 2.1.3.2: walk up from the leaf, taking each sibling from the proof.
  if (index >= size) return std::nullopt;
  std::size_t fn = index, sn = size - 1;
  Hash r = leaf_hash(id);
  for (const Hash& p : proof) {
    if (sn == 0) return std::nullopt;
    if ((fn & 1) == 1 || fn == sn) {
      r = node_hash(p, r);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = node_hash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return std::nullopt;
  return r;
}

std::string run_message(const Run& run) {
  std::string out = "fedmesh signed run v1\n";
  out += R"({"collection":)";
  append_canonical_string(out, run.collection);
  out += R"(,"creator":)";
  append_canonical_string(out, run.creator);
  out += R"(,"first":)" + std::to_string(run.first);
  out += R"(,"last":)" + std::to_string(run.last);
  out += R"(,"root":")" + to_hex(run.root) + "\"}";
  return out;
}

void sign_run(Run& run, std::span<const DeltaId> ids, const crypto::SigningKey& key) {
  run.root = merkle_root(ids);
  run.signature = key.sign(run_message(run));
}

bool verify_run(const Run& run, const crypto::VerifyingKey& key) {
  return key.verify(run_message(run), run.signature);
}

nlohmann::json to_json(const Run& run) {
  return {{"creator", run.creator}, {"collection", run.collection}, {"first", run.first},
          {"last", run.last},       {"root", to_hex(run.root)},     {"signature", crypto::to_hex(run.signature)}};
}

Result<Run> run_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return bad("a run must be an object");
  Run r;
  auto str = [&](const char* k) -> const nlohmann::json* {
    auto it = j.find(k);
    return it != j.end() && it->is_string() ? &*it : nullptr;
  };
  auto num = [&](const char* k, std::int64_t& out) {
    auto it = j.find(k);
    if (it == j.end() || !it->is_number_integer()) return false;
    out = it->get<std::int64_t>();
    return out >= 1 && out <= kMaxSafeInteger;
  };
  if (!str("creator") || !str("collection") || !str("root") || !str("signature"))
    return bad("needs 'creator', 'collection', 'root' and 'signature' (strings)");
  r.creator = (*str("creator")).get<std::string>();
  r.collection = (*str("collection")).get<std::string>();
  if (!valid_collection_name(r.collection)) return bad("'collection' is not a collection name");
  if (!num("first", r.first) || !num("last", r.last)) return bad("'first' and 'last' must be positive integers");
  if (r.last < r.first || r.size() > kMaxRun) return bad("a run spans 1 to 1024 deltas");
  auto root = id_from_hex((*str("root")).get<std::string>());
  if (!root) return bad("'root' is not 64 hex digits");
  r.root = *root;
  auto sig = crypto::from_hex((*str("signature")).get<std::string>());
  if (!sig || sig->size() != crypto::kEd25519SignatureBytes) return bad("'signature' is not 128 hex digits");
  r.signature = std::move(*sig);
  return r;
}

}  // namespace fedmesh::data
