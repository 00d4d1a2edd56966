// Node: builds a running node from a NodeConfig and owns every part's lifetime.
// Start-up order: workdir -> store -> identity checks -> TLS -> I/O threads ->
// listeners -> peers. Shutdown is the reverse, draining listeners within the grace
// period and flushing the store. The facade methods (status, peers, metrics) are
// thread-safe; create/start/stop run on the control thread.
#pragma once

#include <chrono>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "config/node_config.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "data/replicator.hpp"
#include "data/service.hpp"
#include "federation/peer_manager.hpp"
#include "jobs/aggregator.hpp"
#include "jobs/worker.hpp"
#include "net/http_client.hpp"
#include "net/http_server.hpp"
#include "net/io_pool.hpp"
#include "net/pool_watch.hpp"
#include "net/router.hpp"
#include "registry/catalog.hpp"
#include "registry/kodo.hpp"
#include "registry/mesh.hpp"
#include "registry/registrant.hpp"
#include "skills/skill_host.hpp"
#include "store/store.hpp"

namespace fedmesh {

class Node {
 public:
  // Checks files and identity and opens the store; starts nothing.
  // `clock` is the wall time of everything the node stamps (tests may pass their own).
  static Result<std::unique_ptr<Node>> create(NodeConfig config, const Clock& clock = Clock::system());
  ~Node();

  // Starts the I/O threads, the listeners (with these routers) and the peer loops.
  // `kodo_routes` serve `registry.kodo_listen` when that is set, `join_routes` serve
  // `jobs.join_listen` when that is set.
  Status start(std::shared_ptr<const net::Router> http_routes, std::shared_ptr<const net::Router> federation_routes,
               std::shared_ptr<const net::Router> kodo_routes = nullptr,
               std::shared_ptr<const net::Router> join_routes = nullptr);
  // Graceful stop; idempotent.
  void stop();

  // Facade used by api/.
  const NodeConfig& config() const { return config_; }
  // GET /api/v1/status as JSON text: the constant fields are serialized once at start,
  // the live ones per call (monitors poll this endpoint).
  std::string status_text() const;
  nlohmann::json peers() const;
  std::string metrics_text() const;
  bool idle() const;
  federation::PeerManager& peer_manager() { return *peers_; }
  skills::SkillHost& skills() { return *skills_; }
  // The catalog when this node has the registry role, else null.
  registry::Catalog* catalog() { return catalog_.get(); }
  registry::Mesh* mesh() { return mesh_.get(); }
  // The Kodo v1 gateway when `registry.kodo_compat` is on, else null.
  registry::kodo::Gateway* kodo() { return kodo_.get(); }
  data::DataService& data() { return *data_; }
  data::Replicator& replicator() { return *replicator_; }
  // The jobs aggregator (roles aggregator or standalone), else null.
  jobs::Aggregator* aggregator() { return aggregator_.get(); }
  // The jobs worker (roles client or standalone), else null.
  jobs::Worker* worker() { return worker_.get(); }
  net::IoPool& io() { return *io_; }
  // What one data query or assembled read may spend ([data] query_timeout, query_work,
  // max_answer_bytes); its clock starts when a Budget is made from it.
  BudgetLimits read_limits() const;
  // Worker pools busy past skills.wedged_after: {"store": {"waiting_ms", "busy"}, ...}.
  nlohmann::json pools_health() const;
  bool pools_busy() const;
  std::uint16_t http_port() const;
  std::uint16_t federation_port() const;

 private:
  Node(NodeConfig config, const Clock& clock);
  // The builders create() runs in order, one per part of the node.
  Status build_workdir();
  Status build_store();
  Status build_transport();
  Status build_federation();
  Status build_skills();
  Status build_registry();
  Status build_discovery();
  Status build_data();
  Status build_jobs();
  Status record_start();
  Status write_runtime_file() const;

  NodeConfig config_;
  const Clock& clock_;
  std::chrono::system_clock::time_point started_at_;
  std::chrono::steady_clock::time_point started_steady_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<net::IoPool> io_;
  std::unique_ptr<net::PoolWatch> pool_watch_;  // made at start, after the I/O threads run
  std::optional<net::TlsContext> fed_server_tls_;
  std::optional<net::TlsContext> http_tls_;
  std::unique_ptr<net::HttpClient> client_;
  std::unique_ptr<federation::PeerManager> peers_;
  std::unique_ptr<skills::SkillHost> skills_;
  std::unique_ptr<registry::Catalog> catalog_;
  std::unique_ptr<registry::Registrant> registrant_;
  std::unique_ptr<registry::Mesh> mesh_;
  std::unique_ptr<registry::kodo::Gateway> kodo_;
  std::unique_ptr<HybridClock> hlc_;
  std::unique_ptr<data::Creators> creators_;
  std::unique_ptr<data::DataService> data_;
  std::unique_ptr<data::Replicator> replicator_;
  std::unique_ptr<net::HttpServer> kodo_server_;
  std::unique_ptr<jobs::Aggregator> aggregator_;
  std::unique_ptr<jobs::Worker> worker_;
  std::optional<net::TlsContext> join_tls_;
  std::unique_ptr<net::HttpServer> join_server_;
  std::shared_ptr<net::HttpMetrics> join_metrics_;
  std::shared_ptr<boost::asio::steady_timer> sweeper_;
  std::shared_ptr<net::HttpMetrics> http_metrics_;
  std::shared_ptr<net::HttpMetrics> fed_metrics_;
  std::shared_ptr<net::HttpMetrics> kodo_metrics_;
  std::unique_ptr<net::HttpServer> http_server_;
  std::unique_ptr<net::HttpServer> fed_server_;
  bool stopped_ = false;
  std::string status_prefix_;  // the constant fields of status, serialized at start
};

}  // namespace fedmesh
