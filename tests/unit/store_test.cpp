// Store tests run against every backend through one fixture (PostgreSQL joins when
// its backend lands).
#include <gtest/gtest.h>

#include "store/sqlite_store.hpp"
#include "support/harness.hpp"

namespace fedmesh {
namespace {

class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto s = SqliteStore::open(GetParam() == "sqlite-file" ? dir_ / "store.db" : ":memory:");
    ASSERT_TRUE(s) << s.error().message();
    store_ = std::move(*s);
  }
  fedmesh::testing::TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreTest, MigrationsAreIdempotent) {
  EXPECT_EQ(store_->schema_version(), 1);
  EXPECT_TRUE(store_->migrate());
  EXPECT_EQ(store_->schema_version(), 1);
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

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values("sqlite-memory", "sqlite-file"));

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

}  // namespace
}  // namespace fedmesh
