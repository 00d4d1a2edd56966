// A node's life from the outside: start-up refusals, limits on the operator API,
// token auth, graceful shutdown, and the CLI's exit codes.
#include <sys/stat.h>

#include <filesystem>
#include <future>
#include <memory>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/harness.hpp"

namespace fedmesh::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

int inflight(int port) {
  auto body = http(port, "GET", "/metrics").body;
  std::smatch m;
  static const std::regex re("fedmesh_http_inflight\\{listener=\"http\"\\} (\\d+)");
  if (!std::regex_search(body, m, re)) return -1;
  return std::stoi(m[1]) - 1;  // minus the /metrics request itself
}

TEST(Lifecycle, SigtermDuringRequestsFinishesThemAndExitsZero) {
  TempDir dir;
  Federation f(dir);
  f.add({"a", {}});
  f.start("a");
  ASSERT_TRUE(f.wait_healthy("a"));
  int port = f.http_port("a");
  auto slow =
      std::async(std::launch::async, [port] { return http(port, "POST", "/api/v1/debug/sleep?ms=1500", "", {}, 10s); });
  ASSERT_TRUE(wait_until([&] { return inflight(port) == 1; }, 5s));
  f.process("a").signal(SIGTERM);
  // Stops accepting: new connections are refused while the slow one finishes.
  EXPECT_TRUE(wait_until([&] { return http(port, "GET", "/healthz", "", {}, 1s).status == 0; }, 5s));
  auto res = slow.get();
  EXPECT_EQ(res.status, 200) << res.error;
  EXPECT_EQ(res.json()["slept_ms"], 1500);
  EXPECT_EQ(f.process("a").wait(10s), 0) << f.process("a").log();
  EXPECT_NE(f.process("a").log().find("stopped"), std::string::npos);
}

TEST(Lifecycle, JsonLogsAreOneValidObjectPerLine) {
  TempDir dir;
  Federation f(dir);
  // A peer whose name needs no escaping, but whose connection error text carries quotes.
  f.add({"a", {{"b", false}}, "[log]\nformat = \"json\"\n"});
  f.add({"b", {}});
  f.start("a");
  ASSERT_TRUE(wait_until([&] { return f.peer_state("a", "b") == "down"; }, 10s));
  // A message with quotes, a backslash and a newline.
  std::string pkg = nlohmann::json{{"manifest", "name = \"p\"\nversion = \"1\"\n[skills.s]\n"},
                                   {"files",
                                    {{"main.lua",
                                      "skill('s', function() end)\n"
                                      "on('init', function() log.info('say \"hi\" \\\\ done\\nnext') end)"}}}}
                        .dump();
  ASSERT_EQ(http(f.http_port("a"), "POST", "/api/v1/packages", pkg).status, 201);
  f.stop("a");
  auto log = read_file(dir / "a.log");
  EXPECT_NE(log.find(R"([p] say \"hi\" \\ done\nnext)"), std::string::npos) << log;
  std::istringstream lines(log);
  std::string line;
  int parsed = 0;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << line;
    if (!j.is_discarded()) {
      EXPECT_EQ(j["node"], "a");
      ++parsed;
    }
  }
  EXPECT_GE(parsed, 3);
  EXPECT_NE(log.find("peer b is down"), std::string::npos);
}

TEST(Lifecycle, SigintIdleNodeExitsZeroQuickly) {
  TempDir dir;
  Federation f(dir);
  f.add({"a", {}});
  f.start("a");
  ASSERT_TRUE(f.wait_healthy("a"));
  f.process("a").signal(SIGINT);
  EXPECT_EQ(f.process("a").wait(5s), 0);
}

TEST(Lifecycle, BadConfigExitsTwoAndStartsNothing) {
  TempDir dir;
  write_file(
      dir / "bad.toml",
      "name = \"a\"\nworkdir = \"var/a\"\n[http]\nlisen = \"127.0.0.1:1\"\n[federation]\nlisten = \"127.0.0.1:2\"\n");
  std::string out;
  EXPECT_EQ(run_fedmesh({"node", "--config", dir / "bad.toml"}, &out), 2);
  EXPECT_NE(out.find("bad.toml: http.lisen: unknown key (did you mean http.listen?)"), std::string::npos) << out;
  EXPECT_NE(out.find("bad.toml: federation.cert: missing required key"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir / "var/a"));
}

TEST(Lifecycle, StartupRefusesUnsafeOrWrongIdentity) {
  TempDir dir;
  Federation f(dir);
  f.add({"a", {}});
  f.add({"b", {}});
  f.start("a");
  f.stop("a");
  std::string cfg = read_file(f.config_path("a"));
  // Wrong certificate for this name.
  write_file(dir / "wrong.toml", std::regex_replace(cfg, std::regex("certs/a\\.crt"), "certs/b.crt"));
  std::string out;
  EXPECT_EQ(run_fedmesh({"node", "--config", dir / "wrong.toml"}, &out), 2);
  EXPECT_NE(out.find("is for 'b', but name = 'a'"), std::string::npos) << out;
  // A key readable by others.
  ::chmod((dir / "certs/a.key").c_str(), 0644);
  EXPECT_EQ(run_fedmesh({"node", "--config", f.config_path("a")}, &out), 2);
  EXPECT_NE(out.find("must be 0600"), std::string::npos) << out;
  ::chmod((dir / "certs/a.key").c_str(), 0600);
  // Beyond loopback without TLS and token.
  EXPECT_EQ(run_fedmesh({"node", "--config", f.config_path("a")}, &out, {{"FEDMESH_HTTP__LISTEN", "0.0.0.0:0"}}), 2);
  EXPECT_NE(out.find("is beyond loopback: set http.tls_cert, http.tls_key and http.token"), std::string::npos) << out;
}

TEST(Lifecycle, OperatorListenerOverTlsWithATokenAndTheCliReachesIt) {
  TempDir dir;
  Federation f(dir);
  // The node's own certificate doubles as the operator listener's.
  f.add({"a",
         {},
         "",
         "ca",
         "",
         {{"FEDMESH_HTTP__TLS_CERT", "certs/a.crt"},
          {"FEDMESH_HTTP__TLS_KEY", "certs/a.key"},
          {"FEDMESH_HTTP__TOKEN", "s3cret"}}});
  f.start("a");
  std::string url = "https://127.0.0.1:" + std::to_string(f.http_port("a"));
  std::map<std::string, std::string> env = {
      {"FEDMESH_CACERT", dir / "ca/ca.crt"}, {"FEDMESH_SERVER_NAME", "a"}, {"FEDMESH_TOKEN", "s3cret"}};
  std::string out;
  ASSERT_TRUE(wait_until([&] { return run_fedmesh({"status", url}, &out, env) == 0; }, 10s)) << out;
  EXPECT_NE(out.find("Org a"), std::string::npos) << out;

  auto without = env;
  without.erase("FEDMESH_TOKEN");
  EXPECT_NE(run_fedmesh({"status", url}, &out, without), 0);
  EXPECT_NE(out.find("401 missing or wrong bearer token"), std::string::npos) << out;

  auto no_name = env;
  no_name.erase("FEDMESH_SERVER_NAME");  // fedmesh certificates name nodes, not 127.0.0.1
  EXPECT_NE(run_fedmesh({"status", url}, &out, no_name), 0);
  EXPECT_NE(out.find("set FEDMESH_SERVER_NAME"), std::string::npos) << out;

  auto wrong_name = env;
  wrong_name["FEDMESH_SERVER_NAME"] = "b";
  EXPECT_NE(run_fedmesh({"status", url}, &out, wrong_name), 0);
  EXPECT_NE(out.find("certificate name 'a' is not the expected 'b'"), std::string::npos) << out;

  auto untrusted = env;
  untrusted.erase("FEDMESH_CACERT");  // the system roots do not know this CA
  EXPECT_NE(run_fedmesh({"status", url}, &out, untrusted), 0);
  EXPECT_NE(out.find("TLS handshake failed"), std::string::npos) << out;

  auto unreadable = env;
  unreadable["FEDMESH_CACERT"] = dir / "no-such-ca.pem";
  EXPECT_NE(run_fedmesh({"status", url}, &out, unreadable), 0);
  EXPECT_NE(out.find("cannot read CA file"), std::string::npos) << out;

  // Plain HTTP to the TLS listener gets no answer it could mistake for one.
  EXPECT_NE(run_fedmesh({"status", "http://127.0.0.1:" + std::to_string(f.http_port("a"))}, &out, env), 0);
}

TEST(Lifecycle, PortInUseIsAClearRuntimeError) {
  TempDir dir;
  Federation f(dir);
  f.add({"a", {}});
  f.start("a");
  ASSERT_TRUE(f.wait_healthy("a"));
  std::string out;
  EXPECT_EQ(run_fedmesh({"node", "--config", f.config_path("a")}, &out), 1);
  EXPECT_NE(out.find("cannot listen on"), std::string::npos) << out;
}

TEST(OperatorApi, LimitsAndErrorsAreJson) {
  TempDir dir;
  Federation f(dir);
  f.add({"a", {}, "", "ca", "", {{"FEDMESH_HTTP__REQUEST_TIMEOUT", "300ms"}, {"FEDMESH_HTTP__MAX_BODY", "2048"}}});
  f.start("a");
  ASSERT_TRUE(f.wait_healthy("a"));
  int port = f.http_port("a");

  auto nf = http(port, "GET", "/api/v1/nope");
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(nf.json()["error"]["code"], "not_found");
  auto na = http(port, "DELETE", "/api/v1/status");
  EXPECT_EQ(na.status, 405);
  EXPECT_NE(na.head.find("Allow: GET"), std::string::npos) << na.head;

  auto big = http(port, "POST", "/api/v1/debug/echo", std::string(4096, 'x'));
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(big.json()["error"]["code"], "payload_too_large");

  auto bad = http(port, "POST", "/api/v1/debug/echo", "{\"a\": [1, 2");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.json()["error"]["code"], "bad_json");
  EXPECT_NE(bad.json()["error"]["message"].get<std::string>().find("line 1, column 12"), std::string::npos) << bad.body;
  auto good = http(port, "POST", "/api/v1/debug/echo", "{\"a\":1}");
  EXPECT_EQ(good.status, 200);
  EXPECT_EQ(good.json()["a"], 1);

  // A body that never finishes arriving.
  auto slow = http_raw(port, "POST /api/v1/debug/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\":", 5s);
  EXPECT_EQ(slow.status, 408) << slow.error;
  EXPECT_EQ(slow.json()["error"]["code"], "request_timeout");
  // A header that never finishes.
  auto slow_head = http_raw(port, "GET /api/v1/status HTTP/1.1\r\nHost: x\r\n", 5s);
  EXPECT_EQ(slow_head.status, 408) << slow_head.error;
  // A header beyond the 16 KiB limit (a regression: the read buffer once threw here).
  auto huge_head = http(port, "GET", "/api/v1/status", "", {"X-Filler: " + std::string(20000, 'a')});
  EXPECT_EQ(huge_head.status, 413) << huge_head.error;
  // A header split across many small packets still parses.
  auto split = http_raw(
      port,
      "GET /api/v1/status HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(9000, 'b') + "\r\nConnection: close\r\n\r\n",
      5s);
  EXPECT_EQ(split.status, 200) << split.error;
  // Garbage.
  auto garbage = http_raw(port, "HELLO THERE\r\n\r\n", 5s);
  EXPECT_EQ(garbage.status, 400) << garbage.error;
  // The node is still fine.
  EXPECT_EQ(http(port, "GET", "/api/v1/status").status, 200);
}

TEST(OperatorApi, DebugRoutesAreOffByDefaultAndLoggedWhenOn) {
  TempDir dir;
  const std::string warning = "http.debug_routes is on";
  auto start = [&](const std::string& name, const std::string& http_extra, int port) {
    write_file(dir / (name + ".toml"), "name = \"" + name + "\"\norganization = \"Org\"\nworkdir = \"var/" + name +
                                           "\"\n\n[http]\nlisten = \"127.0.0.1:" + std::to_string(port) + "\"\n" +
                                           http_extra);
    return std::make_unique<Process>(
        std::vector<std::string>{fedmesh_binary(), "node", "--config", dir / (name + ".toml")}, dir / (name + ".log"));
  };
  // A config that does not mention the option: the routes are not there, and nothing is said.
  int plain_port = free_port();
  auto plain = start("plain", "", plain_port);
  ASSERT_TRUE(wait_until([&] { return http(plain_port, "GET", "/healthz").status == 200; }, 15s)) << plain->log();
  auto sleep = http(plain_port, "POST", "/api/v1/debug/sleep?ms=1");
  EXPECT_EQ(sleep.status, 404) << sleep.body;
  EXPECT_EQ(sleep.json()["error"]["code"], "not_found") << sleep.body;
  auto echo = http(plain_port, "POST", "/api/v1/debug/echo", R"({"a":1})");
  EXPECT_EQ(echo.status, 404) << echo.body;
  plain->signal(SIGTERM);
  EXPECT_EQ(plain->wait(10s), 0) << plain->log();
  EXPECT_EQ(plain->log().find(warning), std::string::npos) << plain->log();

  // Turned on: both answer, and the node warns once, at start.
  int debug_port = free_port();
  auto debug = start("debug", "debug_routes = true\n", debug_port);
  ASSERT_TRUE(wait_until([&] { return http(debug_port, "GET", "/healthz").status == 200; }, 15s)) << debug->log();
  auto slept = http(debug_port, "POST", "/api/v1/debug/sleep?ms=1");
  EXPECT_EQ(slept.status, 200) << slept.body;
  EXPECT_EQ(slept.json(), (nlohmann::json{{"slept_ms", 1}}));
  auto echoed = http(debug_port, "POST", "/api/v1/debug/echo", R"({"a":1})");
  EXPECT_EQ(echoed.status, 200) << echoed.body;
  EXPECT_EQ(echoed.json(), (nlohmann::json{{"a", 1}}));
  debug->signal(SIGTERM);
  EXPECT_EQ(debug->wait(10s), 0) << debug->log();
  std::string log = debug->log();
  auto at = log.find(warning);
  ASSERT_NE(at, std::string::npos) << log;
  EXPECT_EQ(log.find(warning, at + 1), std::string::npos) << "warned twice: " << log;
  auto begin = log.rfind('\n', at);
  begin = begin == std::string::npos ? 0 : begin + 1;
  std::string line = log.substr(begin, log.find('\n', at) - begin);
  EXPECT_NE(line.find("warn"), std::string::npos) << line;
  EXPECT_NE(line.find("127.0.0.1:" + std::to_string(debug_port)), std::string::npos) << line;
}

TEST(OperatorApi, TokenIsRequiredWhenSet) {
  TempDir dir;
  Federation f(dir);
  f.add({"a", {}, "", "ca", "", {{"FEDMESH_HTTP__TOKEN", "let-me-in"}}});
  f.start("a");
  ASSERT_TRUE(f.wait_healthy("a"));
  int port = f.http_port("a");
  auto no = http(port, "GET", "/api/v1/status");
  EXPECT_EQ(no.status, 401);
  EXPECT_EQ(no.json()["error"]["code"], "unauthorized");
  EXPECT_EQ(http(port, "GET", "/api/v1/status", "", {"Authorization: Bearer wrong"}).status, 401);
  EXPECT_EQ(http(port, "GET", "/metrics").status, 401);
  EXPECT_EQ(http(port, "GET", "/api/v1/status", "", {"Authorization: Bearer let-me-in"}).status, 200);
  EXPECT_EQ(http(port, "GET", "/healthz").status, 200);
  // The token never reaches the log.
  f.stop("a");
  EXPECT_EQ(read_file(dir / "a.log").find("let-me-in"), std::string::npos);
}

TEST(Cli, HelpVersionAndUsageErrors) {
  std::string out;
  EXPECT_EQ(run_fedmesh({"--help"}, &out), 0);
  for (auto cmd : {"node", "config", "ca", "version"}) EXPECT_NE(out.find(cmd), std::string::npos) << out;
  EXPECT_EQ(run_fedmesh({"ca", "issue", "--help"}, &out), 0);
  EXPECT_NE(out.find("--organization"), std::string::npos);
  EXPECT_EQ(run_fedmesh({"version"}, &out), 0);
  EXPECT_TRUE(out.starts_with("fedmesh ")) << out;
  EXPECT_EQ(run_fedmesh({"bogus"}, &out), 2);
  EXPECT_EQ(run_fedmesh({"node"}, &out), 2);
  EXPECT_NE(out.find("--config"), std::string::npos) << out;
  EXPECT_EQ(run_fedmesh({"ca", "issue", "--ca", "x", "--name", "Bad Name", "--out", "y"}, &out), 2);
  EXPECT_NE(out.find("must be 1-63 characters"), std::string::npos) << out;
}

TEST(Cli, CaCommands) {
  TempDir dir;
  std::string out;
  EXPECT_EQ(run_fedmesh({"ca", "init", dir / "ca"}, &out), 0) << out;
  EXPECT_EQ(run_fedmesh({"ca", "init", dir / "ca"}, &out), 2);
  EXPECT_NE(out.find("a CA already exists there"), std::string::npos);
  EXPECT_EQ(run_fedmesh({"ca", "issue", "--ca", dir / "nope", "--name", "a", "--out", dir / "c"}, &out), 2);
  EXPECT_NE(out.find("no CA here"), std::string::npos) << out;
  EXPECT_EQ(run_fedmesh({"ca", "issue", "--ca", dir / "ca", "--name", "a", "--out", dir / "c"}, &out), 0);
  EXPECT_NE(out.find("sha256:"), std::string::npos);
  struct stat st {};
  ::stat((dir / "c/a.key").c_str(), &st);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(Cli, ConfigCheck) {
  TempDir dir;
  write_file(dir / "n.yaml",
             "name: n\nhttp:\n  token: ${T}\nfederation:\n  cert: c.crt\n  key: c.key\n  trust: [ca.crt]\n");
  std::string out;
  EXPECT_EQ(run_fedmesh({"config", "check", dir / "n.yaml"}, &out, {{"T", "hush"}}), 0) << out;
  EXPECT_NE(out.find("token = '****'"), std::string::npos) << out;
  EXPECT_EQ(out.find("hush"), std::string::npos);
  EXPECT_EQ(run_fedmesh({"config", "check", dir / "n.yaml", "--json"}, &out, {{"T", "hush"}}), 0);
  EXPECT_NE(out.find("\"token\": \"****\""), std::string::npos) << out;
  EXPECT_EQ(run_fedmesh({"config", "check", dir / "n.yaml"}, &out), 2);
  EXPECT_NE(out.find("n.yaml: http.token: environment variable T is not set"), std::string::npos) << out;
}

}  // namespace
}  // namespace fedmesh::testing
