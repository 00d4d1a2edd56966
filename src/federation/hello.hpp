// The hello message peers exchange on POST /fed/v1/hello, and its pure decoder
// (outside bytes in, a checked message or an error out). Thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace fedmesh::federation {

struct Hello {
  std::string name;
  std::string organization;
  std::string advertise;  // https URL the sender is reached at
  std::string version;
  std::vector<std::string> roles;
  bool bidirectional = false;       // asks the receiver to add the sender as its peer
  std::vector<std::string> skills;  // "pkg/skill" the sender exports to peers

  nlohmann::json to_json() const;
};

// Validates every field (types, lengths, URL form); bad_json naming the field otherwise.
Result<Hello> decode_hello(std::string_view body);

}  // namespace fedmesh::federation
