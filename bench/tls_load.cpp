// Load generator for mutual-TLS HTTP/1.1 servers (wrk cannot present a client
// certificate): C keep-alive connections, each a coroutine sending requests back to
// back for a fixed time, through fedmesh's own pooled client. Prints requests/s and
// latency percentiles.
//   tls_load HOST PORT EXPECTED_NAME PATH CONNECTIONS SECONDS THREADS CERT KEY CA [METHOD BODY]
#include <algorithm>
#include <atomic>
#include <iostream>
#include <mutex>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "net/http_client.hpp"

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  if (argc != 11 && argc != 13) {
    std::cerr << "usage: tls_load HOST PORT EXPECTED_NAME PATH CONNECTIONS SECONDS THREADS CERT KEY CA [METHOD BODY]\n";
    return 2;
  }
  std::string host = argv[1];
  auto port = static_cast<std::uint16_t>(std::atoi(argv[2]));
  std::string name = argv[3], path = argv[4];
  int conns = std::max(1, std::atoi(argv[5]));
  double seconds = std::atof(argv[6]);
  int threads = std::max(1, std::atoi(argv[7]));
  std::string method = argc == 13 ? argv[11] : "GET";
  std::string body = argc == 13 ? argv[12] : "";
  auto tls = fedmesh::net::make_client_context({argv[8], argv[9], {argv[10]}, {}});
  if (!tls) {
    std::cerr << tls.error().message() << "\n";
    return 1;
  }
  fedmesh::net::ClientOptions opts;
  opts.max_idle_per_peer = static_cast<std::size_t>(conns);
  fedmesh::net::HttpClient client(std::move(*tls), opts);

  std::vector<std::unique_ptr<asio::io_context>> contexts;
  for (int i = 0; i < threads; ++i) contexts.push_back(std::make_unique<asio::io_context>(1));
  std::mutex mu;
  std::vector<double> latencies;  // microseconds
  std::atomic<std::uint64_t> errors{0};
  auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  auto worker = [&]() -> asio::awaitable<void> {
    std::vector<double> mine;
    fedmesh::net::ClientTarget target{host, port, name};
    while (Clock::now() < end) {
      fedmesh::net::ClientRequest req;
      req.target = path;
      req.method = method;
      req.body = body;
      req.idempotent = true;
      auto t0 = Clock::now();
      auto res = co_await client.send(target, req, t0 + std::chrono::seconds(5));
      if (!res || res->status != 200) {
        if (errors.fetch_add(1) == 0)
          std::cerr << (res ? "status " + std::to_string(res->status) : res.error().message()) << "\n";
        continue;
      }
      mine.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    }
    std::lock_guard lock(mu);
    latencies.insert(latencies.end(), mine.begin(), mine.end());
  };
  for (int i = 0; i < conns; ++i)
    asio::co_spawn(*contexts[static_cast<std::size_t>(i % threads)], worker(), asio::detached);
  auto start = Clock::now();
  std::vector<std::thread> pool;
  for (auto& c : contexts) pool.emplace_back([&c] { c->run(); });
  for (auto& t : pool) t.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  client.clear();
  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double p) {
    if (latencies.empty()) return 0.0;
    return latencies[std::min(latencies.size() - 1,
                              static_cast<std::size_t>(p * static_cast<double>(latencies.size())))];
  };
  std::cout << fmt::format(
      "requests={} errors={} seconds={:.2f} rps={:.0f} p50_us={:.0f} p99_us={:.0f} connections_opened={}\n",
      latencies.size(), errors.load(), elapsed, static_cast<double>(latencies.size()) / elapsed, pct(0.50), pct(0.99),
      client.connections_opened());
  return errors.load() == 0 ? 0 : 1;
}
