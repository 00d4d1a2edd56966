// HttpServer: one listener (plain HTTP or TLS, optionally mutual) serving a Router.
// One coroutine per connection on the IoPool's contexts; every read has a size limit
// and a deadline; auth runs on the header before the body is read. stop() drains:
// it stops accepting, lets in-flight requests finish within a grace period, then
// closes what is left. start()/stop() from one control thread; the rest is internal.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/error.hpp"
#include "net/http_types.hpp"
#include "net/io_pool.hpp"
#include "net/metrics.hpp"
#include "net/router.hpp"
#include "net/tls.hpp"

namespace fedmesh::net {

struct ServerOptions {
  std::string name = "http";  // listener name in logs and metrics
  std::string listen = "127.0.0.1:0";
  std::optional<TlsContext> tls;  // absent: plain HTTP
  bool mutual_tls = false;        // peer certificate name, organization, role go into the Request
  std::size_t max_body = 1 << 20;
  std::size_t max_header = 16 << 10;
  std::chrono::milliseconds request_timeout{10'000};
  std::chrono::milliseconds idle_timeout{60'000};
  // Open connections this listener keeps; a connection accepted beyond it is closed at
  // once (counted as refused), so one listener's flood cannot take every descriptor.
  std::size_t max_connections = 10'000;
  // Runs on the header, before the body is read; a response here is sent instead.
  std::function<std::optional<Response>(const Request&)> authorize;
};

class HttpServer {
 public:
  HttpServer(IoPool& pool, ServerOptions options, std::shared_ptr<const Router> router,
             std::shared_ptr<HttpMetrics> metrics);
  ~HttpServer();

  // Binds and starts accepting; returns the bound port (useful with port 0).
  Result<std::uint16_t> start();
  // Stops accepting, waits up to `grace` for in-flight requests, then closes all.
  void stop(std::chrono::milliseconds grace);
  std::uint16_t port() const;

  struct State;  // shared with connection coroutines

 private:
  std::shared_ptr<State> state_;
};

}  // namespace fedmesh::net
