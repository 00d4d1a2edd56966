// CatalogStore: a registry's catalog of nodes and their flows, tombstones included.
// Thread-safe; calls block (run them off the I/O threads).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace fedmesh {

// A node in a registry's catalog; `flows` is its flow list as JSON text.
struct CatalogNodeRecord {
  std::string name;
  std::string url;
  std::string organization;
  std::string created;
  std::string modified;
  std::string heartbeat;
  std::string flows;
  std::string origin;            // registry that accepted the registration
  std::int64_t version = 0;      // hybrid clock, microseconds
  bool deleted = false;          // tombstone
  std::string kind = "fedmesh";  // fedmesh | kodo (registered through the Kodo v1 routes)
};

class CatalogStore {
 public:
  virtual ~CatalogStore() = default;
  virtual Status put(const CatalogNodeRecord& node) = 0;
  virtual Status remove(std::string_view name) = 0;
  virtual Result<std::vector<CatalogNodeRecord>> load() = 0;  // by name, in byte order
  virtual Status clear() = 0;
};

}  // namespace fedmesh
