// Shared data as a hostile API user uses it (issue 19), on real node processes: a filter
// built to burn a core, a reference fan-out built to assemble gigabytes, bulk reads, and
// bodies with members nobody asked for. Each must end quickly with a clear error while
// the node keeps serving reads and writes, keeps its memory, and still stops cleanly.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <future>
#include <thread>

#include "support/harness.hpp"
#include "support/sockets.hpp"

namespace fedmesh::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

// Peak resident memory of a process in MiB (VmHWM), -1 when unreadable.
long peak_rss_mib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6)) / 1024;
  return -1;
}

// An `or` of `tests` substring searches for 1,200-byte needles "xx…xy" in `text`.
std::string substring_bomb(int tests) {
  json ors = json::array();
  std::string needle(1199, 'x');
  needle += 'y';
  for (int i = 0; i < tests; ++i) ors.push_back({{"in", {needle, {{"var", "text"}}}}});
  return json{{"filter", {{"or", ors}}}, {"limit", 10}}.dump();
}

// Writes `n` entities of one 64 KB string each into `doc`.
void fill_docs(int port, int n) {
  std::string text(64 * 1024, 'x');
  for (int i = 0; i < n; ++i) {
    auto r = http(port, "PUT", "/api/v1/data/doc/d" + std::to_string(i), json{{"text", text}}.dump());
    ASSERT_EQ(r.status, 200) << r.body;
  }
}

// Sends a request on a new connection and returns the connection, unread (-1 on failure).
int send_request(int port, const std::string& target, const std::string& body) {
  int fd = connect_loopback(port);
  if (fd < 0) return -1;
  std::string req = "POST " + target + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n" + body;
  std::size_t off = 0;
  while (off < req.size()) {
    auto n = ::send(fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n <= 0) {
      ::close(fd);
      return -1;
    }
    off += static_cast<std::size_t>(n);
  }
  return fd;
}

// One node "a" with `extra` appended to its config, started; healthy() says it answered.
struct OneNode {
  explicit OneNode(const std::string& extra = "") {
    f.add({"a", {}, extra});
    f.start("a");
  }
  bool healthy() { return f.wait_healthy("a"); }
  int port() { return f.http_port("a"); }
  std::string log() { return f.process("a").log(); }
  // SIGTERM; the exit code (0 for a clean stop).
  int stop() {
    auto& p = f.process("a");
    p.signal(SIGTERM);
    return p.wait(20s);
  }
  TempDir dir;
  Federation f{dir};
};

TEST(DataAttacks, ASubstringFilterBombStopsAtItsBudgetWhileReadsAndWritesAnswer) {
  OneNode a;
  ASSERT_TRUE(a.healthy()) << a.log();
  int port = a.port();
  fill_docs(port, 60);
  std::string bomb = substring_bomb(800);
  ASSERT_LT(bomb.size(), 1024u * 1024u);

  // Three in flight at once, as in the report; each ends with query_too_costly.
  std::vector<std::future<HttpResult>> bombs;
  for (int i = 0; i < 3; ++i)
    bombs.push_back(
        std::async(std::launch::async, [&] { return http(port, "POST", "/api/v1/data/doc/query", bomb, {}, 60s); }));
  // Meanwhile a point read and a write answer.
  auto read = http(port, "GET", "/api/v1/data/doc/d1", "", {}, 10s);
  EXPECT_EQ(read.status, 200);
  auto write = http(port, "PUT", "/api/v1/data/doc/new", R"({"text":"hello"})", {}, 10s);
  EXPECT_EQ(write.status, 200) << write.body;
  for (auto& b : bombs) {
    auto r = b.get();
    ASSERT_EQ(r.status, 422) << r.body;
    EXPECT_EQ(r.json()["error"]["code"], "query_too_costly");
    EXPECT_NE(r.json()["error"]["message"].get<std::string>().find("work budget"), std::string::npos);
  }
  EXPECT_EQ(http(port, "GET", "/healthz").status, 200);
  EXPECT_EQ(a.stop(), 0) << a.log();
}

TEST(DataAttacks, AQueryStopsWhenItsClientLeavesAndHealthzShowsTheBusyPool) {
  // A budget large enough to run for minutes: only the client leaving can stop it.
  OneNode a("[data]\nquery_work = 100000000000\nquery_timeout = \"10m\"\n[skills]\nwedged_after = \"1s\"\n");
  ASSERT_TRUE(a.healthy()) << a.log();
  int port = a.port();
  fill_docs(port, 200);
  int fd = send_request(port, "/api/v1/data/doc/query", substring_bomb(800));
  ASSERT_GE(fd, 0);
  // While it runs, /healthz names the queries pool as busy (degraded, still 200).
  ASSERT_TRUE(wait_until(
      [&] {
        auto h = http(port, "GET", "/healthz").json();
        return h.is_object() && h["pools"]["queries"]["busy"] == true;
      },
      30s))
      << http(port, "GET", "/healthz").body;
  auto h = http(port, "GET", "/healthz");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.json()["status"], "degraded");
  // The client leaves: the query stops, and the one pool thread serves the next query.
  ::close(fd);
  ASSERT_TRUE(wait_until([&] { return metric(port, "fedmesh_data_reads_stopped_total{reason=\"gone\"}") == 1; }, 30s));
  ASSERT_TRUE(wait_until(
      [&] {
        auto q =
            http(port, "POST", "/api/v1/data/doc/query", R"({"filter":{"==":[{"var":"text"},"x"]},"limit":1})", {}, 5s);
        return q.status == 200;
      },
      60s));
  EXPECT_EQ(http(port, "GET", "/healthz").json()["status"], "ok");
  EXPECT_EQ(a.stop(), 0) << a.log();
}

TEST(DataAttacks, AnExpandFanOutIsRefusedWith413AndTheNodeKeepsItsMemory) {
  OneNode a;
  ASSERT_TRUE(a.healthy()) << a.log();
  int port = a.port();
  // 256 properties of 64 KB (16 MB), written 15 properties per PUT (under 1 MB each).
  std::string chunk(64 * 1024, 'b');
  for (int p = 0; p < 256;) {
    json props = json::object();
    for (int k = 0; k < 15 && p < 256; ++k, ++p) props["p" + std::to_string(p)] = chunk;
    auto r = http(port, "PUT", "/api/v1/data/blob/big", props.dump(), {}, 30s);
    ASSERT_EQ(r.status, 200) << r.body;
  }
  json refs = json::object();
  for (int i = 0; i < 256; ++i) refs["r" + std::to_string(i)] = {{"collection", "blob"}, {"entity", "big"}};
  ASSERT_EQ(http(port, "PUT", "/api/v1/data/blob/fan", refs.dump()).status, 200);

  // Expanded, the answer would be 4.3 GB: refused at the byte budget.
  auto r = http(port, "GET", "/api/v1/data/blob/fan?expand=1", "", {}, 60s);
  ASSERT_EQ(r.status, 413) << r.body.substr(0, 300);
  EXPECT_EQ(r.json()["error"]["code"], "payload_too_large");
  EXPECT_NE(r.json()["error"]["message"].get<std::string>().find("data.max_answer_bytes"), std::string::npos);
  // Rhizome's path refuses it the same way.
  EXPECT_EQ(http(port, "GET", "/api/blob/fan?expand=1", "", {}, 60s).status, 413);
  long peak = peak_rss_mib(a.f.process("a").pid());
  EXPECT_GT(peak, 0);
  EXPECT_LT(peak, 1500) << "peak RSS " << peak << " MiB";  // 9 GB before the budget
  // The node still serves, and stops cleanly.
  EXPECT_EQ(http(port, "GET", "/api/v1/data/blob/fan").status, 200);
  EXPECT_EQ(a.stop(), 0) << a.log();
}

TEST(DataAttacks, BulkReadsStayWithinTheAnswerBudget) {
  OneNode a("[data]\nmax_answer_bytes = 262144\n");
  ASSERT_TRUE(a.healthy()) << a.log();
  int port = a.port();
  std::string text(16 * 1024, 'x');
  for (int i = 0; i < 40; ++i)
    ASSERT_EQ(http(port, "PUT", "/api/v1/data/doc/d" + std::to_string(i), json{{"text", text}}.dump()).status, 200);
  // Rhizome's bare list cannot be cut: 413 with the reason.
  auto rhizome = http(port, "GET", "/api/deltas");
  EXPECT_EQ(rhizome.status, 413) << rhizome.body.substr(0, 200);
  // fedmesh's own list ends its page early and says where to go on.
  auto page = http(port, "GET", "/api/v1/deltas?limit=1000");
  ASSERT_EQ(page.status, 200) << page.body.substr(0, 200);
  auto j = page.json();
  ASSERT_TRUE(j.contains("next"));
  EXPECT_LT(j["deltas"].size(), 40u);
  std::size_t seen = j["deltas"].size();
  for (int guard = 0; j.contains("next") && guard < 100; ++guard) {
    j = http(port, "GET", "/api/v1/deltas?limit=1000&after=" + std::to_string(j["next"].get<long>())).json();
    seen += j["deltas"].size();
  }
  EXPECT_EQ(seen, 40u);
  // A query whose matches exceed the budget: 413; with a limit that fits: 200.
  EXPECT_EQ(http(port, "POST", "/api/v1/data/doc/query", R"({"limit":100})").status, 413);
  EXPECT_EQ(http(port, "POST", "/api/v1/data/doc/query", R"({"limit":5})").status, 200);
  auto rq = http(port, "POST", "/api/query/doc", "{}");
  EXPECT_EQ(rq.status, 413) << rq.body.substr(0, 200);
  EXPECT_EQ(rq.json()["success"], false);
}

TEST(DataAttacks, UnknownMembersOfDataBodiesAreRefusedByName) {
  OneNode a;
  ASSERT_TRUE(a.healthy()) << a.log();
  int port = a.port();
  auto put = http(port, "PUT", "/api/v1/data/c", R"({"properties":{"a":1},"zz":1})");
  EXPECT_EQ(put.status, 400);
  EXPECT_NE(put.body.find("'zz'"), std::string::npos) << put.body;
  auto rput = http(port, "PUT", "/api/c", R"({"properties":{"a":1},"zz":1})");
  EXPECT_EQ(rput.status, 400);
  EXPECT_NE(rput.body.find("'zz'"), std::string::npos) << rput.body;
  auto q = http(port, "POST", "/api/v1/data/c/query", R"({"bogus":1})");
  EXPECT_EQ(q.status, 400);
  EXPECT_NE(q.body.find("'bogus'"), std::string::npos) << q.body;
  auto rq = http(port, "POST", "/api/query/c", R"({"bogus":1})");
  EXPECT_EQ(rq.status, 400);
  EXPECT_NE(rq.body.find("'bogus'"), std::string::npos) << rq.body;
  // Nothing was written.
  EXPECT_EQ(http(port, "GET", "/api/v1/deltas/count").json()["count"], 0);
}

}  // namespace
}  // namespace fedmesh::testing
