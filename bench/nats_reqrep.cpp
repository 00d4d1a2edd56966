// NATS request-reply, the comparison point for skill calls: a responder that answers
// every request on a subject with a fixed JSON payload, and a load generator with C
// concurrent requesters (one thread each, one shared connection) for a fixed time.
//   nats_reqrep serve URL SUBJECT PAYLOAD
//   nats_reqrep load URL SUBJECT CONCURRENCY SECONDS REQUEST
#include <nats/nats.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

std::atomic<bool> stop{false};
std::string payload;

void on_request(natsConnection* nc, natsSubscription*, natsMsg* msg, void*) {
  if (natsMsg_GetReply(msg))
    natsConnection_Publish(nc, natsMsg_GetReply(msg), payload.data(), static_cast<int>(payload.size()));
  natsMsg_Destroy(msg);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: nats_reqrep serve URL SUBJECT PAYLOAD | load URL SUBJECT CONCURRENCY SECONDS REQUEST\n");
    return 2;
  }
  std::string mode = argv[1];
  natsConnection* nc = nullptr;
  if (mode == "serve" && argc == 5) {
    payload = argv[4];
    if (natsConnection_ConnectTo(&nc, argv[2]) != NATS_OK) return 1;
    natsSubscription* sub = nullptr;
    if (natsConnection_Subscribe(&sub, nc, argv[3], on_request, nullptr) != NATS_OK) return 1;
    natsConnection_Flush(nc);
    std::signal(SIGTERM, [](int) { stop = true; });
    std::signal(SIGINT, [](int) { stop = true; });
    std::puts("ready");
    std::fflush(stdout);
    while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    return 0;
  }
  if (mode != "load" || argc != 7) return 2;
  if (natsConnection_ConnectTo(&nc, argv[2]) != NATS_OK) return 1;
  std::string subject = argv[3];
  int conc = std::max(1, std::atoi(argv[4]));
  double secs = std::atof(argv[5]);
  std::string request = argv[6];
  std::mutex mu;
  std::vector<double> lat;
  std::atomic<long> errors{0};
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<long>(secs * 1000));
  auto started = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < conc; ++i) {
    threads.emplace_back([&] {
      std::vector<double> mine;
      while (std::chrono::steady_clock::now() < end) {
        natsMsg* reply = nullptr;
        auto t0 = std::chrono::steady_clock::now();
        if (natsConnection_Request(&reply, nc, subject.c_str(), request.data(), static_cast<int>(request.size()),
                                   5000) != NATS_OK) {
          ++errors;
          continue;
        }
        mine.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
        natsMsg_Destroy(reply);
      }
      std::lock_guard lock(mu);
      lat.insert(lat.end(), mine.begin(), mine.end());
    });
  }
  for (auto& t : threads) t.join();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) {
    return lat.empty() ? 0.0 : lat[std::min(lat.size() - 1, static_cast<size_t>(p * lat.size()))];
  };
  std::printf("requests=%zu errors=%ld seconds=%.2f rps=%.0f p50_us=%.0f p99_us=%.0f\n", lat.size(), errors.load(),
              elapsed, lat.size() / elapsed, pct(0.5), pct(0.99));
  natsConnection_Destroy(nc);
  return 0;
}
