// Mesh: a registry's links to its peer registries ([registry] peers). Every change the
// catalog makes or applies is queued to every peer that has not had it: not the one it
// came from, and not those in its `via` list (the registries it was already sent to,
// which each sender extends with its own fan-out), so a change costs one message per
// registry in a full mesh and a ring adds at most one duplicate per cycle. Each peer has
// a federation::PeerLink: a bounded queue (overflow falls back to anti-entropy), batches
// over mTLS, capped jittered backoff. On connect, and after any failure, a link runs
// anti-entropy: both sides exchange digests of (version, origin) and send only what the
// other lacks.
// start()/stop() from the control thread; the handlers run on I/O threads.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include "federation/peer_manager.hpp"
#include "net/io_pool.hpp"
#include "registry/catalog.hpp"

namespace fedmesh::registry {

class Mesh {
 public:
  Mesh(net::IoPool& pool, federation::PeerManager& peers, Catalog& catalog, std::string self,
       const std::vector<std::string>& registry_peers, std::chrono::milliseconds retry_max);
  ~Mesh();
  void start();
  void stop();

  bool is_peer(const std::string& name) const;
  // POST /fed/v1/registry/sync {changes}: validates all, then applies what is newer.
  boost::asio::awaitable<Result<nlohmann::json>> on_sync(std::string from, nlohmann::json body);
  // POST /fed/v1/registry/digest {digest}: answers {changes: newer here, want: names}.
  boost::asio::awaitable<Result<nlohmann::json>> on_digest(std::string from, nlohmann::json body);

  nlohmann::json peers_json() const;
  // Nothing queued, in flight or waiting for anti-entropy on a reachable link.
  bool idle() const;

  struct Link;

 private:
  void enqueue(const CatalogNode& change, const std::string& from);
  boost::asio::awaitable<Status> anti_entropy(Link& link);
  boost::asio::awaitable<Status> send_changes(Link& link, const std::vector<CatalogNode>& changes);

  net::IoPool& pool_;
  federation::PeerManager& peers_;
  Catalog& catalog_;
  std::string self_;
  std::chrono::milliseconds retry_max_;
  std::map<std::string, std::shared_ptr<Link>> links_;  // fixed after construction
  std::atomic<bool> stopping_{false};
  int listener_ = 0;  // catalog listener id
};

}  // namespace fedmesh::registry
