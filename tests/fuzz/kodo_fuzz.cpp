// Fuzz target: Kodo v1 bodies (docs/kodo-compat.md) as a registry with kodo_compat takes
// them. The bytes are parsed as kodo_routes.cpp parses a POST body, decoded alone by
// kodo::decode_node and kodo::decode_offer, then sent through a fresh Gateway's four route
// bodies in turn (/register, /connect, /update/node, /update/registry: one body can be a
// node and an offer, and /connect lets the updates through), after which the gateway's
// dump and its /flows index are read. The gateway is never started: nothing is forwarded.
#include "core/json.hpp"
#include "fuzz/catalog_fixture.hpp"
#include "fuzz/fuzz_input.hpp"
#include "net/io_pool.hpp"
#include "registry/kodo.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace fedmesh;
  namespace kodo = registry::kodo;
  if (size > fuzz::kMaxInput) return 0;
  auto body = parse_json(fuzz::as_text(data, size), 16);
  if (!body) return 0;
  if (auto node = kodo::decode_node(*body)) (void)kodo::node_name(node->url);
  if (auto offer = kodo::decode_offer(*body)) {
    for (const auto& n : offer->nodes) (void)kodo::node_name(n.url);
  }

  static auto* pool = new net::IoPool(1, 1);  // feeds would run here; never started
  auto& fixture = fuzz::catalog_fixture();
  auto catalog = fuzz::make_catalog(fixture);
  if (!catalog->load(true)) return 0;
  kodo::Gateway gateway(*catalog, fixture.store->meta(), *pool,
                        kodo::GatewayOptions{"http://registry.example.org:3367", "Fuzz Registry"});
  if (!gateway.load(true)) return 0;
  (void)gateway.register_node(*body);
  (void)gateway.connect(*body);
  (void)gateway.update_node(*body);
  (void)gateway.update_registry(*body);
  (void)dump_json(gateway.dump());
  (void)gateway.index()->query({"", "name", 0, 10});
  for (const auto& n : catalog->live_nodes()) (void)dump_json(kodo::node_json(n));
  return 0;
}
