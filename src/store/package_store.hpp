// PackageStore: installed packages, their source (manifest and files as JSON text) and
// content hash. Removing a package keeps its state (StateStore). Thread-safe; calls block.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace fedmesh {

struct PackageRecord {
  std::string name;
  std::string version;
  std::string hash;
  std::string source;
  std::string installed_at;
};

class PackageStore {
 public:
  virtual ~PackageStore() = default;
  virtual Status put(const PackageRecord& package) = 0;
  virtual Result<std::optional<PackageRecord>> get(std::string_view name) = 0;
  virtual Result<std::vector<PackageRecord>> list() = 0;  // by name
  virtual Status remove(std::string_view name) = 0;
};

}  // namespace fedmesh
