// A node tried as a hostile peer and a hostile package author would (issue 9), with real
// processes on loopback: bodies that used to abort it, scripts that used to hold a pool
// thread for good, headers that removed the depth limit, identities taken from what a
// peer says, and the small HTTP gaps. Each failed on 8e86087 and passes now.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "support/peer_client.hpp"
#include "support/sockets.hpp"

namespace fedmesh::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

std::string upload(const std::string& name, const std::string& manifest_rest, const std::string& lua) {
  std::string manifest = "name = \"" + name + "\"\nversion = \"1.0.0\"\n" + manifest_rest;
  return json{{"manifest", manifest}, {"files", {{"main.lua", lua}}}}.dump();
}

std::string nested(int levels) {
  std::string s;
  for (int i = 0; i < levels; ++i) s += "{\"a\":";
  s += "1";
  for (int i = 0; i < levels; ++i) s += "}";
  return s;
}

const char* kVictimLua = R"(
skill("upper", function(a) return { up = string.upper(a.s or "") } end)
skill("env", function(a)
  local ok, v = pcall(env, a.name)
  return { ok = ok, value = v }
end)
skill("secret", function() return "for trusted eyes" end)
on("poke", function() end)
)";
const char* kVictimManifest = R"(env = ["COLOR", "HOME", "FEDMESH_EXTRA"]
[skills.upper]
acl = "peers"
[skills.env]
[skills.secret]
acl = ["org:Trusted Org"]
)";

const char* kSpinnerLua = R"(
skill("spin", function() while true do end end)
skill("xspin", function() return xpcall(function() while true do end end, function() while true do end end) end)
skill("pattern", function() return string.find(string.rep("a", 1e5), ".-.-.-.-b") end)
skill("recurse", function() local function f() pcall(f) return f() end return f() end)
skill("ok", function() return "fine" end)
)";
const char* kSpinnerManifest = "[skills.spin]\n[skills.xspin]\n[skills.pattern]\n[skills.recurse]\n[skills.ok]\n";

class Hostile : public ::testing::Test {
 protected:
  void SetUp() override {
    // The deadline, not the instruction budget, must be what stops the runaway scripts.
    f_.add({"victim",
            {},
            "roles = [\"node\", \"registry\"]\n[skills]\ninstruction_limit = 100000000000\n"
            "wedged_after = \"1s\"\nsuspend_after = 100\n",
            "ca",
            "",
            {{"COLOR", "red"}, {"FEDMESH_EXTRA", "not for packages"}}});
    f_.add({"mallory"});  // holds a certificate from the trusted CA; not a configured peer
    f_.start("victim");
    ASSERT_TRUE(f_.wait_healthy("victim")) << f_.process("victim").log();
    ASSERT_EQ(post("/api/v1/packages", upload("victim", kVictimManifest, kVictimLua)).status, 201);
    ASSERT_EQ(post("/api/v1/packages", upload("spinner", kSpinnerManifest, kSpinnerLua)).status, 201);
  }

  int port() { return f_.http_port("victim"); }
  HttpResult post(const std::string& target, const std::string& body, std::vector<std::string> headers = {}) {
    return http(port(), "POST", target, body, headers, 10s);
  }
  HttpResult get(const std::string& target) { return http(port(), "GET", target); }
  json package_status(const std::string& name) {
    auto listing = get("/api/v1/packages").json();
    for (const auto& p : listing["packages"]) {
      if (p["name"] == name) return p;
    }
    return json();
  }

  TempDir dir_;
  Federation f_{dir_};
};

TEST_F(Hostile, BodiesNestedTooDeepAreRefusedOnEveryPathAndTheNodeLives) {
  PeerClient mallory(dir_, "mallory");
  std::string deep = nested(33);
  auto local = post("/api/v1/skills/victim/upper", deep);
  EXPECT_EQ(local.status, 400) << local.body;
  EXPECT_EQ(local.json()["error"]["code"], "bad_json");
  EXPECT_NE(local.body.find("nested deeper than 32"), std::string::npos) << local.body;
  auto remote = mallory.post(f_.fed_port("victim"), "victim", "/fed/v1/skills/victim/upper", deep);
  ASSERT_TRUE(remote) << remote.error().message();
  EXPECT_EQ(remote->status, 400) << remote->body;
  auto event = post("/api/v1/events/poke", deep);
  EXPECT_EQ(event.status, 400) << event.body;
  EXPECT_TRUE(f_.healthy("victim"));
  EXPECT_EQ(post("/api/v1/skills/victim/upper", nested(31)).status, 200);
  EXPECT_EQ(post("/api/v1/skills/victim/upper", R"({"s":"abc"})").json()["up"], "ABC");
}

TEST_F(Hostile, APackageThatFailsAtStartupOrAtLoadIsSkippedAndTheNodeStarts) {
  // A startup handler raising an error value whose metatable raises: it used to abort
  // the node at every start.
  ASSERT_EQ(post("/api/v1/packages", upload("boom", "[skills.hi]\n", R"(
      skill("hi", function() return "hi" end)
      on("startup", function() error(setmetatable({}, {__index = function() error("boom") end})) end))"))
                .status,
            201);
  // Loads fine now; refuses to load once it has been told to break.
  ASSERT_EQ(post("/api/v1/packages", upload("fragile", "[skills.break]\n", R"(
      if state.get("broken") then error("told to break") end
      skill("break", function() state.set("broken", true) return "broken" end))"))
                .status,
            201);
  EXPECT_EQ(post("/api/v1/skills/fragile/break", "").status, 200);
  auto fired = post("/api/v1/events/startup", "");
  EXPECT_EQ(fired.status, 200) << fired.body;
  EXPECT_EQ(package_status("boom")["status"], "failed") << get("/api/v1/packages").body;
  auto refused = post("/api/v1/skills/boom/hi", "");
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_EQ(refused.json()["error"]["code"], "package_unavailable");

  f_.stop("victim");
  f_.start("victim");
  ASSERT_TRUE(f_.wait_healthy("victim")) << f_.process("victim").log();
  EXPECT_TRUE(wait_until([&] { return package_status("boom")["status"] == "failed"; }, 5s));
  auto fragile = package_status("fragile");
  EXPECT_EQ(fragile["status"], "failed");
  EXPECT_NE(fragile.value("reason", "").find("told to break"), std::string::npos) << fragile.dump();
  EXPECT_EQ(post("/api/v1/skills/victim/upper", R"({"s":"x"})").status, 200);  // the others are served
  EXPECT_NE(f_.process("victim").log().find("package fragile is not served"), std::string::npos);
  // The dashboard lists packages from the same API, status included.
  EXPECT_EQ(post("/api/v1/packages/boom/resume", "").status, 200);
  EXPECT_EQ(post("/api/v1/skills/boom/hi", "").json(), "hi");
}

TEST_F(Hostile, RunawayScriptsEndAtTheirDeadlineWhileAnotherPackageAnswers) {
  auto busy = [&] { return metric(port(), "fedmesh_script_busy"); };
  for (std::string skill : {"spin", "xspin", "pattern", "recurse"}) {
    ASSERT_TRUE(wait_until([&] { return busy() == 0; }, 10s)) << skill;
    HttpResult attack;
    std::atomic<bool> attack_over{false};
    std::thread t([&] {
      attack = post("/api/v1/skills/spinner/" + skill, "", {"X-Fedmesh-Timeout-Ms: 3000"});
      attack_over = true;
    });
    // Once the attack holds a script thread, another package answers on the other one
    // before the attack has ended: it did not wait for it.
    EXPECT_TRUE(wait_until([&] { return busy() == 1; }, 10s)) << skill;
    auto other = post("/api/v1/skills/victim/upper", R"({"s":"still here"})");
    EXPECT_EQ(other.json()["up"], "STILL HERE") << skill << ": " << other.body;
    EXPECT_FALSE(attack_over) << skill << ": the other package waited for the attack";
    t.join();
    // The deadline ended it: 504, well before post() stops waiting (10 s, no status).
    EXPECT_EQ(attack.status, 504) << skill << ": " << attack.body;
  }
  EXPECT_TRUE(f_.healthy("victim"));
}

TEST_F(Hostile, AnInstallWhoseMainNeverEndsIsRefusedWithinTheLoadLimit) {
  // The 2 s load limit ends it; post() stops waiting after 10 s (then there is no status).
  auto r = post("/api/v1/packages", upload("stuck", "[skills.x]\n", R"(
      xpcall(function() while true do end end, function() while true do end end)
      skill("x", function() return 1 end))"));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("loading main.lua"), std::string::npos) << r.body;
  EXPECT_EQ(post("/api/v1/skills/victim/upper", R"({"s":"a"})").status, 200);
}

TEST_F(Hostile, AWedgedScriptPoolIsUnhealthyAndSigtermStillStopsTheNode) {
  // Two packages (each runs on its own strand) spinning on both script threads.
  ASSERT_EQ(post("/api/v1/packages", upload("spinner2", kSpinnerManifest, kSpinnerLua)).status, 201);
  std::vector<std::thread> attacks;
  for (std::string package : {"spinner", "spinner2"})
    attacks.emplace_back(
        [this, package] { post("/api/v1/skills/" + package + "/spin", "", {"X-Fedmesh-Timeout-Ms: 30000"}); });
  ASSERT_TRUE(wait_until([&] { return get("/healthz").status == 503; }, 10s)) << get("/healthz").body;
  auto health = get("/healthz").json();
  EXPECT_EQ(health["status"], "unhealthy");
  EXPECT_EQ(health["scripts"]["wedged"], true);
  // Scripts spinning for 30 s do not hold the exit: shutdown_grace (5 s) halts them. The
  // wait is only bounded (-1 after it).
  f_.process("victim").signal(SIGTERM);
  int code = f_.process("victim").wait(25s);
  EXPECT_EQ(code, 0) << f_.process("victim").log();
  for (auto& t : attacks) t.join();
}

TEST_F(Hostile, BusyScriptsDelayNeitherRegistryHeartbeatsNorHealthz) {
  // Scripts have their own pool: with both script threads spinning, the registry's store
  // work (a heartbeat) and /healthz answer at once.
  PeerClient mallory(dir_, "mallory");
  auto reg = mallory.post(f_.fed_port("victim"), "victim", "/fed/v1/registry/register",
                          R"({"url": "https://127.0.0.1:9", "flows": []})");
  ASSERT_TRUE(reg && reg->status == 200) << (reg ? reg->body : reg.error().message());
  ASSERT_EQ(post("/api/v1/packages", upload("spinner2", kSpinnerManifest, kSpinnerLua)).status, 201);
  std::vector<std::thread> spins;
  for (std::string package : {"spinner", "spinner2"})
    spins.emplace_back(
        [this, package] { post("/api/v1/skills/" + package + "/spin", "", {"X-Fedmesh-Timeout-Ms: 8000"}); });
  auto busy = [&] { return metric(port(), "fedmesh_script_busy"); };
  ASSERT_TRUE(wait_until([&] { return busy() == 2; }, 10s)) << busy();
  // Each answers while both scripts still spin: none of them waited for a script thread.
  auto beat = mallory.post(f_.fed_port("victim"), "victim", "/fed/v1/registry/heartbeat", "");
  ASSERT_TRUE(beat);
  EXPECT_EQ(beat->status, 200) << beat->body;
  EXPECT_EQ(busy(), 2) << "the heartbeat waited for the scripts";
  // 200, or 503 once both have spun past wedged_after (1 s): an answer either way.
  auto health = get("/healthz");
  EXPECT_TRUE(health.status == 200 || health.status == 503) << health.status << " " << health.body;
  EXPECT_EQ(health.json()["scripts"]["busy"], 2) << health.body;
  auto ledger = get("/api/v1/ledger?limit=5");  // a store read, also not behind the scripts
  EXPECT_EQ(ledger.status, 200);
  EXPECT_EQ(busy(), 2) << "the health check or the ledger read waited for the scripts";
  for (auto& t : spins) t.join();
}

TEST(HostileScripts, APackageThatKeepsOverrunningIsSuspendedUntilResumed) {
  TempDir dir;
  Federation f(dir);
  f.add({"n", {}, "[skills]\nsuspend_after = 2\n"});
  f.start("n");
  ASSERT_TRUE(f.wait_healthy("n"));
  int port = f.http_port("n");
  ASSERT_EQ(http(port, "POST", "/api/v1/packages", upload("spinner", kSpinnerManifest, kSpinnerLua)).status, 201);
  for (int i = 0; i < 2; ++i)
    EXPECT_EQ(http(port, "POST", "/api/v1/skills/spinner/spin", "", {"X-Fedmesh-Timeout-Ms: 200"}).status, 504);
  auto refused = http(port, "POST", "/api/v1/skills/spinner/ok", "");
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_EQ(refused.json()["error"]["code"], "package_unavailable");
  EXPECT_NE(refused.body.find("suspended"), std::string::npos) << refused.body;
  auto packages = http(port, "GET", "/api/v1/packages").json()["packages"];
  ASSERT_EQ(packages.size(), 1u);
  EXPECT_EQ(packages[0]["status"], "suspended");
  EXPECT_NE(f.process("n").log().find("package spinner suspended"), std::string::npos);
  EXPECT_EQ(http(port, "POST", "/api/v1/packages/spinner/resume", "").status, 200);
  EXPECT_EQ(http(port, "POST", "/api/v1/skills/spinner/ok", "").json(), "fine");
}

TEST_F(Hostile, FederationHeadersAreParsedStrictly) {
  PeerClient mallory(dir_, "mallory");
  auto call = [&](const std::string& header, const std::string& value) {
    auto r =
        mallory.post(f_.fed_port("victim"), "victim", "/fed/v1/skills/victim/upper", R"({"s":"a"})", {{header, value}});
    return r ? *r : net::ClientResponse{};
  };
  for (std::string bad : {"-1000000", "4294967296", "abc", "1.5", "3 3"}) {
    auto r = call("x-fedmesh-depth", bad);
    EXPECT_EQ(r.status, 400) << bad << ": " << r.body;
    EXPECT_NE(r.body.find("x-fedmesh-depth"), std::string::npos) << r.body;
  }
  EXPECT_EQ(call("x-fedmesh-deadline-ms", "-5").status, 400);
  EXPECT_EQ(call("x-fedmesh-deadline-ms", "99999999999999999999").status, 400);
  EXPECT_EQ(call("x-fedmesh-depth", "3").status, 200);
  auto deep = call("x-fedmesh-depth", "9");  // beyond max_depth 8
  EXPECT_EQ(deep.status, 508) << deep.body;
  EXPECT_EQ(http(port(), "POST", "/api/v1/skills/victim/upper", "", {"X-Fedmesh-Timeout-Ms: soon"}).status, 400);
}

TEST_F(Hostile, AnOrganizationIsTheCertificatesNotWhatAPeerSays) {
  PeerClient mallory(dir_, "mallory");  // certificate: O = "Org mallory"
  json hello = {{"name", "mallory"},    {"organization", "Trusted Org"},  {"advertise", "https://127.0.0.1:1"},
                {"version", "0.1.0"},   {"roles", json::array({"node"})}, {"skills", json::array()},
                {"bidirectional", true}};
  auto lie = mallory.post(f_.fed_port("victim"), "victim", "/fed/v1/hello", hello.dump());
  ASSERT_TRUE(lie);
  EXPECT_EQ(lie->status, 403) << lie->body;
  EXPECT_NE(lie->body.find("certificate says 'Org mallory'"), std::string::npos) << lie->body;
  auto denied = mallory.post(f_.fed_port("victim"), "victim", "/fed/v1/skills/victim/secret", "");
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 403) << denied->body;
  // A certificate that does carry the organization passes the same ACL.
  ASSERT_EQ(run_fedmesh({"ca", "issue", "--ca", dir_ / "ca", "--name", "trent", "--out", dir_ / "certs",
                         "--organization", "Trusted Org"}),
            0);
  PeerClient trent(dir_, "trent");
  auto allowed = trent.post(f_.fed_port("victim"), "victim", "/fed/v1/skills/victim/secret", "");
  ASSERT_TRUE(allowed);
  EXPECT_EQ(allowed->status, 200) << allowed->body;
}

TEST_F(Hostile, PackagesReadOnlyTheEnvironmentTheOperatorAllows) {
  auto read = [&](const std::string& name) {
    return post("/api/v1/skills/victim/env", json{{"name", name}}.dump()).json();
  };
  EXPECT_EQ(read("COLOR"), (json{{"ok", true}, {"value", "red"}}));
  auto home = read("HOME");  // set in the node's environment, declared by the package, not allowed
  EXPECT_EQ(home["ok"], false);
  EXPECT_NE(home["value"].get<std::string>().find("not allowed by this node's [skills] env list"), std::string::npos)
      << home;
  auto own = read("FEDMESH_EXTRA");
  EXPECT_EQ(own["ok"], false);
  EXPECT_NE(own["value"].get<std::string>().find("never readable"), std::string::npos) << own;
}

// Sends `head`, waits for an interim answer, then the body; returns everything read.
std::string expect_continue_exchange(int port, const std::string& head, const std::string& body, bool* got_interim) {
  int fd = connect_loopback(port);
  if (fd < 0) return "";
  auto read_some = [&](int timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    std::string out;
    if (::poll(&p, 1, timeout_ms) <= 0) return out;
    char buf[4096];
    auto n = ::read(fd, buf, sizeof buf);
    if (n > 0) out.assign(buf, static_cast<std::size_t>(n));
    return out;
  };
  (void)!::write(fd, head.data(), head.size());
  std::string interim = read_some(3000);
  *got_interim = interim.starts_with("HTTP/1.1 100 Continue\r\n\r\n");
  (void)!::write(fd, body.data(), body.size());
  std::string rest = interim.substr(std::min(interim.size(), std::string("HTTP/1.1 100 Continue\r\n\r\n").size()));
  for (int i = 0; i < 10 && rest.find("\r\n\r\n") == std::string::npos; ++i) rest += read_some(3000);
  rest += read_some(200);
  ::close(fd);
  return rest;
}

TEST_F(Hostile, SmallHttpGapsAreClosed) {
  // A chunked body with a bad chunk size gets an answer.
  auto chunked = http_raw(port(),
                          "POST /api/v1/debug/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "ZZ\r\n{}\r\n0\r\n\r\n",
                          5s);
  EXPECT_NE(chunked.head.find(" 400 "), std::string::npos) << chunked.head << chunked.body;
  // Expect: 100-continue is answered before the body is sent.
  bool interim = false;
  auto answer = expect_continue_exchange(
      port(),
      "POST /api/v1/debug/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\nExpect: 100-continue\r\n"
      "Connection: close\r\n\r\n",
      "{\"a\":1}", &interim);
  EXPECT_TRUE(interim);
  EXPECT_NE(answer.find("HTTP/1.1 200"), std::string::npos) << answer;
  EXPECT_NE(answer.find("{\"a\":1}"), std::string::npos) << answer;
  auto odd = http(port(), "POST", "/api/v1/debug/echo", "{}", {"Expect: something-else"});
  EXPECT_EQ(odd.status, 417) << odd.body;
  // Integer query parameters out of range are refused, not clamped.
  for (std::string q :
       {"/api/v1/registry/flows?p=99999999999999999999", "/api/v1/registry/flows?pp=-1", "/api/v1/registry/flows?p=1e3",
        "/api/v1/ledger?limit=99999999999999999999", "/api/v1/ledger?before=99999999999999999999"}) {
    auto r = get(q);
    EXPECT_EQ(r.status, 400) << q << ": " << r.body;
  }
  EXPECT_EQ(get("/api/v1/registry/flows?p=0&pp=10").status, 200);
  // A registration must name an https URL.
  PeerClient mallory(dir_, "mallory");
  auto reg = mallory.post(f_.fed_port("victim"), "victim", "/fed/v1/registry/register",
                          R"({"url": "http://127.0.0.1:9", "flows": []})");
  ASSERT_TRUE(reg);
  EXPECT_EQ(reg->status, 400) << reg->body;
  EXPECT_NE(reg->body.find("https"), std::string::npos) << reg->body;
  auto claim = mallory.post(f_.fed_port("victim"), "victim", "/fed/v1/registry/register",
                            R"({"url": "https://127.0.0.1:9", "organization": "Trusted Org", "flows": []})");
  ASSERT_TRUE(claim);
  EXPECT_EQ(claim->status, 403) << claim->body;
}

TEST_F(Hostile, MetricsAreValidPrometheusExposition) {
  PeerClient mallory(dir_, "mallory");
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(mallory.request(f_.fed_port("victim"), "victim", "GET", "/fed/v1/ping"));
    post("/api/v1/skills/victim/upper", R"({"s":"a"})");
    get("/nope");
  }
  auto metrics = get("/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("listener=\"federation\""), std::string::npos);
  write_file(dir_ / "metrics.txt", metrics.body);
  std::string out;
  Process check({"/bin/sh", "-c", "promtool check metrics < '" + (dir_ / "metrics.txt") + "'"}, dir_ / "promtool.log");
  EXPECT_EQ(check.wait(30s), 0) << check.log() << "\n" << metrics.body;
}

TEST_F(Hostile, AFatalSignalLeavesACrashReportInTheLog) {
  f_.process("victim").signal(SIGSEGV);
  EXPECT_EQ(f_.process("victim").wait(10s), 128 + SIGSEGV);
  auto log = f_.process("victim").log();
  EXPECT_NE(log.find("SIGSEGV (segmentation fault) fatal signal"), std::string::npos) << log;
  EXPECT_NE(log.find("fedmesh("), std::string::npos) << "no backtrace frames:\n" << log;
}

TEST(HostileInput, AWorkdirThatCannotBeCreatedIsAConfigError) {
  TempDir dir;
  Federation f(dir);
  f.add({"w"});
  f.start("w");  // writes the config; the node itself is not needed
  f.stop("w");
  std::string out;
  int code = run_fedmesh({"node", "--config", f.config_path("w")}, &out, {{"FEDMESH_WORKDIR", "/proc/1/fedmesh"}});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("workdir /proc/1/fedmesh"), std::string::npos) << out;
}

TEST(HostileInput, YamlAliasesCannotExpandWithoutBound) {
  TempDir dir;
  // ~300 bytes that expand to 10^9 values.
  std::string yaml =
      "name: laughs\na: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
  std::string prev = "a";
  for (char c = 'b'; c <= 'i'; ++c) {
    yaml += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 10; ++i) yaml += std::string(i ? "," : "") + "*" + prev;
    yaml += "]\n";
    prev = std::string(1, c);
  }
  write_file(dir / "laughs.yaml", yaml);
  // Refused before it expands: expanding would not end within run_fedmesh's 30 s (-1).
  std::string out;
  EXPECT_EQ(run_fedmesh({"config", "check", dir / "laughs.yaml"}, &out), 2) << out;
  EXPECT_NE(out.find("expands to more than"), std::string::npos) << out;
}

}  // namespace
}  // namespace fedmesh::testing
