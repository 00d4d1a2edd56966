// Catalog: a registry node's view of every registered node and its flows, kept in
// memory for queries and written through to the store so a restart keeps it.
// Registration sets `created` once and moves `modified`; heartbeats move `heartbeat`
// only. Status comes from heartbeat age: alive, stale (older than stale_after), and
// nodes older than gone_after are evicted by sweep().
//
// For the registry mesh every entry carries the registry it came from (`origin`) and a
// hybrid-clock `version`; removals are tombstones. apply() takes a change from a peer
// only when (version, origin) is newer than what is held, so flooding converges on any
// topology without loops. Every change, local or applied, goes to the listener.
// Thread-safe; store calls block, so callers run them off the I/O threads.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/time.hpp"
#include "registry/flow_index.hpp"
#include "registry/index_cache.hpp"
#include "store/catalog_store.hpp"

namespace fedmesh::registry {

// Validates a registration body's flow list (outside bytes): limits, types, names.
// fedmesh flows are named "pkg/skill"; Kodo flows (`pkg_names` false) carry free text.
Result<std::vector<FlowSpec>> decode_flows(const nlohmann::json& flows, std::size_t max_flows = 1024,
                                           bool pkg_names = true);

// A flow's tags (outside bytes): a list of at most 32 strings of 1-64 characters.
Result<std::vector<std::string>> decode_tags(const nlohmann::json& tags, const std::string& where);

inline constexpr std::string_view kKindFedmesh = "fedmesh";
inline constexpr std::string_view kKindKodo = "kodo";

struct CatalogNode {
  std::string name;
  std::string url;
  std::string organization;
  std::string created;
  std::string modified;
  std::string heartbeat;
  SystemTime heartbeat_at;
  FlowList flows = no_flows();  // shared with the query indexes; replaced, never changed
  std::string origin;
  std::int64_t version = 0;
  bool deleted = false;
  std::string kind{kKindFedmesh};  // fedmesh | kodo (came through the Kodo v1 routes)
  std::vector<std::string> via;    // in flight only: registries this change was already sent to
  std::string received;            // local only: when this registry stored this version
};

// Where a change came from: a peer registry of the mesh, a Kodo registry, or neither
// (a local change: a registration, heartbeat or eviction here).
struct ChangeSource {
  std::string registry;       // the mesh peer that sent it
  std::string kodo_registry;  // the URL of the Kodo registry that sent it
};

class Catalog {
 public:
  // `clock` is the wall time of heartbeats, ages and versions (tests pass a FakeClock).
  Catalog(CatalogStore& store, std::string registry_name, std::chrono::milliseconds stale_after,
          std::chrono::milliseconds gone_after, const Clock& clock = Clock::system());

  const Clock& clock() const { return clock_; }

  // Loads the persisted catalog, or clears it with `reset`.
  Status load(bool reset);

  struct Registered {
    bool first = false;
    std::string created;
    std::string modified;
  };
  Result<Registered> register_node(const std::string& name, const std::string& url, const std::string& organization,
                                   std::vector<FlowSpec> flows);
  // A node that arrived through the Kodo v1 routes. `touch` (a Kodo /register) always
  // moves modified and heartbeat; without it (an /update/node from a Kodo registry) an
  // entry whose url, organization and flows are unchanged is left alone, so a change
  // echoed back by a Kodo mesh stops here. A fedmesh node's entry is never replaced.
  struct KodoPut {
    bool first = false;
    bool changed = false;
    std::string created;
  };
  // `kodo_source` is the URL of the Kodo registry that sent it ("" for a node itself).
  Result<KodoPut> put_kodo(const std::string& name, const std::string& url, const std::string& organization,
                           std::vector<FlowSpec> flows, bool touch, const std::string& kodo_source = "");
  // Kodo v1 nodes never heartbeat: with ttl 0 they stay (status "unknown") until they
  // re-register elsewhere or the catalog is reset; otherwise they are evicted after ttl.
  void set_kodo_ttl(std::chrono::milliseconds ttl);
  // Live entries, for the Kodo views (/map, /_cache, /connect).
  std::vector<CatalogNode> live_nodes() const;
  // The URLs of live entries of one kind (no flows copied).
  std::set<std::string> live_urls(std::string_view kind) const;

  // False when the node is not in the catalog (it should register).
  Result<bool> heartbeat(const std::string& name);
  Result<bool> deregister(const std::string& name);
  // Evicts nodes whose heartbeat is older than gone_after (as tombstones); returns their
  // names. Tombstones older than twice gone_after are purged.
  std::vector<std::string> sweep();

  // A change from peer registry `from`; true when it was newer and applied.
  Result<bool> apply(const CatalogNode& change, const std::string& from);
  // name -> [version, origin] of every entry, tombstones included.
  nlohmann::json digest() const;
  // Entries this catalog holds newer than `digest` (or that it lacks), and the names
  // for which the digest is newer (or that this catalog lacks).
  std::vector<CatalogNode> newer_than(const nlohmann::json& digest) const;
  std::vector<std::string> wanted_from(const nlohmann::json& digest) const;
  std::vector<CatalogNode> entries(const std::vector<std::string>& names) const;

  // Listeners are called after every change (outside the lock) with the entry and where
  // it came from. add_listener returns an id for remove_listener.
  using Listener = std::function<void(const CatalogNode&, const ChangeSource& source)>;
  int add_listener(Listener listener);
  void remove_listener(int id);

  // Every live node with its flows, as the query index takes them (flows shared, not copied).
  std::vector<NodeFlows> node_flows() const;
  // Queries and counts run on an immutable, warmed FlowIndex of the flows, kept by an
  // IndexCache (exact up to IndexCache::kSyncRows flows, rebuilt in the background
  // above). Items always show the live status and heartbeat.
  Result<nlohmann::json> query(const QueryRequest& request, const QueryLimits& limits);
  nlohmann::json counts();
  // Runs an index build off the caller's thread (the node gives it a thread of its own).
  void set_index_runner(std::function<void(std::function<void()>)> runner);
  // Changes so far: (anything an index holds, heartbeats only). Views that keep their own
  // IndexCache of this catalog (Kodo's) compare against them.
  std::pair<std::uint64_t, std::uint64_t> generations() const;
  // Starts building the first query index in the background (called once started).
  void prepare_index();
  // Nodes offering `skill` that are not gone: [{name, url, organization, status}].
  nlohmann::json providers(const std::string& skill) const;
  nlohmann::json nodes() const;
  std::optional<nlohmann::json> node(const std::string& name) const;
  std::string status_of(const CatalogNode& node, SystemTime now) const;

 private:
  Status persist(const CatalogNode& node);
  // Mutates a live entry as a local change (new version, this registry as origin),
  // persists it and tells the listener; false when there is no live entry.
  Result<bool> update_local(const std::string& name, const std::function<void(CatalogNode&)>& mutate,
                            bool heartbeat_only = false);
  std::int64_t next_version() { return hlc_.next(); }
  // A (re-)registration's fields, as a local change at `now`; call with mu_ held.
  void renew(CatalogNode& node, std::string_view kind, const std::string& url, const std::string& organization,
             std::vector<FlowSpec> flows, SystemTime now);
  // `heartbeat_only`: nothing the index holds changed but the heartbeat.
  void changed(const CatalogNode& node, const ChangeSource& source, bool heartbeat_only = false);
  nlohmann::json node_json(const CatalogNode& node, SystemTime now) const;
  std::shared_ptr<const FlowIndex> index();

  CatalogStore& store_;
  const Clock& clock_;
  HybridClock hlc_;  // versions of local changes; absorbs the versions of remote ones
  std::string registry_;
  std::chrono::milliseconds stale_after_;
  std::chrono::milliseconds gone_after_;
  std::chrono::milliseconds kodo_ttl_{0};
  mutable std::mutex mu_;  // guards nodes_
  std::map<std::string, CatalogNode> nodes_;
  std::vector<std::pair<int, Listener>> listeners_;     // guarded by mu_
  std::atomic<std::uint64_t> generation_{0};            // bumped by every change but heartbeats
  std::atomic<std::uint64_t> heartbeat_generation_{0};  // bumped by heartbeats
  IndexCache index_;
  int next_listener_ = 0;
};

}  // namespace fedmesh::registry
