// A node without a [federation] section (issue 10): no CA, no certificates. It runs its
// operator listener only, serves local skills, can be a registry for Kodo nodes, says
// so in config check and status, and anything that needs peers fails with a clear error.
#include <gtest/gtest.h>

#include "support/harness.hpp"

namespace fedmesh::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

std::string lone_config(int http_port, const std::string& extra = "") {
  return "name = \"lone\"\norganization = \"Solo\"\nworkdir = \"var/lone\"\nroles = [\"node\", \"registry\"]\n" +
         extra + "\n[http]\nlisten = \"127.0.0.1:" + std::to_string(http_port) +
         "\"\n\n[registry]\nkodo_compat = true\n";
}

TEST(Standalone, ANodeWithoutFederationRunsItsOperatorListenerAlone) {
  TempDir dir;
  int port = free_port();
  write_file(dir / "lone.toml", lone_config(port));
  std::string out;
  ASSERT_EQ(run_fedmesh({"config", "check", dir / "lone.toml"}, &out), 0) << out;
  EXPECT_NE(out.find("No [federation] section"), std::string::npos) << out;

  Process node({fedmesh_binary(), "node", "--config", dir / "lone.toml"}, dir / "lone.log");
  ASSERT_TRUE(wait_until([&] { return http(port, "GET", "/healthz").status == 200; }, 15s)) << node.log();
  auto status = http(port, "GET", "/api/v1/status").json();
  EXPECT_EQ(status["name"], "lone");
  EXPECT_TRUE(status["federation"].is_null()) << status;
  EXPECT_EQ(http(port, "GET", "/api/v1/peers").json()["peers"], json::array());

  // Local skills work; a fed call says what is missing.
  json pkg = {{"manifest", "name = \"solo\"\nversion = \"1\"\n[skills.twice]\n[skills.ask]\n"},
              {"files", {{"main.lua", R"(skill("twice", function(a) return a.n * 2 end)
                              skill("ask", function() return fed.call("someone", "x/y", {}) end))"}}}};
  ASSERT_EQ(http(port, "POST", "/api/v1/packages", pkg.dump()).status, 201);
  EXPECT_EQ(http(port, "POST", "/api/v1/skills/solo/twice", R"({"n":21})").json(), 42);
  auto ask = http(port, "POST", "/api/v1/skills/solo/ask", "");
  EXPECT_EQ(ask.status, 503) << ask.body;
  EXPECT_NE(ask.body.find("no [federation] section"), std::string::npos) << ask.body;

  // A lone registry for Kodo nodes: they register over plain HTTP and show in queries.
  json kodo = {
      {"url", "http://127.0.0.1:3370"},
      {"organization", "kodo-org"},
      {"flows",
       {{"/hymn",
         {{"url", "/hymn"}, {"name", "Hymn"}, {"description", nullptr}, {"tags", nullptr}, {"author", nullptr}}}}},
      {"created", nullptr},
      {"modified", nullptr},
      {"heartbeat", nullptr},
      {"status", "unknown"}};
  auto reg = http(port, "POST", "/register", kodo.dump());
  EXPECT_EQ(reg.status, 200) << reg.body;
  auto flows = http(port, "GET", "/api/v1/registry/flows").json();
  EXPECT_EQ(flows["filtered"], 1) << flows;

  auto metrics = http(port, "GET", "/metrics").body;
  EXPECT_EQ(metrics.find("listener=\"federation\""), std::string::npos);
  node.signal(SIGTERM);
  EXPECT_EQ(node.wait(10s), 0) << node.log();
  EXPECT_NE(node.log().find("no [federation] section: no peers"), std::string::npos) << node.log();
}

TEST(Standalone, KeysThatNeedPeersNameTheMissingSection) {
  TempDir dir;
  write_file(dir / "lone.toml", lone_config(free_port(), "[discovery]\nregistries = [\"reg\"]\n"));
  std::string out;
  EXPECT_EQ(run_fedmesh({"config", "check", dir / "lone.toml"}, &out), 2) << out;
  EXPECT_NE(out.find("discovery.registries: needs a [federation] section"), std::string::npos) << out;
}

}  // namespace
}  // namespace fedmesh::testing
