// Store tests run against every backend through one fixture: SQLite in memory and in a
// file, and PostgreSQL on a private server started for the test process.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "store/open.hpp"
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
      auto s = open_postgres_store(postgres().create_database());
      ASSERT_TRUE(s) << s.error().message();
      store_ = std::move(*s);
      return;
    }
    auto s = open_sqlite_store(GetParam() == "sqlite-file" ? dir_ / "store.db" : ":memory:");
    ASSERT_TRUE(s) << s.error().message();
    store_ = std::move(*s);
  }
  fedmesh::testing::TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreTest, MigrationsAreIdempotent) {
  EXPECT_EQ(store_->schema_version(), 8);
  EXPECT_TRUE(store_->migrate());
  EXPECT_EQ(store_->schema_version(), 8);
}

TEST_P(StoreTest, JobTasksAreClaimedOnceEvenByConcurrentClaimers) {
  auto& jobs = store_->jobs();
  ArtifactRecord a;
  a.id = "job-1";
  a.project = "p";
  a.token = "t";
  a.spec = "{}";
  a.state = "submitted";
  a.input = "{}";
  a.progress = "{}";
  std::vector<TaskRecord> tasks;
  for (int i = 0; i < 40; ++i) {
    TaskRecord t;
    t.id = "job-1.0." + std::to_string(i);
    t.artifact = "job-1";
    t.client = "c";
    t.datasource = "d" + std::to_string(i);
    t.created_at = i;
    tasks.push_back(t);
  }
  ASSERT_TRUE(jobs.create(a, tasks));
  std::mutex mu;
  std::set<std::string> claimed;
  std::atomic<int> duplicates{0};
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k)
    threads.emplace_back([&, k] {
      for (int n = 0;; ++n) {
        auto t = jobs.claim("c", "lease-" + std::to_string(k) + "-" + std::to_string(n), "agg", 1000, 61'000, 3);
        ASSERT_TRUE(t) << t.error().message();
        if (!*t) return;
        std::lock_guard lock(mu);
        if (!claimed.insert((*t)->id).second) ++duplicates;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(claimed.size(), 40u);
  EXPECT_EQ(duplicates, 0);
  EXPECT_EQ((*jobs.artifact("job-1"))->state, "running");
  // A result needs the current lease; the round's last one says nothing remains.
  auto all = *jobs.tasks("job-1");
  EXPECT_FALSE(jobs.complete(all[0].id, "c", "not-the-lease", "{}", 2000)->has_value());
  for (std::size_t i = 0; i < all.size(); ++i) {
    auto left = jobs.complete(all[i].id, "c", all[i].lease, R"({"n":1})", 2000);
    ASSERT_TRUE(left && left->has_value());
    EXPECT_EQ(**left, static_cast<int>(all.size() - i - 1));
  }
  EXPECT_FALSE(jobs.complete(all[0].id, "c", all[0].lease, "{}", 2000)->has_value()) << "completed once";
  // One combine per round, however many aggregators try.
  int decided = 0;
  auto decide = [&](const ArtifactRecord&, const std::vector<TaskRecord>& done) {
    ++decided;
    EXPECT_EQ(done.size(), 40u);
    RoundOutcome out;
    out.state = "completed";
    out.result = R"({"count":40})";
    return out;
  };
  EXPECT_TRUE(*jobs.advance("job-1", 0, 3000, decide));
  EXPECT_FALSE(*jobs.advance("job-1", 0, 3000, decide));
  EXPECT_EQ(decided, 1);
  EXPECT_EQ((*jobs.artifact("job-1"))->result, R"({"count":40})");
}

TEST_P(StoreTest, ExpiredLeasesAreLeasedAgainThenFailAndJoinsAreRecordedOnce) {
  auto& jobs = store_->jobs();
  ArtifactRecord a;
  a.id = "job-2";
  a.state = "submitted";
  a.spec = a.input = a.progress = "{}";
  TaskRecord t;
  t.id = "job-2.0.0";
  t.artifact = "job-2";
  t.client = "c";
  ASSERT_TRUE(jobs.create(a, {t}));
  for (int attempt = 1; attempt <= 2; ++attempt) {
    auto c = jobs.claim("c", "l" + std::to_string(attempt), "agg", attempt * 1000, attempt * 1000 + 500, 2);
    ASSERT_TRUE(c && *c);
    EXPECT_EQ((*c)->attempts, attempt);
    EXPECT_FALSE(*jobs.claim("c", "x", "agg", attempt * 1000 + 100, attempt * 1000 + 600, 2)) << "still leased";
  }
  EXPECT_FALSE(*jobs.claim("c", "l3", "agg", 9000, 9500, 2)) << "no attempts left";
  auto expired = jobs.expire(9000, 2);
  ASSERT_TRUE(expired);
  ASSERT_EQ(expired->size(), 1u);
  ASSERT_TRUE(jobs.fail_artifact("job-2", R"({"code":"deadline_exceeded"})", 9000));
  EXPECT_EQ((*jobs.artifact("job-2"))->state, "failed");

  EXPECT_TRUE(*jobs.record_join("alice", "digest-1", "fp", 1));
  EXPECT_FALSE(*jobs.record_join("alice", "", "fp", 2)) << "one certificate per name";
  EXPECT_FALSE(*jobs.record_join("bob", "digest-1", "fp", 3)) << "a one-time token once";
  EXPECT_TRUE(*jobs.record_join("bob", "", "fp", 4));
  EXPECT_TRUE(*jobs.record_join("carol", "", "fp", 5)) << "project tokens (no digest) join many";
  ASSERT_TRUE(jobs.put_client({"dave", "Org", "[]", 1}));
  EXPECT_FALSE(*jobs.record_join("dave", "", "fp", 6)) << "a connected client's name is taken";
}

TEST_P(StoreTest, MetaRoundTrip) {
  auto missing = store_->meta().get("x");
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());
  ASSERT_TRUE(store_->meta().set("x", "1"));
  ASSERT_TRUE(store_->meta().set("x", "2"));
  EXPECT_EQ(**store_->meta().get("x"), "2");
}

TEST_P(StoreTest, PeersUpsertListDelete) {
  PeerRecord p{"red", "https://127.0.0.1:1", "config", "Red", "0.1", "[\"node\"]", "", "t0", ""};
  ASSERT_TRUE(store_->peers().upsert(p));
  p.url = "https://127.0.0.1:2";
  p.created_at = "t1";  // created_at is kept from the first insert
  ASSERT_TRUE(store_->peers().upsert(p));
  ASSERT_TRUE(store_->peers().upsert({"blue", "https://127.0.0.1:3", "hello", "", "", "[]", "", "t2", ""}));
  auto list = store_->peers().list();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[1].name, "red");
  EXPECT_EQ((*list)[1].url, "https://127.0.0.1:2");
  EXPECT_EQ((*list)[1].created_at, "t0");
  ASSERT_TRUE(store_->peers().remove("red"));
  EXPECT_EQ(store_->peers().list()->size(), 1u);
  EXPECT_TRUE(store_->flush());
}

TEST_P(StoreTest, PackagesRoundTrip) {
  ASSERT_TRUE(store_->packages().put({"palette", "1.0.0", "h1", "{}", "t0"}));
  ASSERT_TRUE(store_->packages().put({"palette", "1.1.0", "h2", "{}", "t1"}));
  auto p = store_->packages().get("palette");
  ASSERT_TRUE(p && p->has_value());
  EXPECT_EQ((*p)->hash, "h2");
  EXPECT_EQ(store_->packages().list()->size(), 1u);
  ASSERT_TRUE(store_->packages().remove("palette"));
  EXPECT_FALSE(store_->packages().get("palette")->has_value());
}

TEST_P(StoreTest, StateIsAtomicAndTyped) {
  EXPECT_FALSE(store_->state().get("p", "qty")->has_value());
  EXPECT_EQ(*store_->state().incr("p", "qty", 2), 2);
  EXPECT_EQ(*store_->state().incr("p", "qty", 1), 3);
  auto d = store_->state().decr_if("p", "qty", 1, 2);
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->applied);
  EXPECT_EQ(d->value, 2);
  d = store_->state().decr_if("p", "qty", 1, 2);
  EXPECT_FALSE(d->applied);
  EXPECT_EQ(d->value, 2);
  EXPECT_EQ(**store_->state().get("p", "qty"), "2");
  ASSERT_TRUE(store_->state().set("p", "name", "\"red\""));
  auto bad = store_->state().incr("p", "name", 1);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("does not hold a number"), std::string::npos);
  ASSERT_TRUE(store_->state().set("p", "a.b", "1"));
  EXPECT_EQ(*store_->state().keys("p", "a."), std::vector<std::string>{"a.b"});
  EXPECT_EQ(store_->state().keys("p", "")->size(), 3u);
  EXPECT_TRUE(store_->state().keys("other", "")->empty());
  ASSERT_TRUE(store_->state().remove("p", "a.b"));
  EXPECT_EQ(store_->state().keys("p", "")->size(), 2u);
}

TEST_P(StoreTest, ConcurrentIncrementsLoseNothing) {
  std::vector<std::thread> threads;  // the key does not exist yet: the first writers race to create it
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) ASSERT_TRUE(store_->state().incr("p", "n", 1));
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(**store_->state().get("p", "n"), "200");
}

TEST_P(StoreTest, LedgerPagesNewestFirstAndFilters) {
  std::vector<LedgerEntry> batch;
  for (int i = 0; i < 5; ++i) {
    batch.push_back({0, "c" + std::to_string(i), "t", "local", "op", "me", i % 2 ? "p/a" : "p/b",
                     i == 3 ? "out_of_stock" : "ok", 10, i == 3 ? "none left" : ""});
  }
  ASSERT_TRUE(store_->ledger().append(batch));
  auto all = store_->ledger().query({});
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 5u);
  EXPECT_EQ((*all)[0].call_id, "c4");
  auto page = store_->ledger().query({"", "", (*all)[1].id, 2});
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].call_id, "c2");
  EXPECT_EQ(store_->ledger().query({"p/a", "", 0, 50})->size(), 2u);
  auto errors = store_->ledger().query({"", "error", 0, 50});
  ASSERT_EQ(errors->size(), 1u);
  EXPECT_EQ((*errors)[0].error, "none left");
  ASSERT_TRUE(store_->ledger().trim(2));
  EXPECT_EQ(store_->ledger().query({})->size(), 2u);
}

TEST_P(StoreTest, CatalogRoundTrip) {
  ASSERT_TRUE(store_->catalog().put({"a", "https://a:1", "Org", "t0", "t0", "t0", "[]"}));
  ASSERT_TRUE(store_->catalog().put({"a", "https://a:1", "Org", "t0", "t1", "t2", "[{}]", "reg1", 42, true}));
  ASSERT_TRUE(store_->catalog().put({"b", "https://b:1", "Org", "t0", "t0", "t0", "[]"}));
  auto all = store_->catalog().load();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].modified, "t1");
  EXPECT_EQ((*all)[0].flows, "[{}]");
  EXPECT_EQ((*all)[0].origin, "reg1");
  EXPECT_EQ((*all)[0].version, 42);
  EXPECT_TRUE((*all)[0].deleted);
  ASSERT_TRUE(store_->catalog().remove("a"));
  EXPECT_EQ(store_->catalog().load()->size(), 1u);
  ASSERT_TRUE(store_->catalog().clear());
  EXPECT_TRUE(store_->catalog().load()->empty());
}

TEST_P(StoreTest, EquivocationsAreKeptOnceAndResolvedPerStream) {
  auto& d = store_->deltas();
  EquivocationRecord e{"red", "user", 3, "aa", "bb", "blue", R"({"run":{}})", 100, 0};
  ASSERT_TRUE(d.add_equivocation(e));
  ASSERT_TRUE(d.add_equivocation({"red", "user", 3, "aa", "bb", "green", "{}", 200, 0}));  // kept already
  ASSERT_TRUE(d.add_equivocation({"red", "item", 1, "cc", "dd", "blue", "{}", 300, 0}));
  ASSERT_TRUE(d.resolve_equivocations("red", "user", 400));
  auto all = d.equivocations();
  ASSERT_TRUE(all) << all.error().message();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].from, "blue");
  EXPECT_EQ((*all)[0].evidence, R"({"run":{}})");
  EXPECT_EQ((*all)[0].held, "aa");
  EXPECT_EQ((*all)[0].other, "bb");
  EXPECT_EQ((*all)[0].detected, 100);
  EXPECT_EQ((*all)[0].resolved, 400);
  EXPECT_EQ((*all)[1].collection, "item");
  EXPECT_EQ((*all)[1].resolved, 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values("sqlite-memory", "sqlite-file", "postgresql"));

TEST(SqliteBackend, PersistsAcrossReopen) {
  fedmesh::testing::TempDir dir;
  {
    auto s = open_sqlite_store(dir / "a.db");
    ASSERT_TRUE(s);
    ASSERT_TRUE((*s)->meta().set("name", "red"));
  }
  auto s = open_sqlite_store(dir / "a.db");
  ASSERT_TRUE(s);
  EXPECT_EQ(**(*s)->meta().get("name"), "red");
}

TEST(SqliteBackend, UnopenablePathIsAClearError) {
  auto s = open_sqlite_store("/nonexistent-dir/x/y.db");
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("cannot open SQLite store"), std::string::npos);
}

TEST(PostgresBackend, PersistsAcrossReconnectAndMasksThePassword) {
  std::string url = postgres().create_database();
  {
    auto s = open_postgres_store(url);
    ASSERT_TRUE(s) << s.error().message();
    ASSERT_TRUE((*s)->meta().set("name", "red"));
    ASSERT_TRUE(
        (*s)->ledger().append({{0, "c1", "2026-01-01T00:00:00Z", "in", "a", "b", "p/s", "ok", 5'000'000'000LL, ""}}));
  }
  auto s = open_postgres_store(url);
  ASSERT_TRUE(s);
  EXPECT_EQ(**(*s)->meta().get("name"), "red");
  EXPECT_EQ((*s)->schema_version(), 8);
  EXPECT_EQ((*(*s)->ledger().query({}))[0].duration_us, 5'000'000'000LL);  // 64-bit on PostgreSQL too

  auto bad = open_postgres_store("postgresql://fedmesh:hunter2@127.0.0.1:1/none?connect_timeout=2");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("cannot open PostgreSQL store postgresql://fedmesh:****@127.0.0.1:1/none"),
            std::string::npos)
      << bad.error().message();
  EXPECT_EQ(bad.error().message().find("hunter2"), std::string::npos);
}

TEST(PostgresBackend, AConnectionTheServerDropsIsReopened) {
  std::string url = postgres().create_database();
  auto s = open_postgres_store(url);
  ASSERT_TRUE(s);
  ASSERT_TRUE((*s)->meta().set("k", "1"));
  ASSERT_EQ(postgres().psql("postgres", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" +
                                            url.substr(url.rfind('/') + 1) + "'"),
            0);
  auto lost = (*s)->meta().get("k");  // this call may see the drop...
  if (!lost) {
    EXPECT_NE(lost.error().message().find("meta.get"), std::string::npos);
  }
  EXPECT_TRUE(testing::wait_until([&] { return static_cast<bool>((*s)->meta().get("k")); }, std::chrono::seconds(5)));
  EXPECT_EQ(**(*s)->meta().get("k"), "1");  // ...the next reconnects
}

}  // namespace
}  // namespace fedmesh
