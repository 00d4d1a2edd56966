// Kodo v1 compatibility: lets existing Kodo nodes and registries join a fedmesh
// registry over Kodo's plain-HTTP JSON routes, unchanged (docs/kodo-compat.md).
//
// Kodo nodes become catalog entries of kind "kodo" named after their URL, beside the
// fedmesh nodes, and travel through the fedmesh registry mesh like any entry. Kodo
// registries that POST /connect are remembered (persisted, so a restart keeps them);
// those that asked for a feed get every later catalog change as POST /update/node,
// each through its own federation::PeerLink on the I/O threads: a bounded queue that
// coalesces updates of one node, deadlines, capped backoff and a few retries (the
// update is idempotent: it replaces the node), so one slow registry delays no other.
// A change never goes back to the Kodo registry it came from, and one a Kodo registry
// echoes back is unchanged here, so it stops here: no flood through us.
//
// A registry may also connect out (registry.kodo_connect), as a Kodo registry started
// with connect=[...] does: at start it POSTs /connect with every node it knows and
// feed = true, and records the answer's nodes. The feed to that registry begins with this
// connect (its catch-up), retried with capped backoff; if no connect has succeeded when
// connect_timeout passes, the registry gives up on it until its next start. Afterwards
// changes go both ways as /update/node; one it refuses (a Kodo registry that restarted
// forgets who connected) makes the feed connect again, with the whole catalog.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "federation/peer_link.hpp"
#include "net/io_pool.hpp"
#include "registry/catalog.hpp"
#include "registry/flow_index.hpp"
#include "registry/index_cache.hpp"
#include "store/meta_store.hpp"

namespace fedmesh::registry::kodo {

// Kodo writes naive UTC timestamps: "2024-12-26T10:28:59.626308" (no zone).
std::string wire_time(const std::string& iso);
// Python's str(datetime), as in Kodo's messages: "2024-12-26 10:28:59.626308".
std::string message_time(const std::string& iso);
// The catalog name of a Kodo node: "kodo-" and its host, port and path, made safe.
std::string node_name(const std::string& url);

struct Node {
  std::string url;
  std::string organization;
  std::vector<FlowSpec> flows;
};
// A Kodo Node body: url, organization, flows keyed by path (a list is accepted too).
Result<Node> decode_node(const nlohmann::json& body, const std::string& where = "node");

struct Offer {
  std::string url;
  std::string organization;
  bool feed = false;
  std::vector<Node> nodes;
};
// A Kodo ProviderOffer (or Provider) body: url, organization, feed, nodes keyed by url.
Result<Offer> decode_offer(const nlohmann::json& body);

// A catalog entry as a Kodo Node.
nlohmann::json node_json(const CatalogNode& node);

struct GatewayOptions {
  std::string url;  // how Kodo peers reach this registry ("http://host:port")
  std::string organization;
  std::chrono::milliseconds timeout{5000};  // per forward attempt
  std::size_t max_queue = 10'000;           // pending (registry, node) forwards
  int attempts = 3;
  std::vector<std::string> connect;                   // Kodo registries to connect to at start
  std::chrono::milliseconds connect_timeout{60'000};  // connecting gives up after this long
  std::chrono::milliseconds retry_initial{200};       // backoff between connect attempts
  std::chrono::milliseconds retry_max{10'000};
};

class Gateway {
 public:
  // Feeds run on `pool`'s I/O threads.
  Gateway(Catalog& catalog, MetaStore& store, net::IoPool& pool, GatewayOptions options);
  ~Gateway();

  // Loads the remembered Kodo registries (or forgets them with `reset`).
  Status load(bool reset);
  // Starts feeding the Kodo registries that asked for it, and connecting to those of
  // options.connect. Call once the url is final (set_url).
  void start();
  void stop();
  void set_url(std::string url);
  std::string url() const;

  // Kodo's default answer (GET / and most POSTs).
  nlohmann::json status(const std::vector<std::string>& messages = {}) const;
  // The route bodies; they write the store, so callers run them off the I/O threads.
  Result<nlohmann::json> register_node(const nlohmann::json& body);
  Result<nlohmann::json> connect(const nlohmann::json& body);
  Result<nlohmann::json> update_node(const nlohmann::json& body);
  Result<nlohmann::json> update_registry(const nlohmann::json& body);
  // ProviderDump: {url, organization, feed, nodes, providers}.
  nlohmann::json dump() const;
  // The catalog as Kodo's /flows and /counts show it (node is the node's URL, registry is
  // this registry's, timestamps naive), kept like the catalog's own index.
  std::shared_ptr<const FlowIndex> index();
  void set_index_runner(IndexCache::Runner runner);

  bool idle() const;  // no forward queued or in flight
  std::uint64_t forwarded() const { return forwarded_; }

  using Feed = federation::PeerLink<nlohmann::json>;

 private:
  struct Provider {
    std::string url;
    std::string organization;
    bool feed = false;
    std::string created;
    std::string modified;
    std::string heartbeat;
  };
  nlohmann::json offer() const;  // this registry's ProviderOffer: every live node
  Status save_providers();       // call with mu_ held
  // Applies Kodo nodes from `source` ("" for a node registering itself); returns messages.
  Result<std::vector<std::string>> apply_nodes(const std::vector<Node>& nodes, const std::string& source);
  // /update/node and /update/registry: an offer from a Kodo registry that connected.
  Result<std::vector<std::string>> update_from(const nlohmann::json& body, bool provider_record);
  void on_change(const CatalogNode& node, const ChangeSource& source);
  std::vector<NodeFlows> kodo_rows() const;
  // The feed to the Kodo registry at `url`, made (and started) on first use; call with mu_ held.
  // A registry this one connects to gets a feed whose catch-up is that connect.
  std::shared_ptr<Feed> feed_locked(const std::string& url);
  boost::asio::awaitable<Status> forward(std::string registry, std::vector<nlohmann::json> nodes);
  // POST /connect to `registry` with this registry's offer; records the answer's nodes and
  // the registry (fed). The catch-up of that registry's feed.
  boost::asio::awaitable<Status> connect_to(std::string registry);
  // When connect_timeout has passed: gives up on the registries not connected yet.
  boost::asio::awaitable<void> connect_deadline();

  Catalog& catalog_;
  MetaStore& store_;
  net::IoPool& pool_;
  GatewayOptions options_;
  std::string started_at_;
  int listener_ = 0;
  mutable std::mutex mu_;  // guards everything below
  std::map<std::string, Provider> providers_;
  std::map<std::string, std::shared_ptr<Feed>> feeds_;   // by Kodo registry url
  std::map<std::string, std::string> connected_;         // options.connect url -> last connect (ISO-8601)
  std::set<std::string> given_up_;                       // options.connect urls past connect_timeout
  std::shared_ptr<boost::asio::steady_timer> deadline_;  // connect_deadline's; cancelled by stop()
  bool started_ = false;
  bool stopping_ = false;
  std::atomic<std::uint64_t> forwarded_{0};
  IndexCache index_;
};

}  // namespace fedmesh::registry::kodo
