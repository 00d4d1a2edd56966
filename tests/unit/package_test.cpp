#include <gtest/gtest.h>

#include "skills/package.hpp"
#include "support/harness.hpp"

namespace fedmesh::skills {
namespace {

const char* kManifest = R"(
name = "color_tools"
version = "1.0.0"
description = "Colours"
env = ["COLOR"]

[config]
default_qty = 2

[skills.identify_self]
description = "Who am I"
acl = "peers"
output = { color = "string" }

[skills.reset_inventory]

[skills.share_color]
acl = ["painter", "org:Acme Paint"]
)";

std::string error_of(const std::string& manifest, std::map<std::string, std::string> files = {{"main.lua", "x"}},
                     PackageLimits limits = {}) {
  auto p = make_package(manifest, files, limits);
  return p ? "" : p.error().message();
}

TEST(Package, ParsesManifestAndHashesContent) {
  auto p = make_package(kManifest, {{"main.lua", "-- main"}, {"lib/util.lua", "return {}"}});
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->manifest.name, "color_tools");
  EXPECT_EQ(p->manifest.env, std::vector<std::string>{"COLOR"});
  EXPECT_EQ(p->manifest.config["default_qty"], 2);
  ASSERT_EQ(p->manifest.skills.size(), 3u);
  EXPECT_TRUE(p->manifest.skill("identify_self")->acl.any_peer);
  EXPECT_FALSE(p->manifest.skill("reset_inventory")->acl.exported());
  EXPECT_EQ(p->manifest.skill("share_color")->acl.to_json(), nlohmann::json({"painter", "org:Acme Paint"}));
  EXPECT_EQ(p->hash.size(), 64u);
  auto same = make_package(kManifest, {{"main.lua", "-- main"}, {"lib/util.lua", "return {}"}});
  EXPECT_EQ(same->hash, p->hash);
  auto changed = make_package(kManifest, {{"main.lua", "-- main!"}, {"lib/util.lua", "return {}"}});
  EXPECT_NE(changed->hash, p->hash);
  auto round = package_from_json(package_source_json(*p));
  ASSERT_TRUE(round);
  EXPECT_EQ(round->hash, p->hash);
}

TEST(Package, ManifestErrorsNameTheKey) {
  EXPECT_EQ(error_of("version = \"1\"\n[skills.a]\n"), "package.toml: name: missing required key");
  EXPECT_EQ(error_of("name = \"Bad-Name\"\nversion = \"1\"\n[skills.a]\n"),
            "package.toml: name: must be 1-63 characters of a-z, 0-9, '_' and '-', starting with a letter or digit");
  EXPECT_EQ(error_of("name = \"-ipfs\"\nversion = \"1\"\n[skills.a]\n").find("package.toml: name: must be"), 0u);
  EXPECT_EQ(error_of("name = \"aqua-ipfs\"\nversion = \"1\"\n[skills.a]\n"), "");  // issue 20: Fluence's names
  EXPECT_EQ(error_of("name = \"p\"\nversion = \"1\"\n[skills.get-it]\n"),
            "package.toml: skills.get-it: skill names are 1-63 characters of a-z, 0-9 and '_'");
  EXPECT_EQ(error_of("name = \"a\"\nversion = \"1\"\n"),
            "package.toml: skills: declare at least one [skills.NAME] table");
  EXPECT_EQ(
      error_of("name = \"a\"\nversion = \"1\"\n[skills.a]\nacl = \"everyone\"\n"),
      "package.toml: skills.a.acl: must be \"local\", \"peers\" or a list of peer names and \"org:NAME\" entries");
  EXPECT_EQ(error_of("name = \"a\"\nversion = \"1\"\n[skills.a]\nacess = \"peers\"\n"),
            "package.toml: skills.a.acess: unknown key (known: description, acl, input, output, author, tags)");
  EXPECT_EQ(error_of("name = \"a\"\nversion = \"1\"\nflavour = 1\n[skills.a]\n"), "package.toml: flavour: unknown key");
  EXPECT_EQ(error_of("name = \"a\"\nversion = \"1\"\nenv = [\"home\"]\n[skills.a]\n"),
            "package.toml: env: expected variable names like COLOR (A-Z, 0-9, _)");
  EXPECT_NE(error_of("name = \"a\n").find("package.toml:1:"), std::string::npos);
  // [config] becomes the script's `config`: refused beyond the depth scripts accept.
  std::string deep = "name = \"a\"\nversion = \"1\"\n[skills.a]\n[config]\n";
  for (int i = 0; i < 40; ++i) deep += "k" + std::to_string(i) + (i == 39 ? " = 1" : ".");
  EXPECT_EQ(error_of(deep + "\n"), "package.toml: config: nested deeper than 32 levels");
}

TEST(Package, FilesAreCheckedAndBounded) {
  std::string m = "name = \"a\"\nversion = \"1\"\n[skills.a]\n";
  EXPECT_EQ(error_of(m, {{"other.lua", "x"}}), "package.toml: main: file 'main.lua' is missing");
  EXPECT_EQ(error_of(m, {{"main.lua", "x"}, {"../evil.lua", "x"}}), "file '../evil.lua': not a safe relative path");
  EXPECT_EQ(error_of(m, {{"main.lua", "x"}, {"/etc/x.lua", "x"}}), "file '/etc/x.lua': not a safe relative path");
  EXPECT_EQ(error_of(m, {{"main.lua", "x"}, {"notes.txt", "x"}}),
            "file 'notes.txt': only .lua files belong in a package");
  EXPECT_EQ(error_of(m, {{"main.lua", "\x1bLua bytecode"}}),
            "file 'main.lua': binary content (precompiled Lua is refused)");
  PackageLimits tiny{2, 64, 150};
  EXPECT_EQ(error_of(m, {{"main.lua", "x"}, {"b.lua", "x"}, {"c.lua", "x"}}, tiny),
            "package has 3 files; the limit is 2");
  EXPECT_EQ(error_of(m, {{"main.lua", std::string(65, 'x')}}, tiny), "file 'main.lua': larger than 64 bytes");
  EXPECT_EQ(error_of(m, {{"main.lua", std::string(60, 'x')}, {"b.lua", std::string(60, 'x')}}, tiny),
            "package is larger than 150 bytes");
}

TEST(Package, LoadsFromAFolder) {
  fedmesh::testing::TempDir dir;
  fedmesh::testing::write_file(dir / "pkg/package.toml", kManifest);
  fedmesh::testing::write_file(dir / "pkg/main.lua", "-- main");
  fedmesh::testing::write_file(dir / "pkg/README.md", "ignored");
  auto p = load_package_dir(dir / "pkg");
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->files.size(), 1u);
  auto missing = load_package_dir(dir / "nope");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("not a package folder"), std::string::npos);
}

// Issue 20: `aliases` are other package names the package answers to (palette: "pallete").
TEST(Package, AliasesAreOtherValidNames) {
  std::string head = "name = \"palette\"\nversion = \"1\"\n";
  auto p = make_package(head + "aliases = [\"pallete\", \"paint-box\"]\n[skills.a]\n", {{"main.lua", "x"}});
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->manifest.aliases, (std::vector<std::string>{"pallete", "paint-box"}));  // names as package names are
  EXPECT_TRUE(p->manifest.answers_to("palette"));
  EXPECT_TRUE(p->manifest.answers_to("pallete"));
  EXPECT_FALSE(p->manifest.answers_to("palete"));
  const std::string list_reason =
      "package.toml: aliases: expected a list of at most 8 other package names (1-63 characters of a-z, 0-9, '_' "
      "and '-', starting with a letter or digit)";
  EXPECT_EQ(error_of(head + "aliases = \"pallete\"\n[skills.a]\n"), list_reason);
  EXPECT_EQ(error_of(head + "aliases = [\"Pallete\"]\n[skills.a]\n"), list_reason);
  EXPECT_EQ(error_of(head + "aliases = [\"a/b\"]\n[skills.a]\n"), list_reason);
  EXPECT_EQ(error_of(head + "aliases = [\"-ab\"]\n[skills.a]\n"), list_reason);
  EXPECT_EQ(error_of(head + "aliases = [\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\"]\n[skills.a]\n"),
            list_reason);
  EXPECT_EQ(error_of(head + "aliases = [\"palette\"]\n[skills.a]\n"),
            "package.toml: aliases: 'palette' is the package's own name");
  EXPECT_EQ(error_of(head + "aliases = [\"p\", \"p\"]\n[skills.a]\n"), "package.toml: aliases: 'p' is listed twice");
}

TEST(Acl, Decisions) {
  Acl local;
  Acl peers{true, {}, {}};
  Acl listed{false, {"painter"}, {"Acme Paint"}};
  Caller me{true, "", ""};
  Caller painter{false, "painter", "Other Org"};
  Caller acme{false, "mixer", "Acme Paint"};
  Caller stranger{false, "mallory", "Evil"};
  EXPECT_TRUE(allows(local, me));
  EXPECT_FALSE(allows(local, painter));
  EXPECT_TRUE(allows(peers, stranger));
  EXPECT_TRUE(allows(listed, painter));
  EXPECT_TRUE(allows(listed, acme));
  EXPECT_FALSE(allows(listed, stranger));
  EXPECT_FALSE(allows(listed, Caller{false, "x", ""}));
}

}  // namespace
}  // namespace fedmesh::skills
