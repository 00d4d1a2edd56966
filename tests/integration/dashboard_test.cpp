// The dashboard in a real headless Chromium, driven through chromedriver's WebDriver
// protocol (plain HTTP + JSON): run palette/color_blend red+yellow and see orange,
// exhaust yellow and see the error, keep a screenshot in the build tree.
#include <filesystem>

#include <gtest/gtest.h>

#include "support/harness.hpp"

namespace fedmesh::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
namespace fs = std::filesystem;

std::string packages_dir() {
  return source_dir() + "/examples/hello-federate/packages";
}

std::string base64_decode(const std::string& in) {
  static const std::string chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -8;
  for (char c : in) {
    auto pos = chars.find(c);
    if (pos == std::string::npos) continue;
    val = (val << 6) + static_cast<int>(pos);
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xFF));
      bits -= 8;
    }
  }
  return out;
}

class Browser {
 public:
  Browser(const TempDir& dir) : port_(free_port()) {
    driver_ = std::make_unique<Process>(
        std::vector<std::string>{"/usr/bin/chromedriver", "--port=" + std::to_string(port_)}, dir / "chromedriver.log");
    ready_ = wait_until(
        [&] {
          auto j = http(port_, "GET", "/status").json();
          return j.is_object() && j["value"].is_object() && j["value"].value("ready", false);
        },
        20s);
    if (!ready_) return;
    json caps = {{"capabilities",
                  {{"alwaysMatch",
                    {{"browserName", "chrome"},
                     {"goog:chromeOptions",
                      {{"binary", "/usr/bin/chromium"},
                       {"args",
                        {"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", "--no-first-run",
                         "--user-data-dir=" + (dir / "chromium-profile"), "--window-size=1280,1000"}}}}}}}}};
    auto r = http(port_, "POST", "/session", caps.dump(), {}, 60s);
    auto j = r.json();
    if (j.is_object() && j["value"].is_object()) session_ = j["value"].value("sessionId", "");
    error_ = r.body;
  }
  ~Browser() {
    if (!session_.empty()) http(port_, "DELETE", "/session/" + session_);
  }
  bool ok() const { return ready_ && !session_.empty(); }
  const std::string& error() const { return error_; }

  json command(const std::string& method, const std::string& path, const json& body = json::object()) {
    auto j = http(port_, method, "/session/" + session_ + path, method == "GET" ? "" : body.dump(), {}, 30s).json();
    return j.is_object() ? j["value"] : json();
  }
  std::string find(const std::string& css) {
    auto v = command("POST", "/element", {{"using", "css selector"}, {"value", css}});
    return v.is_object() && !v.empty() ? v.begin().value().get<std::string>() : "";
  }
  json script(const std::string& js) {
    return command("POST", "/execute/sync", {{"script", js}, {"args", json::array()}});
  }
  void click(const std::string& css) { command("POST", "/element/" + find(css) + "/click"); }
  void type(const std::string& css, const std::string& text) {
    auto id = find(css);
    command("POST", "/element/" + id + "/clear");
    command("POST", "/element/" + id + "/value", {{"text", text}});
  }
  std::string text(const std::string& css) {
    auto v = script("const e = document.querySelector('" + css + "'); return e ? e.innerText : '';");
    return v.is_string() ? v.get<std::string>() : "";
  }

 private:
  int port_;
  std::unique_ptr<Process> driver_;
  bool ready_ = false;
  std::string session_;
  std::string error_;
};

TEST(Dashboard, RunsABlendAndShowsErrorsInChromium) {
  ASSERT_TRUE(fs::exists("/usr/bin/chromedriver") && fs::exists("/usr/bin/chromium"))
      << "install chromium and chromium-driver (make deps)";
  TempDir dir;
  Federation f(dir);
  for (std::string c : {"red", "blue", "yellow"}) f.add({c, {}, "", "ca", "", {{"COLOR", c}}});
  f.add({"painter", {{"red", true}, {"blue", true}, {"yellow", true}}});
  for (std::string n : {"red", "blue", "yellow", "painter"}) f.start(n);
  for (std::string c : {"red", "blue", "yellow"}) {
    ASSERT_TRUE(wait_until([&] { return f.healthy(c); }, 10s));
    ASSERT_EQ(http(f.http_port(c), "POST", "/api/v1/packages", package_upload(packages_dir() + "/color_tools")).status,
              201);
  }
  int painter = f.http_port("painter");
  ASSERT_EQ(http(painter, "POST", "/api/v1/packages", package_upload(packages_dir() + "/palette")).status, 201);
  ASSERT_TRUE(wait_until([&] { return f.peer_state("painter", "yellow") == "up"; }, 10s));

  Browser b(dir);
  ASSERT_TRUE(b.ok()) << b.error() << read_file(dir / "chromedriver.log");
  b.command("POST", "/url", {{"url", "http://127.0.0.1:" + std::to_string(painter) + "/"}});
  ASSERT_TRUE(wait_until([&] { return b.text("#node-name") == "painter"; }, 10s));
  ASSERT_TRUE(wait_until([&] { return !b.find("#skill-select option[value='palette/color_blend']").empty(); }, 10s));

  auto blend = [&](const std::string& args) {
    b.click("#skill-select option[value='palette/color_blend']");
    b.type("#skill-args", args);
    b.script("document.querySelector('#result').hidden = true;");
    b.click("#run-skill");
    wait_until([&] { return b.script("return !document.querySelector('#result').hidden").get<bool>(); }, 10s);
    return b.text("#result");
  };
  auto first = blend(R"({"color1":"red","color2":"yellow"})");
  EXPECT_NE(first.find("orange #FFA500"), std::string::npos) << first;
  EXPECT_EQ(b.script("return document.querySelector('#result').className").get<std::string>(), "result ok");
  // Yellow started with 2 units and has 1: the second yellow of this blend is not there.
  auto out = blend(R"({"color1":"yellow","color2":"yellow"})");
  EXPECT_NE(out.find("out_of_stock"), std::string::npos) << out;
  EXPECT_NE(out.find("yellow is unavailable (node yellow)"), std::string::npos) << out;
  EXPECT_EQ(b.script("return document.querySelector('#result').className").get<std::string>(), "result error");
  // The ledger table shows the failed call.
  EXPECT_TRUE(wait_until([&] { return b.text("#ledger").find("out_of_stock") != std::string::npos; }, 5s));

  auto png = base64_decode(b.command("GET", "/screenshot").get<std::string>());
  fs::create_directories(fs::path(FEDMESH_ARTIFACTS_DIR));
  std::string shot = std::string(FEDMESH_ARTIFACTS_DIR) + "/dashboard-painter.png";
  write_file(shot, png);
  EXPECT_GT(png.size(), 1000u);
  std::cout << "dashboard screenshot: " << shot << "\n";
}

}  // namespace
}  // namespace fedmesh::testing
