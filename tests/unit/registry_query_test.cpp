// The catalog query language, sorting, paging and counts on a 50-flow fixture
// (5 organizations, 5 nodes, 10 flows each, with tags and authors).
#include <gtest/gtest.h>

#include "registry/query.hpp"

namespace fedmesh::registry {
namespace {

using json = nlohmann::json;

std::vector<FlowRecord> fixture() {
  const char* orgs[] = {"Acme Paint", "Blue Pigments", "Cyan Labs", "Delta Data", "Echo Health"};
  const char* authors[] = {"ada", "grace", "linus"};
  const char* topics[] = {"color", "inventory", "ml", "stats", "health"};
  std::vector<FlowRecord> flows;
  for (int n = 0; n < 5; ++n) {
    for (int i = 0; i < 10; ++i) {
      FlowRecord f;
      f.registry = "reg1";
      f.node = "node" + std::to_string(n);
      f.organization = orgs[n];
      f.name = "pkg" + std::to_string(i % 3) + "/skill" + std::to_string(i);
      f.url = "https://127.0.0.1:40" + std::to_string(n) + "0";
      f.author = authors[(n + i) % 3];
      f.description = std::string("Flow ") + std::to_string(i) + " about " + topics[i % 5];
      f.tags = {topics[i % 5], i % 2 ? "odd" : "even"};
      f.status = "alive";
      f.created = f.modified = f.heartbeat = "2026-11-24T00:00:0" + std::to_string(i % 10) + ".000000Z";
      flows.push_back(f);
    }
  }
  return flows;
}

json query(const std::string& q, const std::string& by = "", long long p = 0, long long pp = 50) {
  auto r = run_query(fixture(), {q, by, p, pp});
  EXPECT_TRUE(r) << (r ? "" : r.error().message());
  return r ? *r : json();
}

TEST(RegistryQuery, PagingFifteenAtATime) {
  std::vector<std::size_t> sizes;
  for (int p = 0; p < 5; ++p) sizes.push_back(query("", "", p, 15)["items"].size());
  EXPECT_EQ(sizes, (std::vector<std::size_t>{15, 15, 15, 5, 0}));
  auto page = query("", "", 1, 15);
  EXPECT_EQ(page["total"], 50);
  EXPECT_EQ(page["filtered"], 50);
  EXPECT_EQ(page["p"], 1);
  EXPECT_EQ(page["pp"], 15);
}

TEST(RegistryQuery, BadPagingAndSortAreErrors) {
  EXPECT_EQ(run_query(fixture(), {"", "", -1, 10}).error().message(), "p must be 0 or more");
  EXPECT_EQ(run_query(fixture(), {"", "", 0, 0}).error().message(), "pp must be between 1 and 100");
  EXPECT_EQ(run_query(fixture(), {"", "", 0, 1000}).error().message(), "pp must be between 1 and 100");
  EXPECT_EQ(run_query(fixture(), {"", "colour", 0, 10}).error().message(), "by: unknown field 'colour'");
  EXPECT_EQ(run_query(fixture(), {"", "name:up", 0, 10}).error().message(),
            "by: 'name:up': the direction is :asc or :desc");
}

TEST(RegistryQuery, SortOrders) {
  auto asc = query("", "name", 0, 50)["items"];
  for (std::size_t i = 1; i < asc.size(); ++i) EXPECT_LE(asc[i - 1]["name"], asc[i]["name"]);
  auto desc = query("", "organization:desc,name:asc", 0, 50)["items"];
  EXPECT_EQ(desc[0]["organization"], "Echo Health");
  EXPECT_EQ(desc[49]["organization"], "Acme Paint");
  for (std::size_t i = 1; i < 10; ++i) EXPECT_LE(desc[i - 1]["name"], desc[i]["name"]);
  // Tags sort within each row first: ["inventory","odd"] and ["odd","inventory"] are equal keys.
  auto by_tags = query("", "tags", 0, 50)["items"];
  EXPECT_EQ(by_tags[0]["tags"], json({"color", "even"}));
}

TEST(RegistryQuery, FilterLanguage) {
  EXPECT_EQ(query(R"(organization == "Acme Paint")")["filtered"], 10);
  EXPECT_EQ(query(R"(organization != "Acme Paint")")["filtered"], 40);
  EXPECT_EQ(query(R"(description ~ "INVENTORY")")["filtered"], 10);
  EXPECT_EQ(query(R"(@tag("ml"))")["filtered"], 10);
  EXPECT_EQ(query(R"(@tag("ML") & node == "node1")")["filtered"], 2);
  EXPECT_EQ(query(R"(@tag("ml") | @tag("color"))")["filtered"], 20);
  EXPECT_EQ(query(R"((node == "node0" | node == "node1") & tags == "odd")")["filtered"], 10);
  EXPECT_EQ(query(R"(tags ~ "invent" & author == "ada")")["filtered"], 3);
  EXPECT_EQ(query(R"(name == "pkg0/skill3")")["filtered"], 5);
  EXPECT_EQ(query(R"(description ~ "say \"hi\"")")["filtered"], 0);
  EXPECT_FALSE(query(R"(@tag("ml"))").contains("full_text"));
}

TEST(RegistryQuery, UnparsableQueriesFallBackToFullTextAndSaySo) {
  auto r = query("inventory");
  EXPECT_EQ(r["full_text"], true);
  EXPECT_EQ(r["parse_error"], "at column 1: unknown field 'inventory'");
  EXPECT_EQ(r["filtered"], 10);
  auto org = query("cyan");
  EXPECT_EQ(org["filtered"], 10);
  EXPECT_EQ(query("grace")["filtered"], query(R"(author == "grace")")["filtered"]);
  auto bad = query(R"(colour == "red")");
  EXPECT_EQ(bad["parse_error"], "at column 1: unknown field 'colour'");
  EXPECT_EQ(query(R"((node == "x")")["parse_error"], "at column 13: expected ')'");
  EXPECT_EQ(query(R"(node == "x)")["parse_error"], "at column 11: unterminated string");
  EXPECT_EQ(query(std::string(100, '('))["full_text"], true);  // nesting is bounded
}

TEST(RegistryQuery, Counts) {
  auto c = count_flows(fixture());
  EXPECT_EQ(c["total"], 50);
  EXPECT_EQ(c["node"]["node3"], 10);
  EXPECT_EQ(c["organization"]["Delta Data"], 10);
  EXPECT_EQ(c["tags"]["odd"], 25);
  EXPECT_EQ(c["tags"]["ml"], 10);
}

}  // namespace
}  // namespace fedmesh::registry
