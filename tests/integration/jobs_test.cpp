// Federated jobs with real processes on loopback: an aggregator and three clients, one
// per California split, whose results must equal the same computation over the whole
// file; leases that expire and are granted again; bad input that changes nothing; two
// aggregators sharing one PostgreSQL database; standalone; Flotta's config; joining.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>

#include "core/json.hpp"
#include "crypto/certs.hpp"
#include "jobs/aggregator.hpp"
#include "jobs/operations.hpp"
#include "jobs/table.hpp"
#include "support/california.hpp"
#include "support/harness.hpp"
#include "support/json_close.hpp"
#include "support/peer_client.hpp"
#include "support/postgres.hpp"

namespace fedmesh::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kToken = "housing-token-4f1c9a";

std::string aggregator_extra(const std::string& more = "", const std::string& jobs_more = "") {
  std::string lease = jobs_more.find("lease =") == std::string::npos ? "lease = \"2s\"\n" : "";
  return "roles = [\"aggregator\"]\n" + more + "\n[jobs]\n" + lease + jobs_more +
         "\n[[jobs.projects]]\nname = \"housing\"\ntoken = \"" + std::string(kToken) + "\"\n";
}

std::string datasource(const std::string& name, const std::string& path, const std::string& extra = "") {
  return "\n[[jobs.datasources]]\nname = \"" + name + "\"\npath = \"" + path + "\"\ntokens = [\"" + kToken + "\"]\n" +
         extra;
}

std::string client_extra(int aggregator_port, const std::string& sources, const std::string& jobs_more = "") {
  return "roles = [\"client\"]\n\n[jobs]\naggregator = \"https://127.0.0.1:" + std::to_string(aggregator_port) +
         "\"\npoll = \"2s\"\n" + jobs_more + sources;
}

// The whole computation over one table, in process: what a single site would get.
json single_site(const json& spec, const std::vector<std::string>& files, const json& where = nullptr) {
  auto op = jobs::parse_operation(spec);
  EXPECT_TRUE(op) << op.error().message();
  // One table holding every row of `files`.
  std::string text;
  for (std::size_t i = 0; i < files.size(); ++i) {
    std::string content = read_file(california(files[i]));
    text += i == 0 ? content : content.substr(content.find('\n') + 1);
  }
  auto table = jobs::parse_table(text, ',', "single");
  EXPECT_TRUE(table);
  auto rows = jobs::select_rows(*table, where);
  json input = jobs::first_input(*op), state = json::object();
  for (int round = 0; round < op->rounds; ++round) {
    auto p = jobs::compute_partial(*op, input, *table, *rows, 7);
    EXPECT_TRUE(p) << p.error().message();
    auto step = jobs::combine_round(*op, round, input, {*p}, state);
    EXPECT_TRUE(step) << step.error().message();
    if (step->done)
      return step->model.is_null() ? step->result : json{{"result", step->result}, {"model", step->model}};
    input = step->next_input;
  }
  return nullptr;
}

// Evaluates a model (as a job returns it) on a file, in process.
json evaluate_on(const json& model, const std::string& file) {
  auto op = jobs::parse_operation({{"kind", "evaluate"}, {"model", "local"}});
  auto table = jobs::read_table(california(file), ',');
  auto rows = jobs::select_rows(*table, nullptr);
  auto p = jobs::compute_partial(*op, model, *table, *rows);
  EXPECT_TRUE(p) << p.error().message();
  json state;
  return jobs::combine_round(*op, 0, model, {*p}, state)->result;
}

class JobsNetwork {
 public:
  explicit JobsNetwork(const TempDir& dir, const std::string& aggregator_more = "", const std::string& jobs_more = "",
                       const std::string& federation_more = "")
      : fed_(dir) {
    fed_.add({"agg", {}, aggregator_extra(aggregator_more, jobs_more), "ca", federation_more});
  }
  Federation& fed() { return fed_; }
  void add_client(const std::string& name, const std::string& sources, const std::string& jobs_more = "") {
    fed_.add({name, {}, client_extra(fed_.fed_port("agg"), sources, jobs_more)});
  }
  int api() { return fed_.http_port("agg"); }

  // Submits and waits; the final job document.
  json run(const json& artifact, std::chrono::milliseconds timeout = 60s) {
    auto r = http(api(), "POST", "/api/v1/jobs", artifact.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    std::string id = string_or(r.json(), "id");
    json job;
    EXPECT_TRUE(wait_until(
        [&] {
          job = http(api(), "GET", "/api/v1/jobs/" + id).json();
          return string_or(job, "state") == "completed" || string_or(job, "state") == "failed";
        },
        timeout))
        << job.dump(2);
    return job;
  }
  bool clients_connected(std::size_t n) {
    return wait_until([&] { return http(api(), "GET", "/api/v1/jobs/clients").json()["clients"].size() == n; }, 20s);
  }

 private:
  Federation fed_;
};

json artifact(const json& operation, const json& where = nullptr) {
  json a = {{"project", "housing"}, {"token", kToken}, {"operation", operation}};
  if (!where.is_null()) a["where"] = where;
  return a;
}

// A process holding c1's certificate that says hello as c1 would, with the first split.
::testing::AssertionResult ghost_hello(PeerClient& ghost, int fed_port) {
  auto table = jobs::read_table(california(kSplits[0].second), ',');
  json report = table->metadata();
  report["name"] = "medinc1";
  report["tokens"] = {jobs::token_digest(kToken)};
  auto hello = ghost.post(fed_port, "agg", "/fed/v1/jobs/hello", json{{"datasources", {report}}}.dump());
  if (hello && hello->status == 200) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << (hello ? hello->body : hello.error().message());
}

class JobsThreeClients : public ::testing::Test {
 protected:
  void SetUp() override {
    // Nothing here expires a lease: a long one, so a forest or 20 logistic rounds computed
    // under the sanitizers on two busy cores never outlast it (the 2 s default is for the
    // tests that do expire leases).
    net_ = std::make_unique<JobsNetwork>(dir_, "", "lease = \"60s\"\n");
    for (std::size_t i = 0; i < kSplits.size(); ++i)
      net_->add_client("c" + std::to_string(i + 1), datasource(kSplits[i].first, california(kSplits[i].second)));
    for (const char* n : {"agg", "c1", "c2", "c3"}) net_->fed().start(n);
    ASSERT_TRUE(net_->clients_connected(3)) << net_->fed().process("agg").log();
  }
  TempDir dir_;
  std::unique_ptr<JobsNetwork> net_;
};

TEST_F(JobsThreeClients, StatisticsOverThreeSplitsEqualTheWholeFile) {
  std::vector<std::string> whole = {"california.csv"};
  std::vector<std::string> columns = kFeatures;
  columns.insert(columns.end(), {"Latitude", "Longitude", "MedHouseValDiscrete"});
  auto count = net_->run(artifact({{"kind", "count"}}));
  ASSERT_EQ(count["state"], "completed") << count.dump(2);
  EXPECT_EQ(count["result"]["count"], 20'640);
  EXPECT_EQ(count["tasks"].size(), 3u);
  for (const json& op : {json{{"kind", "mean"}, {"columns", columns}}, json{{"kind", "variance"}, {"columns", columns}},
                         json{{"kind", "min_max"}, {"columns", columns}},
                         json{{"kind", "histogram"}, {"column", "MedInc"}, {"bins", {0, 2, 4, 6, 8, 16}}},
                         json{{"kind", "group_count"}, {"by", "MedHouseValDiscrete"}},
                         json{{"kind", "group_mean"}, {"by", "MedHouseValDiscrete"}, {"columns", {"MedInc"}}}}) {
    auto job = net_->run(artifact(op));
    ASSERT_EQ(job["state"], "completed") << job.dump(2);
    expect_close(job["result"], single_site(op, whole), 1e-9);
  }
  json where = {{"<", {{{"var", "HouseAge"}}, 20}}};
  auto filtered = net_->run(artifact({{"kind", "count"}}, where));
  EXPECT_EQ(filtered["result"], single_site({{"kind", "count"}}, whole, where));
  json linear = {{"kind", "linear_regression"}, {"target", "Latitude"}, {"features", kFeatures}};
  auto lr = net_->run(artifact(linear));
  ASSERT_EQ(lr["state"], "completed") << lr.dump(2);
  expect_close(lr["result"], single_site(linear, whole), 1e-6);
  // Partial results stay at the aggregator unless it allows them out.
  EXPECT_FALSE(lr["tasks"][0].contains("result"));
}

TEST_F(JobsThreeClients, ModelsTrainOnTwoSplitsAndScoreOnTheThirdWithoutMovingRows) {
  std::vector<std::string> train = {kSplits[0].second, kSplits[1].second};
  json logistic = {{"kind", "logistic_regression"},
                   {"target", "MedHouseValDiscrete"},
                   {"features", kFeatures},
                   {"rounds", 20},
                   {"learning_rate", 0.5}};
  json a = artifact(logistic);
  a["datasources"] = {"medinc1", "medinc2"};
  auto job = net_->run(a);
  ASSERT_EQ(job["state"], "completed") << job.dump(2);
  EXPECT_EQ(job["result"]["accuracy"].size(), 20u);
  auto eval = net_->run(artifact({{"kind", "evaluate"}, {"model", job["id"]}, {"datasource", "validation"}}));
  ASSERT_EQ(eval["state"], "completed") << eval.dump(2);
  EXPECT_EQ(eval["tasks"].size(), 1u);
  auto single = single_site(logistic, train);
  double single_accuracy = evaluate_on(single["model"], kSplits[2].second)["accuracy"].get<double>();
  EXPECT_NEAR(eval["result"]["accuracy"].get<double>(), single_accuracy, 0.01);

  json forest = {{"kind", "random_forest"},
                 {"target", "MedHouseValDiscrete"},
                 {"features", {"MedInc", "HouseAge", "AveRooms", "AveOccup", "Latitude", "Longitude"}},
                 {"trees_per_datasource", 10},
                 {"max_depth", 8}};
  json fa = artifact(forest);
  fa["datasources"] = {"medinc1", "medinc2"};
  auto fjob = net_->run(fa);
  ASSERT_EQ(fjob["state"], "completed") << fjob.dump(2);
  EXPECT_EQ(fjob["result"]["trees"], 20);
  auto feval = net_->run(artifact({{"kind", "evaluate"}, {"model", fjob["id"]}, {"datasource", "validation"}}));
  ASSERT_EQ(feval["state"], "completed") << feval.dump(2);
  json single_forest = forest;
  single_forest["trees_per_datasource"] = 20;
  double single_forest_accuracy =
      evaluate_on(single_site(single_forest, train)["model"], kSplits[2].second)["accuracy"].get<double>();
  EXPECT_NEAR(feval["result"]["accuracy"].get<double>(), single_forest_accuracy, 0.02);
  auto model = http(net_->api(), "GET", "/api/v1/jobs/" + fjob["id"].get<std::string>() + "/model").json();
  EXPECT_EQ(model["forest"]["trees"].size(), 20u);
}

TEST_F(JobsThreeClients, BadJobsAreRefusedAndChangeNothing) {
  auto before = http(net_->api(), "GET", "/api/v1/jobs").json()["jobs"].size();
  auto expect = [&](const json& body, int status, const std::string& says) {
    auto r = http(net_->api(), "POST", "/api/v1/jobs", body.is_string() ? body.get<std::string>() : body.dump());
    EXPECT_EQ(r.status, status) << body << " -> " << r.body;
    EXPECT_NE(r.body.find(says), std::string::npos) << r.body;
  };
  json wrong = artifact({{"kind", "count"}});
  wrong["token"] = "not-the-token";
  expect(wrong, 403, "unknown project or wrong token");
  json unknown = artifact({{"kind", "count"}});
  unknown["project"] = "secret-project";
  expect(unknown, 403, "unknown project or wrong token");  // the same answer: nothing learned
  json missing = artifact({{"kind", "count"}});
  missing.erase("token");
  expect(missing, 400, "'token' must be a string");
  expect(json("{not json"), 400, "bad_json");
  expect(artifact({{"kind", "median"}}), 400, "unknown operation kind 'median'");
  expect(artifact({{"kind", "mean"}, {"columns", {"NoSuchColumn"}}}), 400, "unknown column 'NoSuchColumn'");
  expect(artifact({{"kind", "count"}}, {{"frobnicate", {1, 2}}}), 400, "where");
  json extra = artifact({{"kind", "count"}});
  extra["pickle"] = "gASV";
  expect(extra, 400, "unknown field 'pickle'");
  EXPECT_EQ(http(net_->api(), "GET", "/api/v1/jobs").json()["jobs"].size(), before);
  EXPECT_EQ(http(net_->api(), "GET", "/api/v1/jobs/job-nope").status, 404);
}

TEST(Jobs, AClientThatDiesHoldingALeaseHasItsTaskLeasedAgainAndCompletedOnce) {
  TempDir dir;
  JobsNetwork net(dir);
  net.add_client("c1", datasource("medinc1", california(kSplits[0].second)));
  net.fed().start("agg");
  // A process holding c1's certificate says hello, takes the task, sends a result of the
  // wrong shape (refused, nothing changes) and then never answers again: a crash.
  PeerClient ghost(dir, "c1");
  int fed = net.fed().fed_port("agg");
  ASSERT_TRUE(ghost_hello(ghost, fed));
  auto submitted = http(net.api(), "POST", "/api/v1/jobs", artifact({{"kind", "count"}}).dump());
  ASSERT_EQ(submitted.status, 201) << submitted.body;
  std::string id = submitted.json()["id"];
  auto next = ghost.post(fed, "agg", "/fed/v1/jobs/next", R"({"wait_ms": 5000})");
  ASSERT_TRUE(next && next->status == 200);
  json task = json::parse(next->body)["task"];
  ASSERT_TRUE(task.is_object()) << next->body;
  EXPECT_EQ(task["token"], kToken);
  EXPECT_EQ(task["operation"]["kind"], "count");
  json bad = {{"task", task["id"]}, {"lease", task["lease"]}, {"result", {{"n", "many"}}}};
  auto refused = ghost.post(fed, "agg", "/fed/v1/jobs/result", bad.dump());
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 400) << refused->body;
  json other = {{"task", task["id"]}, {"lease", "not-the-lease"}, {"result", {{"n", 1}}}};
  auto stale = ghost.post(fed, "agg", "/fed/v1/jobs/result", other.dump());
  ASSERT_TRUE(stale);
  EXPECT_EQ(stale->status, 409) << stale->body;
  EXPECT_EQ(http(net.api(), "GET", "/api/v1/jobs/" + id).json()["state"], "running");

  // The real client starts; once the lease expires (2 s) the task is leased to it again.
  net.fed().start("c1");
  json job;
  ASSERT_TRUE(wait_until(
      [&] {
        job = http(net.api(), "GET", "/api/v1/jobs/" + id).json();
        return string_or(job, "state") == "completed";
      },
      20s))
      << job.dump(2) << net.fed().process("agg").log();
  EXPECT_EQ(job["result"]["count"], 9288);
  EXPECT_EQ(job["tasks"][0]["attempts"], 2);
  // The first lease's result, arriving late, is refused: the task completed once.
  json late = {{"task", task["id"]}, {"lease", task["lease"]}, {"result", {{"n", 1}}}};
  auto after = ghost.post(fed, "agg", "/fed/v1/jobs/result", late.dump());
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 409) << after->body;
  EXPECT_EQ(http(net.api(), "GET", "/api/v1/jobs/" + id).json()["result"]["count"], 9288);
}

TEST(Jobs, ATaskWhoseLeaseExpiresOnEveryAttemptFailsTheJobWithTheReason) {
  TempDir dir;
  JobsNetwork net(dir, "");
  net.fed().add(
      {"c1", {}, client_extra(net.fed().fed_port("agg"), datasource("medinc1", california(kSplits[0].second)))});
  net.fed().start("agg");
  PeerClient ghost(dir, "c1");
  int fed = net.fed().fed_port("agg");
  ASSERT_TRUE(ghost_hello(ghost, fed));
  auto submitted = http(net.api(), "POST", "/api/v1/jobs", artifact({{"kind", "count"}}).dump());
  std::string id = submitted.json()["id"];
  // Three leases (max_attempts), none answered.
  for (int i = 0; i < 3; ++i) {
    auto next = ghost.post(fed, "agg", "/fed/v1/jobs/next", R"({"wait_ms": 8000})");
    ASSERT_TRUE(next && next->status == 200);
    ASSERT_TRUE(json::parse(next->body)["task"].is_object()) << i << ": " << next->body;
  }
  json job;
  ASSERT_TRUE(wait_until(
      [&] {
        job = http(net.api(), "GET", "/api/v1/jobs/" + id).json();
        return string_or(job, "state") == "failed";
      },
      15s))
      << job.dump(2);
  EXPECT_NE(job["error"]["message"].get<std::string>().find("within its lease on any of 3 attempts"), std::string::npos)
      << job.dump(2);
}

TEST(Jobs, ADatasourceRefusesAJobOverFewerRowsThanItsMinimum) {
  TempDir dir;
  JobsNetwork net(dir);
  net.add_client("c1", datasource("medinc1", california(kSplits[0].second), "min_rows = 100\n"));
  for (const char* n : {"agg", "c1"}) net.fed().start(n);
  ASSERT_TRUE(net.clients_connected(1));
  auto ok = net.run(artifact({{"kind", "count"}}, {{">", {{{"var", "HouseAge"}}, 10}}}));
  EXPECT_EQ(ok["state"], "completed");
  auto few = net.run(artifact({{"kind", "count"}}, {{"<", {{{"var", "HouseAge"}}, 3}}}));
  ASSERT_EQ(few["state"], "failed") << few.dump(2);
  EXPECT_NE(few["error"]["message"].get<std::string>().find("refuses: the job selects fewer rows than its minimum"),
            std::string::npos)
      << few.dump(2);
  EXPECT_TRUE(few["result"].is_null());
}

TEST(Jobs, AClientWhoseCertificateTheAggregatorDoesNotTrustIsRefused) {
  TempDir dir;
  JobsNetwork net(dir);
  net.fed().add({"rogue",
                 {},
                 client_extra(net.fed().fed_port("agg"), datasource("medinc1", california(kSplits[0].second))),
                 "other"});
  for (const char* n : {"agg", "rogue"}) net.fed().start(n);
  // The rogue trusts the aggregator's CA, but its own certificate comes from another CA.
  ASSERT_TRUE(wait_until(
      [&] {
        auto w = http(net.fed().http_port("rogue"), "GET", "/api/v1/worker").json();
        return w["last_error"].is_string();
      },
      10s));
  EXPECT_EQ(http(net.api(), "GET", "/api/v1/jobs/clients").json()["clients"].size(), 0u);
  EXPECT_FALSE(http(net.fed().http_port("rogue"), "GET", "/api/v1/worker").json()["connected"].get<bool>());
}

TEST(Jobs, StandaloneRunsAJobFromOneConfigFileCountingEachDatasourceOnce) {
  TempDir dir;
  int port = free_port();
  std::string config =
      "name = \"solo\"\nroles = [\"standalone\"]\nworkdir = \"var/solo\"\n\n[http]\nlisten = \"127.0.0.1:" +
      std::to_string(port) + "\"\n\n[jobs]\n\n[[jobs.projects]]\nname = \"housing\"\ntoken = \"" + kToken + "\"\n";
  for (const auto& [name, file] : kSplits) config += datasource(name, california(file));
  write_file(dir / "solo.toml", config);
  Process node({fedmesh_binary(), "node", "--config", dir / "solo.toml"}, dir / "solo.log");
  ASSERT_TRUE(wait_until([&] { return http(port, "GET", "/api/v1/jobs/clients").json()["clients"].size() == 1; }, 15s))
      << node.log();
  auto r = http(port, "POST", "/api/v1/jobs", artifact({{"kind", "count"}}).dump());
  ASSERT_EQ(r.status, 201) << r.body;
  std::string out;
  ASSERT_EQ(run_fedmesh({"job", "wait", "http://127.0.0.1:" + std::to_string(port), r.json()["id"]}, &out), 0) << out;
  EXPECT_EQ(json::parse(out)["count"], 20'640);
  auto job = http(port, "GET", "/api/v1/jobs/" + r.json()["id"].get<std::string>()).json();
  EXPECT_EQ(job["tasks"].size(), 3u);  // one per datasource of the one client
  // The CLI submits and waits in one go; a failing job exits non-zero.
  ASSERT_EQ(run_fedmesh({"job", "submit", "http://127.0.0.1:" + std::to_string(port), "--project", "housing",
                         "--operation", R"({"kind":"mean","columns":["MedInc"]})", "--wait"},
                        &out, {{"FEDMESH_PROJECT_TOKEN", kToken}}),
            0)
      << out;
  EXPECT_NE(out.find("\"mean\""), std::string::npos) << out;
  EXPECT_NE(run_fedmesh(
                {"job", "submit", "http://127.0.0.1:" + std::to_string(port), "--project", "housing", "--operation",
                 R"({"kind":"mean","columns":["MedInc"]})", "--where", R"({"<": [{"var": "HouseAge"}, 0]})", "--wait"},
                &out, {{"FEDMESH_PROJECT_TOKEN", kToken}}),
            2);
  EXPECT_EQ(run_fedmesh({"job", "submit", "http://127.0.0.1:" + std::to_string(port), "--operation", "{}"}, &out), 2);
}

TEST(Jobs, TwoAggregatorsOnOnePostgresqlShareTheWorkAndSurviveOneKilled) {
  PostgresServer pg;
  std::string url = pg.create_database();
  TempDir dir;
  Federation fed(dir);
  std::string store = "\n[store]\nbackend = \"postgresql\"\nurl = \"" + url + "\"\n";
  fed.add({"agg1", {}, aggregator_extra(store)});
  fed.add({"agg2", {}, aggregator_extra(store)});
  auto fallback = [&](const std::string& second) {
    return "fallback_aggregators = [\"https://127.0.0.1:" + std::to_string(fed.fed_port(second)) + "\"]\n";
  };
  fed.add({"c1",
           {},
           client_extra(fed.fed_port("agg1"), datasource("medinc1", california(kSplits[0].second)), fallback("agg2"))});
  fed.add({"c2",
           {},
           client_extra(fed.fed_port("agg2"), datasource("medinc2", california(kSplits[1].second)), fallback("agg1"))});
  for (const char* n : {"agg1", "agg2", "c1", "c2"}) fed.start(n);
  int api1 = fed.http_port("agg1"), api2 = fed.http_port("agg2");
  ASSERT_TRUE(wait_until([&] { return http(api2, "GET", "/api/v1/jobs/clients").json()["clients"].size() == 2; }, 20s));
  // 25 jobs of 2 tasks each: the first half through agg1, which is then killed mid-stream.
  std::vector<std::string> ids;
  for (int i = 0; i < 25; ++i) {
    if (i == 12) fed.stop("agg1", SIGKILL);
    auto r = http(i < 12 ? api1 : api2, "POST", "/api/v1/jobs", artifact({{"kind", "count"}}).dump());
    ASSERT_EQ(r.status, 201) << i << ": " << r.body;
    ids.push_back(r.json()["id"]);
  }
  for (const auto& id : ids) {
    json job;
    ASSERT_TRUE(wait_until(
        [&] {
          job = http(api2, "GET", "/api/v1/jobs/" + id).json();
          return string_or(job, "state") == "completed" || string_or(job, "state") == "failed";
        },
        30s))
        << job.dump(2);
    ASSERT_EQ(job["state"], "completed") << job.dump(2);
    EXPECT_EQ(job["result"]["count"], 9288 * 2) << job.dump(2);
    ASSERT_EQ(job["tasks"].size(), 2u);
    for (const auto& t : job["tasks"]) EXPECT_EQ(t["state"], "done");
  }
}

TEST(Jobs, AFlottaConfigRunsAnAggregatorAndAClient) {
  TempDir dir;
  ASSERT_EQ(run_fedmesh({"ca", "init", dir / "ca"}), 0);
  for (const char* n : {"flottaagg", "flottaclient"})
    ASSERT_EQ(
        run_fedmesh({"ca", "issue", "--ca", dir / "ca", "--name", n, "--out", dir / "certs", "--organization", n}), 0);
  write_file(dir / "certs/ca.crt", read_file(dir / "ca/ca.crt"));
  int agg_http = free_port(), agg_fed = free_port(), client_http = free_port(), client_fed = free_port();
  write_file(dir / "aggregator.yaml", R"(workdir: ./var/agg
mode: node
node:
  name: flottaAgg
  healthcheck: 3600.0
  heartbeat: 2.0
  allow_resource_download: false
  protocol: http
  interface: 127.0.0.1
  port: )" + std::to_string(agg_fed) + R"(
  token_projects_initial:
    - name: housing
      token: ${HOUSING_TOKEN}
join:
  first: true
  url: ""
datasources:
  - name: medinc2
    kind: file
    type: csv
    path: )" + california(kSplits[1].second) +
                                          R"(
    token:
      - ${HOUSING_TOKEN}
database:
  memory: true
fedmesh:
  http:
    listen: 127.0.0.1:)" + std::to_string(agg_http) +
                                          "\n");
  write_file(dir / "client.yaml", R"(workdir: ./var/client
mode: client
node:
  name: flottaClient
  heartbeat: 2.0
join:
  first: false
  url: http://127.0.0.1:)" + std::to_string(agg_fed) +
                                      R"(
datasources:
  - name: medinc1
    kind: file
    type: csv
    path: )" + california(kSplits[0].second) +
                                      R"(
    token:
      - ${HOUSING_TOKEN}
database:
  dialect: sqlite
  host: ./client.db
  scheme: flotta
fedmesh:
  http:
    listen: 127.0.0.1:)" + std::to_string(client_http) +
                                      R"(
  federation:
    listen: 127.0.0.1:)" + std::to_string(client_fed) +
                                      "\n");
  std::map<std::string, std::string> env = {{"HOUSING_TOKEN", kToken}};
  std::string out;
  ASSERT_EQ(run_fedmesh({"config", "check", dir / "aggregator.yaml"}, &out, env), 0) << out;
  EXPECT_NE(out.find("node.healthcheck: not used"), std::string::npos) << out;
  EXPECT_EQ(out.find(kToken), std::string::npos) << "the token is masked: " << out;
  Process agg({fedmesh_binary(), "node", "--config", dir / "aggregator.yaml"}, dir / "agg.log", env);
  Process client({fedmesh_binary(), "node", "--config", dir / "client.yaml"}, dir / "client.log", env);
  // The node computes its own datasource as a client of itself (Flotta's node holds data too).
  ASSERT_TRUE(
      wait_until([&] { return http(agg_http, "GET", "/api/v1/jobs/clients").json()["clients"].size() == 2; }, 20s))
      << agg.log() << client.log();
  auto r = http(agg_http, "POST", "/api/v1/jobs", artifact({{"kind", "count"}}).dump());
  ASSERT_EQ(r.status, 201) << r.body;
  ASSERT_EQ(run_fedmesh({"job", "wait", "http://127.0.0.1:" + std::to_string(agg_http), r.json()["id"]}, &out), 0)
      << out;
  EXPECT_EQ(json::parse(out)["count"], 9288 * 2);
  json job = http(agg_http, "GET", "/api/v1/jobs/" + r.json()["id"].get<std::string>()).json();
  std::set<std::string> by;
  for (const auto& t : job["tasks"])
    by.insert(t["client"].get<std::string>() + "/" + t["datasource"].get<std::string>());
  EXPECT_EQ(by, (std::set<std::string>{"flottaagg/medinc2", "flottaclient/medinc1"})) << job.dump(2);
  // Its worker reports on the node's own operator API, as a client's does.
  EXPECT_NE(http(agg_http, "GET", "/api/v1/worker").body.find("medinc2"), std::string::npos);
  EXPECT_NE(agg.log().find("is a Flotta config"), std::string::npos);
  // A client's file naming projects is refused, naming the key (docs/flotta-compat.md).
  std::string with_projects = read_file(dir / "client.yaml");
  auto at = with_projects.find("  heartbeat: 2.0\n");
  ASSERT_NE(at, std::string::npos);
  with_projects.insert(at, "  token_projects_initial:\n    - name: housing\n      token: ${HOUSING_TOKEN}\n");
  write_file(dir / "client-projects.yaml", with_projects);
  EXPECT_EQ(run_fedmesh({"config", "check", dir / "client-projects.yaml"}, &out, env), 2) << out;
  EXPECT_NE(out.find("node.token_projects_initial"), std::string::npos) << out;
}

// Flotta's network as its docs build it: a first node (join.first), a second node whose
// join.url names the first, a client whose join.url names the second, each with a
// datasource of its own. The nodes share one PostgreSQL database (how a fedmesh node joins
// a Flotta network), so a job submitted to either node runs over all three datasources.
TEST(Jobs, AFlottaNetworkOfTwoNodesAndAClientAnswersAJobSubmittedToEitherNode) {
  PostgresServer pg;
  std::string db = pg.create_database();
  std::string scheme = db.substr(db.rfind('/') + 1);
  TempDir dir;
  ASSERT_EQ(run_fedmesh({"ca", "init", dir / "ca"}), 0);
  for (const char* n : {"first", "second", "worker"})
    ASSERT_EQ(
        run_fedmesh({"ca", "issue", "--ca", dir / "ca", "--name", n, "--out", dir / "certs", "--organization", n}), 0);
  write_file(dir / "certs/ca.crt", read_file(dir / "ca/ca.crt"));
  std::map<std::string, int> http_port, fed_port;
  for (const char* n : {"first", "second", "worker"}) {
    http_port[n] = free_port();
    fed_port[n] = free_port();
  }
  auto source = [&](const std::string& name, const std::string& file) {
    return "datasources:\n  - name: " + name + "\n    kind: file\n    type: csv\n    path: " + california(file) +
           "\n    token:\n      - ${HOUSING_TOKEN}\n";
  };
  std::string database =
      "database:\n  dialect: postgresql\n  username: fedmesh\n  host: 127.0.0.1\n  port: " + std::to_string(pg.port()) +
      "\n  scheme: " + scheme + "\n";
  auto node = [&](const std::string& name, const std::string& join, const std::string& file,
                  const std::string& datasource) {
    return "workdir: ./var/" + name + "\nmode: node\nnode:\n  name: " + name +
           "\n  heartbeat: 2.0\n  interface: 127.0.0.1\n  port: " + std::to_string(fed_port[name]) +
           "\n  token_projects_initial:\n    - name: housing\n      token: ${HOUSING_TOKEN}\njoin:\n" + join +
           source(datasource, file) + database +
           "fedmesh:\n  http:\n    listen: 127.0.0.1:" + std::to_string(http_port[name]) + "\n";
  };
  write_file(dir / "first.yaml", node("first", "  first: true\n", kSplits[0].second, "medinc1"));
  write_file(dir / "second.yaml",
             node("second", "  first: false\n  url: http://127.0.0.1:" + std::to_string(fed_port["first"]) + "\n",
                  kSplits[1].second, "medinc2"));
  write_file(dir / "worker.yaml",
             "workdir: ./var/worker\nmode: client\nnode:\n  name: worker\n  heartbeat: 2.0\n"
             "join:\n  url: http://127.0.0.1:" +
                 std::to_string(fed_port["second"]) + "\n" + source("validation", kSplits[2].second) +
                 "fedmesh:\n  http:\n    listen: 127.0.0.1:" + std::to_string(http_port["worker"]) +
                 "\n  federation:\n    listen: 127.0.0.1:" + std::to_string(fed_port["worker"]) + "\n");
  std::map<std::string, std::string> env = {{"HOUSING_TOKEN", kToken}};
  std::string out;
  ASSERT_EQ(run_fedmesh({"config", "check", dir / "second.yaml"}, &out, env), 0) << out;
  EXPECT_NE(out.find("join.url: this node joins the network by sharing its PostgreSQL database"), std::string::npos)
      << out;
  // A node that joins with a database it cannot share is refused, naming the key.
  std::string in_memory = read_file(dir / "second.yaml");
  in_memory.replace(in_memory.find("database:"), in_memory.find("fedmesh:") - in_memory.find("database:"),
                    "database:\n  memory: true\n");
  write_file(dir / "second-memory.yaml", in_memory);
  EXPECT_EQ(run_fedmesh({"config", "check", dir / "second-memory.yaml"}, &out, env), 2) << out;
  EXPECT_NE(out.find("join.url: a node that joins another shares the first node's jobs database"), std::string::npos)
      << out;

  std::vector<std::unique_ptr<Process>> procs;
  for (const char* n : {"first", "second", "worker"})
    procs.push_back(std::make_unique<Process>(
        std::vector<std::string>{fedmesh_binary(), "node", "--config", dir / (std::string(n) + ".yaml")},
        dir / (std::string(n) + ".log"), env));
  auto logs = [&] { return procs[0]->log() + procs[1]->log() + procs[2]->log(); };
  for (const char* n : {"first", "second"})
    ASSERT_TRUE(wait_until(
        [&] { return http(http_port[n], "GET", "/api/v1/jobs/clients").json()["clients"].size() == 3; }, 30s))
        << n << "\n"
        << logs();
  for (const char* n : {"first", "second"}) {
    auto r = http(http_port[n], "POST", "/api/v1/jobs", artifact({{"kind", "count"}}).dump());
    ASSERT_EQ(r.status, 201) << r.body;
    ASSERT_EQ(run_fedmesh({"job", "wait", "http://127.0.0.1:" + std::to_string(http_port[n]), r.json()["id"]}, &out), 0)
        << n << ": " << out << logs();
    EXPECT_EQ(json::parse(out)["count"], 9288 * 2 + 2064) << n;
  }
}

TEST(Jobs, JoiningWithATokenIssuesAWorkingCertificateAndNothingForABadOne) {
  TempDir dir;
  int join_port = free_port();
  JobsNetwork net(dir, "",
                  "join_listen = \"127.0.0.1:" + std::to_string(join_port) + "\"\njoin_tokens = [\"join-once-1234\"]\n",
                  "issuer = \"ca\"\n");
  net.fed().start("agg");
  std::string base = "https://127.0.0.1:" + std::to_string(join_port);
  auto fp = crypto::cert_fingerprint(read_file(dir / "ca/ca.crt"));
  ASSERT_TRUE(fp);
  std::string out;
  EXPECT_EQ(run_fedmesh({"join", base, "--name", "newbie", "--token", "wrong-token-99", "--ca-sha256", *fp, "--out",
                         dir / "joined"},
                        &out),
            1);
  EXPECT_NE(out.find("join refused"), std::string::npos) << out;
  EXPECT_FALSE(std::filesystem::exists(dir / "joined/newbie.key"));
  EXPECT_EQ(run_fedmesh({"join", base, "--name", "newbie", "--token", "join-once-1234", "--ca-sha256",
                         std::string(64, 'A'), "--out", dir / "joined"},
                        &out),
            1);
  EXPECT_NE(out.find("refusing"), std::string::npos) << out;
  ASSERT_EQ(run_fedmesh({"join", base, "--name", "newbie", "--token", "join-once-1234", "--ca-sha256", *fp, "--out",
                         dir / "joined"},
                        &out),
            0)
      << out << net.fed().process("agg").log();
  // The config it prints names the aggregator it joined, and the organization its certificate carries.
  EXPECT_NE(out.find("aggregator = \"https://127.0.0.1:" + std::to_string(net.fed().fed_port("agg")) + "\""),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("organization = \"newbie\""), std::string::npos) << out;
  struct stat st {};
  ASSERT_EQ(::stat((dir / "joined/newbie.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  // The one-time token is spent; a project token may still join another name.
  EXPECT_EQ(run_fedmesh({"join", base, "--name", "other", "--token", "join-once-1234", "--ca-sha256", *fp, "--out",
                         dir / "joined2"},
                        &out),
            1);
  EXPECT_NE(out.find("used"), std::string::npos) << out;
  EXPECT_EQ(run_fedmesh({"join", base, "--name", "agg", "--token", kToken, "--out", dir / "joined3"}, &out), 1);
  // The joined client works: its certificate opens the aggregator's federation listener.
  int hp = free_port(), fp2 = free_port();
  write_file(dir / "newbie.toml",
             "name = \"newbie\"\norganization = \"newbie\"\nroles = [\"client\"]\nworkdir = \"var/newbie\"\n"
             "[http]\nlisten = \"127.0.0.1:" +
                 std::to_string(hp) + "\"\n[federation]\nlisten = \"127.0.0.1:" + std::to_string(fp2) +
                 "\"\ncert = \"joined/newbie.crt\"\nkey = \"joined/newbie.key\"\ntrust = "
                 "[\"joined/ca.crt\"]\n[jobs]\naggregator = \"https://127.0.0.1:" +
                 std::to_string(net.fed().fed_port("agg")) + "\"\naggregator_name = \"agg\"\n" +
                 datasource("medinc1", california(kSplits[0].second)));
  Process newbie({fedmesh_binary(), "node", "--config", dir / "newbie.toml"}, dir / "newbie.log");
  ASSERT_TRUE(net.clients_connected(1)) << newbie.log();
  auto job = net.run(artifact({{"kind", "count"}}));
  EXPECT_EQ(job["result"]["count"], 9288) << job.dump(2);
}

// A sanitized build grows the forest below several times slower (TSan: some twenty times),
// past the 2 s lease: a smaller forest, still seconds long, and a lease that covers it.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr const char* kForestLease = "lease = \"20s\"\n";
constexpr int kForestTrees = 30;
#else
constexpr const char* kForestLease = "";
constexpr int kForestTrees = 150;
#endif

TEST(Jobs, AClientKilledMidTaskFinishesItAfterARestartWithTheSameResult) {
  TempDir dir;
  JobsNetwork net(dir, "", kForestLease);
  net.add_client("c1", datasource("medinc1", california(kSplits[0].second)));
  for (const char* n : {"agg", "c1"}) net.fed().start(n);
  ASSERT_TRUE(net.clients_connected(1));
  // A forest large enough to take a few seconds: the client is killed while growing it.
  json forest = {{"kind", "random_forest"},
                 {"target", "MedHouseValDiscrete"},
                 {"features", {"MedInc", "HouseAge", "AveRooms", "AveOccup", "Latitude", "Longitude"}},
                 {"trees_per_datasource", kForestTrees},
                 {"max_depth", 14}};
  auto r = http(net.api(), "POST", "/api/v1/jobs", artifact(forest).dump());
  ASSERT_EQ(r.status, 201) << r.body;
  std::string id = r.json()["id"];
  auto first_task_state = [&] {
    json job = http(net.api(), "GET", "/api/v1/jobs/" + id).json();
    const json& tasks = job["tasks"];
    return tasks.is_array() && !tasks.empty() && tasks[0].is_object() ? tasks[0].value("state", "") : "";
  };
  ASSERT_TRUE(wait_until([&] { return first_task_state() == "leased"; }, 10s));
  net.fed().stop("c1", SIGKILL);
  EXPECT_EQ(http(net.api(), "GET", "/api/v1/jobs/" + id).json()["state"], "running");
  net.fed().start("c1");
  json job;
  ASSERT_TRUE(wait_until(
      [&] {
        job = http(net.api(), "GET", "/api/v1/jobs/" + id).json();
        return string_or(job, "state") == "completed" || string_or(job, "state") == "failed";
      },
      60s))
      << job.dump(2);
  ASSERT_EQ(job["state"], "completed") << job.dump(2);
  EXPECT_GE(job["tasks"][0]["attempts"].get<int>(), 2);
  EXPECT_EQ(job["result"]["trees"], kForestTrees);
  // The same trees as an uninterrupted run: growing is deterministic, and one result was kept.
  auto again = net.run(artifact(forest), 60s);
  ASSERT_EQ(again["state"], "completed");
  EXPECT_EQ(http(net.api(), "GET", "/api/v1/jobs/" + id + "/model").body,
            http(net.api(), "GET", "/api/v1/jobs/" + again["id"].get<std::string>() + "/model").body);
}

TEST(Jobs, AMalformedCsvStopsTheClientNamingTheFileLineAndColumn) {
  TempDir dir;
  write_file(dir / "bad.csv", "a,b\n1,2\n3,4,5\n");
  JobsNetwork net(dir);
  net.add_client("c1", datasource("bad", dir / "bad.csv"));
  net.fed().start("c1");
  EXPECT_EQ(net.fed().process("c1").wait(10s), 2);
  EXPECT_NE(net.fed().process("c1").log().find("bad.csv:3:3: 3 cells, but the header names 2 columns"),
            std::string::npos)
      << net.fed().process("c1").log();
}

TEST(Jobs, AnOperatorCancelsAJobThatWaitsForAClientThatIsGone) {
  TempDir dir;
  JobsNetwork net(dir, "", "job_timeout = \"3s\"\n");
  net.add_client("c1", datasource("medinc1", california(kSplits[0].second)));
  net.add_client("c2", datasource("medinc2", california(kSplits[1].second)));
  for (const char* n : {"agg", "c1", "c2"}) net.fed().start(n);
  ASSERT_TRUE(net.clients_connected(2));
  net.fed().stop("c2");
  auto a =
      http(net.api(), "POST", "/api/v1/jobs", artifact({{"kind", "count"}}).dump()).json()["id"].get<std::string>();
  // `fedmesh job cancel`, as docs/jobs.md shows it.
  std::string out;
  ASSERT_EQ(run_fedmesh({"job", "cancel", "http://127.0.0.1:" + std::to_string(net.api()), a}, &out), 0) << out;
  auto cancelled = json::parse(out.substr(out.find('{')));
  EXPECT_EQ(cancelled["state"], "failed");
  EXPECT_EQ(cancelled["error"]["message"], "cancelled by the operator");
  EXPECT_EQ(http(net.api(), "DELETE", "/api/v1/jobs/" + a).status, 409);
  // Left alone, a job waiting for c2 fails once jobs.job_timeout has passed.
  auto b =
      http(net.api(), "POST", "/api/v1/jobs", artifact({{"kind", "count"}}).dump()).json()["id"].get<std::string>();
  json job;
  ASSERT_TRUE(wait_until(
      [&] {
        job = http(net.api(), "GET", "/api/v1/jobs/" + b).json();
        return string_or(job, "state") == "failed";
      },
      15s))
      << job.dump(2);
  EXPECT_NE(job["error"]["message"].get<std::string>().find("jobs.job_timeout"), std::string::npos);
}

}  // namespace
}  // namespace fedmesh::testing
