// Fuzz target: what one registry of a mesh sends another (POST /fed/v1/registry/sync and
// /digest, and a digest's answer), read as registry::Mesh's on_sync() and on_digest() read
// it: a `changes` list decoded whole by registry::decode_change, then applied to a fresh
// catalog (which holds two entries of its own first); a `digest` compared with that catalog
// both ways, and what it would send back encoded; a `want` list (a digest's answer) read.
// The catalog's clock is fixed, so a version's distance into the future is the same on
// every run.
#include "core/json.hpp"
#include "fuzz/catalog_fixture.hpp"
#include "fuzz/fuzz_input.hpp"
#include "registry/mesh_codec.hpp"

namespace {

using namespace fedmesh;
using nlohmann::json;

constexpr std::size_t kMaxChanges = 4 * 256;  // mesh.cpp: 4 * kBatch
constexpr std::size_t kMaxDigest = 1'000'000;

// Two entries of the catalog's own, as registrations make them.
void seed(registry::Catalog& c) {
  (void)c.register_node("n1", "https://n1.example.org:4023", "Acme Paint",
                        {{"palette/color_blend", "", "Blends two colours", "ada", {"color"}, "1.0.0"}});
  (void)c.register_node("n2", "https://n2.example.org:4023", "Blue Pigments", {});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > fuzz::kMaxInput) return 0;
  auto body = parse_json_object(fuzz::as_text(data, size), 16);
  if (!body) return 0;
  auto& fixture = fuzz::catalog_fixture();
  auto catalog = fuzz::make_catalog(fixture);
  if (!catalog->load(true)) return 0;
  seed(*catalog);
  auto now = fixture.clock.now();
  if (auto changes = body->find("changes");
      changes != body->end() && changes->is_array() && changes->size() <= kMaxChanges) {
    std::vector<registry::CatalogNode> decoded;
    for (const auto& change : *changes) {
      auto c = registry::decode_change(change, now);
      if (!c) break;
      decoded.push_back(std::move(*c));
    }
    if (decoded.size() == changes->size()) {  // validated whole, as on_sync does, then applied
      for (const auto& c : decoded) {
        if (!catalog->apply(c, "peer-registry")) break;
      }
    }
  }
  if (auto digest = body->find("digest");
      digest != body->end() && digest->is_object() && digest->size() <= kMaxDigest) {
    json changes = json::array();
    for (const auto& n : catalog->newer_than(*digest)) changes.push_back(registry::encode_change(n));
    (void)dump_json(json{{"changes", changes}, {"want", catalog->wanted_from(*digest)}});
  }
  // A digest's answer also says what the peer wants from us.
  std::vector<std::string> want;
  for (const auto& w : body->value("want", json::array()))
    if (w.is_string()) want.push_back(w.get<std::string>());
  for (const auto& n : catalog->entries(want)) (void)registry::encode_change(n);
  (void)dump_json(catalog->digest());
  return 0;
}
