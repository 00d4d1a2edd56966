// Federated jobs routes. On the operator listener: submitting jobs and reading them,
// their models and the connected clients (an aggregator), and the worker's status (a
// client). On the federation listener: what clients call (hello, next, result), the only
// routes there open to a jobs client's certificate (net::Audience). On the
// join listener (TLS without client certificates): the CA and joining with a token.
#include <boost/asio/use_awaitable.hpp>

#include "api/adapter.hpp"
#include "api/routes.hpp"
#include "core/numbers.hpp"

namespace fedmesh::api {

namespace asio = boost::asio;
using net::Request;
using json = nlohmann::json;

void add_job_routes(net::Router& r, Node& node) {
  if (auto* agg = node.aggregator()) {
    r.add("POST", "/api/v1/jobs", json_route([agg](Request& req) { return agg->submit(std::move(req.body)); }, 201));
    r.add("GET", "/api/v1/jobs", json_route([agg](Request& req) -> asio::awaitable<Result<json>> {
            auto limit = parse_integer(req.query_param("limit").value_or("100"), 1, 10'000);
            if (!limit)
              co_return make_error(ErrorCode::invalid_argument, "query parameter 'limit' must be from 1 to 10000");
            co_return co_await agg->jobs(static_cast<std::size_t>(*limit));
          }));
    r.add("GET", "/api/v1/jobs/clients", json_route([agg](Request&) { return agg->clients(); }));
    r.add("GET", "/api/v1/jobs/{id}", json_route([agg](Request& req) {
            std::string id(req.param("id"));
            return agg->job(std::move(id));
          }));
    r.add("DELETE", "/api/v1/jobs/{id}", json_route([agg](Request& req) {
            std::string id(req.param("id"));
            return agg->cancel(std::move(id));
          }));
    r.add("GET", "/api/v1/jobs/{id}/model", json_route([agg](Request& req) {
            std::string id(req.param("id"));
            return agg->model(std::move(id));
          }));
  }
  if (auto* worker = node.worker()) {
    r.add("GET", "/api/v1/worker",
          json_route([worker](Request&) -> asio::awaitable<Result<json>> { co_return worker->status(); }));
  }
}

void add_federated_job_routes(net::Router& r, Node& node) {
  auto* agg = node.aggregator();
  if (!agg) return;
  // The only federation routes a jobs client's certificate (`fedmesh join`) reaches.
  constexpr auto clients = net::Audience::nodes_and_jobs_clients;
  r.add("POST", "/fed/v1/jobs/hello", json_route([agg](Request& req) {
          return agg->hello(req.peer_name, req.peer_organization, std::move(req.body));
        }),
        clients);
  r.add("POST", "/fed/v1/jobs/next",
        json_route([agg](Request& req) { return agg->next(req.peer_name, std::move(req.body)); }), clients);
  r.add("POST", "/fed/v1/jobs/result",
        json_route([agg](Request& req) { return agg->result(req.peer_name, std::move(req.body)); }), clients);
}

std::shared_ptr<const net::Router> join_routes(Node& node) {
  auto r = std::make_shared<net::Router>();
  auto* agg = node.aggregator();
  if (!agg) return r;
  r->add("GET", "/fed/v1/jobs/ca",
         json_route([agg](Request&) -> asio::awaitable<Result<json>> { co_return agg->ca(); }));
  r->add("POST", "/fed/v1/jobs/join", json_route([agg](Request& req) { return agg->join(std::move(req.body)); }));
  return r;
}

}  // namespace fedmesh::api
