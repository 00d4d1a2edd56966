#include "skills/fed_calls.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/error_json.hpp"
#include "core/json.hpp"

namespace fedmesh::skills {

namespace asio = boost::asio;
using json = nlohmann::json;

Error with_origin(Error e, const std::string& node, const std::string& skill) {
  if (e.context_value("node").empty()) e.with("node", node);
  if (e.context_value("skill").empty()) e.with("skill", skill);
  return e;
}

FedCalls::FedCalls(federation::PeerManager& peers, const SkillHostOptions& options, Record record)
    : peers_(peers), options_(options), record_(std::move(record)) {}

std::chrono::milliseconds FedCalls::remaining_for_hop(Clock::time_point deadline, Clock::time_point now,
                                                      std::chrono::milliseconds max) {
  constexpr std::chrono::milliseconds kReturnMargin{5};
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now) - kReturnMargin;
  return std::min(left, max);
}

asio::awaitable<Result<json>> FedCalls::find(std::string skill, const CallContext& ctx) {
  if (options_.registries.empty())
    co_return make_error(ErrorCode::not_found, "fed.find: this node lists no registries ([discovery] registries)");
  Error last = make_error(ErrorCode::peer_unavailable, "no registry answered");
  for (const auto& registry : options_.registries) {
    net::ClientRequest req;
    req.method = "POST";
    req.target = "/fed/v1/registry/find";
    req.body = dump_json(json{{"skill", skill}});
    req.idempotent = true;
    auto res = co_await peers_.send(registry, std::move(req), ctx.deadline);
    if (!res) {
      last = std::move(res).error();
      continue;
    }
    auto body = parse_json_object(res->body, 16);
    if (res->status != 200 || !body || !(*body)["providers"].is_array()) {
      last =
          make_error(ErrorCode::peer_unavailable, "registry " + registry + " answered " + std::to_string(res->status));
      continue;
    }
    json providers = json::array();
    for (const auto& p : (*body)["providers"]) {
      if (!p.is_object() || !p.contains("name") || !p["name"].is_string() || !p.contains("url") ||
          !p["url"].is_string())
        continue;
      std::string name = p["name"], url = p["url"];
      if (name == options_.node_name) continue;
      peers_.remember_endpoint(name, url);  // so fed.call can reach it by name
      providers.push_back({{"name", name},
                           {"url", url},
                           {"organization", string_or(p, "organization")},
                           {"status", string_or(p, "status")},
                           {"registry", registry}});
    }
    co_return providers;
  }
  co_return last;
}

asio::awaitable<Result<json>> FedCalls::perform(FedRequest request, const CallContext& ctx) {
  if (request.kind == FedRequest::Kind::find) co_return co_await find(request.skill, ctx);
  if (request.kind == FedRequest::Kind::call)
    co_return co_await remote(request.peers.at(0), request.skill, request.args, ctx);

  // call_all: every peer at once on this I/O thread; results in the order asked.
  struct Gather {
    explicit Gather(const asio::any_io_executor& ex, std::size_t n) : results(n), remaining(n), done(ex) {}
    std::vector<json> results;
    std::size_t remaining;
    asio::steady_timer done;
  };
  auto ex = co_await asio::this_coro::executor;
  auto gather = std::make_shared<Gather>(ex, request.peers.size());
  for (std::size_t i = 0; i < request.peers.size(); ++i) {
    std::string peer = request.peers[i];
    asio::co_spawn(ex, remote(peer, request.skill, request.args, ctx),
                   [gather, i, peer](const std::exception_ptr& e, Result<json> r) {
                     json entry = {{"peer", peer}, {"ok", !e && r.ok()}};
                     if (e) {
                       entry["error"] = error_to_json(Error(ErrorCode::internal, "call failed").with("node", peer));
                     } else if (r) {
                       entry["result"] = std::move(*r);
                     } else {
                       entry["error"] = error_to_json(r.error());
                     }
                     gather->results[i] = std::move(entry);
                     if (--gather->remaining == 0) gather->done.cancel();
                   });
  }
  if (gather->remaining > 0) {
    gather->done.expires_at(Clock::time_point::max());
    co_await gather->done.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  co_return json(std::move(gather->results));
}

asio::awaitable<Result<json>> FedCalls::remote(std::string peer, std::string skill, json args, const CallContext& ctx) {
  auto started = Clock::now();
  auto finish = [&](Result<json> r) -> Result<json> {
    if (!r) r = with_origin(std::move(r).error(), peer, skill);
    record_(ctx, peer, skill, r, started);
    return r;
  };
  auto slash = skill.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == skill.size())
    co_return finish(make_error(ErrorCode::invalid_argument, "'" + skill + "' is not a \"package/skill\" name"));
  auto left = remaining_for_hop(ctx.deadline, Clock::now(), options_.max_timeout);
  if (left.count() <= 0) co_return finish(make_error(ErrorCode::deadline_exceeded, "no time left to call " + peer));
  if (ctx.depth + 1 > options_.max_depth)
    co_return finish(
        make_error(ErrorCode::depth_exceeded, "call chain deeper than " + std::to_string(options_.max_depth)));
  net::ClientRequest req;
  req.method = "POST";
  req.target = "/fed/v1/skills/" + skill;
  req.body = dump_json(args);
  req.headers = {{"x-fedmesh-deadline-ms", std::to_string(left.count())},
                 {"x-fedmesh-depth", std::to_string(ctx.depth + 1)},
                 {"x-fedmesh-call-id", ctx.call_id}};
  auto res = co_await peers_.send(peer, std::move(req), ctx.deadline);
  if (!res) co_return finish(std::move(res).error());
  auto body = parse_json(res->body, 64);
  if (!body) co_return finish(make_error(ErrorCode::bad_peer_response, "answer from " + peer + " is not JSON"));
  if (res->status == 200) co_return finish(std::move(*body));
  const json& e = (*body).is_object() ? (*body)["error"] : json();
  co_return finish(error_from_json(e, res->body.substr(0, 1024)));
}

}  // namespace fedmesh::skills
