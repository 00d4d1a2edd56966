// Registries with real processes: nodes register their exported skills over mTLS and
// heartbeat; the catalog answers queries; status goes stale then gone without
// heartbeats; a clean stop deregisters; the catalog survives a restart unless reset.
#include <gtest/gtest.h>

#include "support/browser.hpp"
#include "support/peer_client.hpp"

namespace fedmesh::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

const char* kManifest = R"(name = "catalog_demo"
version = "2.1.0"
[skills.forecast]
description = "Forecasts demand"
author = "ada"
tags = ["ml", "stats"]
acl = "peers"
[skills.summary]
description = "Summarises a table"
author = "grace"
tags = ["stats"]
acl = "peers"
[skills.private]
description = "Not exported"
)";
const char* kLua = R"(
skill("forecast", function() return 1 end)
skill("summary", function() return 2 end)
skill("private", function() return 3 end)
)";

const std::string kRegistryExtra =
    "roles = [\"node\", \"registry\"]\n[registry]\nstale_after = \"600ms\"\ngone_after = \"1500ms\"\n";
const std::string kNodeExtra = "[discovery]\nregistries = [\"reg\"]\nheartbeat = \"150ms\"\n";

class Registry : public ::testing::Test {
 protected:
  void SetUp() override {
    f_.add({"reg", {}, kRegistryExtra});
    f_.add({"n1", {{"reg", true}}, kNodeExtra});
    f_.add({"n2", {{"reg", true}}, kNodeExtra});
    for (std::string n : {"reg", "n1", "n2"}) f_.start(n);
    std::string upload = json{{"manifest", kManifest}, {"files", {{"main.lua", kLua}}}}.dump();
    for (std::string n : {"n1", "n2"}) {
      ASSERT_TRUE(f_.wait_healthy(n));
      ASSERT_EQ(http(f_.http_port(n), "POST", "/api/v1/packages", upload).status, 201);
    }
    ASSERT_TRUE(wait_until([&] { return flows()["total"] == 4; }, 10s)) << flows().dump();
  }
  json flows(const std::string& query = "") {
    return http(f_.http_port("reg"), "GET", "/api/v1/registry/flows" + query).json();
  }
  std::string status_of(const std::string& node) {
    auto n = http(f_.http_port("reg"), "GET", "/api/v1/registry/nodes/" + node).json();
    return n.is_object() ? n.value("status", "") : "";
  }
  TempDir dir_;
  Federation f_{dir_};
};

TEST_F(Registry, NodesRegisterExportedSkillsAndQueriesWork) {
  auto all = flows("?pp=10&by=node,name");
  ASSERT_EQ(all["items"].size(), 4u) << all.dump();
  const auto& first = all["items"][0];
  EXPECT_EQ(first["node"], "n1");
  EXPECT_EQ(first["name"], "catalog_demo/forecast");
  EXPECT_EQ(first["author"], "ada");
  EXPECT_EQ(first["tags"], json({"ml", "stats"}));
  EXPECT_EQ(first["organization"], "Org n1");
  EXPECT_EQ(first["registry"], "reg");
  EXPECT_EQ(first["status"], "alive");
  EXPECT_NE(first["url"].get<std::string>().find("/fed/v1/skills/catalog_demo/forecast"), std::string::npos);
  EXPECT_EQ(flows("?q=" + std::string("%40tag(%22ml%22)"))["filtered"], 2);
  EXPECT_EQ(flows("?q=author%20%3D%3D%20%22grace%22%20%26%20node%20%3D%3D%20%22n2%22")["filtered"], 1);
  auto fallback = flows("?q=demand");
  EXPECT_EQ(fallback["full_text"], true);
  EXPECT_EQ(fallback["filtered"], 2);
  EXPECT_EQ(flows("?pp=0")["error"]["code"], "invalid_argument");
  EXPECT_EQ(flows("?p=-1")["error"]["code"], "invalid_argument");
  auto counts = http(f_.http_port("reg"), "GET", "/api/v1/registry/counts").json();
  EXPECT_EQ(counts["total"], 4);
  EXPECT_EQ(counts["tags"]["stats"], 4);
  EXPECT_EQ(counts["node"]["n2"], 2);
  auto html = http(f_.http_port("reg"), "GET", "/api/v1/registry/flows?format=html");
  EXPECT_NE(html.head.find("text/html"), std::string::npos);
  EXPECT_NE(html.body.find("<td>catalog_demo/summary</td>"), std::string::npos);
  auto browser = http(f_.http_port("reg"), "GET", "/api/v1/registry/flows", "", {"Accept: text/html"});
  EXPECT_NE(browser.body.find("<table>"), std::string::npos);
  // created stays, modified moves when a node registers again with new skills.
  auto n1 = http(f_.http_port("reg"), "GET", "/api/v1/registry/nodes/n1").json();
  EXPECT_EQ(http(f_.http_port("n1"), "DELETE", "/api/v1/packages/catalog_demo").status, 200);
  ASSERT_TRUE(wait_until([&] { return flows()["total"] == 2; }, 5s));
  auto n1_after = http(f_.http_port("reg"), "GET", "/api/v1/registry/nodes/n1").json();
  EXPECT_EQ(n1_after["created"], n1["created"]);
  EXPECT_NE(n1_after["modified"], n1["modified"]);
}

TEST_F(Registry, TheCliPrintsATable) {
  std::string url = "http://127.0.0.1:" + std::to_string(f_.http_port("reg"));
  std::string out;
  EXPECT_EQ(run_fedmesh({"registry", "query", url, "@tag(\"ml\")", "--by", "node"}, &out), 0) << out;
  EXPECT_NE(out.find("catalog_demo/forecast"), std::string::npos) << out;
  EXPECT_NE(out.find("2 of 4 flows match"), std::string::npos) << out;
  EXPECT_EQ(out.find("catalog_demo/summary"), std::string::npos);
  EXPECT_EQ(run_fedmesh({"registry", "query", url, "demand"}, &out), 0);
  EXPECT_NE(out.find("full-text search used"), std::string::npos) << out;
  EXPECT_EQ(run_fedmesh({"registry", "query", url, "--by", "nope"}, &out), 1);
  EXPECT_NE(out.find("by: unknown field 'nope'"), std::string::npos) << out;
}

TEST_F(Registry, FedFindReachesNodesThatAreNotPeers) {
  // n3's only peer is the registry; it finds the providers there and calls one directly.
  f_.add({"n3", {{"reg", false}}, kNodeExtra});
  f_.start("n3");
  ASSERT_TRUE(f_.wait_healthy("n3"));
  std::string finder =
      json{{"manifest", "name = \"finder\"\nversion = \"1\"\n[skills.use]\n"}, {"files", {{"main.lua", R"(
skill("use", function()
  local providers = fed.find("catalog_demo/forecast")
  table.sort(providers, function(a, b) return a.name < b.name end)
  return { count = #providers, first = providers[1].name, answer = fed.call(providers[1].name, "catalog_demo/forecast", {}) }
end))"}}}}.dump();
  ASSERT_EQ(http(f_.http_port("n3"), "POST", "/api/v1/packages", finder).status, 201);
  auto r = http(f_.http_port("n3"), "POST", "/api/v1/skills/finder/use", "{}");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["count"], 2);
  EXPECT_EQ(r.json()["first"], "n1");
  EXPECT_EQ(r.json()["answer"], 1);
}

TEST_F(Registry, TheDashboardCatalogSearchesInChromium) {
  Browser b(dir_);
  ASSERT_TRUE(b.ok()) << b.error();
  b.open("http://127.0.0.1:" + std::to_string(f_.http_port("reg")) + "/");
  ASSERT_TRUE(wait_until([&] { return b.text("#catalog-counts") == "4 of 4 flows"; }, 10s))
      << b.text("#catalog-counts");
  b.type("#catalog-q", "@tag(\"ml\")");
  b.click("#catalog-search");
  EXPECT_TRUE(wait_until([&] { return b.text("#catalog-counts") == "2 of 4 flows"; }, 5s)) << b.text("#catalog-counts");
  EXPECT_NE(b.text("#catalog-table").find("catalog_demo/forecast"), std::string::npos);
  b.type("#catalog-q", "demand");
  b.click("#catalog-search");
  EXPECT_TRUE(wait_until([&] { return b.text("#catalog-note").find("free text") != std::string::npos; }, 5s));
  std::cout << "catalog screenshot: " << b.screenshot("dashboard-catalog.png") << "\n";
  // Nodes without the registry role show no catalog.
  b.open("http://127.0.0.1:" + std::to_string(f_.http_port("n1")) + "/");
  ASSERT_TRUE(wait_until([&] { return b.text("#node-name") == "n1"; }, 10s));
  EXPECT_TRUE(b.script("return document.querySelector('#catalog').hidden").get<bool>());
}

TEST_F(Registry, SilentNodesGoStaleThenGoneAndCleanStopsDeregister) {
  // Clean: deregisters before it exits. Read at once, well inside gone_after (1.5 s), so a
  // node that only went silent would still be listed here.
  f_.stop("n1");
  EXPECT_TRUE(wait_until([&] { return status_of("n1").empty(); }, 300ms)) << status_of("n1");
  f_.stop("n2", SIGKILL);  // silent
  EXPECT_TRUE(wait_until([&] { return status_of("n2") == "stale"; }, 5s)) << status_of("n2");
  EXPECT_TRUE(wait_until([&] { return status_of("n2").empty(); }, 5s)) << status_of("n2");
  EXPECT_EQ(flows()["total"], 0);
}

TEST_F(Registry, UnknownSendersAndBadRegistrationsAreRefused) {
  PeerClient stranger(dir_, "n2");  // n2's own certificate, sending bad registrations
  auto bad = stranger.post(f_.fed_port("reg"), "reg", "/fed/v1/registry/register", R"({"url":"ftp://x","flows":[]})");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400) << bad->body;
  auto bad_flow = stranger.post(f_.fed_port("reg"), "reg", "/fed/v1/registry/register",
                                R"({"url":"https://127.0.0.1:1","flows":[{"name":"no slash"}]})");
  ASSERT_TRUE(bad_flow);
  EXPECT_EQ(bad_flow->status, 400);
  EXPECT_NE(bad_flow->body.find("flows[0].name must be"), std::string::npos) << bad_flow->body;
  // The bad registrations changed nothing: n2 still has its two flows.
  EXPECT_EQ(json::parse(http(f_.http_port("reg"), "GET", "/api/v1/registry/counts").body)["node"]["n2"], 2);
  // A node that never registered gets 404 on heartbeat, never a 500.
  f_.add({"n3", {}});
  PeerClient n3(dir_, "n3");
  auto hb = n3.post(f_.fed_port("reg"), "reg", "/fed/v1/registry/heartbeat", "{}");
  ASSERT_TRUE(hb);
  EXPECT_EQ(hb->status, 404) << hb->body;
  EXPECT_NE(hb->body.find("is not registered"), std::string::npos);
  // Registry routes do not exist on nodes without the role.
  EXPECT_EQ(http(f_.http_port("n1"), "GET", "/api/v1/registry/flows").status, 404);
}

TEST_F(Registry, TheCatalogSurvivesARestartUnlessReset) {
  f_.stop("reg");
  f_.start("reg");
  ASSERT_TRUE(f_.wait_healthy("reg"));
  EXPECT_EQ(flows()["total"], 4);
  // Reset: empty at start, then the nodes register again on their next heartbeat (404 -> register).
  f_.stop("reg");
  auto cfg = f_.config_path("reg");
  Process p({fedmesh_binary(), "node", "--config", cfg, "--reset-registry"}, dir_ / "reg-reset.log");
  ASSERT_TRUE(f_.wait_healthy("reg"));
  EXPECT_TRUE(
      wait_until([&] { return read_file(dir_ / "reg-reset.log").find("catalog reset") != std::string::npos; }, 5s));
  EXPECT_TRUE(wait_until([&] { return flows()["total"] == 4; }, 10s)) << flows().dump();
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(10s), 0);
}

}  // namespace
}  // namespace fedmesh::testing
