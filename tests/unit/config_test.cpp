#include <gtest/gtest.h>

#include "config/loader.hpp"
#include "config/options.hpp"
#include "core/time.hpp"
#include "support/seed_files.hpp"

namespace fedmesh::config {
namespace {

const char* kToml = R"(
name = "painter"
organization = "Acme Paint"
roles = ["node", "registry"]

[http]
listen = "127.0.0.1:3026"
token = "${TOKEN}"

[federation]
listen = "127.0.0.1:4026"
cert = "certs/painter.crt"
key = "certs/painter.key"
trust = ["certs/ca.crt"]
deny = ["mallory"]

  [[federation.peers]]
  name = "red"
  url = "https://127.0.0.1:4023"
  bidirectional = true

  [[federation.peers]]
  name = "blue"
  url = "https://127.0.0.1:4024"

[log]
level = "debug"
)";

const char* kYaml = R"(
name: painter
organization: Acme Paint
roles: [node, registry]
http:
  listen: "127.0.0.1:3026"
  token: ${TOKEN}
federation:
  listen: 127.0.0.1:4026
  cert: certs/painter.crt
  key: certs/painter.key
  trust: [certs/ca.crt]
  deny: [mallory]
  peers:
    - name: red
      url: https://127.0.0.1:4023
      bidirectional: true
    - name: blue
      url: https://127.0.0.1:4024
log:
  level: debug
)";

Environment env(std::map<std::string, std::string> vars = {{"TOKEN", "s3cret"}}) {
  return Environment(vars);
}

Result<LoadedConfig> toml(const std::string& text, const Environment& e = env()) {
  return load_config_text(text, Format::Toml, "node.toml", "/base", e);
}

std::string error_of(const Result<LoadedConfig>& r) {
  return r ? "" : r.error().message();
}

TEST(Config, TomlAndYamlGiveEqualConfigs) {
  auto a = toml(kToml);
  auto b = load_config_text(kYaml, Format::Yaml, "node.yaml", "/base", env());
  ASSERT_TRUE(a) << a.error().message();
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(a->config, b->config);
  EXPECT_EQ(a->config.federation.peers.size(), 2u);
  EXPECT_TRUE(a->config.federation.peers[0].bidirectional);
  EXPECT_EQ(a->config.http.token, "s3cret");
  EXPECT_EQ(a->config.federation.cert, "/base/certs/painter.crt");
  EXPECT_EQ(a->config.workdir, "/base/var/painter");
  EXPECT_EQ(a->config.store.path, "/base/var/painter/fedmesh.db");
  EXPECT_EQ(a->config.federation.advertise, "https://127.0.0.1:4026");
  EXPECT_EQ(a->config.http.request_timeout, std::chrono::seconds(10));
}

TEST(Config, UnsetVariableIsAnErrorNamingIt) {
  auto r = toml(kToml, env({}));
  EXPECT_EQ(error_of(r), "node.toml: http.token: environment variable TOKEN is not set");
}

TEST(Config, VariableDefaultsAndEscapes) {
  auto r = toml(R"(name = "n"
organization = "${ORG:-Fallback} costs $$5"
[federation]
cert = "c"
key = "k"
trust = ["t"]
)");
  ASSERT_TRUE(r) << error_of(r);
  EXPECT_EQ(r->config.organization, "Fallback costs $5");
}

TEST(Config, EnvironmentOverridesFileValues) {
  auto r = toml(kToml, env({{"TOKEN", "x"},
                            {"FEDMESH_HTTP__LISTEN", "127.0.0.1:4000"},
                            {"FEDMESH_LOG__LEVEL", "warn"},
                            {"FEDMESH_FEDERATION__DENY", "eve, mallory"},
                            {"FEDMESH_FEDERATION__MAX_IDLE_PER_PEER", "3"},
                            {"FEDMESH_ORGANIZATION", "Other"},
                            {"FEDMESH_TOKEN", "unrelated substitution variable"}}));
  ASSERT_TRUE(r) << error_of(r);
  EXPECT_EQ(r->config.http.listen, "127.0.0.1:4000");
  EXPECT_EQ(r->config.log.level, "warn");
  EXPECT_EQ(r->config.federation.deny, (std::vector<std::string>{"eve", "mallory"}));
  EXPECT_EQ(r->config.federation.max_idle_per_peer, 3);
  EXPECT_EQ(r->config.organization, "Other");
}

TEST(Config, BadEnvironmentOverrideIsNamed) {
  auto r = toml(kToml, env({{"TOKEN", "x"}, {"FEDMESH_HTTP__LISEN", "1"}}));
  EXPECT_EQ(error_of(r), "node.toml: environment FEDMESH_HTTP__LISEN: unknown key (did you mean http.listen?)");
  r = toml(kToml, env({{"TOKEN", "x"}, {"FEDMESH_HTTP__MAX_BODY", "big"}}));
  EXPECT_EQ(error_of(r), "node.toml: environment FEDMESH_HTTP__MAX_BODY: expected an integer, got 'big'");
}

TEST(Config, UnknownKeySuggestsTheClosest) {
  std::string text = kToml;
  text.replace(text.find("listen = \"127.0.0.1:3026\""), 6, "lisen ");
  auto r = toml(text);
  EXPECT_NE(error_of(r).find("node.toml: http.lisen: unknown key (did you mean http.listen?)"), std::string::npos)
      << error_of(r);
  r = toml("foo = 1\n" + std::string(kToml));
  EXPECT_NE(error_of(r).find("node.toml: foo: unknown key"), std::string::npos) << error_of(r);
  r = toml(std::string(kToml) + "\nfoo = 1\n");  // lands in [log]
  EXPECT_NE(error_of(r).find("node.toml: log.foo: unknown key"), std::string::npos) << error_of(r);
}

TEST(Config, PeerErrorsNameTheEntry) {
  std::string text = kToml;
  text.replace(text.find("https://127.0.0.1:4024"), 22, "http://127.0.0.1:4024");
  EXPECT_EQ(error_of(toml(text)), "node.toml: federation.peers[1].url: not an https URL (https://host:port)");
  text = kToml;
  text.replace(text.find("bidirectional = true"), 20, "bidirectinal = true");
  EXPECT_NE(error_of(toml(text))
                .find("federation.peers[0].bidirectinal: unknown key (did you mean "
                      "federation.peers[0].bidirectional?)"),
            std::string::npos);
}

TEST(Config, TypeBoundsAndChoiceErrors) {
  auto with = [](const std::string& section_line) { return toml(std::string(kToml) + "\n" + section_line); };
  EXPECT_NE(
      error_of(toml(std::string(kToml).replace(std::string(kToml).find("level = \"debug\""), 15, "level = \"loud\"")))
          .find("log.level: must be one of: trace, debug, info, warn, error"),
      std::string::npos);
  EXPECT_EQ(error_of(toml(R"(name = "n"
threads = 1000
[federation]
cert = "c"
key = "k"
trust = ["t"]
)")),
            "node.toml: threads: must be between 0 and 256");
  EXPECT_EQ(error_of(toml(R"(name = "n"
shutdown_grace = "soon"
[federation]
cert = "c"
key = "k"
trust = ["t"]
)")),
            "node.toml: shutdown_grace: expected a duration such as \"500ms\", \"10s\", \"2m\"");
  EXPECT_EQ(error_of(toml(R"(name = "Bad Name!"
[federation]
cert = "c"
key = "k"
trust = ["t"]
)")),
            "node.toml: name: must be 1-63 characters of a-z, 0-9, '.', '_', '-', starting with a letter or digit");
  EXPECT_EQ(error_of(toml(R"(name = "n"
[http]
max_connections = 0
[federation]
cert = "c"
key = "k"
trust = ["t"]
)")),
            "node.toml: http.max_connections: must be between 1 and 1000000");
  (void)with;
}

TEST(Config, DataShareRulesAndLimitsAreChecked) {
  auto with = [](const std::string& data) { return error_of(toml(std::string(kToml) + "\n[data]\n" + data)); };
  EXPECT_EQ(with("share = [{collection = \"user\", with = [\"*\", \"org:Acme\", \"red\"]}]"), "");
  EXPECT_NE(with("share = [{collection = \"user\"}]").find("data.share: entry 0: 'with' must list"), std::string::npos);
  EXPECT_NE(
      with("share = [{collection = \"Bad Name\", with = [\"*\"]}]").find("'collection' must be a collection name"),
      std::string::npos);
  EXPECT_NE(with("share = [{collection = \"u\", with = [\"*\"], also = 1}]").find("unknown key 'also'"),
            std::string::npos);
  EXPECT_NE(with("share = [{collection = \"u\", with = [5]}]").find("'with' must list"), std::string::npos);
  EXPECT_NE(with("max_expand = 11").find("data.max_expand: must be between 0 and 10"), std::string::npos);
  EXPECT_NE(with("cache_deltas = -1").find("data.cache_deltas"), std::string::npos);
}

TEST(Config, PackagesMayReadOnlyPlainVariablesTheOperatorLists) {
  auto with_env = [](const std::string& list) {
    return error_of(toml(std::string(kToml) + "\n[skills]\nenv = " + list + "\n"));
  };
  EXPECT_EQ(with_env(R"(["COLOR", "REGION_1"])"), "");
  EXPECT_NE(with_env(R"(["FEDMESH_HTTP__TOKEN"])").find("skills.env: 'FEDMESH_HTTP__TOKEN': FEDMESH_* variables"),
            std::string::npos)
      << with_env(R"(["FEDMESH_HTTP__TOKEN"])");
  EXPECT_NE(with_env(R"(["NOT-A-NAME"])").find("is not an environment variable name"), std::string::npos);
}

TEST(Config, EnvironmentOverridesReachSystemServiceTables) {
  std::string text = std::string(kToml) +
                     "\n[system_services]\nenable = [\"svc\"]\n[system_services.svc]\ngreeting = \"hi\"\nqty = 3\n"
                     "ratio = 0.5\nloud = false\n";
  auto with = [&](std::map<std::string, std::string> vars) {
    vars["TOKEN"] = "s3cret";
    return toml(text, Environment(vars));
  };
  auto r = with({{"FEDMESH_SYSTEM_SERVICES__SVC__GREETING", "hello there"},
                 {"FEDMESH_SYSTEM_SERVICES__SVC__QTY", "7"},
                 {"FEDMESH_SYSTEM_SERVICES__SVC__RATIO", "2"},
                 {"FEDMESH_SYSTEM_SERVICES__SVC__LOUD", "true"},
                 {"FEDMESH_SYSTEM_SERVICES__SVC__LIMITS__MAX", "5"},
                 {"FEDMESH_SYSTEM_SERVICES__SVC__MOTTO", "keep going"}});
  ASSERT_TRUE(r) << error_of(r);
  EXPECT_EQ(r->config.system_services.configs["svc"],
            nlohmann::json::parse(R"({"greeting": "hello there", "qty": 7, "ratio": 2.0, "loud": true,
                                      "limits": {"max": 5}, "motto": "keep going"})"));
  auto shown = render_effective_toml(*r);
  EXPECT_NE(shown.find("system_services.svc.greeting  <-  FEDMESH_SYSTEM_SERVICES__SVC__GREETING"), std::string::npos)
      << shown;
  EXPECT_NE(shown.find("system_services.svc.limits.max  <-  FEDMESH_SYSTEM_SERVICES__SVC__LIMITS__MAX"),
            std::string::npos)
      << shown;
  EXPECT_NE(error_of(with({{"FEDMESH_SYSTEM_SERVICES__SVC__QTY", "seven"}}))
                .find("environment FEDMESH_SYSTEM_SERVICES__SVC__QTY: system_services.svc.qty: expected an integer"),
            std::string::npos)
      << error_of(with({{"FEDMESH_SYSTEM_SERVICES__SVC__QTY", "seven"}}));
  // A table for a service that is not enabled is a warning, from the environment too.
  auto other = with({{"FEDMESH_SYSTEM_SERVICES__OTHER__X", "1"}});
  ASSERT_TRUE(other) << error_of(other);
  EXPECT_EQ(other->warnings, std::vector<std::string>{"system_services.other: a table for a service that "
                                                      "system_services.enable does not list (ignored)"});
  EXPECT_NE(error_of(with({{"FEDMESH_SYSTEM_SERVICES__SVC__GREETING__X", "1"}})).find("is not a table"),
            std::string::npos);
}

TEST(SystemServicesConfig, FluencesBlockLoadsWithAWarningForTheTableOfAServiceNotEnabled) {
  auto r = toml(std::string(kToml) + fedmesh::testing::kFluenceSystemServices);
  ASSERT_TRUE(r) << error_of(r);
  const auto& ss = r->config.system_services;
  ASSERT_TRUE(ss.enable);
  EXPECT_EQ(*ss.enable, (std::vector<std::string>{"aqua-ipfs", "registry"}));
  EXPECT_EQ(service_table_name("aqua-ipfs"), "aqua_ipfs");
  EXPECT_EQ(ss.configs[service_table_name("aqua-ipfs")]["local_api_multiaddr"], "/ip4/127.0.0.1/tcp/5001");
  EXPECT_EQ(ss.configs["decider"]["worker_period_sec"], 123);
  EXPECT_EQ(r->warnings, std::vector<std::string>{"system_services.decider: a table for a service that "
                                                  "system_services.enable does not list (ignored)"});
  EXPECT_EQ(ss.deployed_file, "/base/var/painter/system_services.json");
  // The effective config shows the tables as written.
  EXPECT_EQ(r->effective["system_services"]["aqua_ipfs"]["local_api_multiaddr"], "/ip4/127.0.0.1/tcp/5001");
  // Fluence's environment overrides reach the '_' table.
  auto env_set =
      toml(std::string(kToml) + fedmesh::testing::kFluenceSystemServices,
           Environment({{"TOKEN", "s3cret"},
                        {"FEDMESH_SYSTEM_SERVICES__AQUA_IPFS__LOCAL_API_MULTIADDR", "/ip4/10.0.0.1/tcp/5001"}}));
  ASSERT_TRUE(env_set) << error_of(env_set);
  EXPECT_EQ(env_set->config.system_services.configs["aqua_ipfs"]["local_api_multiaddr"], "/ip4/10.0.0.1/tcp/5001");
}

TEST(SystemServicesConfig, NoEnableMeansEveryPackageOnThePathAndAnEmptyListNone) {
  auto all =
      toml(std::string(kToml) + "\n[system_services]\npath = [\"services\"]\n[system_services.decider]\nx = 1\n");
  ASSERT_TRUE(all) << error_of(all);
  EXPECT_FALSE(all->config.system_services.enable.has_value());
  EXPECT_TRUE(all->warnings.empty());  // which packages are on the path is known at start
  EXPECT_FALSE(all->effective["system_services"].contains("enable"));
  // No [system_services] section at all: nothing is a system service (a config beside a
  // packages/ folder does not deploy it by surprise).
  auto absent = toml(kToml);
  ASSERT_TRUE(absent) << error_of(absent);
  ASSERT_TRUE(absent->config.system_services.enable.has_value());
  EXPECT_TRUE(absent->config.system_services.enable->empty());
  EXPECT_EQ(absent->config.system_services.path, std::vector<std::string>{"/base/packages"});

  auto none = toml(std::string(kToml) + "\n[system_services]\nenable = []\n[system_services.decider]\nx = 1\n");
  ASSERT_TRUE(none) << error_of(none);
  ASSERT_TRUE(none->config.system_services.enable.has_value());
  EXPECT_TRUE(none->config.system_services.enable->empty());
  EXPECT_EQ(none->effective["system_services"]["enable"], nlohmann::json::array());
  EXPECT_EQ(none->warnings.size(), 1u);

  auto from_env =
      toml(kToml, Environment({{"TOKEN", "s3cret"}, {"FEDMESH_SYSTEM_SERVICES__ENABLE", "aqua-ipfs, registry"}}));
  ASSERT_TRUE(from_env) << error_of(from_env);
  EXPECT_EQ(*from_env->config.system_services.enable, (std::vector<std::string>{"aqua-ipfs", "registry"}));
}

TEST(SystemServicesConfig, NamesAndTablesThatCannotWorkAreErrors) {
  auto services = [](const std::string& block) { return error_of(toml(std::string(kToml) + "\n" + block)); };
  EXPECT_EQ(services("[system_services]\nenable = [\"Aqua IPFS\"]\n"),
            "node.toml: system_services.enable: 'Aqua IPFS' is not a package name (1-63 characters of a-z, 0-9, "
            "'_', '-', starting with a letter or digit)");
  EXPECT_NE(services("[system_services]\nenable = [\"../etc\"]\n").find("'../etc' is not a package name"),
            std::string::npos);
  EXPECT_EQ(services("[system_services]\nenable = [\"aqua-ipfs\", \"aqua_ipfs\"]\n"),
            "node.toml: system_services.enable: 'aqua-ipfs' and 'aqua_ipfs' would share the table "
            "[system_services.aqua_ipfs]");
  EXPECT_EQ(services("[system_services]\nenable = [\"registry\", \"registry\"]\n"),
            "node.toml: system_services.enable: 'registry' is listed twice");
  // A table written with the service's '-' would configure nothing: say how to write it.
  EXPECT_EQ(services("[system_services]\nenable = [\"aqua-ipfs\"]\n[system_services.aqua-ipfs]\nx = 1\n"),
            "node.toml: system_services.aqua-ipfs: '-' in a service name is '_' in its table name: write "
            "[system_services.aqua_ipfs]");
  EXPECT_TRUE(valid_package_name("aqua-ipfs"));
  EXPECT_TRUE(valid_package_name("color_tools"));
  EXPECT_TRUE(valid_package_name(std::string(63, 'a')));
  for (const char* bad : {"", "-ipfs", "_x", "Aqua", "a.b", "a/b", "a b"}) EXPECT_FALSE(valid_package_name(bad)) << bad;
  EXPECT_FALSE(valid_package_name(std::string(64, 'a')));
}

TEST(Config, MissingRequiredKeysAreAllListed) {
  auto msg = error_of(toml("organization = \"x\"\n[federation]\nlisten = \"127.0.0.1:4000\"\n"));
  EXPECT_NE(msg.find("node.toml: name: missing required key"), std::string::npos);
  EXPECT_NE(msg.find("node.toml: federation.cert: missing required key"), std::string::npos);
  EXPECT_NE(msg.find("node.toml: federation.trust: missing required key"), std::string::npos);
  // Without a [federation] section, its keys are not required: the node runs alone.
  auto alone = toml("name = \"solo\"\n");
  ASSERT_TRUE(alone) << error_of(alone);
  EXPECT_FALSE(alone->config.federation.enabled);
  EXPECT_FALSE(alone->effective.contains("federation"));
}

TEST(Config, BeyondLoopbackNeedsTlsAndToken) {
  std::string text = kToml;
  text.replace(text.find("127.0.0.1:3026"), 14, "0.0.0.0:3026");
  EXPECT_EQ(error_of(toml(text)),
            "node.toml: http.listen: 0.0.0.0:3026 is beyond loopback: set http.tls_cert, http.tls_key and http.token");
}

TEST(Config, KodoOptionsNeedTheRegistryRoleAndKodoCompat) {
  std::string text = kToml;
  std::string roles = text.substr(text.find("roles"), text.find('\n', text.find("roles")) - text.find("roles"));
  std::string node_only = text;
  node_only.replace(node_only.find(roles), roles.size(), "roles = [\"node\"]");
  EXPECT_EQ(error_of(toml(node_only + "[registry]\nkodo_compat = true\n")),
            "node.toml: registry.kodo_compat: needs the registry role (roles = [\"registry\", ...])");
  EXPECT_EQ(error_of(toml(text + "[registry]\nkodo_listen = \"127.0.0.1:3366\"\n")),
            "node.toml: registry.kodo_listen: has no effect unless registry.kodo_compat = true");
  EXPECT_NE(
      error_of(toml(text + "[registry]\nkodo_compat = true\nkodo_listen = \"nowhere\"\n")).find("registry.kodo_listen"),
      std::string::npos);
  auto ok = toml(text + "[registry]\nkodo_compat = true\nkodo_listen = \"0.0.0.0:3366\"\nkodo_ttl = \"1h\"\n");
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(ok->config.registry.kodo_ttl, std::chrono::hours(1));
}

TEST(Config, ParseErrorsCarryLineAndColumn) {
  auto r = toml("name = \"a\"\n[http\nlisten = 1\n");
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().message().starts_with("node.toml:2:")) << r.error().message();
  auto y = load_config_text("name: [unclosed\n", Format::Yaml, "node.yaml", "/", env());
  ASSERT_FALSE(y);
  EXPECT_TRUE(y.error().message().starts_with("node.yaml:")) << y.error().message();
}

TEST(Config, DuplicatePeersAndSelfPeerAreRejected) {
  auto r = toml(R"(name = "a"
[federation]
cert = "c"
key = "k"
trust = ["t"]
[[federation.peers]]
name = "a"
url = "https://127.0.0.1:1"
[[federation.peers]]
name = "b"
url = "https://127.0.0.1:2"
[[federation.peers]]
name = "b"
url = "https://127.0.0.1:3"
)");
  auto msg = error_of(r);
  EXPECT_NE(msg.find("federation.peers[0].name: a node cannot be its own peer"), std::string::npos);
  EXPECT_NE(msg.find("federation.peers[2].name: peer 'b' is listed twice"), std::string::npos);
}

TEST(Config, EffectiveConfigMasksSecrets) {
  auto r = toml(std::string(kToml) + "\n[store]\nurl = \"postgresql://u:pw@db/x\"\n");
  ASSERT_TRUE(r) << error_of(r);
  auto text = render_effective_toml(*r);
  EXPECT_EQ(text.find("s3cret"), std::string::npos);
  EXPECT_EQ(text.find(":pw@"), std::string::npos);
  EXPECT_NE(text.find("token = '****'"), std::string::npos) << text;
  EXPECT_NE(text.find("postgresql://u:****@db/x"), std::string::npos);
}

TEST(Config, FileFormatByExtension) {
  auto r = load_config("/nonexistent/node.ini", Environment());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "/nonexistent/node.ini: unknown config format '.ini' (use .toml, .yaml or .yml)");
  r = load_config("/nonexistent/node.toml", Environment());
  EXPECT_EQ(r.error().message(), "/nonexistent/node.toml: no such file");
}

}  // namespace
}  // namespace fedmesh::config

namespace fedmesh::config {
namespace {

// Found by reading the decoders for the fuzz targets (issue 13): each once ended the
// process; now each is a clear error naming the key.
TEST(ConfigHostile, NumbersOutOfRangeAndFlottaShapesAreErrorsNotCrashes) {
  Environment none;
  auto huge = load_config_text("name: n1\nthreads: 1.0e999\n", Format::Yaml, "node.yaml", "/base", none);
  ASSERT_FALSE(huge);
  EXPECT_NE(huge.error().message().find("threads"), std::string::npos) << huge.error().message();
  auto tiny = load_config_text("name: n1\nhttp:\n  max_body: 1.0e-400\n", Format::Yaml, "node.yaml", "/base", none);
  ASSERT_FALSE(tiny);
  auto long_number =
      load_config_text("name: n1\nthreads: " + std::string(5000, '7') + "\n", Format::Yaml, "node.yaml", "/base", none);
  ASSERT_FALSE(long_number);
  for (const char* flotta :
       {"mode: client\nnode:\n  name: c\ndatasources: 5\n", "mode: client\nnode:\n  name: c\ndatasources:\n  a: 1\n",
        "mode: node\nnode:\n  name: n\ndatabase: 7\n", "mode: node\nnode:\n  name: n\ndatabase: [1]\n",
        "mode: node\nnode: 3\n", "mode: client\nnode:\n  name: c\njoin: yes\n"}) {
    auto r = load_config_text(flotta, Format::Yaml, "config.yaml", "/base", none);
    EXPECT_FALSE(r) << flotta;
  }
  // docs/flotta-compat.md: a client's file naming projects is refused, naming the key.
  auto projects = load_config_text(
      "mode: client\nnode:\n  name: c\n  token_projects_initial:\n    - name: p\n      token: t\njoin:\n  url: "
      "https://agg:4000\n",
      Format::Yaml, "config.yaml", "/base", none);
  ASSERT_FALSE(projects);
  EXPECT_NE(projects.error().message().find("node.token_projects_initial"), std::string::npos)
      << projects.error().message();
  EXPECT_FALSE(parse_duration("9999999999999999h"));
  EXPECT_FALSE(parse_duration("9223372036854775807m"));
  EXPECT_EQ(parse_duration("2h")->count(), 7'200'000);
}

}  // namespace
}  // namespace fedmesh::config

namespace fedmesh::config {
namespace {

// Issue 20: Rhizome's variables (docs/rhizome-compat.md, "Environment variables").
const char* kRhizomeNode = R"(organization = "Acme"
[federation]
cert = "c"
key = "k"
trust = ["t"]
)";

TEST(RhizomeEnvironment, PeerIdPortAndSeedPeersBecomeFedmeshOptionsWithALogLine) {
  ::testing::internal::CaptureStderr();
  auto r = toml(kRhizomeNode,
                env({{"RHIZOME_PEER_ID", "peer1"},
                     {"RHIZOME_HTTP_API_PORT", "3000"},
                     {"RHIZOME_SEED_PEERS", "peer2@localhost:4002, peer3@localhost:4004,peer1@localhost:4000"}}));
  std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(r) << error_of(r);
  EXPECT_EQ(r->config.name, "peer1");
  EXPECT_EQ(r->config.http.listen, "127.0.0.1:3000");
  ASSERT_EQ(r->config.federation.peers.size(), 2u);  // peer1 is this node: skipped
  EXPECT_EQ(r->config.federation.peers[0], (PeerConfig{"peer2", "https://localhost:4002", true}));
  EXPECT_EQ(r->config.federation.peers[1], (PeerConfig{"peer3", "https://localhost:4004", true}));
  EXPECT_EQ(r->sources.at("name"), "RHIZOME_PEER_ID");
  EXPECT_EQ(r->sources.at("http.listen"), "RHIZOME_HTTP_API_PORT");
  EXPECT_EQ(r->sources.at("federation.peers"), "RHIZOME_SEED_PEERS");
  EXPECT_NE(log.find("[config] RHIZOME_PEER_ID=peer1 read as name = \"peer1\""), std::string::npos) << log;
  EXPECT_NE(log.find("[config] RHIZOME_HTTP_API_PORT=3000 read as http.listen = \"127.0.0.1:3000\""), std::string::npos)
      << log;
  EXPECT_NE(log.find("[config] RHIZOME_SEED_PEERS read as federation.peers: peer2 at https://localhost:4002, peer3 at "
                     "https://localhost:4004 (peer1 is this node: skipped)"),
            std::string::npos)
      << log;
  // `fedmesh config check` shows where they came from.
  EXPECT_NE(render_effective_toml(*r).find("#   name  <-  RHIZOME_PEER_ID"), std::string::npos);
}

TEST(RhizomeEnvironment, AFileOrFedmeshValueThatAgreesIsKeptOneThatDiffersIsAnErrorNamingBoth) {
  std::string file = std::string("name = \"peer1\"\n") + kRhizomeNode +
                     "  [[federation.peers]]\n  name = \"peer2\"\n  url = \"https://localhost:4002\"\n"
                     "[http]\nlisten = \"127.0.0.1:3000\"\n";
  auto same = toml(file, env({{"RHIZOME_PEER_ID", "peer1"},
                              {"RHIZOME_HTTP_API_PORT", "3000"},
                              {"RHIZOME_SEED_PEERS", "peer2@localhost:4002"}}));
  ASSERT_TRUE(same) << error_of(same);
  EXPECT_EQ(same->config.federation.peers.size(), 1u);
  EXPECT_FALSE(same->config.federation.peers[0].bidirectional);  // the file's entry, as it was
  EXPECT_TRUE(same->sources.empty());
  auto differs = toml(file, env({{"RHIZOME_PEER_ID", "peer9"},
                                 {"RHIZOME_HTTP_API_PORT", "3001"},
                                 {"RHIZOME_SEED_PEERS", "peer2@localhost:4012"}}));
  EXPECT_EQ(error_of(differs),
            "node.toml: environment RHIZOME_PEER_ID: 'peer9' conflicts with name = \"peer1\" from the config file; "
            "remove one of them\n"
            "node.toml: environment RHIZOME_HTTP_API_PORT: port 3001 conflicts with http.listen = \"127.0.0.1:3000\" "
            "from the config file; remove one of them\n"
            "node.toml: environment RHIZOME_SEED_PEERS: 'peer2@localhost:4012' conflicts with the [[federation.peers]] "
            "entry named peer2 (url = \"https://localhost:4002\") in the config file; remove one of them");
  auto by_fedmesh = toml(kRhizomeNode, env({{"FEDMESH_NAME", "peer1"},
                                            {"FEDMESH_HTTP__LISTEN", "127.0.0.1:3026"},
                                            {"RHIZOME_PEER_ID", "peer1"},
                                            {"RHIZOME_HTTP_API_PORT", "3000"}}));
  EXPECT_EQ(error_of(by_fedmesh),
            "node.toml: environment RHIZOME_HTTP_API_PORT: port 3000 conflicts with http.listen = \"127.0.0.1:3026\" "
            "from FEDMESH_HTTP__LISTEN; remove one of them");
}

TEST(RhizomeEnvironment, BadValuesAreNamed) {
  auto msg = [](std::map<std::string, std::string> vars) {
    vars.emplace("RHIZOME_PEER_ID", "p1");
    return error_of(toml(kRhizomeNode, env(vars)));
  };
  EXPECT_NE(error_of(toml(kRhizomeNode, env({{"RHIZOME_PEER_ID", "Peer One"}})))
                .find("node.toml: environment RHIZOME_PEER_ID: 'Peer One' is not a fedmesh node name: must be 1-63 "
                      "characters of a-z, 0-9, '.', '_', '-', starting with a letter or digit"),
            std::string::npos);
  EXPECT_EQ(msg({{"RHIZOME_HTTP_API_PORT", "70000"}}),
            "node.toml: environment RHIZOME_HTTP_API_PORT: expected a port number from 1 to 65535, got '70000'");
  EXPECT_EQ(msg({{"RHIZOME_HTTP_API_PORT", "30x0"}}),
            "node.toml: environment RHIZOME_HTTP_API_PORT: expected a port number from 1 to 65535, got '30x0'");
  EXPECT_EQ(msg({{"RHIZOME_SEED_PEERS", "localhost:4002"}}),
            "node.toml: environment RHIZOME_SEED_PEERS: 'localhost:4002': fedmesh knows a peer by the name in its "
            "certificate; write NAME@localhost:4002 (e.g. peer2@localhost:4002)");
  EXPECT_EQ(msg({{"RHIZOME_SEED_PEERS", "peer2@localhost"}}),
            "node.toml: environment RHIZOME_SEED_PEERS: 'peer2@localhost': url: not an https URL (https://host:port)");
  EXPECT_EQ(error_of(toml("name = \"p\"\n", env({{"RHIZOME_SEED_PEERS", "peer2@localhost:4002"}}))),
            "node.toml: environment RHIZOME_SEED_PEERS: seed peers need a [federation] section (listen, cert, key, "
            "trust) in the config file");
}

}  // namespace
}  // namespace fedmesh::config

namespace fedmesh::config {
namespace {

// Issue 20: registry.kodo_connect lists Kodo registries by URL (host and port, no path).
TEST(Config, KodoConnectTakesKodoRegistryUrls) {
  std::string text = std::string(kToml) + "[registry]\nkodo_compat = true\n";
  auto ok = toml(text + "kodo_connect = [\"http://localhost:3366\"]\nkodo_connect_timeout = \"30s\"\n");
  ASSERT_TRUE(ok) << error_of(ok);
  EXPECT_EQ(ok->config.registry.kodo_connect, std::vector<std::string>{"http://localhost:3366"});
  EXPECT_EQ(ok->config.registry.kodo_connect_timeout, std::chrono::seconds(30));
  EXPECT_EQ(toml(text)->config.registry.kodo_connect_timeout, std::chrono::minutes(1));
  EXPECT_EQ(error_of(toml(text + "kodo_connect = [\"localhost:3366\"]\n")),
            "node.toml: registry.kodo_connect: 'localhost:3366': not a URL like http://host:port");
  EXPECT_EQ(error_of(toml(text + "kodo_connect = [\"http://localhost:3366/kodo\"]\n")),
            "node.toml: registry.kodo_connect: 'http://localhost:3366/kodo': not a URL like http://host:port");
  EXPECT_EQ(error_of(toml(text + "kodo_connect_timeout = \"10ms\"\n")),
            "node.toml: registry.kodo_connect_timeout: must be between 100ms and 24h");
}

}  // namespace
}  // namespace fedmesh::config

namespace fedmesh::config {
namespace {

// One `config check` names every problem (issue 20): a bad value, a cross-field conflict and
// a system-services conflict together, not one after the other is fixed.
TEST(ConfigAllAtOnce, ABadValueAndCrossFieldProblemsAreReportedTogether) {
  auto r = load_config_text(
      "name = \"n1\"\nthreads = \"many\"\n[registry]\nkodo_compat = true\nkodo_connect = [\"http://k:1\"]\n"
      "[system_services]\nenable = [\"a-b\", \"a_b\"]\n",
      Format::Toml, "node.toml", "/base", Environment());
  ASSERT_FALSE(r);
  const std::string& m = r.error().message();
  EXPECT_NE(m.find("node.toml: threads:"), std::string::npos) << m;
  EXPECT_NE(m.find("node.toml: registry.kodo_compat: needs the registry role"), std::string::npos) << m;
  EXPECT_NE(m.find("would share the table [system_services.a_b]"), std::string::npos) << m;
  // kodo_connect without kodo_compat is refused by the check, not only at start.
  auto connect =
      load_config_text("name = \"n1\"\nroles = [\"registry\"]\n[registry]\nkodo_connect = [\"http://k:1\"]\n",
                       Format::Toml, "node.toml", "/base", Environment());
  ASSERT_FALSE(connect);
  EXPECT_NE(connect.error().message().find("registry.kodo_connect: has no effect unless registry.kodo_compat = true"),
            std::string::npos)
      << connect.error().message();
}

}  // namespace
}  // namespace fedmesh::config
