// The catalog query language, sorting, paging and counts on a 50-flow fixture
// (5 organizations, 5 nodes, 10 flows each, with tags and authors).
#include <gtest/gtest.h>

#include <random>

#include "registry/flow_index.hpp"
#include "support/reference_query.hpp"

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

// The index against a plain reference (Filter::matches, string sorts) on random rows
// and many queries: same filtered counts, same rows in the same order on every page.
std::string lower_copy(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string field_of(const FlowRecord& f, const std::string& field) {
  auto j = f.to_json();
  return j[field].get<std::string>();
}

json reference(const std::vector<FlowRecord>& rows, const QueryRequest& req) {
  std::vector<std::size_t> sel;
  auto filter = Filter::parse(req.q);
  std::string needle = lower_copy(req.q);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& f = rows[i];
    bool hit = true;
    if (req.q.empty()) {
      hit = true;
    } else if (filter) {
      hit = fedmesh::testing::reference_matches(*filter, f);
    } else {
      hit = false;
      for (const auto* v : {&f.organization, &f.name, &f.author, &f.description})
        hit = hit || lower_copy(*v).find(needle) != std::string::npos;
      for (const auto& t : f.tags) hit = hit || lower_copy(t).find(needle) != std::string::npos;
    }
    if (hit) sel.push_back(i);
  }
  auto keys = *parse_sort(req.by);
  auto value = [&](std::size_t i, const std::string& field) {
    const auto& f = rows[i];
    if (field == "tags") {
      auto tags = f.tags;
      std::sort(tags.begin(), tags.end());
      std::string k;
      for (const auto& t : tags) k += t + '\x1f';
      return k;
    }
    return field_of(f, field);
  };
  keys.push_back({"node", false});
  keys.push_back({"name", false});
  std::stable_sort(sel.begin(), sel.end(), [&](std::size_t a, std::size_t b) {
    for (const auto& k : keys) {
      auto va = value(a, k.field), vb = value(b, k.field);
      if (va != vb) return k.descending ? va > vb : va < vb;
    }
    return false;
  });
  json names = json::array();
  for (std::size_t i = static_cast<std::size_t>(req.page * req.page_size);
       i < sel.size() && i < static_cast<std::size_t>((req.page + 1) * req.page_size); ++i)
    names.push_back(rows[sel[i]].node + "|" + rows[sel[i]].name);
  return {{"filtered", sel.size()}, {"names", names}};
}

TEST(RegistryQuery, IndexAgreesWithAPlainReference) {
  std::mt19937 rng(11);
  const char* words[] = {"Red", "green", "BLUE", "ml", "stats", "Geo", "text", "ada", "grace"};
  std::vector<FlowRecord> rows;
  for (int i = 0; i < 600; ++i) {
    FlowRecord f;
    f.registry = "reg" + std::to_string(rng() % 2);
    f.node = "node" + std::to_string(rng() % 40);
    f.organization = std::string("Org ") + words[rng() % 9];
    f.name = "pkg" + std::to_string(rng() % 7) + "/s" + std::to_string(rng() % 50);
    f.url = "https://h:1/" + f.name;
    f.author = words[rng() % 9];
    f.description = std::string(words[rng() % 9]) + " and " + words[rng() % 9];
    for (unsigned t = rng() % 4; t > 0; --t) f.tags.push_back(words[rng() % 9]);
    f.status = rng() % 3 ? "alive" : "stale";
    f.created = f.modified = f.heartbeat = "2026-11-24T00:00:0" + std::to_string(rng() % 10) + ".000000Z";
    rows.push_back(f);
  }
  FlowIndex index(rows);
  std::vector<std::string> qs = {"",
                                 R"(organization == "Org ml")",
                                 R"(author != "ada")",
                                 R"(description ~ "RED")",
                                 R"(@tag("blue"))",
                                 R"(tags == "Geo")",
                                 R"(tags != "ml")",
                                 R"(tags ~ "e")",
                                 R"(status == "stale" | (node ~ "1" & name ~ "pkg3"))",
                                 R"((registry == "reg1" & @tag("ADA")) | author ~ "GR")",
                                 "text",
                                 "and b",
                                 R"(name ~ "")"};
  std::vector<std::string> bys = {
      "", "name:desc", "tags", "tags:desc,author", "organization,status:desc", "heartbeat:desc,url"};
  int checked = 0;
  for (const auto& q : qs) {
    for (const auto& by : bys) {
      for (long long p : {0LL, 1LL, 7LL}) {
        QueryRequest req{q, by, p, 13};
        auto got = index.query(req);
        ASSERT_TRUE(got) << q;
        auto want = reference(rows, req);
        ASSERT_EQ((*got)["filtered"], want["filtered"]) << q << " by " << by;
        json names = json::array();
        for (const auto& item : (*got)["items"])
          names.push_back(item["node"].get<std::string>() + "|" + item["name"].get<std::string>());
        ASSERT_EQ(names, want["names"]) << q << " by " << by << " p " << p;
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 13 * 6 * 3);
}

TEST(RegistryQuery, LiveValuesOverrideTheRecords) {
  FlowIndex index(fixture());
  int asked = 0;
  FlowIndex::Live live;
  live.status = [&](const std::string& node) {
    ++asked;
    return std::string(node == "node2" ? "stale" : "alive");
  };
  live.item = [](json& item) { item["status"] = item["node"] == "node2" ? "stale" : "alive"; };
  auto r = index.query({R"(status == "stale")", "", 0, 50}, {}, live);
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)["filtered"], 10);
  EXPECT_EQ((*r)["items"][0]["status"], "stale");
  EXPECT_EQ(asked, 5);  // once per node
  auto sorted = index.query({"", "status:desc", 0, 1}, {}, live);
  EXPECT_EQ((*sorted)["items"][0]["node"], "node2");
  asked = 0;
  auto plain = index.query({R"(node == "node2")", "name", 0, 1}, {}, live);
  EXPECT_EQ((*plain)["items"][0]["status"], "stale");  // from the item hook
  EXPECT_EQ(asked, 0);                                 // no status in q or by: no per-node pass
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
