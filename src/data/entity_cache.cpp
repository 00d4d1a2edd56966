#include "data/entity_cache.hpp"

namespace fedmesh::data {

std::shared_ptr<EntityState> EntityCache::find(const std::string& key) {
  auto it = map_.find(key);
  if (it == map_.end()) return nullptr;
  order_.splice(order_.begin(), order_, it->second.lru);
  return it->second.state;
}

void EntityCache::put(const std::string& key, std::shared_ptr<EntityState> state) {
  erase(key);
  order_.push_front(key);
  std::size_t n = state->size() + 1;
  map_[key] = Slot{std::move(state), n, order_.begin()};
  total_ += n;
  evict();
}

void EntityCache::resized(const std::string& key) {
  auto it = map_.find(key);
  if (it == map_.end()) return;
  total_ -= it->second.counted;
  it->second.counted = it->second.state->size() + 1;
  total_ += it->second.counted;
  evict();
}

void EntityCache::erase(const std::string& key) {
  auto it = map_.find(key);
  if (it == map_.end()) return;
  total_ -= it->second.counted;
  order_.erase(it->second.lru);
  map_.erase(it);
}

void EntityCache::evict() {
  // The most recent entry stays even when it alone is over budget.
  while (total_ > budget_ && map_.size() > 1) erase(order_.back());
}

}  // namespace fedmesh::data
