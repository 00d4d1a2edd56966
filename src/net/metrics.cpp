#include "net/metrics.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace fedmesh::net {

namespace {
constexpr std::array<const char*, 6> kMethodNames = {"GET", "POST", "PUT", "DELETE", "HEAD", "OTHER"};

int method_index(const std::string& m) {
  for (int i = 0; i < 5; ++i) {
    if (m == kMethodNames[static_cast<std::size_t>(i)]) return i;
  }
  return 5;
}

std::atomic<unsigned> next_thread_slot{0};
}  // namespace

HttpMetrics::HttpMetrics(std::string listener, std::vector<std::string> routes)
    : listener_(std::move(listener)), routes_(std::move(routes)) {
  routes_.push_back("unmatched");
  for (auto& s : shards_) s.stats = std::make_unique<RouteStats[]>(routes_.size());
}

HttpMetrics::Shard& HttpMetrics::shard() {
  thread_local unsigned slot = next_thread_slot.fetch_add(1, std::memory_order_relaxed);
  return shards_[slot % kShards];
}

std::int64_t HttpMetrics::inflight() const {
  std::int64_t n = 0;
  for (const auto& s : shards_) n += s.inflight.load(std::memory_order_relaxed);
  return n;
}

void HttpMetrics::record(int route, const std::string& method, int status, std::uint64_t micros) {
  if (route < 0 || route >= static_cast<int>(routes_.size())) route = static_cast<int>(routes_.size()) - 1;
  auto& s = shard().stats[static_cast<std::size_t>(route)];
  std::size_t slot = kStatuses.size() + static_cast<std::size_t>(std::clamp(status / 100, 1, 5) - 1);
  for (std::size_t i = 0; i < kStatuses.size(); ++i) {
    if (kStatuses[i] == status) {
      slot = i;
      break;
    }
  }
  s.by_status[static_cast<std::size_t>(method_index(method))][slot].fetch_add(1, std::memory_order_relaxed);
  double secs = static_cast<double>(micros) / 1e6;
  std::size_t b = 0;
  while (b < kBuckets.size() && secs > kBuckets[b]) ++b;
  s.buckets[b].fetch_add(1, std::memory_order_relaxed);
  s.sum_micros.fetch_add(micros, std::memory_order_relaxed);
  s.count.fetch_add(1, std::memory_order_relaxed);
}

std::uint64_t HttpMetrics::sum(const std::function<const std::atomic<std::uint64_t>&(const Shard&)>& get) const {
  std::uint64_t n = 0;
  for (const auto& sh : shards_) n += get(sh).load(std::memory_order_relaxed);
  return n;
}

void HttpMetrics::render_requests(std::string& out) const {
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    for (std::size_t m = 0; m < kMethods; ++m) {
      for (std::size_t st = 0; st < kStatusSlots; ++st) {
        auto n = sum([&](const Shard& sh) -> const auto& { return sh.stats[i].by_status[m][st]; });
        if (n == 0) continue;
        std::string status =
            st < kStatuses.size() ? std::to_string(kStatuses[st]) : std::to_string(st - kStatuses.size() + 1) + "xx";
        out +=
            fmt::format("fedmesh_http_requests_total{{listener=\"{}\",route=\"{}\",method=\"{}\",status=\"{}\"}} {}\n",
                        listener_, routes_[i], kMethodNames[m], status, n);
      }
    }
  }
}

void HttpMetrics::render_durations(std::string& out) const {
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    auto count = sum([&](const Shard& sh) -> const auto& { return sh.stats[i].count; });
    if (count == 0) continue;
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b <= kBuckets.size(); ++b) {
      cumulative += sum([&](const Shard& sh) -> const auto& { return sh.stats[i].buckets[b]; });
      std::string le = b < kBuckets.size() ? fmt::format("{}", kBuckets[b]) : "+Inf";
      out += fmt::format("fedmesh_http_request_duration_seconds_bucket{{listener=\"{}\",route=\"{}\",le=\"{}\"}} {}\n",
                         listener_, routes_[i], le, cumulative);
    }
    auto micros = sum([&](const Shard& sh) -> const auto& { return sh.stats[i].sum_micros; });
    out += fmt::format("fedmesh_http_request_duration_seconds_sum{{listener=\"{}\",route=\"{}\"}} {}\n", listener_,
                       routes_[i], static_cast<double>(micros) / 1e6);
    out += fmt::format("fedmesh_http_request_duration_seconds_count{{listener=\"{}\",route=\"{}\"}} {}\n", listener_,
                       routes_[i], count);
  }
}

void HttpMetrics::render(const std::vector<const HttpMetrics*>& listeners, std::string& out) {
  out += "# HELP fedmesh_http_requests_total HTTP requests by listener, route, method and status.\n";
  out += "# TYPE fedmesh_http_requests_total counter\n";
  for (const auto* l : listeners) l->render_requests(out);
  out += "# HELP fedmesh_http_request_duration_seconds Time from request header to response written.\n";
  out += "# TYPE fedmesh_http_request_duration_seconds histogram\n";
  for (const auto* l : listeners) l->render_durations(out);
  out += "# HELP fedmesh_http_inflight Requests being served now.\n# TYPE fedmesh_http_inflight gauge\n";
  for (const auto* l : listeners)
    out += fmt::format("fedmesh_http_inflight{{listener=\"{}\"}} {}\n", l->listener_, l->inflight());
  out += "# HELP fedmesh_http_connections Open connections.\n# TYPE fedmesh_http_connections gauge\n";
  for (const auto* l : listeners) {
    std::int64_t connections = 0;
    for (const auto& sh : l->shards_) connections += sh.connections.load(std::memory_order_relaxed);
    out += fmt::format("fedmesh_http_connections{{listener=\"{}\"}} {}\n", l->listener_, connections);
  }
  out +=
      "# HELP fedmesh_http_connections_refused_total Connections closed on accept: the listener held "
      "max_connections.\n";
  out += "# TYPE fedmesh_http_connections_refused_total counter\n";
  for (const auto* l : listeners) {
    std::uint64_t refused = 0;
    for (const auto& sh : l->shards_) refused += sh.connections_refused.load(std::memory_order_relaxed);
    out += fmt::format("fedmesh_http_connections_refused_total{{listener=\"{}\"}} {}\n", l->listener_, refused);
  }
  out += "# HELP fedmesh_tls_refused_total TLS handshakes refused (untrusted, denied or failed).\n";
  out += "# TYPE fedmesh_tls_refused_total counter\n";
  for (const auto* l : listeners) {
    std::uint64_t refused = 0;
    for (const auto& sh : l->shards_) refused += sh.tls_refused.load(std::memory_order_relaxed);
    out += fmt::format("fedmesh_tls_refused_total{{listener=\"{}\"}} {}\n", l->listener_, refused);
  }
}

}  // namespace fedmesh::net
