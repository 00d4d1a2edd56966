#include "api/routes.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/json.hpp"
#include "core/version.hpp"
#include "federation/hello.hpp"

namespace fedmesh::api {

namespace asio = boost::asio;
using net::Request;
using net::Response;

std::shared_ptr<const net::Router> operator_routes(Node& node) {
  auto r = std::make_shared<net::Router>();
  r->add("GET", "/healthz", [](Request&) -> asio::awaitable<Response> {
    co_return Response::json(200, {{"status", "ok"}});
  });
  r->add("GET", "/api/v1/status", [&node](Request&) -> asio::awaitable<Response> {
    co_return Response::text(200, node.status_text(), "application/json");
  });
  r->add("GET", "/api/v1/peers",
         [&node](Request&) -> asio::awaitable<Response> { co_return Response::json(200, node.peers()); });
  r->add("GET", "/metrics", [&node](Request&) -> asio::awaitable<Response> {
    co_return Response::text(200, node.metrics_text(), "text/plain; version=0.0.4; charset=utf-8");
  });
  r->add("GET", "/api/v1/version", [](Request&) -> asio::awaitable<Response> {
    co_return Response::json(200, {{"version", kVersion}});
  });
  if (node.config().http.debug_routes) {
    // Sleeps ?ms=N (at most 60 s) then answers: lets tests hold a request in flight.
    r->add("POST", "/api/v1/debug/sleep", [](Request& req) -> asio::awaitable<Response> {
      auto text = req.query_param("ms").value_or("0");
      char* end = nullptr;
      long ms = std::strtol(text.c_str(), &end, 10);
      if (end == text.c_str() || *end != '\0' || ms < 0 || ms > 60'000)
        co_return Response::error(make_error(ErrorCode::invalid_argument, "ms must be an integer from 0 to 60000"));
      asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(ms));
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      co_return Response::json(200, {{"slept_ms", ms}});
    });
    r->add("POST", "/api/v1/debug/echo", [](Request& req) -> asio::awaitable<Response> {
      auto body = parse_json(req.body);
      if (!body) co_return Response::error(body.error());
      co_return Response::json(200, *body);
    });
  }
  return r;
}

std::shared_ptr<const net::Router> federation_routes(Node& node) {
  auto r = std::make_shared<net::Router>();
  r->add("POST", "/fed/v1/hello", [&node](Request& req) -> asio::awaitable<Response> {
    auto hello = federation::decode_hello(req.body);
    if (!hello) co_return Response::error(hello.error());
    auto mine = co_await node.peer_manager().on_hello(req.peer_name, std::move(*hello));
    if (!mine) co_return Response::error(mine.error());
    co_return Response::json(200, mine->to_json());
  });
  r->add("GET", "/fed/v1/ping", [&node](Request& req) -> asio::awaitable<Response> {
    co_return Response::json(200, {{"name", node.config().name}, {"caller", req.peer_name}});
  });
  return r;
}

}  // namespace fedmesh::api
