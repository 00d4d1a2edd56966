// Decoders of outside bytes (hello, package uploads, config files, JSON bodies) fed
// thousands of mutated and random inputs: each must answer a value or an error, never
// crash, hang or throw. A seeded stand-in for coverage-guided fuzzing (libFuzzer needs
// clang), deterministic so a failure reproduces.
#include <chrono>
#include <random>

#include <gtest/gtest.h>

#include "config/loader.hpp"
#include "core/json.hpp"
#include "crypto/sign.hpp"
#include "data/collection.hpp"
#include "data/json_logic.hpp"
#include "data/wire.hpp"
#include "federation/hello.hpp"
#include "registry/catalog.hpp"
#include "registry/kodo.hpp"
#include "registry/mesh_codec.hpp"
#include "skills/package.hpp"

namespace fedmesh {
namespace {

class Mutator {
 public:
  explicit Mutator(std::uint32_t seed) : rng_(seed) {}
  std::string mutate(std::string s) {
    int edits = 1 + static_cast<int>(rng_() % 8);
    for (int i = 0; i < edits; ++i) {
      std::size_t pos = s.empty() ? 0 : rng_() % s.size();
      switch (rng_() % 6) {
        case 0:
          if (!s.empty()) s.erase(pos, 1 + rng_() % 8);
          break;
        case 1: s.insert(pos, 1, static_cast<char>(rng_() % 256)); break;
        case 2:
          if (!s.empty()) s[pos] = static_cast<char>(rng_() % 256);
          break;
        case 3: s.insert(pos, tokens_[rng_() % tokens_.size()]); break;
        case 4:
          if (!s.empty()) s.insert(pos, s.substr(pos, rng_() % 32));
          break;
        default: s = s.substr(0, pos); break;
      }
    }
    return s;
  }
  std::string random(std::size_t max) {
    std::string s(rng_() % max, '\0');
    for (auto& c : s) c = static_cast<char>(rng_() % 256);
    return s;
  }

 private:
  std::mt19937 rng_;
  std::vector<std::string> tokens_ = {"{",     "}",  "[",       "]",  "\"", ":",  ",",  "null", "true",
                                      "1e999", "-0", "\\u0000", "=",  "[[", "]]", "\n", "${",   "${X}",
                                      "'''",   "#",  "- ",      ": ", "&a", "*a", "!!"};
};

constexpr int kRounds = 3000;

TEST(DecoderRobustness, Hello) {
  std::string seed =
      federation::Hello{"red", "Red", "https://127.0.0.1:4023", "0.1.0", {"node"}, true, {"a/b"}}.to_json().dump();
  Mutator m(1);
  for (int i = 0; i < kRounds; ++i) (void)federation::decode_hello(i % 10 ? m.mutate(seed) : m.random(256));
}

TEST(DecoderRobustness, JsonBodies) {
  std::string seed = R"({"color1":"red","color2":[1,2,{"x":null}],"n":-1.5e3})";
  Mutator m(2);
  for (int i = 0; i < kRounds; ++i) (void)parse_json(i % 10 ? m.mutate(seed) : m.random(256));
  std::string deep(100000, '[');
  EXPECT_FALSE(parse_json(deep));
}

// Issue 19: a body of many small objects ([{},{},...]) took nlohmann's callback parser
// n^2/2 steps (it rescans the enclosing array after each object): a 1 MB body, minutes.
TEST(DecoderRobustness, AManySmallObjectsBodyParsesInLinearTime) {
  std::string body = "[";
  for (int i = 0; i < 300'000; ++i) body += i ? ",{}" : "{}";
  body += "]";
  auto start = std::chrono::steady_clock::now();
  auto j = parse_json(body);
  ASSERT_TRUE(j) << j.error().message();
  EXPECT_EQ(j->size(), 300'000u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));  // a deadline, not a timing
  // The depth limit and the error messages are as before.
  auto deep = parse_json("[[[1]]]", 2);
  ASSERT_FALSE(deep);
  EXPECT_NE(deep.error().message().find("nested deeper than 2"), std::string::npos);
  EXPECT_TRUE(parse_json("[[1]]", 2));
  auto bad = parse_json("{\"a\":}");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message().rfind("invalid JSON: parse error at line 1, column 6", 0), 0u)
      << bad.error().message();
  EXPECT_FALSE(parse_json("1e999"));
  EXPECT_FALSE(parse_json("{} x"));
  EXPECT_FALSE(parse_json(""));
}

// A replication message with a signed run over two deltas, its shapes mutated: decoding
// answers a batch or an error; settings and JSON-Logic rules likewise.
TEST(DecoderRobustness, SharedDataMessagesSettingsAndFilters) {
  std::vector<data::Delta> deltas(2);
  std::vector<DeltaRecord> records;
  std::vector<data::DeltaId> ids;
  for (int i = 0; i < 2; ++i) {
    auto& d = deltas[static_cast<std::size_t>(i)];
    d.creator = "red";
    d.collection = "user";
    d.seq = d.tx = i + 1;
    d.time = 1700000000000000;
    d.entity = "peon-1";
    d.property = i ? "age" : "name";
    d.value = i ? data::Value(263.0) : data::Value(std::string("Peon"));
    auto body = data::seal(d);
    records.push_back(data::record_of(d, body));
    ids.push_back(d.id);
  }
  data::Run run{"red", "user", 1, 2, {}, {}};
  data::sign_run(run, ids, *crypto::SigningKey::from_seed(std::string(32, 's')));
  std::string seed = data::encode_batch({{"red", "-----BEGIN CERTIFICATE-----"}}, {data::record_of(run)}, records);
  ASSERT_TRUE(data::decode_batch(seed));
  Mutator m(6);
  for (int i = 0; i < kRounds; ++i) (void)data::decode_batch(i % 10 ? m.mutate(seed) : m.random(512));
  std::string settings = R"({"resolver":"lww","properties":{"a":{"type":"reference","collection":"b"}}})";
  std::string rule = R"({"and":[{"==":[{"var":"a"},1]},{"in":["x",{"var":"b"}]},{"<=":[1,{"var":"c"},3]}]})";
  for (int i = 0; i < kRounds; ++i) {
    if (auto j = parse_json(m.mutate(settings))) (void)data::settings_from_json(*j);
    if (auto j = parse_json(m.mutate(rule)))
      if (data::check_logic(*j)) (void)data::apply_logic(*j, {{"a", 1}, {"b", "xyz"}, {"c", 2}});
  }
}

TEST(DecoderRobustness, PackageUploads) {
  std::string manifest = "name = \"p\"\nversion = \"1\"\nenv = [\"A\"]\n[config]\nx = 1\n[skills.s]\nacl = [\"a\"]\n";
  Mutator m(3);
  for (int i = 0; i < kRounds; ++i) {
    nlohmann::json upload = {{"manifest", m.mutate(manifest)}, {"files", {{"main.lua", "skill('s', function() end)"}}}};
    (void)skills::package_from_json(upload);
    auto body = parse_json(m.mutate(dump_json(upload)));
    if (body) (void)skills::package_from_json(*body);
  }
}

TEST(DecoderRobustness, RegistryBodies) {
  std::string node = R"({"url":"http://localhost:3367","organization":"o","flows":{"/a":{"url":"/a","name":"A",)"
                     R"("description":null,"tags":["x"],"author":null}},"created":null,"status":"unknown"})";
  std::string offer = R"({"url":"http://h:1","organization":null,"feed":true,"nodes":{"http://n:2":)" + node + "}}";
  std::string change =
      R"({"name":"n1","url":"https://h:1","organization":"o","created":"2026-01-01T00:00:00.000000Z",)"
      R"("modified":"2026-01-01T00:00:00.000000Z","heartbeat":"2026-01-01T00:00:00.000000Z",)"
      R"("flows":[{"name":"p/s","tags":["t"]}],"origin":"r","version":5,"deleted":false,"kind":"kodo"})";
  Mutator m(5);
  auto now = std::chrono::system_clock::now();
  for (int i = 0; i < kRounds; ++i) {
    for (const auto* seed : {&node, &offer, &change}) {
      auto body = parse_json(m.mutate(*seed));
      if (!body) continue;
      (void)registry::kodo::decode_node(*body);
      (void)registry::kodo::decode_offer(*body);
      (void)registry::decode_change(*body, now);
    }
  }
}

TEST(DecoderRobustness, ConfigFiles) {
  std::string toml =
      "name = \"a\"\n[http]\nlisten = \"127.0.0.1:1\"\n[federation]\ncert = \"c\"\nkey = \"k\"\n"
      "trust = [\"t\"]\n[[federation.peers]]\nname = \"b\"\nurl = \"https://h:1\"\n";
  std::string yaml =
      "name: a\nfederation:\n  cert: c\n  key: k\n  trust: [t]\n  peers:\n    - name: b\n      url: https://h:1\n";
  Mutator m(4);
  config::Environment env(std::map<std::string, std::string>{{"X", "1"}});
  for (int i = 0; i < kRounds; ++i) {
    (void)config::load_config_text(m.mutate(toml), config::Format::Toml, "n.toml", "/", env);
    (void)config::load_config_text(m.mutate(yaml), config::Format::Yaml, "n.yaml", "/", env);
  }
}

}  // namespace
}  // namespace fedmesh
