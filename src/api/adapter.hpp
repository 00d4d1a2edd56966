// From what a handler computes to what the transport sends, written once: a handler that
// yields Result<json> answers 200 (or `ok_status`) with the value, or the error's HTTP
// status with the error's JSON (core/error_json.hpp). Route files return Results and
// never build error responses by hand.
#pragma once

#include <utility>

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "net/http_types.hpp"

namespace fedmesh::api {

net::Response answer(const Result<nlohmann::json>& result, int ok_status = 200);

// A handler from `fn(Request&) -> awaitable<Result<json>>`.
template <class F>
net::Handler json_route(F fn, int ok_status = 200) {
  return [fn = std::move(fn), ok_status](net::Request& req) -> boost::asio::awaitable<net::Response> {
    auto result = co_await fn(req);
    co_return answer(result, ok_status);
  };
}

}  // namespace fedmesh::api
