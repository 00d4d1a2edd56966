// DataService over a real DeltaStore (SQLite in memory and PostgreSQL, one fixture):
// local writes and views, schemas, deletes, negations, transactions, and replication
// between two or three services through the wire message: signatures, creators under a
// foreign CA, gaps, duplicates, catch-up pages and audit paths.
#include <gtest/gtest.h>

#include "crypto/certs.hpp"
#include "data/service.hpp"
#include "store/open.hpp"
#include "support/harness.hpp"
#include "support/postgres.hpp"

namespace fedmesh::data {
namespace {

using json = nlohmann::json;
using fedmesh::testing::read_file;
using fedmesh::testing::TempDir;

fedmesh::testing::PostgresServer& postgres() {
  static fedmesh::testing::PostgresServer server;
  return server;
}

// One node's shared data: its store, creators and service. Writes run inline.
struct Node {
  Node(const std::string& backend, const std::string& name, const std::string& cert_dir,
       const std::vector<std::string>& cas, std::vector<std::string> deny = {})
      : hlc(Clock::system()) {
    auto s =
        backend == "postgresql" ? open_postgres_store(postgres().create_database()) : open_sqlite_store(":memory:");
    if (!s) throw std::runtime_error(s.error().message());
    store = std::move(*s);
    std::string cert = read_file(cert_dir + "/" + name + ".crt");
    auto key = crypto::SigningKey::from_pem(read_file(cert_dir + "/" + name + ".key"));
    auto vk = crypto::VerifyingKey::from_certificate(cert);
    creators = std::make_unique<Creators>(store->deltas(), cas, std::move(deny), name, cert, *vk);
    if (!creators->load()) throw std::runtime_error("creators");
    service = std::make_unique<DataService>(
        store->deltas(), *creators, hlc, *key, [](std::function<void()> f) { f(); }, DataServiceOptions{.self = name});
    if (!service->open()) throw std::runtime_error("open");
    service->add_listener([this](const std::shared_ptr<const Commit>& c) { commits.push_back(c); });
  }
  Result<json> put(const std::string& collection, const std::string& id, json props) {
    return service->write_and_wait({.collection = collection, .id = id, .properties = std::move(props)});
  }
  // The message a peer sharing everything gets for the last commit.
  std::string last_message() {
    auto m = service->message_for(*commits.back(), [](const std::string&) { return true; });
    return m ? *m : std::string();
  }
  IngestReport take(const std::string& from, const std::string& text) {
    auto batch = decode_batch(text);
    if (!batch) throw std::runtime_error(batch.error().message());
    auto r = service->ingest(from, *batch, [](const std::string&) { return true; });
    if (!r) throw std::runtime_error(r.error().message());
    return *r;
  }
  HybridClock hlc;
  std::unique_ptr<Store> store;
  std::unique_ptr<Creators> creators;
  std::unique_ptr<DataService> service;
  std::vector<std::shared_ptr<const Commit>> commits;
};

class DataServiceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::init_ca(dir_.path() + "/ca"));
    ASSERT_TRUE(crypto::init_ca(dir_.path() + "/evil-ca", "evil CA"));
    for (const char* n : {"red", "green", "blue"}) ASSERT_TRUE(crypto::issue_cert(dir_.path() + "/ca", n, certs()));
    ASSERT_TRUE(crypto::issue_cert(dir_.path() + "/evil-ca", "mallory", certs()));
    cas_ = {read_file(dir_.path() + "/ca/ca.crt")};
  }
  std::string certs() const { return dir_.path() + "/certs"; }
  std::unique_ptr<Node> node(const std::string& name, std::vector<std::string> deny = {}) {
    return std::make_unique<Node>(GetParam(), name, certs(), cas_, std::move(deny));
  }
  TempDir dir_;
  std::vector<std::string> cas_;
};

TEST_P(DataServiceTest, PutGetIdsLikeRhizome) {
  auto red = node("red");
  auto r = red->put("user", "peon-1", {{"name", "Peon"}, {"age", 263}});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*r, json({{"id", "peon-1"}, {"properties", {{"name", "Peon"}, {"age", 263}}}}));
  EXPECT_EQ(*red->service->get("user", "peon-1", false, 0), *r);
  EXPECT_EQ((*red->service->ids("user", "", 100))["ids"], json::array({"peon-1"}));
  EXPECT_EQ(red->service->get("user", "nobody", false, 0).error().code(), ErrorCode::not_found);
  EXPECT_EQ(*red->service->count(), 2);
}

TEST_P(DataServiceTest, AWriteThatChangesNothingAnswersAtOnceAndStoresNothing) {
  auto red = node("red");
  ASSERT_TRUE(red->put("user", "peon-1", {{"name", "Peon"}}));
  auto again = red->put("user", "peon-1", {{"name", "Peon"}});
  ASSERT_TRUE(again);
  EXPECT_EQ((*again)["properties"]["name"], "Peon");
  EXPECT_EQ(*red->service->count(), 1);
  EXPECT_EQ(red->commits.size(), 1u);
}

TEST_P(DataServiceTest, NewIdsAreMadeAndFalsyValuesKept) {
  auto red = node("red");
  auto r = red->put("user", "", {{"zero", 0}, {"empty", ""}, {"no", false}, {"nothing", nullptr}});
  ASSERT_TRUE(r);
  std::string id = (*r)["id"];
  EXPECT_EQ(id.size(), 36u);
  EXPECT_EQ((*red->service->get("user", id, false, 0))["properties"],
            json({{"zero", 0}, {"empty", ""}, {"no", false}, {"nothing", nullptr}}));
}

TEST_P(DataServiceTest, SchemaViolationGets400AndStoresNothing) {
  auto red = node("red");
  ASSERT_TRUE(red->service->set_collection(
      "user", json::parse(R"({"properties":{"name":{"type":"string","required":true},"age":{"type":"integer"}}})"),
      "api"));
  auto bad = red->put("user", "x", {{"name", "X"}, {"age", "old"}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::invalid_argument);
  EXPECT_NE(bad.error().message().find("age"), std::string::npos);
  auto missing = red->put("user", "y", {{"age", 3}});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("name"), std::string::npos);
  EXPECT_EQ(*red->service->count(), 0);
  EXPECT_TRUE(red->commits.empty());
  // Settings survive a restart of the service.
  DataService again(red->store->deltas(), *red->creators, red->hlc,
                    *crypto::SigningKey::from_pem(read_file(certs() + "/red.key")),
                    [](std::function<void()> f) { f(); }, {.self = "red"});
  ASSERT_TRUE(again.open());
  EXPECT_TRUE(again.settings_for("user").properties.contains("age"));
}

TEST_P(DataServiceTest, DeleteNegateAndLosslessHistory) {
  auto red = node("red");
  ASSERT_TRUE(red->put("user", "p", {{"name", "first"}}));
  ASSERT_TRUE(red->put("user", "p", {{"name", "second"}}));
  auto lossless = red->service->get("user", "p", true, 0);
  ASSERT_TRUE(lossless);
  std::string dump = lossless->dump();
  EXPECT_NE(dump.find("first"), std::string::npos);
  EXPECT_NE(dump.find("second"), std::string::npos);
  // Negate the second write: the first shows again.
  std::string second_id = red->commits.back()->deltas.at(0).id;
  auto neg = red->service->write_and_wait(
      {.op = WriteRequest::Op::negate, .collection = "user", .id = "p", .negate = second_id});
  ASSERT_TRUE(neg) << neg.error().message();
  EXPECT_EQ((*red->service->get("user", "p", false, 0))["properties"]["name"], "first");
  auto del = red->service->write_and_wait({.op = WriteRequest::Op::remove, .collection = "user", .id = "p"});
  ASSERT_TRUE(del);
  EXPECT_EQ((*del)["deleted"], true);
  EXPECT_EQ(red->service->get("user", "p", false, 0).error().code(), ErrorCode::not_found);
  EXPECT_TRUE((*red->service->ids("user", "", 10))["ids"].empty());
  EXPECT_TRUE(red->service->get("user", "p", true, 0));  // history stays
  auto again = red->service->write_and_wait({.op = WriteRequest::Op::remove, .collection = "user", .id = "p"});
  EXPECT_EQ(again.error().code(), ErrorCode::not_found);
}

TEST_P(DataServiceTest, ReferencesExpandWithCyclesCut) {
  auto red = node("red");
  ASSERT_TRUE(red->put("team", "t", {{"name", "Team"}, {"lead", {{"collection", "user"}, {"entity", "u"}}}}));
  ASSERT_TRUE(red->put("user", "u", {{"name", "U"}, {"team", {{"collection", "team"}, {"entity", "t"}}}}));
  auto e = red->service->get("user", "u", false, 2);
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["properties"]["team"]["properties"]["name"], "Team");
  // team.lead points back at u: the cycle is cut, the reference stays as it is.
  EXPECT_FALSE((*e)["properties"]["team"]["properties"]["lead"].contains("properties"));
}

TEST_P(DataServiceTest, QueriesFilterResolvedEntities) {
  auto red = node("red");
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(red->put("user", "u" + std::to_string(100 + i), {{"age", i}}));
  Budget budget(BudgetLimits{});
  auto q = red->service->query("user", json::parse(R"({">=":[{"var":"age"},15]})"), 3, 1, budget);
  ASSERT_TRUE(q);
  EXPECT_EQ((*q)["total"], 5);
  ASSERT_EQ((*q)["entities"].size(), 3u);
  EXPECT_EQ((*q)["entities"][0]["id"], "u116");
  EXPECT_EQ(red->service->query("user", json::parse(R"({"eval":[1]})"), 3, 0, budget).error().code(),
            ErrorCode::invalid_argument);
}

TEST_P(DataServiceTest, AQueryStopsAtItsWorkBudgetAndItsAnswerBytes) {
  auto red = node("red");
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(red->put("doc", "d" + std::to_string(i), {{"text", std::string(4096, 'x')}}));
  json filter = json::parse(R"({"in":["xy",{"var":"text"}]})");
  Budget tight(BudgetLimits{.work = 20'000});
  auto q = red->service->query("doc", filter, 100, 0, tight);
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error().code(), ErrorCode::query_too_costly);

  Budget small_answer(BudgetLimits{.answer_bytes = 10'000});
  auto all = red->service->query("doc", nullptr, 100, 0, small_answer);
  ASSERT_FALSE(all);
  EXPECT_EQ(all.error().code(), ErrorCode::payload_too_large);
  EXPECT_EQ(all.error().http_status(), 413);

  Budget roomy(BudgetLimits{});
  auto ok = red->service->query("doc", filter, 100, 0, roomy);
  ASSERT_TRUE(ok);
  EXPECT_EQ((*ok)["total"], 0);
}

// The expand bomb of issue 19, scaled down: one entity of large properties, another that
// references it many times. The byte budget stops the read before it builds the copies.
TEST_P(DataServiceTest, AnExpandFanOutStopsAtTheByteBudget) {
  auto red = node("red");
  json big = json::object();
  for (int i = 0; i < 16; ++i) big["p" + std::to_string(i)] = std::string(4096, 'b');
  ASSERT_TRUE(red->put("blob", "big", big));
  json refs = json::object();
  for (int i = 0; i < 64; ++i) refs["r" + std::to_string(i)] = {{"collection", "blob"}, {"entity", "big"}};
  ASSERT_TRUE(red->put("blob", "fan", refs));
  Budget budget(BudgetLimits{.answer_bytes = 256 * 1024});
  auto e = red->service->get("blob", "fan", false, 1, &budget);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code(), ErrorCode::payload_too_large);
  EXPECT_LE(budget.answer_used(), 256u * 1024u + 70'000u);  // stopped at the first copy past the budget
  Budget roomy(BudgetLimits{});
  auto whole = red->service->get("blob", "fan", false, 1, &roomy);
  ASSERT_TRUE(whole) << whole.error().message();
  EXPECT_EQ((*whole)["properties"]["r63"]["properties"]["p0"].get<std::string>().size(), 4096u);
}

TEST_P(DataServiceTest, ADeltaPageEndsEarlyAtTheByteBudgetWithNext) {
  auto red = node("red");
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(red->put("doc", "d" + std::to_string(i), {{"t", std::string(2000, 'x')}}));
  Budget budget(BudgetLimits{.answer_bytes = 7000});
  auto page = red->service->deltas(0, 100, budget);
  ASSERT_TRUE(page) << page.error().message();
  auto n = (*page)["deltas"].size();
  EXPECT_GE(n, 1u);
  EXPECT_LT(n, 10u);
  ASSERT_TRUE(page->contains("next"));
  EXPECT_EQ((*page)["next"], (*page)["deltas"].back()["position"]);
  Budget whole_budget(BudgetLimits{.answer_bytes = 7000});
  auto whole = red->service->deltas(0, 100, whole_budget, true);
  ASSERT_FALSE(whole);
  EXPECT_EQ(whole.error().code(), ErrorCode::payload_too_large);
}

TEST_P(DataServiceTest, ReplicationMovesWholeTransactionsAndDeduplicates) {
  auto red = node("red");
  auto blue = node("blue");
  ASSERT_TRUE(red->put("user", "peon-1", {{"name", "Peon"}, {"age", 741}}));
  auto msg = red->last_message();
  auto rep = blue->take("red", msg);
  EXPECT_EQ(rep.stored, 2u);
  EXPECT_EQ((*blue->service->get("user", "peon-1", false, 0))["properties"]["age"], 741);
  ASSERT_EQ(blue->commits.size(), 1u);
  EXPECT_EQ(blue->commits[0]->from, "red");
  auto again = blue->take("red", msg);
  EXPECT_EQ(again.stored, 0u);
  EXPECT_EQ(again.duplicates, 2u);
  // Relay: blue passes red's deltas to green, which checks them against red's certificate.
  auto green = node("green");
  auto relayed = blue->service->message_for(*blue->commits[0], [](const std::string&) { return true; });
  ASSERT_TRUE(relayed);
  EXPECT_EQ(green->take("blue", *relayed).stored, 2u);
  EXPECT_EQ((*green->service->get("user", "peon-1", false, 0))["properties"]["name"], "Peon");
}

TEST_P(DataServiceTest, TamperedDeltasAreRejectedAndNothingIsStored) {
  auto red = node("red");
  auto blue = node("blue");
  ASSERT_TRUE(red->put("user", "peon-1", {{"name", "Peon"}, {"age", 263}}));
  auto msg = json::parse(red->last_message());
  // Change a value and recompute the id: the run's signature no longer covers it.
  auto& d = msg["deltas"][0];
  auto decoded = delta_from_json(d);
  ASSERT_TRUE(decoded);
  Delta forged = *decoded;
  forged.value = std::string(forged.property == "age" ? "" : "Mallory");
  if (forged.property == "age") forged.value = 1.0;
  seal(forged);
  d = to_json(forged);
  auto rep = blue->take("red", msg.dump());
  EXPECT_EQ(rep.stored, 0u);
  EXPECT_EQ(rep.rejected["bad_signature"], 2u);
  EXPECT_EQ(*blue->service->count(), 0);
  EXPECT_EQ(blue->service->counters().rejected.at("bad_signature").load(), 2u);
}

TEST_P(DataServiceTest, CreatorsUnderAForeignCaOrDeniedAreRejectedEvenWhenRelayed) {
  // mallory's certificate chains to evil-ca, which no node trusts.
  auto ev = std::make_unique<Node>(GetParam(), "mallory", certs(),
                                   std::vector<std::string>{read_file(dir_.path() + "/evil-ca/ca.crt")});
  ASSERT_TRUE(ev->put("user", "x", {{"evil", true}}));
  auto blue = node("blue");
  auto rep = blue->take("red", ev->last_message());  // relayed by a trusted peer
  EXPECT_EQ(rep.rejected["untrusted_creator"], 1u);
  EXPECT_EQ(*blue->service->count(), 0);

  auto red = node("red");
  ASSERT_TRUE(red->put("user", "y", {{"a", 1}}));
  auto denying = node("green", {"red"});
  auto denied = denying->take("blue", red->last_message());
  EXPECT_EQ(denied.rejected["denied_creator"], 1u);

  // A message without the creator's certificate, from a creator never seen: unknown.
  auto msg = json::parse(red->last_message());
  msg["creators"] = json::object();
  auto fresh = node("blue");
  EXPECT_EQ(fresh->take("red", msg.dump()).rejected["unknown_creator"], 1u);
}

TEST_P(DataServiceTest, AGapIsReportedAndCatchUpPagesFillIt) {
  auto red = node("red");
  auto blue = node("blue");
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(red->put("user", "e" + std::to_string(i), {{"v", i}, {"w", -i}}));
  // blue sees only the last commit: a gap.
  auto rep = blue->take("red", red->last_message());
  ASSERT_EQ(rep.gaps.size(), 1u);
  EXPECT_EQ(rep.gaps[0].seq, 0);
  EXPECT_EQ(rep.rejected["gap"], 2u);
  // Catch up in pages of about 7 deltas; a page always ends at a run's end.
  std::int64_t have = 0;
  int pages = 0;
  while (true) {
    auto page = red->service->page("red", "user", have, 7, 1 << 20);
    ASSERT_TRUE(page) << page.error().message();
    if (page->second == 0) break;
    auto r = blue->take("red", page->first);
    EXPECT_TRUE(r.rejected.empty()) << r.to_json();
    have = page->second;
    ++pages;
  }
  EXPECT_EQ(have, 60);
  EXPECT_GE(pages, 8);
  EXPECT_EQ(*blue->service->count(), 60);
  EXPECT_EQ((*blue->service->get("user", "e29", false, 0))["properties"]["w"], -29);
}

TEST_P(DataServiceTest, APageOfManySmallCommitsStaysWithinOneMessagesRuns) {
  // 1,500 one-delta commits: a 2,048-delta page would carry 1,500 runs, which the
  // receiver refuses (at most 1,024 a message); a page stops at 1,024 runs instead.
  auto red = node("red");
  auto blue = node("blue");
  for (int i = 0; i < 1500; ++i) ASSERT_TRUE(red->put("user", "e" + std::to_string(i), {{"v", i}}));
  std::int64_t have = 0;
  int pages = 0;
  while (true) {
    auto page = red->service->page("red", "user", have, 2048, 8 << 20);
    ASSERT_TRUE(page) << page.error().message();
    if (page->second == 0) break;
    EXPECT_LE(json::parse(page->first)["runs"].size(), kMaxMessageRuns);
    auto r = blue->take("red", page->first);
    EXPECT_TRUE(r.rejected.empty()) << r.to_json();
    have = page->second;
    ++pages;
  }
  EXPECT_EQ(have, 1500);
  EXPECT_EQ(pages, 2);
  EXPECT_EQ(*blue->service->count(), 1500);
}

TEST_P(DataServiceTest, APageStartingInsideARunCarriesAuditPaths) {
  auto red = node("red");
  auto blue = node("blue");
  // Concurrent writes in one batch share one run: queue them before the writer drains.
  std::vector<std::function<void()>> queued;
  DataService batched(red->store->deltas(), *red->creators, red->hlc,
                      *crypto::SigningKey::from_pem(read_file(certs() + "/red.key")),
                      [&](std::function<void()> f) { queued.push_back(std::move(f)); }, {.self = "red"});
  ASSERT_TRUE(batched.open());
  int answered = 0;
  for (int i = 0; i < 10; ++i)
    batched.write({.collection = "user", .id = "b" + std::to_string(i), .properties = {{"n", i}}},
                  [&](Result<json> r) { answered += r ? 1 : 0; });
  ASSERT_EQ(queued.size(), 1u);
  queued[0]();
  EXPECT_EQ(answered, 10);
  auto full = batched.page("red", "user", 0, 100, 1 << 20);
  ASSERT_TRUE(full);
  EXPECT_EQ(full->second, 10);
  auto msg = json::parse(full->first);
  ASSERT_EQ(msg["runs"].size(), 1u);  // ten deltas, one signature
  // A message holding part of a run without audit paths proves nothing.
  auto head_only = msg;
  head_only["deltas"] = json::array();
  for (int i = 0; i < 4; ++i) head_only["deltas"].push_back(msg["deltas"][i]);
  auto cut = blue->take("red", head_only.dump());
  EXPECT_EQ(cut.stored, 0u);
  EXPECT_EQ(cut.rejected["malformed"], 4u);
  EXPECT_EQ(blue->take("red", full->first).stored, 10u);
  // A page that starts inside a run: each delta carries its audit path to the signed root.
  auto tail = batched.page("red", "user", 4, 100, 1 << 20);
  ASSERT_TRUE(tail);
  auto tail_batch = decode_batch(tail->first);
  ASSERT_TRUE(tail_batch);
  ASSERT_EQ(tail_batch->deltas.size(), 6u);
  ASSERT_EQ(tail_batch->runs.size(), 1u);
  const data::Run& run = tail_batch->runs[0];
  for (const auto& wd : tail_batch->deltas) {
    auto root = root_from_proof(wd.delta.id, static_cast<std::size_t>(wd.delta.seq - run.first),
                                static_cast<std::size_t>(run.size()), wd.proof);
    ASSERT_TRUE(root);
    EXPECT_EQ(*root, run.root);
  }
  EXPECT_EQ(blue->take("red", tail->first).duplicates, 6u);
}

TEST_P(DataServiceTest, AMessageOfManyNewEntitiesIsStoredAndEachReadsBack) {
  auto red = node("red");
  auto blue = node("blue");
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(red->put("user", "n" + std::to_string(i), {{"v", i}}));
  ASSERT_TRUE(blue->put("user", "n3", {{"mine", true}}));  // one blue holds already
  auto page = red->service->page("red", "user", 0, 1000, 1 << 20);
  ASSERT_TRUE(page);
  EXPECT_EQ(blue->take("red", page->first).stored, 40u);
  for (int i = 0; i < 40; ++i)
    EXPECT_EQ((*blue->service->get("user", "n" + std::to_string(i), false, 0))["properties"]["v"], i);
  EXPECT_EQ((*blue->service->get("user", "n3", false, 0))["properties"]["mine"], true);
  EXPECT_EQ((*blue->service->ids("user", "", 100))["ids"].size(), 40u);
  // A restarted service reads the same from the store alone.
  DataService again(blue->store->deltas(), *blue->creators, blue->hlc,
                    *crypto::SigningKey::from_pem(read_file(certs() + "/blue.key")),
                    [](std::function<void()> f) { f(); }, {.self = "blue"});
  ASSERT_TRUE(again.open());
  EXPECT_EQ((*again.get("user", "n3", false, 0))["properties"], json({{"mine", true}, {"v", 3}}));
}

TEST_P(DataServiceTest, TwoWritesToOneNewEntityInOneCommitBothLand) {
  auto red = node("red");
  std::vector<std::function<void()>> queued;
  DataService batched(red->store->deltas(), *red->creators, red->hlc,
                      *crypto::SigningKey::from_pem(read_file(certs() + "/red.key")),
                      [&](std::function<void()> f) { queued.push_back(std::move(f)); }, {.self = "red"});
  ASSERT_TRUE(batched.open());
  int ok = 0;
  std::string failure;
  for (int i = 0; i < 2; ++i)
    batched.write({.collection = "user", .id = "same", .properties = {{"p" + std::to_string(i), i}}},
                  [&](Result<json> r) {
                    if (r)
                      ++ok;
                    else
                      failure = r.error().message();
                  });
  ASSERT_EQ(queued.size(), 1u);
  queued[0]();
  EXPECT_EQ(ok, 2) << failure;
  EXPECT_EQ((*batched.get("user", "same", false, 0))["properties"], json({{"p0", 0}, {"p1", 1}}));
  EXPECT_EQ((*batched.ids("user", "", 10))["ids"], json::array({"same"}));
}

TEST_P(DataServiceTest, ACertificateIsRememberedOnlyOnceWhatItCarriedVerified) {
  auto red = node("red");
  auto blue = node("blue");
  ASSERT_TRUE(red->put("user", "a", {{"v", 1}}));
  ASSERT_EQ(blue->take("red", red->last_message()).stored, 1u);
  std::string known = blue->creators->cert_of("red");
  // Another valid certificate named red (a second key from the same CA: a renewal) with a run
  // its key never signed: refused, and the known certificate stays.
  ASSERT_TRUE(crypto::issue_cert(dir_.path() + "/ca", "red", dir_.path() + "/other", {.reissue = true}));
  ASSERT_TRUE(red->put("user", "b", {{"v", 2}}));
  auto msg = json::parse(red->last_message());
  msg["creators"]["red"] = read_file(dir_.path() + "/other/red.crt");
  auto rep = blue->take("someone", msg.dump());
  EXPECT_EQ(rep.rejected["bad_signature"], 1u);
  EXPECT_EQ(blue->creators->cert_of("red"), known);
  EXPECT_EQ(blue->take("red", red->last_message()).stored, 1u);
}

TEST_P(DataServiceTest, ConcurrentWritesConvergeToTheSameValue) {
  auto red = node("red");
  auto blue = node("blue");
  ASSERT_TRUE(red->put("color", "sky", {{"hex", "#ff0000"}}));
  auto from_red = red->last_message();
  ASSERT_TRUE(blue->put("color", "sky", {{"hex", "#0000ff"}}));
  auto from_blue = blue->last_message();
  red->take("blue", from_blue);
  blue->take("red", from_red);
  EXPECT_EQ(*red->service->get("color", "sky", false, 0), *blue->service->get("color", "sky", false, 0));
  EXPECT_EQ(red->service->get("color", "sky", true, 0)->dump(), blue->service->get("color", "sky", true, 0)->dump());
}

TEST_P(DataServiceTest, OnlySharedCollectionsAreStored) {
  auto red = node("red");
  auto blue = node("blue");
  ASSERT_TRUE(red->put("secret", "s", {{"x", 1}}));
  auto batch = decode_batch(red->last_message());
  ASSERT_TRUE(batch);
  auto r = blue->service->ingest("red", *batch, [](const std::string& c) { return c == "user"; });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rejected["not_shared"], 1u);
  EXPECT_EQ(*blue->service->count(), 0);
}

// Issue 19: a creator (here two services sharing red's key and certificate, over separate
// stores) signs two different deltas for seq 1. The node that holds one and gets the other
// keeps both as evidence, and refuses the stream until an operator resolves it.
TEST_P(DataServiceTest, AnEquivocatingCreatorIsDetectedKeptAndRefusedUntilResolved) {
  auto red = node("red");
  auto clone = node("red");
  ASSERT_TRUE(red->put("user", "u", {{"v", "A"}}));
  ASSERT_TRUE(clone->put("user", "u", {{"v", "B"}}));
  auto held = json::parse(red->last_message())["deltas"][0]["id"].get<std::string>();
  auto other_msg = clone->last_message();
  auto other = json::parse(other_msg)["deltas"][0]["id"].get<std::string>();
  ASSERT_NE(held, other);
  auto blue = node("blue");
  ASSERT_EQ(blue->take("red", red->last_message()).stored, 1u);
  ASSERT_EQ(blue->service->heads().at(0).id, held);

  // A relay that alters the delta (a new id its creator never signed), or drops the run
  // that signs it, frames no one: refused as bad_signature, nothing quarantined.
  auto forged = json::parse(other_msg);
  auto d = delta_from_json(forged["deltas"][0]);
  ASSERT_TRUE(d);
  d->value = std::string("Mallory");
  seal(*d);
  forged["deltas"][0] = to_json(*d);
  EXPECT_EQ(blue->take("mallory", forged.dump()).rejected["bad_signature"], 1u);
  auto runless = json::parse(other_msg);
  runless["runs"] = json::array();
  EXPECT_EQ(blue->take("mallory", runless.dump()).rejected["bad_signature"], 1u);
  EXPECT_FALSE(blue->service->quarantined("red", "user"));
  EXPECT_TRUE(blue->service->equivocations(true).empty());

  // The creator's own second delta for seq 1: detected, not a duplicate.
  auto rep = blue->take("green", other_msg);
  EXPECT_EQ(rep.duplicates, 0u);
  EXPECT_EQ(rep.rejected["equivocation"], 1u);
  ASSERT_FALSE(rep.problems.empty());
  EXPECT_NE(rep.problems[0].find("quarantined"), std::string::npos) << rep.problems[0];
  EXPECT_TRUE(blue->service->quarantined("red", "user"));
  EXPECT_EQ(blue->service->quarantined_streams(), 1u);
  EXPECT_EQ(blue->service->counters().rejected.at("equivocation").load(), 1u);
  auto list = blue->service->equivocations(false);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["creator"], "red");
  EXPECT_EQ(list[0]["collection"], "user");
  EXPECT_EQ(list[0]["seq"], 1);
  EXPECT_EQ(list[0]["held"], held);
  EXPECT_EQ(list[0]["other"], other);
  EXPECT_EQ(list[0]["from"], "green");
  EXPECT_TRUE(list[0]["resolved"].is_null());
  EXPECT_EQ(list[0]["evidence"]["held"]["id"], held);
  EXPECT_EQ(list[0]["evidence"]["other"]["id"], other);
  EXPECT_TRUE(list[0]["evidence"]["run"].contains("signature"));
  EXPECT_TRUE(list[0]["evidence"]["held_run"].contains("signature"));
  EXPECT_EQ((*blue->service->get("user", "u", false, 0))["properties"]["v"], "A");  // the held chain stays

  // Every later delta of the stream, from any peer, is refused; other streams go on.
  ASSERT_TRUE(red->put("user", "u2", {{"v", "C"}}));
  auto later = red->last_message();
  auto refused = blue->take("red", later);
  EXPECT_EQ(refused.stored, 0u);
  EXPECT_EQ(refused.rejected["equivocation"], 1u);
  ASSERT_TRUE(red->put("item", "i", {{"v", 1}}));
  EXPECT_EQ(blue->take("red", red->last_message()).stored, 1u);

  // The evidence and the quarantine outlive a restart.
  DataService again(blue->store->deltas(), *blue->creators, blue->hlc,
                    *crypto::SigningKey::from_pem(read_file(certs() + "/blue.key")),
                    [](std::function<void()> f) { f(); }, {.self = "blue"});
  ASSERT_TRUE(again.open());
  EXPECT_TRUE(again.quarantined("red", "user"));
  EXPECT_EQ(again.equivocations(false), list);

  // An operator lifts it: the stream is accepted again, the evidence stays (resolved), and
  // the same evidence arriving again is a plain duplicate.
  auto lifted = blue->service->resolve_equivocation("red", "user");
  ASSERT_TRUE(lifted) << lifted.error().message();
  ASSERT_EQ((*lifted)["resolved"].size(), 1u);
  EXPECT_FALSE((*lifted)["resolved"][0]["resolved"].is_null());
  EXPECT_FALSE(blue->service->quarantined("red", "user"));
  EXPECT_TRUE(blue->service->equivocations(false).empty());
  EXPECT_EQ(blue->service->equivocations(true).size(), 1u);
  EXPECT_EQ(blue->service->resolve_equivocation("red", "user").error().code(), ErrorCode::not_found);
  EXPECT_EQ(blue->take("red", later).stored, 1u);
  auto again_other = blue->take("green", other_msg);
  EXPECT_EQ(again_other.duplicates, 1u);
  EXPECT_TRUE(again_other.rejected.empty());
  EXPECT_FALSE(blue->service->quarantined("red", "user"));
}

TEST_P(DataServiceTest, ACatchUpPageOverlappingOneHeldDeltaFindsAnEquivocation) {
  // blue holds red's seq 1; the clone went on to seq 2. A page from the seq before the one
  // blue holds (as catch-up asks) carries the clone's seq 1 with its signed run.
  auto red = node("red");
  auto clone = node("red");
  ASSERT_TRUE(red->put("user", "u", {{"v", "A"}}));
  ASSERT_TRUE(clone->put("user", "u", {{"v", "B"}}));
  ASSERT_TRUE(clone->put("user", "w", {{"v", "B2"}}));
  auto blue = node("blue");
  ASSERT_EQ(blue->take("red", red->last_message()).stored, 1u);
  auto page = clone->service->page("red", "user", 0, 100, 1 << 20);
  ASSERT_TRUE(page);
  auto rep = blue->take("red", page->first);
  EXPECT_EQ(rep.stored, 0u);
  EXPECT_EQ(rep.rejected["equivocation"], 2u);
  EXPECT_TRUE(blue->service->quarantined("red", "user"));
  EXPECT_EQ(blue->service->get("user", "w", false, 0).error().code(), ErrorCode::not_found);
  // The same on the clone's side: its own stream, signed elsewhere with its key.
  auto mine = clone->take("blue", red->last_message());
  EXPECT_EQ(mine.rejected["equivocation"], 1u);
  EXPECT_TRUE(clone->service->quarantined("red", "user"));
}

INSTANTIATE_TEST_SUITE_P(Backends, DataServiceTest, ::testing::Values("sqlite", "postgresql"));

}  // namespace
}  // namespace fedmesh::data
