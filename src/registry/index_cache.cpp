#include "registry/index_cache.hpp"

namespace fedmesh::registry {

IndexCache::IndexCache(Source source) : source_(std::move(source)) {}

void IndexCache::set_runner(Runner runner) {
  std::lock_guard lock(mu_);
  runner_ = std::move(runner);
}

std::shared_ptr<const FlowIndex> IndexCache::build(std::uint64_t structure, std::uint64_t heartbeats) {
  {
    std::lock_guard lock(mu_);
    last_start_ = std::chrono::steady_clock::now();
  }
  // The generations were read before the source is copied: a later change makes it stale.
  auto index = std::make_shared<const FlowIndex>(source_());
  index->warm();
  std::lock_guard lock(mu_);
  if (!index_ || structure >= structure_) {
    index_ = index;
    structure_ = structure;
    heartbeats_ = heartbeats;
  }
  return index;
}

void IndexCache::prepare(std::uint64_t structure, std::uint64_t heartbeats) {
  Runner runner;
  {
    std::lock_guard lock(mu_);
    if (index_ || building_ || !runner_) return;
    building_ = true;
    runner = runner_;
  }
  runner([this, structure, heartbeats] {
    (void)build(structure, heartbeats);
    std::lock_guard lock(mu_);
    building_ = false;
    built_.notify_all();
  });
}

std::shared_ptr<const FlowIndex> IndexCache::get(std::uint64_t structure, std::uint64_t heartbeats) {
  std::shared_ptr<const FlowIndex> current;
  Runner runner;
  {
    std::unique_lock lock(mu_);
    built_.wait(lock, [this] { return index_ || !building_; });  // the first build, if under way
    current = index_;
    bool structure_current = index_ && structure_ == structure;
    bool heartbeats_current = heartbeats_ == heartbeats;
    bool background = index_ && runner_ && index_->size() > kSyncRows;
    auto now = std::chrono::steady_clock::now();
    // Heartbeats alone only move the heartbeat column (callers show the live one).
    if (structure_current &&
        (heartbeats_current || (background && (building_ || now - last_start_ < kHeartbeatRefresh))))
      return current;
    if (background) {
      if (building_ || now - last_start_ < std::chrono::seconds(1)) return current;
      building_ = true;
      last_start_ = now;
      runner = runner_;
    }
  }
  if (!runner) return build(structure, heartbeats);
  runner([this, structure, heartbeats] {
    (void)build(structure, heartbeats);
    std::lock_guard lock(mu_);
    building_ = false;
    built_.notify_all();
  });
  return current;
}

}  // namespace fedmesh::registry
