// Store tests run against every backend through one fixture: SQLite in memory and in a
// file, and PostgreSQL on a private server started for the test process.
#include <gtest/gtest.h>

#include "store/postgres_store.hpp"
#include "store/sqlite_store.hpp"
#include "support/harness.hpp"
#include "support/postgres.hpp"

namespace fedmesh {
namespace {

// One server per test process, shared by its tests; each test gets a fresh database.
testing::PostgresServer& postgres() {
  static testing::PostgresServer server;
  return server;
}

class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgresql") {
      auto s = PostgresStore::open(postgres().create_database());
      ASSERT_TRUE(s) << s.error().message();
      store_ = std::move(*s);
      return;
    }
    auto s = SqliteStore::open(GetParam() == "sqlite-file" ? dir_ / "store.db" : ":memory:");
    ASSERT_TRUE(s) << s.error().message();
    store_ = std::move(*s);
  }
  fedmesh::testing::TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreTest, MigrationsAreIdempotent) {
  EXPECT_EQ(store_->schema_version(), 5);
  EXPECT_TRUE(store_->migrate());
  EXPECT_EQ(store_->schema_version(), 5);
}

TEST_P(StoreTest, MetaRoundTrip) {
  auto missing = store_->get_meta("x");
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());
  ASSERT_TRUE(store_->set_meta("x", "1"));
  ASSERT_TRUE(store_->set_meta("x", "2"));
  EXPECT_EQ(**store_->get_meta("x"), "2");
}

TEST_P(StoreTest, PeersUpsertListDelete) {
  PeerRecord p{"red", "https://127.0.0.1:1", "config", "Red", "0.1", "[\"node\"]", "", "t0", ""};
  ASSERT_TRUE(store_->upsert_peer(p));
  p.url = "https://127.0.0.1:2";
  p.created_at = "t1";  // created_at is kept from the first insert
  ASSERT_TRUE(store_->upsert_peer(p));
  ASSERT_TRUE(store_->upsert_peer({"blue", "https://127.0.0.1:3", "hello", "", "", "[]", "", "t2", ""}));
  auto list = store_->list_peers();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[1].name, "red");
  EXPECT_EQ((*list)[1].url, "https://127.0.0.1:2");
  EXPECT_EQ((*list)[1].created_at, "t0");
  ASSERT_TRUE(store_->delete_peer("red"));
  EXPECT_EQ(store_->list_peers()->size(), 1u);
  EXPECT_TRUE(store_->flush());
}

TEST_P(StoreTest, PackagesRoundTrip) {
  ASSERT_TRUE(store_->put_package({"palette", "1.0.0", "h1", "{}", "t0"}));
  ASSERT_TRUE(store_->put_package({"palette", "1.1.0", "h2", "{}", "t1"}));
  auto p = store_->get_package("palette");
  ASSERT_TRUE(p && p->has_value());
  EXPECT_EQ((*p)->hash, "h2");
  EXPECT_EQ(store_->list_packages()->size(), 1u);
  ASSERT_TRUE(store_->delete_package("palette"));
  EXPECT_FALSE(store_->get_package("palette")->has_value());
}

TEST_P(StoreTest, StateIsAtomicAndTyped) {
  EXPECT_FALSE(store_->state_get("p", "qty")->has_value());
  EXPECT_EQ(*store_->state_incr("p", "qty", 2), 2);
  EXPECT_EQ(*store_->state_incr("p", "qty", 1), 3);
  auto d = store_->state_decr_if("p", "qty", 1, 2);
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->applied);
  EXPECT_EQ(d->value, 2);
  d = store_->state_decr_if("p", "qty", 1, 2);
  EXPECT_FALSE(d->applied);
  EXPECT_EQ(d->value, 2);
  EXPECT_EQ(**store_->state_get("p", "qty"), "2");
  ASSERT_TRUE(store_->state_set("p", "name", "\"red\""));
  auto bad = store_->state_incr("p", "name", 1);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("does not hold a number"), std::string::npos);
  ASSERT_TRUE(store_->state_set("p", "a.b", "1"));
  EXPECT_EQ(*store_->state_keys("p", "a."), std::vector<std::string>{"a.b"});
  EXPECT_EQ(store_->state_keys("p", "")->size(), 3u);
  EXPECT_TRUE(store_->state_keys("other", "")->empty());
  ASSERT_TRUE(store_->state_delete("p", "a.b"));
  EXPECT_EQ(store_->state_keys("p", "")->size(), 2u);
}

TEST_P(StoreTest, LedgerPagesNewestFirstAndFilters) {
  std::vector<LedgerEntry> batch;
  for (int i = 0; i < 5; ++i) {
    batch.push_back({0, "c" + std::to_string(i), "t", "local", "op", "me", i % 2 ? "p/a" : "p/b",
                     i == 3 ? "out_of_stock" : "ok", 10, i == 3 ? "none left" : ""});
  }
  ASSERT_TRUE(store_->ledger_append(batch));
  auto all = store_->ledger_query({});
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 5u);
  EXPECT_EQ((*all)[0].call_id, "c4");
  auto page = store_->ledger_query({"", "", (*all)[1].id, 2});
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].call_id, "c2");
  EXPECT_EQ(store_->ledger_query({"p/a", "", 0, 50})->size(), 2u);
  auto errors = store_->ledger_query({"", "error", 0, 50});
  ASSERT_EQ(errors->size(), 1u);
  EXPECT_EQ((*errors)[0].error, "none left");
  ASSERT_TRUE(store_->ledger_trim(2));
  EXPECT_EQ(store_->ledger_query({})->size(), 2u);
}

TEST_P(StoreTest, CatalogRoundTrip) {
  ASSERT_TRUE(store_->catalog_put({"a", "https://a:1", "Org", "t0", "t0", "t0", "[]"}));
  ASSERT_TRUE(store_->catalog_put({"a", "https://a:1", "Org", "t0", "t1", "t2", "[{}]", "reg1", 42, true}));
  ASSERT_TRUE(store_->catalog_put({"b", "https://b:1", "Org", "t0", "t0", "t0", "[]"}));
  auto all = store_->catalog_load();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].modified, "t1");
  EXPECT_EQ((*all)[0].flows, "[{}]");
  EXPECT_EQ((*all)[0].origin, "reg1");
  EXPECT_EQ((*all)[0].version, 42);
  EXPECT_TRUE((*all)[0].deleted);
  ASSERT_TRUE(store_->catalog_delete("a"));
  EXPECT_EQ(store_->catalog_load()->size(), 1u);
  ASSERT_TRUE(store_->catalog_clear());
  EXPECT_TRUE(store_->catalog_load()->empty());
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values("sqlite-memory", "sqlite-file", "postgresql"));

TEST(SqliteStore, PersistsAcrossReopen) {
  fedmesh::testing::TempDir dir;
  {
    auto s = SqliteStore::open(dir / "a.db");
    ASSERT_TRUE(s);
    ASSERT_TRUE((*s)->set_meta("name", "red"));
  }
  auto s = SqliteStore::open(dir / "a.db");
  ASSERT_TRUE(s);
  EXPECT_EQ(**(*s)->get_meta("name"), "red");
}

TEST(SqliteStore, UnopenablePathIsAClearError) {
  auto s = SqliteStore::open("/nonexistent-dir/x/y.db");
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("cannot open SQLite store"), std::string::npos);
}

TEST(PostgresStore, PersistsAcrossReconnectAndMasksThePassword) {
  std::string url = postgres().create_database();
  {
    auto s = PostgresStore::open(url);
    ASSERT_TRUE(s) << s.error().message();
    ASSERT_TRUE((*s)->set_meta("name", "red"));
    ASSERT_TRUE(
        (*s)->ledger_append({{0, "c1", "2026-01-01T00:00:00Z", "in", "a", "b", "p/s", "ok", 5'000'000'000LL, ""}}));
  }
  auto s = PostgresStore::open(url);
  ASSERT_TRUE(s);
  EXPECT_EQ(**(*s)->get_meta("name"), "red");
  EXPECT_EQ((*s)->schema_version(), 5);
  EXPECT_EQ((*(*s)->ledger_query({}))[0].duration_us, 5'000'000'000LL);  // 64-bit on PostgreSQL too

  auto bad = PostgresStore::open("postgresql://fedmesh:hunter2@127.0.0.1:1/none?connect_timeout=2");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("cannot open PostgreSQL store postgresql://fedmesh:***@127.0.0.1:1/none"),
            std::string::npos)
      << bad.error().message();
  EXPECT_EQ(bad.error().message().find("hunter2"), std::string::npos);
}

TEST(PostgresStore, AConnectionTheServerDropsIsReopened) {
  std::string url = postgres().create_database();
  auto s = PostgresStore::open(url);
  ASSERT_TRUE(s);
  ASSERT_TRUE((*s)->set_meta("k", "1"));
  ASSERT_EQ(postgres().psql("postgres", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" +
                                            url.substr(url.rfind('/') + 1) + "'"),
            0);
  auto lost = (*s)->get_meta("k");  // this call may see the drop...
  if (!lost) {
    EXPECT_NE(lost.error().message().find("get_meta"), std::string::npos);
  }
  EXPECT_TRUE(testing::wait_until([&] { return static_cast<bool>((*s)->get_meta("k")); }, std::chrono::seconds(5)));
  EXPECT_EQ(**(*s)->get_meta("k"), "1");  // ...the next reconnects
}

}  // namespace
}  // namespace fedmesh
