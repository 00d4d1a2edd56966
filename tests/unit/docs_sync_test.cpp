// Keeps the written reference in step with the code: every config option appears in
// docs/configuration.md (its generated table) and in the annotated examples/node.toml;
// every error code appears in docs/errors.md with its number and status.
#include <gtest/gtest.h>

#include "config/loader.hpp"
#include "config/options.hpp"
#include "core/error.hpp"
#include "support/harness.hpp"

namespace fedmesh {
namespace {

using fedmesh::testing::read_file;
using fedmesh::testing::source_dir;

TEST(DocsSync, ConfigurationMdEmbedsTheGeneratedTable) {
  auto doc = read_file(source_dir() + "/docs/configuration.md");
  EXPECT_NE(doc.find(config::options_markdown()), std::string::npos)
      << "docs/configuration.md is out of date: paste the output of `fedmesh config docs` between the markers";
}

TEST(DocsSync, ExampleNodeTomlSetsEveryOption) {
  auto text = read_file(source_dir() + "/examples/node.toml");
  auto tree = config::parse_tree(text, config::Format::Toml, "node.toml");
  ASSERT_TRUE(tree) << tree.error().message();
  for (const auto& o : config::node_options()) {
    std::string key(o.key);
    auto dot = key.find('.');
    bool present = dot == std::string::npos ? tree->contains(key)
                                            : (tree->contains(key.substr(0, dot)) &&
                                               (*tree)[key.substr(0, dot)].contains(key.substr(dot + 1)));
    EXPECT_TRUE(present) << "examples/node.toml does not show " << key;
  }
  ASSERT_TRUE((*tree)["federation"]["peers"].is_array());
  for (const auto& o : config::peer_options()) {
    EXPECT_TRUE((*tree)["federation"]["peers"][0].contains(std::string(o.key)))
        << "examples/node.toml does not show federation.peers[]." << o.key;
  }
  // And it is a valid config once its variables are set.
  auto loaded =
      config::load_config_text(text, config::Format::Toml, "node.toml", "/tmp",
                               config::Environment(std::map<std::string, std::string>{{"FEDMESH_TOKEN", "t"}}));
  EXPECT_TRUE(loaded) << loaded.error().message();
}

TEST(DocsSync, ErrorsMdListsEveryCode) {
  auto doc = read_file(source_dir() + "/docs/errors.md");
  for (const auto& i : error_catalogue()) {
    std::string row =
        "| `" + std::string(i.name) + "` | " + std::to_string(i.number) + " | " + std::to_string(i.http_status) + " |";
    EXPECT_NE(doc.find(row), std::string::npos) << "docs/errors.md lacks the row starting " << row;
  }
}

}  // namespace
}  // namespace fedmesh
