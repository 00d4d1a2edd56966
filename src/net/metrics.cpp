#include "net/metrics.hpp"

#include <fmt/format.h>

namespace fedmesh::net {

namespace {
constexpr std::array<const char*, 6> kMethodNames = {"GET", "POST", "PUT", "DELETE", "HEAD", "OTHER"};

int method_index(const std::string& m) {
  for (int i = 0; i < 5; ++i) {
    if (m == kMethodNames[i]) return i;
  }
  return 5;
}
}  // namespace

HttpMetrics::HttpMetrics(std::string listener, std::vector<std::string> routes)
    : listener_(std::move(listener)), routes_(std::move(routes)) {
  routes_.push_back("unmatched");
  stats_ = std::make_unique<RouteStats[]>(routes_.size());
}

void HttpMetrics::record(int route, const std::string& method, int status, std::uint64_t micros) {
  if (route < 0 || route >= static_cast<int>(routes_.size())) route = static_cast<int>(routes_.size()) - 1;
  auto& s = stats_[static_cast<std::size_t>(route)];
  if (status < 100 || status > 599) status = 599;
  s.by_status[static_cast<std::size_t>(method_index(method))][static_cast<std::size_t>(status - 100)].fetch_add(
      1, std::memory_order_relaxed);
  double secs = static_cast<double>(micros) / 1e6;
  std::size_t b = 0;
  while (b < kBuckets.size() && secs > kBuckets[b]) ++b;
  s.buckets[b].fetch_add(1, std::memory_order_relaxed);
  s.sum_micros.fetch_add(micros, std::memory_order_relaxed);
  s.count.fetch_add(1, std::memory_order_relaxed);
}

void HttpMetrics::render(std::string& out) const {
  auto r = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  out += "# HELP fedmesh_http_requests_total HTTP requests by listener, route, method and status.\n";
  out += "# TYPE fedmesh_http_requests_total counter\n";
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    for (int m = 0; m < kMethods; ++m) {
      for (int st = 0; st < 500; ++st) {
        auto n = r(stats_[i].by_status[static_cast<std::size_t>(m)][static_cast<std::size_t>(st)]);
        if (n == 0) continue;
        out += fmt::format("fedmesh_http_requests_total{{listener=\"{}\",route=\"{}\",method=\"{}\",status=\"{}\"}} {}\n",
                           listener_, routes_[i], kMethodNames[static_cast<std::size_t>(m)], st + 100, n);
      }
    }
  }
  out += "# HELP fedmesh_http_request_duration_seconds Time from request header to response written.\n";
  out += "# TYPE fedmesh_http_request_duration_seconds histogram\n";
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    auto count = r(stats_[i].count);
    if (count == 0) continue;
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b <= kBuckets.size(); ++b) {
      cumulative += r(stats_[i].buckets[b]);
      std::string le = b < kBuckets.size() ? fmt::format("{}", kBuckets[b]) : "+Inf";
      out += fmt::format("fedmesh_http_request_duration_seconds_bucket{{listener=\"{}\",route=\"{}\",le=\"{}\"}} {}\n",
                         listener_, routes_[i], le, cumulative);
    }
    out += fmt::format("fedmesh_http_request_duration_seconds_sum{{listener=\"{}\",route=\"{}\"}} {}\n", listener_,
                       routes_[i], static_cast<double>(r(stats_[i].sum_micros)) / 1e6);
    out += fmt::format("fedmesh_http_request_duration_seconds_count{{listener=\"{}\",route=\"{}\"}} {}\n", listener_,
                       routes_[i], count);
  }
  out += fmt::format("# TYPE fedmesh_http_inflight gauge\nfedmesh_http_inflight{{listener=\"{}\"}} {}\n", listener_,
                     inflight());
  out += fmt::format("# TYPE fedmesh_http_connections gauge\nfedmesh_http_connections{{listener=\"{}\"}} {}\n",
                     listener_, connections_.load(std::memory_order_relaxed));
  out += fmt::format("# TYPE fedmesh_tls_refused_total counter\nfedmesh_tls_refused_total{{listener=\"{}\"}} {}\n",
                     listener_, tls_refused_.load(std::memory_order_relaxed));
}

}  // namespace fedmesh::net
