#include "registry/mesh.hpp"

#include <spdlog/spdlog.h>
#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/json.hpp"
#include "net/offload.hpp"

namespace fedmesh::registry {

namespace asio = boost::asio;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {
constexpr std::size_t kQueueLimit = 10'000;
constexpr std::size_t kBatch = 256;
}  // namespace

struct Mesh::Link {
  Link(std::string n, asio::any_io_executor ex) : name(std::move(n)), timer(ex) {}
  std::string name;
  asio::steady_timer timer;
  mutable std::mutex mu;  // guards the fields below
  std::deque<CatalogNode> queue;
  bool needs_sync = true;  // run anti-entropy before sending from the queue
  bool in_flight = false;
  bool up = false;
  std::string last_sync;
  std::string last_error;
  std::uint64_t messages = 0;  // requests sent to this peer
  std::uint64_t changes_sent = 0;
};

Mesh::Mesh(net::IoPool& pool, federation::PeerManager& peers, Catalog& catalog, std::string self,
           std::vector<std::string> registry_peers, std::chrono::milliseconds retry_max)
    : pool_(pool), peers_(peers), catalog_(catalog), self_(std::move(self)), retry_max_(retry_max) {
  for (auto& p : registry_peers) links_[p] = std::make_shared<Link>(p, pool_.next().get_executor());
  listener_ =
      catalog_.add_listener([this](const CatalogNode& change, const std::string& from) { enqueue(change, from); });
}

Mesh::~Mesh() {
  stop();
}

bool Mesh::is_peer(const std::string& name) const {
  return links_.contains(name);
}

void Mesh::start() {
  for (auto& [name, link] : links_) asio::co_spawn(link->timer.get_executor(), run(link), asio::detached);
}

void Mesh::stop() {
  if (stopping_.exchange(true)) return;
  catalog_.remove_listener(listener_);
  for (auto& [name, link] : links_) asio::post(link->timer.get_executor(), [link] { link->timer.cancel(); });
}

void Mesh::enqueue(const CatalogNode& change, const std::string& from) {
  auto seen = [&](const std::string& name) {
    return name == from || std::find(change.via.begin(), change.via.end(), name) != change.via.end();
  };
  std::vector<std::shared_ptr<Link>> targets;
  for (auto& [name, link] : links_)
    if (!seen(name)) targets.push_back(link);
  if (targets.empty()) return;
  // Those we send to now have it too: our other targets need not forward to them.
  CatalogNode out = change;
  out.via.push_back(self_);
  if (!from.empty()) out.via.push_back(from);
  for (const auto& t : targets) out.via.push_back(t->name);
  std::sort(out.via.begin(), out.via.end());
  out.via.erase(std::unique(out.via.begin(), out.via.end()), out.via.end());
  if (out.via.size() > 256) out.via.resize(256);
  for (auto& link : targets) {
    {
      std::lock_guard lock(link->mu);
      if (link->queue.size() >= kQueueLimit) {
        link->queue.clear();
        link->needs_sync = true;  // catch up by digest instead
      } else {
        link->queue.push_back(out);
      }
    }
    asio::post(link->timer.get_executor(), [link] { link->timer.cancel(); });
  }
}

asio::awaitable<Status> Mesh::send_changes(Link& link, const std::vector<CatalogNode>& changes) {
  for (std::size_t i = 0; i < changes.size(); i += kBatch) {
    json batch = json::array();
    for (std::size_t k = i; k < std::min(changes.size(), i + kBatch); ++k) batch.push_back(changes[k].to_change());
    net::ClientRequest req;
    req.method = "POST";
    req.target = "/fed/v1/registry/sync";
    req.body = dump_json(json{{"changes", batch}});
    req.idempotent = true;  // applying a change twice changes nothing
    {
      std::lock_guard lock(link.mu);
      ++link.messages;
      link.changes_sent += batch.size();
    }
    auto res = co_await peers_.send(link.name, std::move(req), Clock::now() + std::chrono::seconds(10));
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
  {
    std::lock_guard lock(link.mu);
    ++link.messages;
  }
  auto res = co_await peers_.send(link.name, std::move(req), Clock::now() + std::chrono::seconds(10));
  if (!res) co_return std::move(res).error();
  if (res->status != 200)
    co_return make_error(ErrorCode::peer_unavailable,
                         "digest answered " + std::to_string(res->status) + ": " + res->body);
  auto body = parse_json_object(res->body, 16);
  if (!body) co_return make_error(ErrorCode::peer_unavailable, "digest answer: " + body.error().message());
  // What they hold newer: apply (and forward to our other peers).
  json theirs = {{"changes", body->value("changes", json::array())}};  // named: g++ 12 and co_await temporaries
  auto result = co_await on_sync(link.name, std::move(theirs));
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

asio::awaitable<void> Mesh::run(std::shared_ptr<Link> link) {
  auto delay = std::chrono::milliseconds(100);
  while (!stopping_) {
    bool sync;
    std::vector<CatalogNode> batch;
    {
      std::lock_guard lock(link->mu);
      sync = link->needs_sync;
      if (!sync) {
        while (!link->queue.empty() && batch.size() < kBatch) {
          batch.push_back(std::move(link->queue.front()));
          link->queue.pop_front();
        }
      }
      link->in_flight = sync || !batch.empty();
    }
    if (!sync && batch.empty()) {
      link->timer.expires_after(std::chrono::seconds(30));
      co_await link->timer.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    Status s;
    if (sync) {
      s = co_await anti_entropy(*link);
    } else {
      s = co_await send_changes(*link, batch);
    }
    bool was_up;
    {
      std::lock_guard lock(link->mu);
      link->in_flight = false;
      was_up = link->up;
      if (s) {
        if (sync) link->needs_sync = false;
        link->up = true;
        link->last_sync = now_iso8601();
        link->last_error.clear();
      } else {
        link->up = false;
        link->needs_sync = true;  // whatever was lost, the digest exchange recovers
        link->queue.clear();
        link->last_error = s.error().message();
      }
    }
    if (s) {
      if (!was_up) spdlog::info("registry peer {} is in sync", link->name);
      delay = std::chrono::milliseconds(100);
      continue;
    }
    if (was_up) spdlog::warn("registry peer {}: {}", link->name, s.error().message());
    link->timer.expires_after(delay);
    co_await link->timer.async_wait(asio::as_tuple(asio::use_awaitable));
    delay = std::min(delay * 2, retry_max_);
  }
}

asio::awaitable<Result<json>> Mesh::on_sync(std::string from, json body) {
  const auto& changes = body.is_object() ? body["changes"] : json();
  if (!changes.is_array()) co_return make_error(ErrorCode::bad_json, "field 'changes' must be a list");
  if (changes.size() > 4 * kBatch)
    co_return make_error(ErrorCode::payload_too_large, "too many changes in one message");
  std::vector<CatalogNode> decoded;
  auto now = std::chrono::system_clock::now();
  for (std::size_t i = 0; i < changes.size(); ++i) {
    auto c = decode_change(changes[i], now);
    if (!c) co_return make_error(c.error().code(), "changes[" + std::to_string(i) + "]: " + c.error().message());
    decoded.push_back(std::move(*c));
  }
  // Validated whole: now apply, off the I/O thread (store writes).
  auto applied = co_await net::offload(pool_.blocking(), [&]() -> Result<int> {
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
  for (const auto& n : catalog_.newer_than(digest)) changes.push_back(n.to_change());
  // The caller also catches up on what it sent: mark its link for a sync of our own.
  if (auto it = links_.find(from); it != links_.end()) {
    std::lock_guard lock(it->second->mu);
    if (!it->second->up) it->second->needs_sync = true;
  }
  co_return json{{"changes", changes}, {"want", catalog_.wanted_from(digest)}};
}

json Mesh::peers_json() const {
  json out = json::array();
  for (const auto& [name, link] : links_) {
    std::lock_guard lock(link->mu);
    out.push_back({{"name", name},
                   {"state", link->up ? "up" : "down"},
                   {"last_sync", link->last_sync},
                   {"lag", link->queue.size()},
                   {"needs_sync", link->needs_sync},
                   {"messages", link->messages},
                   {"changes_sent", link->changes_sent},
                   {"last_error", link->last_error}});
  }
  return out;
}

bool Mesh::idle() const {
  for (const auto& [name, link] : links_) {
    std::lock_guard lock(link->mu);
    if (link->in_flight || !link->queue.empty()) return false;
    if (link->needs_sync && link->up) return false;
  }
  return true;
}

}  // namespace fedmesh::registry
