#include "api/routes.hpp"

#include "api/assets.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/json.hpp"
#include "core/version.hpp"
#include "federation/hello.hpp"
#include "skills/package.hpp"

#include <limits>

namespace fedmesh::api {

namespace asio = boost::asio;
using net::Request;
using net::Response;
using json = nlohmann::json;

namespace {

// The body of a skill call: a JSON object, or nothing for {}.
Result<json> call_args(const Request& req) {
  if (req.body.find_first_not_of(" \t\r\n") == std::string::npos) return json::object();
  return parse_json(req.body, 64);
}

// A caller's requested deadline (milliseconds header), bounded by the node's maximum.
skills::Clock::time_point deadline_from(const Request& req, const Node& node, std::string_view header) {
  const auto& sc = node.config().skills;
  auto ms = sc.timeout;
  auto text = req.header(header);
  if (!text.empty()) {
    long long v = std::atoll(std::string(text).c_str());
    if (v >= 0) ms = std::min(std::chrono::milliseconds(v), sc.max_timeout);
  }
  return skills::Clock::now() + ms;
}

Response skill_response(const Result<json>& r) {
  if (r) return Response::json(200, *r);
  return Response::error(r.error());
}

}  // namespace

std::shared_ptr<const net::Router> operator_routes(Node& node) {
  auto r = std::make_shared<net::Router>();
  // The dashboard: static files embedded in the binary; it calls the API like any client.
  r->add("GET", "/", [](Request&) -> asio::awaitable<Response> {
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
  r->add("GET", "/api/v1/skills", [&node](Request&) -> asio::awaitable<Response> {
    co_return Response::json(200, {{"skills", node.skills().skills()}});
  });
  r->add("POST", "/api/v1/skills/{package}/{skill}", [&node](Request& req) -> asio::awaitable<Response> {
    auto args = call_args(req);
    if (!args) co_return Response::error(args.error());
    skills::CallContext ctx{skills::Caller{}, deadline_from(req, node, "x-fedmesh-timeout-ms"), 0, "", "operator"};
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
      char* end = nullptr;
      long long n = std::strtoll(v->c_str(), &end, 10);
      if (v->empty() || *end != '\0' || n < lo || n > hi) return std::nullopt;
      return n;
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
  r->add("POST", "/fed/v1/skills/{package}/{skill}", [&node](Request& req) -> asio::awaitable<Response> {
    auto args = call_args(req);
    if (!args) co_return Response::error(args.error());
    skills::CallContext ctx;
    ctx.caller.local = false;
    ctx.caller.peer = req.peer_name;
    if (auto info = node.peer_manager().find(req.peer_name)) ctx.caller.organization = info->organization;
    ctx.deadline = deadline_from(req, node, "x-fedmesh-deadline-ms");
    ctx.depth = std::atoi(std::string(req.header("x-fedmesh-depth")).c_str());
    ctx.call_id = std::string(req.header("x-fedmesh-call-id").substr(0, 64));
    ctx.caller_name = req.peer_name;
    co_return skill_response(co_await node.skills().invoke(std::string(req.param("package")),
                                                           std::string(req.param("skill")), std::move(*args), ctx));
  });
  r->add("GET", "/fed/v1/ping", [&node](Request& req) -> asio::awaitable<Response> {
    co_return Response::json(200, {{"name", node.config().name}, {"caller", req.peer_name}});
  });
  return r;
}

}  // namespace fedmesh::api
