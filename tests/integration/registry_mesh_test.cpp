// Registry meshes of four real registries: one change converges on every topology
// with at most two messages per registry, a registry that was down catches up, and an
// eviction reaches every registry.
#include <gtest/gtest.h>

#include "support/harness.hpp"

namespace fedmesh::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

const char* kManifest = R"(name = "catalog_demo"
version = "1.0.0"
[skills.forecast]
author = "ada"
tags = ["ml"]
acl = "peers"
[skills.summary]
author = "grace"
tags = ["stats"]
acl = "peers"
)";
const char* kLua = "skill('forecast', function() return 1 end)\nskill('summary', function() return 2 end)\n";

using Edges = std::vector<std::pair<int, int>>;

class Mesh {
 public:
  Mesh(const TempDir& dir, const Edges& edges, const std::string& timers) : dir_(dir), f_(dir) {
    write_file(dir / "services/catalog_demo/package.toml", kManifest);
    write_file(dir / "services/catalog_demo/main.lua", kLua);
    std::vector<std::vector<std::string>> neighbours(4);
    for (auto [a, b] : edges) {
      neighbours[a].push_back(name(b));
      neighbours[b].push_back(name(a));
    }
    for (int i = 0; i < 4; ++i) {
      std::string peers_list;
      std::vector<std::pair<std::string, bool>> fed_peers;
      for (const auto& n : neighbours[i]) {
        peers_list += (peers_list.empty() ? "\"" : ", \"") + n + "\"";
        fed_peers.push_back({n, false});
      }
      f_.add({name(i), fed_peers,
              "roles = [\"node\", \"registry\"]\n[registry]\npeers = [" + peers_list + "]\n" + timers});
    }
  }
  static std::string name(int i) { return "r" + std::to_string(i); }

  void add_node(const std::string& node, const std::string& registry, const std::string& heartbeat) {
    f_.add({node,
            {{registry, false}},
            "[system_services]\nenable = [\"catalog_demo\"]\npath = [\"services\"]\n[discovery]\nregistries = [\"" +
                registry + "\"]\nheartbeat = \"" + heartbeat + "\"\n"});
  }
  void start_registries() {
    for (int i = 0; i < 4; ++i) f_.start(name(i));
  }
  json get(const std::string& node, const std::string& path) { return http(f_.http_port(node), "GET", path).json(); }
  int flows(const std::string& registry) {
    auto c = get(registry, "/api/v1/registry/counts");
    return c.is_object() ? c.value("total", -1) : -1;
  }
  bool all_idle() {
    for (int i = 0; i < 4; ++i) {
      auto s = get(name(i), "/api/v1/status");
      if (!s.is_object() || s["idle"] != true) return false;
    }
    return true;
  }
  std::uint64_t messages() {
    std::uint64_t total = 0;
    for (int i = 0; i < 4; ++i) {
      auto p = get(name(i), "/api/v1/registry/peers");
      if (p.is_object())
        for (const auto& l : p["peers"]) total += l.value("messages", 0ull);
    }
    return total;
  }
  bool links_up() {
    for (int i = 0; i < 4; ++i) {
      auto p = get(name(i), "/api/v1/registry/peers");
      if (!p.is_object()) return false;
      for (const auto& l : p["peers"])
        if (l["state"] != "up") return false;
    }
    return true;
  }
  Federation& f() { return f_; }

 private:
  const TempDir& dir_;
  Federation f_;
};

struct Topology {
  const char* name;
  Edges edges;
};

void PrintTo(const Topology& t, std::ostream* os) {
  *os << t.name;
}

class MeshConvergence : public ::testing::TestWithParam<Topology> {};

TEST_P(MeshConvergence, OneChangeReachesEveryRegistryWithAtMostTwoMessagesEach) {
  TempDir dir;
  Mesh mesh(dir, GetParam().edges, "stale_after = \"30s\"\ngone_after = \"60s\"\n");
  mesh.start_registries();
  ASSERT_TRUE(wait_until([&] { return mesh.links_up() && mesh.all_idle(); }, 20s));
  auto before = mesh.messages();
  mesh.add_node("n1", "r0", "1h");  // one registration, no heartbeats during the test
  mesh.f().start("n1");
  for (int i = 0; i < 4; ++i)
    EXPECT_TRUE(wait_until([&] { return mesh.flows(Mesh::name(i)) == 2; }, 15s)) << Mesh::name(i);
  ASSERT_TRUE(wait_until([&] { return mesh.all_idle(); }, 10s));
  auto sent = mesh.messages() - before;
  std::cout << GetParam().name << ": " << sent << " messages for one change across 4 registries\n";
  EXPECT_GE(sent, 3u);
  EXPECT_LE(sent, 8u);
  // Every registry serves the same items, from the registry the node registered with.
  auto items = mesh.get("r3", "/api/v1/registry/flows?by=name")["items"];
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0]["registry"], "r0");
  EXPECT_EQ(items[0]["node"], "n1");
  EXPECT_EQ(mesh.get("r2", "/api/v1/registry/flows?by=name")["items"],
            mesh.get("r0", "/api/v1/registry/flows?by=name")["items"]);
}

INSTANTIATE_TEST_SUITE_P(Topologies, MeshConvergence,
                         ::testing::Values(Topology{"chain", {{0, 1}, {1, 2}, {2, 3}}},
                                           Topology{"ring", {{0, 1}, {1, 2}, {2, 3}, {3, 0}}},
                                           Topology{"full", {{0, 1}, {0, 2}, {0, 3}, {1, 2}, {1, 3}, {2, 3}}}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(MeshRecovery, ARestartedRegistryCatchesUpAndEvictionsReachEveryone) {
  TempDir dir;
  Mesh mesh(dir, {{0, 1}, {1, 2}, {2, 3}, {3, 0}}, "stale_after = \"1500ms\"\ngone_after = \"3s\"\n");
  mesh.start_registries();
  ASSERT_TRUE(wait_until([&] { return mesh.links_up(); }, 20s));
  mesh.f().stop("r2", SIGKILL);
  mesh.add_node("n1", "r0", "200ms");  // heartbeats: stays alive
  mesh.add_node("n2", "r1", "1h");     // silent after registering: goes stale, then gone
  mesh.f().start("n1");
  mesh.f().start("n2");
  ASSERT_TRUE(wait_until([&] { return mesh.flows("r3") == 4; }, 15s)) << mesh.flows("r3");
  mesh.f().start("r2");  // it missed both registrations
  EXPECT_TRUE(wait_until([&] { return mesh.flows("r2") == 4; }, 15s)) << mesh.flows("r2");
  // n2 stops heartbeating (it never does): gone everywhere, n1 stays.
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(wait_until(
        [&] {
          auto nodes = mesh.get(Mesh::name(i), "/api/v1/registry/nodes");
          return nodes.is_object() && nodes["nodes"].size() == 1 && nodes["nodes"][0]["name"] == "n1";
        },
        15s))
        << Mesh::name(i) << ": " << mesh.get(Mesh::name(i), "/api/v1/registry/nodes").dump();
  }
  EXPECT_EQ(mesh.get("r2", "/api/v1/registry/nodes/n1")["status"], "alive");
}

}  // namespace
}  // namespace fedmesh::testing
