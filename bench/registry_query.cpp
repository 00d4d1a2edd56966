// Registry query latency on catalogs of 10k, 100k and 1M flows, in memory: the index a
// registry builds once per catalog change (its build time is printed), then p50/p99 of
// repeated paged queries on it, per kind (rank caches warm after the first query).
//   registry_query [ROUNDS]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "registry/flow_index.hpp"

using fedmesh::registry::FlowSpec;
using fedmesh::registry::NodeFlows;
using Clock = std::chrono::steady_clock;

// 20 flows per node, as a registry's catalog hands them to its index.
std::vector<NodeFlows> catalog(std::size_t n) {
  const char* orgs[] = {"Acme Paint", "Blue Pigments", "Cyan Labs", "Delta Data", "Echo Health"};
  const char* topics[] = {"color", "inventory", "ml", "stats", "health", "geo", "text", "audio"};
  std::mt19937 rng(7);
  std::vector<NodeFlows> nodes;
  for (std::size_t i = 0; i < n; i += 20) {
    NodeFlows node;
    node.registry = "reg";
    node.node = "node" + std::to_string(i / 20);
    node.organization = orgs[rng() % 5];
    node.status = "alive";
    node.created = node.modified = node.heartbeat = "2026-11-24T00:00:00.000000Z";
    std::vector<FlowSpec> flows;
    for (std::size_t j = i; j < i + 20 && j < n; ++j) {
      FlowSpec f;
      f.name = "pkg" + std::to_string(rng() % 100) + "/skill" + std::to_string(j);
      f.url = "https://10.0.0.1:4000/fed/v1/skills/" + f.name;
      f.author = "author" + std::to_string(rng() % 50);
      f.description = std::string("A flow about ") + topics[rng() % 8] + " and " + topics[rng() % 8];
      f.tags = {topics[rng() % 8], topics[rng() % 8]};
      flows.push_back(std::move(f));
    }
    node.flows = fedmesh::registry::make_flows(std::move(flows));
    nodes.push_back(std::move(node));
  }
  return nodes;
}

int main(int argc, char** argv) {
  int rounds = argc > 1 ? std::atoi(argv[1]) : 50;
  struct Case {
    const char* name;
    fedmesh::registry::QueryRequest req;
  };
  std::vector<Case> cases = {
      {"page 0, no q", {"", "", 0, 10}},
      {"page 0, by name:desc", {"", "name:desc", 0, 10}},
      {"q @tag & organization ~", {R"(@tag("ml") & organization ~ "acme")", "", 0, 10}},
      {"q full-text fallback", {"inventory", "", 0, 10}},
      {"by tags:desc, q organization ==", {R"(organization == "Cyan Labs")", "tags:desc", 0, 10}},
  };
  std::printf("| flows | query | p50 ms | p99 ms |\n|---|---|---|---|\n");
  std::vector<std::string> builds;
  for (std::size_t n : {10'000u, 100'000u, 1'000'000u}) {
    auto flows = catalog(n);
    auto t0 = Clock::now();
    fedmesh::registry::FlowIndex index(std::move(flows));
    index.warm();
    builds.push_back(std::to_string(n) + ": " +
                     std::to_string(std::chrono::duration<double, std::milli>(Clock::now() - t0).count()) + " ms");
    for (const auto& c : cases) {
      std::vector<double> ms;
      for (int r = 0; r < rounds; ++r) {
        auto req = c.req;
        req.page = r % 5;
        auto t1 = Clock::now();
        auto result = index.query(req);
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t1).count());
        if (!result) return 1;
      }
      std::sort(ms.begin(), ms.end());
      std::printf("| %zu | %s | %.2f | %.2f |\n", n, c.name, ms[ms.size() / 2],
                  ms[std::min(ms.size() - 1, ms.size() * 99 / 100)]);
    }
  }
  std::printf("\nindex build:");
  for (const auto& b : builds) std::printf("  %s", b.c_str());
  std::printf("\n");
}
