// Replicator: moves shared data between this node and its peers over the federation
// listener (docs/data-model.md, "Replication").
//
// `[data] share` decides which peers get which collections, and which collections a
// peer may send. Every commit (a local write, or deltas a peer sent) is queued to every
// peer that shares one of its collections, except the peer it came from; each peer has a
// federation::PeerLink: a bounded queue, batches, capped jittered backoff. A full queue
// or a failed send never drops data silently: the link falls back to catch-up, which
// exchanges per-stream heads ((creator, collection) -> highest seq) and then moves only
// what each side lacks, in pages of whole signed runs (pull what we lack, push what they
// lack). Links start with a catch-up, so a node that was down or restarted converges.
// Relayed deltas keep their creator's signature; duplicates are dropped by seq, so a
// ring or a full mesh never loops.
//
// Links exist for configured peers that share something, and are made for peers that
// contact us with shared data. start()/stop() on the control thread; handlers and
// listeners run on I/O and store threads; everything else is thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include "config/node_config.hpp"
#include "data/service.hpp"
#include "federation/peer_manager.hpp"
#include "net/io_pool.hpp"

namespace fedmesh::data {

struct ReplicatorOptions {
  std::vector<ShareRule> share;
  std::vector<std::string> peers;  // configured federation peers
  std::chrono::milliseconds retry_max{10'000};
  std::chrono::milliseconds call_timeout{10'000};
  std::size_t page_deltas = 2048;                 // deltas per catch-up page
  std::size_t page_bytes = std::size_t{2} << 20;  // canonical bytes per catch-up page
};

class Replicator {
 public:
  Replicator(net::IoPool& pool, federation::PeerManager& peers, DataService& data, ReplicatorOptions options);
  ~Replicator();
  void start();
  void stop();

  // Whether `peer` (of `organization`, "" when unknown) gets, and may send, `collection`.
  bool shares(const std::string& peer, const std::string& organization, const std::string& collection) const;

  // POST /fed/v1/data/deltas: a message of deltas; answers the ingest report.
  boost::asio::awaitable<Result<nlohmann::json>> on_deltas(std::string from, std::string organization,
                                                           std::string body);
  // POST /fed/v1/data/heads {heads: [{creator, collection, seq}]}: answers this node's
  // heads of the collections it shares with the caller.
  boost::asio::awaitable<Result<nlohmann::json>> on_heads(std::string from, std::string organization,
                                                          nlohmann::json body);
  // GET /fed/v1/data/page: one page of a stream after `since`, as a message ("" when none).
  boost::asio::awaitable<Result<std::string>> on_page(std::string from, std::string organization, std::string creator,
                                                      std::string collection, std::int64_t since, std::size_t limit);

  // [{peer, state, queued, needs_catch_up, messages, deltas_sent, deltas_pulled, fallbacks, last_ok, last_error}]
  nlohmann::json links_json() const;
  // Nothing queued, in flight, or waiting for a catch-up on a reachable link.
  bool idle() const;

  struct Link;

 private:
  std::shared_ptr<Link> link_for(const std::string& peer, bool create);
  bool shares_any(const std::string& peer, const std::string& organization) const;
  std::string organization_of(const std::string& peer) const;
  void on_commit(const std::shared_ptr<const Commit>& commit);
  void log_rejections(const std::string& peer, const IngestReport& report);
  // Logs what a peer's ingest report says it refused of what this node sent.
  void log_refusals(const std::string& peer, const nlohmann::json& report);
  boost::asio::awaitable<Status> send_commits(Link& link, std::vector<std::shared_ptr<const Commit>> commits);
  boost::asio::awaitable<Status> catch_up(Link& link);
  boost::asio::awaitable<Status> post_message(Link& link, std::string message, std::size_t deltas);
  boost::asio::awaitable<Status> pull(Link& link, const StreamHead& theirs, std::int64_t mine);
  boost::asio::awaitable<Status> push(Link& link, const StreamHead& mine, std::int64_t theirs);

  net::IoPool& pool_;
  federation::PeerManager& peers_;
  DataService& data_;
  ReplicatorOptions options_;
  int listener_ = 0;
  std::atomic<bool> started_{false};
  std::atomic<bool> stopping_{false};

  mutable std::mutex mu_;  // guards links_, logged_ and refusals_logged_
  std::map<std::string, std::shared_ptr<Link>> links_;
  std::map<std::string, std::chrono::steady_clock::time_point> logged_;           // peer -> last rejection logged
  std::map<std::string, std::chrono::steady_clock::time_point> refusals_logged_;  // peer -> last refusal logged
};

}  // namespace fedmesh::data
