// Who a certificate says its holder is, with real processes on loopback (issue 19, item 3):
// a CA issues each name once, whoever asks (`fedmesh ca issue`, an aggregator signing a
// join); a joined client's certificate says it is a jobs client's, and opens the jobs
// routes of an aggregator and nothing else: no hello, no skill call, no shared data, not
// as a caller, a server or a creator.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <memory>

#include "crypto/certs.hpp"
#include "crypto/issued_names.hpp"
#include "crypto/sign.hpp"
#include "data/delta.hpp"
#include "data/run.hpp"
#include "support/harness.hpp"
#include "support/peer_client.hpp"

namespace fedmesh::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kProjectToken = "identity-project-token-7c2e91";

const char* kSkillLua = R"(skill("upper", function(a) return { up = string.upper(a.s or "") } end))";
const char* kSkillManifest = "name = \"shout\"\nversion = \"1.0.0\"\n[skills.upper]\nacl = \"peers\"\n";

// An aggregator that signs joins with the federation's own CA (the default arrangement), and
// two nodes of that CA: b has a as a peer, shares all data, and serves a skill open to peers.
class Identity : public ::testing::Test {
 protected:
  void SetUp() override {
    f_.add({"agg",
            {},
            "roles = [\"aggregator\"]\n[jobs]\njoin_listen = \"127.0.0.1:" + std::to_string(join_port_) +
                "\"\n[[jobs.projects]]\nname = \"p\"\ntoken = \"" + kProjectToken + "\"\n",
            "ca",
            "issuer = \"ca\"\n"});
    f_.add({"a", {{"b", true}}, kShareAll});
    f_.add({"b", {{"a", true}}, kShareAll});
    f_.start("agg");
    ASSERT_TRUE(f_.wait_healthy("agg")) << f_.process("agg").log();
  }

  // `fedmesh join` with the project token, the CA pinned; the exit code.
  int join(const std::string& name, const std::string& out, std::string* output) {
    auto fp = crypto::cert_fingerprint(read_file(dir_ / "ca/ca.crt"));
    EXPECT_TRUE(fp);
    return run_fedmesh({"join", "https://127.0.0.1:" + std::to_string(join_port_), "--name", name, "--token",
                        kProjectToken, "--ca-sha256", fp ? *fp : "", "--out", out},
                       output);
  }

  void start_nodes() {
    for (const char* n : {"a", "b"}) f_.start(n);
    for (const char* n : {"a", "b"}) ASSERT_TRUE(f_.wait_healthy(n)) << f_.process(n).log();
    ASSERT_TRUE(wait_until([&] { return f_.peer_state("b", "a") == "up"; }, 15s)) << f_.process("b").log();
    json upload = {{"manifest", kSkillManifest}, {"files", {{"main.lua", kSkillLua}}}};
    ASSERT_EQ(http(f_.http_port("b"), "POST", "/api/v1/packages", upload.dump()).status, 201);
  }

  static constexpr const char* kShareAll = "[data]\nshare = [{collection = \"*\", with = [\"*\"]}]\n";
  TempDir dir_;
  Federation f_{dir_};
  int join_port_ = free_port();
};

// A replication message holding one delta of user/x by `creator`, signed by the key in
// `key_file`, with `cert` sent as the creator's certificate.
std::string message_by(const std::string& creator, const std::string& cert, const std::string& key_file) {
  auto key = crypto::SigningKey::from_pem(read_file(key_file));
  EXPECT_TRUE(key);
  data::Delta d;
  d.creator = creator;
  d.collection = "user";
  d.seq = 1;
  d.time = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
               .count();
  d.tx = 1;
  d.entity = "x";
  d.property = "v";
  d.value = 1.0;
  data::seal(d);
  data::Run run{creator, "user", 1, 1, {}, ""};
  std::vector<data::DeltaId> ids{d.id};
  data::sign_run(run, ids, *key);
  return json{{"creators", {{creator, cert}}}, {"runs", {data::to_json(run)}}, {"deltas", {data::to_json(d)}}}.dump();
}

TEST_F(Identity, AJoinCannotTakeANameTheCaIssuedToANode) {
  // b has a configured peer a; the aggregator knows neither. A project token used to get a
  // certificate with CN = a from the federation CA.
  std::string out;
  EXPECT_EQ(join("a", dir_ / "joined", &out), 1);
  EXPECT_NE(out.find("join refused"), std::string::npos) << out;
  EXPECT_NE(out.find("'a' was issued a certificate by this CA already, for a federation node"), std::string::npos)
      << out;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "joined/a.key"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "joined/a.crt"));
  auto issued = crypto::issued_names(dir_ / "ca");
  ASSERT_TRUE(issued) << issued.error().message();
  int as_a = 0;
  for (const auto& e : *issued) {
    if (e.name != "a") continue;
    ++as_a;
    EXPECT_EQ(e.role, crypto::CertRole::node);
  }
  EXPECT_EQ(as_a, 1);

  // The other way round: a name a client joined under is never issued to a node, renewal or not.
  ASSERT_EQ(join("c1", dir_ / "joined", &out), 0) << out << f_.process("agg").log();
  EXPECT_NE(out.find("jobs client"), std::string::npos) << out;
  for (bool reissue : {false, true}) {
    std::vector<std::string> args = {"ca", "issue", "--ca", dir_ / "ca", "--name", "c1", "--out", dir_ / "issued"};
    if (reissue) args.push_back("--reissue");
    EXPECT_EQ(run_fedmesh(args, &out), 2) << out;
    EXPECT_NE(out.find("for a jobs client that joined"), std::string::npos) << out;
    EXPECT_FALSE(std::filesystem::exists(dir_ / "issued/c1.crt"));
  }
  // Nor twice to clients.
  EXPECT_EQ(join("c1", dir_ / "joined-again", &out), 1);
  EXPECT_NE(out.find("was issued a certificate by this CA already"), std::string::npos) << out;
}

TEST_F(Identity, AJoinedCertificateIsRefusedByANodesFederationListenerOnEveryRouteButTheJobsRoutes) {
  ASSERT_NO_FATAL_FAILURE(start_nodes());
  std::string out;
  ASSERT_EQ(join("joiner", dir_ / "certs", &out), 0) << out << f_.process("agg").log();
  auto role = crypto::cert_role(read_file(dir_ / "certs/joiner.crt"));
  ASSERT_TRUE(role);
  EXPECT_EQ(*role, crypto::CertRole::jobs_client);

  PeerClient joiner(dir_, "joiner");
  PeerClient as_a(dir_, "a");
  auto refused = [&](int port, const std::string& node, const std::string& method, const std::string& target,
                     const std::string& body) {
    auto r = joiner.request(port, node, method, target, body);
    if (!r) return ::testing::AssertionFailure() << target << ": " << r.error().message();
    if (r->status != 403 || r->body.find("jobs client") == std::string::npos)
      return ::testing::AssertionFailure() << target << ": " << r->status << " " << r->body;
    return ::testing::AssertionSuccess();
  };
  int b = f_.fed_port("b");
  json hello = {{"name", "joiner"},     {"organization", "joiner"},       {"advertise", "https://127.0.0.1:1"},
                {"version", "0.1.0"},   {"roles", json::array({"node"})}, {"skills", json::array()},
                {"bidirectional", true}};
  EXPECT_TRUE(refused(b, "b", "POST", "/fed/v1/hello", hello.dump()));
  EXPECT_TRUE(refused(b, "b", "GET", "/fed/v1/ping", ""));
  EXPECT_TRUE(refused(b, "b", "POST", "/fed/v1/skills/shout/upper", R"({"s": "hi"})"));
  std::string own = message_by("joiner", read_file(dir_ / "certs/joiner.crt"), dir_ / "certs/joiner.key");
  EXPECT_TRUE(refused(b, "b", "POST", "/fed/v1/data/deltas", own));
  EXPECT_TRUE(refused(b, "b", "POST", "/fed/v1/data/heads", R"({"heads": []})"));
  EXPECT_TRUE(refused(b, "b", "GET", "/fed/v1/data/page?creator=b&collection=user&since=0&limit=10", ""));
  EXPECT_TRUE(refused(b, "b", "GET", "/fed/v1/no/such/route", ""));
  // b never learned of it as a peer.
  EXPECT_EQ(f_.peer_state("b", "joiner"), "");

  // A node's certificate passes the same skill ACL: the refusal is the certificate's role.
  auto called = as_a.post(b, "b", "/fed/v1/skills/shout/upper", R"({"s": "hi"})");
  ASSERT_TRUE(called) << called.error().message();
  EXPECT_EQ(called->status, 200) << called->body;

  // Relayed by a genuine node, the joined client's deltas are refused for their creator.
  auto relayed = as_a.post(b, "b", "/fed/v1/data/deltas", own);
  ASSERT_TRUE(relayed) << relayed.error().message();
  ASSERT_EQ(relayed->status, 200) << relayed->body;
  EXPECT_EQ(json::parse(relayed->body)["rejected"]["jobs_client_creator"], 1) << relayed->body;
  EXPECT_EQ(json::parse(relayed->body)["stored"], 0) << relayed->body;
  EXPECT_EQ(metric(f_.http_port("b"), "fedmesh_data_rejected_total{reason=\"jobs_client_creator\"}"), 1);
  EXPECT_EQ(http(f_.http_port("b"), "GET", "/api/v1/data/user/x").status, 404);

  // The aggregator that signed it is a node too: its own hello and skills are closed to it,
  // its jobs routes open.
  int agg = f_.fed_port("agg");
  EXPECT_TRUE(refused(agg, "agg", "POST", "/fed/v1/hello", hello.dump()));
  auto jobs_hello = joiner.post(agg, "agg", "/fed/v1/jobs/hello", R"({"datasources": []})");
  ASSERT_TRUE(jobs_hello) << jobs_hello.error().message();
  EXPECT_EQ(jobs_hello->status, 200) << jobs_hello->body;
}

TEST_F(Identity, AJoinedClientComputesJobsButNoNodeTakesItForAPeer) {
  std::string out;
  ASSERT_EQ(join("joiner", dir_ / "joined", &out), 0) << out << f_.process("agg").log();
  // The joined client runs as a node: its federation listener holds the joined certificate.
  int http_port = free_port(), fed_port = free_port();
  write_file(dir_ / "rows.csv", "x,y\n1,2\n3,4\n5,6\n");
  write_file(dir_ / "joiner.toml",
             "name = \"joiner\"\norganization = \"joiner\"\nroles = [\"client\"]\nworkdir = \"var/joiner\"\n"
             "[http]\nlisten = \"127.0.0.1:" +
                 std::to_string(http_port) + "\"\n[federation]\nlisten = \"127.0.0.1:" + std::to_string(fed_port) +
                 "\"\ncert = \"joined/joiner.crt\"\nkey = \"joined/joiner.key\"\ntrust = [\"joined/ca.crt\"]\n"
                 "retry_initial = \"50ms\"\nretry_max = \"500ms\"\n[jobs]\naggregator = \"https://127.0.0.1:" +
                 std::to_string(f_.fed_port("agg")) + "\"\naggregator_name = \"agg\"\npoll = \"2s\"\n" +
                 "[[jobs.datasources]]\nname = \"rows\"\npath = \"rows.csv\"\ntokens = [\"" + kProjectToken + "\"]\n");
  Process joiner({fedmesh_binary(), "node", "--config", dir_ / "joiner.toml"}, dir_ / "joiner.log");
  int api = f_.http_port("agg");
  ASSERT_TRUE(wait_until([&] { return http(api, "GET", "/api/v1/jobs/clients").json()["clients"].size() == 1; }, 20s))
      << joiner.log() << f_.process("agg").log();
  json artifact = {{"project", "p"}, {"token", kProjectToken}, {"operation", {{"kind", "count"}}}};
  auto submitted = http(api, "POST", "/api/v1/jobs", artifact.dump());
  ASSERT_EQ(submitted.status, 201) << submitted.body;
  std::string id = submitted.json().value("id", "");
  json job;
  ASSERT_TRUE(wait_until(
      [&] {
        job = http(api, "GET", "/api/v1/jobs/" + id).json();
        return job.is_object() && job.value("state", "") == "completed";
      },
      30s))
      << job.dump(2) << joiner.log() << f_.process("agg").log();
  EXPECT_EQ(job["result"]["count"], 3) << job.dump(2);

  // A node that lists the joined client as a peer: its hello finds a jobs client's certificate,
  // not a node's, and the peer never comes up.
  f_.add({"b2", {{"joiner", false}}});
  f_.route("b2", "joiner", fed_port);
  f_.start("b2");
  ASSERT_TRUE(f_.wait_healthy("b2")) << f_.process("b2").log();
  std::string last_error;
  EXPECT_TRUE(wait_until(
      [&] {
        json peers = http(f_.http_port("b2"), "GET", "/api/v1/peers").json();
        for (const auto& p : peers["peers"])
          if (p.value("name", "") == "joiner" && p["last_error"].is_string()) last_error = p["last_error"];
        return last_error.find("jobs client") != std::string::npos;
      },
      15s))
      << last_error << f_.process("b2").log();
  EXPECT_NE(f_.peer_state("b2", "joiner"), "up");
}

TEST(Identities, ACaIssuesANameOnceWhoeverAsks) {
  TempDir dir;
  std::string out;
  ASSERT_EQ(run_fedmesh({"ca", "init", dir / "ca"}, &out), 0) << out;
  ASSERT_EQ(run_fedmesh({"ca", "issue", "--ca", dir / "ca", "--name", "x", "--out", dir / "one"}, &out), 0) << out;
  // Into another folder, so that it is the CA refusing and not the files already there.
  EXPECT_EQ(run_fedmesh({"ca", "issue", "--ca", dir / "ca", "--name", "x", "--out", dir / "two"}, &out), 2);
  EXPECT_NE(out.find("'x' was issued a certificate by this CA already"), std::string::npos) << out;
  EXPECT_NE(out.find("--reissue"), std::string::npos) << out;
  EXPECT_FALSE(std::filesystem::exists(dir / "two/x.crt"));
  EXPECT_FALSE(std::filesystem::exists(dir / "two/x.key"));
  // Renewing a node's certificate is said out loud.
  ASSERT_EQ(run_fedmesh({"ca", "issue", "--ca", dir / "ca", "--name", "x", "--out", dir / "two", "--reissue"}, &out), 0)
      << out;
  struct stat st {};
  ASSERT_EQ(::stat(crypto::issued_names_file(dir / "ca").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto issued = crypto::issued_names(dir / "ca");
  ASSERT_TRUE(issued) << issued.error().message();
  ASSERT_EQ(issued->size(), 2u);
  for (const auto& e : *issued) {
    EXPECT_EQ(e.name, "x");
    EXPECT_EQ(e.role, crypto::CertRole::node);
  }
  EXPECT_NE((*issued)[0].fingerprint, (*issued)[1].fingerprint);

  // Eight processes racing for one new name: one certificate.
  std::vector<std::unique_ptr<Process>> racers;
  for (int i = 0; i < 8; ++i)
    racers.push_back(
        std::make_unique<Process>(std::vector<std::string>{fedmesh_binary(), "ca", "issue", "--ca", dir / "ca",
                                                           "--name", "y", "--out", dir / ("race" + std::to_string(i))},
                                  dir / ("race" + std::to_string(i) + ".log")));
  int won = 0;
  for (auto& p : racers) {
    int code = p->wait(30s);
    EXPECT_TRUE(code == 0 || code == 2) << code << " " << p->log();
    won += code == 0;
  }
  EXPECT_EQ(won, 1);
}

}  // namespace
}  // namespace fedmesh::testing
