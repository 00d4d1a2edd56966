// Skills across real nodes: the hello-federate story (list, blend, run out, reset,
// blend again; a blend takes both units or neither; the seed's pallete/ names), ACLs
// over mTLS, a peer that dies mid-way, package updates that keep state, and the ledger.
#include <gtest/gtest.h>

#include "support/peer_client.hpp"
#include "support/seed_files.hpp"

namespace fedmesh::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

std::string packages_dir() {
  return source_dir() + "/examples/hello-federate/packages";
}

class HelloFederate : public ::testing::Test {
 protected:
  void SetUp() override {
    for (std::string c : {"red", "blue", "yellow"}) f_.add({c, {}, "", "ca", "", {{"COLOR", c}}});
    f_.add({"painter", {{"red", true}, {"blue", true}, {"yellow", true}}});
    for (std::string n : {"red", "blue", "yellow", "painter"}) f_.start(n);
    for (std::string c : {"red", "blue", "yellow"}) {
      ASSERT_TRUE(f_.wait_healthy(c)) << f_.process(c).log();
      auto r = http(f_.http_port(c), "POST", "/api/v1/packages", package_upload(packages_dir() + "/color_tools"));
      ASSERT_EQ(r.status, 201) << r.body;
    }
    ASSERT_TRUE(f_.wait_healthy("painter")) << f_.process("painter").log();
    auto r = http(port("painter"), "POST", "/api/v1/packages", package_upload(packages_dir() + "/palette"));
    ASSERT_EQ(r.status, 201) << r.body;
    // The colour nodes re-announce their skills (identify_self, share_color, return_color);
    // wait until painter has heard from all three.
    ASSERT_TRUE(wait_until(
        [&] {
          auto peers = http(port("painter"), "GET", "/api/v1/peers").json();
          int ready = 0;
          for (const auto& p : peers["peers"])
            if (p["state"] == "up" && p["skills"].size() == 3) ++ready;
          return ready == 3;
        },
        15s))
        << http(port("painter"), "GET", "/api/v1/peers").body;
  }

  int port(const std::string& n) { return f_.http_port(n); }
  HttpResult call(const std::string& node, const std::string& skill, const json& args = json::object()) {
    return http(port(node), "POST", "/api/v1/skills/" + skill, args.dump());
  }
  HttpResult blend(const std::string& a, const std::string& b) {
    return call("painter", "palette/color_blend", {{"color1", a}, {"color2", b}});
  }

  TempDir dir_;
  Federation f_{dir_};
};

TEST_F(HelloFederate, ListBlendExhaustResetBlendAgain) {
  auto list = call("painter", "palette/list_all_colors");
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(list.json()["colors"], json::parse(R"([{"color":"blue","node":"blue"},{"color":"red","node":"red"},
                                                   {"color":"yellow","node":"yellow"}])"));
  // Each colour node starts with 2 units; a blend takes one of each colour.
  auto b = blend("red", "yellow");
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_EQ(b.json()["color"], "orange");
  EXPECT_EQ(b.json()["rgb"], "#FFA500");
  auto same = blend("blue", "blue");  // the same colour twice takes two units and blends to itself
  EXPECT_EQ(same.json()["color"], "blue") << same.body;
  EXPECT_EQ(blend("yellow", "red").json()["color"], "orange");
  // Red is empty now: the blend fails with a clear error naming the colour and node.
  auto out = blend("red", "yellow");
  EXPECT_EQ(out.status, 422) << out.body;
  EXPECT_EQ(out.json()["error"]["code"], "out_of_stock");
  EXPECT_EQ(out.json()["error"]["message"], "red is unavailable (node red)");
  EXPECT_EQ(out.json()["error"]["node"], "painter");
  auto purple = blend("blue", "red");
  EXPECT_EQ(purple.json()["error"]["message"], "blue is unavailable (node blue)") << purple.body;
  auto unknown = blend("red", "teal");
  EXPECT_EQ(unknown.status, 422);
  EXPECT_EQ(unknown.json()["error"]["code"], "unknown_color");
  // Reset through the event; blending works again.
  for (std::string c : {"red", "yellow"}) {
    auto reset = http(port(c), "POST", "/api/v1/events/system.reset", "");
    ASSERT_EQ(reset.status, 200) << reset.body;
    EXPECT_EQ(reset.json()["handlers"], 1);
  }
  auto again = blend("red", "yellow");
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.json()["color"], "orange");

  // The ledger saw all of it, newest first, filterable.
  auto ledger = http(port("painter"), "GET", "/api/v1/ledger?skill=palette/color_blend").json();
  ASSERT_GE(ledger["items"].size(), 5u) << ledger.dump();
  EXPECT_EQ(ledger["items"][0]["skill"], "palette/color_blend");
  auto errors = http(port("painter"), "GET", "/api/v1/ledger?status=error").json();
  bool saw_out_of_stock = false;
  for (const auto& e : errors["items"]) saw_out_of_stock |= e["status"] == "out_of_stock";
  EXPECT_TRUE(saw_out_of_stock) << errors.dump();
  auto outgoing = http(port("painter"), "GET", "/api/v1/ledger?skill=color_tools/share_color").json();
  ASSERT_FALSE(outgoing["items"].empty());
  EXPECT_EQ(outgoing["items"][0]["direction"], "outgoing");
  EXPECT_EQ(http(port("painter"), "GET", "/api/v1/ledger?limit=0").status, 400);
}

TEST_F(HelloFederate, AclForbidsLocalSkillsToPeers) {
  PeerClient painter(dir_, "painter");
  auto r = painter.post(f_.fed_port("red"), "red", "/fed/v1/skills/color_tools/reset_inventory", "{}");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->status, 403) << r->body;
  EXPECT_NE(r->body.find("\"code\":\"forbidden\""), std::string::npos);
  EXPECT_NE(r->body.find("may not call color_tools/reset_inventory"), std::string::npos) << r->body;
  auto ok = painter.post(f_.fed_port("red"), "red", "/fed/v1/skills/color_tools/identify_self", "{}");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->body, R"({"color":"red"})");
  // Locally the operator may call it.
  EXPECT_EQ(call("red", "color_tools/reset_inventory").json()["qty"], 2);
}

TEST_F(HelloFederate, DeadPeerFailsFastAndOthersStillWork) {
  ASSERT_EQ(call("painter", "palette/list_all_colors").status, 200);  // providers known
  f_.stop("blue", SIGKILL);
  auto started = std::chrono::steady_clock::now();
  auto r = blend("blue", "red");
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.json()["error"]["code"], "peer_unavailable");
  EXPECT_EQ(r.json()["error"]["node"], "blue");
  EXPECT_LT(took, 3s);
  EXPECT_EQ(blend("red", "yellow").json()["color"], "orange");
}

TEST_F(HelloFederate, RedeployingKeepsStateAndSameHashIsANoOp) {
  auto same = http(port("red"), "POST", "/api/v1/packages", package_upload(packages_dir() + "/color_tools"));
  EXPECT_EQ(same.status, 200);
  EXPECT_EQ(same.json()["outcome"], "unchanged");
  ASSERT_EQ(call("red", "color_tools/share_color").json()["qty"], 1);
  // A new version: different manifest text, same inventory.
  TempDir copy;
  auto manifest = read_file(packages_dir() + "/color_tools/package.toml");
  manifest.replace(manifest.find("1.0.0"), 5, "1.0.1");
  write_file(copy / "package.toml", manifest);
  write_file(copy / "main.lua", read_file(packages_dir() + "/color_tools/main.lua"));
  auto updated = http(port("red"), "POST", "/api/v1/packages", package_upload(copy.path()));
  EXPECT_EQ(updated.status, 200) << updated.body;
  EXPECT_EQ(updated.json()["outcome"], "updated");
  auto share = call("red", "color_tools/share_color");
  EXPECT_EQ(share.json()["qty"], 0) << share.body;  // kept: 1 -> 0
  auto pkgs = http(port("red"), "GET", "/api/v1/packages").json();
  EXPECT_EQ(pkgs["packages"][0]["version"], "1.0.1");
  // Removing it makes its skills unknown; its state stays for a reinstall.
  EXPECT_EQ(http(port("red"), "DELETE", "/api/v1/packages/color_tools").status, 200);
  EXPECT_EQ(call("red", "color_tools/share_color").status, 404);
  EXPECT_EQ(http(port("red"), "DELETE", "/api/v1/packages/color_tools").status, 404);
}

// Issue 20: a blend whose second colour cannot be taken gives the first unit back.
TEST_F(HelloFederate, ABlendTakesBothUnitsOrNeither) {
  auto qty_after_taking = [&](const std::string& node) {  // takes one unit locally: qty before - 1
    auto r = call(node, "color_tools/share_color");
    EXPECT_EQ(r.json()["in_stock"], true) << node << ": " << r.body;
    return r.json()["qty"];
  };
  // Red is emptied by its own operator; yellow keeps 2.
  qty_after_taking("red");
  EXPECT_EQ(qty_after_taking("red"), 0);
  auto out = blend("yellow", "red");  // yellow is taken first, then red is out
  EXPECT_EQ(out.status, 422) << out.body;
  EXPECT_EQ(out.json()["error"]["code"], "out_of_stock");
  EXPECT_EQ(out.json()["error"]["message"], "red is unavailable (node red)");
  // The same colour twice with one unit left: the first unit goes back too.
  EXPECT_EQ(qty_after_taking("blue"), 1);
  auto twice = blend("blue", "blue");
  EXPECT_EQ(twice.json()["error"]["message"], "blue is unavailable (node blue)") << twice.body;
  EXPECT_EQ(qty_after_taking("blue"), 0);    // it had 1
  EXPECT_EQ(qty_after_taking("yellow"), 1);  // it had 2: the failed blend took nothing
  auto returns = http(port("painter"), "GET", "/api/v1/ledger?skill=color_tools/return_color").json();
  ASSERT_EQ(returns["items"].size(), 2u) << returns.dump();
  for (const auto& e : returns["items"]) {
    EXPECT_EQ(e["direction"], "outgoing");
    EXPECT_EQ(e["status"], "ok");
  }

  // The second colour's node is dead: the first unit goes back, the error names the dead node.
  ASSERT_EQ(http(port("yellow"), "POST", "/api/v1/events/system.reset", "").status, 200);
  f_.stop("blue", SIGKILL);
  auto dead = blend("yellow", "blue");
  EXPECT_EQ(dead.status, 503) << dead.body;
  EXPECT_EQ(dead.json()["error"]["code"], "peer_unavailable");
  EXPECT_EQ(dead.json()["error"]["node"], "blue");
  EXPECT_EQ(qty_after_taking("yellow"), 1);  // still 2 before this

  // A receipt gives back one unit, once; a reset voids the receipts outstanding.
  ASSERT_EQ(call("red", "color_tools/reset_inventory").json()["qty"], 2);
  auto share = call("red", "color_tools/share_color").json();
  ASSERT_TRUE(share["receipt"].is_string()) << share.dump();
  auto back = call("red", "color_tools/return_color", {{"receipt", share["receipt"]}});
  EXPECT_EQ(back.json()["qty"], 2) << back.body;
  auto again = call("red", "color_tools/return_color", {{"receipt", share["receipt"]}});
  EXPECT_EQ(again.status, 422);
  EXPECT_EQ(again.json()["error"]["code"], "unknown_receipt") << again.body;
  auto voided = call("red", "color_tools/share_color").json()["receipt"];
  ASSERT_EQ(call("red", "color_tools/reset_inventory").status, 200);
  EXPECT_EQ(call("red", "color_tools/return_color", {{"receipt", voided}}).json()["error"]["code"], "unknown_receipt");
  auto bad = call("red", "color_tools/return_color", {{"receipt", 7}});
  EXPECT_EQ(bad.status, 422);
  EXPECT_EQ(bad.json()["error"]["code"], "bad_request") << bad.body;
}

// A give-back the colour node refuses is owed, and paid before the next blend.
TEST_F(HelloFederate, AGiveBackThatFailsIsPaidBeforeTheNextBlend) {
  // Red runs a color_tools whose return_color is local only: the painter may not call it.
  TempDir variant;
  auto manifest = read_file(packages_dir() + "/color_tools/package.toml");
  auto at = manifest.find("acl = \"peers\"", manifest.find("[skills.return_color]"));
  ASSERT_NE(at, std::string::npos);
  manifest.replace(at, 13, "acl = \"local\"");
  write_file(variant / "package.toml", manifest);
  write_file(variant / "main.lua", read_file(packages_dir() + "/color_tools/main.lua"));
  ASSERT_EQ(http(port("red"), "POST", "/api/v1/packages", package_upload(variant.path())).json()["outcome"], "updated");
  for (int i = 0; i < 2; ++i) ASSERT_EQ(call("yellow", "color_tools/share_color").json()["in_stock"], true);

  auto out = blend("red", "yellow");  // red is taken, yellow is out, red cannot go back
  EXPECT_EQ(out.status, 422) << out.body;
  EXPECT_EQ(out.json()["error"]["code"], "out_of_stock");
  EXPECT_EQ(out.json()["error"]["message"],
            "yellow is unavailable (node yellow); the unit of red taken from node red could not be given back yet "
            "(forbidden: peer 'painter' may not call color_tools/return_color), it will be before the next blend");

  // Red's operator puts the real package back (its state, with the receipt, is kept); the
  // next blend first gives red its unit back, then takes one: red goes 1 -> 2 -> 1.
  ASSERT_EQ(
      http(port("red"), "POST", "/api/v1/packages", package_upload(packages_dir() + "/color_tools")).json()["outcome"],
      "updated");
  ASSERT_EQ(http(port("yellow"), "POST", "/api/v1/events/system.reset", "").status, 200);
  auto ok = blend("red", "yellow");
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.json()["color"], "orange");
  auto red = call("red", "color_tools/share_color").json();
  EXPECT_EQ(red["in_stock"], true) << red.dump();
  EXPECT_EQ(red["qty"], 0);
  auto returns = http(port("painter"), "GET", "/api/v1/ledger?skill=color_tools/return_color").json();
  ASSERT_EQ(returns["items"].size(), 2u) << returns.dump();
  EXPECT_EQ(returns["items"][0]["status"], "ok");  // newest first: the one paid
  EXPECT_EQ(returns["items"][1]["status"], "forbidden");
}

// Issue 20: the seed's walkthrough calls pallete/... (misspelt); palette's manifest lists
// that alias, so both names answer, over the API and the CLI.
TEST_F(HelloFederate, TheSeedsPalleteNamesAnswerBesidePalette) {
  auto list = call("painter", "pallete/list_all_colors");
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(list.json(), call("painter", "palette/list_all_colors").json());
  auto b = call("painter", "pallete/color_blend", {{"color1", "red"}, {"color2", "yellow"}});
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_EQ(b.json()["color"], "orange");
  EXPECT_EQ(call("painter", "pallete/reset_available_colors").json()["providers"], 3);
  std::string out;
  EXPECT_EQ(run_fedmesh({"call", "http://127.0.0.1:" + std::to_string(port("painter")), "pallete/color_blend",
                         R"({"color1":"blue","color2":"yellow"})"},
                        &out),
            0)
      << out;
  EXPECT_NE(out.find("\"green\""), std::string::npos) << out;
  // The ledger and errors name the package by its own name.
  auto ledger = http(port("painter"), "GET", "/api/v1/ledger?skill=palette/color_blend").json();
  EXPECT_EQ(ledger["items"].size(), 2u) << ledger.dump();
  auto none = call("painter", "pallete/nope");
  EXPECT_EQ(none.status, 404);
  EXPECT_EQ(none.json()["error"]["message"], "no skill palette/nope on node painter");
  EXPECT_EQ(call("painter", "palete/list_all_colors").status, 404);  // only the names listed
  auto pkgs = http(port("painter"), "GET", "/api/v1/packages").json();
  EXPECT_EQ(pkgs["packages"][0]["aliases"], json::array({"pallete"})) << pkgs.dump();
  // Over the federation the alias finds the package too, and its ACL still holds.
  PeerClient red(dir_, "red");
  auto fed = red.post(f_.fed_port("painter"), "painter", "/fed/v1/skills/pallete/color_blend", "{}");
  ASSERT_TRUE(fed) << fed.error().message();
  EXPECT_EQ(fed->status, 403) << fed->body;
  EXPECT_NE(fed->body.find("peer 'red' may not call palette/color_blend"), std::string::npos) << fed->body;

  // One name, one package: a package may not take a name another one answers to.
  auto upload = [&](const std::string& manifest) {
    return http(port("painter"), "POST", "/api/v1/packages",
                json{{"manifest", manifest}, {"files", {{"main.lua", "skill('s', function() return 1 end)"}}}}.dump());
  };
  auto named = upload("name = \"pallete\"\nversion = \"1\"\n[skills.s]\n");
  EXPECT_EQ(named.status, 409) << named.body;
  EXPECT_EQ(named.json()["error"]["message"],
            "package pallete: package palette already answers to that name (its aliases)");
  auto aliased = upload("name = \"paints\"\nversion = \"1\"\naliases = [\"palette\"]\n[skills.s]\n");
  EXPECT_EQ(aliased.status, 409) << aliased.body;
  EXPECT_EQ(aliased.json()["error"]["message"],
            "package.toml: aliases: 'palette' is already a name of package palette; remove one of them first");
  EXPECT_EQ(http(port("painter"), "GET", "/api/v1/packages").json()["packages"].size(), 1u);
}

TEST(Skills, BadUploadsAndCallsAreRejectedAndChangeNothing) {
  TempDir dir;
  Federation f(dir);
  f.add({"a", {}});
  f.start("a");
  ASSERT_TRUE(f.wait_healthy("a"));
  int port = f.http_port("a");
  EXPECT_EQ(http(port, "POST", "/api/v1/packages", "{oops").json()["error"]["code"], "bad_json");
  auto bad_manifest = http(port, "POST", "/api/v1/packages", R"({"manifest":"name = 1","files":{"main.lua":""}})");
  EXPECT_EQ(bad_manifest.status, 400);
  EXPECT_EQ(bad_manifest.json()["error"]["message"], "package.toml: name: expected a string");
  auto bad_lua = http(port, "POST", "/api/v1/packages",
                      json{{"manifest", "name = \"p\"\nversion = \"1\"\n[skills.s]\n"},
                           {"files", {{"main.lua", "skill('s', function() end"}}}}
                          .dump());
  EXPECT_EQ(bad_lua.status, 400);
  EXPECT_NE(bad_lua.json()["error"]["message"].get<std::string>().find("main.lua:1:"), std::string::npos)
      << bad_lua.body;
  EXPECT_TRUE(http(port, "GET", "/api/v1/packages").json()["packages"].empty());
  EXPECT_EQ(http(port, "POST", "/api/v1/skills/nope/nothing", "{}").status, 404);
  auto ok = http(port, "POST", "/api/v1/packages",
                 json{{"manifest", "name = \"p\"\nversion = \"1\"\n[skills.s]\n"},
                      {"files", {{"main.lua", "skill('s', function(a) return { got = a } end)"}}}}
                     .dump());
  ASSERT_EQ(ok.status, 201) << ok.body;
  EXPECT_EQ(http(port, "POST", "/api/v1/skills/p/s", "[1,").json()["error"]["code"], "bad_json");
  EXPECT_EQ(http(port, "POST", "/api/v1/skills/p/s", "").json()["got"], json::object());
  EXPECT_EQ(http(port, "POST", "/api/v1/skills/p/s", R"({"x":[1,2]})").json()["got"]["x"], json::array({1, 2}));
}

}  // namespace
}  // namespace fedmesh::testing

namespace fedmesh::testing {
namespace {

const char* kWatcher = R"(name = "watcher"
version = "1"
[skills.seen]
)";
const char* kWatcherLua = R"(
on("peer.up", function(e) state.set("up." .. e.peer, true) end)
on("peer.down", function(e) state.set("down." .. e.peer, e.state) end)
skill("seen", function() return { up = state.keys("up."), down = state.keys("down.") } end)
)";

TEST(SystemServices, DeployedAtStartWithTheirConfigAndStartupFired) {
  TempDir dir;
  Federation f(dir);
  write_file(dir / "services/watcher/package.toml", kWatcher);
  write_file(dir / "services/watcher/main.lua", kWatcherLua);
  std::string services = "[system_services]\nenable = [\"color_tools\", \"watcher\"]\npath = [\"" + source_dir() +
                         "/examples/hello-federate/packages\", \"services\"]\n[system_services.color_tools]\n"
                         "default_qty = 5\n";
  // The environment overrides the service's table (default_qty = 5 in the file).
  f.add({"red",
         {{"blue", true}},
         services,
         "ca",
         "",
         {{"COLOR", "red"}, {"FEDMESH_SYSTEM_SERVICES__COLOR_TOOLS__DEFAULT_QTY", "9"}}});
  f.add({"blue", {}});
  f.start("red");
  ASSERT_TRUE(f.wait_healthy("red")) << f.process("red").log();
  // Deployed with the node's table merged in, and startup ran (qty = 9).
  ASSERT_TRUE(wait_until(
      [&] { return http(f.http_port("red"), "GET", "/api/v1/packages").json()["packages"].size() == 2; }, 10s));
  auto share = http(f.http_port("red"), "POST", "/api/v1/skills/color_tools/share_color", "{}");
  EXPECT_EQ(share.json()["qty"], 8) << share.body;
  // peer.up and peer.down reach Lua handlers.
  f.start("blue");
  EXPECT_TRUE(wait_until(
      [&] {
        auto seen = http(f.http_port("red"), "POST", "/api/v1/skills/watcher/seen", "{}").json();
        return seen.is_object() && seen["up"] == nlohmann::json::array({"up.blue"});
      },
      10s));
  f.stop("blue");
  EXPECT_TRUE(wait_until(
      [&] {
        auto seen = http(f.http_port("red"), "POST", "/api/v1/skills/watcher/seen", "{}").json();
        return seen.is_object() && seen["down"] == nlohmann::json::array({"down.blue"});
      },
      10s));
  // A restart finds them unchanged and keeps their state.
  f.stop("red");
  f.start("red");
  ASSERT_TRUE(f.wait_healthy("red"));
  EXPECT_TRUE(wait_until(
      [&] { return f.process("red").log().find("system service watcher: unchanged") != std::string::npos; }, 10s))
      << f.process("red").log();
}

TEST(SystemServices, AFailedDeploymentStopsTheNodeWithTheReason) {
  TempDir dir;
  Federation f(dir);
  write_file(dir / "services/broken/package.toml", "name = \"broken\"\nversion = \"1\"\n[skills.s]\n");
  write_file(dir / "services/broken/main.lua", "skill('s', function() end\n");
  f.add({"a", {}, "[system_services]\nenable = [\"broken\"]\npath = [\"services\"]\n"});
  f.add({"b", {}, "[system_services]\nenable = [\"missing\"]\npath = [\"services\"]\n"});
  f.start("a");
  EXPECT_EQ(f.process("a").wait(10s), 2);
  EXPECT_NE(f.process("a").log().find("system service broken: package broken: main.lua:2: ')' expected"),
            std::string::npos)
      << f.process("a").log();
  f.start("b");
  EXPECT_EQ(f.process("b").wait(10s), 2);
  EXPECT_NE(f.process("b").log().find("system service missing: no missing/package.toml in"), std::string::npos)
      << f.process("b").log();
}

// One node without [federation] whose config a test rewrites between starts (issue 20:
// Fluence's [system_services]): `system_services` is the config's tail.
class ServicesNode {
 public:
  explicit ServicesNode(const TempDir& dir) : dir_(dir), port_(free_port()) {}
  ~ServicesNode() { stop(); }

  void write_config(const std::string& system_services) const {
    write_file(config(),
               "name = \"svc-node\"\nworkdir = \"var\"\nshutdown_grace = \"5s\"\n[http]\nlisten = \"127.0.0.1:" +
                   std::to_string(port_) + "\"\n" + system_services);
  }
  // Starts the node; true once it answers /healthz (false when it exited instead).
  bool start(const std::string& system_services) {
    write_config(system_services);
    proc_ = std::make_unique<Process>(std::vector<std::string>{fedmesh_binary(), "node", "--config", config()},
                                      dir_ / ("node-" + std::to_string(++starts_) + ".log"));
    return wait_until([&] { return !proc_->running() || http(port_, "GET", "/healthz").status == 200; }, 15s) &&
           proc_->running();
  }
  void stop() {
    if (!proc_) return;
    proc_->signal(SIGTERM);
    proc_->wait(10s);
    proc_.reset();
  }
  std::string log() const { return proc_ ? proc_->log() : ""; }
  bool logged(const std::string& line) {
    return wait_until([&] { return log().find(line) != std::string::npos; }, 10s);
  }
  // Names of the installed packages, in name order.
  std::vector<std::string> packages() {
    std::vector<std::string> names;
    auto listed = http(port_, "GET", "/api/v1/packages").json();  // named: the loop reads into it
    for (const auto& p : listed["packages"]) names.push_back(p["name"].get<std::string>());
    return names;
  }
  HttpResult call(const std::string& skill, const json& args = json::object()) {
    return http(port_, "POST", "/api/v1/skills/" + skill, args.dump());
  }
  int port() const { return port_; }
  std::string config() const { return dir_ / "node.toml"; }

 private:
  const TempDir& dir_;
  int port_;
  int starts_ = 0;
  std::unique_ptr<Process> proc_;
};

void write_package(const std::string& folder, const std::string& name, const std::string& skills_toml,
                   const std::string& lua) {
  write_file(folder + "/package.toml", "name = \"" + name + "\"\nversion = \"1\"\n" + skills_toml);
  write_file(folder + "/main.lua", lua);
}

TEST(SystemServices, FluencesBlockDeploysAquaIpfsWithItsTableAndWarnsOfTheDeciderTable) {
  TempDir dir;
  write_package(dir / "packages/aqua-ipfs", "aqua-ipfs",
                "[config]\nlocal_api_multiaddr = \"/dns4/ipfs/tcp/5001\"\n[skills.get_local_api_multiaddr]\n",
                "skill('get_local_api_multiaddr', function() return { multiaddr = config.local_api_multiaddr } end)");
  write_package(dir / "packages/registry", "registry", "[skills.ping]\n",
                "skill('ping', function() return { pong = true } end)");
  ServicesNode node(dir);
  node.write_config(kFluenceSystemServices);
  const std::string warning =
      "system_services.decider: a table for a service that system_services.enable does not list (ignored)";
  std::string checked;
  EXPECT_EQ(run_fedmesh({"config", "check", node.config()}, &checked), 0) << checked;
  EXPECT_NE(checked.find("warning: " + node.config() + ": " + warning), std::string::npos) << checked;
  EXPECT_NE(checked.find("[system_services.aqua_ipfs]"), std::string::npos) << checked;

  ASSERT_TRUE(node.start(kFluenceSystemServices)) << node.log();
  EXPECT_TRUE(node.logged(warning)) << node.log();  // logged at start too
  ASSERT_TRUE(node.logged("system service registry: deployed")) << node.log();
  EXPECT_EQ(node.packages(), (std::vector<std::string>{"aqua-ipfs", "registry"}));
  // [system_services.aqua_ipfs] configured aqua-ipfs; its skills answer by their '-' name.
  auto r = node.call("aqua-ipfs/get_local_api_multiaddr");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["multiaddr"], "/ip4/127.0.0.1/tcp/5001") << r.body;
  EXPECT_EQ(node.call("registry/ping").json()["pong"], true);
  // The CLI, the skill list and the ledger take the name as it is.
  std::string called;
  EXPECT_EQ(run_fedmesh(
                {"call", "http://127.0.0.1:" + std::to_string(node.port()), "aqua-ipfs/get_local_api_multiaddr", "{}"},
                &called),
            0)
      << called;
  EXPECT_NE(called.find("/ip4/127.0.0.1/tcp/5001"), std::string::npos) << called;
  auto skills = http(node.port(), "GET", "/api/v1/skills").body;
  EXPECT_NE(skills.find("aqua-ipfs/get_local_api_multiaddr"), std::string::npos) << skills;
  auto ledger = http(node.port(), "GET", "/api/v1/ledger?skill=aqua-ipfs/get_local_api_multiaddr").json();
  ASSERT_EQ(ledger["items"].size(), 2u) << ledger.dump();
  EXPECT_EQ(ledger["items"][0]["status"], "ok");
}

TEST(SystemServices, WithoutEnableEveryPackageOnThePathIsDeployed) {
  TempDir dir;
  write_package(dir / "services/ipfs-pin", "ipfs-pin", "[config]\nreplicas = 1\n[skills.replicas]\n",
                "skill('replicas', function() return { n = config.replicas } end)");
  write_package(dir / "services/trust_graph", "trust_graph", "[skills.ok]\n", "skill('ok', function() return {} end)");
  write_file(dir / "services/notes/README.md", "not a package\n");
  write_package(dir / "more/ipfs-pin", "ipfs-pin", "[skills.other]\n", "skill('other', function() return {} end)");
  const std::string services =
      "[system_services]\npath = [\"services\", \"more\"]\n[system_services.ipfs_pin]\nreplicas = 3\n"
      "[system_services.decider]\nx = 1\n";
  ServicesNode node(dir);
  node.write_config(services);
  std::string checked;
  EXPECT_EQ(run_fedmesh({"config", "check", node.config()}, &checked), 0) << checked;
  EXPECT_EQ(checked.find("warning:"), std::string::npos) << checked;  // the path is read at start

  ASSERT_TRUE(node.start(services)) << node.log();
  ASSERT_TRUE(node.logged("system service trust_graph: deployed")) << node.log();
  EXPECT_EQ(node.packages(), (std::vector<std::string>{"ipfs-pin", "trust_graph"}));
  EXPECT_EQ(node.call("ipfs-pin/replicas").json()["n"], 3);  // the first folder's, with its table
  EXPECT_TRUE(node.logged("system_services.decider: a table for a service that is not in system_services.path"))
      << node.log();
  EXPECT_TRUE(node.logged("ipfs-pin is ignored")) << node.log();
}

TEST(SystemServices, AServiceNoLongerEnabledIsRemovedAtStartAndItsStateComesBackWhenEnabledAgain) {
  TempDir dir;
  write_package(dir / "packages/hit-counter", "hit-counter", "[skills.hit]\n",
                "skill('hit', function() return { hits = state.incr('hits') } end)");
  write_package(dir / "packages/keeper", "keeper", "[skills.ok]\n", "skill('ok', function() return {} end)");
  const std::string both = "[system_services]\nenable = [\"hit-counter\", \"keeper\"]\n";
  ServicesNode node(dir);
  ASSERT_TRUE(node.start(both)) << node.log();
  ASSERT_TRUE(node.logged("system service keeper: deployed")) << node.log();
  EXPECT_EQ(node.call("hit-counter/hit").json()["hits"], 1);
  EXPECT_EQ(node.call("hit-counter/hit").json()["hits"], 2);
  // A package the operator installed is not a system service: no start removes it.
  auto manual = json{{"manifest", "name = \"by-hand\"\nversion = \"1\"\n[skills.ok]\n"},
                     {"files", {{"main.lua", "skill('ok', function() return {} end)"}}}};
  ASSERT_EQ(http(node.port(), "POST", "/api/v1/packages", manual.dump()).status, 201);
  node.stop();

  ASSERT_TRUE(node.start("[system_services]\nenable = [\"keeper\"]\n")) << node.log();
  EXPECT_TRUE(
      node.logged("system service hit-counter: removed (no longer in system_services.enable; its state is "
                  "kept for a re-enable)"))
      << node.log();
  ASSERT_TRUE(node.logged("system service keeper: unchanged")) << node.log();
  EXPECT_EQ(node.packages(), (std::vector<std::string>{"by-hand", "keeper"}));
  EXPECT_EQ(node.call("hit-counter/hit").status, 404);
  node.stop();

  ASSERT_TRUE(node.start(both)) << node.log();
  ASSERT_TRUE(node.logged("system service keeper: unchanged")) << node.log();
  EXPECT_NE(node.log().find("system service hit-counter: deployed"), std::string::npos) << node.log();
  EXPECT_EQ(node.call("hit-counter/hit").json()["hits"], 3);  // its state came back
  node.stop();

  // enable = [] deploys none: both services go, the operator's package stays.
  ASSERT_TRUE(node.start("[system_services]\nenable = []\n")) << node.log();
  EXPECT_TRUE(node.logged("system service keeper: removed")) << node.log();
  EXPECT_TRUE(node.logged("system service hit-counter: removed")) << node.log();
  EXPECT_TRUE(wait_until([&] { return node.packages() == std::vector<std::string>{"by-hand"}; }, 10s));
}

}  // namespace
}  // namespace fedmesh::testing

namespace fedmesh::testing {
namespace {

// A package that is slow on purpose and one that bounces calls between two nodes.
const char* kTricks = R"(name = "tricks"
version = "1"
[skills.spin]
acl = "peers"
[skills.call_spin]
[skills.bounce]
acl = "peers"
)";
const char* kTricksLua = R"(
skill("spin", function() while true do end end)
skill("call_spin", function(a) return fed.call(a.peer, "tricks/spin", {}) end)
skill("bounce", function(a)
  state.incr("bounces")
  return fed.call(a.peer, "tricks/bounce", { peer = fed.self().name })
end)
)";

TEST(SkillCalls, ASlowPeerYieldsDeadlineExceededWithinTheDeadline) {
  TempDir dir;
  Federation f(dir);
  f.add({"a", {{"b", true}}});
  f.add({"b", {}, "[skills]\ninstruction_limit = 100000000000\n"});  // the deadline, not the budget, stops it
  f.start("a");
  f.start("b");
  ASSERT_TRUE(wait_until([&] { return f.peer_state("a", "b") == "up"; }, 10s));
  std::string upload = json{{"manifest", kTricks}, {"files", {{"main.lua", kTricksLua}}}}.dump();
  for (std::string n : {"a", "b"}) ASSERT_EQ(http(f.http_port(n), "POST", "/api/v1/packages", upload).status, 201);

  auto started = std::chrono::steady_clock::now();
  auto r = http(f.http_port("a"), "POST", "/api/v1/skills/tricks/call_spin", R"({"peer":"b"})",
                {"X-Fedmesh-Timeout-Ms: 600"});
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(r.status, 504) << r.body;
  EXPECT_EQ(r.json()["error"]["code"], "deadline_exceeded");
  EXPECT_LT(took, 1500ms);
  // b stopped its own invocation too (its deadline came with the call).
  EXPECT_TRUE(wait_until(
      [&] {
        auto l = http(f.http_port("b"), "GET", "/api/v1/ledger?skill=tricks/spin").json();
        return l.is_object() && !l["items"].empty() && l["items"][0]["status"] == "deadline_exceeded";
      },
      5s));
}

TEST(SkillCalls, ACallChainStopsAtTheDepthLimit) {
  TempDir dir;
  Federation f(dir);
  f.add({"a", {{"b", true}}, "[skills]\nmax_depth = 4\n"});
  f.add({"b", {}, "[skills]\nmax_depth = 4\n"});
  f.start("a");
  f.start("b");
  ASSERT_TRUE(wait_until([&] { return f.peer_state("a", "b") == "up" && f.peer_state("b", "a") == "up"; }, 10s));
  std::string upload = json{{"manifest", kTricks}, {"files", {{"main.lua", kTricksLua}}}}.dump();
  for (std::string n : {"a", "b"}) ASSERT_EQ(http(f.http_port(n), "POST", "/api/v1/packages", upload).status, 201);
  // a -> b -> a -> b ... until the depth limit answers.
  auto r = http(f.http_port("a"), "POST", "/api/v1/skills/tricks/bounce", R"({"peer":"b"})");
  EXPECT_EQ(r.status, 508) << r.body;
  EXPECT_EQ(r.json()["error"]["code"], "depth_exceeded");
}

}  // namespace
}  // namespace fedmesh::testing
