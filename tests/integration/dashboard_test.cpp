// The dashboard in a real headless Chromium, driven through chromedriver's WebDriver
// protocol (plain HTTP + JSON): run palette/color_blend red+yellow and see orange,
// exhaust yellow and see the error, keep a screenshot in the build tree.
#include <filesystem>

#include <gtest/gtest.h>

#include "support/browser.hpp"

namespace fedmesh::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
namespace fs = std::filesystem;

// The text of the first element `css` selects, shown or not ("" when there is none).
std::string text_content(Browser& b, const std::string& css) {
  auto text = b.script("const e = document.querySelector(" + json(css).dump() + "); return e ? e.textContent : '';");
  return text.is_string() ? text.get<std::string>() : "";
}

std::string packages_dir() {
  return source_dir() + "/examples/hello-federate/packages";
}

TEST(Dashboard, RunsABlendAndShowsErrorsInChromium) {
  ASSERT_TRUE(fs::exists("/usr/bin/chromedriver") && fs::exists("/usr/bin/chromium"))
      << "install chromium and chromium-driver (make deps)";
  TempDir dir;
  Federation f(dir);
  for (std::string c : {"red", "blue", "yellow"}) f.add({c, {}, "", "ca", "", {{"COLOR", c}}});
  f.add({"painter", {{"red", true}, {"blue", true}, {"yellow", true}}});
  for (std::string n : {"red", "blue", "yellow", "painter"}) f.start(n);
  for (std::string c : {"red", "blue", "yellow"}) {
    ASSERT_TRUE(f.wait_healthy(c));
    ASSERT_EQ(http(f.http_port(c), "POST", "/api/v1/packages", package_upload(packages_dir() + "/color_tools")).status,
              201);
  }
  ASSERT_TRUE(f.wait_healthy("painter"));
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

  // A package whose startup fails shows as failed, with its reason and a Resume button.
  json boom = {
      {"manifest", "name = \"boom\"\nversion = \"1\"\n[skills.hi]\n"},
      {"files", {{"main.lua", "skill('hi', function() return 1 end) on('startup', function() error('no') end)"}}}};
  ASSERT_EQ(http(painter, "POST", "/api/v1/packages", boom.dump()).status, 201);
  ASSERT_EQ(http(painter, "POST", "/api/v1/events/startup", "").status, 200);
  b.command("POST", "/url", {{"url", "http://127.0.0.1:" + std::to_string(painter) + "/"}});
  ASSERT_TRUE(wait_until([&] { return !b.find(".package[data-status=\"failed\"] .resume").empty(); }, 10s));
  EXPECT_NE(b.text(".package[data-status=\"failed\"]").find("startup handler failed"), std::string::npos)
      << b.text(".package[data-status=\"failed\"]");
  b.screenshot("dashboard-failed-package.png");
  b.click(".package[data-status=\"failed\"] .resume");
  EXPECT_TRUE(wait_until([&] { return b.find(".package[data-status=\"failed\"]").empty(); }, 10s));

  auto shot = b.screenshot("dashboard-painter.png");
  EXPECT_GT(fs::file_size(shot), 1000u);
  std::cout << "dashboard screenshot: " << shot << "\n";
}

TEST(Dashboard, TheDataPageShowsCollectionsEntitiesAndHistory) {
  ASSERT_TRUE(fs::exists("/usr/bin/chromedriver") && fs::exists("/usr/bin/chromium"));
  TempDir dir;
  Federation f(dir);
  f.add({"a", {}, "[data]\nshare = [{collection = \"*\", with = [\"*\"]}]\n"});
  f.start("a");
  ASSERT_TRUE(f.wait_healthy("a"));
  int port = f.http_port("a");
  ASSERT_EQ(http(port, "PUT", "/api/v1/data/shipment/SHP-1", R"({"status":"packed","pallets":3})").status, 200);
  ASSERT_EQ(http(port, "PUT", "/api/v1/data/shipment/SHP-1", R"({"status":"in transit"})").status, 200);
  ASSERT_EQ(http(port, "PUT", "/api/v1/data/shipment/SHP-2", R"({"status":"packed"})").status, 200);

  Browser b(dir);
  ASSERT_TRUE(b.ok()) << b.error();
  b.open("http://127.0.0.1:" + std::to_string(port) + "/#data");
  ASSERT_TRUE(wait_until([&] { return !b.find("#data-collections a.collection[data-name='shipment']").empty(); }, 10s));
  // The shipment row's count of entities, exactly.
  EXPECT_EQ(b.script("return document.querySelector(\"#data-collections a.collection[data-name='shipment']\")"
                     ".closest('tr').cells[1].textContent"),
            "2")
      << b.text("#data-collections");
  b.click("#data-collections a.collection[data-name='shipment']");
  ASSERT_TRUE(wait_until([&] { return !b.find("#data-entities a.entity[data-id='SHP-1']").empty(); }, 10s));
  b.click("#data-entities a.entity[data-id='SHP-1']");
  ASSERT_TRUE(wait_until([&] { return b.text("#data-history").find("in transit") != std::string::npos; }, 10s));
  std::string history = b.text("#data-history");
  EXPECT_NE(history.find("packed"), std::string::npos) << history;  // the earlier value stays in the history
  EXPECT_NE(history.find("pallets"), std::string::npos) << history;
  EXPECT_NE(b.text("#data-resolved").find("in transit"), std::string::npos);
  b.screenshot("dashboard-data.png");
}

TEST(Dashboard, TheJobsPageShowsClientsJobsAndResultsInChromium) {
  ASSERT_TRUE(fs::exists("/usr/bin/chromedriver") && fs::exists("/usr/bin/chromium"));
  TempDir dir;
  Federation f(dir);
  std::string data = source_dir() + "/data/california/california_housing.validation.csv";
  f.add({"agg", {}, "roles = [\"aggregator\"]\n[[jobs.projects]]\nname = \"housing\"\ntoken = \"dash-token-123\"\n"});
  f.add({"north",
         {},
         "roles = [\"client\"]\n[jobs]\naggregator = \"https://127.0.0.1:" + std::to_string(f.fed_port("agg")) +
             "\"\n[[jobs.datasources]]\nname = \"holdout\"\npath = \"" + data + "\"\ntokens = [\"dash-token-123\"]\n"});
  f.start("agg");
  f.start("north");
  int port = f.http_port("agg");
  ASSERT_TRUE(wait_until([&] { return http(port, "GET", "/api/v1/jobs/clients").json()["clients"].size() == 1; }, 15s));
  auto r = http(port, "POST", "/api/v1/jobs",
                R"({"project":"housing","token":"dash-token-123","operation":{"kind":"count"}})");
  ASSERT_EQ(r.status, 201) << r.body;
  std::string id = r.json()["id"];
  ASSERT_TRUE(wait_until([&] { return http(port, "GET", "/api/v1/jobs/" + id).json()["state"] == "completed"; }, 15s));

  Browser b(dir);
  ASSERT_TRUE(b.ok()) << b.error();
  b.open("http://127.0.0.1:" + std::to_string(port) + "/#jobs");
  ASSERT_TRUE(wait_until([&] { return !b.find("#jobs-list a.job[data-id='" + id + "']").empty(); }, 10s))
      << b.text("#jobs");
  EXPECT_NE(b.text("#jobs-clients").find("north"), std::string::npos);
  EXPECT_EQ(text_content(b, "#jobs-clients .datasource"), "holdout 2064 rows, 9 columns housing")
      << b.text("#jobs-clients");
  EXPECT_NE(b.text("#jobs-list").find("completed"), std::string::npos);
  b.click("#jobs-list a.job[data-id='" + id + "']");
  // The result as the API gives it, shown as JSON: the validation split's 2064 rows.
  ASSERT_TRUE(wait_until(
      [&] {
        return json::parse(text_content(b, "#job-result"), nullptr, false) == json{{"count", 2064}};
      },
      10s))
      << text_content(b, "#job-result");
  EXPECT_NE(b.text("#job-tasks").find("holdout"), std::string::npos);
  b.screenshot("dashboard-jobs.png");
  // The client's own dashboard shows its datasource and the aggregator it works for.
  b.open("http://127.0.0.1:" + std::to_string(f.http_port("north")) + "/#worker");
  ASSERT_TRUE(wait_until([&] { return b.text("#worker-summary").find("connected to agg") != std::string::npos; }, 10s))
      << b.text("#worker-summary");
  EXPECT_NE(b.text("#worker-datasources").find("holdout"), std::string::npos);
}

}  // namespace
}  // namespace fedmesh::testing
