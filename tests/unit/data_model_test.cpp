// The data model without a store: canonical form and ids (fixed vectors computed with
// sha256sum and openssl outside fedmesh), signed runs and their audit paths, every
// resolver with ties and falsy values, negation, tombstones, schemas and JSON-Logic.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <utility>
#include <vector>

#include "crypto/sign.hpp"
#include "data/collection.hpp"
#include "data/delta.hpp"
#include "data/entity.hpp"
#include "data/json_logic.hpp"
#include "data/run.hpp"
#include "data/wire.hpp"

namespace fedmesh::data {
namespace {

using json = nlohmann::json;

// RFC 8032, test 1.
const std::string kSeedHex = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

crypto::SigningKey test_key() {
  return *crypto::SigningKey::from_seed(*crypto::from_hex(kSeedHex));
}

Delta set_delta(std::string creator, std::int64_t seq, std::int64_t time, std::string entity, std::string property,
                Value v) {
  Delta d;
  d.creator = std::move(creator);
  d.collection = "user";
  d.seq = seq;
  d.time = time;
  d.tx = seq;
  d.entity = std::move(entity);
  d.property = std::move(property);
  d.value = std::move(v);
  seal(d);
  return d;
}

TEST(DeltaCanonical, FixedVector) {
  Delta d = set_delta("red", 1, 1700000000000000, "peon-1", "name", std::string("Peon"));
  EXPECT_EQ(
      canonical(d),
      R"({"collection":"user","creator":"red","pointers":[{"local_context":"entity","target":{"collection":"user",)"
      R"("entity":"peon-1"},"target_context":"name"},{"local_context":"value","target":"Peon"}],"seq":1,)"
      R"("time":1700000000000000,"tx":1,"tx_size":1})");
  EXPECT_EQ(to_hex(d.id), "b3f22c7c3d48e1924ecd050c0d24f44504b6eb0be2dd04bfef0e28e53f7b7e0d");
}

TEST(DeltaCanonical, SignedRunFixedVector) {
  Delta d = set_delta("red", 1, 1700000000000000, "peon-1", "name", std::string("Peon"));
  data::Run run{"red", "user", 1, 1, {}, {}};
  std::vector<DeltaId> ids{d.id};
  sign_run(run, ids, test_key());
  EXPECT_EQ(to_hex(run.root), "da37d787da36aa44ef4ae0dc32299954295159c526e648520ff34bf4c52c01c6");
  EXPECT_EQ(crypto::to_hex(run.signature),
            "df7e1c3b8cba5670b998d16e7f8094ac8c26be717bf1a8076fde0be051ff08d8"
            "3d961af2dd870b0f59aa8ad680638c6c4d9dbf5cf9a9771ee53234d06547c90f");
  auto vk = crypto::VerifyingKey::from_raw(test_key().public_key());
  ASSERT_TRUE(vk);
  EXPECT_TRUE(verify_run(run, *vk));
  run.last = 2;
  EXPECT_FALSE(verify_run(run, *vk));
}

TEST(DeltaCanonical, NumbersAndStringsFollowRfc8785) {
  auto text = [](const Value& v) {
    std::string out;
    append_canonical(out, v);
    return out;
  };
  EXPECT_EQ(text(263.0), "263");
  EXPECT_EQ(text(-0.0), "0");
  EXPECT_EQ(text(0.1), "0.1");
  EXPECT_EQ(text(1e21), "1e+21");
  EXPECT_EQ(text(1e-7), "1e-7");
  EXPECT_EQ(text(123456789012.5), "123456789012.5");
  EXPECT_EQ(text(false), "false");
  EXPECT_EQ(text(nullptr), "null");
  EXPECT_EQ(text(std::string("a\"\\\n\x01\u00e9")), "\"a\\\"\\\\\\n\\u0001\u00e9\"");
  EXPECT_EQ(text(EntityRef{"user", "x"}), R"({"collection":"user","entity":"x"})");
}

TEST(DeltaCanonical, JsonRoundTripAndTamperDetection) {
  Delta d = set_delta("red", 7, 42, "peon-1", "age", 263.0);
  json j = to_json(d);
  auto back = delta_from_json(j);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->id, d.id);
  EXPECT_EQ(canonical(*back), canonical(d));

  json tampered = j;
  tampered["pointers"][1]["target"] = 264;
  auto bad = delta_from_json(tampered);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("SHA-256"), std::string::npos);

  for (auto [field, value] : std::vector<std::pair<std::string, json>>{
           {"seq", 0}, {"seq", "1"}, {"time", -1}, {"tx_size", 999}, {"collection", "Bad Name"}, {"extra", 1}}) {
    json b = j;
    b[field] = value;
    auto r = delta_from_json(b);
    ASSERT_FALSE(r) << field;
    EXPECT_EQ(r.error().code(), ErrorCode::bad_json);
  }
  json no_ptrs = j;
  no_ptrs["pointers"] = json::array({j["pointers"][0]});
  EXPECT_FALSE(delta_from_json(no_ptrs));
  json array_value = j;
  array_value["pointers"][1]["target"] = json::array({1, 2});
  EXPECT_FALSE(delta_from_json(array_value));
}

TEST(DeltaCanonical, NegationAndTombstoneRoundTrip) {
  Delta target = set_delta("red", 1, 1, "e", "p", 1.0);
  Delta neg;
  neg.creator = "red";
  neg.collection = "user";
  neg.seq = neg.tx = 2;
  neg.time = 2;
  neg.kind = DeltaKind::negate;
  neg.entity = "e";
  neg.property = "p";
  neg.negates = target.id;
  seal(neg);
  Delta tomb = neg;
  tomb.kind = DeltaKind::remove;
  tomb.property.clear();
  tomb.seq = tomb.tx = 3;
  seal(tomb);
  for (const Delta* d : {&neg, &tomb}) {
    auto back = delta_from_json(to_json(*d));
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(back->kind, d->kind);
    EXPECT_EQ(back->id, d->id);
  }
  EXPECT_NE(canonical(tomb).find(R"({"local_context":"delete","target":true})"), std::string::npos);
}

TEST(SignedRuns, EveryLeafOfEveryTreeSizeHasAWorkingProof) {
  for (std::size_t n = 1; n <= 33; ++n) {
    std::vector<DeltaId> ids(n);
    for (std::size_t i = 0; i < n; ++i)
      ids[i] = set_delta("red", static_cast<std::int64_t>(i + 1), 1, "e", "p", 1.0).id;
    Hash root = merkle_root(ids);
    for (std::size_t i = 0; i < n; ++i) {
      auto proof = merkle_proof(ids, i);
      auto r = root_from_proof(ids[i], i, n, proof);
      ASSERT_TRUE(r) << n << "/" << i;
      EXPECT_EQ(*r, root) << n << "/" << i;
      if (n > 1) {
        auto wrong = root_from_proof(ids[(i + 1) % n], i, n, proof);
        EXPECT_TRUE(!wrong || *wrong != root);
      }
    }
  }
}

TEST(SignedRuns, AProofOfTheWrongLengthIsRefused) {
  std::vector<DeltaId> ids(5);
  for (std::size_t i = 0; i < 5; ++i) ids[i] = set_delta("red", static_cast<std::int64_t>(i + 1), 1, "e", "p", 1.0).id;
  auto proof = merkle_proof(ids, 2);
  proof.push_back(ids[0]);
  EXPECT_FALSE(root_from_proof(ids[2], 2, 5, proof));
}

// ---- views ----

Resolver lww(const std::string&) {
  return Resolver::last_writer_wins;
}

TEST(EntityView, FalsyValuesAreValues) {
  for (Value v : std::vector<Value>{0.0, std::string(), false, nullptr}) {
    EntityState s;
    s.apply(set_delta("red", 1, 1, "e", "p", std::string("before")));
    s.apply(set_delta("red", 2, 2, "e", "p", v));
    auto r = s.resolved(lww);
    ASSERT_TRUE(r.contains("p")) << to_json(v);
    EXPECT_EQ(r["p"], to_json(v));
  }
}

TEST(EntityView, LastWriterTiesBreakByCreatorThenIdNeverByArrival) {
  Delta a = set_delta("blue", 1, 100, "e", "p", std::string("from blue"));
  Delta b = set_delta("red", 1, 100, "e", "p", std::string("from red"));
  EntityState one, two;
  one.apply(a);
  one.apply(b);
  two.apply(b);
  two.apply(a);
  EXPECT_EQ(one.resolved(lww)["p"], "from red");  // same time: the greater creator wins
  EXPECT_EQ(one.resolved(lww), two.resolved(lww));
  EXPECT_EQ(one.lossless(), two.lossless());
}

TEST(EntityView, EveryResolver) {
  EntityState s;
  std::vector<Value> values{3.0, 1.0, 3.0, 5.0, 0.0};
  std::int64_t seq = 1;
  for (const auto& v : values) {
    s.apply(set_delta("red", seq, 10 * seq, "e", "p", v));
    ++seq;
  }
  auto one = [&](Resolver r) { return *s.resolved("p", r); };
  EXPECT_EQ(one(Resolver::last_writer_wins), 0);
  EXPECT_EQ(one(Resolver::first_writer_wins), 3);
  EXPECT_EQ(one(Resolver::min), 0);
  EXPECT_EQ(one(Resolver::max), 5);
  EXPECT_EQ(one(Resolver::sum), 12);
  EXPECT_DOUBLE_EQ(one(Resolver::average).get<double>(), 2.4);
  EXPECT_EQ(one(Resolver::count), 5);
  EXPECT_EQ(one(Resolver::union_set), json::array({0, 1, 3, 5}));
  EXPECT_EQ(one(Resolver::majority), 3);
}

TEST(EntityView, MajorityTieGoesToTheLaterValue) {
  // (time, value) votes; among equal counts the value whose last vote is later wins,
  // whatever the value order and whichever order the deltas arrive in.
  auto winner = [](const std::vector<std::pair<std::int64_t, std::string>>& votes, bool reversed) {
    EntityState s;
    std::vector<Delta> deltas;
    for (const auto& [time, value] : votes) deltas.push_back(set_delta("red", time, time, "e", "p", value));
    if (reversed) std::reverse(deltas.begin(), deltas.end());
    for (const auto& d : deltas) s.apply(d);
    return *s.resolved("p", Resolver::majority);
  };
  for (bool reversed : {false, true}) {
    EXPECT_EQ(winner({{1, "a"}, {2, "b"}}, reversed), "b");
    EXPECT_EQ(winner({{1, "b"}, {2, "a"}}, reversed), "a");  // later, though smaller
    EXPECT_EQ(winner({{1, "x"}, {2, "y"}, {3, "y"}, {4, "x"}}, reversed), "x");
    EXPECT_EQ(winner({{1, "y"}, {2, "x"}, {3, "x"}, {4, "y"}}, reversed), "y");
    EXPECT_EQ(winner({{1, "a"}, {2, "b"}, {3, "b"}}, reversed), "b");  // no tie: the most votes
    EXPECT_EQ(winner({{1, "b"}, {2, "b"}, {3, "a"}}, reversed), "b");
  }
}

TEST(EntityView, NegationHidesOneDeltaAndArrivesInAnyOrder) {
  Delta first = set_delta("red", 1, 1, "e", "p", std::string("first"));
  Delta second = set_delta("red", 2, 2, "e", "p", std::string("second"));
  Delta neg;
  neg.creator = "blue";
  neg.collection = "user";
  neg.seq = neg.tx = 1;
  neg.time = 3;
  neg.kind = DeltaKind::negate;
  neg.entity = "e";
  neg.property = "p";
  neg.negates = second.id;
  seal(neg);
  EntityState in_order, negation_first;
  for (const Delta* d : {&first, &second, &neg}) in_order.apply(*d);
  for (const Delta* d : {&neg, &second, &first}) negation_first.apply(*d);
  EXPECT_EQ(in_order.resolved(lww)["p"], "first");
  EXPECT_EQ(in_order.resolved(lww), negation_first.resolved(lww));
  EXPECT_FALSE(in_order.apply(neg));  // applied once only
  auto lossless = in_order.lossless();
  EXPECT_NE(lossless.dump().find("negated"), std::string::npos);
}

TEST(EntityView, TombstoneHidesEarlierValuesNotLaterOnes) {
  EntityState s;
  s.apply(set_delta("red", 1, 1, "e", "p", std::string("old")));
  Delta tomb;
  tomb.creator = "red";
  tomb.collection = "user";
  tomb.seq = tomb.tx = 2;
  tomb.time = 2;
  tomb.kind = DeltaKind::remove;
  tomb.entity = "e";
  seal(tomb);
  s.apply(tomb);
  EXPECT_FALSE(s.exists());
  EXPECT_TRUE(s.resolved(lww).empty());
  s.apply(set_delta("red", 3, 3, "e", "q", std::string("new")));
  EXPECT_TRUE(s.exists());
  EXPECT_EQ(s.resolved(lww), json({{"q", "new"}}));
}

// ---- schema ----

TEST(CollectionSchema, WritesAreCheckedAndNameTheProperty) {
  auto s = settings_from_json(json::parse(R"({"resolver":"lww","additional_properties":false,
      "properties":{"name":{"type":"string","required":true},"age":{"type":"integer","resolver":"max"},
                    "team":{"type":"reference","collection":"team"}}})"));
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->resolver_for("age"), Resolver::max);
  EXPECT_EQ(s->resolver_for("name"), Resolver::last_writer_wins);
  auto exists = [](const EntityRef& r) { return r.id == "red-team"; };
  auto ok = check_write(*s, {{"name", "Peon"}, {"age", 263}, {"team", "red-team"}}, json::object(), exists);
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(std::get<EntityRef>(ok->at("team")), (EntityRef{"team", "red-team"}));

  struct Case {
    json props;
    std::string names;
  };
  for (const auto& c : std::vector<Case>{{{{"age", 263}}, "name"},
                                         {{{"name", 5}}, "name"},
                                         {{{"name", "P"}, {"age", 2.5}}, "age"},
                                         {{{"name", "P"}, {"colour", "red"}}, "colour"},
                                         {{{"name", "P"}, {"team", "nobody"}}, "team"}}) {
    auto r = check_write(*s, c.props, json::object(), exists);
    ASSERT_FALSE(r) << c.props;
    EXPECT_EQ(r.error().code(), ErrorCode::invalid_argument);
    EXPECT_NE(r.error().message().find(c.names), std::string::npos) << r.error().message();
  }
  // A required property already held need not be written again.
  EXPECT_TRUE(check_write(*s, json::object({{"age", 264}}), json::object({{"name", "Peon"}}), exists));
}

TEST(CollectionSchema, BadSettingsAreRefused) {
  for (const char* text : {R"({"resolver":"loudest"})", R"({"properties":{"a":{"type":"colour"}}})",
                           R"({"properties":{"a":{"type":"reference"}}})", R"({"unknown":1})", R"([])"}) {
    auto s = settings_from_json(json::parse(text));
    EXPECT_FALSE(s) << text;
  }
}

// ---- JSON-Logic ----

TEST(JsonLogic, OperatorsFollowTheReference) {
  json data = {{"name", "Peon"}, {"age", 263}, {"alive", false}, {"tags", {"a", "b"}}};
  auto run = [&](const char* rule) {
    json r = json::parse(rule);
    EXPECT_TRUE(check_logic(r)) << rule;
    return logic_truthy(apply_logic(r, data));
  };
  EXPECT_TRUE(run(R"({"==":[{"var":"name"},"Peon"]})"));
  EXPECT_TRUE(run(R"({"==":[{"var":"age"},"263"]})"));  // loose equality, as in JavaScript
  EXPECT_TRUE(run(R"({"!=":[{"var":"age"},264]})"));
  EXPECT_TRUE(run(R"({">":[{"var":"age"},100]})"));
  EXPECT_TRUE(run(R"({">=":[{"var":"age"},263]})"));
  EXPECT_FALSE(run(R"({"<":[{"var":"age"},263]})"));
  EXPECT_TRUE(run(R"({"<=":[100,{"var":"age"},300]})"));
  EXPECT_TRUE(run(R"({"and":[{"==":[{"var":"alive"},false]},{"in":["a",{"var":"tags"}]}]})"));
  EXPECT_TRUE(run(R"({"or":[{"==":[1,2]},{"in":["eo",{"var":"name"}]}]})"));
  EXPECT_TRUE(run(R"({"!":{"var":"alive"}})"));
  EXPECT_FALSE(run(R"({"var":"missing"})"));
  EXPECT_TRUE(run(R"({"==":[{"var":["missing","x"]},"x"]})"));
}

// The attack from issue 19: an `or` of 800 substring tests with 1,200-byte needles of the
// shape "xx…xy" over a 64 KB string of x. A quadratic search takes minutes per entity;
// the linear one answers, and every byte it touches is charged.
json substring_bomb(int tests) {
  json ors = json::array();
  std::string needle(1199, 'x');
  needle += 'y';
  for (int i = 0; i < tests; ++i) ors.push_back({{"in", {needle, {{"var", "text"}}}}});
  return {{"or", ors}};
}

TEST(JsonLogic, SubstringSearchIsLinearAndCharged) {
  json rule = substring_bomb(800);
  ASSERT_TRUE(check_logic(rule));
  json data = {{"text", std::string(64 * 1024, 'x')}};
  Budget roomy(BudgetLimits{.work = 1'000'000'000, .time = std::chrono::seconds(60)});
  auto start = std::chrono::steady_clock::now();
  auto r = matches_logic(rule, data, roomy);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_FALSE(*r);
  // 800 searches of 64 KB + 1,200 bytes each, plus the operations.
  EXPECT_GE(roomy.work_used(), 800u * (64u * 1024u + 1200u));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));  // minutes when quadratic

  Budget small(BudgetLimits{.work = 1'000'000});
  auto spent = matches_logic(rule, data, small);
  ASSERT_FALSE(spent);
  EXPECT_EQ(spent.error().code(), ErrorCode::query_too_costly);
  EXPECT_NE(spent.error().message().find("work budget"), std::string::npos);
  // A spent budget stays spent.
  EXPECT_FALSE(matches_logic(json::parse(R"({"==":[1,1]})"), data, small));
}

TEST(JsonLogic, ABudgetStopsAtItsDeadlineAndWhenTheClientHasGone) {
  json rule = substring_bomb(800);
  json data = {{"text", std::string(64 * 1024, 'x')}};
  Budget late(BudgetLimits{.work = UINT64_MAX, .time = std::chrono::milliseconds(0)});
  auto r = matches_logic(rule, data, late);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::deadline_exceeded);

  auto gone = std::make_shared<std::atomic<bool>>(true);
  Budget left(BudgetLimits{.work = UINT64_MAX, .time = std::chrono::seconds(60)}, gone);
  auto g = matches_logic(rule, data, left);
  ASSERT_FALSE(g);
  EXPECT_NE(g.error().message().find("has gone"), std::string::npos);
}

TEST(JsonLogic, TheBudgetedEvaluatorAgreesWithThePlainOne) {
  json data = {{"name", "Peon"}, {"age", 263}, {"alive", false}, {"tags", {"a", "b"}}, {"n", {{"x", 1}}}};
  for (const char* text :
       {R"({"==":[{"var":"name"},"Peon"]})", R"({"in":["eo",{"var":"name"}]})", R"({"in":["c",{"var":"tags"}]})",
        R"({"<=":[100,{"var":"age"},300]})", R"({"==":[{"var":["missing","x"]},"x"]})",
        R"({"==":[{"var":[{"var":"name"},"fb"]},"fb"]})", R"({"var":"n.x"})", R"({"and":[{"var":"alive"},1]})",
        R"({"or":[0,{"var":"tags"}]})", R"({"in":[1,[1,2]]})", R"({"!":[{"var":""}]})"}) {
    json rule = json::parse(text);
    ASSERT_TRUE(check_logic(rule)) << text;
    Budget b(BudgetLimits{});
    auto r = matches_logic(rule, data, b);
    ASSERT_TRUE(r) << text;
    EXPECT_EQ(*r, logic_truthy(apply_logic(rule, data))) << text;
  }
}

TEST(JsonLogic, BadRulesAreRefusedBeforeTheyRun) {
  for (const char* rule : {R"({"eval":[1]})", R"({"==":[1]})", R"({"==":1,"!=":2})", R"({"var":{"a":1}})"}) {
    auto s = check_logic(json::parse(rule));
    EXPECT_FALSE(s) << rule;
  }
  json deep = true;
  for (int i = 0; i < 100; ++i) deep = {{"!", deep}};
  EXPECT_FALSE(check_logic(deep));
}

// ---- the wire ----

TEST(WireBatch, DecodesWhatItEncodesAndRefusesGarbage) {
  Delta d = set_delta("red", 1, 5, "e", "p", 1.0);
  auto record = record_of(d, canonical(d));
  data::Run run{"red", "user", 1, 1, {}, {}};
  std::vector<DeltaId> ids{d.id};
  sign_run(run, ids, test_key());
  auto text = encode_batch({{"red", "CERT"}}, {record_of(run)}, {record});
  auto batch = decode_batch(text);
  ASSERT_TRUE(batch) << batch.error().message();
  ASSERT_EQ(batch->deltas.size(), 1u);
  EXPECT_EQ(batch->deltas[0].delta.id, d.id);
  EXPECT_EQ(batch->runs.size(), 1u);
  EXPECT_EQ(batch->creators.at("red"), "CERT");
  for (const char* garbage : {"", "not json", "[]", R"({"deltas":5})", R"({"deltas":[{"id":1}]})",
                              R"({"runs":[{"creator":"red"}],"deltas":[]})"}) {
    auto r = decode_batch(garbage);
    EXPECT_FALSE(r) << garbage;
  }
}

}  // namespace
}  // namespace fedmesh::data
