// Registry routes. On the operator listener: flow queries in JSON or HTML, counts, nodes
// and the mesh's peers. On the federation listener: registration, heartbeats and
// deregistration (a node only ever speaks for itself: its certificate names it), fed.find,
// and the registry mesh (configured registry peers only).
#include <boost/asio/use_awaitable.hpp>

#include "api/adapter.hpp"
#include "api/routes.hpp"
#include "core/address.hpp"
#include "core/json.hpp"
#include "core/numbers.hpp"
#include "net/offload.hpp"

namespace fedmesh::api {

namespace asio = boost::asio;
using net::Request;
using net::Response;
using json = nlohmann::json;

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

// A registration body: an https URL, the certificate's organization, the flows.
asio::awaitable<Result<json>> register_node(Node& node, Request& req) {
  auto* catalog = node.catalog();
  auto body = parse_json_object(req.body, 16);
  if (!body) co_return std::move(body).error();
  auto url = string_or(*body, "url");
  auto organization = body->contains("organization") && (*body)["organization"].is_string()
                          ? (*body)["organization"].get<std::string>()
                          : std::string();
  auto parsed = parse_url(url);
  if (url.size() > 2048 || !parsed || parsed->scheme != "https" || organization.size() > 256)
    co_return make_error(ErrorCode::bad_json, "field 'url' must be an https URL and 'organization' a short string");
  // The organization is the certificate's; a registration claiming another is refused.
  if (!req.peer_organization.empty()) {
    if (!organization.empty() && organization != req.peer_organization)
      co_return make_error(ErrorCode::forbidden, "organization '" + organization + "' is not the certificate's ('" +
                                                     req.peer_organization + "')");
    organization = req.peer_organization;
  }
  auto flows = registry::decode_flows(body->value("flows", json::array()));
  if (!flows) co_return std::move(flows).error();
  std::string name = req.peer_name;
  auto r = co_await net::offload(node.io().store(),
                                 [&] { return catalog->register_node(name, url, organization, std::move(*flows)); });
  if (!r) co_return std::move(r).error();
  std::string message =
      "registered node " + name + (r->first ? std::string(" (first visit)") : " (seen previously " + r->created + ")");
  co_return json{{"created", r->created}, {"modified", r->modified}, {"message", message}};
}

// Registry-to-registry: only the configured registry peers may send these.
asio::awaitable<Result<json>> mesh_call(Node& node, Request& req, bool digest) {
  auto* mesh = node.mesh();
  if (!mesh || !mesh->is_peer(req.peer_name))
    co_return make_error(ErrorCode::forbidden,
                         "'" + req.peer_name + "' is not a registry peer of " + node.config().name);
  auto body = parse_json_object(req.body, 16);
  if (!body) co_return std::move(body).error();
  if (digest) co_return co_await mesh->on_digest(req.peer_name, std::move(*body));
  co_return co_await mesh->on_sync(req.peer_name, std::move(*body));
}

// A heartbeat or a deregistration of the calling node.
asio::awaitable<Result<json>> own_entry(Node& node, Request& req, bool deregister) {
  auto* catalog = node.catalog();
  std::string name = req.peer_name;
  auto known = co_await net::offload(node.io().store(),
                                     [&] { return deregister ? catalog->deregister(name) : catalog->heartbeat(name); });
  if (!known) co_return std::move(known).error();
  if (!*known)
    co_return make_error(ErrorCode::not_found,
                         "node " + name + " is not registered" + (deregister ? "" : "; register first"));
  if (deregister) co_return json{{"deregistered", name}};
  co_return json{{"heartbeat", "ok"}};
}

}  // namespace

// The same rows as the JSON answer, as an HTML table with these columns.
std::string flows_html(const json& page, const std::vector<std::string>& cols) {
  std::string html =
      "<!doctype html><html><head><meta charset=\"utf-8\"><title>fedmesh registry</title>"
      "<link rel=\"stylesheet\" href=\"/assets/style.css\"></head><body><main><section class=\"card wide\">";
  html += "<h2>Flows: " + std::to_string(page["filtered"].get<long long>()) + " of " +
          std::to_string(page["total"].get<long long>()) + "</h2>";
  if (page.contains("parse_error"))
    html += "<p class=\"muted\">q did not parse (" + html_escape(page["parse_error"].get<std::string>()) +
            "); full-text search used.</p>";
  html += "<table><thead><tr>";
  for (const auto& c : cols) html += "<th>" + c + "</th>";
  html += "</tr></thead><tbody>";
  for (const auto& item : page["items"]) {
    html += "<tr>";
    for (const auto& c : cols) {
      std::string v;
      if (c == "tags") {
        for (const auto& t : item["tags"]) v += (v.empty() ? "" : ", ") + t.get<std::string>();
      } else if (item.contains(c) && item[c].is_string()) {
        v = item[c].get<std::string>();
      }
      html += "<td>" + html_escape(v) + "</td>";
    }
    html += "</tr>";
  }
  html += "</tbody></table></section></main></body></html>";
  return html;
}

Result<registry::QueryRequest> query_request(const Request& req) {
  registry::QueryRequest q;
  q.q = req.query_param("q").value_or("");
  q.by = req.query_param("by").value_or("");
  // Checked strictly here; the query checks pp against the node's page size limit.
  for (auto [name, field, hi] :
       {std::tuple<const char*, long long*, long long>{"p", &q.page, 1'000'000'000}, {"pp", &q.page_size, 1'000'000}}) {
    auto v = req.query_param(name);
    if (!v) continue;
    auto n = parse_integer(*v, 0, hi);
    if (!n)
      return make_error(ErrorCode::invalid_argument,
                        std::string(name) + " must be an integer from 0 to " + std::to_string(hi));
    *field = *n;
  }
  return q;
}

bool wants_html(const Request& req) {
  auto format = req.query_param("format");
  return format.value_or("") == "html" || (req.header("accept").find("text/html") != std::string_view::npos && !format);
}

void add_registry_routes(net::Router& r, Node& node) {
  auto* catalog = node.catalog();
  r.add("GET", "/api/v1/registry/flows", [&node, catalog](Request& req) -> asio::awaitable<Response> {
    auto q = query_request(req);
    if (!q) co_return answer(std::move(q).error());
    registry::QueryLimits limits{node.config().registry.max_page_size};
    auto page = co_await net::offload(node.io().store(), [&] { return catalog->query(*q, limits); });
    if (!page || !wants_html(req)) co_return answer(page);
    co_return Response::text(200,
                             flows_html(*page, {"name", "node", "organization", "author", "description", "tags",
                                                "status", "modified", "heartbeat"}),
                             "text/html; charset=utf-8");
  });
  r.add("GET", "/api/v1/registry/peers", json_route([&node](Request&) -> asio::awaitable<Result<json>> {
          co_return json{{"peers", node.mesh() ? node.mesh()->peers_json() : json::array()}};
        }));
  r.add("GET", "/api/v1/registry/counts", json_route([&node, catalog](Request&) -> asio::awaitable<Result<json>> {
          co_return co_await net::offload(node.io().store(), [&] { return catalog->counts(); });
        }));
  r.add("GET", "/api/v1/registry/nodes", json_route([&node, catalog](Request&) -> asio::awaitable<Result<json>> {
          auto nodes = co_await net::offload(node.io().store(), [catalog] { return catalog->nodes(); });
          co_return json{{"nodes", std::move(nodes)}};
        }));
  r.add("GET", "/api/v1/registry/nodes/{name}", json_route([catalog](Request& req) -> asio::awaitable<Result<json>> {
          auto n = catalog->node(std::string(req.param("name")));
          if (!n)
            co_return make_error(ErrorCode::not_found,
                                 "no node '" + std::string(req.param("name")) + "' in the catalog");
          co_return *n;
        }));
}

void add_federated_registry_routes(net::Router& r, Node& node) {
  auto* catalog = node.catalog();
  r.add("POST", "/fed/v1/registry/register", json_route([&node](Request& req) { return register_node(node, req); }));
  r.add("POST", "/fed/v1/registry/sync", json_route([&node](Request& req) { return mesh_call(node, req, false); }));
  r.add("POST", "/fed/v1/registry/digest", json_route([&node](Request& req) { return mesh_call(node, req, true); }));
  r.add("POST", "/fed/v1/registry/find", json_route([catalog](Request& req) -> asio::awaitable<Result<json>> {
          auto body = parse_json_object(req.body, 4);
          if (!body) co_return std::move(body).error();
          auto skill = string_member(*body, "skill", 127);
          if (!skill) co_return std::move(skill).error();
          co_return json{{"providers", catalog->providers(*skill)}};
        }));
  r.add("POST", "/fed/v1/registry/heartbeat",
        json_route([&node](Request& req) { return own_entry(node, req, false); }));
  r.add("POST", "/fed/v1/registry/deregister",
        json_route([&node](Request& req) { return own_entry(node, req, true); }));
}

}  // namespace fedmesh::api
