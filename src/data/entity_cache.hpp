// EntityCache: the entities read or written lately, least recently used evicted first,
// within a budget counted in deltas. Not thread-safe: DataService guards it.
#pragma once

#include <list>
#include <memory>
#include <string>
#include <unordered_map>

#include "data/entity.hpp"

namespace fedmesh::data {

class EntityCache {
 public:
  explicit EntityCache(std::size_t budget) : budget_(budget) {}
  // The entity's state, marked as just used; null when absent.
  std::shared_ptr<EntityState> find(const std::string& key);
  // Adds (or replaces) an entry and evicts what the budget cannot hold.
  void put(const std::string& key, std::shared_ptr<EntityState> state);
  // Recounts an entry whose state grew.
  void resized(const std::string& key);
  void erase(const std::string& key);
  std::size_t size() const { return map_.size(); }
  std::size_t deltas() const { return total_; }

 private:
  struct Slot {
    std::shared_ptr<EntityState> state;
    std::size_t counted = 0;
    std::list<std::string>::iterator lru;
  };
  void evict();
  std::size_t budget_;
  std::size_t total_ = 0;
  std::list<std::string> order_;  // most recent first
  std::unordered_map<std::string, Slot> map_;
};

}  // namespace fedmesh::data
