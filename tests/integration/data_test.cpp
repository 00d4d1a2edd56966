// Shared data between real node processes on loopback: Rhizome's own scenarios (one
// node PUT/GET/ids, two nodes, a line of three), a node that was down catching up,
// concurrent writes converging, tampered deltas and creators under a foreign CA refused
// and counted, schema violations, bad bodies, kill -9: each on SQLite and on PostgreSQL.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <mutex>
#include <thread>

#include "data/delta.hpp"
#include "support/harness.hpp"
#include "support/peer_client.hpp"
#include "support/postgres.hpp"

namespace fedmesh::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

const std::string kShareAll = "[data]\nshare = [{collection = \"*\", with = [\"*\"]}]\n";

json get(Federation& f, const std::string& node, const std::string& target) {
  return http(f.http_port(node), "GET", target).json();
}

// Waits until `node` shows `property` of user/`id` as `value`.
bool shows(Federation& f, const std::string& node, const std::string& id, const std::string& property,
           const json& value, std::chrono::milliseconds timeout = 15s) {
  return wait_until(
      [&] {
        auto props = get(f, node, "/api/v1/data/user/" + id)["properties"];
        return props.is_object() && props.value(property, json()) == value;
      },
      timeout);
}

// The replication scenarios run on each store backend: SQLite, and PostgreSQL on a
// private server (one per test process, a database per node).
class SharedDataOn : public ::testing::TestWithParam<std::string> {
 protected:
  static PostgresServer& postgres() {
    static PostgresServer server;
    return server;
  }
  // A node's extra config: share everything, on this test's backend.
  std::string extra() {
    if (GetParam() == "sqlite") return kShareAll;
    return kShareAll + "[store]\nbackend = \"postgresql\"\nurl = \"" + postgres().create_database() + "\"\n";
  }
};

TEST_P(SharedDataOn, OneNodeLikeRhizome) {
  TempDir dir;
  Federation f{dir};
  f.add({"a", {}, extra()});
  f.start("a");
  ASSERT_TRUE(f.wait_healthy("a")) << f.process("a").log();
  int port = f.http_port("a");
  auto put = http(port, "PUT", "/api/user/peon-1", R"({"name":"Peon","age":263})");
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(put.json(), json::parse(R"({"id":"peon-1","properties":{"name":"Peon","age":263}})"));
  EXPECT_EQ(http(port, "GET", "/api/user/peon-1").json()["properties"]["age"], 263);
  EXPECT_EQ(http(port, "GET", "/api/user/ids").json(), json::parse(R"({"ids":["peon-1"]})"));
  auto missing = http(port, "GET", "/api/user/nobody");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.json(), json::parse(R"({"error":"Not Found"})"));
  // A reserved name (docs/rhizome-compat.md) is fedmesh's path: fedmesh's 404 shape.
  auto reserved = http(port, "GET", "/api/peers/x");
  EXPECT_EQ(reserved.status, 404);
  EXPECT_EQ(reserved.json(), json::parse(R"({"error":{"code":"not_found","message":"no route GET /api/peers/x"}})"));
  auto mismatch = http(port, "PUT", "/api/user/peon-1", R"({"id":"peon-2","name":"X"})");
  EXPECT_EQ(mismatch.status, 400);
  EXPECT_EQ(mismatch.json()["error"], "ID Mismatch");
  EXPECT_EQ(mismatch.json()["param"], "peon-1");
  EXPECT_EQ(mismatch.json()["property"], "peon-2");
  EXPECT_EQ(http(port, "GET", "/api/deltas/count").json(), 2);
  EXPECT_EQ(http(port, "GET", "/api/peers/count").json(), 1);
  EXPECT_EQ(http(port, "GET", "/api/health").json()["status"], "ok");
  auto deltas = http(port, "GET", "/api/deltas").json();
  ASSERT_EQ(deltas.size(), 2u);
  EXPECT_EQ(deltas[0]["creator"], "a");
  EXPECT_EQ(deltas[0]["pointers"][0]["localContext"], "user");
  EXPECT_EQ(deltas[0]["pointers"][0]["target"], "peon-1");
  EXPECT_EQ(http(port, "GET", "/api/delta/ids").json()["ids"].size(), 2u);
  // A PUT that changes nothing answers at once, with the entity, and writes nothing.
  auto same = http(port, "PUT", "/api/user/peon-1", R"({"name":"Peon"})", {}, 2s);
  EXPECT_EQ(same.status, 200);
  EXPECT_EQ(same.json()["properties"]["age"], 263);
  EXPECT_EQ(http(port, "GET", "/api/deltas/count").json(), 2);
  // PUT on the collection makes an id; Rhizome's query finds it.
  auto made = http(port, "PUT", "/api/user", R"({"properties":{"name":"Grunt","age":0}})");
  ASSERT_EQ(made.status, 200) << made.body;
  EXPECT_FALSE(made.json()["id"].get<std::string>().empty());
  auto q = http(port, "POST", "/api/query/user", R"({"filter":{"<":[{"var":"age"},100]},"maxResults":10})");
  ASSERT_EQ(q.status, 200) << q.body;
  EXPECT_EQ(q.json()["success"], true);
  EXPECT_EQ(q.json()["data"]["totalFound"], 1);
  auto bad_query = http(port, "POST", "/api/query/user", R"({"filter":{"eval":["x"]}})");
  EXPECT_EQ(bad_query.status, 400);
  EXPECT_EQ(bad_query.json()["success"], false);
  // maxResults as Rhizome users write it: none, 0 or below is no limit (not 1,000: 1,001
  // entities come back); a positive one limits; one that is not an integer is refused by name.
  for (int i = 0; i < 1000; ++i)
    ASSERT_EQ(http(port, "PUT", "/api/crowd/p" + std::to_string(i), R"({"n":1})").status, 200) << i;
  ASSERT_EQ(http(port, "PUT", "/api/crowd/p1000", R"({"n":2})").status, 200);
  for (const char* body : {R"({})", R"({"maxResults":0})", R"({"maxResults":-1})", R"({"maxResults":null})"}) {
    auto all = http(port, "POST", "/api/query/crowd", body, {}, 30s);
    ASSERT_EQ(all.status, 200) << body << " " << all.body.substr(0, 300);
    EXPECT_EQ(all.json()["data"]["entities"].size(), 1001u) << body;
    EXPECT_EQ(all.json()["data"]["totalFound"], 1001) << body;
    EXPECT_EQ(all.json()["data"]["limited"], false) << body;
  }
  auto some = http(port, "POST", "/api/query/crowd", R"({"filter":{"==":[{"var":"n"},1]},"maxResults":5})");
  ASSERT_EQ(some.status, 200) << some.body;
  EXPECT_EQ(some.json()["data"]["entities"].size(), 5u);
  EXPECT_EQ(some.json()["data"]["totalFound"], 1000);
  EXPECT_EQ(some.json()["data"]["limited"], true);
  for (const char* body : {R"({"maxResults":"ten"})", R"({"maxResults":2.5})"}) {
    auto r = http(port, "POST", "/api/query/crowd", body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_EQ(r.json()["error"], "maxResults must be an integer (none, or 0 and below, for no limit)") << r.body;
  }
}

TEST_P(SharedDataOn, TheFedmeshApiViewsDeletesAndBadInput) {
  TempDir dir;
  Federation f{dir};
  f.add({"a", {}, extra()});
  f.start("a");
  ASSERT_TRUE(f.wait_healthy("a")) << f.process("a").log();
  int port = f.http_port("a");
  ASSERT_EQ(
      http(port, "PUT", "/api/v1/collections/user",
           R"({"properties":{"name":{"type":"string","required":true},"age":{"type":"integer","resolver":"max"}}})")
          .status,
      200);
  auto bad = http(port, "PUT", "/api/v1/data/user/x", R"({"name":"X","age":"old"})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("age"), std::string::npos) << bad.body;
  EXPECT_EQ(http(port, "GET", "/api/v1/deltas/count").json()["count"], 0);
  for (const char* body : {"not json", "[1,2]", R"({"name":{"nested":1}})"}) {
    auto r = http(port, "PUT", "/api/v1/data/user/x", body);
    EXPECT_EQ(r.status, 400) << body << " " << r.body;
  }
  EXPECT_EQ(http(port, "PUT", "/api/v1/data/Bad%20Name/x", R"({"a":1})").status, 400);
  EXPECT_EQ(http(port, "GET", "/api/v1/data/user/x?expand=99").status, 400);
  EXPECT_EQ(http(port, "GET", "/api/v1/deltas?since=garbage").status, 400);
  EXPECT_EQ(http(port, "GET", "/api/v1/deltas/count").json()["count"], 0);

  ASSERT_EQ(http(port, "PUT", "/api/v1/data/user/p", R"({"name":"P","age":30})").status, 200);
  ASSERT_EQ(http(port, "PUT", "/api/v1/data/user/p", R"({"age":20})").status, 200);
  EXPECT_EQ(http(port, "GET", "/api/v1/data/user/p").json()["properties"]["age"], 30);  // max
  auto lossless = http(port, "GET", "/api/v1/data/user/p?view=lossless").json();
  // Both values of age stay in the lossless view, the one max hides included.
  std::vector<double> ages;
  for (const auto& v : lossless["properties"]["age"]) ages.push_back(v["value"].get<double>());
  std::sort(ages.begin(), ages.end());
  EXPECT_EQ(ages, (std::vector<double>{20, 30})) << lossless.dump();
  auto q = http(port, "POST", "/api/v1/data/user/query", R"({"filter":{"==":[{"var":"name"},"P"]},"limit":5})");
  EXPECT_EQ(q.json()["total"], 1);
  auto since = http(port, "GET", "/api/v1/deltas?since=a/user:1&limit=10").json();
  EXPECT_EQ(since["deltas"].size(), 2u);
  EXPECT_EQ(http(port, "DELETE", "/api/v1/data/user/p").json()["deleted"], true);
  EXPECT_EQ(http(port, "GET", "/api/v1/data/user/p").status, 404);
  EXPECT_EQ(http(port, "DELETE", "/api/v1/data/user/p").status, 404);
  auto collections = http(port, "GET", "/api/v1/data").json();
  ASSERT_EQ(collections["collections"].size(), 1u);
  EXPECT_EQ(collections["collections"][0]["name"], "user");
}

TEST_P(SharedDataOn, TwoNodesWriteOnOneReadOnTheOther) {
  TempDir dir;
  Federation f{dir};
  f.add({"a", {{"b", true}}, extra()});
  f.add({"b", {}, extra()});
  f.start("b");
  f.start("a");
  ASSERT_TRUE(f.wait_healthy("a") && f.wait_healthy("b"));
  ASSERT_EQ(http(f.http_port("a"), "PUT", "/api/user/peon-1", R"({"name":"Peon","age":741})").status, 200);
  ASSERT_TRUE(shows(f, "b", "peon-1", "age", 741)) << f.process("b").log();
  EXPECT_EQ(http(f.http_port("b"), "GET", "/api/user/peon-1").json()["properties"]["name"], "Peon");
  // And back: b's write reaches a over the same link.
  ASSERT_EQ(http(f.http_port("b"), "PUT", "/api/user/peon-1", R"({"age":742})").status, 200);
  EXPECT_TRUE(shows(f, "a", "peon-1", "age", 742));
  // Rhizome's peer list names the peer beside the node itself (it once iterated a member
  // of a temporary and listed only the node).
  auto peers = http(f.http_port("a"), "GET", "/api/peers").json();
  ASSERT_TRUE(peers.is_array()) << peers.dump();
  ASSERT_EQ(peers.size(), 2u) << peers.dump();
  EXPECT_EQ(peers[0]["isSelf"], true);
  EXPECT_EQ(peers[1]["name"], "b");
  EXPECT_EQ(peers[1]["isSeedPeer"], true);
}

TEST_P(SharedDataOn, ALineOfThreeRelaysCatchesUpAndConverges) {
  TempDir dir;
  Federation f{dir};
  f.add({"a", {{"b", true}}, extra()});
  f.add({"b", {{"c", true}}, extra()});
  f.add({"c", {}, extra()});
  for (const char* n : {"c", "b", "a"}) f.start(n);
  for (const char* n : {"a", "b", "c"}) ASSERT_TRUE(f.wait_healthy(n));
  // A write at one end is read at the other, through b.
  ASSERT_EQ(http(f.http_port("a"), "PUT", "/api/user/peon-1", R"({"name":"Peon"})").status, 200);
  ASSERT_TRUE(shows(f, "c", "peon-1", "name", "Peon")) << f.process("c").log();

  // c goes down; a keeps writing; c catches up after its restart.
  f.stop("c");
  for (int i = 0; i < 60; ++i)
    ASSERT_EQ(http(f.http_port("a"), "PUT", "/api/v1/data/user/u" + std::to_string(i), json{{"n", i}}.dump()).status,
              200);
  f.start("c");
  ASSERT_TRUE(f.wait_healthy("c"));
  ASSERT_TRUE(shows(f, "c", "u59", "n", 59)) << f.process("c").log();
  EXPECT_TRUE(wait_until([&] { return get(f, "c", "/api/v1/deltas/count")["count"] == 61; }, 10s));

  // Concurrent writes to one property at both ends converge to one value everywhere.
  for (int i = 0; i < 5; ++i) {
    http(f.http_port("a"), "PUT", "/api/v1/data/color/sky", json{{"hex", "#a0000" + std::to_string(i)}}.dump());
    http(f.http_port("c"), "PUT", "/api/v1/data/color/sky", json{{"hex", "#c0000" + std::to_string(i)}}.dump());
  }
  auto same_everywhere = [&] {
    auto va = get(f, "a", "/api/v1/data/color/sky");
    return !va.is_null() && va == get(f, "b", "/api/v1/data/color/sky") &&
           va == get(f, "c", "/api/v1/data/color/sky") &&
           get(f, "a", "/api/v1/deltas/count") == get(f, "c", "/api/v1/deltas/count");
  };
  EXPECT_TRUE(wait_until(same_everywhere, 15s));
  // No loop: counts settle.
  auto count = get(f, "b", "/api/v1/deltas/count")["count"];
  EXPECT_EQ(count, 71);
}

TEST_P(SharedDataOn, TamperedDeltasAndForeignCreatorsAreRefusedAndCounted) {
  TempDir dir;
  Federation f{dir};
  // mallory's certificate comes from another CA, which b trusts and c does not.
  f.add({"mallory", {{"b", true}}, extra(), "evil", "", {}, {"evil/ca.crt", "ca/ca.crt"}});
  f.add({"b", {{"c", true}}, extra(), "ca", "", {}, {"ca/ca.crt", "evil/ca.crt"}});
  f.add({"c", {}, extra()});
  f.add({"d", {}, extra()});
  for (const char* n : {"c", "b", "mallory", "d"}) f.start(n);
  for (const char* n : {"mallory", "b", "c", "d"}) ASSERT_TRUE(f.wait_healthy(n)) << f.process(n).log();
  ASSERT_EQ(http(f.http_port("mallory"), "PUT", "/api/v1/data/user/x", R"({"evil":true})").status, 200);
  ASSERT_TRUE(shows(f, "b", "x", "evil", true)) << f.process("b").log();
  // b relays it; c refuses it: its creator does not chain to a CA c trusts.
  EXPECT_TRUE(wait_until(
      [&] { return metric(f.http_port("c"), "fedmesh_data_rejected_total{reason=\"untrusted_creator\"}") >= 1; }, 15s))
      << f.process("c").log();
  EXPECT_EQ(http(f.http_port("c"), "GET", "/api/v1/data/user/x").status, 404);

  // A tampered delta: b's signed page, one value changed and its id recomputed, sent to
  // d (which holds nothing yet) by a trusted peer: refused, counted, nothing stored.
  ASSERT_EQ(http(f.http_port("b"), "PUT", "/api/v1/data/user/y", R"({"v":1})").status, 200);
  PeerClient as_c(dir, "c");
  auto page = as_c.request(f.fed_port("b"), "b", "GET", "/fed/v1/data/page?creator=b&collection=user&since=0&limit=10");
  ASSERT_TRUE(page && page->status == 200) << (page ? page->body : page.error().message());
  auto message = json::parse(page->body);
  ASSERT_EQ(message["deltas"].size(), 1u);
  auto delta = data::delta_from_json(message["deltas"][0]);
  ASSERT_TRUE(delta);
  delta->value = 2.0;
  data::seal(*delta);
  message["deltas"][0] = data::to_json(*delta);
  PeerClient as_b(dir, "b");
  auto r = as_b.post(f.fed_port("d"), "d", "/fed/v1/data/deltas", message.dump());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["rejected"]["bad_signature"], 1) << r->body;
  EXPECT_EQ(metric(f.http_port("d"), "fedmesh_data_rejected_total{reason=\"bad_signature\"}"), 1);
  EXPECT_EQ(get(f, "d", "/api/v1/deltas/count")["count"], 0);
  // The untouched page is accepted: b's certificate travels with it.
  auto good = as_b.post(f.fed_port("d"), "d", "/fed/v1/data/deltas", page->body);
  ASSERT_TRUE(good);
  EXPECT_EQ(json::parse(good->body)["stored"], 1) << good->body;
  // Not a valid message, or heads of the wrong shape: a clear 400, never a 500.
  auto garbage = as_b.post(f.fed_port("d"), "d", "/fed/v1/data/deltas", "{\"deltas\": 5}");
  ASSERT_TRUE(garbage);
  EXPECT_EQ(garbage->status, 400) << garbage->body;
  json oversized = {{"runs", json::array()}, {"deltas", json::array()}};
  for (int i = 0; i < 9000; ++i) oversized["deltas"].push_back(json::object());
  auto big = as_b.post(f.fed_port("d"), "d", "/fed/v1/data/deltas", oversized.dump());
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413) << big->body;
  auto heads = as_b.post(f.fed_port("d"), "d", "/fed/v1/data/heads", R"({"heads":[{"creator":"b"}]})");
  ASSERT_TRUE(heads);
  EXPECT_EQ(heads->status, 400);
}

TEST(SharedData, SharingRulesByNameAndOrganizationDecideWhoGetsWhat) {
  TempDir dir;
  Federation f{dir};
  // a shares `public` with everyone, `secret` only with the organization of b.
  f.add({"a",
         {{"b", true}, {"c", true}},
         "[data]\nshare = [{collection = \"public\", with = [\"*\"]}, "
         "{collection = \"secret\", with = [\"org:Org b\"]}]\n"});
  f.add({"b", {}, kShareAll});
  f.add({"c", {}, kShareAll});
  for (const char* n : {"b", "c", "a"}) f.start(n);
  for (const char* n : {"a", "b", "c"}) ASSERT_TRUE(f.wait_healthy(n));
  ASSERT_EQ(http(f.http_port("a"), "PUT", "/api/v1/data/secret/s1", R"({"v":1})").status, 200);
  ASSERT_EQ(http(f.http_port("a"), "PUT", "/api/v1/data/public/p1", R"({"v":1})").status, 200);
  auto has = [&](const std::string& node, const std::string& path) {
    return http(f.http_port(node), "GET", path).status == 200;
  };
  EXPECT_TRUE(
      wait_until([&] { return has("b", "/api/v1/data/secret/s1") && has("c", "/api/v1/data/public/p1"); }, 15s));
  EXPECT_TRUE(has("b", "/api/v1/data/public/p1"));
  // c gets the public collection, never the secret one.
  EXPECT_TRUE(wait_until([&] { return f.peer_state("a", "c") == "up"; }, 10s));
  EXPECT_FALSE(has("c", "/api/v1/data/secret/s1"));
  EXPECT_EQ(get(f, "c", "/api/v1/deltas/count")["count"], 1);
}

TEST(SharedData, PackagesReadWriteAndHandleChangesWithALoopGuard) {
  TempDir dir;
  Federation f{dir};
  f.add({"a", {}, kShareAll});
  f.start("a");
  ASSERT_TRUE(f.wait_healthy("a")) << f.process("a").log();
  int port = f.http_port("a");
  std::string manifest = R"(name = "orders"
version = "1.0.0"
[collections.order]
resolver = "lww"
properties = { qty = { type = "integer", required = true }, total = { type = "number", resolver = "sum" } }
[skills.place]
[skills.count]
)";
  std::string main = R"(
skill('place', function(args)
  local o = data.put('order', args.id, { qty = args.qty, total = 5 })
  local back = data.get('order', args.id)
  local none = data.get('order', 'nobody')
  return { put = o, got = back.properties.qty, none = none == nil }
end)
skill('count', function()
  return { orders = #data.query('order', { ['>='] = { { var = 'qty' }, 1 } }) }
end)
on('data.order.changed', function(e)
  for _, id in ipairs(e.ids) do data.put('audit', id, { seen = true, from = e.from }) end
end)
-- Rewrites what it handles: stopped by the depth guard, not by the node.
on('data.loop.changed', function(e)
  local cur = data.get('loop', 'x')
  data.put('loop', 'x', { n = cur.properties.n + 1 })
end)
skill('loop', function() return data.put('loop', 'x', { n = 0 }) end)
)";
  json upload = {{"manifest", manifest + "[skills.loop]\n"}, {"files", {{"main.lua", main}}}};
  auto installed = http(port, "POST", "/api/v1/packages", upload.dump());
  ASSERT_EQ(installed.status, 201) << installed.body;
  EXPECT_EQ(http(port, "GET", "/api/v1/collections/order").json()["properties"]["total"]["resolver"], "sum");

  auto placed = http(port, "POST", "/api/v1/skills/orders/place", R"({"id":"o1","qty":3})");
  ASSERT_EQ(placed.status, 200) << placed.body;
  EXPECT_EQ(placed.json()["got"], 3);
  EXPECT_EQ(placed.json()["none"], true);
  // The schema holds for scripts too.
  auto bad = http(port, "POST", "/api/v1/skills/orders/place", R"({"id":"o2","qty":"many"})");
  EXPECT_NE(bad.status, 200);
  EXPECT_NE(bad.body.find("qty"), std::string::npos) << bad.body;
  EXPECT_EQ(http(port, "POST", "/api/v1/skills/orders/count", "{}").json()["orders"], 1);
  // The handler saw the change and wrote its own delta.
  EXPECT_TRUE(
      wait_until([&] { return http(port, "GET", "/api/v1/data/audit/o1").json()["properties"]["seen"] == true; }, 10s));
  // A handler that re-triggers itself stops at the depth limit; the node stays healthy.
  ASSERT_EQ(http(port, "POST", "/api/v1/skills/orders/loop", "{}").status, 200);
  EXPECT_TRUE(wait_until(
      [&] { return f.process("a").log().find("handlers have written 8 levels") != std::string::npos; }, 10s));
  EXPECT_EQ(http(port, "GET", "/api/v1/data/loop/x").json()["properties"]["n"], 8);  // 8 nested handlers
  EXPECT_TRUE(f.healthy("a"));
}

TEST(SharedData, ABadCollectionInAPackageIsRefusedAtInstall) {
  TempDir dir;
  Federation f{dir};
  f.add({"a", {}, kShareAll});
  f.start("a");
  ASSERT_TRUE(f.wait_healthy("a"));
  json upload = {{"manifest",
                  "name = \"bad\"\nversion = \"1.0.0\"\n[collections.order]\nresolver = \"loudest\"\n"
                  "[skills.x]\n"},
                 {"files", {{"main.lua", "skill('x', function() return 1 end)"}}}};
  auto r = http(f.http_port("a"), "POST", "/api/v1/packages", upload.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("collections.order"), std::string::npos) << r.body;
}

// kill -9 while writes and an ingest are in flight: every acknowledged write is there after
// the restart, no transaction is half stored (each PUT sets ten properties to one value),
// and the receiving node catches up to the same deltas.
TEST_P(SharedDataOn, KillNineDuringWritesAndIngestLosesNothingAcknowledged) {
  TempDir dir;
  Federation f{dir};
  f.add({"a", {{"b", true}}, extra()});
  f.add({"b", {}, extra()});
  f.start("b");
  f.start("a");
  ASSERT_TRUE(f.wait_healthy("a") && f.wait_healthy("b"));
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::map<std::string, int> acked;  // entity -> last acknowledged value
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; !stop; ++i) {
        std::string id = "w" + std::to_string(w) + "-" + std::to_string(i % 40);
        json props;
        for (int p = 0; p < 10; ++p) props["p" + std::to_string(p)] = i;
        auto r = http(f.http_port("a"), "PUT", "/api/v1/data/tx/" + id, props.dump(), {}, 2s);
        if (r.status != 200) continue;
        std::lock_guard lock(mu);
        acked[id] = i;
      }
    });
  }
  // b dies mid-ingest, then a dies mid-write.
  ASSERT_TRUE(wait_until([&] { return get(f, "b", "/api/v1/deltas/count")["count"].get<long>() > 500; }, 20s));
  f.stop("b", SIGKILL);
  ASSERT_TRUE(wait_until([&] { return get(f, "a", "/api/v1/deltas/count")["count"].get<long>() > 3000; }, 20s));
  f.stop("a", SIGKILL);
  stop = true;
  for (auto& t : writers) t.join();
  f.start("a");
  f.start("b");
  ASSERT_TRUE(f.wait_healthy("a") && f.wait_healthy("b")) << f.process("a").log() << f.process("b").log();
  auto whole = [&](const std::string& node, const std::string& id, int at_least) {
    auto props = get(f, node, "/api/v1/data/tx/" + id)["properties"];
    if (!props.is_object() || props.size() != 10) return false;
    int v = props["p0"].get<int>();
    for (const auto& [k, x] : props.items())
      if (x != v) return false;  // half a transaction
    return v >= at_least;
  };
  for (const auto& [id, value] : acked) EXPECT_TRUE(whole("a", id, value)) << id << " " << value;
  // b catches up to exactly what a holds, whole transactions only.
  EXPECT_TRUE(wait_until(
      [&] { return get(f, "b", "/api/v1/deltas/count")["count"] == get(f, "a", "/api/v1/deltas/count")["count"]; },
      30s));
  for (const auto& [id, value] : acked) EXPECT_TRUE(whole("b", id, value)) << id;
}

INSTANTIATE_TEST_SUITE_P(Backends, SharedDataOn, ::testing::Values("sqlite", "postgresql"));

// Issue 19: two processes run from red's one certificate and key (a cloned node), each
// writing its own seq 1 of user. blue, which holds the first, is sent the second with its
// signed run: it reports the equivocation (API, metrics, log, CLI), refuses the stream until
// an operator resolves it, then accepts it again.
TEST(SharedData, AnEquivocatingCreatorIsQuarantinedUntilAnOperatorResolvesIt) {
  TempDir dir;
  Federation f{dir};
  f.add({"red", {{"blue", true}}, kShareAll});
  f.add({"blue", {}, kShareAll});
  f.start("blue");
  f.start("red");
  ASSERT_TRUE(f.wait_healthy("blue") && f.wait_healthy("red")) << f.process("red").log();
  ASSERT_EQ(http(f.http_port("red"), "PUT", "/api/v1/data/user/u", R"({"v":"A"})").status, 200);
  ASSERT_TRUE(shows(f, "blue", "u", "v", "A")) << f.process("blue").log();

  // The clone: red's config with its own workdir and ports; first with no peers, so it
  // writes its own seq 1 and 2 before it meets blue.
  std::string config = read_file(f.config_path("red"));
  auto replace = [](std::string text, const std::string& from, const std::string& to) {
    auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) text.replace(at, from.size(), to);
    return text;
  };
  int clone_http = free_port(), clone_fed = free_port();
  config = replace(config, "workdir = \"var/red\"", "workdir = \"var/red-clone\"");
  config =
      replace(config, "127.0.0.1:" + std::to_string(f.http_port("red")), "127.0.0.1:" + std::to_string(clone_http));
  config = replace(config, "listen = \"127.0.0.1:" + std::to_string(f.fed_port("red")),
                   "listen = \"127.0.0.1:" + std::to_string(clone_fed));
  std::string alone = config.substr(0, config.find("\n[[federation.peers]]"));
  std::string clone_path = dir / "red-clone.toml";
  auto start_clone = [&](const std::string& text) {
    write_file(clone_path, text);
    auto p = std::make_unique<Process>(std::vector<std::string>{fedmesh_binary(), "node", "--config", clone_path},
                                       dir / "red-clone.log");
    EXPECT_TRUE(wait_until([&] { return http(clone_http, "GET", "/healthz").status == 200; }, 15s)) << p->log();
    return p;
  };
  auto clone = start_clone(alone);
  ASSERT_EQ(http(clone_http, "PUT", "/api/v1/data/user/u", R"({"v":"B"})").status, 200) << clone->log();
  ASSERT_EQ(http(clone_http, "PUT", "/api/v1/data/user/w", R"({"v":"B2"})").status, 200);
  clone->signal(SIGTERM);
  clone->wait(10s);
  ASSERT_FALSE(clone->running()) << clone->log();
  clone = start_clone(config);  // now it catches up with blue, which holds red's other seq 1

  int blue = f.http_port("blue");
  ASSERT_TRUE(wait_until([&] { return get(f, "blue", "/api/v1/data")["equivocations"].size() == 1; }, 20s))
      << f.process("blue").log() << clone->log();
  auto e = get(f, "blue", "/api/v1/data")["equivocations"][0];
  EXPECT_EQ(e["creator"], "red");
  EXPECT_EQ(e["collection"], "user");
  EXPECT_EQ(e["seq"], 1);
  EXPECT_EQ(e["from"], "red");
  EXPECT_NE(e["held"], e["other"]);
  EXPECT_EQ(e["evidence"]["other"]["id"], e["other"]);
  EXPECT_EQ(metric(blue, "fedmesh_data_equivocations"), 1);
  EXPECT_GE(metric(blue, "fedmesh_data_rejected_total{reason=\"equivocation\"}"), 1);
  EXPECT_NE(f.process("blue").log().find("EQUIVOCATION: red signed two different deltas for seq 1 of 'user'"),
            std::string::npos);
  EXPECT_TRUE(wait_until([&] { return clone->log().find("blue refused delta(s)") != std::string::npos; }, 10s))
      << clone->log();
  EXPECT_EQ(get(f, "blue", "/api/v1/data/user/u")["properties"]["v"], "A");  // the chain it held
  EXPECT_EQ(http(blue, "GET", "/api/v1/data/user/w").status, 404);           // nothing of the other

  std::string out;
  std::string blue_url = "http://127.0.0.1:" + std::to_string(blue);
  EXPECT_EQ(run_fedmesh({"data", "status", blue_url}, &out), 0) << out;
  EXPECT_NE(out.find("\nequivocations: 1 (these streams are quarantined: their deltas are refused)\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("fedmesh data resolve " + blue_url + " red user"), std::string::npos) << out;

  // The stream is refused while quarantined, even from the original red.
  long refused = metric(blue, "fedmesh_data_rejected_total{reason=\"equivocation\"}");
  ASSERT_EQ(http(f.http_port("red"), "PUT", "/api/v1/data/user/x", R"({"v":"C"})").status, 200);
  ASSERT_TRUE(
      wait_until([&] { return metric(blue, "fedmesh_data_rejected_total{reason=\"equivocation\"}") > refused; }, 20s))
      << f.process("blue").log();
  EXPECT_EQ(http(blue, "GET", "/api/v1/data/user/x").status, 404);

  // The operator stops the clone and lifts the quarantine: red's stream flows again.
  clone->signal(SIGTERM);
  clone->wait(10s);
  EXPECT_EQ(run_fedmesh({"data", "resolve", blue_url, "red", "user"}, &out), 0) << out;
  EXPECT_TRUE(get(f, "blue", "/api/v1/data")["equivocations"].empty());
  EXPECT_EQ(metric(blue, "fedmesh_data_equivocations"), 0);
  EXPECT_EQ(get(f, "blue", "/api/v1/data/equivocations")["equivocations"].size(), 1u);  // the evidence stays
  EXPECT_EQ(http(blue, "DELETE", "/api/v1/data/equivocations/red/user").status, 404);
  ASSERT_EQ(http(f.http_port("red"), "PUT", "/api/v1/data/user/y", R"({"v":"D"})").status, 200);
  EXPECT_TRUE(shows(f, "blue", "y", "v", "D", 20s)) << f.process("blue").log();
  EXPECT_TRUE(shows(f, "blue", "x", "v", "C", 20s));
  EXPECT_EQ(get(f, "blue", "/api/v1/data/user/u")["properties"]["v"], "A");
}

}  // namespace
}  // namespace fedmesh::testing
