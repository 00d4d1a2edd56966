// Kodo v1 compatibility with real processes: a Kodo-shaped client (plain HTTP JSON, as
// in Kodo's own notebook) registers with a fedmesh registry and its flows appear beside
// the fedmesh nodes'; a Kodo registry connects, gets the catalog as a ProviderOffer and
// is fed later changes at /update/node (a real loopback listener stands in for it);
// bad bodies get a 400 that names the field and change nothing; a restart keeps the
// Kodo nodes and the Kodo registries that connected.
#include <filesystem>
#include <set>

#include <gtest/gtest.h>

#include "support/fake_http.hpp"
#include "support/harness.hpp"

namespace fedmesh::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

const char* kManifest = R"(name = "atlas"
version = "1.0.0"
[skills.route]
description = "Plans a route"
author = "ada"
tags = ["maps"]
acl = "peers"
)";

// As Kodo's notebook posts it: flows keyed by path, nulls where the flow sets nothing.
json kodo_node(const std::string& url, const std::string& organization, const std::string& path,
               const std::string& name) {
  return {{"url", url},
          {"organization", organization},
          {"flows",
           {{path, {{"url", path}, {"name", name}, {"description", nullptr}, {"tags", nullptr}, {"author", nullptr}}}}},
          {"created", nullptr},
          {"modified", nullptr},
          {"heartbeat", nullptr},
          {"status", "unknown"}};
}

class Kodo : public ::testing::Test {
 protected:
  void SetUp() override {
    f_.add({"reg", {}, "roles = [\"node\", \"registry\"]\n[registry]\nkodo_compat = true\n"});
    f_.add({"n1", {{"reg", true}}, "[discovery]\nregistries = [\"reg\"]\nheartbeat = \"200ms\"\n"});
    for (std::string n : {"reg", "n1"}) {
      f_.start(n);
      ASSERT_TRUE(f_.wait_healthy(n));
    }
    std::string upload =
        json{{"manifest", kManifest}, {"files", {{"main.lua", "skill('route', function() end)"}}}}.dump();
    ASSERT_EQ(http(f_.http_port("n1"), "POST", "/api/v1/packages", upload).status, 201);
    ASSERT_TRUE(wait_until([&] { return fed_flows()["total"] == 1; }, 10s)) << fed_flows().dump();
  }
  int reg() { return f_.http_port("reg"); }
  std::string reg_url() { return "http://127.0.0.1:" + std::to_string(reg()); }
  json fed_flows(const std::string& query = "") { return http(reg(), "GET", "/api/v1/registry/flows" + query).json(); }
  HttpResult post(const std::string& path, const json& body) { return http(reg(), "POST", path, body.dump()); }
  TempDir dir_;
  Federation f_{dir_};
};

TEST_F(Kodo, KodoNodeRegistersAndItsFlowsAppearBesideFedmeshNodes) {
  auto first = post("/register", kodo_node("http://localhost:3367", "node1", "/test/hymn1", "Hymn Creator"));
  ASSERT_EQ(first.status, 200) << first.body;
  auto a = first.json();
  EXPECT_EQ(a["message"], json({"registered node http://localhost:3367 (first visit)"}));
  for (const char* key :
       {"url", "organization", "node", "registry", "provider", "connection", "started_at", "idle", "now", "message"})
    EXPECT_TRUE(a.contains(key)) << key;
  EXPECT_EQ(a["url"], reg_url());
  EXPECT_EQ(a["registry"], true);
  EXPECT_EQ(a["node"], false);

  // Kodo's /flows: node is the node's URL, timestamps are naive, defaults fill the nulls.
  auto flows = http(reg(), "GET", "/flows").json();
  ASSERT_EQ(flows["total"], 2) << flows.dump();
  EXPECT_EQ(flows["by"], "name, node, url");
  EXPECT_TRUE(flows["q"].is_null());
  const auto& hymn = flows["items"][0];  // "Hymn Creator" sorts before "atlas/route"
  EXPECT_EQ(hymn["name"], "Hymn Creator");
  EXPECT_EQ(hymn["node"], "http://localhost:3367");
  EXPECT_EQ(hymn["registry"], reg_url());
  EXPECT_EQ(hymn["organization"], "node1");
  EXPECT_EQ(hymn["url"], "/test/hymn1");
  EXPECT_EQ(hymn["author"], "missing author");
  EXPECT_EQ(hymn["description"], "missing description");
  EXPECT_EQ(hymn["tags"], json::array());
  EXPECT_FALSE(hymn.contains("status"));
  std::string created = hymn["created"];
  EXPECT_EQ(created.size(), 26u) << created;  // 2024-12-26T10:28:59.626308
  EXPECT_NE(created.back(), 'Z');
  EXPECT_EQ(flows["items"][1]["node"], "https://127.0.0.1:" + std::to_string(f_.fed_port("n1")));

  // A second visit keeps created and says so, in Kodo's words.
  auto again = post("/register", kodo_node("http://localhost:3367", "node1", "/test/hymn1", "Hymn Creator")).json();
  std::string spaced = created;
  spaced[10] = ' ';
  EXPECT_EQ(again["message"], json({"registered node http://localhost:3367 (seen previously " + spaced + ")"}));

  // The fedmesh catalog holds it beside n1, named after its URL; Kodo nodes send no heartbeats.
  auto all = fed_flows("?by=node");
  ASSERT_EQ(all["total"], 2);
  EXPECT_EQ(all["items"][0]["node"], "kodo-localhost-3367");
  EXPECT_EQ(all["items"][0]["status"], "unknown");
  EXPECT_EQ(all["items"][1]["node"], "n1");
  EXPECT_EQ(http(reg(), "GET", "/api/v1/registry/nodes/kodo-localhost-3367").json()["url"], "http://localhost:3367");

  auto counts = http(reg(), "GET", "/counts").json();
  EXPECT_EQ(counts["total"], 2);
  EXPECT_EQ(counts["organization"]["node1"], 1);
  EXPECT_EQ(counts["node"]["http://localhost:3367"], 1);
  EXPECT_EQ(http(reg(), "GET", "/flows?q=name%20~%20%22hymn%22").json()["filtered"], 1);
  auto html = http(reg(), "GET", "/flows?format=html");
  EXPECT_NE(html.body.find("<td>Hymn Creator</td>"), std::string::npos);
  EXPECT_NE(html.body.find("<th>heartbeat</th>"), std::string::npos);

  // GET /: Kodo's status for JSON clients, the dashboard for browsers.
  EXPECT_EQ(http(reg(), "GET", "/").json()["registry"], true);
  auto page = http(reg(), "GET", "/", "", {"Accept: text/html,application/xhtml+xml"});
  EXPECT_NE(page.body.find("<html"), std::string::npos);

  auto cache = http(reg(), "GET", "/_cache").json();
  EXPECT_EQ(cache["feed"], true);
  EXPECT_EQ(cache["nodes"]["http://localhost:3367"]["flows"]["/test/hymn1"]["name"], "Hymn Creator");
  EXPECT_TRUE(cache["providers"].empty());
}

TEST_F(Kodo, KodoRegistryConnectsGetsTheCatalogAndIsFedLaterChanges) {
  FakeHttpServer kodo_registry(200, json{{"message", json::array()}}.dump());
  json offer = {
      {"url", kodo_registry.url()},
      {"organization", "kodo-org"},
      {"feed", true},
      {"nodes", {{"http://10.0.0.9:3369", kodo_node("http://10.0.0.9:3369", "node2", "/mytest2", "mytest2")}}}};
  auto r = post("/connect", offer);
  ASSERT_EQ(r.status, 200) << r.body;
  auto a = r.json();
  EXPECT_EQ(a["message"][0], "registry " + kodo_registry.url() + " connected (first visit)");
  EXPECT_EQ(a["message"][1], "created node http://10.0.0.9:3369");
  // The answer is this registry's own offer: every node, fedmesh ones included.
  EXPECT_EQ(a["providers"]["url"], reg_url());
  EXPECT_EQ(a["providers"]["feed"], true);
  EXPECT_EQ(a["providers"]["nodes"].size(), 2u) << a.dump();
  EXPECT_TRUE(a["providers"]["nodes"].contains("http://10.0.0.9:3369"));
  EXPECT_EQ(fed_flows()["total"], 2);

  // A Kodo node registering here is fed forward to the Kodo registry.
  auto reg_answer = post("/register", kodo_node("http://localhost:3380", "node3", "/t", "Late")).json();
  EXPECT_EQ(reg_answer["message"][1], "feed forward node to " + kodo_registry.url());
  ASSERT_TRUE(wait_until(
      [&] {
        for (const auto& req : kodo_registry.requests())
          if (req.body.find("http://localhost:3380") != std::string::npos) return true;
        return false;
      },
      5s));
  auto fed = kodo_registry.requests().back();
  EXPECT_EQ(fed.method, "POST");
  EXPECT_EQ(fed.target, "/update/node");
  auto body = json::parse(fed.body);
  EXPECT_EQ(body["url"], reg_url());
  EXPECT_EQ(body["feed"], false);
  EXPECT_EQ(body["nodes"]["http://localhost:3380"]["flows"]["/t"]["name"], "Late");
  ASSERT_TRUE(wait_until([&] { return http(reg(), "GET", "/").json()["idle"] == true; }, 5s));

  // An echo of an unchanged node stops here: not applied, not fed back.
  auto before = kodo_registry.requests().size();
  json echo = {{"url", kodo_registry.url()},
               {"organization", "kodo-org"},
               {"feed", false},
               {"nodes", {{"http://localhost:3380", kodo_node("http://localhost:3380", "node3", "/t", "Late")}}}};
  auto e = post("/update/node", echo);
  ASSERT_EQ(e.status, 200) << e.body;
  EXPECT_TRUE(e.json()["message"].empty()) << e.body;
  // A changed node from the Kodo registry is applied and not sent back to it.
  echo["nodes"]["http://localhost:3380"]["organization"] = "node3 renamed";
  EXPECT_EQ(post("/update/node", echo).json()["message"][0], "updated node http://localhost:3380");
  ASSERT_TRUE(wait_until([&] { return http(reg(), "GET", "/").json()["idle"] == true; }, 5s));
  EXPECT_EQ(kodo_registry.requests().size(), before);
  EXPECT_EQ(fed_flows("?q=organization%20%3D%3D%20%22node3%20renamed%22")["filtered"], 1);

  // An unknown Kodo registry must connect first: a clear 404, not Kodo's 500.
  echo["url"] = "http://127.0.0.1:1";
  auto unknown = post("/update/node", echo);
  EXPECT_EQ(unknown.status, 404);
  EXPECT_NE(unknown.body.find("POST /connect first"), std::string::npos);

  // A restart keeps the Kodo nodes and remembers the Kodo registry.
  f_.stop("reg");
  f_.start("reg");
  ASSERT_TRUE(f_.wait_healthy("reg"));
  auto map = http(reg(), "GET", "/map").json();
  EXPECT_TRUE(map["providers"].contains(kodo_registry.url())) << map.dump();
  EXPECT_TRUE(map["nodes"].contains("http://localhost:3380"));
  EXPECT_EQ(http(reg(), "GET", "/flows").json()["total"], 3);
}

TEST_F(Kodo, AFailingKodoRegistryBacksOffAloneAndIsGivenUpOnAfterThreeTries) {
  FakeHttpServer broken(500, R"({"error": "boom"})");
  FakeHttpServer healthy(200, "{}");
  for (auto* k : {&broken, &healthy}) {
    json offer = {{"url", k->url()}, {"organization", "k"}, {"feed", true}, {"nodes", json::object()}};
    ASSERT_EQ(post("/connect", offer).status, 200);
  }
  ASSERT_EQ(post("/register", kodo_node("http://localhost:3390", "o", "/f", "F")).status, 200);
  auto got = [](const FakeHttpServer& k) {
    std::size_t n = 0;
    for (const auto& r : k.requests()) n += r.body.find("http://localhost:3390") != std::string::npos;
    return n;
  };
  ASSERT_TRUE(wait_until([&] { return got(healthy) == 1; }, 5s));
  // The broken registry is tried three times in all (with backoff), then given up on.
  ASSERT_TRUE(wait_until([&] { return http(reg(), "GET", "/").json()["idle"] == true; }, 10s));
  EXPECT_EQ(got(broken), 3u);
  EXPECT_EQ(got(healthy), 1u);
}

TEST_F(Kodo, BadKodoBodiesAreRejectedAndChangeNothing) {
  struct Case {
    std::string path;
    std::string body;
    std::string names;
  };
  std::string n1_url = "https://127.0.0.1:" + std::to_string(f_.fed_port("n1"));
  std::vector<Case> cases = {
      {"/register", "not json", "JSON"},
      {"/register", "[]", "object"},
      {"/register", R"({"flows": {}})", "node.url"},
      {"/register", R"({"url": "ftp://x:1", "flows": {}})", "node.url"},
      {"/register", R"({"url": "http://h:1"})", "node.flows"},
      {"/register", R"({"url": "http://h:1", "flows": 7})", "node.flows"},
      {"/register", R"({"url": "http://h:1", "flows": {"/a": {"url": "/a"}}})", "name"},
      {"/register", R"({"url": "http://h:1", "flows": {"/a": {"name": "A", "tags": "x"}}})", "tags"},
      {"/register", R"({"url": "http://h:1", "organization": 5, "flows": {}})", "organization"},
      {"/register", json{{"url", n1_url}, {"flows", json::object()}}.dump(), "fedmesh node"},
      {"/connect", R"({"url": "http://h:1", "nodes": {}})", "feed"},
      {"/connect", R"({"url": "http://h:1", "feed": true, "nodes": []})", "nodes"},
      {"/connect", json{{"url", reg_url()}, {"feed", true}, {"nodes", json::object()}}.dump(), "itself"},
  };
  for (const auto& c : cases) {
    auto r = http(reg(), "POST", c.path, c.body);
    EXPECT_GE(r.status, 400) << c.body;
    EXPECT_LT(r.status, 500) << c.body;
    EXPECT_NE(r.body.find(c.names), std::string::npos) << c.body << " -> " << r.body;
  }
  EXPECT_EQ(fed_flows()["total"], 1);
  EXPECT_TRUE(http(reg(), "GET", "/map").json()["providers"].empty());
}

// Issue 20: Kodo clients call GET /schema (Kodo's log in its notebook). Kodo, a Litestar
// app, answers its OpenAPI document there as a page, and the document at
// /schema/openapi.json; so does fedmesh, for the Kodo routes it serves.
TEST_F(Kodo, SchemaAnswersThePageAndTheDocumentOfEveryKodoRoute) {
  auto page = http(reg(), "GET", "/schema");
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_NE(page.head.find("text/html"), std::string::npos) << page.head;
  EXPECT_NE(page.body.find("<code>/register</code>"), std::string::npos) << page.body;
  EXPECT_NE(page.body.find("href=\"/schema/openapi.json\""), std::string::npos);
  EXPECT_EQ(page.body.find("<script"), std::string::npos);  // nothing runs, nothing is fetched

  auto doc = http(reg(), "GET", "/schema/openapi.json");
  ASSERT_EQ(doc.status, 200);
  EXPECT_NE(doc.head.find("application/vnd.oai.openapi+json"), std::string::npos) << doc.head;
  auto d = doc.json();
  EXPECT_EQ(d["openapi"], "3.1.0");
  EXPECT_FALSE(d["info"]["version"].get<std::string>().empty());
  EXPECT_EQ(d["components"]["schemas"]["Node"]["required"], json({"url", "flows"}));
  // The document lists exactly the Kodo routes (docs/kodo-compat.md), and each one answers:
  // a GET with 200, a POST of an empty object with the 400 that names what is missing.
  std::set<std::string> served = {
      "GET /",       "POST /register", "POST /connect", "POST /update/node", "POST /update/registry",   "GET /map",
      "GET /_cache", "GET /flows",     "GET /counts",   "GET /schema",       "GET /schema/openapi.json"};
  std::set<std::string> documented;
  for (const auto& [path, item] : d["paths"].items()) {
    for (const auto& [method, op] : item.items()) {
      std::string upper = method == "get" ? "GET" : method == "post" ? "POST" : method;
      documented.insert(upper + " " + path);
      auto r =
          upper == "GET" ? http(reg(), "GET", path, "", {"Accept: application/json"}) : http(reg(), upper, path, "{}");
      EXPECT_EQ(r.status, upper == "GET" ? 200 : 400) << upper << " " << path << ": " << r.body;
      EXPECT_TRUE(op["responses"].contains(std::to_string(r.status))) << upper << " " << path;
    }
  }
  EXPECT_EQ(documented, served);
  for (const char* other : {"/schema/openapi.yaml", "/schema/redoc", "/schema/swagger"})
    EXPECT_EQ(http(reg(), "GET", other).status, 404) << other;
}

TEST(KodoMesh, KodoNodesTravelToFedmeshRegistryPeers) {
  TempDir dir;
  Federation f{dir};
  f.add({"ra", {{"rb", true}}, "roles = [\"registry\"]\n[registry]\nkodo_compat = true\npeers = [\"rb\"]\n"});
  f.add({"rb", {{"ra", true}}, "roles = [\"registry\"]\n[registry]\npeers = [\"ra\"]\n"});
  for (std::string n : {"ra", "rb"}) {
    f.start(n);
    ASSERT_TRUE(f.wait_healthy(n));
  }
  auto r = http(f.http_port("ra"), "POST", "/register",
                kodo_node("http://localhost:3367", "node1", "/test/hymn1", "Hymn Creator").dump());
  ASSERT_EQ(r.status, 200) << r.body;
  auto node = [&] { return http(f.http_port("rb"), "GET", "/api/v1/registry/nodes/kodo-localhost-3367").json(); };
  ASSERT_TRUE(wait_until([&] { return node().is_object() && node().value("status", "") == "unknown"; }, 10s))
      << node().dump();
  EXPECT_EQ(node()["flows"][0]["name"], "Hymn Creator");
  EXPECT_EQ(node()["registry"], "ra");
}

TEST(KodoListener, DedicatedPlainHttpListenerServesKodoRoutes) {
  TempDir dir;
  Federation f{dir};
  int kodo_port = free_port();
  f.add({"reg",
         {},
         "roles = [\"registry\"]\n[registry]\nkodo_compat = true\nkodo_listen = \"127.0.0.1:" +
             std::to_string(kodo_port) + "\"\n"});
  f.start("reg");
  ASSERT_TRUE(f.wait_healthy("reg"));
  ASSERT_TRUE(wait_until([&] { return http(kodo_port, "GET", "/").status == 200; }, 5s));
  auto status = http(kodo_port, "GET", "/", "", {"Accept: text/html"}).json();
  EXPECT_EQ(status["url"], "http://127.0.0.1:" + std::to_string(kodo_port));
  auto r = http(kodo_port, "POST", "/register", kodo_node("http://localhost:4000", "o", "/f", "F").dump());
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(http(kodo_port, "GET", "/flows").json()["total"], 1);
  EXPECT_EQ(http(kodo_port, "GET", "/schema/openapi.json").json()["openapi"], "3.1.0");
  // Only the Kodo routes live there: the operator API does not.
  EXPECT_EQ(http(kodo_port, "GET", "/api/v1/status").status, 404);
}

// Issue 20: a fedmesh registry connects out to a Kodo registry at start
// (registry.kodo_connect), as Kodo's registry2 does to registry1 in its notebook, and the
// two keep each other up to date afterwards. The Kodo side is a fedmesh registry in
// kodo_compat mode: the two speak only Kodo's plain-HTTP routes to each other.
TEST(KodoConnect, ConnectsAtStartWithRetriesAndBothSidesStayInSync) {
  TempDir dir;
  Federation f{dir};
  f.add({"k1", {}, "roles = [\"registry\"]\n[registry]\nkodo_compat = true\n"});
  std::string k1_url = "http://127.0.0.1:" + std::to_string(f.http_port("k1"));
  f.add({"r2",
         {},
         "roles = [\"registry\"]\n[registry]\nkodo_compat = true\nkodo_connect = [\"" + k1_url +
             "\"]\nkodo_connect_timeout = \"60s\"\n"});  // the harness retries from 50 ms to 500 ms
  int k1 = f.http_port("k1"), r2 = f.http_port("r2");
  std::string r2_url = "http://127.0.0.1:" + std::to_string(r2);
  auto has = [&](int port, const std::string& node_url) {
    auto map = http(port, "GET", "/map").json();
    return map.is_object() && map["nodes"].contains(node_url);
  };
  auto kodo_register = [&](int port, const std::string& node_url, const std::string& name) {
    return http(port, "POST", "/register", kodo_node(node_url, "org " + name, "/" + name, name).dump()).status;
  };

  // r2 starts first: k1 is not up yet, so r2 retries, and a Kodo node registers with it meanwhile.
  f.start("r2");
  ASSERT_TRUE(f.wait_healthy("r2")) << f.process("r2").log();
  ASSERT_TRUE(wait_until(
      [&] {
        return f.process("r2").log().find("cannot connect to Kodo registry " + k1_url + " yet") != std::string::npos;
      },
      10s))
      << f.process("r2").log();
  ASSERT_EQ(kodo_register(r2, "http://localhost:4101", "a"), 200);
  f.start("k1");
  ASSERT_TRUE(f.wait_healthy("k1"));
  ASSERT_EQ(kodo_register(k1, "http://localhost:4102", "b"), 200);
  ASSERT_TRUE(wait_until([&] { return has(k1, "http://localhost:4101") && has(r2, "http://localhost:4102"); }, 20s))
      << f.process("r2").log();
  EXPECT_NE(f.process("r2").log().find("registry: connected to Kodo registry " + k1_url), std::string::npos);
  auto status = http(r2, "GET", "/").json();
  EXPECT_TRUE(status["connection"].contains(k1_url)) << status.dump();
  auto k1_map = http(k1, "GET", "/map").json();
  EXPECT_EQ(k1_map["providers"][r2_url]["feed"], true) << k1_map.dump();

  // Afterwards each sends the other its changes (/update/node), and nothing echoes back.
  ASSERT_EQ(kodo_register(k1, "http://localhost:4103", "c"), 200);
  ASSERT_EQ(kodo_register(r2, "http://localhost:4104", "d"), 200);
  ASSERT_TRUE(wait_until([&] { return has(r2, "http://localhost:4103") && has(k1, "http://localhost:4104"); }, 10s));
  ASSERT_TRUE(wait_until(
      [&] { return http(k1, "GET", "/").json()["idle"] == true && http(r2, "GET", "/").json()["idle"] == true; }, 10s));
  EXPECT_EQ(http(k1, "GET", "/flows").json()["total"], 4);
  EXPECT_EQ(http(r2, "GET", "/flows").json()["total"], 4);

  // k1 comes back empty (its store gone), as a Kodo registry restarts: it has forgotten r2.
  // r2's next update is refused, so r2 connects again and k1 gets the whole catalog back.
  f.stop("k1");
  for (std::string suffix : {"", "-wal", "-shm"}) std::filesystem::remove(dir / ("var/k1/fedmesh.db" + suffix));
  f.start("k1");
  ASSERT_TRUE(f.wait_healthy("k1"));
  EXPECT_EQ(http(k1, "GET", "/flows").json()["total"], 0);
  ASSERT_EQ(kodo_register(r2, "http://localhost:4105", "e"), 200);
  ASSERT_TRUE(wait_until([&] { return http(k1, "GET", "/flows").json()["total"] == 5; }, 15s))
      << http(k1, "GET", "/flows").body << f.process("r2").log();
  EXPECT_TRUE(http(k1, "GET", "/map").json()["providers"].contains(r2_url));
}

TEST(KodoConnect, GivesUpAtTheDeadlineNamingWhatWentWrong) {
  TempDir dir;
  Federation f{dir};
  std::string dead = "http://127.0.0.1:" + std::to_string(free_port());
  FakeHttpServer not_a_registry(200, R"({"message": []})");                         // answers, but not with an offer
  FakeHttpServer elsewhere(200, R"({"providers": {"url": "http://elsewhere:3366", "organization": null,
                                    "feed": true, "nodes": {}}, "message": []})");  // an offer under another URL
  f.add({"r",
         {},
         "roles = [\"registry\"]\n[registry]\nkodo_compat = true\nkodo_connect = [\"" + dead + "\", \"" +
             not_a_registry.url() + "\", \"" + elsewhere.url() + "\"]\nkodo_connect_timeout = \"2s\"\n"});
  f.add({"x", {}, "roles = [\"registry\"]\n[registry]\nkodo_connect = [\"" + dead + "\"]\n"});
  f.start("r");
  ASSERT_TRUE(f.wait_healthy("r")) << f.process("r").log();
  auto log = [&] { return f.process("r").log(); };
  auto gave_up = [&](const std::string& url) {
    return log().find("gave up connecting to Kodo registry " + url + " after 2s") != std::string::npos;
  };
  ASSERT_TRUE(
      wait_until([&] { return gave_up(dead) && gave_up(not_a_registry.url()) && gave_up(elsewhere.url()); }, 10s))
      << log();
  EXPECT_NE(log().find("/connect answered without its offer (\"providers\")"), std::string::npos) << log();
  EXPECT_NE(log().find("it calls itself http://elsewhere:3366"), std::string::npos) << log();
  // What it sent: this registry's offer, asking to be fed.
  auto requests = not_a_registry.requests();
  ASSERT_FALSE(requests.empty());
  EXPECT_GT(requests.size(), 1u);  // retried before the deadline
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].target, "/connect");
  auto sent = json::parse(requests[0].body);
  EXPECT_EQ(sent["feed"], true);
  EXPECT_EQ(sent["url"], "http://127.0.0.1:" + std::to_string(f.http_port("r")));
  // It keeps serving, connected to nothing, and a change does not start connecting again.
  int r = f.http_port("r");
  ASSERT_EQ(http(r, "POST", "/register", kodo_node("http://localhost:4106", "o", "/f", "F").dump()).status, 200);
  ASSERT_TRUE(wait_until([&] { return http(r, "GET", "/").json()["idle"] == true; }, 5s));
  EXPECT_TRUE(http(r, "GET", "/").json()["connection"].empty());
  EXPECT_LE(not_a_registry.requests().size(), requests.size() + 1);  // at most one was on its way

  // Without kodo_compat there is nothing to receive the Kodo side's updates: its config is refused.
  f.start("x");
  EXPECT_EQ(f.process("x").wait(10s), 2);
  EXPECT_NE(f.process("x").log().find("registry.kodo_connect: has no effect unless registry.kodo_compat = true"),
            std::string::npos)
      << f.process("x").log();
}

}  // namespace
}  // namespace fedmesh::testing
