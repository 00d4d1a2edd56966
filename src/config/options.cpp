#include "config/options.hpp"

#include <regex>

#include "core/address.hpp"
#include "core/time.hpp"

namespace fedmesh::config {

using json = nlohmann::json;

std::string_view kind_name(Kind kind) {
  switch (kind) {
    case Kind::String: return "string";
    case Kind::Int: return "integer";
    case Kind::Bool: return "boolean";
    case Kind::Duration: return "duration";
    case Kind::StringList: return "list of strings";
    case Kind::PeerList: return "list of peer tables";
    case Kind::TableList: return "list of tables";
  }
  return "?";
}

namespace {

void set(std::string& out, const json& v) {
  out = v.get<std::string>();
}
void set(bool& out, const json& v) {
  out = v.get<bool>();
}
void set(int& out, const json& v) {
  out = static_cast<int>(v.get<std::int64_t>());
}
void set(std::size_t& out, const json& v) {
  out = static_cast<std::size_t>(v.get<std::int64_t>());
}
void set(std::int64_t& out, const json& v) {
  out = v.get<std::int64_t>();
}
void set(Millis& out, const json& v) {
  out = *parse_duration(v.get<std::string>());
}
void set(std::vector<std::string>& out, const json& v) {
  out = v.get<std::vector<std::string>>();
}
void set(std::optional<std::vector<std::string>>& out, const json& v) {
  out = v.get<std::vector<std::string>>();
}
void set(std::vector<ProjectConfig>& out, const json& v) {
  out.clear();
  for (const auto& item : v) out.push_back({item["name"].get<std::string>(), item["token"].get<std::string>()});
}
void set(std::vector<DatasourceConfig>& out, const json& v) {
  out.clear();
  for (const auto& item : v) {
    DatasourceConfig d;
    d.name = item["name"].get<std::string>();
    d.path = item["path"].get<std::string>();
    d.format = item.value("format", std::string("csv"));
    d.tokens = item["tokens"].get<std::vector<std::string>>();
    d.min_rows = item.value("min_rows", std::int64_t{0});
    d.summaries = item.value("summaries", false);
    out.push_back(std::move(d));
  }
}
void set(std::vector<ShareRule>& out, const json& v) {
  out.clear();
  for (const auto& item : v)
    out.push_back({item["collection"].get<std::string>(), item["with"].get<std::vector<std::string>>()});
}

std::string check_name(const json& v) {
  static const std::regex re("[a-z0-9][a-z0-9._-]{0,62}");
  if (!std::regex_match(v.get<std::string>(), re))
    return "must be 1-63 characters of a-z, 0-9, '.', '_', '-', starting with a letter or digit";
  return "";
}

std::string check_listen(const json& v) {
  if (!parse_host_port(v.get<std::string>())) return "not a host:port address";
  return "";
}

std::string check_optional_listen(const json& v) {
  if (v.get<std::string>().empty()) return "";
  return check_listen(v);
}

std::string check_optional_url(const json& v) {
  if (v.get<std::string>().empty() || parse_url(v.get<std::string>())) return "";
  return "not a URL like http://host:port";
}

std::string check_https_url(const json& v) {
  auto url = parse_url(v.get<std::string>());
  if (!url || url->scheme != "https") return "not an https URL (https://host:port)";
  return "";
}

std::string check_advertise(const json& v) {
  if (v.get<std::string>().empty()) return "";
  return check_https_url(v);
}

std::string check_env_names(const json& v) {
  static const std::regex re("[A-Za-z_][A-Za-z0-9_]{0,127}");
  for (const auto& name : v) {
    const auto& n = name.get_ref<const std::string&>();
    if (!std::regex_match(n, re)) return "'" + n + "' is not an environment variable name";
    if (n.starts_with("FEDMESH_"))
      return "'" + n + "': FEDMESH_* variables configure the node and are never readable by packages";
  }
  return "";
}

std::string check_package_names(const json& v) {
  for (const auto& name : v) {
    const auto& n = name.get_ref<const std::string&>();
    if (!valid_package_name(n))
      return "'" + n +
             "' is not a package name (1-63 characters of a-z, 0-9, '_', '-', starting with a letter or digit)";
  }
  return "";
}

std::string check_non_empty_list(const json& v) {
  if (v.empty()) return "must list at least one CA certificate";
  return "";
}

std::string check_kodo_urls(const json& v) {
  for (const auto& u : v) {
    auto url = parse_url(u.get<std::string>());
    if (!url || !url->path.empty()) return "'" + u.get<std::string>() + "': not a URL like http://host:port";
  }
  return "";
}

std::string check_https_urls(const json& v) {
  for (const auto& u : v)
    if (auto why = check_https_url(u); !why.empty()) return "'" + u.get<std::string>() + "': " + why;
  return "";
}

std::string check_optional_https_url(const json& v) {
  if (v.get<std::string>().empty()) return "";
  return check_https_url(v);
}

bool job_name(const json& v) {
  static const std::regex re("[A-Za-z0-9][A-Za-z0-9._-]{0,62}");
  return v.is_string() && std::regex_match(v.get<std::string>(), re);
}

bool token_text(const json& v) {
  return v.is_string() && v.get_ref<const std::string&>().size() >= 8 && v.get_ref<const std::string&>().size() <= 512;
}

std::string check_projects(const json& v) {
  std::vector<std::string> names;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const json& item = v[i];
    std::string at = "entry " + std::to_string(i) + ": ";
    for (const auto& [k, _] : item.items())
      if (k != "name" && k != "token") return at + "unknown key '" + k + "' (name, token)";
    if (!item.contains("name") || !job_name(item["name"]))
      return at + "'name' must be 1-63 characters of A-Z, a-z, 0-9, '.', '_', '-'";
    if (!item.contains("token") || !token_text(item["token"]))
      return at + "'token' must be a string of 8 to 512 characters";
    if (std::find(names.begin(), names.end(), item["name"].get<std::string>()) != names.end())
      return at + "project '" + item["name"].get<std::string>() + "' is listed twice";
    names.push_back(item["name"].get<std::string>());
  }
  return "";
}

std::string check_tokens(const json& v) {
  for (const auto& t : v)
    if (!token_text(t)) return "each token must be a string of 8 to 512 characters";
  return "";
}

std::string check_datasources(const json& v) {
  std::vector<std::string> names;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const json& item = v[i];
    std::string at = "entry " + std::to_string(i) + ": ";
    for (const auto& [k, _] : item.items())
      if (k != "name" && k != "path" && k != "format" && k != "tokens" && k != "min_rows" && k != "summaries")
        return at + "unknown key '" + k + "' (name, path, format, tokens, min_rows, summaries)";
    if (!item.contains("name") || !job_name(item["name"]))
      return at + "'name' must be 1-63 characters of A-Z, a-z, 0-9, '.', '_', '-'";
    if (!item.contains("path") || !item["path"].is_string() || item["path"].get<std::string>().empty())
      return at + "'path' must name a CSV or TSV file";
    if (item.contains("format") && item["format"] != "csv" && item["format"] != "tsv")
      return at + "'format' must be \"csv\" or \"tsv\"";
    if (!item.contains("tokens") || !item["tokens"].is_array() || item["tokens"].empty())
      return at + "'tokens' must list the project tokens this datasource serves";
    if (auto why = check_tokens(item["tokens"]); !why.empty()) return at + "'tokens': " + why;
    if (item.contains("min_rows") &&
        (!item["min_rows"].is_number_integer() || item["min_rows"].get<std::int64_t>() < 0 ||
         item["min_rows"].get<std::int64_t>() > 1'000'000'000))
      return at + "'min_rows' must be an integer from 0 to 1000000000";
    if (item.contains("summaries") && !item["summaries"].is_boolean()) return at + "'summaries' must be true or false";
    if (std::find(names.begin(), names.end(), item["name"].get<std::string>()) != names.end())
      return at + "datasource '" + item["name"].get<std::string>() + "' is listed twice";
    names.push_back(item["name"].get<std::string>());
  }
  return "";
}

}  // namespace

std::string check_share_rules(const json& v) {
  if (!v.is_array()) return "expected a list of {collection, with} tables";
  static const std::regex collection("\\*|[a-z0-9][a-z0-9_-]{0,63}");
  static const std::regex peer("\\*|(org:)?[A-Za-z0-9][A-Za-z0-9 ._-]{0,127}");
  for (std::size_t i = 0; i < v.size(); ++i) {
    const json& item = v[i];
    std::string at = "entry " + std::to_string(i) + ": ";
    for (const auto& [k, _] : item.items())
      if (k != "collection" && k != "with") return at + "unknown key '" + k + "' (collection, with)";
    if (!item.contains("collection") || !item["collection"].is_string() ||
        !std::regex_match(item["collection"].get<std::string>(), collection))
      return at + "'collection' must be a collection name (a-z, 0-9, '_', '-') or \"*\"";
    if (!item.contains("with") || !item["with"].is_array() || item["with"].empty())
      return at + "'with' must list peer names, \"org:NAME\" or \"*\"";
    for (const auto& w : item["with"])
      if (!w.is_string() || !std::regex_match(w.get<std::string>(), peer))
        return at + "'with' must list peer names, \"org:NAME\" or \"*\"";
  }
  return "";
}

// Apply functions are plain lambdas, so each option names its field exactly once.
#define FM_APPLY(field) [](NodeConfig& c, const json& v) { set(c.field, v); }
#define FM_PEER_APPLY(field) [](PeerConfig& c, const json& v) { set(c.field, v); }

// The tables read as tables, one option per entry: kept out of clang-format.
// clang-format off
const std::vector<NodeOption>& node_options() {
  static const std::vector<NodeOption> options = {
      {"name", Kind::String, "", "Node name; must equal the name in the node's federation certificate.", false, 0, 0,
       {}, check_name, FM_APPLY(name)},
      {"organization", Kind::String, R"("")", "Organization the node belongs to; peers see it at hello.", false, 0, 0,
       {}, nullptr, FM_APPLY(organization)},
      {"workdir", Kind::String, R"("")",
       "Directory for the store, state and logs; created 0700. Empty means var/<name> beside the config file. "
       "Relative paths are relative to the config file.",
       false, 0, 0, {}, nullptr, FM_APPLY(workdir)},
      {"roles", Kind::StringList, R"(["node"])", "Roles of this node.", false, 0, 0,
       {"node", "registry", "aggregator", "client", "standalone"}, nullptr, FM_APPLY(roles)},
      {"threads", Kind::Int, "0", "I/O threads (one io_context each); 0 means one per core.", false, 0, 256, {},
       nullptr, FM_APPLY(threads)},
      {"shutdown_grace", Kind::Duration, R"("10s")",
       "On SIGTERM/SIGINT, how long in-flight requests may take to finish before connections are closed.", false, 0,
       600'000, {}, nullptr, FM_APPLY(shutdown_grace)},

      {"http.listen", Kind::String, R"("127.0.0.1:3026")",
       "Operator API and dashboard address. Beyond loopback, tls_cert, tls_key and token are required.", false, 0, 0,
       {}, check_listen, FM_APPLY(http.listen)},
      {"http.token", Kind::String, R"("")",
       "Bearer token required on /api/ and /metrics when set (always required beyond loopback).", true, 0, 0, {},
       nullptr, FM_APPLY(http.token)},
      {"http.tls_cert", Kind::String, R"("")", "PEM certificate for the operator listener (TLS when set).", false, 0,
       0, {}, nullptr, FM_APPLY(http.tls_cert)},
      {"http.tls_key", Kind::String, R"("")", "PEM private key for the operator listener; must be 0600.", false, 0, 0,
       {}, nullptr, FM_APPLY(http.tls_key)},
      {"http.max_body", Kind::Int, "1048576", "Largest accepted request body in bytes; larger gets 413.", false, 1024,
       64LL << 20, {}, nullptr, FM_APPLY(http.max_body)},
      {"http.request_timeout", Kind::Duration, R"("10s")",
       "Time a request may take to arrive once started (slower gets 408), and a new connection to start its first.", false, 100, 600'000, {}, nullptr,
       FM_APPLY(http.request_timeout)},
      {"http.idle_timeout", Kind::Duration, R"("60s")", "Keep-alive connections idle this long are closed.", false,
       100, 3'600'000, {}, nullptr, FM_APPLY(http.idle_timeout)},
      {"http.max_connections", Kind::Int, "10000",
       "Open connections each listener (operator, federation, Kodo, join) keeps; one more is closed at once.",
       false, 1, 1'000'000, {}, nullptr, FM_APPLY(http.max_connections)},
      {"http.debug_routes", Kind::Bool, "false", "Serve /api/v1/debug/* routes (for tests; never in production).",
       false, 0, 0, {}, nullptr, FM_APPLY(http.debug_routes)},

      {"federation.listen", Kind::String, R"("127.0.0.1:4026")", "Node-to-node listener; mutual TLS 1.3 only.",
       false, 0, 0, {}, check_listen, FM_APPLY(federation.listen)},
      {"federation.advertise", Kind::String, R"("")",
       "URL peers use to reach this node; empty means https://<federation.listen>.", false, 0, 0, {},
       check_advertise, FM_APPLY(federation.advertise)},
      {"federation.cert", Kind::String, "", "PEM certificate of this node, issued by a federation CA.", false, 0, 0,
       {}, nullptr, FM_APPLY(federation.cert)},
      {"federation.key", Kind::String, "", "PEM private key of this node; must be 0600.", false, 0, 0, {}, nullptr,
       FM_APPLY(federation.key)},
      {"federation.trust", Kind::StringList, "", "PEM files of the CAs whose nodes may connect and be called.", false,
       0, 0, {}, check_non_empty_list, FM_APPLY(federation.trust)},
      {"federation.deny", Kind::StringList, "[]",
       "Revoked node names or SHA-256 certificate fingerprints (hex, colons optional).", false, 0, 0, {}, nullptr,
       FM_APPLY(federation.deny)},
      {"federation.issuer", Kind::String, R"("")",
       "A CA folder (ca.crt, ca.key, as `fedmesh ca init` makes) whose key signs the certificates of clients that "
       "join with a token (`fedmesh join`); aggregators only. Relative to the config file.", false, 0, 0, {},
       nullptr, FM_APPLY(federation.issuer)},
      {"federation.hello_interval", Kind::Duration, R"("10s")",
       "How often an up peer is greeted again to check it is alive.", false, 100, 3'600'000, {}, nullptr,
       FM_APPLY(federation.hello_interval)},
      {"federation.retry_initial", Kind::Duration, R"("200ms")", "First retry delay after a failed hello.", false, 10,
       60'000, {}, nullptr, FM_APPLY(federation.retry_initial)},
      {"federation.retry_max", Kind::Duration, R"("10s")", "Cap of the exponential retry delay.", false, 10,
       3'600'000, {}, nullptr, FM_APPLY(federation.retry_max)},
      {"federation.call_timeout", Kind::Duration, R"("5s")", "Deadline of one call to a peer, connect included.",
       false, 10, 600'000, {}, nullptr, FM_APPLY(federation.call_timeout)},
      {"federation.max_idle_per_peer", Kind::Int, "8", "Pooled idle keep-alive connections kept per peer.", false, 0,
       1024, {}, nullptr, FM_APPLY(federation.max_idle_per_peer)},
      {"federation.peers", Kind::PeerList, "[]", "Peers to greet at start ([[federation.peers]] tables).", false, 0,
       0, {}, nullptr, nullptr},

      {"store.backend", Kind::String, R"("sqlite")", "Store backend.", false, 0, 0, {"sqlite", "postgresql"},
       nullptr, FM_APPLY(store.backend)},
      {"store.path", Kind::String, R"("fedmesh.db")",
       "SQLite file, relative to workdir; \":memory:\" keeps nothing on disk.", false, 0, 0, {}, nullptr,
       FM_APPLY(store.path)},
      {"store.url", Kind::String, R"("")", "PostgreSQL URL (backend = \"postgresql\"); its password is masked.", true,
       0, 0, {}, nullptr, FM_APPLY(store.url)},

      {"skills.timeout", Kind::Duration, R"("10s")", "Deadline of a skill call that does not ask for one.", false, 10,
       600'000, {}, nullptr, FM_APPLY(skills.timeout)},
      {"skills.max_timeout", Kind::Duration, R"("60s")", "Longest deadline a caller may ask for.", false, 10,
       3'600'000, {}, nullptr, FM_APPLY(skills.max_timeout)},
      {"skills.max_depth", Kind::Int, "8", "Longest chain of skill calls across nodes.", false, 1, 64, {}, nullptr,
       FM_APPLY(skills.max_depth)},
      {"skills.memory_limit", Kind::Int, "33554432", "Memory cap of each package's Lua state, in bytes.", false,
       1 << 20, 1LL << 32, {}, nullptr, FM_APPLY(skills.memory_limit)},
      {"skills.instruction_limit", Kind::Int, "100000000", "Lua instructions one invocation may run.", false, 10'000,
       100'000'000'000LL, {}, nullptr, FM_APPLY(skills.instruction_limit)},
      {"skills.env", Kind::StringList, "[]",
       "Environment variables packages may read with env() (each package must also declare them). FEDMESH_* "
       "variables and values holding the node's secrets are never readable.", false, 0, 0, {}, check_env_names,
       FM_APPLY(skills.env)},
      {"skills.threads", Kind::Int, "2",
       "Threads of the script pool (Lua), apart from the I/O threads and the store's pool.", false, 1, 64, {}, nullptr,
       FM_APPLY(skills.threads)},
      {"skills.suspend_after", Kind::Int, "3",
       "A package whose invocations are stopped by their budget, deadline or memory cap this many times in a row is "
       "suspended until reinstalled or resumed.", false, 1, 1000, {}, nullptr, FM_APPLY(skills.suspend_after)},
      {"skills.wedged_after", Kind::Duration, R"("5s")",
       "When every script thread has been busy on one step this long, /healthz answers 503 (the pool is wedged).",
       false, 100, 3'600'000, {}, nullptr, FM_APPLY(skills.wedged_after)},

      {"system_services.enable", Kind::StringList, "null",
       "Packages deployed (installed, updated or left as they are) after the node is up, at every start. Not set "
       "in a [system_services] section: every package found in system_services.path (as Fluence does); no "
       "section, or [], deploys none. A package deployed so "
       "before and no longer enabled is removed at start (its state is kept). A [system_services.NAME] table is "
       "merged into that package's config, '-' in NAME written '_' ([system_services.aqua_ipfs] for aqua-ipfs).",
       false, 0, 0, {}, check_package_names, FM_APPLY(system_services.enable)},
      {"system_services.path", Kind::StringList, R"(["packages"])",
       "Folders searched for NAME/package.toml, relative to the config file.", false, 0, 0, {}, nullptr,
       FM_APPLY(system_services.path)},

      {"registry.reset", Kind::Bool, "false", "Registry role: start with an empty catalog (also `fedmesh node --reset-registry`).",
       false, 0, 0, {}, nullptr, FM_APPLY(registry.reset)},
      {"registry.stale_after", Kind::Duration, R"("30s")", "Registry role: a node without a heartbeat this long is stale.",
       false, 100, 86'400'000, {}, nullptr, FM_APPLY(registry.stale_after)},
      {"registry.gone_after", Kind::Duration, R"("5m")", "Registry role: a node without a heartbeat this long is evicted.",
       false, 100, 604'800'000, {}, nullptr, FM_APPLY(registry.gone_after)},
      {"registry.max_page_size", Kind::Int, "100", "Registry role: the largest pp a query may ask for.", false, 1, 10'000,
       {}, nullptr, FM_APPLY(registry.max_page_size)},
      {"registry.peers", Kind::StringList, "[]",
       "Registry role: other registries (federation peer names) that keep one catalog with this one.", false, 0, 0,
       {}, nullptr, FM_APPLY(registry.peers)},
      {"registry.kodo_compat", Kind::Bool, "false",
       "Registry role: also serve Kodo v1's plain-HTTP routes (/register, /connect, /update/node, /flows, ...) so "
       "Kodo nodes and registries join unchanged. Kodo speaks no TLS and no tokens; see docs/kodo-compat.md.",
       false, 0, 0, {}, nullptr, FM_APPLY(registry.kodo_compat)},
      {"registry.kodo_listen", Kind::String, R"("")",
       "A plain-HTTP listener (host:port) serving only the Kodo routes; empty serves them on the http listener.",
       false, 0, 0, {}, check_optional_listen, FM_APPLY(registry.kodo_listen)},
      {"registry.kodo_url", Kind::String, R"("")",
       "The URL Kodo peers know this registry by; empty derives http://HOST:PORT from the listener serving Kodo.",
       false, 0, 0, {}, check_optional_url, FM_APPLY(registry.kodo_url)},
      {"registry.kodo_ttl", Kind::Duration, R"("0s")",
       "Kodo v1 nodes send no heartbeats: evict one not re-registered for this long; 0s keeps them (status unknown).",
       false, 0, 31'536'000'000LL, {}, nullptr, FM_APPLY(registry.kodo_ttl)},
      {"registry.kodo_connect", Kind::StringList, "[]",
       "Kodo registries (http://host:port) this registry connects to at start, as a Kodo registry started with "
       "connect=[...] does: POST /connect with every node it knows and feed = true. Each side then sends the other "
       "its later changes (/update/node); a refused update connects again. Needs kodo_compat.",
       false, 0, 0, {}, check_kodo_urls, FM_APPLY(registry.kodo_connect)},
      {"registry.kodo_connect_timeout", Kind::Duration, R"("1m")",
       "How long connecting to a registry.kodo_connect registry at start keeps retrying (backoff from "
       "federation.retry_initial to federation.retry_max, or 200ms to 10s without [federation]); past it the registry logs an error and stops trying "
       "until its next start.",
       false, 100, 86'400'000, {}, nullptr, FM_APPLY(registry.kodo_connect_timeout)},
      {"discovery.registries", Kind::StringList, "[]",
       "Peer names of the registries this node registers with (over mTLS) and heartbeats.", false, 0, 0, {}, nullptr,
       FM_APPLY(discovery.registries)},
      {"discovery.heartbeat", Kind::Duration, R"("10s")", "How often this node heartbeats its registries.", false, 100,
       3'600'000, {}, nullptr, FM_APPLY(discovery.heartbeat)},

      {"data.share", Kind::TableList, "[]",
       "Which peers receive (and may send) which collections: [{collection = \"user\", with = [\"*\"]}]; `with` "
       "lists peer names, \"org:NAME\" or \"*\", `collection` may be \"*\".",
       false, 0, 0, {}, check_share_rules, FM_APPLY(data.share)},
      {"data.cache_deltas", Kind::Int, "500000",
       "Deltas kept in memory across the entities read or written lately (least recently used go first).", false, 0,
       100'000'000, {}, nullptr, FM_APPLY(data.cache_deltas)},
      {"data.max_expand", Kind::Int, "3", "The deepest reference expansion (?expand=N) a read may ask for.", false, 0,
       10, {}, nullptr, FM_APPLY(data.max_expand)},
      {"data.query_timeout", Kind::Duration, R"("5s")",
       "Wall time of one data query or assembled read (expand, delta lists, lossless views), queueing included; "
       "past it the read stops with deadline_exceeded.",
       false, 10, 600'000, {}, nullptr, FM_APPLY(data.query_timeout)},
      {"data.query_work", Kind::Int, "100000000",
       "Work units one data query may spend: one per filter operation, one per byte a comparison or substring "
       "search touches, 64 per entity looked at; past it the query stops with query_too_costly.",
       false, 1000, 100'000'000'000LL, {}, nullptr, FM_APPLY(data.query_work)},
      {"data.max_answer_bytes", Kind::Int, "33554432",
       "Bytes one read may assemble (a query's matches, ?expand, delta lists, Rhizome's query); past it the read "
       "is refused with payload_too_large (413), or a delta page ends early with `next`.",
       false, 65'536, 1'073'741'824, {}, nullptr, FM_APPLY(data.max_answer_bytes)},

      {"jobs.projects", Kind::TableList, "[]",
       "Aggregator: projects and their tokens ([[jobs.projects]] name, token). A job names a project and must carry "
       "its token; tokens are compared in constant time and masked everywhere.", false, 0, 0, {}, check_projects,
       FM_APPLY(jobs.projects)},
      {"jobs.join_tokens", Kind::StringList, "[]",
       "Aggregator: one-time tokens with which a client may join (`fedmesh join`); project tokens may join too.",
       true, 0, 0, {}, check_tokens, FM_APPLY(jobs.join_tokens)},
      {"jobs.join_listen", Kind::String, R"("")",
       "Aggregator: a TLS listener (host:port) that serves only joining (clients without a certificate yet); "
       "needs federation.issuer. Empty: no joining.", false, 0, 0, {}, check_optional_listen,
       FM_APPLY(jobs.join_listen)},
      {"jobs.lease", Kind::Duration, R"("30s")",
       "Aggregator: how long a client holds a task; a task whose lease expires is leased again.", false, 100,
       86'400'000, {}, nullptr, FM_APPLY(jobs.lease)},
      {"jobs.max_attempts", Kind::Int, "3", "Aggregator: leases of one task before the job fails.", false, 1, 100, {},
       nullptr, FM_APPLY(jobs.max_attempts)},
      {"jobs.job_timeout", Kind::Duration, R"("1h")",
       "Aggregator: a job not completed this long after it was submitted fails, naming why (a client that holds one "
       "of its datasources never came back); \"0s\" waits for ever.", false, 0, 31'536'000'000LL, {}, nullptr,
       FM_APPLY(jobs.job_timeout)},
      {"jobs.allow_partial_results", Kind::Bool, "false",
       "Aggregator: whether each datasource's partial result may be read through the API (final results always "
       "may).", false, 0, 0, {}, nullptr, FM_APPLY(jobs.allow_partial_results)},
      {"jobs.aggregator", Kind::String, R"("")",
       "Client: the aggregator's federation URL (https://host:port); the client calls it over mutual TLS and is "
       "never called.", false, 0, 0, {}, check_optional_https_url, FM_APPLY(jobs.aggregator)},
      {"jobs.fallback_aggregators", Kind::StringList, "[]",
       "Client: more aggregators sharing the first one's PostgreSQL database; when one cannot be reached the "
       "client polls (and sends results to) the next.", false, 0, 0, {}, check_https_urls,
       FM_APPLY(jobs.fallback_aggregators)},
      {"jobs.aggregator_name", Kind::String, R"("")",
       "Client: the certificate name the aggregator must present; empty accepts any certificate from a trusted CA "
       "and records its name.", false, 0, 0, {}, nullptr, FM_APPLY(jobs.aggregator_name)},
      {"jobs.poll", Kind::Duration, R"("20s")",
       "Client: how long one poll waits at the aggregator for a task before asking again.", false, 100, 300'000, {},
       nullptr, FM_APPLY(jobs.poll)},
      {"jobs.datasources", Kind::TableList, "[]",
       "Client, aggregator (computed in process, as its own client) or standalone: [[jobs.datasources]] name, path, format (\"csv\" or \"tsv\"), tokens (project tokens served), "
       "min_rows (refuse tasks over fewer rows), summaries (show per-column summaries to the aggregator).", false, 0,
       0, {}, check_datasources, FM_APPLY(jobs.datasources)},

      {"log.level", Kind::String, R"("info")", "Least severe level written.", false, 0, 0,
       {"trace", "debug", "info", "warn", "error"}, nullptr, FM_APPLY(log.level)},
      {"log.format", Kind::String, R"("text")", "Log line format.", false, 0, 0, {"text", "json"}, nullptr,
       FM_APPLY(log.format)},
  };
  return options;
}

const std::vector<PeerOption>& peer_options() {
  static const std::vector<PeerOption> options = {
      {"name", Kind::String, "", "Expected certificate name of the peer.", false, 0, 0, {}, check_name,
       FM_PEER_APPLY(name)},
      {"url", Kind::String, "", "Federation URL of the peer.", false, 0, 0, {}, check_https_url, FM_PEER_APPLY(url)},
      {"bidirectional", Kind::Bool, "false", "Ask the peer to add this node back as its own peer.", false, 0, 0, {},
       nullptr, FM_PEER_APPLY(bidirectional)},
  };
  return options;
}

// clang-format on

const std::vector<std::string_view>& sections() {
  static const std::vector<std::string_view> s = {"http",     "federation", "store", "skills", "system_services",
                                                  "registry", "discovery",  "data",  "jobs",   "log"};
  return s;
}

template <class Target>
std::string check_value(const Option<Target>& option, const json& value) {
  auto in_choices = [&](const std::string& s) {
    if (option.choices.empty()) return true;
    for (auto c : option.choices) {
      if (c == s) return true;
    }
    return false;
  };
  auto choices_text = [&] {
    std::string out;
    for (auto c : option.choices) {
      if (!out.empty()) out += ", ";
      out += c;
    }
    return out;
  };
  switch (option.kind) {
    case Kind::String:
      if (!value.is_string()) return "expected a string";
      if (!in_choices(value.get<std::string>())) return "must be one of: " + choices_text();
      break;
    case Kind::Int: {
      if (!value.is_number_integer()) return "expected an integer";
      auto n = value.get<std::int64_t>();
      if (option.min < option.max && (n < option.min || n > option.max))
        return "must be between " + std::to_string(option.min) + " and " + std::to_string(option.max);
      break;
    }
    case Kind::Bool:
      if (!value.is_boolean()) return "expected true or false";
      break;
    case Kind::Duration: {
      if (!value.is_string()) return "expected a duration such as \"500ms\", \"10s\", \"2m\"";
      auto d = parse_duration(value.get<std::string>());
      if (!d) return "expected a duration such as \"500ms\", \"10s\", \"2m\"";
      if (option.min < option.max && (d->count() < option.min || d->count() > option.max))
        return "must be between " + format_duration(Millis(option.min)) + " and " + format_duration(Millis(option.max));
      break;
    }
    case Kind::StringList:
      if (!value.is_array()) return "expected a list of strings";
      for (const auto& item : value) {
        if (!item.is_string()) return "expected a list of strings";
        if (!in_choices(item.get<std::string>()))
          return "'" + item.get<std::string>() + "' is not one of: " + choices_text();
      }
      break;
    case Kind::PeerList:
      if (!value.is_array()) return "expected a list of [[federation.peers]] tables";
      for (const auto& item : value) {
        if (!item.is_object()) return "expected a list of [[federation.peers]] tables";
      }
      break;
    case Kind::TableList:
      if (!value.is_array()) return "expected a list of tables";
      for (const auto& item : value) {
        if (!item.is_object()) return "expected a list of tables";
      }
      break;
  }
  if (option.check) return option.check(value);
  return "";
}

template std::string check_value(const Option<NodeConfig>&, const json&);

namespace {

template <class Target>
void markdown_rows(std::string& out, const std::vector<Option<Target>>& options, std::string_view prefix) {
  for (const auto& o : options) {
    std::string type(kind_name(o.kind));
    if (!o.choices.empty()) {
      type = "one of ";
      for (std::size_t i = 0; i < o.choices.size(); ++i) type += (i ? ", " : "") + std::string(o.choices[i]);
    }
    if (o.min < o.max) {
      if (o.kind == Kind::Duration) {
        type += " (" + format_duration(Millis(o.min)) + " to " + format_duration(Millis(o.max)) + ")";
      } else {
        type += " (" + std::to_string(o.min) + " to " + std::to_string(o.max) + ")";
      }
    }
    std::string def = o.default_json.empty()     ? "required"
                      : o.default_json == "null" ? "not set"
                                                 : "`" + std::string(o.default_json) + "`";
    std::string help(o.help);
    if (o.secret) help += " Secret: masked in output.";
    out += "| `" + std::string(prefix) + std::string(o.key) + "` | " + type + " | " + def + " | " + help + " |\n";
  }
}

}  // namespace

std::string options_markdown() {
  std::string out = "| key | type | default | meaning |\n|---|---|---|---|\n";
  markdown_rows(out, node_options(), "");
  markdown_rows(out, peer_options(), "federation.peers[].");
  return out;
}
template std::string check_value(const Option<PeerConfig>&, const json&);

}  // namespace fedmesh::config
