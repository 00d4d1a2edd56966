#include "federation/peer_manager.hpp"

#include "federation/backoff.hpp"

#include <condition_variable>
#include <random>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/address.hpp"
#include "core/json.hpp"
#include "core/time.hpp"

namespace fedmesh::federation {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

std::string_view to_string(PeerState s) {
  switch (s) {
    case PeerState::connecting: return "connecting";
    case PeerState::up: return "up";
    case PeerState::down: return "down";
    case PeerState::refused: return "refused";
  }
  return "?";
}

nlohmann::json PeerInfo::to_json() const {
  return {{"name", name},
          {"url", url},
          {"origin", origin},
          {"bidirectional", bidirectional},
          {"state", to_string(state)},
          {"last_error", last_error},
          {"organization", organization},
          {"version", version},
          {"roles", roles},
          {"since", since},
          {"last_seen", last_seen},
          {"attempts", attempts},
          {"skills", skills}};
}

struct PeerManager::Peer {
  Peer(PeerInfo i, const asio::any_io_executor& ex) : info(std::move(i)), timer(ex) {}
  PeerInfo info;
  asio::steady_timer timer;  // sleeps between greetings; cancelled to wake early
  bool wake = false;         // a hello from this peer arrived: greet it now
};

PeerManager::PeerManager(net::IoPool& pool, net::HttpClient* client, PeerStore& store, Hello self, PeerTimings timings)
    : pool_(pool), client_(client), store_(store), self_(std::move(self)), timings_(timings) {}

PeerManager::~PeerManager() {
  stop();
}

Status PeerManager::start(const std::vector<PeerConfig>& configured) {
  if (!client_) return {};  // no [federation] section: no peers to greet, remembered or configured
  auto remembered = store_.list();
  if (!remembered) return std::move(remembered).error();
  std::vector<PeerInfo> initial;
  for (const auto& c : configured) {
    PeerInfo p;
    p.name = c.name;
    p.url = c.url;
    p.origin = "config";
    p.bidirectional = c.bidirectional;
    initial.push_back(std::move(p));
  }
  for (const auto& r : *remembered) {
    bool in_config = std::any_of(configured.begin(), configured.end(), [&](const auto& c) { return c.name == r.name; });
    if (in_config) continue;
    if (r.origin == "config") {  // removed from the config since: forget it
      (void)store_.remove(r.name);
      continue;
    }
    PeerInfo p;
    p.name = r.name;
    p.url = r.url;
    p.origin = r.origin;
    p.organization = r.organization;
    initial.push_back(std::move(p));
  }
  auto now = now_iso8601();
  std::vector<std::shared_ptr<Peer>> started;
  {
    std::lock_guard lock(mu_);
    for (auto& info : initial) {
      info.since = now;
      auto peer = std::make_shared<Peer>(std::move(info), pool_.next().get_executor());
      peers_[peer->info.name] = peer;
      state_counts_[static_cast<std::size_t>(PeerState::connecting)]++;
      started.push_back(peer);
    }
  }
  for (auto& p : started) {
    persist(*p);
    spawn(p);
  }
  return {};
}

void PeerManager::spawn(std::shared_ptr<Peer> peer) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    ++running_;
  }
  auto ex = peer->timer.get_executor();
  asio::co_spawn(ex, run(std::move(peer)), asio::detached);
}

void PeerManager::stop() {
  std::unique_lock lock(mu_);
  if (!stopping_) {
    stopping_ = true;
    for (auto& entry : peers_) {
      auto peer = entry.second;
      asio::post(peer->timer.get_executor(), [peer] { peer->timer.cancel(); });
    }
  }
  // A greeting in flight ends within its call deadline.
  idle_cv_.wait_for(lock, timings_.call_timeout + std::chrono::seconds(1), [&] { return running_ == 0; });
}

void PeerManager::persist(const Peer& peer) {
  PeerRecord r;
  {
    std::lock_guard lock(mu_);
    r.name = peer.info.name;
    r.url = peer.info.url;
    r.origin = peer.info.origin;
    r.organization = peer.info.organization;
    r.version = peer.info.version;
    r.roles = dump_json(nlohmann::json(peer.info.roles));
    r.created_at = peer.info.since;
    r.last_seen = peer.info.last_seen;
  }
  // Rare (state changes only) and small: posted to the blocking pool, never on an I/O thread.
  asio::post(pool_.store(), [this, r = std::move(r)] {
    if (auto s = store_.upsert(r); !s) spdlog::error("store: cannot save peer {}: {}", r.name, s.error().message());
  });
}

void PeerManager::set_state(Peer& peer, PeerState state, std::string error) {
  PeerState before;
  std::string name;
  {
    std::lock_guard lock(mu_);
    before = peer.info.state;
    peer.info.state = state;
    state_counts_[static_cast<std::size_t>(before)]--;
    state_counts_[static_cast<std::size_t>(state)]++;
    peer.info.last_error = error;
    if (before != state) peer.info.since = now_iso8601();
    if (state == PeerState::up) peer.info.last_seen = now_iso8601();
    name = peer.info.name;
  }
  if (before == state) return;  // log transitions once, not every retry
  if (state == PeerState::up || before == PeerState::up)
    for (const auto& l : listeners_) l(name, state);
  if (state == PeerState::up) {
    spdlog::info("peer {} is up", name);
  } else if (state == PeerState::refused) {
    spdlog::warn("peer {} refused: {}", name, error);
  } else if (state == PeerState::down) {
    spdlog::warn("peer {} is down: {}", name, error);
  }
  persist(peer);
}

asio::awaitable<Status> PeerManager::greet(Peer& peer) {
  std::string url_text, name;
  bool bidirectional;
  {
    std::lock_guard lock(mu_);
    url_text = peer.info.url;
    name = peer.info.name;
    bidirectional = peer.info.bidirectional;
    ++peer.info.attempts;
  }
  auto url = parse_url(url_text);
  if (!url) co_return make_error(ErrorCode::invalid_argument, "peer URL '" + url_text + "' is not valid");
  Hello mine = self();
  mine.bidirectional = bidirectional;
  net::ClientRequest req;
  req.method = "POST";
  req.target = "/fed/v1/hello";
  req.body = dump_json(mine.to_json());
  req.idempotent = true;
  // A named target: g++ 12 destroys braced temporaries inside co_await twice.
  net::ClientTarget target{url->endpoint.host, url->endpoint.port, name};
  auto res = co_await client_->send(target, std::move(req), Clock::now() + timings_.call_timeout);
  if (!res) co_return std::move(res).error();
  if (res->status != 200) {
    std::string message = "hello answered " + std::to_string(res->status);
    auto body = nlohmann::json::parse(res->body, nullptr, false);
    if (body.is_object() && body.contains("error") && body["error"].is_object())
      message += ": " + string_or(body["error"], "message");
    auto code = res->status == 403 || res->status == 401 ? ErrorCode::peer_refused : ErrorCode::peer_unavailable;
    co_return make_error(code, message);
  }
  auto theirs = decode_hello(res->body);
  if (!theirs) co_return make_error(ErrorCode::peer_unavailable, "bad hello answer: " + theirs.error().message());
  if (theirs->name != name)
    co_return make_error(ErrorCode::peer_refused, "answered as '" + theirs->name + "', expected '" + name + "'");
  // The organization is the certificate's, as on_hello takes it: sharing rules (org:NAME)
  // must not trust what a peer says of itself.
  if (!theirs->organization.empty() && theirs->organization != res->peer_organization)
    co_return make_error(ErrorCode::peer_refused, "answered as organization '" + theirs->organization +
                                                      "', but its certificate says '" + res->peer_organization + "'");
  std::lock_guard lock(mu_);
  peer.info.organization = res->peer_organization;
  peer.info.version = theirs->version;
  peer.info.roles = theirs->roles;
  peer.info.skills = theirs->skills;
  co_return Status{};
}

asio::awaitable<void> PeerManager::run(std::shared_ptr<Peer> peer) {
  Backoff backoff(timings_.retry_initial, timings_.retry_max);
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;
      ++inflight_;
      inflight_mirror_.store(inflight_, std::memory_order_relaxed);
      peer->wake = false;
    }
    Status result = co_await greet(*peer);
    {
      std::lock_guard lock(mu_);
      --inflight_;
      inflight_mirror_.store(inflight_, std::memory_order_relaxed);
    }
    std::chrono::milliseconds sleep;
    if (result) {
      set_state(*peer, PeerState::up, "");
      backoff.reset();
      sleep = timings_.hello_interval;
    } else {
      bool refused = result.error().code() == ErrorCode::peer_refused;
      set_state(*peer, refused ? PeerState::refused : PeerState::down, result.error().message());
      sleep = backoff.next();
    }
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;
      if (peer->wake) continue;
    }
    peer->timer.expires_after(sleep);
    co_await peer->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  std::lock_guard lock(mu_);
  --running_;
  idle_cv_.notify_all();
}

asio::awaitable<Result<Hello>> PeerManager::on_hello(std::string cert_name, std::string cert_organization,
                                                     Hello hello) {
  if (hello.name != cert_name)
    co_return make_error(ErrorCode::forbidden,
                         "hello names '" + hello.name + "' but the certificate is for '" + cert_name + "'");
  // Who a peer is comes from its certificate: a hello claiming another organization is
  // refused, and the one we record is the certificate's.
  if (!hello.organization.empty() && hello.organization != cert_organization)
    co_return make_error(ErrorCode::forbidden, "hello claims organization '" + hello.organization +
                                                   "' but the certificate says '" + cert_organization + "'");
  hello.organization = cert_organization;
  std::shared_ptr<Peer> added;
  {
    std::lock_guard lock(mu_);
    auto it = peers_.find(hello.name);
    if (it != peers_.end()) {
      auto& p = it->second;
      p->info.last_seen = now_iso8601();
      p->info.skills = hello.skills;
      p->info.organization = hello.organization;
      if (p->info.state != PeerState::up) {
        // They can reach us: try them now rather than at the next backoff step.
        p->wake = true;
        asio::post(p->timer.get_executor(), [p] { p->timer.cancel(); });
      }
    } else if (hello.bidirectional && !stopping_) {
      PeerInfo info;
      info.name = hello.name;
      info.url = hello.advertise;
      info.origin = "hello";
      info.organization = hello.organization;
      info.version = hello.version;
      info.roles = hello.roles;
      info.skills = hello.skills;
      info.since = now_iso8601();
      added = std::make_shared<Peer>(std::move(info), pool_.next().get_executor());
      peers_[hello.name] = added;
      state_counts_[static_cast<std::size_t>(PeerState::connecting)]++;
    }
  }
  if (added) {
    spdlog::info("peer {} added by its bidirectional hello ({})", hello.name, hello.advertise);
    persist(*added);
    spawn(added);
  }
  co_return self();
}

Hello PeerManager::self() const {
  Hello h = self_;
  if (exports_) h.skills = exports_();
  return h;
}

void PeerManager::set_exports(std::function<std::vector<std::string>()> exports) {
  exports_ = std::move(exports);
}

void PeerManager::add_listener(std::function<void(const std::string&, PeerState)> listener) {
  listeners_.push_back(std::move(listener));
}

void PeerManager::announce() {
  std::lock_guard lock(mu_);
  for (auto& entry : peers_) {
    auto p = entry.second;
    p->wake = true;
    asio::post(p->timer.get_executor(), [p] { p->timer.cancel(); });
  }
}

std::optional<PeerInfo> PeerManager::find(std::string_view name) const {
  std::lock_guard lock(mu_);
  auto it = peers_.find(std::string(name));
  if (it == peers_.end()) return std::nullopt;
  return it->second->info;
}

void PeerManager::remember_endpoint(const std::string& name, const std::string& url) {
  std::lock_guard lock(mu_);
  if (endpoints_.size() >= 4096 && !endpoints_.contains(name)) endpoints_.erase(endpoints_.begin());
  endpoints_[name] = url;
}

asio::awaitable<Result<net::ClientResponse>> PeerManager::send(std::string peer, net::ClientRequest request,
                                                               Clock::time_point deadline) {
  if (!client_)
    co_return make_error(ErrorCode::unavailable,
                         "this node has no [federation] section: it cannot reach '" + peer + "' or any peer");
  std::string url_text;
  if (auto info = find(peer)) {
    url_text = info->url;
  } else {
    std::lock_guard lock(mu_);
    auto it = endpoints_.find(peer);
    if (it != endpoints_.end()) url_text = it->second;
  }
  if (url_text.empty()) co_return make_error(ErrorCode::peer_unavailable, "'" + peer + "' is not a peer of this node");
  auto url = parse_url(url_text);
  if (!url) co_return make_error(ErrorCode::peer_unavailable, "peer '" + peer + "' has no valid URL");
  net::ClientTarget target{url->endpoint.host, url->endpoint.port, peer};
  co_return co_await client_->send(target, std::move(request), deadline);
}

std::vector<PeerInfo> PeerManager::snapshot() const {
  std::lock_guard lock(mu_);
  std::vector<PeerInfo> out;
  for (const auto& [name, p] : peers_) out.push_back(p->info);
  return out;
}

PeerManager::Summary PeerManager::summary() const {
  Summary out;
  for (std::size_t i = 0; i < out.by_state.size(); ++i)
    out.by_state[i] = state_counts_[i].load(std::memory_order_relaxed);
  out.idle = inflight_mirror_.load(std::memory_order_relaxed) == 0 &&
             out.by_state[static_cast<std::size_t>(PeerState::connecting)] == 0;
  return out;
}

bool PeerManager::idle() const {
  return summary().idle;
}

}  // namespace fedmesh::federation
