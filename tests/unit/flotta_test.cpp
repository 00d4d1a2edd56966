// Flotta's config.yaml, mapped onto fedmesh's options (src/config/flotta.cpp,
// docs/flotta-compat.md): the file Flotta's docs print, each mode, the heartbeat, and the
// PostgreSQL URL a password ends up in, read back the way libpq reads it.
#include <gtest/gtest.h>

#include <libpq-fe.h>

#include <algorithm>
#include <map>
#include <string>

#include "config/loader.hpp"

namespace fedmesh::config {
namespace {

// Flotta's node configuration, as its docs print it (references: flotta-node-config.txt).
constexpr const char* kFlottaDocsExample =
    R"(workdir: ./storage                  # OPTIONAL: local path of the working directory

mode: node                          # one of: node, client, standalone

node:
  name: flottaNode
  healthcheck: 3600.0               # wait in seconds for check self status
  heartbeat: 10.0                   # wait in seconds for clients to fetch updates
  allow_resource_download: true     # if false, nobody can download resources from this node

  protocol: http                    # external protocol (http or https)
  interface: 0.0.0.0                # interface to use (0.0.0.0 for node, "localhost" for clients)
  url: ""                           # external url that the node will be reachable at
  port: 1456                        # external port to use to reach the APIs

  token_projects_initial:           # initial projects available at node start
    - name: my_beautiful_project    # name of the project
      token: 58981bcbab...          # unique token assigned to the project

join:
  first: true                       # if true, this is the first node in the distributed network
  url: ""                           # when a node is note the first, set the url for the join node

datasources:                        # list of available datasources
  - name: iris                      # name of the source
    kind: file                      # how the datasource is stored (only 'file')
    type: csv                       # file format supported (only 'csv' or 'tsv')
    path: /data/iris.csv            # path to the file to use
    token:                          # list of project token that can access this datasource
    - 58981bcbab7...

database:
  username: ""                      # username used to access the database
  password: ""                      # password used to access the database
  scheme: flotta                # specify the name of the database schema to use
  memory: false                     # when set to true, a SQLite in-memory database will be used
  dialect: sqlite                   # current accepted dialects are: SQLite and Postgresql
  host: ./sqlite.db                 # local path for local file (QSLite) or url for remote database
  port: ""                          # port to use to connect to a remote database
)";

Result<LoadedConfig> load(const std::string& text) {
  return load_config_text(text, Format::Yaml, "config.yaml", "/base", Environment());
}

bool warned(const LoadedConfig& c, const std::string& key) {
  return std::any_of(c.warnings.begin(), c.warnings.end(), [&](const std::string& w) { return w.starts_with(key); });
}

TEST(Flotta, TheNodeConfigOfFlottasDocsLoadsAsAnAggregatorThatHoldsItsOwnDatasource) {
  auto c = load(kFlottaDocsExample);
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_TRUE(c->flotta);
  EXPECT_EQ(c->config.roles, std::vector<std::string>{"aggregator"});
  EXPECT_EQ(c->config.name, "flottanode");
  ASSERT_EQ(c->config.jobs.datasources.size(), 1u);
  EXPECT_EQ(c->config.jobs.datasources[0].name, "iris");
  EXPECT_EQ(c->config.jobs.datasources[0].path, "/data/iris.csv");
  ASSERT_EQ(c->config.jobs.projects.size(), 1u);
  EXPECT_EQ(c->config.jobs.projects[0].name, "my_beautiful_project");
  EXPECT_EQ(c->config.jobs.poll.count(), 10'000);  // node.heartbeat
  EXPECT_TRUE(c->config.jobs.allow_partial_results);
  EXPECT_EQ(c->config.federation.listen, "0.0.0.0:1456");
  EXPECT_TRUE(warned(*c, "node.healthcheck"));
  EXPECT_TRUE(warned(*c, "node.protocol"));
  EXPECT_TRUE(warned(*c, "database.scheme"));
  EXPECT_FALSE(warned(*c, "join.url")) << "an empty join.url is no join";
}

TEST(Flotta, HeartbeatIsSecondsAndAnythingElseIsAnErrorNamingIt) {
  auto base = [](const std::string& heartbeat) {
    return "mode: standalone\nnode:\n  name: solo\n  heartbeat: " + heartbeat + "\n";
  };
  auto numeric_string = load(base("\"2.5\""));
  ASSERT_TRUE(numeric_string) << numeric_string.error().message();
  EXPECT_EQ(numeric_string->config.jobs.poll.count(), 2'500);
  for (const char* bad : {"soon", "-1", "100000"}) {
    auto r = load(base(bad));
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message().find("node.heartbeat"), std::string::npos) << r.error().message();
  }
}

TEST(Flotta, StandaloneHasNoFederationAndComputesItsOwnDatasources) {
  auto c = load(
      "mode: standalone\nnode:\n  name: solo\n  interface: 0.0.0.0\n  port: 1456\n  token_projects_initial:\n"
      "    - name: p\n      token: t0ken-123456\ndatasources:\n  - name: d\n    path: d.csv\n    token: "
      "[t0ken-123456]\n");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->config.roles, std::vector<std::string>{"standalone"});
  EXPECT_FALSE(c->config.federation.enabled) << "node.interface and node.port are not used in standalone";
  EXPECT_EQ(c->config.jobs.datasources.at(0).path, "/base/d.csv");
}

TEST(Flotta, ANodeThatJoinsAnotherSharesItsPostgresqlDatabaseOrIsRefused) {
  std::string node = "mode: node\nnode:\n  name: second\njoin:\n  first: false\n  url: http://first:1456\n";
  auto shared = load(node + "database:\n  dialect: postgresql\n  username: u\n  host: db\n  scheme: flotta\n");
  ASSERT_TRUE(shared) << shared.error().message();
  EXPECT_EQ(shared->config.store.backend, "postgresql");
  EXPECT_TRUE(warned(*shared, "join.url: this node joins the network by sharing its PostgreSQL database"));
  for (const char* db : {"", "database:\n  memory: true\n", "database:\n  dialect: sqlite\n  host: ./n.db\n"}) {
    auto r = load(node + db);
    ASSERT_FALSE(r) << db;
    EXPECT_NE(r.error().message().find("join.url: a node that joins another shares"), std::string::npos)
        << r.error().message();
  }
  // join.first wins over a url beside it.
  auto first = load("mode: node\nnode:\n  name: first\njoin:\n  first: true\n  url: http://other:1456\n");
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_TRUE(warned(*first, "join.url: ignored: join.first is true"));
}

// A password is taken as written, and encoded once: libpq reads back exactly what the file says.
TEST(Flotta, APostgresqlPasswordIsTakenAsWrittenWhateverItHolds) {
  for (std::string password : {"plain", "a@b", "a%40b", "p:ss/w@rd?#[]% !", "ünï"}) {
    auto c = load(
        "mode: node\nnode:\n  name: n\ndatabase:\n  dialect: postgresql\n  username: \"us@er\"\n"
        "  password: '" +
        password + "'\n  host: db.example.org\n  port: 5433\n  scheme: flotta\n");
    ASSERT_TRUE(c) << password << ": " << c.error().message();
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(c->config.store.url.c_str(), &err);
    ASSERT_NE(opts, nullptr) << (err ? err : "") << " " << c->config.store.url;
    std::map<std::string, std::string> got;
    for (auto* o = opts; o->keyword; ++o)
      if (o->val) got[o->keyword] = o->val;
    PQconninfoFree(opts);
    EXPECT_EQ(got["password"], password) << c->config.store.url;
    EXPECT_EQ(got["user"], "us@er");
    EXPECT_EQ(got["host"], "db.example.org");
    EXPECT_EQ(got["port"], "5433");
    EXPECT_EQ(got["dbname"], "flotta");
  }
}

}  // namespace
}  // namespace fedmesh::config
