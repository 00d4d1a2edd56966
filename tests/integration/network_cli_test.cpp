// `fedmesh up/ps/call/event/install/down` on a real network of background processes.
#include <sys/stat.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "support/harness.hpp"

namespace fedmesh::testing {
namespace {

namespace fs = std::filesystem;

std::string network_toml(int base_http[4], int base_fed[4]) {
  const char* names[] = {"red", "yellow", "painter", "blue"};
  std::string t = "name = \"test-net\"\n";
  for (int i = 0; i < 4; ++i) {
    t += std::string("\n[nodes.") + names[i] + "]\nhttp = " + std::to_string(base_http[i]) +
         "\nfederation = " + std::to_string(base_fed[i]) + "\n";
    if (std::string(names[i]) == "painter") {
      t += "packages = [\"packages/palette\"]\n";
    } else {
      t += std::string("env = { COLOR = \"") + names[i] + "\" }\npackages = [\"packages/color_tools\"]\n";
    }
  }
  t += "config = { color_tools = { default_qty = 1 } }\n";  // blue gets 1 unit
  for (const char* c : {"red", "yellow", "blue"})
    t += std::string("\n[[links]]\nfrom = \"painter\"\nto = \"") + c + "\"\nbidirectional = true\n";
  return t;
}

class NetworkCli : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::copy(source_dir() + "/examples/hello-federate/packages", dir_ / "packages", fs::copy_options::recursive);
    int http[4], fed[4];
    for (int i = 0; i < 4; ++i) {
      http[i] = free_port();
      fed[i] = free_port();
    }
    painter_port_ = http[2];
    write_file(dir_ / "fedmesh.toml", network_toml(http, fed));
  }
  void TearDown() override { run_fedmesh({"down", dir_.path()}); }
  TempDir dir_;
  int painter_port_ = 0;
};

TEST_F(NetworkCli, UpCallEventInstallPsDown) {
  std::string out;
  ASSERT_EQ(run_fedmesh({"up", dir_.path()}, &out), 0) << out;
  EXPECT_NE(out.find("ID         HTTP"), std::string::npos) << out;
  EXPECT_NE(out.find("painter    http://127.0.0.1:" + std::to_string(painter_port_)), std::string::npos) << out;
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / ".fedmesh/ca/ca.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  EXPECT_EQ(run_fedmesh({"call", "painter", "palette/list_all_colors", "--network", dir_.path()}, &out), 0) << out;
  EXPECT_NE(out.find("\"yellow\""), std::string::npos) << out;
  EXPECT_EQ(run_fedmesh({"call", "painter", "palette/color_blend", R"({"color1":"blue","color2":"red"})", "--network",
                         dir_.path()},
                        &out),
            0)
      << out;
  EXPECT_NE(out.find("purple"), std::string::npos);
  // blue had one unit (per-node config override): the next blend fails, exit 1, reason on stderr.
  EXPECT_EQ(run_fedmesh({"call", "painter", "palette/color_blend", R"({"color1":"blue","color2":"yellow"})",
                         "--network", dir_.path()},
                        &out),
            1);
  EXPECT_NE(out.find("out_of_stock: blue is unavailable (node blue)"), std::string::npos) << out;
  EXPECT_EQ(run_fedmesh({"event", "blue", "system.reset", "--network", dir_.path()}, &out), 0) << out;
  EXPECT_EQ(run_fedmesh({"call", "painter", "palette/color_blend", R"({"color1":"blue","color2":"yellow"})",
                         "--network", dir_.path()},
                        &out),
            0)
      << out;
  // Operator URLs work too.
  EXPECT_EQ(run_fedmesh({"call", "http://127.0.0.1:" + std::to_string(painter_port_), "palette/list_all_colors"}, &out),
            0);

  // Re-running up and install are no-ops for a running network.
  EXPECT_EQ(run_fedmesh({"up", dir_.path()}, &out), 0) << out;
  EXPECT_NE(out.find("red is already running"), std::string::npos);
  EXPECT_NE(out.find("(unchanged)"), std::string::npos);
  EXPECT_EQ(run_fedmesh({"install", dir_.path(), "--node", "red"}, &out), 0) << out;
  EXPECT_NE(out.find("red        color_tools 1.0.0 (unchanged)"), std::string::npos) << out;

  EXPECT_EQ(run_fedmesh({"ps", dir_.path()}, &out), 0);
  EXPECT_NE(out.find("painter"), std::string::npos);
  EXPECT_NE(out.find("running"), std::string::npos);
  // status and peers take a node's name, as call does.
  EXPECT_EQ(run_fedmesh({"status", "red", "--network", dir_.path()}, &out), 0) << out;
  EXPECT_TRUE(out.starts_with("red (")) << out;
  EXPECT_EQ(run_fedmesh({"peers", "painter", "--network", dir_.path()}, &out), 0) << out;
  EXPECT_NE(out.find("PEER"), std::string::npos) << out;
  EXPECT_EQ(run_fedmesh({"down", dir_.path()}, &out), 0) << out;
  EXPECT_NE(out.find("stopped painter"), std::string::npos);
  EXPECT_EQ(run_fedmesh({"ps", dir_.path()}, &out), 0);
  EXPECT_EQ(out.find("running"), std::string::npos) << out;
}

TEST_F(NetworkCli, BadNetworkFilesAndArguments) {
  std::string out;
  write_file(dir_ / "fedmesh.toml", "[nodes.a]\nhttp = 1\n");
  EXPECT_EQ(run_fedmesh({"up", dir_.path()}, &out), 2);
  EXPECT_NE(out.find("fedmesh.toml: nodes.a.federation: missing required key"), std::string::npos) << out;
  write_file(dir_ / "fedmesh.toml", "[nodes.a]\nhttp = 1\nfederation = 2\n[[links]]\nfrom = \"a\"\nto = \"b\"\n");
  EXPECT_EQ(run_fedmesh({"up", dir_.path()}, &out), 2);
  EXPECT_NE(out.find("links[0].to: 'b' is not a node of this network"), std::string::npos) << out;
  write_file(dir_ / "fedmesh.toml", "[nodes.a]\nhttp = 1\nfederation = 1\n");
  EXPECT_EQ(run_fedmesh({"up", dir_.path()}, &out), 2);
  EXPECT_NE(out.find("port 1 is used twice"), std::string::npos) << out;
  write_file(dir_ / "fedmesh.toml", "[nodes.a]\nhttp = 1\nfederation = 2\npackages = [\"nope\"]\n");
  EXPECT_EQ(run_fedmesh({"up", dir_.path()}, &out), 2);
  EXPECT_NE(out.find("'nope' is not a package folder"), std::string::npos) << out;
  write_file(dir_ / "fedmesh.toml", "[nodes.a]\nhttp = 1\nfederation = 2\n");
  EXPECT_EQ(run_fedmesh({"call", "a", "p/s", "{", "--network", dir_.path()}, &out), 2);
  EXPECT_NE(out.find("the arguments are not JSON"), std::string::npos) << out;
  EXPECT_EQ(run_fedmesh({"call", "zz", "p/s", "--network", dir_.path()}, &out), 2);
  EXPECT_NE(out.find("no node 'zz'"), std::string::npos) << out;
  EXPECT_EQ(run_fedmesh({"down", dir_ / "missing"}, &out), 2);
  EXPECT_NE(out.find("no network file"), std::string::npos) << out;
  // Sharing rules are checked as a node's [data] share is.
  write_file(dir_ / "fedmesh.toml",
             "[data]\nshare = [{collection = \"User!\", with = [\"*\"]}]\n[nodes.a]\nhttp = 1\n"
             "federation = 2\n");
  EXPECT_EQ(run_fedmesh({"up", dir_.path()}, &out), 2);
  EXPECT_NE(out.find("fedmesh.toml: data.share: entry 0: 'collection' must be a collection name"), std::string::npos)
      << out;
  write_file(dir_ / "fedmesh.toml", "[nodes.a]\nhttp = 1\nfederation = 2\nshare = [{collection = \"x\"}]\n");
  EXPECT_EQ(run_fedmesh({"up", dir_.path()}, &out), 2);
  EXPECT_NE(out.find("nodes.a.share: entry 0: 'with' must list"), std::string::npos) << out;
  // fedmesh data: wrong arguments are named before anything is sent.
  write_file(dir_ / "fedmesh.toml", "[nodes.a]\nhttp = 1\nfederation = 2\n");
  EXPECT_EQ(run_fedmesh({"data", "get", "a", "user", "--network", dir_.path()}, &out), 2);
  EXPECT_NE(out.find("fedmesh data get: expects COLLECTION ID"), std::string::npos) << out;
  EXPECT_EQ(run_fedmesh({"data", "put", "a", "user", "x", "{", "--network", dir_.path()}, &out), 2);
  EXPECT_NE(out.find("the properties are not a JSON object"), std::string::npos) << out;
  EXPECT_EQ(run_fedmesh({"data", "query", "a", "user", "{nope", "--network", dir_.path()}, &out), 2);
  EXPECT_NE(out.find("the filter is not JSON"), std::string::npos) << out;
  EXPECT_EQ(run_fedmesh({"data", "drop", "a", "--network", dir_.path()}, &out), 2);
  EXPECT_EQ(run_fedmesh({"data", "deltas", "a", "--limit", "0", "--network", dir_.path()}, &out), 2);
}

}  // namespace
}  // namespace fedmesh::testing
