// PeerStore: the peers a node remembers across restarts (live state is not persisted).
// Thread-safe; calls block (run them off the I/O threads).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace fedmesh {

struct PeerRecord {
  std::string name;
  std::string url;
  std::string origin;  // "config" or "hello" (added by a bidirectional caller)
  std::string organization;
  std::string version;
  std::string roles;  // JSON array text
  std::string fingerprint;
  std::string created_at;
  std::string last_seen;
  bool operator==(const PeerRecord&) const = default;
};

class PeerStore {
 public:
  virtual ~PeerStore() = default;
  virtual Status upsert(const PeerRecord& peer) = 0;
  virtual Result<std::vector<PeerRecord>> list() = 0;  // by name
  virtual Status remove(std::string_view name) = 0;
};

}  // namespace fedmesh
