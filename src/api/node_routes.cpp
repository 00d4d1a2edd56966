// The node's own routes on the operator listener: the dashboard, health, status, peers,
// metrics and version, and (for tests) the debug routes.
#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "api/adapter.hpp"
#include "api/assets.hpp"
#include "api/routes.hpp"
#include "core/json.hpp"
#include "core/numbers.hpp"
#include "core/version.hpp"

namespace fedmesh::api {

namespace asio = boost::asio;
using net::Request;
using net::Response;
using json = nlohmann::json;

void add_node_routes(net::Router& r, Node& node) {
  // The dashboard: static files embedded in the binary; it calls the API like any client.
  r.add("GET", "/", [&node](Request& req) -> asio::awaitable<Response> {
    // With Kodo compatibility, clients that do not ask for HTML get Kodo's status answer.
    if (node.kodo() && req.header("accept").find("text/html") == std::string_view::npos)
      co_return Response::json(200, node.kodo()->status());
    for (const auto& a : assets()) {
      if (a.name == "index.html") co_return Response::text(200, std::string(a.body), std::string(a.content_type));
    }
    co_return Response::error(make_error(ErrorCode::not_found, "dashboard not built in"));
  });
  r.add("GET", "/assets/{name}", [](Request& req) -> asio::awaitable<Response> {
    for (const auto& a : assets()) {
      if (a.name == req.param("name")) {
        auto res = Response::text(200, std::string(a.body), std::string(a.content_type));
        res.headers.emplace_back("Cache-Control", "no-cache");
        co_return res;
      }
    }
    co_return Response::error(make_error(ErrorCode::not_found, "no asset " + std::string(req.param("name"))));
  });
  // Unhealthy (503) when the script pool is wedged (every script thread busy on one step
  // for longer than skills.wedged_after, so no skill can run) or when the store pool has
  // not started new work for that long (reads and writes wait). Degraded (200) when the
  // queries or compute pool is that busy: data queries or jobs' checks queue.
  r.add("GET", "/healthz", [&node](Request&) -> asio::awaitable<Response> {
    auto scripts = node.skills().scripts_health();
    auto pools = node.pools_health();
    bool wedged = scripts["wedged"].get<bool>();
    bool store_busy = pools.contains("store") && pools["store"]["busy"].get<bool>();
    bool busy = node.pools_busy();
    std::string status = "ok";
    if (wedged || store_busy) {
      status = "unhealthy";
    } else if (busy) {
      status = "degraded";
    }
    co_return Response::json(status == "unhealthy" ? 503 : 200,
                             {{"status", status}, {"scripts", scripts}, {"pools", pools}});
  });
  r.add("GET", "/api/v1/status", [&node](Request&) -> asio::awaitable<Response> {
    co_return Response::text(200, node.status_text(), "application/json");
  });
  r.add("GET", "/api/v1/peers",
        json_route([&node](Request&) -> asio::awaitable<Result<json>> { co_return node.peers(); }));
  r.add("GET", "/metrics", [&node](Request&) -> asio::awaitable<Response> {
    co_return Response::text(200, node.metrics_text(), "text/plain; version=0.0.4; charset=utf-8");
  });
  r.add("GET", "/api/v1/version", json_route([](Request&) -> asio::awaitable<Result<json>> {
          co_return json{{"version", kVersion}};
        }));
  if (!node.config().http.debug_routes) return;
  spdlog::warn(
      "http.debug_routes is on: anyone who reaches {} can hold requests open (POST /api/v1/debug/sleep) "
      "and echo bodies (POST /api/v1/debug/echo); for tests, never in production",
      node.config().http.listen);
  // Sleeps ?ms=N (at most 60 s) then answers: lets tests hold a request in flight.
  r.add("POST", "/api/v1/debug/sleep", json_route([](Request& req) -> asio::awaitable<Result<json>> {
          auto ms = parse_integer(req.query_param("ms").value_or("0"), 0, 60'000);
          if (!ms) co_return make_error(ErrorCode::invalid_argument, "ms must be an integer from 0 to 60000");
          asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(*ms));
          co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
          co_return json{{"slept_ms", *ms}};
        }));
  r.add("POST", "/api/v1/debug/echo",
        json_route([](Request& req) -> asio::awaitable<Result<json>> { co_return parse_json(req.body); }));
}

}  // namespace fedmesh::api
