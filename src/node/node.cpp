#include "node/node.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <system_error>
#include <thread>

#include <fmt/format.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include "core/json.hpp"
#include "core/time.hpp"
#include "core/version.hpp"
#include "crypto/certs.hpp"
#include "crypto/files.hpp"
#include "crypto/issued_names.hpp"
#include "net/bearer.hpp"
#include "skills/system_services.hpp"
#include "store/open.hpp"

namespace fedmesh {

namespace fs = std::filesystem;

namespace {

// Identity facts checked before anything listens: the key is private, matches the
// certificate, and the certificate names this node.
Status check_identity(const NodeConfig& c) {
  auto cert = crypto::read_file(c.federation.cert);
  if (!cert) return make_error(ErrorCode::config_invalid, "federation.cert: " + cert.error().message());
  if (auto s = crypto::check_private_permissions(c.federation.key); !s)
    return make_error(ErrorCode::config_invalid, "federation.key: " + s.error().message());
  auto info = crypto::inspect_cert(*cert);
  if (!info)
    return make_error(ErrorCode::config_invalid,
                      "federation.cert: " + c.federation.cert + ": " + info.error().message());
  if (info->common_name != c.name)
    return make_error(ErrorCode::config_invalid, "federation.cert: " + c.federation.cert + " is for '" +
                                                     info->common_name + "', but name = '" + c.name + "'");
  // Peers take a node's organization from its certificate and refuse a hello that claims
  // another, so the config must say the same.
  if (info->organization != c.organization)
    return make_error(ErrorCode::config_invalid, "federation.cert: " + c.federation.cert + " is for organization '" +
                                                     info->organization + "', but organization = '" + c.organization +
                                                     "' (issue it with fedmesh ca issue --organization)");
  if (info->role != crypto::CertRole::node && !c.federation.peers.empty())
    spdlog::warn(
        "federation.cert is a {} certificate (fedmesh join): nodes accept it on aggregators' jobs routes "
        "only, so the peers listed here will refuse it; a node's certificate comes from fedmesh ca issue",
        crypto::to_string(info->role));
  std::vector<std::string> cas;
  for (const auto& t : c.federation.trust) {
    auto pem = crypto::read_file(t);
    if (!pem) return make_error(ErrorCode::config_invalid, "federation.trust: " + pem.error().message());
    cas.push_back(*pem);
  }
  if (auto s = crypto::verify_chain(*cert, cas); !s)
    spdlog::warn("federation.cert does not chain to any trusted CA ({}); peers trusting other CAs may still accept it",
                 s.error().message());
  return {};
}

}  // namespace

Node::Node(NodeConfig config, const Clock& clock) : config_(std::move(config)), clock_(clock) {}

Node::~Node() {
  stop();
}

Result<std::unique_ptr<Node>> Node::create(NodeConfig config, const Clock& clock) {
  std::unique_ptr<Node> node(new Node(std::move(config), clock));
  // One builder per part, in dependency order; the first failure stops the node.
  for (auto build :
       {&Node::build_workdir, &Node::build_store, &Node::build_transport, &Node::build_federation, &Node::build_skills,
        &Node::build_registry, &Node::build_discovery, &Node::build_data, &Node::build_jobs, &Node::record_start}) {
    if (auto s = (node.get()->*build)(); !s) return std::move(s).error();
  }
  return node;
}

Status Node::build_workdir() {
  const auto& c = config_;
  std::error_code ec;
  fs::create_directories(c.workdir, ec);
  // The operator's input (exit 2), like the certificate files it names.
  if (ec) return make_error(ErrorCode::config_invalid, "workdir " + c.workdir + ": " + ec.message());
  ::chmod(c.workdir.c_str(), 0700);

  return {};
}

// The identity is checked before anything opens or listens: key 0600, matching the
// certificate, which names this node and its organization.
Status Node::build_store() {
  const auto& c = config_;
  if (c.federation.enabled) {
    if (auto s = check_identity(c); !s) return s;
  }

  if (c.store.backend == "postgresql") {
    auto store = open_postgres_store(c.store.url);
    if (!store) return std::move(store).error();
    store_ = std::move(*store);
  } else {
    auto store = open_sqlite_store(c.store.path);
    if (!store) return std::move(store).error();
    store_ = std::move(*store);
  }

  return {};
}

// TLS contexts, the I/O threads and pools, and the pooled mTLS client.
Status Node::build_transport() {
  const auto& c = config_;
  std::optional<net::TlsContext> client_tls;
  if (c.federation.enabled) {
    net::TlsFiles fed_files{c.federation.cert, c.federation.key, c.federation.trust, c.federation.deny};
    auto server_tls = net::make_server_context(fed_files, true);
    if (!server_tls) return make_error(ErrorCode::config_invalid, "federation: " + server_tls.error().message());
    fed_server_tls_ = std::move(*server_tls);
    auto made = net::make_client_context(fed_files);
    if (!made) return make_error(ErrorCode::config_invalid, "federation: " + made.error().message());
    client_tls = std::move(*made);
  }
  if (!c.http.tls_cert.empty()) {
    auto http_tls = net::make_server_context({c.http.tls_cert, c.http.tls_key, {}, {}}, false);
    if (!http_tls) return make_error(ErrorCode::config_invalid, "http: " + http_tls.error().message());
    http_tls_ = std::move(*http_tls);
  }

  io_ = std::make_unique<net::IoPool>(c.threads, c.skills.threads);
  net::ClientOptions copts;
  copts.max_idle_per_peer = static_cast<std::size_t>(c.federation.max_idle_per_peer);
  if (client_tls) client_ = std::make_unique<net::HttpClient>(std::move(*client_tls), copts);

  return {};
}

Status Node::build_federation() {
  const auto& c = config_;
  federation::Hello self;
  self.name = c.name;
  self.organization = c.organization;
  self.advertise = c.federation.advertise;
  self.version = kVersion;
  self.roles = c.roles;
  federation::PeerTimings timings{c.federation.hello_interval, c.federation.retry_initial, c.federation.retry_max,
                                  c.federation.call_timeout};
  peers_ = std::make_unique<federation::PeerManager>(*io_, client_.get(), store_->peers(), self, timings);

  return {};
}

Status Node::build_skills() {
  const auto& c = config_;
  skills::SkillHostOptions sopts;
  sopts.node_name = c.name;
  sopts.organization = c.organization;
  sopts.max_depth = c.skills.max_depth;
  sopts.default_timeout = c.skills.timeout;
  sopts.max_timeout = c.skills.max_timeout;
  sopts.limits.memory_bytes = c.skills.memory_limit;
  sopts.limits.instructions = static_cast<std::uint64_t>(c.skills.instruction_limit);
  sopts.registries = c.discovery.registries;
  sopts.env_allow = c.skills.env;
  sopts.suspend_after = c.skills.suspend_after;
  sopts.wedged_after = c.skills.wedged_after;
  for (const auto& secret : {c.http.token, c.store.url}) {
    if (!secret.empty()) sopts.secrets.push_back(secret);
  }
  skills::SkillStores stores{store_->packages(), store_->state(), store_->ledger()};
  skills_ = std::make_unique<skills::SkillHost>(*io_, stores, *peers_, sopts);
  return skills_->restore();
}

// The registry role: the catalog, Kodo v1 compatibility and the mesh.
Status Node::build_registry() {
  const auto& c = config_;
  const auto& roles = c.roles;
  if (std::find(roles.begin(), roles.end(), "registry") != roles.end()) {
    catalog_ = std::make_unique<registry::Catalog>(store_->catalog(), c.name, c.registry.stale_after,
                                                   c.registry.gone_after, clock_);
    if (auto s = catalog_->load(c.registry.reset); !s) return s;
    if (c.registry.reset) spdlog::info("registry: catalog reset");
    catalog_->set_kodo_ttl(c.registry.kodo_ttl);
    // Index builds (seconds at 1M flows) run on the compute pool, so they never hold up
    // store writes or scripts.
    catalog_->set_index_runner(
        [&pool = io_->compute()](std::function<void()> job) { boost::asio::post(pool, std::move(job)); });
    if (c.registry.kodo_compat) {
      registry::kodo::GatewayOptions kopt;
      kopt.url = c.registry.kodo_url;  // derived from the listener at start when empty
      kopt.organization = c.organization;
      kopt.connect = c.registry.kodo_connect;
      kopt.connect_timeout = c.registry.kodo_connect_timeout;
      if (c.federation.enabled) {  // else GatewayOptions' 200 ms to 10 s
        kopt.retry_initial = c.federation.retry_initial;
        kopt.retry_max = c.federation.retry_max;
      }
      kodo_ = std::make_unique<registry::kodo::Gateway>(*catalog_, store_->meta(), *io_, kopt);
      if (auto s = kodo_->load(c.registry.reset); !s) return s;
      kodo_->set_index_runner(
          [&pool = io_->compute()](std::function<void()> job) { boost::asio::post(pool, std::move(job)); });
    }
    if (!c.registry.peers.empty())
      mesh_ =
          std::make_unique<registry::Mesh>(*io_, *peers_, *catalog_, c.name, c.registry.peers, c.federation.retry_max);
  }
  return {};
}

// A node that registers its skills with registries and heartbeats them.
Status Node::build_discovery() {
  const auto& c = config_;
  if (!c.discovery.registries.empty()) {
    registry::RegistrantOptions ropts{c.discovery.registries, c.discovery.heartbeat};
    auto* skills = skills_.get();
    // `c` is the node's own config: advertise is final once the listener is bound.
    registrant_ = std::make_unique<registry::Registrant>(*io_, *peers_, ropts, [skills, &c = config_] {
      auto flows = skills->exported_flows();
      for (auto& f : flows) f["url"] = c.federation.advertise + "/fed/v1/skills/" + f["name"].get<std::string>();
      return nlohmann::json{{"organization", c.organization}, {"url", c.federation.advertise}, {"flows", flows}};
    });
  }

  return {};
}

// Shared data: deltas are signed with the federation key, or, on a node without
// [federation], with a key of its own kept in the workdir (data.key, 0600).
Status Node::build_data() {
  const auto& c = config_;
  std::string cert;
  std::vector<std::string> cas;
  std::optional<crypto::SigningKey> key;
  if (c.federation.enabled) {
    auto pem = crypto::read_file(c.federation.key);
    if (!pem) return make_error(ErrorCode::config_invalid, "federation.key: " + pem.error().message());
    auto k = crypto::SigningKey::from_pem(*pem);
    if (!k) return make_error(ErrorCode::config_invalid, "federation.key: " + k.error().message());
    key = std::move(*k);
    auto cert_pem = crypto::read_file(c.federation.cert);
    if (!cert_pem) return make_error(ErrorCode::config_invalid, "federation.cert: " + cert_pem.error().message());
    cert = std::move(*cert_pem);
    for (const auto& t : c.federation.trust) {
      auto ca = crypto::read_file(t);
      if (!ca) return make_error(ErrorCode::config_invalid, "federation.trust: " + ca.error().message());
      cas.push_back(std::move(*ca));
    }
  } else {
    std::string path = (fs::path(c.workdir) / "data.key").string();
    if (!fs::exists(path)) {
      std::string seed(crypto::kEd25519KeyBytes, '\0');
      RAND_bytes(reinterpret_cast<unsigned char*>(seed.data()), static_cast<int>(seed.size()));
      if (auto s = crypto::write_private_file(path, crypto::to_hex(seed)); !s) return s;
    }
    auto hex = crypto::read_file(path);
    if (!hex) return std::move(hex).error();
    auto seed = crypto::from_hex(std::string_view(*hex).substr(0, 2 * crypto::kEd25519KeyBytes));
    if (!seed) return make_error(ErrorCode::config_invalid, path + ": not a data key");
    auto k = crypto::SigningKey::from_seed(*seed);
    if (!k) return make_error(ErrorCode::config_invalid, path + ": " + k.error().message());
    key = std::move(*k);
  }
  auto self_key = crypto::VerifyingKey::from_raw(key->public_key());
  if (!self_key) return std::move(self_key).error();
  hlc_ = std::make_unique<HybridClock>(clock_);
  creators_ = std::make_unique<data::Creators>(store_->deltas(), std::move(cas), c.federation.deny, c.name,
                                               std::move(cert), *self_key);
  if (auto s = creators_->load(); !s) return s;
  data::DataServiceOptions dopt;
  dopt.self = c.name;
  dopt.cache_deltas = c.data.cache_deltas;
  dopt.max_expand = c.data.max_expand;
  dopt.read_limits = read_limits();
  dopt.clock = &clock_;
  auto& pool = io_->store();
  data_ = std::make_unique<data::DataService>(
      store_->deltas(), *creators_, *hlc_, std::move(*key),
      [&pool](std::function<void()> job) { boost::asio::post(pool, std::move(job)); }, dopt);
  if (auto s = data_->open(); !s) return s;
  data::ReplicatorOptions ropt;
  ropt.share = c.data.share;
  for (const auto& p : c.federation.peers) ropt.peers.push_back(p.name);
  ropt.retry_max = c.federation.retry_max;
  ropt.call_timeout = c.federation.call_timeout;
  replicator_ = std::make_unique<data::Replicator>(*io_, *peers_, *data_, ropt);

  // Packages: data.* and [collections.NAME]; data.<collection>.changed handlers, nested at
  // most max_trigger_depth deep (a handler that rewrites what it handles stops there).
  auto* data = data_.get();
  skills_->set_data({[data](const std::string& op, const nlohmann::json& args, int depth,
                            const skills::TriggerBudget& budget) { return data->script_call(op, args, depth, budget); },
                     [data](const std::string& package, const nlohmann::json& collections) -> Status {
                       for (const auto& [name, settings] : collections.items())
                         if (auto s = data->set_collection(name, settings, "package:" + package); !s) return s;
                       return {};
                     }});
  data_->add_listener([this, max_depth = dopt.max_trigger_depth](const std::shared_ptr<const data::Commit>& commit) {
    std::map<std::string, nlohmann::json> changed;
    for (const auto& ref : commit->entities) changed[ref.collection].push_back(ref.id);
    for (auto& [collection, ids] : changed) {
      std::string event = "data." + collection + ".changed";
      if (!skills_->has_handlers(event)) continue;
      if (commit->depth >= max_depth) {
        spdlog::warn("data: {} not fired: handlers have written {} levels deep (a handler re-triggering itself?)",
                     event, commit->depth);
        continue;
      }
      nlohmann::json payload = {{"collection", collection},
                                {"ids", std::move(ids)},
                                {"from", commit->from.empty() ? config_.name : commit->from},
                                {"deltas", commit->deltas.size()}};
      // The cascade's budget: the handler runs this write may still set off (a write no
      // handler made starts one).
      auto budget = commit->trigger_budget;
      if (!budget) budget = std::make_shared<std::atomic<int>>(skills::kMaxTriggerRuns);
      boost::asio::co_spawn(io_->next(), skills_->fire(event, std::move(payload), commit->depth + 1, budget),
                            boost::asio::detached);
    }
  });
  return {};
}

// Federated jobs: the aggregator (hands out tasks), the worker (computes them), or both
// in one process (standalone, or an aggregator with datasources: the worker calls its
// aggregator directly).
Status Node::build_jobs() {
  const auto& c = config_;
  auto has_role = [&](const char* role) { return std::find(c.roles.begin(), c.roles.end(), role) != c.roles.end(); };
  bool standalone = has_role("standalone");
  if (standalone || has_role("aggregator")) {
    jobs::AggregatorOptions aopt;
    aopt.self = c.name;
    aopt.projects = c.jobs.projects;
    aopt.join_tokens = c.jobs.join_tokens;
    aopt.reserved_names.push_back(c.name);
    for (const auto& p : c.federation.peers) aopt.reserved_names.push_back(p.name);
    aopt.issuer = c.federation.issuer;
    aopt.url = [&c = config_] { return c.federation.advertise; };
    aopt.lease = c.jobs.lease;
    aopt.max_attempts = c.jobs.max_attempts;
    aopt.job_timeout = c.jobs.job_timeout;
    aopt.allow_partial_results = c.jobs.allow_partial_results;
    if (!aopt.issuer.empty()) {
      auto ca = crypto::read_file(crypto::ca_files(aopt.issuer).cert);
      if (!ca) return make_error(ErrorCode::config_invalid, "federation.issuer: " + ca.error().message());
      if (auto s = crypto::check_private_permissions(crypto::ca_files(aopt.issuer).key); !s)
        return make_error(ErrorCode::config_invalid, "federation.issuer: " + s.error().message());
      // Every join is recorded in the folder's issued names: readable, sound and writable now.
      if (auto names = crypto::IssuedNames::open_locked(aopt.issuer); !names)
        return make_error(ErrorCode::config_invalid, "federation.issuer: " + names.error().message());
    }
    aggregator_ = std::make_unique<jobs::Aggregator>(store_->jobs(), *io_, std::move(aopt), clock_);
    if (!c.jobs.join_listen.empty()) {
      auto tls = net::make_server_context({c.federation.cert, c.federation.key, {}, {}}, false);
      if (!tls) return make_error(ErrorCode::config_invalid, "jobs.join_listen: " + tls.error().message());
      join_tls_ = std::move(*tls);
    }
  }
  // An aggregator with datasources of its own (Flotta's `mode: node`) computes them as a
  // client of itself, in process, under the same token checks and min_rows as any client.
  bool remote = has_role("client") && !standalone;
  if (standalone || remote || (aggregator_ && !c.jobs.datasources.empty())) {
    auto sources = jobs::load_datasources(c.jobs.datasources);
    if (!sources) return std::move(sources).error();
    std::unique_ptr<jobs::JobsLink> link;
    if (!remote) {
      link = jobs::make_local_link(*aggregator_, c.name, c.organization);
    } else {
      std::vector<std::string> urls{c.jobs.aggregator};
      urls.insert(urls.end(), c.jobs.fallback_aggregators.begin(), c.jobs.fallback_aggregators.end());
      link = jobs::make_http_link(*client_, urls, c.jobs.aggregator_name);
    }
    jobs::WorkerOptions wopt;
    wopt.poll = c.jobs.poll;
    if (c.federation.enabled) {
      wopt.retry_initial = c.federation.retry_initial;
      wopt.retry_max = c.federation.retry_max;
    }
    worker_ = std::make_unique<jobs::Worker>(*io_, std::move(link), std::move(*sources), wopt);
  }
  return {};
}

// Identity facts that persist across restarts.
Status Node::record_start() {
  const auto& c = config_;
  auto& meta = store_->meta();
  auto first = meta.get("first_started_at");
  if (!first) return std::move(first).error();
  if (!first->has_value()) (void)meta.set("first_started_at", now_iso8601());
  (void)meta.set("name", c.name);
  (void)meta.set("organization", c.organization);
  auto starts = meta.get("start_count");
  int count = (starts && starts->has_value()) ? std::atoi((*starts)->c_str()) : 0;
  (void)meta.set("start_count", std::to_string(count + 1));
  return {};
}

Status Node::start(std::shared_ptr<const net::Router> http_routes, std::shared_ptr<const net::Router> fed_routes,
                   std::shared_ptr<const net::Router> kodo_routes, std::shared_ptr<const net::Router> join_routes) {
  const auto& c = config_;
  started_at_ = clock_.now();
  started_steady_ = std::chrono::steady_clock::now();
  http_metrics_ = std::make_shared<net::HttpMetrics>("http", http_routes->patterns());
  if (c.federation.enabled) fed_metrics_ = std::make_shared<net::HttpMetrics>("federation", fed_routes->patterns());

  // What every listener takes from [http]: body limit, timeouts, connection cap.
  auto listener = [&c](std::string name, std::string listen) {
    net::ServerOptions o;
    o.name = std::move(name);
    o.listen = std::move(listen);
    o.max_body = c.http.max_body;
    o.request_timeout = c.http.request_timeout;
    o.idle_timeout = c.http.idle_timeout;
    o.max_connections = c.http.max_connections;
    return o;
  };
  net::ServerOptions hopt = listener("http", c.http.listen);
  hopt.tls = http_tls_;
  if (!c.http.token.empty()) hopt.authorize = net::bearer_authorizer(c.http.token);
  net::ServerOptions fopt = listener("federation", c.federation.listen);
  fopt.tls = fed_server_tls_;
  fopt.mutual_tls = true;
  fopt.max_body = std::max<std::size_t>(c.http.max_body, 16u << 20);  // replication messages and pages

  if (kodo_ && !c.registry.kodo_listen.empty() && kodo_routes) {
    // Kodo speaks plain HTTP without tokens: this listener serves the Kodo routes only.
    net::ServerOptions kopt = listener("kodo", c.registry.kodo_listen);
    kodo_metrics_ = std::make_shared<net::HttpMetrics>("kodo", kodo_routes->patterns());
    kodo_server_ = std::make_unique<net::HttpServer>(*io_, kopt, std::move(kodo_routes), kodo_metrics_);
  }
  if (join_tls_ && join_routes) {
    // Clients without a certificate yet: TLS with the node's certificate, no client
    // certificate asked, and the join routes only.
    net::ServerOptions jopt = listener("join", c.jobs.join_listen);
    jopt.tls = join_tls_;
    jopt.max_body = std::size_t{64} * 1024;
    join_metrics_ = std::make_shared<net::HttpMetrics>("join", join_routes->patterns());
    join_server_ = std::make_unique<net::HttpServer>(*io_, jopt, std::move(join_routes), join_metrics_);
  }
  http_server_ = std::make_unique<net::HttpServer>(*io_, hopt, std::move(http_routes), http_metrics_);
  if (c.federation.enabled)
    fed_server_ = std::make_unique<net::HttpServer>(*io_, fopt, std::move(fed_routes), fed_metrics_);
  io_->start();
  pool_watch_ = std::make_unique<net::PoolWatch>(io_->at(0), std::chrono::milliseconds(250), c.skills.wedged_after);
  pool_watch_->watch("store", io_->store());
  pool_watch_->watch("queries", io_->queries());
  pool_watch_->watch("compute", io_->compute());
  boost::asio::post(io_->at(0), [w = pool_watch_.get()] { w->start(); });
  auto hp = http_server_->start();
  if (!hp) return std::move(hp).error();
  std::uint16_t fp = 0;
  if (fed_server_) {
    auto bound = fed_server_->start();
    if (!bound) return std::move(bound).error();
    fp = *bound;
  }
  if (join_server_) {
    auto jp = join_server_->start();
    if (!jp) return std::move(jp).error();
    spdlog::info("jobs: clients may join on port {}", *jp);
  }
  if (aggregator_) aggregator_->start();
  if (kodo_) {
    std::string listen = c.http.listen;
    std::uint16_t port = *hp;
    if (kodo_server_) {
      auto kp = kodo_server_->start();
      if (!kp) return std::move(kp).error();
      listen = c.registry.kodo_listen;
      port = *kp;
    }
    if (c.registry.kodo_url.empty())
      kodo_->set_url("http://" + listen.substr(0, listen.rfind(':')) + ":" + std::to_string(port));
    spdlog::info("registry: Kodo v1 routes served as {}", kodo_->url());
    kodo_->start();
  }
  if (c.federation.enabled && c.federation.listen.ends_with(":0") &&
      c.federation.advertise == "https://" + c.federation.listen) {
    // Port 0: advertise the port we actually got.
    config_.federation.advertise =
        "https://" + c.federation.listen.substr(0, c.federation.listen.size() - 1) + std::to_string(fp);
  }
  if (c.federation.enabled) {
    spdlog::info("node {} ({}) serving http on {}:{}, federation on port {}", c.name, c.organization,
                 c.http.listen.substr(0, c.http.listen.rfind(':')), *hp, fp);
  } else {
    spdlog::info("node {} ({}) serving http on {}:{}; no [federation] section: no peers", c.name, c.organization,
                 c.http.listen.substr(0, c.http.listen.rfind(':')), *hp);
  }
  nlohmann::json constant = {
      {"name", c.name},
      {"organization", c.organization},
      {"roles", c.roles},
      {"version", kVersion},
      {"started_at", iso8601(started_at_)},
      {"federation", c.federation.enabled ? nlohmann::json(c.federation.advertise) : nlohmann::json(nullptr)}};
  status_prefix_ = dump_json(constant);
  status_prefix_.pop_back();                       // reopen the object: per-request fields follow
  if (c.federation.enabled) replicator_->start();  // before the peers: it listens to their states
  if (auto s = peers_->start(c.federation.peers); !s) return s;
  if (auto s = write_runtime_file(); !s) return s;
  if (auto s = skills::deploy_system_services(*skills_, config_.system_services, io_->at(0)); !s) return s;
  if (catalog_) catalog_->prepare_index();  // a restarted registry answers its first query at once
  if (mesh_) mesh_->start();
  if (registrant_) registrant_->start();
  if (worker_) worker_->start();
  if (catalog_) {
    // Evict nodes whose heartbeat is older than gone_after (store writes: on the blocking pool).
    sweeper_ = std::make_shared<boost::asio::steady_timer>(io_->at(0));
    auto period = std::max<Millis>(c.registry.stale_after / 2, Millis(100));
    auto timer = sweeper_;
    auto* catalog = catalog_.get();
    auto& blocking = io_->store();
    boost::asio::co_spawn(
        io_->at(0),
        [timer, period, catalog, &blocking]() -> boost::asio::awaitable<void> {
          for (;;) {
            timer->expires_after(period);
            auto [ec] = co_await timer->async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
            if (ec) co_return;
            boost::asio::post(blocking, [catalog] {
              for (const auto& name : catalog->sweep()) spdlog::info("registry: evicted {} (no heartbeat)", name);
            });
          }
        },
        boost::asio::detached);
  }
  return {};
}

Status Node::write_runtime_file() const {
  nlohmann::json j = {
      {"pid", ::getpid()},
      {"name", config_.name},
      {"http", std::string(http_tls_ ? "https" : "http") + "://" +
                   config_.http.listen.substr(0, config_.http.listen.rfind(':')) + ":" + std::to_string(http_port())},
      {"federation", config_.federation.enabled ? nlohmann::json(config_.federation.advertise) : nlohmann::json()},
      {"started_at", iso8601(started_at_)}};
  std::ofstream out(fs::path(config_.workdir) / "node.json");
  out << dump_json(j, 2) << "\n";
  if (!out) return make_error(ErrorCode::io_error, config_.workdir + "/node.json: cannot be written");
  return {};
}

BudgetLimits Node::read_limits() const {
  return {.work = static_cast<std::uint64_t>(config_.data.query_work),
          .time = config_.data.query_timeout,
          .answer_bytes = static_cast<std::size_t>(config_.data.max_answer_bytes)};
}

nlohmann::json Node::pools_health() const {
  return pool_watch_ ? pool_watch_->health() : nlohmann::json::object();
}

bool Node::pools_busy() const {
  return pool_watch_ && pool_watch_->busy();
}

void Node::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (!io_) return;
  spdlog::info("stopping: draining requests (grace {} ms)", config_.shutdown_grace.count());
  if (registrant_) registrant_->stop();  // deregisters while the network is still up
  if (worker_) worker_->stop();
  if (aggregator_) aggregator_->stop();  // answers held polls now, so listeners drain at once
  if (mesh_) mesh_->stop();
  if (replicator_) replicator_->stop();
  if (kodo_) kodo_->stop();
  if (sweeper_) boost::asio::post(sweeper_->get_executor(), [t = sweeper_] { t->cancel(); });
  if (skills_) skills_->stop();
  if (peers_) peers_->stop();
  // Both listeners drain at once, within one grace period; when it ends, scripts still
  // running are halted at their next budget check, whatever they are doing.
  std::mutex drain_mu;
  std::condition_variable drain_cv;
  bool drained = false;
  // Threads may fail to start when memory ran out (std::system_error): then the work
  // runs here, in order, rather than the node aborting on its way out.
  auto start_thread = [](auto fn) -> std::thread {
    try {
      return std::thread(std::move(fn));
    } catch (const std::system_error& e) {
      spdlog::error("shutdown: could not start a helper thread ({}); stopping in sequence", e.what());
      return {};
    }
  };
  std::thread halter = start_thread([&] {
    std::unique_lock lock(drain_mu);
    if (!drain_cv.wait_for(lock, config_.shutdown_grace, [&] { return drained; }) && skills_) {
      spdlog::warn("shutdown grace over: halting running scripts");
    }
    if (skills_) skills_->halt();
  });
  std::thread fed_stop = start_thread([this] {
    if (fed_server_) fed_server_->stop(config_.shutdown_grace);
  });
  if (!fed_stop.joinable() && fed_server_) fed_server_->stop(config_.shutdown_grace);
  if (kodo_server_) kodo_server_->stop(config_.shutdown_grace);
  if (join_server_) join_server_->stop(config_.shutdown_grace);
  if (http_server_) http_server_->stop(config_.shutdown_grace);
  if (fed_stop.joinable()) fed_stop.join();
  {
    std::lock_guard lock(drain_mu);
    drained = true;
  }
  drain_cv.notify_all();
  if (halter.joinable()) {
    halter.join();
  } else if (skills_) {
    skills_->halt();
  }
  if (client_) client_->clear();
  if (pool_watch_) pool_watch_->stop();
  io_->stop();
  if (store_) {
    if (auto s = store_->flush(); !s) spdlog::error("store flush failed: {}", s.error().message());
  }
  std::error_code ec;
  fs::remove(fs::path(config_.workdir) / "node.json", ec);
  spdlog::info("stopped");
}

std::uint16_t Node::http_port() const {
  return http_server_ ? http_server_->port() : 0;
}
std::uint16_t Node::federation_port() const {
  return fed_server_ ? fed_server_->port() : 0;
}

bool Node::idle() const {
  return peers_->idle() && (!kodo_ || kodo_->idle()) && (!replicator_ || replicator_->idle());
}

std::string Node::status_text() const {
  auto summary = peers_->summary();
  double uptime = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_steady_).count();
  std::string out;
  out.reserve(status_prefix_.size() + 160);
  out += status_prefix_;
  fmt::format_to(
      std::back_inserter(out),
      R"(,"now":"{}","uptime":{:.6f},"peers":{{"connecting":{},"up":{},"down":{},"refused":{}}},"idle":{}}})",
      iso8601(clock_.now()), uptime, summary.by_state[0], summary.by_state[1], summary.by_state[2], summary.by_state[3],
      summary.idle ? "true" : "false");
  return out;
}

nlohmann::json Node::peers() const {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& p : peers_->snapshot()) arr.push_back(p.to_json());
  return {{"peers", arr}};
}

std::string Node::metrics_text() const {
  std::string out;
  out.reserve(4096);
  std::vector<const net::HttpMetrics*> listeners{http_metrics_.get()};
  if (fed_metrics_) listeners.push_back(fed_metrics_.get());
  if (kodo_metrics_) listeners.push_back(kodo_metrics_.get());
  if (join_metrics_) listeners.push_back(join_metrics_.get());
  net::HttpMetrics::render(listeners, out);
  out += "# HELP fedmesh_peers Peers by state.\n# TYPE fedmesh_peers gauge\n";
  auto summary = peers_->summary();
  for (std::size_t i = 0; i < summary.by_state.size(); ++i) {
    out += fmt::format("fedmesh_peers{{state=\"{}\"}} {}\n",
                       federation::to_string(static_cast<federation::PeerState>(i)), summary.by_state[i]);
  }
  auto scripts = skills_->scripts_health();
  out += fmt::format(
      "# HELP fedmesh_script_threads Threads of the script pool.\n# TYPE fedmesh_script_threads gauge\n"
      "fedmesh_script_threads {}\n"
      "# HELP fedmesh_script_busy Script steps running now.\n# TYPE fedmesh_script_busy gauge\nfedmesh_script_busy "
      "{}\n",
      scripts["threads"].get<int>(), scripts["busy"].get<int>());
  out +=
      "# HELP fedmesh_uptime_seconds Seconds since the node started.\n# TYPE fedmesh_uptime_seconds "
      "gauge\nfedmesh_uptime_seconds " +
      std::to_string(std::chrono::duration<double>(std::chrono::steady_clock::now() - started_steady_).count()) + "\n";
  const auto& dc = data_->counters();
  out += fmt::format(
      "# HELP fedmesh_data_deltas_total Deltas stored, by where they came from.\n"
      "# TYPE fedmesh_data_deltas_total counter\n"
      "fedmesh_data_deltas_total{{source=\"local\"}} {}\nfedmesh_data_deltas_total{{source=\"peer\"}} {}\n"
      "# HELP fedmesh_data_duplicates_total Deltas a peer sent that were held already.\n"
      "# TYPE fedmesh_data_duplicates_total counter\nfedmesh_data_duplicates_total {}\n"
      "# HELP fedmesh_data_rejected_total Deltas from peers refused, by reason; none is stored or forwarded.\n"
      "# TYPE fedmesh_data_rejected_total counter\n",
      dc.local_deltas.load(), dc.ingested.load(), dc.duplicates.load());
  for (const auto& [reason, n] : dc.rejected)
    out += fmt::format("fedmesh_data_rejected_total{{reason=\"{}\"}} {}\n", reason, n.load());
  out += fmt::format(
      "# HELP fedmesh_data_equivocations Streams quarantined because their creator signed two different deltas for "
      "one seq.\n# TYPE fedmesh_data_equivocations gauge\nfedmesh_data_equivocations {}\n",
      data_->quarantined_streams());
  out +=
      "# HELP fedmesh_data_reads_stopped_total Queries and assembled reads stopped by their budget, by what ran "
      "out.\n# TYPE fedmesh_data_reads_stopped_total counter\n";
  for (const auto& [reason, n] : dc.reads_stopped)
    out += fmt::format("fedmesh_data_reads_stopped_total{{reason=\"{}\"}} {}\n", reason, n.load());
  if (aggregator_) {
    const auto& jc = aggregator_->counters();
    out +=
        "# HELP fedmesh_jobs_events_total Jobs and tasks at this aggregator, by event.\n"
        "# TYPE fedmesh_jobs_events_total counter\n";
    for (auto [event, n] :
         {std::pair{"submitted", &jc.submitted}, std::pair{"leased", &jc.leases}, std::pair{"result", &jc.results},
          std::pair{"result_refused", &jc.refused_results}, std::pair{"lease_expired", &jc.expired},
          std::pair{"failed", &jc.failed}, std::pair{"completed", &jc.completed}})
      out += fmt::format("fedmesh_jobs_events_total{{event=\"{}\"}} {}\n", event, n->load());
    out +=
        "# HELP fedmesh_jobs_partials_refused_total Partial results refused at this aggregator, by reason.\n"
        "# TYPE fedmesh_jobs_partials_refused_total counter\n";
    for (auto [reason, n] :
         {std::pair{"too_large", &jc.partials_too_large}, std::pair{"malformed", &jc.partials_malformed},
          std::pair{"invalid", &jc.partials_invalid}})
      out += fmt::format("fedmesh_jobs_partials_refused_total{{reason=\"{}\"}} {}\n", reason, n->load());
  }
  if (worker_) {
    const auto& wc = worker_->counters();
    out += fmt::format(
        "# HELP fedmesh_worker_tasks_total Tasks this client computed, and refused.\n"
        "# TYPE fedmesh_worker_tasks_total counter\nfedmesh_worker_tasks_total{{outcome=\"done\"}} {}\n"
        "fedmesh_worker_tasks_total{{outcome=\"refused\"}} {}\n",
        wc.tasks.load(), wc.refused.load());
  }
  return out;
}

}  // namespace fedmesh
