// IndexCache: the latest warmed FlowIndex of a changing source, and when to rebuild it.
// The source counts its changes in two generations: `structure` (anything the index
// holds) and `heartbeats` (only the heartbeat column). An index of up to kSyncRows rows
// is rebuilt on the first get() after a change, so answers are exact. A larger one keeps
// answering from the last index while the next builds through the runner: at most one
// build at a time, at most one start per second, and heartbeats alone at most every
// kHeartbeatRefresh. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "registry/flow_index.hpp"

namespace fedmesh::registry {

class IndexCache {
 public:
  static constexpr std::size_t kSyncRows = 10'000;
  static constexpr std::chrono::seconds kHeartbeatRefresh{30};

  using Source = std::function<std::vector<NodeFlows>()>;
  using Runner = std::function<void(std::function<void()>)>;
  explicit IndexCache(Source source);

  // Runs a build off the caller's thread; without one every build is synchronous.
  void set_runner(Runner runner);
  // The index to answer from now, given the source's current generations.
  std::shared_ptr<const FlowIndex> get(std::uint64_t structure, std::uint64_t heartbeats);
  // Builds the first index through the runner now (a registry does at start), so the
  // first query finds it ready; a query that comes first waits for that build.
  void prepare(std::uint64_t structure, std::uint64_t heartbeats);

 private:
  std::shared_ptr<const FlowIndex> build(std::uint64_t structure, std::uint64_t heartbeats);

  Source source_;
  std::mutex mu_;  // guards everything below
  Runner runner_;
  std::shared_ptr<const FlowIndex> index_;
  std::uint64_t structure_ = 0;
  std::uint64_t heartbeats_ = 0;
  std::chrono::steady_clock::time_point last_start_{};
  bool building_ = false;
  std::condition_variable built_;
};

}  // namespace fedmesh::registry
