// PeerManager: the node's peer table. Greets each peer over mTLS at start and again
// every hello_interval while it is up; retries peers that are down with capped,
// jittered exponential backoff; adds callers that ask for a bidirectional link; keeps
// peers in the store across restarts. Thread-safe: snapshot()/on_hello() may be called
// from any I/O thread; start()/stop() from the control thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "config/node_config.hpp"
#include "core/error.hpp"
#include "federation/hello.hpp"
#include "net/http_client.hpp"
#include "net/io_pool.hpp"
#include "store/peer_store.hpp"

namespace fedmesh::federation {

enum class PeerState { connecting, up, down, refused };
std::string_view to_string(PeerState s);

struct PeerInfo {
  std::string name;
  std::string url;
  std::string origin;  // "config" or "hello"
  bool bidirectional = false;
  PeerState state = PeerState::connecting;
  std::string last_error;
  std::string organization;
  std::string version;
  std::vector<std::string> roles;
  std::string since;      // when the state last changed
  std::string last_seen;  // last successful hello either way
  std::uint64_t attempts = 0;
  std::vector<std::string> skills;  // "pkg/skill" it exports, as of its last hello
  nlohmann::json to_json() const;
};

struct PeerTimings {
  std::chrono::milliseconds hello_interval{10'000};
  std::chrono::milliseconds retry_initial{200};
  std::chrono::milliseconds retry_max{10'000};
  std::chrono::milliseconds call_timeout{5'000};
};

class PeerManager {
 public:
  // `client` is null on a node without a [federation] section: it has no peers, and
  // send() says so.
  PeerManager(net::IoPool& pool, net::HttpClient* client, PeerStore& store, Hello self, PeerTimings timings);
  ~PeerManager();

  // Loads remembered peers, merges the configured ones and starts greeting them.
  Status start(const std::vector<PeerConfig>& configured);
  // Cancels all greeting loops; returns once none runs.
  void stop();

  std::vector<PeerInfo> snapshot() const;
  // Peers by state (indexed by PeerState) and idle(): one lock, no allocation.
  struct Summary {
    std::array<int, 4> by_state{};
    bool idle = true;
  };
  Summary summary() const;
  // No hello in flight and no peer still in `connecting`.
  bool idle() const;

  // Handles a hello from `cert_name` (the caller's certificate name). Returns our hello.
  boost::asio::awaitable<Result<Hello>> on_hello(std::string cert_name, std::string cert_organization, Hello hello);

  Hello self() const;

  // What this node exports ("pkg/skill"), sent in every hello. Set once by the skill
  // host before start(); announce() greets every peer again after a change.
  void set_exports(std::function<std::vector<std::string>()> exports);
  void announce();

  // Called (outside any lock, from an I/O thread) when a peer becomes up, or stops being up.
  // Add listeners before start().
  void add_listener(std::function<void(const std::string& peer, PeerState state)> listener);

  // The peer's URL and organization, if it is known.
  std::optional<PeerInfo> find(std::string_view name) const;
  // Remembers where a node that is not a peer can be reached (learnt from a registry),
  // so send() can reach it by name; its certificate must still carry that name.
  void remember_endpoint(const std::string& name, const std::string& url);
  // Sends a request to a peer (or a remembered node) by name over the pooled mTLS client.
  boost::asio::awaitable<Result<net::ClientResponse>> send(std::string peer, net::ClientRequest request,
                                                           std::chrono::steady_clock::time_point deadline);

  struct Peer;

 private:
  boost::asio::awaitable<void> run(std::shared_ptr<Peer> peer);
  boost::asio::awaitable<Status> greet(Peer& peer);
  void spawn(std::shared_ptr<Peer> peer);
  void set_state(Peer& peer, PeerState state, std::string error);
  void persist(const Peer& peer);

  net::IoPool& pool_;
  net::HttpClient* client_;
  PeerStore& store_;
  Hello self_;
  PeerTimings timings_;
  std::function<std::vector<std::string>()> exports_;
  std::vector<std::function<void(const std::string&, PeerState)>> listeners_;  // fixed after start()
  std::map<std::string, std::string> endpoints_;  // remembered non-peer URLs (bounded), guarded by mu_

  mutable std::mutex mu_;  // guards peers_, inflight_, running_, stopping_ and every Peer's fields
  // Mirrors of the state counts and inflight_, written under mu_, read lock-free by summary().
  std::array<std::atomic<int>, 4> state_counts_{};
  std::atomic<int> inflight_mirror_{0};
  std::condition_variable idle_cv_;
  std::map<std::string, std::shared_ptr<Peer>> peers_;
  int inflight_ = 0;
  int running_ = 0;
  bool stopping_ = false;
};

}  // namespace fedmesh::federation
