#include "api/routes.hpp"

#include "api/assets.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/address.hpp"
#include "core/json.hpp"
#include "core/numbers.hpp"
#include "core/version.hpp"
#include "federation/hello.hpp"
#include "net/offload.hpp"
#include "registry/flow_index.hpp"
#include "skills/package.hpp"

#include <limits>

namespace fedmesh::api {

namespace asio = boost::asio;
using net::Request;
using net::Response;
using json = nlohmann::json;

namespace {

// The body of a skill call: a JSON object, or nothing for {}. It is handed to Lua, so it
// is parsed with the depth limit scripts accept.
Result<json> call_args(const Request& req) {
  if (req.body.find_first_not_of(" \t\r\n") == std::string::npos) return json::object();
  return parse_json(req.body, kMaxJsonDepth);
}

// An optional integer header, strictly: absent gives `fallback`; anything but a decimal
// integer within [lo, hi] is refused naming the header.
Result<long long> integer_header(const Request& req, std::string_view name, long long lo, long long hi,
                                 long long fallback) {
  auto text = req.header(name);
  if (text.empty()) return fallback;
  auto v = parse_integer(text, lo, hi);
  if (!v)
    return make_error(ErrorCode::invalid_argument, "header " + std::string(name) + " must be an integer from " +
                                                       std::to_string(lo) + " to " + std::to_string(hi));
  return *v;
}

// A caller's requested deadline (milliseconds header), bounded by the node's maximum.
Result<skills::Clock::time_point> deadline_from(const Request& req, const Node& node, std::string_view header) {
  const auto& sc = node.config().skills;
  auto ms = integer_header(req, header, 0, 86'400'000, sc.timeout.count());
  if (!ms) return std::move(ms).error();
  return skills::Clock::now() + std::min(std::chrono::milliseconds(*ms), sc.max_timeout);
}

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

namespace {

Response skill_response(const Result<json>& r) {
  if (r) return Response::json(200, *r);
  return Response::error(r.error());
}

}  // namespace

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

std::shared_ptr<const net::Router> operator_routes(Node& node) {
  auto r = std::make_shared<net::Router>();
  // The dashboard: static files embedded in the binary; it calls the API like any client.
  r->add("GET", "/", [&node](Request& req) -> asio::awaitable<Response> {
    // With Kodo compatibility, clients that do not ask for HTML get Kodo's status answer.
    if (node.kodo() && req.header("accept").find("text/html") == std::string_view::npos)
      co_return Response::json(200, node.kodo()->status());
    for (const auto& a : assets()) {
      if (a.name == "index.html") co_return Response::text(200, std::string(a.body), std::string(a.content_type));
    }
    co_return Response::error(make_error(ErrorCode::not_found, "dashboard not built in"));
  });
  r->add("GET", "/assets/{name}", [](Request& req) -> asio::awaitable<Response> {
    for (const auto& a : assets()) {
      if (a.name == req.param("name")) {
        auto res = Response::text(200, std::string(a.body), std::string(a.content_type));
        res.headers.emplace_back("Cache-Control", "no-cache");
        co_return res;
      }
    }
    co_return Response::error(make_error(ErrorCode::not_found, "no asset " + std::string(req.param("name"))));
  });
  // Unhealthy (503) when the script pool is wedged: every script thread busy on one step
  // for longer than the node allows, so no skill can run.
  r->add("GET", "/healthz", [&node](Request&) -> asio::awaitable<Response> {
    auto scripts = node.skills().scripts_health();
    bool wedged = scripts["wedged"].get<bool>();
    co_return Response::json(wedged ? 503 : 200, {{"status", wedged ? "unhealthy" : "ok"}, {"scripts", scripts}});
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
  r->add("GET", "/api/v1/skills", [&node](Request&) -> asio::awaitable<Response> {
    co_return Response::json(200, {{"skills", node.skills().skills()}});
  });
  r->add("POST", "/api/v1/skills/{package}/{skill}", [&node](Request& req) -> asio::awaitable<Response> {
    auto args = call_args(req);
    if (!args) co_return Response::error(args.error());
    auto deadline = deadline_from(req, node, "x-fedmesh-timeout-ms");
    if (!deadline) co_return Response::error(deadline.error());
    skills::CallContext ctx{skills::Caller{}, *deadline, 0, "", "operator"};
    co_return skill_response(co_await node.skills().invoke(std::string(req.param("package")),
                                                           std::string(req.param("skill")), std::move(*args), ctx));
  });
  r->add("GET", "/api/v1/packages", [&node](Request&) -> asio::awaitable<Response> {
    co_return Response::json(200, {{"packages", node.skills().packages()}});
  });
  r->add("POST", "/api/v1/packages", [&node](Request& req) -> asio::awaitable<Response> {
    auto body = parse_json_object(req.body, 16);
    if (!body) co_return Response::error(body.error());
    auto package = skills::package_from_json(*body);
    if (!package) co_return Response::error(package.error());
    json config = body->value("config", json::object());
    if (!config.is_object())
      co_return Response::error(make_error(ErrorCode::bad_json, "field 'config' must be an object"));
    std::string name = package->manifest.name, version = package->manifest.version, hash = package->hash;
    auto outcome = co_await node.skills().install(std::move(*package), config);
    if (!outcome) co_return Response::error(outcome.error());
    const char* text = *outcome == skills::SkillHost::InstallOutcome::installed ? "installed"
                       : *outcome == skills::SkillHost::InstallOutcome::updated ? "updated"
                                                                                : "unchanged";
    int status = *outcome == skills::SkillHost::InstallOutcome::installed ? 201 : 200;
    co_return Response::json(status, {{"package", name}, {"version", version}, {"hash", hash}, {"outcome", text}});
  });
  r->add("POST", "/api/v1/packages/{name}/resume", [&node](Request& req) -> asio::awaitable<Response> {
    auto s = co_await node.skills().resume(std::string(req.param("name")));
    if (!s) co_return Response::error(s.error());
    co_return Response::json(200, {{"resumed", req.param("name")}});
  });
  r->add("DELETE", "/api/v1/packages/{name}", [&node](Request& req) -> asio::awaitable<Response> {
    auto s = co_await node.skills().remove(std::string(req.param("name")));
    if (!s) co_return Response::error(s.error());
    co_return Response::json(200, {{"removed", req.param("name")}});
  });
  r->add("POST", "/api/v1/events/{name}", [&node](Request& req) -> asio::awaitable<Response> {
    auto payload = call_args(req);
    if (!payload) co_return Response::error(payload.error());
    co_return Response::json(200, co_await node.skills().fire(std::string(req.param("name")), std::move(*payload)));
  });
  r->add("GET", "/api/v1/ledger", [&node](Request& req) -> asio::awaitable<Response> {
    LedgerQuery q;
    q.skill = req.query_param("skill").value_or("");
    q.status = req.query_param("status").value_or("");
    auto number = [&](const char* name, long long lo, long long hi, long long def) -> std::optional<long long> {
      auto v = req.query_param(name);
      if (!v) return def;
      return parse_integer(*v, lo, hi);
    };
    auto limit = number("limit", 1, 500, 50);
    auto before = number("before", 0, std::numeric_limits<long long>::max(), 0);
    if (!limit || !before)
      co_return Response::error(make_error(ErrorCode::invalid_argument, "limit is 1-500 and before a ledger id"));
    q.limit = static_cast<int>(*limit);
    q.before_id = *before;
    auto page = co_await node.skills().ledger(q);
    if (!page) co_return Response::error(page.error());
    co_return Response::json(200, *page);
  });
  if (auto* catalog = node.catalog()) {
    r->add("GET", "/api/v1/registry/flows", [&node, catalog](Request& req) -> asio::awaitable<Response> {
      auto q = query_request(req);
      if (!q) co_return Response::error(q.error());
      registry::QueryLimits limits{node.config().registry.max_page_size};
      auto page = co_await net::offload(node.io().store(), [&] { return catalog->query(*q, limits); });
      if (!page) co_return Response::error(page.error());
      bool html = wants_html(req);
      if (html)
        co_return Response::text(200,
                                 flows_html(*page, {"name", "node", "organization", "author", "description", "tags",
                                                    "status", "modified", "heartbeat"}),
                                 "text/html; charset=utf-8");
      co_return Response::json(200, *page);
    });
    r->add("GET", "/api/v1/registry/peers", [&node](Request&) -> asio::awaitable<Response> {
      co_return Response::json(200, {{"peers", node.mesh() ? node.mesh()->peers_json() : json::array()}});
    });
    r->add("GET", "/api/v1/registry/counts", [&node, catalog](Request&) -> asio::awaitable<Response> {
      auto counts = co_await net::offload(node.io().store(), [&] { return catalog->counts(); });
      co_return Response::json(200, counts);
    });
    r->add("GET", "/api/v1/registry/nodes", [&node, catalog](Request&) -> asio::awaitable<Response> {
      auto nodes = co_await net::offload(node.io().store(), [catalog] { return catalog->nodes(); });
      co_return Response::json(200, {{"nodes", std::move(nodes)}});
    });
    r->add("GET", "/api/v1/registry/nodes/{name}", [catalog](Request& req) -> asio::awaitable<Response> {
      auto n = catalog->node(std::string(req.param("name")));
      if (!n)
        co_return Response::error(
            make_error(ErrorCode::not_found, "no node '" + std::string(req.param("name")) + "' in the catalog"));
      co_return Response::json(200, *n);
    });
  }
  if (node.kodo()) add_kodo_routes(*r, node);
  if (node.config().http.debug_routes) {
    // Sleeps ?ms=N (at most 60 s) then answers: lets tests hold a request in flight.
    r->add("POST", "/api/v1/debug/sleep", [](Request& req) -> asio::awaitable<Response> {
      auto ms = parse_integer(req.query_param("ms").value_or("0"), 0, 60'000);
      if (!ms)
        co_return Response::error(make_error(ErrorCode::invalid_argument, "ms must be an integer from 0 to 60000"));
      asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(*ms));
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      co_return Response::json(200, {{"slept_ms", *ms}});
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
    auto mine = co_await node.peer_manager().on_hello(req.peer_name, req.peer_organization, std::move(*hello));
    if (!mine) co_return Response::error(mine.error());
    co_return Response::json(200, mine->to_json());
  });
  r->add("POST", "/fed/v1/skills/{package}/{skill}", [&node](Request& req) -> asio::awaitable<Response> {
    auto args = call_args(req);
    if (!args) co_return Response::error(args.error());
    // Federation headers are parsed strictly: a peer must not be able to wrap or lower
    // the depth of its call chain, nor ask for a nonsense deadline.
    auto depth = integer_header(req, "x-fedmesh-depth", 0, 1024, 0);
    if (!depth) co_return Response::error(depth.error());
    auto deadline = deadline_from(req, node, "x-fedmesh-deadline-ms");
    if (!deadline) co_return Response::error(deadline.error());
    skills::CallContext ctx;
    ctx.caller.local = false;
    ctx.caller.peer = req.peer_name;
    ctx.caller.organization = req.peer_organization;  // from its certificate, never from its hello
    ctx.deadline = *deadline;
    ctx.depth = static_cast<int>(*depth);
    ctx.call_id = std::string(req.header("x-fedmesh-call-id").substr(0, 64));
    ctx.caller_name = req.peer_name;
    co_return skill_response(co_await node.skills().invoke(std::string(req.param("package")),
                                                           std::string(req.param("skill")), std::move(*args), ctx));
  });
  if (auto* catalog = node.catalog()) {
    // The sender is who its certificate says: a node can only (de)register itself.
    r->add("POST", "/fed/v1/registry/register", [&node, catalog](Request& req) -> asio::awaitable<Response> {
      auto body = parse_json_object(req.body, 16);
      if (!body) co_return Response::error(body.error());
      auto url = body->value("url", "");
      auto organization = body->contains("organization") && (*body)["organization"].is_string()
                              ? (*body)["organization"].get<std::string>()
                              : std::string();
      auto parsed = parse_url(url);
      if (url.size() > 2048 || !parsed || parsed->scheme != "https" || organization.size() > 256)
        co_return Response::error(
            make_error(ErrorCode::bad_json, "field 'url' must be an https URL and 'organization' a short string"));
      // The organization is the certificate's; a registration claiming another is refused.
      if (!req.peer_organization.empty()) {
        if (!organization.empty() && organization != req.peer_organization)
          co_return Response::error(make_error(
              ErrorCode::forbidden,
              "organization '" + organization + "' is not the certificate's ('" + req.peer_organization + "')"));
        organization = req.peer_organization;
      }
      auto flows = registry::decode_flows(body->value("flows", json::array()));
      if (!flows) co_return Response::error(flows.error());
      std::string name = req.peer_name;
      auto r = co_await net::offload(
          node.io().store(), [&] { return catalog->register_node(name, url, organization, std::move(*flows)); });
      if (!r) co_return Response::error(r.error());
      std::string message = "registered node " + name +
                            (r->first ? std::string(" (first visit)") : " (seen previously " + r->created + ")");
      co_return Response::json(200, {{"created", r->created}, {"modified", r->modified}, {"message", message}});
    });
    // Registry-to-registry: only the configured registry peers may send these.
    auto mesh_call = [&node](Request& req, bool digest) -> asio::awaitable<Response> {
      auto* mesh = node.mesh();
      if (!mesh || !mesh->is_peer(req.peer_name))
        co_return Response::error(make_error(
            ErrorCode::forbidden, "'" + req.peer_name + "' is not a registry peer of " + node.config().name));
      auto body = parse_json_object(req.body, 16);
      if (!body) co_return Response::error(body.error());
      Result<json> r = json();
      if (digest) {
        r = co_await mesh->on_digest(req.peer_name, std::move(*body));
      } else {
        r = co_await mesh->on_sync(req.peer_name, std::move(*body));
      }
      if (!r) co_return Response::error(r.error());
      co_return Response::json(200, *r);
    };
    r->add("POST", "/fed/v1/registry/sync",
           [mesh_call](Request& req) -> asio::awaitable<Response> { co_return co_await mesh_call(req, false); });
    r->add("POST", "/fed/v1/registry/digest",
           [mesh_call](Request& req) -> asio::awaitable<Response> { co_return co_await mesh_call(req, true); });
    r->add("POST", "/fed/v1/registry/find", [catalog](Request& req) -> asio::awaitable<Response> {
      auto body = parse_json_object(req.body, 4);
      if (!body) co_return Response::error(body.error());
      auto skill = string_member(*body, "skill", 127);
      if (!skill) co_return Response::error(skill.error());
      co_return Response::json(200, {{"providers", catalog->providers(*skill)}});
    });
    r->add("POST", "/fed/v1/registry/heartbeat", [&node, catalog](Request& req) -> asio::awaitable<Response> {
      std::string name = req.peer_name;
      auto known = co_await net::offload(node.io().store(), [&] { return catalog->heartbeat(name); });
      if (!known) co_return Response::error(known.error());
      if (!*known)
        co_return Response::error(
            make_error(ErrorCode::not_found, "node " + name + " is not registered; register first"));
      co_return Response::json(200, {{"heartbeat", "ok"}});
    });
    r->add("POST", "/fed/v1/registry/deregister", [&node, catalog](Request& req) -> asio::awaitable<Response> {
      std::string name = req.peer_name;
      auto known = co_await net::offload(node.io().store(), [&] { return catalog->deregister(name); });
      if (!known) co_return Response::error(known.error());
      if (!*known) co_return Response::error(make_error(ErrorCode::not_found, "node " + name + " is not registered"));
      co_return Response::json(200, {{"deregistered", name}});
    });
  }
  r->add("GET", "/fed/v1/ping", [&node](Request& req) -> asio::awaitable<Response> {
    co_return Response::json(200, {{"name", node.config().name}, {"caller", req.peer_name}});
  });
  return r;
}

}  // namespace fedmesh::api
