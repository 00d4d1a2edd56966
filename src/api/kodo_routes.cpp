// Kodo v1's plain-HTTP routes on a registry with `registry.kodo_compat = true`. Bodies
// and answers keep Kodo's JSON shapes (docs/kodo-compat.md); bad input gets a 400 that
// names the field, never a 500.
#include "api/adapter.hpp"
#include "api/kodo_openapi.hpp"
#include "api/routes.hpp"

#include <boost/asio/use_awaitable.hpp>

#include "core/json.hpp"
#include "net/offload.hpp"
#include "registry/kodo.hpp"

namespace fedmesh::api {

namespace asio = boost::asio;
using net::Request;
using net::Response;
using json = nlohmann::json;

namespace {

using Handler = Result<json> (registry::kodo::Gateway::*)(const json&);

// A POST route: a JSON body, handled on the store pool (it writes the store).
net::Handler post(Node& node, Handler handler) {
  return json_route([&node, handler](Request& req) -> asio::awaitable<Result<json>> {
    auto body = parse_json(req.body, 16);
    if (!body) co_return std::move(body).error();
    auto* gateway = node.kodo();
    co_return co_await net::offload(node.io().store(), [&] { return (gateway->*handler)(*body); });
  });
}

}  // namespace

void add_kodo_routes(net::Router& r, Node& node) {
  r.add("POST", "/register", post(node, &registry::kodo::Gateway::register_node));
  r.add("POST", "/connect", post(node, &registry::kodo::Gateway::connect));
  r.add("POST", "/update/node", post(node, &registry::kodo::Gateway::update_node));
  r.add("POST", "/update/registry", post(node, &registry::kodo::Gateway::update_registry));
  // Views that walk the whole catalog run on the store pool, never on an I/O thread.
  auto dump = json_route([&node](Request&) -> asio::awaitable<Result<json>> {
    auto* gateway = node.kodo();
    co_return co_await net::offload(node.io().store(), [gateway] { return gateway->dump(); });
  });
  r.add("GET", "/map", dump);
  // Kodo's cache file is this registry's store: the same dump, read from the catalog.
  r.add("GET", "/_cache", dump);
  r.add("GET", "/flows", [&node](Request& req) -> asio::awaitable<Response> {
    auto q = query_request(req);
    if (!q) co_return answer(std::move(q).error());
    if (q->by.empty()) q->by = "name, node, url";  // Kodo's default order
    registry::QueryLimits limits{node.config().registry.max_page_size};
    auto* gateway = node.kodo();
    auto page = co_await net::offload(node.io().store(), [&] { return gateway->index()->query(*q, limits); });
    if (!page) co_return answer(page);
    for (auto& item : (*page)["items"]) item.erase("status");  // Kodo's items carry no status
    if ((*page)["q"].is_string() && (*page)["q"].get_ref<const std::string&>().empty()) (*page)["q"] = nullptr;
    if (wants_html(req))
      co_return Response::text(200,
                               flows_html(*page, {"registry", "node", "organization", "created", "modified",
                                                  "heartbeat", "url", "name", "author", "description", "tags"}),
                               "text/html; charset=utf-8");
    co_return Response::json(200, *page);
  });
  r.add("GET", "/counts", json_route([&node](Request&) -> asio::awaitable<Result<json>> {
          auto* gateway = node.kodo();
          co_return co_await net::offload(node.io().store(), [gateway] { return gateway->index()->counts(); });
        }));
  // Kodo (a Litestar app) documents its routes at /schema: a page, and the OpenAPI document.
  r.add("GET", "/schema", [](Request&) -> asio::awaitable<Response> {
    static const std::string page = kodo_openapi_html(kodo_openapi());
    co_return Response::text(200, page, "text/html; charset=utf-8");
  });
  r.add("GET", "/schema/openapi.json", [](Request&) -> asio::awaitable<Response> {
    static const std::string document = kodo_openapi().dump();
    co_return Response::text(200, document, "application/vnd.oai.openapi+json");
  });
}

std::shared_ptr<const net::Router> kodo_routes(Node& node) {
  auto r = std::make_shared<net::Router>();
  r->add("GET", "/",
         [&node](Request&) -> asio::awaitable<Response> { co_return Response::json(200, node.kodo()->status()); });
  add_kodo_routes(*r, node);
  return r;
}

}  // namespace fedmesh::api
