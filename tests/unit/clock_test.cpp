// The injected clock and the hybrid logical clock: monotonic when wall time goes back,
// merging remote timestamps, refusing ones too far in the future.
#include <gtest/gtest.h>

#include <thread>

#include "core/clock.hpp"
#include "core/time.hpp"

namespace fedmesh {
namespace {

using namespace std::chrono_literals;

TEST(HybridClock, FollowsWallTimeAndNeverGoesBackwards) {
  FakeClock wall;
  HybridClock hlc(wall);
  auto t0 = to_micros(wall.now());
  EXPECT_EQ(hlc.next(), t0);
  EXPECT_EQ(hlc.next(), t0 + 1);  // same wall time: still strictly increasing
  wall.advance(1s);
  EXPECT_EQ(hlc.next(), t0 + 1'000'000);
  wall.advance(-10s);  // the wall clock jumps back
  auto after = hlc.next();
  EXPECT_EQ(after, t0 + 1'000'001);
  EXPECT_GT(hlc.next(), after);
}

TEST(HybridClock, AbsorbsRemoteTimestamps) {
  FakeClock wall;
  HybridClock hlc(wall);
  auto t0 = to_micros(wall.now());
  ASSERT_TRUE(hlc.observe(t0 + 5'000'000));  // a peer 5 s ahead
  EXPECT_EQ(hlc.last(), t0 + 5'000'000);
  EXPECT_EQ(hlc.next(), t0 + 5'000'001);
  ASSERT_TRUE(hlc.observe(t0 - 100));  // an older one changes nothing
  EXPECT_EQ(hlc.next(), t0 + 5'000'002);
}

TEST(HybridClock, RefusesTimestampsTooFarInTheFuture) {
  FakeClock wall;
  HybridClock hlc(wall, 1h);
  auto t0 = to_micros(wall.now());
  auto refused = hlc.observe(t0 + 2 * 3'600'000'000LL);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("3600 s in the future"), std::string::npos) << refused.error().message();
  EXPECT_EQ(hlc.next(), t0);                       // nothing was absorbed
  EXPECT_TRUE(hlc.observe(t0 + 3'600'000'000LL));  // exactly the bound is accepted
}

TEST(HybridClock, IsStrictlyIncreasingAcrossThreads) {
  HybridClock hlc(Clock::system());
  std::vector<std::vector<std::int64_t>> seen(4);
  std::vector<std::thread> threads;
  for (auto& s : seen)
    threads.emplace_back([&hlc, &s] {
      for (int i = 0; i < 10'000; ++i) s.push_back(hlc.next());
    });
  for (auto& t : threads) t.join();
  std::vector<std::int64_t> all;
  for (auto& s : seen) {
    EXPECT_TRUE(std::is_sorted(s.begin(), s.end()));
    all.insert(all.end(), s.begin(), s.end());
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end());  // no timestamp issued twice
}

TEST(Iso8601, TimesOutsideTheCalendarOrTheRangeAreRefusedNotOverflowed) {
  // Found by fuzz_mesh_sync: a heartbeat of "0026-01-01..." overflowed the nanosecond cast.
  EXPECT_FALSE(parse_iso8601("0026-01-01T00:00:00.000000Z"));
  EXPECT_FALSE(parse_iso8601("9999-01-01T00:00:00Z"));
  EXPECT_FALSE(parse_iso8601("2026-13-01T00:00:00Z"));
  EXPECT_FALSE(parse_iso8601("2026-01--1T00:00:00Z"));
  EXPECT_FALSE(parse_iso8601("2026-01-01T24:00:00Z"));
  auto t = parse_iso8601("2026-12-02T13:19:47.250000Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(iso8601(*t), "2026-12-02T13:19:47.250000Z");
}

}  // namespace
}  // namespace fedmesh
