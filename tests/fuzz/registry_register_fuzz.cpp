// Fuzz target: what a node sends a registry about itself. The bytes are read as the body of
// POST /fed/v1/registry/register, as registry_routes.cpp's register_node() reads it (an https
// `url`, an `organization`, `flows` through registry::decode_flows), and a registration that
// decodes goes into a catalog (one entry, replaced by every input) whose query index and
// providers are then read; and as the body of POST /fed/v1/registry/find ({"skill": ...}).
#include "core/address.hpp"
#include "core/json.hpp"
#include "fuzz/catalog_fixture.hpp"
#include "fuzz/fuzz_input.hpp"

namespace {

using namespace fedmesh;
using nlohmann::json;

registry::Catalog& catalog() {
  static auto* c = [] {
    auto made = fuzz::make_catalog(fuzz::catalog_fixture());
    if (!made->load(true)) std::abort();
    return made.release();
  }();
  return *c;
}

void register_body(std::string_view text) {
  auto body = parse_json_object(text, 16);
  if (!body) return;
  // The route reads `url` with value(), which throws on a non-string; here a non-string is
  // refused like a bad URL so that the rest of the body is still exercised.
  auto url_it = body->find("url");
  std::string url = url_it != body->end() && url_it->is_string() ? url_it->get<std::string>() : "";
  auto org_it = body->find("organization");
  std::string organization = org_it != body->end() && org_it->is_string() ? org_it->get<std::string>() : "";
  auto parsed = parse_url(url);
  if (url.size() > 2048 || !parsed || parsed->scheme != "https" || organization.size() > 256) return;
  auto flows = registry::decode_flows(body->value("flows", json::array()));
  if (!flows) return;
  auto& c = catalog();
  if (!c.register_node("fuzz-node", url, organization, std::move(*flows))) return;
  (void)c.query({"", "", 0, 10}, {});
  (void)c.node("fuzz-node");
  (void)c.counts();
}

void find_body(std::string_view text) {
  auto body = parse_json_object(text, 4);
  if (!body) return;
  auto skill = string_member(*body, "skill", 127);
  if (skill) (void)catalog().providers(*skill);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > fuzz::kMaxInput) return 0;
  auto text = fuzz::as_text(data, size);
  register_body(text);
  find_body(text);
  return 0;
}
