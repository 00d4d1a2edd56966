// MetaStore: small key/value facts about the node itself (first start, start count,
// name). Thread-safe; calls block (run them off the I/O threads).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace fedmesh {

class MetaStore {
 public:
  virtual ~MetaStore() = default;
  virtual Result<std::optional<std::string>> get(std::string_view key) = 0;
  virtual Status set(std::string_view key, std::string_view value) = 0;
};

}  // namespace fedmesh
