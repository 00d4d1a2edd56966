// Real fedmesh processes on loopback, federating over mutual TLS.
#include <gtest/gtest.h>

#include "support/peer_client.hpp"

namespace fedmesh::testing {
namespace {

using namespace std::chrono_literals;

TEST(Federation, TrioBecomesMutualPeers) {
  TempDir dir;
  Federation f(dir);
  // a<->b configured on both sides; b<->c on both sides; a->c only on a, bidirectional.
  f.add({"a", {{"b", false}, {"c", true}}});
  f.add({"b", {{"a", false}, {"c", false}}});
  f.add({"c", {{"b", false}}});
  for (auto n : {"a", "b", "c"}) f.start(n);
  for (auto [node, peer] : std::vector<std::pair<std::string, std::string>>{
           {"a", "b"}, {"a", "c"}, {"b", "a"}, {"b", "c"}, {"c", "a"}, {"c", "b"}}) {
    EXPECT_TRUE(wait_until([&] { return f.peer_state(node, peer) == "up"; }, 15s))
        << node << " never saw " << peer << " up; log:\n"
        << f.process(node).log();
  }
  auto peers = http(f.http_port("c"), "GET", "/api/v1/peers").json();
  bool a_from_hello = false;
  for (const auto& p : peers["peers"]) {
    if (p["name"] == "a") a_from_hello = p["origin"] == "hello" && p["organization"] == "Org a";
  }
  EXPECT_TRUE(a_from_hello) << peers.dump();
  ASSERT_TRUE(wait_until([&] { return http(f.http_port("a"), "GET", "/api/v1/status").json()["idle"] == true; }, 10s));
  auto status = http(f.http_port("a"), "GET", "/api/v1/status").json();
  EXPECT_EQ(status["name"], "a");
  EXPECT_EQ(status["peers"]["up"], 2);
  EXPECT_EQ(status["roles"], nlohmann::json::array({"node"}));
  EXPECT_TRUE(status["uptime"].is_number());
  auto metrics = http(f.http_port("a"), "GET", "/metrics").body;
  EXPECT_NE(metrics.find("fedmesh_peers{state=\"up\"} 2"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("fedmesh_http_requests_total{listener=\"federation\",route=\"/fed/v1/hello\""),
            std::string::npos);
  for (auto n : {"a", "b", "c"}) {
    f.stop(n);
  }
}

TEST(Federation, ForeignCaIsRefusedBothWays) {
  TempDir dir;
  Federation f(dir);
  f.add({"a", {{"x", false}}});
  f.add({"x", {{"a", false}}, "", "ca2"});
  f.start("a");
  f.start("x");
  EXPECT_TRUE(wait_until([&] { return f.peer_state("x", "a") == "refused"; }, 10s)) << f.process("x").log();
  EXPECT_TRUE(wait_until([&] { return f.peer_state("a", "x") == "refused"; }, 10s)) << f.process("a").log();
  auto peers = http(f.http_port("a"), "GET", "/api/v1/peers").json();
  EXPECT_NE(peers["peers"][0]["last_error"].get<std::string>().find("certificate refused"), std::string::npos)
      << peers.dump();
  EXPECT_TRUE(
      wait_until([&] { return f.process("a").log().find("refused TLS connection from") != std::string::npos; }, 5s));
}

TEST(Federation, DenyListRefusesATrustedPeer) {
  TempDir dir;
  Federation f(dir);
  f.add({"a", {}, "", "ca", "deny = [\"b\"]"});
  f.add({"b", {{"a", false}}});
  f.start("a");
  f.start("b");
  EXPECT_TRUE(wait_until([&] { return f.peer_state("b", "a") == "refused"; }, 10s)) << f.process("b").log();
  EXPECT_TRUE(wait_until([&] { return f.process("a").log().find("certificate revoked") != std::string::npos; }, 5s))
      << f.process("a").log();
}

TEST(Federation, LatePeerIsReachedByBackoff) {
  TempDir dir;
  Federation f(dir);
  f.add({"a", {{"b", false}}});
  f.add({"b", {}});
  f.start("a");
  ASSERT_TRUE(wait_until([&] { return f.peer_state("a", "b") == "down"; }, 10s)) << f.process("a").log();
  f.start("b");
  EXPECT_TRUE(wait_until([&] { return f.peer_state("a", "b") == "up"; }, 10s)) << f.process("a").log();
}

TEST(Federation, PeerGoesDownAndComesBack) {
  TempDir dir;
  Federation f(dir);
  f.add({"a", {{"b", false}}});
  f.add({"b", {}});
  f.start("a");
  f.start("b");
  ASSERT_TRUE(wait_until([&] { return f.peer_state("a", "b") == "up"; }, 10s));
  f.stop("b");
  EXPECT_TRUE(wait_until([&] { return f.peer_state("a", "b") == "down"; }, 10s));
  f.start("b");
  EXPECT_TRUE(wait_until([&] { return f.peer_state("a", "b") == "up"; }, 10s));
}

TEST(Federation, PeersAddedByHelloSurviveRestart) {
  TempDir dir;
  Federation f(dir);
  f.add({"a", {{"b", true}}});
  f.add({"b", {}});
  f.start("a");
  f.start("b");
  ASSERT_TRUE(wait_until([&] { return f.peer_state("b", "a") == "up"; }, 10s));
  f.stop("a");
  f.stop("b");
  f.start("b");  // b's config names no peer; it remembers a from the store
  ASSERT_TRUE(f.wait_healthy("b"));
  EXPECT_TRUE(wait_until([&] { return f.peer_state("b", "a") == "down"; }, 10s));
  f.start("a");
  EXPECT_TRUE(wait_until([&] { return f.peer_state("b", "a") == "up"; }, 10s));
}

using RawPeer = PeerClient;

TEST(Federation, BadHelloBodiesAreRejectedAndChangeNothing) {
  TempDir dir;
  Federation f(dir);
  f.add({"a", {}});
  f.add({"b", {}});
  f.start("a");
  ASSERT_TRUE(f.wait_healthy("a"));
  RawPeer b(dir, "b");
  auto bad = b.post(f.fed_port("a"), "a", "/fed/v1/hello", "{not json");
  ASSERT_TRUE(bad) << bad.error().message();
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("\"code\":\"bad_json\""), std::string::npos) << bad->body;
  auto spoof = b.post(f.fed_port("a"), "a", "/fed/v1/hello",
                      R"({"name":"c","advertise":"https://127.0.0.1:1","bidirectional":true})");
  ASSERT_TRUE(spoof);
  EXPECT_EQ(spoof->status, 403);
  EXPECT_NE(spoof->body.find("certificate is for 'b'"), std::string::npos) << spoof->body;
  auto peers = http(f.http_port("a"), "GET", "/api/v1/peers").json();
  EXPECT_TRUE(peers["peers"].empty()) << peers.dump();
  // The wrong expected name: our client refuses a's certificate.
  auto wrong = b.post(f.fed_port("a"), "z", "/fed/v1/hello", "{}");
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code(), ErrorCode::peer_refused);
  EXPECT_NE(wrong.error().message().find("is not the expected peer 'z'"), std::string::npos);
  // A plain-HTTP client gets nothing from the federation port.
  EXPECT_EQ(http(f.fed_port("a"), "GET", "/fed/v1/ping").status, 0);
}

TEST(OperatorTls, BeyondLoopbackServesTlsWithToken) {
  TempDir dir;
  Federation f(dir);
  f.add({"a", {}});
  f.add({"b", {}});
  int port = free_port();
  // Bound to every interface (traffic in this test stays on loopback), so TLS and a token are required.
  f.add({"op",
         {},
         "",
         "ca",
         "",
         {{"FEDMESH_HTTP__LISTEN", "0.0.0.0:" + std::to_string(port)},
          {"FEDMESH_HTTP__TLS_CERT", dir / "certs/op.crt"},
          {"FEDMESH_HTTP__TLS_KEY", dir / "certs/op.key"},
          {"FEDMESH_HTTP__TOKEN", "op-token"}}});
  f.start("op");
  RawPeer b(dir, "b");
  Result<net::ClientResponse> res = make_error(ErrorCode::internal, "not tried");
  ASSERT_TRUE(wait_until(
      [&] {
        res = b.post(port, "op", "/api/v1/status", "", {{"authorization", "Bearer op-token"}}, "GET");
        return res.ok();
      },
      10s))
      << res.error().message() << "\n"
      << f.process("op").log();
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->body.find("\"name\":\"op\""), std::string::npos) << res->body;
  auto no_token = b.post(port, "op", "/api/v1/status", "", {}, "GET");
  ASSERT_TRUE(no_token);
  EXPECT_EQ(no_token->status, 401);
  // Plain HTTP gets no answer from a TLS listener.
  EXPECT_EQ(http(port, "GET", "/healthz").status, 0);
}

}  // namespace
}  // namespace fedmesh::testing
