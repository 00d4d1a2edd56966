// NodeConfig: the typed, validated configuration of one node, built by load_config
// (loader.hpp) from TOML or YAML. Plain values; paths are already resolved.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace fedmesh {

using Millis = std::chrono::milliseconds;

struct PeerConfig {
  std::string name;  // expected certificate name
  std::string url;   // https://host:port
  bool bidirectional = false;
  bool operator==(const PeerConfig&) const = default;
};

struct HttpConfig {
  std::string listen;
  std::string token;
  std::string tls_cert;
  std::string tls_key;
  std::size_t max_body = 0;
  Millis request_timeout{0};
  Millis idle_timeout{0};
  std::size_t max_connections = 0;
  bool debug_routes = false;
  bool operator==(const HttpConfig&) const = default;
};

struct FederationConfig {
  bool enabled = true;  // false when the config has no [federation] section: no peers at all
  std::string listen;
  std::string advertise;
  std::string cert;
  std::string key;
  std::vector<std::string> trust;
  std::vector<std::string> deny;
  std::vector<PeerConfig> peers;
  std::string issuer;  // a CA folder (ca.crt, ca.key) that signs joining clients' certificates
  Millis hello_interval{0};
  Millis retry_initial{0};
  Millis retry_max{0};
  Millis call_timeout{0};
  int max_idle_per_peer = 0;
  bool operator==(const FederationConfig&) const = default;
};

struct StoreConfig {
  std::string backend;  // sqlite | postgresql
  std::string path;     // sqlite file (resolved), or ":memory:"
  std::string url;      // postgresql URL
  bool operator==(const StoreConfig&) const = default;
};

struct SkillsConfig {
  Millis timeout{0};      // default deadline of a call that names none
  Millis max_timeout{0};  // longest deadline a caller may ask for
  int max_depth = 0;
  std::size_t memory_limit = 0;  // bytes per package
  std::int64_t instruction_limit = 0;
  std::vector<std::string> env;  // variables packages may read
  int threads = 0;               // script pool
  int suspend_after = 0;         // overruns in a row that suspend a package
  Millis wedged_after{0};        // script threads all busy this long: unhealthy
  bool operator==(const SkillsConfig&) const = default;
};

// Package (and so system service) names: 1-63 of a-z, 0-9, '_' and '-', starting with a
// letter or digit ("aqua-ipfs", "color_tools").
inline bool valid_package_name(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '_' && c != '-'))) return false;
  }
  return true;
}

// The [system_services.TABLE] that configures a service: its name with '-' written '_'
// (Fluence's rule: [system_services.aqua_ipfs] configures aqua-ipfs).
inline std::string service_table_name(std::string_view service) {
  std::string table(service);
  for (auto& c : table) {
    if (c == '-') c = '_';
  }
  return table;
}

struct SystemServicesConfig {
  // Package names deployed at every start; absent (nullopt): every package found in `path`
  // (Fluence's default); empty: none.
  std::optional<std::vector<std::string>> enable;
  std::vector<std::string> path;                      // folders holding NAME/package.toml (resolved)
  nlohmann::json configs = nlohmann::json::object();  // [system_services.TABLE] tables, by table name
  // Which packages were deployed as system services (workdir/system_services.json), so a
  // start can remove those no longer enabled. Not an option: derived from workdir.
  std::string deployed_file;
  bool operator==(const SystemServicesConfig&) const = default;
};

struct RegistryConfig {
  bool reset = false;     // start with an empty catalog
  Millis stale_after{0};  // no heartbeat for this long: stale
  Millis gone_after{0};   // no heartbeat for this long: evicted
  int max_page_size = 0;
  std::vector<std::string> peers;  // peer names of other registries to sync with
  bool kodo_compat = false;        // also serve Kodo v1's plain-HTTP routes
  std::string kodo_listen;         // a plain-HTTP listener for Kodo peers only ("" = the http listener)
  std::string kodo_url;            // how Kodo peers reach this registry ("" = derived from the listener)
  Millis kodo_ttl{0};              // evict Kodo nodes not re-registered for this long (0 = keep)
  // Kodo registries (http://host:port) to POST /connect to at start, and how long that retries.
  std::vector<std::string> kodo_connect;
  Millis kodo_connect_timeout{0};
  bool operator==(const RegistryConfig&) const = default;
};

struct DiscoveryConfig {
  std::vector<std::string> registries;  // peer names of registry nodes
  Millis heartbeat{0};
  bool operator==(const DiscoveryConfig&) const = default;
};

// One [data] share entry: which peers receive (and may send) a collection's deltas.
struct ShareRule {
  std::string collection;         // a collection name, or "*" for every collection
  std::vector<std::string> with;  // peer names, "org:NAME", or "*"
  bool operator==(const ShareRule&) const = default;
};

struct DataConfig {
  std::vector<ShareRule> share;
  std::size_t cache_deltas = 0;       // deltas kept in memory across cached entities
  int max_expand = 0;                 // deepest ?expand= a read may ask for
  Millis query_timeout{0};            // wall time of one query or assembled read
  std::int64_t query_work = 0;        // work units one query may spend
  std::int64_t max_answer_bytes = 0;  // bytes one assembled read may build
  bool operator==(const DataConfig&) const = default;
};

// One [[jobs.projects]] entry on an aggregator: a project and the token that gates it.
struct ProjectConfig {
  std::string name;
  std::string token;  // secret
  bool operator==(const ProjectConfig&) const = default;
};

// One [[jobs.datasources]] entry on a client: a CSV or TSV file and who may query it.
struct DatasourceConfig {
  std::string name;
  std::string path;                 // resolved
  std::string format;               // csv | tsv
  std::vector<std::string> tokens;  // project tokens it serves (secrets)
  std::int64_t min_rows = 0;        // refuse any task over fewer rows after filtering
  bool summaries = false;           // whether per-column summaries may be shown to the aggregator
  bool operator==(const DatasourceConfig&) const = default;
};

struct JobsConfig {
  // Aggregator (roles aggregator or standalone).
  std::vector<ProjectConfig> projects;
  std::vector<std::string> join_tokens;  // one-time tokens for `fedmesh join` (secrets)
  std::string join_listen;               // TLS listener for joining clients ("" = none)
  Millis lease{0};
  int max_attempts = 0;
  Millis job_timeout{0};  // a job not over after this long fails (0: never)
  bool allow_partial_results = false;
  // Client (roles client or standalone).
  std::string aggregator;                         // https://host:port of the aggregator's federation listener
  std::vector<std::string> fallback_aggregators;  // more aggregators on the same database, tried in turn
  std::string aggregator_name;                    // pins the aggregator's certificate name ("" = any trusted)
  Millis poll{0};                                 // how long one poll waits at the aggregator for a task
  std::vector<DatasourceConfig> datasources;
  bool operator==(const JobsConfig&) const = default;
};

struct LogConfig {
  std::string level;
  std::string format;
  bool operator==(const LogConfig&) const = default;
};

struct NodeConfig {
  std::string name;
  std::string organization;
  std::string workdir;  // resolved
  std::vector<std::string> roles;
  int threads = 0;  // resolved: never 0 after loading
  Millis shutdown_grace{0};
  HttpConfig http;
  FederationConfig federation;
  StoreConfig store;
  SkillsConfig skills;
  SystemServicesConfig system_services;
  RegistryConfig registry;
  DiscoveryConfig discovery;
  DataConfig data;
  JobsConfig jobs;
  LogConfig log;
  bool operator==(const NodeConfig&) const = default;
};

}  // namespace fedmesh
