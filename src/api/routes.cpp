#include "api/routes.hpp"

#include <boost/asio/use_awaitable.hpp>

#include "api/adapter.hpp"
#include "federation/hello.hpp"

namespace fedmesh::api {

namespace asio = boost::asio;
using net::Request;
using json = nlohmann::json;

std::shared_ptr<const net::Router> operator_routes(Node& node) {
  auto r = std::make_shared<net::Router>();
  add_node_routes(*r, node);
  add_skill_routes(*r, node);
  if (node.catalog()) add_registry_routes(*r, node);
  if (node.kodo()) add_kodo_routes(*r, node);
  add_job_routes(*r, node);
  add_data_routes(*r, node);  // last: Rhizome's /api/{collection}/{id} would shadow the routes above
  return r;
}

std::shared_ptr<const net::Router> federation_routes(Node& node) {
  auto r = std::make_shared<net::Router>();
  r->add("POST", "/fed/v1/hello", json_route([&node](Request& req) -> asio::awaitable<Result<json>> {
           auto hello = federation::decode_hello(req.body);
           if (!hello) co_return std::move(hello).error();
           auto mine = co_await node.peer_manager().on_hello(req.peer_name, req.peer_organization, std::move(*hello));
           if (!mine) co_return std::move(mine).error();
           co_return mine->to_json();
         }));
  r->add("GET", "/fed/v1/ping", json_route([&node](Request& req) -> asio::awaitable<Result<json>> {
           co_return json{{"name", node.config().name}, {"caller", req.peer_name}};
         }));
  add_federated_skill_routes(*r, node);
  if (node.catalog()) add_federated_registry_routes(*r, node);
  add_federated_data_routes(*r, node);
  add_federated_job_routes(*r, node);
  return r;
}

}  // namespace fedmesh::api
