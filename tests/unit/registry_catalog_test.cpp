// The catalog's query index: exact answers on small catalogs; on large ones the last
// index answers while the next builds in the background, then catches up; Kodo entries
// never replace fedmesh ones; status is live even when the index is not rebuilt.
#include <gtest/gtest.h>

#include <thread>

#include "core/time.hpp"
#include "registry/catalog.hpp"
#include "registry/kodo.hpp"
#include "store/open.hpp"
#include "support/harness.hpp"

namespace fedmesh::registry {
namespace {

using namespace std::chrono_literals;

std::vector<FlowSpec> flows(int n, const std::string& prefix) {
  std::vector<FlowSpec> out;
  for (int i = 0; i < n; ++i) out.push_back({prefix + "/s" + std::to_string(i), "", "d", "a", {"t"}, "1"});
  return out;
}

class CatalogIndex : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = open_sqlite_store(":memory:");
    ASSERT_TRUE(s);
    store_ = std::move(*s);
    catalog_ = std::make_unique<Catalog>(store_->catalog(), "reg", 300ms, 60s);
    ASSERT_TRUE(catalog_->load(false));
    catalog_->set_index_runner([this](std::function<void()> job) { jobs_.emplace_back(std::move(job)); });
  }
  void TearDown() override {
    for (auto& j : jobs_) j.join();
  }
  long long total() { return (*catalog_->query({"", "", 0, 1}, {}))["total"].get<long long>(); }
  std::unique_ptr<Store> store_;
  net::IoPool io_{1};  // the Kodo gateway's feeds would run here (not started: nothing is fed)
  std::unique_ptr<Catalog> catalog_;
  std::vector<std::thread> jobs_;
};

TEST_F(CatalogIndex, SmallCatalogsAnswerExactlyAfterEveryChange) {
  ASSERT_TRUE(catalog_->register_node("a", "https://a:1", "A", flows(10, "p")));
  EXPECT_EQ(total(), 10);
  ASSERT_TRUE(catalog_->register_node("b", "https://b:1", "B", flows(5, "q")));
  EXPECT_EQ(total(), 15);
  ASSERT_TRUE(catalog_->deregister("a"));
  EXPECT_EQ(total(), 5);
  EXPECT_EQ(catalog_->counts()["organization"]["B"], 5);
  EXPECT_TRUE(jobs_.empty());  // never built in the background
}

TEST_F(CatalogIndex, LargeCatalogsAnswerFromTheLastIndexWhileTheNextBuilds) {
  int big = static_cast<int>(IndexCache::kSyncRows) + 1000;
  ASSERT_TRUE(catalog_->register_node("big", "https://big:1", "Big", flows(big, "p")));
  EXPECT_EQ(total(), big);  // the first index is built on the spot
  ASSERT_TRUE(catalog_->register_node("small", "https://small:1", "Small", flows(1, "q")));
  EXPECT_EQ(total(), big);  // the last index answers at once, while the next one builds
  EXPECT_TRUE(testing::wait_until([&] { return total() == big + 1; }, 10s));
  EXPECT_LE(jobs_.size(), 2u);  // builds start at most once a second
}

TEST_F(CatalogIndex, HeartbeatsDoNotRebuildALargeIndexButShowLive) {
  int big = static_cast<int>(IndexCache::kSyncRows) + 10;
  ASSERT_TRUE(catalog_->register_node("big", "https://big:1", "Big", flows(big, "p")));
  auto first = *catalog_->query({"", "", 0, 1}, {});
  std::string before = first["items"][0]["heartbeat"];
  ASSERT_TRUE(testing::wait_until([&] { return now_iso8601() != before; }, 1s));
  ASSERT_TRUE(catalog_->heartbeat("big"));
  auto after = *catalog_->query({"", "", 0, 1}, {});
  EXPECT_NE(after["items"][0]["heartbeat"], before);  // the live heartbeat...
  EXPECT_TRUE(jobs_.empty());                         // ...without a rebuild
}

TEST_F(CatalogIndex, StatusIsLiveWithoutARebuild) {
  ASSERT_TRUE(catalog_->register_node("a", "https://a:1", "A", flows(1, "p")));
  auto status = [&] { return (*catalog_->query({"", "", 0, 1}, {}))["items"][0]["status"].get<std::string>(); };
  EXPECT_EQ(status(), "alive");
  EXPECT_TRUE(testing::wait_until([&] { return status() == "stale"; }, 5s));  // stale_after is 300 ms
}

TEST_F(CatalogIndex, KodoEntriesNeverReplaceFedmeshNodes) {
  ASSERT_TRUE(catalog_->register_node("kodo-h-1", "https://h:1", "A", flows(1, "p")));
  auto put = catalog_->put_kodo("kodo-h-1", "http://h:1", "K", {{"Free text", "/f", "d", "a", {}, ""}}, true);
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().code(), ErrorCode::conflict);
  auto first = catalog_->put_kodo("kodo-k-2", "http://k:2", "K", {{"Free text", "/f", "d", "a", {}, ""}}, false);
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->first);
  auto same = catalog_->put_kodo("kodo-k-2", "http://k:2", "K", {{"Free text", "/f", "d", "a", {}, ""}}, false);
  ASSERT_TRUE(same);
  EXPECT_FALSE(same->changed);  // an echo changes nothing
  EXPECT_EQ((*catalog_->node("kodo-k-2"))["status"], "unknown");
}

TEST_F(CatalogIndex, KodoRegistriesAreRememberedUnlessReset) {
  auto gateway = [&] {
    return std::make_unique<kodo::Gateway>(*catalog_, store_->meta(), io_, kodo::GatewayOptions{"http://me:1"});
  };
  auto first = gateway();
  ASSERT_TRUE(first->load(false));
  nlohmann::json offer = {{"url", "http://kodo:2"}, {"feed", true}, {"nodes", nlohmann::json::object()}};
  ASSERT_TRUE(first->connect(offer));
  auto again = gateway();
  ASSERT_TRUE(again->load(false));
  EXPECT_TRUE(again->dump()["providers"].contains("http://kodo:2"));
  auto reset = gateway();
  ASSERT_TRUE(reset->load(true));
  EXPECT_TRUE(reset->dump()["providers"].empty());
  auto after = gateway();
  ASSERT_TRUE(after->load(false));
  EXPECT_TRUE(after->dump()["providers"].empty());  // the reset was stored too
}

}  // namespace
}  // namespace fedmesh::registry

namespace fedmesh::registry {
namespace {

// Issue 20: a node's system services may be named like Fluence's (aqua-ipfs); a registry
// takes their skills as they are announced. Skill names still hold no '-'.
TEST(CatalogFlows, PackageNamesMayHoldADash) {
  auto flow = [](const std::string& name) { return nlohmann::json::array({{{"name", name}}}); };
  auto ok = decode_flows(flow("aqua-ipfs/get_local_api_multiaddr"));
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ((*ok)[0].name, "aqua-ipfs/get_local_api_multiaddr");
  for (const char* bad : {"aqua-ipfs/get-it", "-ipfs/get", "Aqua/get", "aqua-ipfs"}) {
    auto refused = decode_flows(flow(bad));
    ASSERT_FALSE(refused) << bad;
    EXPECT_EQ(refused.error().message(), "flows[0].name must be \"pkg/skill\"") << bad;
  }
}

}  // namespace
}  // namespace fedmesh::registry
