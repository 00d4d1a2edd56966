// Every command the docs name is a command (issue 20): each `fedmesh ...` in a fenced
// block or an inline code span of README.md, docs/*.md and the examples' READMEs is run
// with --help, down to its subcommand or verb; and the CLI names a word it does not know.
// The commands that change state run end to end in the tests of their feature (jobs_test:
// job submit/wait/cancel, join; network_cli_test: up/down/ps/install/call/event; data_test:
// data ...), and `fedmesh deploy` here.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "support/harness.hpp"

namespace fedmesh::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct Mention {
  std::string where;  // file:line
  std::vector<std::string> words;
  bool inline_span = false;  // `fedmesh ...` in prose: may be a phrase ("fedmesh signed run v1")
};

// The leading words of a command line ("fedmesh job submit agg --project p" -> job, submit, agg).
std::vector<std::string> words_of(const std::string& command) {
  std::vector<std::string> out;
  std::istringstream in(command);
  std::string w;
  in >> w;  // fedmesh
  while (in >> w && std::regex_match(w, std::regex("[a-z][a-z-]*"))) out.push_back(w);
  return out;
}

std::vector<Mention> documented_commands() {
  std::vector<fs::path> files = {fs::path(source_dir()) / "README.md"};
  for (const auto& e : fs::directory_iterator(fs::path(source_dir()) / "docs"))
    if (e.path().extension() == ".md") files.push_back(e.path());
  for (const auto& e : fs::recursive_directory_iterator(fs::path(source_dir()) / "examples"))
    if (e.path().filename() == "README.md") files.push_back(e.path());
  std::vector<Mention> out;
  const std::regex inline_code("`fedmesh ([^`]+)`");
  for (const auto& f : files) {
    std::istringstream in(read_file(f.string()));
    std::string line;
    bool fenced = false;
    int n = 0;
    while (std::getline(in, line)) {
      ++n;
      std::string where = fs::relative(f, source_dir()).string() + ":" + std::to_string(n);
      auto text = line.substr(std::min(line.find_first_not_of(' '), line.size()));
      if (text.starts_with("```")) {
        fenced = !fenced;
        continue;
      }
      if (fenced) {
        if (text.starts_with("$ ")) text = text.substr(2);
        if (text.starts_with("fedmesh ")) out.push_back({where, words_of(text)});
        continue;
      }
      for (std::sregex_iterator it(line.begin(), line.end(), inline_code), end; it != end; ++it)
        out.push_back({where, words_of("fedmesh " + (*it)[1].str()), true});
    }
  }
  return out;
}

// The verbs a command accepts, as its help shows the check on them: "verb TEXT:{get,put,...}".
std::set<std::string> verbs_in(const std::string& help) {
  std::set<std::string> verbs;
  std::smatch m;
  if (!std::regex_search(help, m, std::regex(R"(verb TEXT:\{([a-z,]+)\})"))) return verbs;
  std::istringstream in(m[1].str());
  for (std::string v; std::getline(in, v, ',');) verbs.insert(v);
  return verbs;
}

TEST(CliDocs, EveryCommandTheDocsNameAnswersHelp) {
  auto mentions = documented_commands();
  ASSERT_GT(mentions.size(), 50u) << "the docs name fewer commands than expected: is the scan broken?";
  std::map<std::string, std::pair<int, std::string>> help;  // command words -> (exit code, output)
  auto run_help = [&](const std::vector<std::string>& words) -> const std::pair<int, std::string>& {
    std::string key;
    for (const auto& w : words) key += w + " ";
    auto it = help.find(key);
    if (it == help.end()) {
      std::vector<std::string> args = words;
      args.push_back("--help");
      std::string out;
      int rc = run_fedmesh(args, &out);
      it = help.emplace(key, std::make_pair(rc, out)).first;
    }
    return it->second;
  };
  const std::set<std::string> with_subcommands = {"ca", "config", "registry"};
  const std::set<std::string> with_verbs = {"job", "data"};
  std::set<std::string> seen;
  for (const auto& m : mentions) {
    if (m.words.empty()) continue;
    const auto& top = run_help({m.words[0]});
    // A span of prose whose first word is no command is a phrase, not a command.
    if (m.inline_span && top.first != 0 && top.second.find("is not a command") != std::string::npos) continue;
    EXPECT_EQ(top.first, 0) << m.where << ": fedmesh " << m.words[0] << " is not a command: " << top.second;
    if (top.first != 0) continue;
    seen.insert(m.words[0]);
    if (m.words.size() < 2) continue;
    if (with_subcommands.contains(m.words[0])) {
      const auto& sub = run_help({m.words[0], m.words[1]});
      EXPECT_EQ(sub.first, 0) << m.where << ": fedmesh " << m.words[0] << " " << m.words[1] << ": " << sub.second;
      seen.insert(m.words[0] + " " + m.words[1]);
    } else if (with_verbs.contains(m.words[0])) {
      auto verbs = verbs_in(top.second);
      EXPECT_TRUE(verbs.contains(m.words[1]))
          << m.where << ": fedmesh " << m.words[0] << " has no verb '" << m.words[1] << "': " << top.second;
      seen.insert(m.words[0] + " " + m.words[1]);
    }
  }
  // The commands every reader meets are among those checked.
  for (const char* c : {"node", "config check", "ca init", "ca issue", "up", "down", "call", "job submit", "job cancel",
                        "join", "data get", "status", "deploy"})
    EXPECT_TRUE(seen.contains(c)) << "no doc names `fedmesh " << c << "`";
}

TEST(CliDocs, AWordThatIsNoCommandIsNamedBack) {
  std::string out;
  EXPECT_EQ(run_fedmesh({"frobnicate"}, &out), 2);
  EXPECT_NE(out.find("'frobnicate' is not a command"), std::string::npos) << out;
  EXPECT_NE(out.find("node"), std::string::npos) << "the commands there are: " << out;
  EXPECT_EQ(run_fedmesh({"ca", "frob"}, &out), 2);
  EXPECT_NE(out.find("fedmesh ca: 'frob' is not a command (commands: init, issue"), std::string::npos) << out;
  EXPECT_EQ(run_fedmesh({"--version"}, &out), 0);
  EXPECT_TRUE(out.starts_with("fedmesh ")) << out;
  EXPECT_EQ(run_fedmesh({"job", "frob", "agg"}, &out), 2);
  EXPECT_NE(out.find("frob"), std::string::npos) << out;
}

// `fedmesh deploy NODE DIR` installs a package folder into a running node; `fedmesh status`
// takes the node's name in a network folder as `call` does, or its URL.
TEST(CliDocs, DeployInstallsAPackageFolderAndStatusTakesANodeName) {
  TempDir dir;
  Federation fed(dir);
  fed.add({"solo", {}});
  fed.start("solo");
  ASSERT_TRUE(fed.wait_healthy("solo"));
  std::string url = "http://127.0.0.1:" + std::to_string(fed.http_port("solo"));
  write_file(dir / "pkg/greeter/package.toml",
             "name = \"greeter\"\nversion = \"1.0.0\"\n[skills.hello]\nacl = \"local\"\n");
  write_file(dir / "pkg/greeter/main.lua",
             "skill('hello', function(args) return { text = (config.greeting or 'hello') .. ', ' .. args.who } end)\n");
  std::string out;
  ASSERT_EQ(run_fedmesh({"deploy", url, dir / "pkg/greeter", "--config", R"({"greeting": "hi"})"}, &out), 0) << out;
  auto called = http(fed.http_port("solo"), "POST", "/api/v1/skills/greeter/hello", R"({"who": "ann"})");
  EXPECT_EQ(called.status, 200) << called.body;
  EXPECT_EQ(called.json()["text"], "hi, ann") << called.body;
  // Bad input changes nothing: a folder without a package, a config that is not an object.
  EXPECT_EQ(run_fedmesh({"deploy", url, dir / "pkg/none"}, &out), 2);
  EXPECT_NE(out.find("pkg/none"), std::string::npos) << out;
  EXPECT_EQ(run_fedmesh({"deploy", url, dir / "pkg/greeter", "--config", "[1]"}, &out), 2);
  EXPECT_NE(out.find("--config must be a JSON object"), std::string::npos) << out;
  // status by URL; by a name, without a network folder: an error naming what is missing
  // (NetworkCli.UpCallEventInstallPsDown runs `fedmesh status red` in a network).
  EXPECT_EQ(run_fedmesh({"status", url}, &out), 0) << out;
  EXPECT_TRUE(out.starts_with("solo (")) << out;
  EXPECT_EQ(run_fedmesh({"status", "red", "--network", dir / "nowhere"}, &out), 2);
  EXPECT_NE(out.find("fedmesh status: "), std::string::npos) << out;
}

// The README's "Doing it by hand" block, run by bash as written in an empty folder with
// fedmesh on the PATH; only its ports are moved to free ones (in the text, and for the
// node by the FEDMESH_HTTP__LISTEN and FEDMESH_FEDERATION__LISTEN overrides).
TEST(CliDocs, TheReadmesByHandBlockRunsAsWritten) {
  std::string readme = read_file(source_dir() + "/README.md");
  auto section = readme.find("## Doing it by hand");
  ASSERT_NE(section, std::string::npos);
  auto open = readme.find("```sh\n", section);
  auto close = readme.find("\n```\n", open);
  ASSERT_NE(open, std::string::npos);
  ASSERT_NE(close, std::string::npos);
  std::string block = readme.substr(open + 6, close - open - 5);
  int http_port = free_port(), fed_port = free_port();
  for (auto at = block.find("3026"); at != std::string::npos; at = block.find("3026", at))
    block.replace(at, 4, std::to_string(http_port));
  TempDir dir;
  // Whatever happens, the node the block starts does not outlive it.
  write_file(dir / "by-hand.sh", "set -e\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + block);
  std::string bin_dir = fs::path(fedmesh_binary()).parent_path().string();
  Process run({"/usr/bin/timeout", "90", "/bin/bash", dir / "by-hand.sh"}, dir / "by-hand.log",
              {{"PATH", bin_dir + ":/usr/bin:/bin"},
               {"FEDMESH_HTTP__LISTEN", "127.0.0.1:" + std::to_string(http_port)},
               {"FEDMESH_FEDERATION__LISTEN", "127.0.0.1:" + std::to_string(fed_port)}},
              dir.path());
  EXPECT_EQ(run.wait(100s), 0) << run.log() << read_file(dir / "red.log");
  EXPECT_NE(run.log().find("red ("), std::string::npos) << run.log();
  EXPECT_NE(run.log().find("PEER"), std::string::npos) << run.log();
}

}  // namespace
}  // namespace fedmesh::testing
