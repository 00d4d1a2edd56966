#include "registry/mesh.hpp"

#include <spdlog/spdlog.h>
#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/json.hpp"
#include "federation/peer_link.hpp"
#include "net/offload.hpp"
#include "registry/mesh_codec.hpp"

namespace fedmesh::registry {

namespace asio = boost::asio;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {
constexpr std::size_t kQueueLimit = 10'000;
constexpr std::size_t kBatch = 256;
}  // namespace

struct Mesh::Link {
  std::shared_ptr<federation::PeerLink<CatalogNode>> link;
  std::atomic<std::uint64_t> messages{0};      // requests sent to this peer
  std::atomic<std::uint64_t> changes_sent{0};  // changes in them
};

Mesh::Mesh(net::IoPool& pool, federation::PeerManager& peers, Catalog& catalog, std::string self,
           const std::vector<std::string>& registry_peers, std::chrono::milliseconds retry_max)
    : pool_(pool), peers_(peers), catalog_(catalog), self_(std::move(self)), retry_max_(retry_max) {
  for (auto& p : registry_peers) {
    auto entry = std::make_shared<Link>();
    federation::PeerLink<CatalogNode>::Options options;
    options.queue_limit = kQueueLimit;
    options.batch = kBatch;
    options.retry_max = retry_max_;
    options.catch_up_first = true;  // whatever happened while we were apart: a digest exchange first
    Link* raw = entry.get();
    federation::PeerLink<CatalogNode>::Handlers handlers;
    handlers.send = [this, raw](std::vector<CatalogNode> batch) -> asio::awaitable<Status> {
      co_return co_await send_changes(*raw, batch);
    };
    handlers.catch_up = [this, raw]() -> asio::awaitable<Status> { co_return co_await anti_entropy(*raw); };
    handlers.changed = [p](bool up, const std::string& error) {
      if (up) {
        spdlog::info("registry peer {} is in sync", p);
      } else {
        spdlog::warn("registry peer {}: {}", p, error);
      }
    };
    entry->link = std::make_shared<federation::PeerLink<CatalogNode>>(p, pool_.next().get_executor(),
                                                                      std::move(options), std::move(handlers));
    links_[p] = std::move(entry);
  }
  listener_ = catalog_.add_listener(
      [this](const CatalogNode& change, const ChangeSource& source) { enqueue(change, source.registry); });
}

Mesh::~Mesh() {
  stop();
}

bool Mesh::is_peer(const std::string& name) const {
  return links_.contains(name);
}

void Mesh::start() {
  for (auto& [name, entry] : links_) entry->link->start();
}

void Mesh::stop() {
  if (stopping_.exchange(true)) return;
  catalog_.remove_listener(listener_);
  for (auto& [name, entry] : links_) entry->link->stop();
}

void Mesh::enqueue(const CatalogNode& change, const std::string& from) {
  auto seen = [&](const std::string& name) {
    return name == from || std::find(change.via.begin(), change.via.end(), name) != change.via.end();
  };
  std::vector<Link*> targets;
  std::vector<std::string> names;
  for (auto& [name, entry] : links_) {
    if (seen(name)) continue;
    targets.push_back(entry.get());
    names.push_back(name);
  }
  if (targets.empty()) return;
  // Those we send to now have it too: our other targets need not forward to them.
  CatalogNode out = change;
  out.via.push_back(self_);
  if (!from.empty()) out.via.push_back(from);
  out.via.insert(out.via.end(), names.begin(), names.end());
  std::sort(out.via.begin(), out.via.end());
  out.via.erase(std::unique(out.via.begin(), out.via.end()), out.via.end());
  if (out.via.size() > 256) out.via.resize(256);
  // A full queue drops the change and schedules a digest exchange, which recovers it.
  for (auto* target : targets) target->link->push(out);
}

asio::awaitable<Status> Mesh::send_changes(Link& link, const std::vector<CatalogNode>& changes) {
  for (std::size_t i = 0; i < changes.size(); i += kBatch) {
    json batch = json::array();
    for (std::size_t k = i; k < std::min(changes.size(), i + kBatch); ++k) batch.push_back(encode_change(changes[k]));
    net::ClientRequest req;
    req.method = "POST";
    req.target = "/fed/v1/registry/sync";
    req.body = dump_json(json{{"changes", batch}});
    req.idempotent = true;  // applying a change twice changes nothing
    ++link.messages;
    link.changes_sent += batch.size();
    auto res = co_await peers_.send(link.link->peer(), std::move(req), Clock::now() + std::chrono::seconds(10));
    if (!res) co_return std::move(res).error();
    if (res->status != 200)
      co_return make_error(ErrorCode::peer_unavailable,
                           "sync answered " + std::to_string(res->status) + ": " + res->body);
  }
  co_return Status{};
}

asio::awaitable<Status> Mesh::anti_entropy(Link& link) {
  net::ClientRequest req;
  req.method = "POST";
  req.target = "/fed/v1/registry/digest";
  req.body = dump_json(json{{"digest", catalog_.digest()}});
  req.idempotent = true;
  ++link.messages;
  auto res = co_await peers_.send(link.link->peer(), std::move(req), Clock::now() + std::chrono::seconds(10));
  if (!res) co_return std::move(res).error();
  if (res->status != 200)
    co_return make_error(ErrorCode::peer_unavailable,
                         "digest answered " + std::to_string(res->status) + ": " + res->body);
  auto body = parse_json_object(res->body, 16);
  if (!body) co_return make_error(ErrorCode::peer_unavailable, "digest answer: " + body.error().message());
  // What they hold newer: apply (and forward to our other peers).
  json theirs = {{"changes", body->value("changes", json::array())}};  // named: g++ 12 and co_await temporaries
  auto result = co_await on_sync(link.link->peer(), std::move(theirs));
  if (!result) co_return std::move(result).error();
  // What they want from us.
  std::vector<std::string> want;
  for (const auto& w : body->value("want", json::array()))
    if (w.is_string()) want.push_back(w.get<std::string>());
  if (!want.empty()) {
    auto wanted = catalog_.entries(want);
    if (auto s = co_await send_changes(link, wanted); !s) co_return s;
  }
  co_return Status{};
}

asio::awaitable<Result<json>> Mesh::on_sync(std::string from, json body) {
  const auto& changes = body.is_object() ? body["changes"] : json();
  if (!changes.is_array()) co_return make_error(ErrorCode::bad_json, "field 'changes' must be a list");
  if (changes.size() > 4 * kBatch)
    co_return make_error(ErrorCode::payload_too_large, "too many changes in one message");
  std::vector<CatalogNode> decoded;
  auto now = catalog_.clock().now();
  for (std::size_t i = 0; i < changes.size(); ++i) {
    auto c = decode_change(changes[i], now);
    if (!c) co_return make_error(c.error().code(), "changes[" + std::to_string(i) + "]: " + c.error().message());
    decoded.push_back(std::move(*c));
  }
  // Validated whole: now apply, off the I/O thread (store writes).
  auto applied = co_await net::offload(pool_.store(), [&]() -> Result<int> {
    int n = 0;
    for (const auto& c : decoded) {
      auto r = catalog_.apply(c, from);
      if (!r) return std::move(r).error();
      n += *r ? 1 : 0;
    }
    return n;
  });
  if (!applied) co_return std::move(applied).error();
  co_return json{{"received", decoded.size()}, {"applied", *applied}};
}

asio::awaitable<Result<json>> Mesh::on_digest(std::string from, json body) {
  if (!body.is_object() || !body["digest"].is_object())
    co_return make_error(ErrorCode::bad_json, "field 'digest' must be an object");
  const json& digest = body["digest"];
  if (digest.size() > 1'000'000) co_return make_error(ErrorCode::payload_too_large, "digest too large");
  json changes = json::array();
  for (const auto& n : catalog_.newer_than(digest)) changes.push_back(encode_change(n));
  // The caller also catches up on what it sent: a link that was down syncs at once.
  if (auto it = links_.find(from); it != links_.end()) {
    if (!it->second->link->stats().up) it->second->link->request_catch_up();
  }
  co_return json{{"changes", changes}, {"want", catalog_.wanted_from(digest)}};
}

json Mesh::peers_json() const {
  json out = json::array();
  for (const auto& [name, entry] : links_) {
    auto st = entry->link->stats();
    out.push_back({{"name", name},
                   {"state", st.up ? "up" : "down"},
                   {"last_sync", st.last_ok},
                   {"lag", st.queued},
                   {"needs_sync", st.needs_catch_up},
                   {"messages", entry->messages.load()},
                   {"changes_sent", entry->changes_sent.load()},
                   {"last_error", st.last_error}});
  }
  return out;
}

bool Mesh::idle() const {
  return std::all_of(links_.begin(), links_.end(), [](const auto& l) { return l.second->link->idle(); });
}

}  // namespace fedmesh::registry
