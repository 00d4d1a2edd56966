// Shared data inside one process, on file-backed SQLite (WAL) in a temporary folder,
// beside this machine's ceilings:
//   - ceilings: Ed25519 verifies/s on one core; SQLite rows/s in one WAL transaction
//     (a table shaped like data_deltas)
//   - local writes: N concurrent one-property writes through the writer queue (group
//     commit, one signed run per batch), deltas/s until every write is durable
//   - received ingest: the same deltas as catch-up pages (whole signed runs, 2048
//     deltas), decoded, verified against the creator's certificate and stored, deltas/s
//   - resolved read of one entity with 10k deltas: p50/p99 from the entity cache, and
//     the first (cold) read that replays its history from the store
//   data_ingest [N]   (default 100000)
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <spdlog/spdlog.h>

#include "core/clock.hpp"
#include "crypto/certs.hpp"
#include "crypto/files.hpp"
#include "data/service.hpp"
#include "store/open.hpp"

using namespace fedmesh;
using Steady = std::chrono::steady_clock;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

double seconds_since(Steady::time_point t) {
  return std::chrono::duration<double>(Steady::now() - t).count();
}

std::string slurp(const std::string& path) {
  return *crypto::read_file(path);
}

// One node's shared data on a file store, its writer on a one-thread pool.
struct Node {
  Node(const std::string& dir, const std::string& name, const std::string& certs, const std::string& ca_pem)
      : hlc(fedmesh::Clock::system()), pool(1) {
    auto s = open_sqlite_store(dir + "/" + name + ".db");
    if (!s) throw std::runtime_error(s.error().message());
    store = std::move(*s);
    std::string cert = slurp(certs + "/" + name + ".crt");
    auto key = crypto::SigningKey::from_pem(slurp(certs + "/" + name + ".key"));
    creators =
        std::make_unique<data::Creators>(store->deltas(), std::vector<std::string>{ca_pem}, std::vector<std::string>{},
                                         name, cert, *crypto::VerifyingKey::from_certificate(cert));
    (void)creators->load();
    service = std::make_unique<data::DataService>(
        store->deltas(), *creators, hlc, *key,
        [this](std::function<void()> f) { boost::asio::post(pool, std::move(f)); },
        data::DataServiceOptions{.self = name});
    (void)service->open();
  }
  ~Node() { pool.join(); }
  HybridClock hlc;
  boost::asio::thread_pool pool;
  std::unique_ptr<Store> store;
  std::unique_ptr<data::Creators> creators;
  std::unique_ptr<data::DataService> service;
};

// Queues `n` writes at once and waits until all are durable.
void write_all(data::DataService& s, std::size_t n, const std::function<data::WriteRequest(std::size_t)>& make) {
  std::mutex mu;
  std::condition_variable cv;
  std::size_t done = 0, failed = 0;
  for (std::size_t i = 0; i < n; ++i) {
    s.write(make(i), [&](Result<json> r) {
      std::lock_guard lock(mu);
      if (!r) ++failed;
      if (++done == n) cv.notify_one();
    });
  }
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return done == n; });
  if (failed) std::printf("  (%zu writes failed)\n", failed);
}

void ceiling_verify() {
  auto key = *crypto::SigningKey::from_seed(std::string(32, 'k'));
  auto vk = *crypto::VerifyingKey::from_raw(key.public_key());
  std::string msg(200, 'm');
  auto sig = key.sign(msg);
  const int n = 20'000;
  auto t = Steady::now();
  int ok = 0;
  for (int i = 0; i < n; ++i) ok += vk.verify(msg, sig) ? 1 : 0;
  double s = seconds_since(t);
  std::printf("| ceiling: Ed25519 verify, one core | %.0f verifies/s | (%d ok) |\n", n / s, ok);
}

void ceiling_sqlite(const std::string& dir) {
  sqlite3* db = nullptr;
  sqlite3_open((dir + "/raw.db").c_str(), &db);
  sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", nullptr, nullptr, nullptr);
  sqlite3_exec(db,
               "CREATE TABLE t (id TEXT PRIMARY KEY, creator TEXT, collection TEXT, seq INTEGER, time INTEGER, "
               "entity TEXT, property TEXT, body TEXT, UNIQUE(creator, collection, seq))",
               nullptr, nullptr, nullptr);
  sqlite3_exec(db, "CREATE INDEX t_entity ON t(collection, entity, property)", nullptr, nullptr, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO t VALUES (?,?,?,?,?,?,?,?)", -1, &st, nullptr);
  const int n = 200'000;
  std::string body(230, 'b');
  auto t = Steady::now();
  sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
  for (int i = 0; i < n; ++i) {
    std::string id = std::to_string(1'000'000'000 + i) + std::string(54, 'f');
    std::string entity = "e" + std::to_string(i);
    sqlite3_bind_text(st, 1, id.c_str(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, "red", 3, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, "user", 4, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, i + 1);
    sqlite3_bind_int64(st, 5, 1'700'000'000'000'000 + i);
    sqlite3_bind_text(st, 6, entity.c_str(), static_cast<int>(entity.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 7, "v", 1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, body.c_str(), static_cast<int>(body.size()), SQLITE_STATIC);
    sqlite3_step(st);
    sqlite3_reset(st);
  }
  sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  double s = seconds_since(t);
  sqlite3_finalize(st);
  sqlite3_close(db);
  std::printf("| ceiling: SQLite insert, one WAL transaction (delta-shaped rows, 2 indexes) | %.0f rows/s | |\n",
              n / s);
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t n = argc > 1 ? static_cast<std::size_t>(std::atol(argv[1])) : 100'000;
  auto dir = fs::temp_directory_path() / ("fedmesh-data-bench-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::string d = dir.string();
  (void)crypto::init_ca(d + "/ca");
  for (const char* name : {"red", "blue", "green"}) (void)crypto::issue_cert(d + "/ca", name, d + "/certs");
  std::string ca = slurp(d + "/ca/ca.crt");
  spdlog::set_level(spdlog::level::warn);

  std::printf("| measure | result | notes |\n|---|---|---|\n");
  ceiling_verify();
  ceiling_sqlite(d);

  {
    Node red(d, "red", d + "/certs", ca);
    auto t = Steady::now();
    write_all(*red.service, n, [](std::size_t i) {
      return data::WriteRequest{.collection = "user", .id = "u" + std::to_string(i), .properties = {{"v", i}}};
    });
    double s = seconds_since(t);
    std::printf("| local writes, %zu concurrent one-property writes | %.0f deltas/s | %.2f s until all durable |\n", n,
                n / s, s);

    // Transactions of 10 properties.
    std::size_t tx = n / 10;
    t = Steady::now();
    write_all(*red.service, tx, [](std::size_t i) {
      json props;
      for (int p = 0; p < 10; ++p) props["p" + std::to_string(p)] = i * 10 + p;
      return data::WriteRequest{.collection = "order", .id = "o" + std::to_string(i), .properties = props};
    });
    s = seconds_since(t);
    std::printf("| local writes, %zu transactions of 10 properties | %.0f deltas/s | %.2f s |\n", tx, tx * 10 / s, s);

    // Received ingest: red's user stream as catch-up pages into blue.
    Node blue(d, "blue", d + "/certs", ca);
    std::vector<std::string> pages;
    std::int64_t since = 0;
    for (;;) {
      auto p = red.service->page("red", "user", since, 2048, 4u << 20);
      if (!p || p->second == 0) break;
      pages.push_back(std::move(p->first));
      since = p->second;
    }
    std::size_t bytes = 0;
    for (const auto& p : pages) bytes += p.size();
    t = Steady::now();
    for (const auto& text : pages) (void)data::decode_batch(text);
    std::printf("|   of which decoding the pages (JSON, ids, shapes) | %.2f s | |\n", seconds_since(t));
    t = Steady::now();
    std::size_t stored = 0;
    for (const auto& text : pages) {
      auto batch = data::decode_batch(text);
      if (!batch) throw std::runtime_error(batch.error().message());
      auto r = blue.service->ingest("red", *batch, [](const std::string&) { return true; });
      if (!r) throw std::runtime_error(r.error().message());
      stored += r->stored;
    }
    s = seconds_since(t);
    std::printf(
        "| received ingest: %zu deltas in %zu pages (%.1f MB), decoded + verified + stored | %.0f deltas/s | %.2f s "
        "|\n",
        stored, pages.size(), bytes / 1e6, stored / s, s);

    // The same as the node does it: the next page decodes on another thread (the store
    // pool's second one) while this one is verified and stored.
    {
      Node green(d, "green", d + "/certs", ca);
      std::mutex mu;
      std::condition_variable cv;
      std::deque<data::WireBatch> ready;
      auto t1 = Steady::now();
      std::thread decoder([&] {
        for (const auto& text : pages) {
          auto batch = data::decode_batch(text);
          std::unique_lock lock(mu);
          cv.wait(lock, [&] { return ready.size() < 4; });
          ready.push_back(std::move(*batch));
          cv.notify_all();
        }
      });
      std::size_t got = 0;
      for (std::size_t i = 0; i < pages.size(); ++i) {
        data::WireBatch batch;
        {
          std::unique_lock lock(mu);
          cv.wait(lock, [&] { return !ready.empty(); });
          batch = std::move(ready.front());
          ready.pop_front();
          cv.notify_all();
        }
        auto r = green.service->ingest("red", batch, [](const std::string&) { return true; });
        if (r) got += r->stored;
      }
      decoder.join();
      double s1 = seconds_since(t1);
      std::printf(
          "| received ingest, decoding pipelined with storing (as the node's two store threads) | %.0f deltas/s "
          "| %.2f s |\n",
          got / s1, s1);
    }

    // Resolved read of one entity with 10k deltas.
    const std::size_t history = 10'000;
    write_all(*red.service, history, [](std::size_t i) {
      return data::WriteRequest{.collection = "sensor", .id = "hot", .properties = {{"reading", i}}};
    });
    for (const char* resolver : {"lww", "sum", "majority"}) {
      (void)red.service->set_collection("sensor", {{"resolver", resolver}}, "api");
      std::vector<double> us;
      for (int i = 0; i < 20'000; ++i) {
        auto t0 = Steady::now();
        auto e = red.service->get("sensor", "hot", false, 0);
        us.push_back(std::chrono::duration<double, std::micro>(Steady::now() - t0).count());
        if (!e) throw std::runtime_error(e.error().message());
      }
      std::sort(us.begin(), us.end());
      std::printf(
          "| resolved read of an entity with %zu deltas (cached state), resolver %s | p50 %.1f µs, p99 %.1f µs | "
          "20000 reads |\n",
          history, resolver, us[us.size() / 2], us[us.size() * 99 / 100]);
    }
    // Cold: a fresh service replays the entity's history once, then caches it.
    data::DataService cold(red.store->deltas(), *red.creators, red.hlc,
                           *crypto::SigningKey::from_pem(slurp(d + "/certs/red.key")),
                           [](std::function<void()> f) { f(); }, {.self = "red"});
    (void)cold.open();
    auto t0 = Steady::now();
    auto e = cold.get("sensor", "hot", false, 0);
    std::printf("| first (cold) read of that entity: replays %zu deltas from the store | %.1f ms | then cached |\n",
                history, std::chrono::duration<double, std::milli>(Steady::now() - t0).count());
  }
  fs::remove_all(dir);
  return 0;
}
