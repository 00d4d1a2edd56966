// Skills on both listeners: the operator installs packages, calls skills, fires events
// and reads the ledger; peers call exported skills over mutual TLS.
#include <limits>

#include <boost/asio/use_awaitable.hpp>

#include "api/adapter.hpp"
#include "api/routes.hpp"
#include "core/json.hpp"
#include "core/numbers.hpp"
#include "skills/package.hpp"

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

// An optional integer query parameter, strictly.
Result<long long> integer_param(const Request& req, const char* name, long long lo, long long hi, long long fallback) {
  auto v = req.query_param(name);
  if (!v) return fallback;
  auto n = parse_integer(*v, lo, hi);
  if (!n)
    return make_error(ErrorCode::invalid_argument, std::string(name) + " must be an integer from " +
                                                       std::to_string(lo) + " to " + std::to_string(hi));
  return *n;
}

asio::awaitable<Response> install(Node& node, Request& req) {
  auto body = parse_json_object(req.body, 16);
  if (!body) co_return answer(std::move(body).error());
  auto package = skills::package_from_json(*body);
  if (!package) co_return answer(std::move(package).error());
  json config = body->value("config", json::object());
  if (!config.is_object()) co_return answer(make_error(ErrorCode::bad_json, "field 'config' must be an object"));
  std::string name = package->manifest.name, version = package->manifest.version, hash = package->hash;
  auto outcome = co_await node.skills().install(std::move(*package), config);
  if (!outcome) co_return answer(std::move(outcome).error());
  using Outcome = skills::SkillHost::InstallOutcome;
  const char* text = *outcome == Outcome::installed ? "installed"
                     : *outcome == Outcome::updated ? "updated"
                                                    : "unchanged";
  json out = {{"package", name}, {"version", version}, {"hash", hash}, {"outcome", text}};
  co_return answer(out, *outcome == Outcome::installed ? 201 : 200);
}

}  // namespace

void add_skill_routes(net::Router& r, Node& node) {
  r.add("GET", "/api/v1/skills", json_route([&node](Request&) -> asio::awaitable<Result<json>> {
          co_return json{{"skills", node.skills().skills()}};
        }));
  r.add("POST", "/api/v1/skills/{package}/{skill}", json_route([&node](Request& req) -> asio::awaitable<Result<json>> {
          auto args = call_args(req);
          if (!args) co_return std::move(args).error();
          auto deadline = deadline_from(req, node, "x-fedmesh-timeout-ms");
          if (!deadline) co_return std::move(deadline).error();
          skills::CallContext ctx{skills::Caller{}, *deadline, 0, "", "operator"};
          // Named first: g++ 12 may destroy temporaries in a co_await expression twice.
          std::string package(req.param("package")), skill(req.param("skill"));
          co_return co_await node.skills().invoke(std::move(package), std::move(skill), std::move(*args), ctx);
        }));
  r.add("GET", "/api/v1/packages", json_route([&node](Request&) -> asio::awaitable<Result<json>> {
          co_return json{{"packages", node.skills().packages()}};
        }));
  r.add("POST", "/api/v1/packages", [&node](Request& req) { return install(node, req); });
  r.add("POST", "/api/v1/packages/{name}/resume", json_route([&node](Request& req) -> asio::awaitable<Result<json>> {
          std::string name(req.param("name"));
          auto s = co_await node.skills().resume(std::move(name));
          if (!s) co_return std::move(s).error();
          co_return json{{"resumed", req.param("name")}};
        }));
  r.add("DELETE", "/api/v1/packages/{name}", json_route([&node](Request& req) -> asio::awaitable<Result<json>> {
          std::string name(req.param("name"));
          auto s = co_await node.skills().remove(std::move(name));
          if (!s) co_return std::move(s).error();
          co_return json{{"removed", req.param("name")}};
        }));
  r.add("POST", "/api/v1/events/{name}", json_route([&node](Request& req) -> asio::awaitable<Result<json>> {
          auto payload = call_args(req);
          if (!payload) co_return std::move(payload).error();
          std::string name(req.param("name"));
          co_return co_await node.skills().fire(std::move(name), std::move(*payload));
        }));
  r.add("GET", "/api/v1/ledger", json_route([&node](Request& req) -> asio::awaitable<Result<json>> {
          LedgerQuery q;
          q.skill = req.query_param("skill").value_or("");
          q.status = req.query_param("status").value_or("");
          auto limit = integer_param(req, "limit", 1, 500, 50);
          if (!limit) co_return std::move(limit).error();
          auto before = integer_param(req, "before", 0, std::numeric_limits<long long>::max(), 0);
          if (!before) co_return std::move(before).error();
          q.limit = static_cast<int>(*limit);
          q.before_id = *before;
          co_return co_await node.skills().ledger(q);
        }));
}

void add_federated_skill_routes(net::Router& r, Node& node) {
  r.add("POST", "/fed/v1/skills/{package}/{skill}", json_route([&node](Request& req) -> asio::awaitable<Result<json>> {
          auto args = call_args(req);
          if (!args) co_return std::move(args).error();
          // Federation headers are parsed strictly: a peer must not be able to wrap or lower
          // the depth of its call chain, nor ask for a nonsense deadline.
          auto depth = integer_header(req, "x-fedmesh-depth", 0, 1024, 0);
          if (!depth) co_return std::move(depth).error();
          auto deadline = deadline_from(req, node, "x-fedmesh-deadline-ms");
          if (!deadline) co_return std::move(deadline).error();
          skills::CallContext ctx;
          ctx.caller.local = false;
          ctx.caller.peer = req.peer_name;
          ctx.caller.organization = req.peer_organization;  // from its certificate, never from its hello
          ctx.deadline = *deadline;
          ctx.depth = static_cast<int>(*depth);
          ctx.call_id = std::string(req.header("x-fedmesh-call-id").substr(0, 64));
          ctx.caller_name = req.peer_name;
          // Named first: g++ 12 may destroy temporaries in a co_await expression twice.
          std::string package(req.param("package")), skill(req.param("skill"));
          co_return co_await node.skills().invoke(std::move(package), std::move(skill), std::move(*args), ctx);
        }));
}

}  // namespace fedmesh::api
