// Fills a running registry with Kodo nodes over its plain-HTTP Kodo routes (distinct
// nodes need no certificates there), then measures paged queries end to end over HTTP.
//   registry_load BASE_URL NODES FLOWS_PER_NODE THREADS QUERY_ROUNDS
// Prints registrations/s while filling, the time until the query index holds every
// flow, and p50/p99 per query kind (one connection per request, as the CLI makes).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "net/blocking_http.hpp"

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;
using fedmesh::net::blocking_http_request;

namespace {

const char* kOrgs[] = {"Acme Paint", "Blue Pigments", "Cyan Labs", "Delta Data", "Echo Health"};
const char* kTopics[] = {"color", "inventory", "ml", "stats", "health", "geo", "text", "audio"};

std::string kodo_node(int n, int flows) {
  json f = json::object();
  for (int i = 0; i < flows; ++i) {
    std::string path = "/flow" + std::to_string(i);
    f[path] = {
        {"url", path},
        {"name", "pkg" + std::to_string((n + i) % 100) + "/skill" + std::to_string(n * flows + i)},
        {"description", std::string("A flow about ") + kTopics[(n + i) % 8] + " and " + kTopics[(n * 7 + i) % 8]},
        {"author", "author" + std::to_string((n + i) % 50)},
        {"tags", {kTopics[i % 8], kTopics[(n + 3 * i) % 8]}}};
  }
  return json{{"url", "http://10.1." + std::to_string(n / 250) + "." + std::to_string(n % 250) + ":3367"},
              {"organization", kOrgs[n % 5]},
              {"flows", f}}
      .dump();
}

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

long long total_flows(const std::string& base) {
  auto r = blocking_http_request(base, "GET", "/api/v1/registry/flows?pp=1", "", {std::chrono::seconds(30)});
  if (!r || r->status != 200) return -1;
  return json::parse(r->body).value("total", -1LL);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: registry_load BASE_URL NODES FLOWS_PER_NODE THREADS QUERY_ROUNDS\n");
    return 2;
  }
  std::string base = argv[1];
  int nodes = std::atoi(argv[2]), flows = std::atoi(argv[3]), threads = std::atoi(argv[4]);
  int rounds = std::atoi(argv[5]);
  long long before = total_flows(base);
  if (before < 0) {
    std::fprintf(stderr, "registry at %s does not answer\n", base.c_str());
    return 1;
  }

  std::atomic<int> next{0}, failed{0};
  std::vector<std::thread> workers;
  auto t0 = Clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (int n; (n = next.fetch_add(1)) < nodes;) {
        auto r = blocking_http_request(base, "POST", "/register", kodo_node(n, flows), {std::chrono::seconds(30)});
        if (!r || r->status != 200) ++failed;
      }
    });
  }
  for (auto& w : workers) w.join();
  double fill_ms = ms_since(t0);
  long long want = before + static_cast<long long>(nodes) * flows;
  auto t1 = Clock::now();
  while (total_flows(base) < want) {
    if (ms_since(t1) > 120'000) {
      std::fprintf(stderr, "the index never reached %lld flows\n", want);
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::printf(
      "filled %d Kodo nodes x %d flows with %d threads: %.0f ms, %.0f registrations/s, %.0f flows/s "
      "(%d failed); index caught up %.0f ms later\n\n",
      nodes, flows, threads, fill_ms, nodes / (fill_ms / 1000), nodes * double(flows) / (fill_ms / 1000), failed.load(),
      ms_since(t1));

  struct Case {
    const char* name;
    std::string query;
  };
  std::vector<Case> cases = {
      {"page 0, no q", ""},
      {"by name:desc", "by=name:desc"},
      {"q @tag(\"ml\") & organization ~ \"acme\"", "q=%40tag(%22ml%22)%20%26%20organization%20~%20%22acme%22"},
      {"q full-text fallback (inventory)", "q=inventory"},
      {"Kodo GET /flows, by name", "kodo"},
  };
  std::printf("| flows | query (over HTTP) | p50 ms | p99 ms |\n|---|---|---|---|\n");
  for (const auto& c : cases) {
    std::vector<double> ms;
    for (int r = 0; r < rounds; ++r) {
      std::string page = "pp=10&p=" + std::to_string(r % 5);
      std::string target = c.query == "kodo"
                               ? "/flows?by=name&" + page
                               : "/api/v1/registry/flows?" + page + (c.query.empty() ? "" : "&") + c.query;
      auto t = Clock::now();
      auto res = blocking_http_request(base, "GET", target, "", {std::chrono::seconds(30)});
      ms.push_back(ms_since(t));
      if (!res || res->status != 200) {
        std::fprintf(stderr, "query failed: %s\n", target.c_str());
        return 1;
      }
    }
    std::sort(ms.begin(), ms.end());
    std::printf("| %lld | %s | %.2f | %.2f |\n", want, c.name, ms[ms.size() / 2],
                ms[std::min(ms.size() - 1, ms.size() * 99 / 100)]);
  }
}
