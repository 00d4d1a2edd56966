// StateStore: per-package JSON values by key, what scripts reach through state.*. Every
// call is atomic on its own; incr and decr_if are atomic read-modify-writes. Thread-safe;
// calls block (scripts call them from the script pool).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace fedmesh {

struct DecrResult {
  bool applied = false;
  double value = 0;  // the value after the call (unchanged when not applied)
};

class StateStore {
 public:
  virtual ~StateStore() = default;
  virtual Result<std::optional<std::string>> get(std::string_view package, std::string_view key) = 0;
  virtual Status set(std::string_view package, std::string_view key, std::string_view json_value) = 0;
  virtual Status remove(std::string_view package, std::string_view key) = 0;
  // Keys starting with `prefix`, in byte order.
  virtual Result<std::vector<std::string>> keys(std::string_view package, std::string_view prefix) = 0;
  // Adds delta to a numeric value (missing counts as 0); returns the new value.
  virtual Result<double> incr(std::string_view package, std::string_view key, double delta) = 0;
  // Subtracts amount only if the result stays >= floor (missing counts as 0).
  virtual Result<DecrResult> decr_if(std::string_view package, std::string_view key, double amount, double floor) = 0;
};

}  // namespace fedmesh
