// Federated jobs, measured:
//   - leases: one aggregator (in process, no TLS) and 50 polling clients (coroutines)
//     that each hold a datasource of the project; J count jobs of 50 tasks each; every
//     task is claimed (one conditional UPDATE), answered and its round combined. Tasks
//     per second from the first submit until the last job completes; on SQLite (a WAL
//     file) and on PostgreSQL (a private server on a free port).
//   - end to end with real processes on loopback (mutual TLS): an aggregator and three
//     clients holding the California splits; `mean` of every column, and 20 rounds of
//     logistic regression, from POST /api/v1/jobs until GET shows it completed; median of
//     5 runs; on SQLite and on PostgreSQL.
//   jobs_bench [JOBS]   (default 40: 2,000 tasks)
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>
#include <thread>

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_future.hpp>

#include "jobs/aggregator.hpp"
#include "store/open.hpp"
#include "support/harness.hpp"
#include "support/postgres.hpp"

using namespace fedmesh;
using Steady = std::chrono::steady_clock;
using json = nlohmann::json;
namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace {

constexpr const char* kToken = "bench-token-2718";
constexpr int kClients = 50;

double seconds_since(Steady::time_point t) {
  return std::chrono::duration<double>(Steady::now() - t).count();
}

template <class T>
T run_on(asio::io_context& ctx, asio::awaitable<T> work) {
  return asio::co_spawn(ctx, std::move(work), asio::use_future).get();
}

asio::awaitable<void> client_loop(jobs::Aggregator& agg, std::string name, std::atomic<int>& done,
                                  std::atomic<bool>& stop) {
  std::string poll = R"({"wait_ms": 200})";
  while (!stop) {
    std::string body = poll;
    auto r = co_await agg.next(name, std::move(body));
    if (!r || !(*r)["task"].is_object()) continue;
    const json& t = (*r)["task"];
    std::string result = json{{"task", t["id"]}, {"lease", t["lease"]}, {"result", {{"n", 1}}}}.dump();
    auto sent = co_await agg.result(name, std::move(result));
    if (sent) done.fetch_add(1);
  }
}

void leases(const std::string& label, Store& store, int jobs_count) {
  net::IoPool io(2, 1);
  io.start();
  jobs::AggregatorOptions o;
  o.self = "agg";
  o.projects = {{"bench", kToken}};
  o.lease = std::chrono::seconds(60);
  o.max_wait = std::chrono::seconds(1);
  jobs::Aggregator agg(store.jobs(), io, o, Clock::system());
  agg.start();
  json source = {{"name", "d"}, {"rows", 1000}, {"columns", json::array()}, {"tokens", {jobs::token_digest(kToken)}}};
  std::string hello = json{{"datasources", {source}}}.dump();
  for (int i = 0; i < kClients; ++i) {
    auto r = run_on(io.at(0), agg.hello("c" + std::to_string(i), "bench", hello));
    if (!r) std::fprintf(stderr, "hello: %s\n", r.error().message().c_str());
  }
  std::atomic<int> done{0};
  std::atomic<bool> stop{false};
  for (int i = 0; i < kClients; ++i)
    asio::co_spawn(io.next(), client_loop(agg, "c" + std::to_string(i), done, stop), asio::detached);
  std::string job = json{{"project", "bench"}, {"token", kToken}, {"operation", {{"kind", "count"}}}}.dump();
  auto start = Steady::now();
  for (int j = 0; j < jobs_count; ++j) {
    auto r = run_on(io.at(0), agg.submit(job));
    if (!r) std::fprintf(stderr, "submit: %s\n", r.error().message().c_str());
  }
  int total = jobs_count * kClients;
  while (done.load() < total && seconds_since(start) < 300) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  double s = seconds_since(start);
  stop = true;
  agg.stop();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  io.stop();
  std::printf("  %-11s %6d tasks (%d jobs x %d clients) in %6.2f s: %8.0f leases/s (claimed, answered, combined)\n",
              label.c_str(), done.load(), jobs_count, kClients, s, done.load() / s);
}

// ---- end to end with real processes ----

std::string california(const std::string& file) {
  return testing::source_dir() + "/data/california/" + file;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void end_to_end(const std::string& label, const std::string& store_toml) {
  testing::TempDir dir;
  testing::Federation fed(dir);
  fed.add({"agg",
           {},
           "roles = [\"aggregator\"]\n" + store_toml + "\n[jobs]\n[[jobs.projects]]\nname = \"housing\"\ntoken = \"" +
               kToken + "\"\n"});
  const char* files[] = {"california_housing.MedInc1.csv", "california_housing.MedInc2.csv",
                         "california_housing.validation.csv"};
  for (int i = 0; i < 3; ++i) {
    std::string name = "c" + std::to_string(i + 1);
    fed.add({name,
             {},
             "roles = [\"client\"]\n[jobs]\naggregator = \"https://127.0.0.1:" + std::to_string(fed.fed_port("agg")) +
                 "\"\n[[jobs.datasources]]\nname = \"" + name + "\"\npath = \"" + california(files[i]) +
                 "\"\ntokens = [\"" + kToken + "\"]\n"});
  }
  for (const char* n : {"agg", "c1", "c2", "c3"}) fed.start(n);
  int api = fed.http_port("agg");
  testing::wait_until([&] { return testing::http(api, "GET", "/api/v1/jobs/clients").json()["clients"].size() == 3; },
                      std::chrono::seconds(20));
  json columns = {"MedInc",   "HouseAge", "AveRooms",  "AveBedrms",          "Population",
                  "AveOccup", "Latitude", "Longitude", "MedHouseValDiscrete"};
  auto timed = [&](const json& op) {
    json body = {{"project", "housing"}, {"token", kToken}, {"operation", op}};
    auto start = Steady::now();
    auto r = testing::http(api, "POST", "/api/v1/jobs", body.dump());
    std::string id = r.json().value("id", "");
    // Polled every millisecond (wait_until sleeps 20 ms between looks, which would round
    // every figure up to the next 20 ms).
    bool ok = false;
    for (auto deadline = Steady::now() + std::chrono::seconds(60); !ok && Steady::now() < deadline;) {
      ok = testing::http(api, "GET", "/api/v1/jobs/" + id).json().value("state", "") == "completed";
      if (!ok) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    double s = seconds_since(start);
    if (!ok) std::fprintf(stderr, "job %s did not complete\n", id.c_str());
    return s;
  };
  std::vector<double> mean, logistic;
  for (int i = 0; i < 5; ++i) {
    mean.push_back(timed({{"kind", "mean"}, {"columns", columns}}));
    logistic.push_back(timed({{"kind", "logistic_regression"},
                              {"target", "MedHouseValDiscrete"},
                              {"features", {"MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population", "AveOccup"}},
                              {"rounds", 20}}));
  }
  std::printf("  %-11s mean of 9 columns over 3 splits: %6.1f ms    20 logistic rounds: %7.1f ms  (median of 5)\n",
              label.c_str(), median(mean) * 1000, median(logistic) * 1000);
}

}  // namespace

int main(int argc, char** argv) {
  int jobs_count = argc > 1 ? std::atoi(argv[1]) : 40;
  spdlog::set_level(spdlog::level::warn);
  std::printf("jobs: leases with %d polling clients, in process\n", kClients);
  {
    testing::TempDir dir;
    auto store = open_sqlite_store(dir / "jobs.db");
    if (!store) return std::fprintf(stderr, "%s\n", store.error().message().c_str()), 1;
    leases("sqlite", **store, jobs_count);
  }
  std::string pg_url;
  std::unique_ptr<testing::PostgresServer> pg;
  try {
    pg = std::make_unique<testing::PostgresServer>();
    pg_url = pg->create_database();
    auto store = open_postgres_store(pg_url);
    if (!store) return std::fprintf(stderr, "%s\n", store.error().message().c_str()), 1;
    leases("postgresql", **store, jobs_count);
  } catch (const std::exception& e) {
    std::printf("  postgresql: skipped (%s)\n", e.what());
  }
  std::printf("jobs: end to end, an aggregator and 3 clients as processes (mutual TLS on loopback)\n");
  end_to_end("sqlite", "");
  if (pg) end_to_end("postgresql", "\n[store]\nbackend = \"postgresql\"\nurl = \"" + pg->create_database() + "\"\n");
  return 0;
}
