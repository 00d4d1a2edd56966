// A node on the PostgreSQL store (a private server started for the test): a registry
// keeps its catalog and a node its packages across restarts, exactly as on SQLite; a
// server that cannot be reached stops the node at start with the URL, password masked.
#include <gtest/gtest.h>

#include "support/harness.hpp"
#include "support/postgres.hpp"

namespace fedmesh::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

TEST(PostgresNode, RegistryCatalogAndPackagesSurviveARestart) {
  PostgresServer pg;
  TempDir dir;
  Federation f{dir};
  std::string store = "[store]\nbackend = \"postgresql\"\nurl = \"" + pg.create_database() + "\"\n";
  f.add({"reg", {}, "roles = [\"node\", \"registry\"]\n" + store + "[registry]\nkodo_compat = true\n"});
  f.start("reg");
  ASSERT_TRUE(f.wait_healthy("reg")) << f.process("reg").log();
  int port = f.http_port("reg");
  json node = {{"url", "http://localhost:3367"},
               {"organization", "node1"},
               {"flows", {{"/hymn", {{"url", "/hymn"}, {"name", "Hymn Creator"}}}}}};
  ASSERT_EQ(http(port, "POST", "/register", node.dump()).status, 200);
  std::string upload = json{{"manifest", "name = \"keep\"\nversion = \"1.0.0\"\n[skills.hi]\n"},
                            {"files", {{"main.lua", "skill('hi', function() return 'hi' end)"}}}}
                           .dump();
  ASSERT_EQ(http(port, "POST", "/api/v1/packages", upload).status, 201);

  f.stop("reg");
  f.start("reg");
  ASSERT_TRUE(f.wait_healthy("reg"));
  EXPECT_EQ(http(port, "GET", "/api/v1/registry/flows").json()["total"], 1);
  auto call = http(port, "POST", "/api/v1/skills/keep/hi", "{}");
  EXPECT_EQ(call.status, 200) << call.body;
  EXPECT_NE(call.body.find("hi"), std::string::npos);
}

TEST(PostgresNode, AnUnreachableServerStopsTheNodeAtStart) {
  TempDir dir;
  Federation f{dir};
  f.add({"a",
         {},
         "[store]\nbackend = \"postgresql\"\nurl = \"postgresql://fedmesh:hunter2@127.0.0.1:" +
             std::to_string(free_port()) + "/x?connect_timeout=2\"\n"});
  f.start("a");
  EXPECT_NE(f.process("a").wait(10s), 0);
  std::string out = f.process("a").log();
  EXPECT_NE(out.find("cannot open PostgreSQL store postgresql://fedmesh:****@127.0.0.1"), std::string::npos) << out;
  EXPECT_EQ(out.find("hunter2"), std::string::npos) << out;
}

}  // namespace
}  // namespace fedmesh::testing
