// Fuzz target: the registry's `q` query language and `by` sort lists (docs/registry.md).
// The bytes are read two ways: as a `q` (and as a `by`) on their own, parsed by
// registry::Filter::parse and registry::parse_sort and run on a small flow index; and as
// the query string of GET /api/v1/registry/flows, read as api::query_request() reads it
// (q, by, p and pp, percent-decoded; p and pp strict integers), then run with the live
// status lookup a catalog passes. query_request() lives in fedmesh_api, which needs a
// whole node, so its few lines are mirrored below.
#include "core/numbers.hpp"
#include "fuzz/fuzz_input.hpp"
#include "net/http_types.hpp"
#include "registry/flow_index.hpp"

namespace {

using namespace fedmesh;
using registry::FlowRecord;

// 12 flows of 4 nodes: tags, authors, empty and non-ASCII fields, statuses.
const registry::FlowIndex& index() {
  static const auto* idx = [] {
    const char* orgs[] = {"Acme Paint", "Blue Pigments", "Cyan Labs", "Ünïcode Org"};
    const char* authors[] = {"ada", "grace", ""};
    const char* tags[] = {"color", "ml", "stats"};
    const char* statuses[] = {"alive", "stale", "gone"};
    std::vector<FlowRecord> flows;
    for (int i = 0; i < 12; ++i) {
      FlowRecord f;
      f.registry = i % 2 ? "reg1" : "reg2";
      f.node = "node" + std::to_string(i % 4);
      f.organization = orgs[i % 4];
      f.url = "https://127.0.0.1:40" + std::to_string(20 + i % 4);
      f.name = "pkg" + std::to_string(i % 3) + "/skill" + std::to_string(i);
      f.author = authors[i % 3];
      f.description = "Flow " + std::to_string(i) + " about " + tags[i % 3];
      if (i % 5) f.tags = {tags[i % 3], i % 2 ? "odd" : "even"};
      f.status = statuses[i % 3];
      f.created = f.modified = f.heartbeat = "2026-11-24T00:00:0" + std::to_string(i % 10) + ".000000Z";
      flows.push_back(f);
    }
    return new registry::FlowIndex(flows);
  }();
  return *idx;
}

const registry::FlowIndex::Live& live() {
  static const registry::FlowIndex::Live l{
      [](const std::string& node) { return node == "node1" ? std::string("stale") : std::string("alive"); },
      [](nlohmann::json& item) { item["status"] = "alive"; }};
  return l;
}

// api::query_request(): q, by, then p and pp as strict integers.
std::optional<registry::QueryRequest> query_request(const net::Request& req) {
  registry::QueryRequest q;
  q.q = req.query_param("q").value_or("");
  q.by = req.query_param("by").value_or("");
  for (auto [name, field, hi] :
       {std::tuple<const char*, long long*, long long>{"p", &q.page, 1'000'000'000}, {"pp", &q.page_size, 1'000'000}}) {
    auto v = req.query_param(name);
    if (!v) continue;
    auto n = parse_integer(*v, 0, hi);
    if (!n) return std::nullopt;
    *field = *n;
  }
  return q;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > fuzz::kMaxInput) return 0;
  std::string text(fuzz::as_text(data, size));
  (void)registry::Filter::parse(text);
  (void)registry::parse_sort(text);
  const registry::QueryLimits limits{100};
  (void)index().query({text, "", 0, 10}, limits);
  (void)index().query({"", text, 0, 10}, limits);
  net::Request req;
  req.query = text;
  if (auto q = query_request(req)) (void)index().query(*q, limits, live());
  return 0;
}
