// PeerLink, the stream to one peer that the registry mesh and the Kodo feed share:
// batching, a bounded queue that asks for a catch-up when full, backoff after failures,
// lossless owners catching up, retrying owners giving up after their attempts, and
// coalescing by key. Backoff on its own: capped, doubling, jittered.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "federation/backoff.hpp"
#include "federation/peer_link.hpp"
#include "support/harness.hpp"

namespace fedmesh::federation {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::wait_until;

TEST(Backoff, DoublesUpToTheCapWithJitter) {
  Backoff b(100ms, 800ms, 0.2);
  std::vector<long long> seen;
  for (int i = 0; i < 6; ++i) seen.push_back(b.next().count());
  const long long base[] = {100, 200, 400, 800, 800, 800};
  for (int i = 0; i < 6; ++i) {
    EXPECT_GE(seen[i], base[i] * 8 / 10) << i;
    EXPECT_LE(seen[i], base[i] * 12 / 10) << i;
  }
  b.reset();
  EXPECT_EQ(b.upcoming(), 100ms);
}

// An io_context on its own thread for the link's coroutine.
struct Loop {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
  std::thread thread{[this] { io.run(); }};
  ~Loop() {
    guard.reset();
    io.stop();
    thread.join();
  }
};

struct Peer {
  std::mutex mu;
  std::vector<std::vector<int>> batches;
  std::atomic<bool> failing{false};
  std::atomic<int> catch_ups{0};
  std::atomic<int> catch_up_calls{0};
  std::atomic<int> sends{0};
  std::vector<int> received() {
    std::lock_guard lock(mu);
    std::vector<int> all;
    for (const auto& b : batches) all.insert(all.end(), b.begin(), b.end());
    return all;
  }
};

std::shared_ptr<PeerLink<int>> make_link(Loop& loop, Peer& peer, PeerLink<int>::Options options, bool lossless = true,
                                         std::chrono::milliseconds retry = 10ms) {
  options.retry_initial = retry;
  options.retry_max = retry * 4;
  PeerLink<int>::Handlers h;
  h.send = [&peer](std::vector<int> batch) -> asio::awaitable<Status> {
    ++peer.sends;
    if (peer.failing) co_return make_error(ErrorCode::peer_unavailable, "down");
    std::lock_guard lock(peer.mu);
    peer.batches.push_back(std::move(batch));
    co_return Status{};
  };
  if (lossless) {
    h.catch_up = [&peer]() -> asio::awaitable<Status> {
      ++peer.catch_up_calls;
      if (peer.failing) co_return make_error(ErrorCode::peer_unavailable, "down");
      ++peer.catch_ups;
      co_return Status{};
    };
  }
  auto link = std::make_shared<PeerLink<int>>("p", loop.io.get_executor(), std::move(options), std::move(h));
  link->start();
  return link;
}

TEST(PeerLink, SendsEverythingInBoundedBatches) {
  Loop loop;
  Peer peer;
  PeerLink<int>::Options o;
  o.batch = 4;
  auto link = make_link(loop, peer, o);
  for (int i = 0; i < 10; ++i) link->push(i);
  ASSERT_TRUE(wait_until([&] { return peer.received().size() == 10; }, 5s));
  EXPECT_EQ(peer.received(), (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  for (const auto& b : peer.batches) EXPECT_LE(b.size(), 4u);
  EXPECT_TRUE(wait_until([&] { return link->idle(); }, 5s));
  auto st = link->stats();
  EXPECT_TRUE(st.up);
  EXPECT_EQ(st.items_sent, 10u);
  link->stop();
}

TEST(PeerLink, AFullQueueDropsAndAsksForACatchUp) {
  Loop loop;
  Peer peer;
  peer.failing = true;  // nothing drains while we fill it
  PeerLink<int>::Options o;
  o.queue_limit = 3;
  auto link = make_link(loop, peer, o);
  // The first send fails and the lossless link clears its queue for a catch-up; fill
  // it past its bound meanwhile: the surplus is refused, never queued without limit.
  int refused = 0;
  for (int i = 0; i < 20; ++i) refused += link->push(i) ? 0 : 1;
  EXPECT_GT(refused, 0);
  EXPECT_LE(link->stats().queued, 3u);
  peer.failing = false;
  ASSERT_TRUE(wait_until([&] { return peer.catch_ups > 0 && link->idle(); }, 5s));
  EXPECT_FALSE(link->stats().needs_catch_up);
  link->stop();
}

TEST(PeerLink, ALosslessOwnerCatchesUpAfterAFailure) {
  Loop loop;
  Peer peer;
  PeerLink<int>::Options o;
  o.catch_up_first = true;
  auto link = make_link(loop, peer, o);
  ASSERT_TRUE(wait_until([&] { return peer.catch_ups == 1; }, 5s));  // first thing on start
  peer.failing = true;
  link->push(1);
  ASSERT_TRUE(wait_until([&] { return !link->stats().up && link->stats().needs_catch_up; }, 5s));
  EXPECT_NE(link->stats().last_error.find("down"), std::string::npos);
  peer.failing = false;  // it backs off, then catches up (which covers item 1)
  ASSERT_TRUE(wait_until([&] { return peer.catch_ups == 2 && link->stats().up; }, 5s));
  link->push(2);
  ASSERT_TRUE(wait_until([&] { return peer.received() == std::vector<int>{2}; }, 5s));
  link->stop();
}

TEST(PeerLink, NewItemsDoNotCutTheBackoffOfAFailingLinkShortButACatchUpRequestDoes) {
  Loop loop;
  Peer peer;
  peer.failing = true;
  auto link = make_link(loop, peer, {}, true, 60s);
  link->push(0);
  ASSERT_TRUE(wait_until([&] { return !link->stats().up && peer.sends + peer.catch_up_calls >= 1; }, 5s));
  int attempts = peer.sends + peer.catch_up_calls;
  // 200 items while it backs off: each used to wake the link into another attempt.
  for (int i = 1; i <= 200; ++i) link->push(i);
  std::this_thread::sleep_for(300ms);  // a claim that nothing happens needs a window
  EXPECT_EQ(peer.sends + peer.catch_up_calls, attempts);
  // The peer is back (its hello came in): a catch-up request ends the 60 s backoff.
  peer.failing = false;
  link->request_catch_up();
  ASSERT_TRUE(wait_until([&] { return link->stats().up && peer.catch_ups >= 1; }, 10s));
  link->stop();
}

TEST(PeerLink, ARetryingOwnerGivesUpAfterItsAttempts) {
  Loop loop;
  Peer peer;
  peer.failing = true;
  PeerLink<int>::Options o;
  o.attempts = 3;
  auto link = make_link(loop, peer, o, false);
  link->push(7);
  ASSERT_TRUE(wait_until([&] { return link->stats().dropped == 1; }, 5s));
  EXPECT_EQ(peer.sends, 3);
  EXPECT_TRUE(wait_until([&] { return link->idle(); }, 5s));
  peer.failing = false;
  link->push(8);
  ASSERT_TRUE(wait_until([&] { return peer.received() == std::vector<int>{8}; }, 5s));
  link->stop();
}

TEST(PeerLink, ItemsWithOneKeyCoalesceNewestWins) {
  Loop loop;
  Peer peer;
  peer.failing = true;  // hold everything in the queue
  PeerLink<int>::Options o;
  o.attempts = 100;
  o.key = [](const int& v) { return std::to_string(v % 10); };
  auto link = make_link(loop, peer, o, false);
  for (int v : {1, 2, 11, 21, 12}) link->push(v);
  ASSERT_TRUE(wait_until([&] { return peer.sends > 0; }, 5s));
  peer.failing = false;
  ASSERT_TRUE(wait_until([&] { return link->idle() && !peer.received().empty(); }, 5s));
  auto got = peer.received();
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<int>{12, 21}));  // one per key: the newest
  link->stop();
}

}  // namespace
}  // namespace fedmesh::federation
