#include "data/replicator.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include <boost/asio/this_coro.hpp>

#include "core/json.hpp"
#include "federation/peer_link.hpp"
#include "net/http_types.hpp"
#include "net/offload.hpp"

namespace fedmesh::data {

namespace asio = boost::asio;
using json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;
using CommitPtr = std::shared_ptr<const Commit>;

namespace {

constexpr std::size_t kQueueLimit = 4096;            // commits waiting for one peer
constexpr std::size_t kMessageDeltas = 4096;         // deltas in one pushed message
constexpr auto kLogEvery = std::chrono::minutes(1);  // rejections from one peer: one log line a minute
constexpr std::size_t kMaxHeads = 100'000;

// Where a catch-up page starts for a peer that holds `held` of a stream: one delta early,
// so the receiver compares the one it holds at `held` with the sender's (an equivocation
// shows there; an honest one is a duplicate).
std::int64_t overlap(std::int64_t held) {
  return held > 0 ? held - 1 : 0;
}

// Whether every delta a report refused was refused for an equivocation (the stream is
// quarantined there: nothing to retry until an operator resolves it).
bool only_equivocations(const IngestReport& report) {
  return !report.rejected.empty() && std::all_of(report.rejected.begin(), report.rejected.end(),
                                                 [](const auto& r) { return r.first == "equivocation"; });
}

json heads_json(const std::vector<StreamHead>& heads) {
  json out = json::array();
  for (const auto& h : heads) {
    json j = {{"creator", h.creator}, {"collection", h.collection}, {"seq", h.seq}};
    if (!h.id.empty()) j["id"] = h.id;
    out.push_back(std::move(j));
  }
  return out;
}

// Heads from a peer's JSON; bad_json naming the item otherwise.
Result<std::vector<StreamHead>> heads_from_json(const json& list) {
  if (!list.is_array()) return make_error(ErrorCode::bad_json, "field 'heads' must be a list");
  if (list.size() > kMaxHeads) return make_error(ErrorCode::payload_too_large, "too many heads");
  std::vector<StreamHead> out;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const auto& h = list[i];
    if (!h.is_object() || !h.contains("creator") || !h["creator"].is_string() || !h.contains("collection") ||
        !h["collection"].is_string() || !h.contains("seq") || !h["seq"].is_number_integer() ||
        h["seq"].get<std::int64_t>() < 0)
      return make_error(ErrorCode::bad_json,
                        "heads[" + std::to_string(i) + "] must be {creator, collection, seq >= 0}");
    // The head's id (optional): two different ids at one seq are an equivocation to fetch.
    std::string id;
    if (auto it = h.find("id"); it != h.end() && it->is_string() && it->get_ref<const std::string&>().size() == 64)
      id = it->get<std::string>();
    out.push_back({h["creator"].get<std::string>(), h["collection"].get<std::string>(), h["seq"].get<std::int64_t>(),
                   std::move(id)});
  }
  return out;
}

}  // namespace

struct Replicator::Link {
  std::string peer;
  std::shared_ptr<federation::PeerLink<CommitPtr>> link;
  std::atomic<std::uint64_t> messages{0};
  std::atomic<std::uint64_t> deltas_sent{0};
  std::atomic<std::uint64_t> deltas_pulled{0};
  std::atomic<std::uint64_t> catch_ups{0};
};

Replicator::Replicator(net::IoPool& pool, federation::PeerManager& peers, DataService& data, ReplicatorOptions options)
    : pool_(pool), peers_(peers), data_(data), options_(std::move(options)) {}

Replicator::~Replicator() {
  stop();
}

void Replicator::start() {
  listener_ = data_.add_listener([this](const CommitPtr& c) { on_commit(c); });
  peers_.add_listener([this](const std::string& peer, federation::PeerState state) {
    if (state != federation::PeerState::up) return;
    if (auto l = link_for(peer, true)) l->link->request_catch_up();  // whatever happened while it was away
  });
  started_ = true;
  for (const auto& p : options_.peers) (void)link_for(p, true);
}

void Replicator::stop() {
  if (!started_ || stopping_.exchange(true)) return;
  data_.remove_listener(listener_);
  std::lock_guard lock(mu_);
  for (auto& [name, l] : links_) l->link->stop();
}

namespace {

// Whether a rule's `with` names this peer: by name, by "org:" its organization, or "*".
bool names(const ShareRule& rule, const std::string& peer, const std::string& organization) {
  return std::any_of(rule.with.begin(), rule.with.end(), [&](const std::string& w) {
    return w == "*" || w == peer || (!organization.empty() && w == "org:" + organization);
  });
}

}  // namespace

bool Replicator::shares(const std::string& peer, const std::string& organization, const std::string& collection) const {
  return std::any_of(options_.share.begin(), options_.share.end(), [&](const ShareRule& rule) {
    return (rule.collection == "*" || rule.collection == collection) && names(rule, peer, organization);
  });
}

bool Replicator::shares_any(const std::string& peer, const std::string& organization) const {
  return std::any_of(options_.share.begin(), options_.share.end(),
                     [&](const ShareRule& rule) { return names(rule, peer, organization); });
}

std::string Replicator::organization_of(const std::string& peer) const {
  auto info = peers_.find(peer);
  return info ? info->organization : std::string();
}

std::shared_ptr<Replicator::Link> Replicator::link_for(const std::string& peer, bool create) {
  std::lock_guard lock(mu_);
  if (auto it = links_.find(peer); it != links_.end()) return it->second;
  if (!create || !started_ || stopping_ || peer == data_.self() || !shares_any(peer, organization_of(peer)))
    return nullptr;
  auto entry = std::make_shared<Link>();
  entry->peer = peer;
  federation::PeerLink<CommitPtr>::Options o;
  o.queue_limit = kQueueLimit;
  o.batch = 64;
  o.retry_max = options_.retry_max;
  o.catch_up_first = true;
  Link* raw = entry.get();
  federation::PeerLink<CommitPtr>::Handlers h;
  h.send = [this, raw](std::vector<CommitPtr> batch) -> asio::awaitable<Status> {
    co_return co_await send_commits(*raw, std::move(batch));
  };
  h.catch_up = [this, raw]() -> asio::awaitable<Status> { co_return co_await catch_up(*raw); };
  h.changed = [peer](bool up, const std::string& error) {
    if (up) {
      spdlog::info("data: peer {} is in sync", peer);
    } else {
      spdlog::warn("data: peer {}: {}", peer, error);
    }
  };
  entry->link =
      std::make_shared<federation::PeerLink<CommitPtr>>(peer, pool_.next().get_executor(), std::move(o), std::move(h));
  entry->link->start();
  links_[peer] = entry;
  return entry;
}

void Replicator::on_commit(const CommitPtr& commit) {
  std::set<std::string> collections;
  for (const auto& d : commit->deltas) collections.insert(d.collection);
  std::vector<std::shared_ptr<Link>> targets;
  {
    std::lock_guard lock(mu_);
    for (const auto& entry : links_) {
      const std::string& name = entry.first;
      const auto& l = entry.second;
      if (name == commit->from) continue;
      std::string org = organization_of(name);
      if (std::any_of(collections.begin(), collections.end(),
                      [&](const std::string& c) { return shares(name, org, c); }))
        targets.push_back(l);
    }
  }
  // A full queue drops the commit and schedules a catch-up, which recovers it.
  for (const auto& t : targets) t->link->push(commit);
}

void Replicator::log_rejections(const std::string& peer, const IngestReport& report) {
  if (report.rejected.empty()) return;
  {
    std::lock_guard lock(mu_);
    auto now = SteadyClock::now();
    auto& last = logged_[peer];
    if (last != SteadyClock::time_point{} && now - last < kLogEvery) return;
    last = now;
  }
  std::size_t n = 0;
  for (const auto& [reason, count] : report.rejected) n += count;
  spdlog::warn(
      "data: rejected {} delta(s) from {}: {} (logged once a minute per peer; see fedmesh_data_rejected_total)", n,
      peer, report.problems.empty() ? std::string("?") : report.problems.front());
}

void Replicator::log_refusals(const std::string& peer, const json& report) {
  auto rejected = report.find("rejected");
  if (rejected == report.end() || !rejected->is_object()) return;
  // A gap is no fault: they are behind, and a catch-up follows.
  auto reasons = rejected->items();
  if (std::all_of(reasons.begin(), reasons.end(), [](const auto& r) { return r.key() == "gap"; })) return;
  {
    std::lock_guard lock(mu_);
    auto now = SteadyClock::now();
    auto& last = refusals_logged_[peer];
    if (last != SteadyClock::time_point{} && now - last < kLogEvery) return;
    last = now;
  }
  std::string first;
  if (auto p = report.find("problems"); p != report.end() && p->is_array() && !p->empty() && (*p)[0].is_string())
    first = (*p)[0].get<std::string>().substr(0, 1000);
  spdlog::warn("data: {} refused delta(s) this node sent: {} {} (logged once a minute per peer)", peer,
               rejected->dump().substr(0, 200), first);
}

// ---- the sending side ----

asio::awaitable<Status> Replicator::post_message(Link& link, std::string message, std::size_t deltas) {
  net::ClientRequest req;
  req.method = "POST";
  req.target = "/fed/v1/data/deltas";
  req.body = std::move(message);
  req.idempotent = true;  // deltas held already are counted as duplicates
  ++link.messages;
  auto res = co_await peers_.send(link.peer, std::move(req), SteadyClock::now() + options_.call_timeout);
  if (!res) co_return std::move(res).error();
  if (res->status != 200)
    co_return make_error(ErrorCode::peer_unavailable,
                         "deltas answered " + std::to_string(res->status) + ": " + res->body.substr(0, 300));
  link.deltas_sent += deltas;
  auto report = parse_json_object(res->body, 8);
  if (report) log_refusals(link.peer, *report);
  if (report && report->contains("gaps") && (*report)["gaps"].is_array() && !(*report)["gaps"].empty()) {
    // They miss earlier deltas of a stream: a catch-up moves them.
    link.link->request_catch_up();
  }
  co_return Status{};
}

asio::awaitable<Status> Replicator::send_commits(Link& link, std::vector<CommitPtr> commits) {
  std::string org = organization_of(link.peer);
  auto shared = [this, &link, org](const std::string& c) { return shares(link.peer, org, c); };
  std::size_t i = 0;
  while (i < commits.size()) {
    // Merge commits into one message of at most kMessageDeltas deltas.
    auto merged = std::make_shared<Commit>();
    std::set<std::tuple<std::string, std::string, std::int64_t>> runs_seen;
    while (i < commits.size() &&
           (merged->deltas.empty() || merged->deltas.size() + commits[i]->deltas.size() <= kMessageDeltas)) {
      for (const auto& d : commits[i]->deltas) merged->deltas.push_back(d);
      for (const auto& r : commits[i]->runs)
        if (runs_seen.insert({r.creator, r.collection, r.first}).second) merged->runs.push_back(r);
      ++i;
    }
    auto message = co_await net::offload(pool_.store(), [&]() { return data_.message_for(*merged, shared); });
    if (!message) co_return std::move(message).error();
    if (message->empty()) continue;
    std::size_t n = merged->deltas.size();
    if (auto s = co_await post_message(link, std::move(*message), n); !s) co_return s;
  }
  co_return Status{};
}

asio::awaitable<Status> Replicator::catch_up(Link& link) {
  ++link.catch_ups;
  std::string org = organization_of(link.peer);
  std::vector<StreamHead> mine;
  for (auto& h : data_.heads())
    if (shares(link.peer, org, h.collection)) mine.push_back(std::move(h));
  net::ClientRequest req;
  req.method = "POST";
  req.target = "/fed/v1/data/heads";
  req.body = dump_json(json{{"heads", heads_json(mine)}});
  req.idempotent = true;
  ++link.messages;
  auto res = co_await peers_.send(link.peer, std::move(req), SteadyClock::now() + options_.call_timeout);
  if (!res) co_return std::move(res).error();
  if (res->status != 200)
    co_return make_error(ErrorCode::peer_unavailable,
                         "heads answered " + std::to_string(res->status) + ": " + res->body.substr(0, 300));
  auto body = parse_json_object(res->body, 8);
  if (!body) co_return make_error(ErrorCode::peer_unavailable, "heads answer: " + body.error().message());
  auto theirs = heads_from_json(body->value("heads", json()));
  if (!theirs) co_return make_error(ErrorCode::peer_unavailable, "heads answer: " + theirs.error().message());
  std::map<std::pair<std::string, std::string>, std::int64_t> have;
  for (const auto& h : mine) have[{h.creator, h.collection}] = h.seq;
  std::map<std::pair<std::string, std::string>, std::int64_t> they_have;
  std::map<std::pair<std::string, std::string>, std::string> my_ids;
  for (const auto& h : mine) my_ids[{h.creator, h.collection}] = h.id;
  for (const auto& h : *theirs) {
    if (!shares(link.peer, org, h.collection)) continue;  // a peer may only send what we share with it
    they_have[{h.creator, h.collection}] = h.seq;
    if (data_.quarantined(h.creator, h.collection)) continue;  // refused here until an operator resolves it
    auto it = have.find({h.creator, h.collection});
    std::int64_t held = it == have.end() ? 0 : it->second;
    // Pages overlap what we hold by one delta, which ingest compares with ours; at equal
    // heads whose ids differ, the peer's head delta is fetched to be compared alike.
    const std::string& my_id = my_ids[{h.creator, h.collection}];
    bool differs = h.seq == held && held > 0 && !h.id.empty() && !my_id.empty() && h.id != my_id;
    if (h.seq > held || differs)
      if (auto s = co_await pull(link, h, overlap(held)); !s) co_return s;
  }
  for (const auto& h : mine) {
    auto it = they_have.find({h.creator, h.collection});
    std::int64_t held = it == they_have.end() ? 0 : it->second;
    if (h.seq > held)
      if (auto s = co_await push(link, h, overlap(held)); !s) co_return s;
  }
  co_return Status{};
}

namespace {

// A value computed on a pool that a coroutine collects later: the coroutine's executor is
// one thread (an IoPool context), where the value is set and read, so there is no race.
template <class T>
struct Later {
  explicit Later(const asio::any_io_executor& ex) : timer(ex, SteadyClock::time_point::max()) {}
  asio::steady_timer timer;
  std::optional<T> value;
  asio::awaitable<T> get() {
    while (!value) co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return std::move(*value);
  }
};

template <class F>
auto start_on(asio::thread_pool& pool, const asio::any_io_executor& ex, F fn) {
  using T = std::invoke_result_t<F>;
  auto later = std::make_shared<Later<T>>(ex);
  asio::post(pool, [later, ex, fn = std::move(fn)]() mutable {
    auto r = fn();
    asio::post(ex, [later, r = std::move(r)]() mutable {
      later->value.emplace(std::move(r));
      later->timer.cancel();
    });
  });
  return later;
}

}  // namespace

asio::awaitable<Status> Replicator::pull(Link& link, const StreamHead& theirs, std::int64_t mine) {
  std::string org = organization_of(link.peer);
  std::string from = link.peer;
  auto ex = co_await asio::this_coro::executor;
  auto fetch = [&](std::int64_t since) {
    net::ClientRequest req;
    req.method = "GET";
    req.target = "/fed/v1/data/page?creator=" + net::percent_encode(theirs.creator) +
                 "&collection=" + net::percent_encode(theirs.collection) + "&since=" + std::to_string(since) +
                 "&limit=" + std::to_string(options_.page_deltas);
    req.idempotent = true;
    ++link.messages;
    return peers_.send(link.peer, std::move(req), SteadyClock::now() + options_.call_timeout);
  };
  // Pages are pipelined: while one is verified and stored, the next is on its way.
  std::int64_t since = mine;
  auto res = co_await fetch(since);
  while (!stopping_) {
    if (!res) co_return std::move(res).error();
    if (res->status == 204 || res->body.empty()) break;  // they hold no more than we do
    if (res->status != 200)
      co_return make_error(ErrorCode::peer_unavailable,
                           "page answered " + std::to_string(res->status) + ": " + res->body.substr(0, 300));
    // Lambdas inside a co_await expression capture by reference only: g++ 12 destroys such
    // temporaries twice, which an owning capture (a shared_ptr) does not survive.
    std::string body = std::move(res->body);
    auto decoded = co_await net::offload(pool_.compute(), [&] { return decode_batch(body); });
    if (!decoded)
      co_return make_error(ErrorCode::peer_unavailable, "page from " + from + ": " + decoded.error().message());
    std::int64_t last = since;
    for (const auto& wd : decoded->deltas)
      if (wd.delta.creator == theirs.creator && wd.delta.collection == theirs.collection)
        last = std::max(last, wd.delta.seq);
    if (last <= since)
      co_return make_error(ErrorCode::peer_unavailable, "a page of " + theirs.creator + "/" + theirs.collection +
                                                            " from " + from + " made no progress");
    auto batch = std::make_shared<WireBatch>(std::move(*decoded));
    auto ingest = start_on(pool_.store(), ex, [this, batch, from, org]() {
      return data_.ingest(from, *batch, [&](const std::string& c) { return shares(from, org, c); });
    });
    std::optional<Result<net::ClientResponse>> next;
    if (last < theirs.seq) {
      auto fetched = co_await fetch(last);  // named: g++ 12 and temporaries in co_await expressions
      next.emplace(std::move(fetched));
    }
    auto report = co_await ingest->get();
    if (!report)
      co_return make_error(ErrorCode::peer_unavailable, "page from " + from + ": " + report.error().message());
    log_rejections(from, *report);
    link.deltas_pulled += report->stored;
    if (only_equivocations(*report)) break;  // quarantined here: not a failure of the link
    if (!report->rejected.empty())
      co_return make_error(
          ErrorCode::peer_unavailable,
          "a page from " + from + " was refused: " + (report->problems.empty() ? "?" : report->problems.front()));
    since = last;
    if (!next) break;
    res = std::move(*next);
  }
  co_return Status{};
}

asio::awaitable<Status> Replicator::push(Link& link, const StreamHead& mine, std::int64_t theirs) {
  std::int64_t since = theirs;
  while (since < mine.seq && !stopping_) {
    auto page = co_await net::offload(pool_.store(), [&]() {
      return data_.page(mine.creator, mine.collection, since, options_.page_deltas, options_.page_bytes);
    });
    if (!page) co_return std::move(page).error();
    if (page->second == 0) break;
    std::size_t n = static_cast<std::size_t>(page->second - since);
    if (auto s = co_await post_message(link, std::move(page->first), n); !s) co_return s;
    since = page->second;
  }
  co_return Status{};
}

// ---- the receiving side ----

asio::awaitable<Result<json>> Replicator::on_deltas(std::string from, std::string organization, std::string body) {
  if (!shares_any(from, organization))
    co_return make_error(ErrorCode::forbidden, "this node shares no collection with " + from);
  auto report = co_await net::offload(pool_.store(), [&]() -> Result<IngestReport> {
    auto batch = decode_batch(body);
    if (!batch) return std::move(batch).error();
    return data_.ingest(from, *batch, [&](const std::string& c) { return shares(from, organization, c); });
  });
  if (!report) co_return std::move(report).error();
  log_rejections(from, *report);
  if (!report->gaps.empty())
    if (auto l = link_for(from, true)) l->link->request_catch_up();  // we miss earlier deltas: fetch them
  if (report->stored > 0) (void)link_for(from, true);                // a peer that sends data gets ours
  co_return report->to_json();
}

asio::awaitable<Result<json>> Replicator::on_heads(std::string from, std::string organization, json body) {
  if (!shares_any(from, organization))
    co_return make_error(ErrorCode::forbidden, "this node shares no collection with " + from);
  if (!body.is_object()) co_return make_error(ErrorCode::bad_json, "the body must be {heads: [...]}");
  auto theirs = heads_from_json(body.value("heads", json::array()));
  if (!theirs) co_return std::move(theirs).error();
  std::vector<StreamHead> mine;
  for (auto& h : data_.heads())
    if (shares(from, organization, h.collection)) mine.push_back(std::move(h));
  (void)link_for(from, true);
  co_return json{{"heads", heads_json(mine)}};
}

asio::awaitable<Result<std::string>> Replicator::on_page(std::string from, std::string organization,
                                                         std::string creator, std::string collection,
                                                         std::int64_t since, std::size_t limit) {
  if (!shares(from, organization, collection))
    co_return make_error(ErrorCode::forbidden, "this node does not share '" + collection + "' with " + from);
  if (since < 0) co_return make_error(ErrorCode::invalid_argument, "'since' must be 0 or more");
  limit = std::clamp<std::size_t>(limit, 1, options_.page_deltas);
  auto page = co_await net::offload(
      pool_.store(), [&]() { return data_.page(creator, collection, since, limit, options_.page_bytes); });
  if (!page) co_return std::move(page).error();
  co_return std::move(page->first);
}

json Replicator::links_json() const {
  json out = json::array();
  std::lock_guard lock(mu_);
  for (const auto& [name, l] : links_) {
    auto st = l->link->stats();
    out.push_back({{"peer", name},
                   {"state", st.up ? "up" : "down"},
                   {"queued", st.queued},
                   {"needs_catch_up", st.needs_catch_up},
                   {"messages", l->messages.load()},
                   {"deltas_sent", l->deltas_sent.load()},
                   {"deltas_pulled", l->deltas_pulled.load()},
                   {"catch_ups", l->catch_ups.load()},
                   {"fallbacks", st.dropped},
                   {"last_ok", st.last_ok},
                   {"last_error", st.last_error}});
  }
  return out;
}

bool Replicator::idle() const {
  std::lock_guard lock(mu_);
  return std::all_of(links_.begin(), links_.end(), [](const auto& l) { return l.second->link->idle(); });
}

}  // namespace fedmesh::data
