#include "core/error.hpp"

#include <algorithm>

namespace fedmesh {

const std::vector<ErrorCodeInfo>& error_catalogue() {
  static const std::vector<ErrorCodeInfo> catalogue = {
#define FEDMESH_X(name, number, status, text) {ErrorCode::name, #name, number, status, text},
      FEDMESH_ERROR_CODES(FEDMESH_X)
#undef FEDMESH_X
  };
  return catalogue;
}

const ErrorCodeInfo& info(ErrorCode code) {
  const auto& all = error_catalogue();
  auto it = std::find_if(all.begin(), all.end(), [&](const ErrorCodeInfo& i) { return i.code == code; });
  if (it == all.end()) return all.back();  // internal
  return *it;
}

std::string_view to_string(ErrorCode code) {
  return info(code).name;
}

std::optional<ErrorCode> error_code_from_string(std::string_view name) {
  for (const auto& i : error_catalogue()) {
    if (i.name == name) return i.code;
  }
  return std::nullopt;
}

std::string Error::context_value(std::string_view key) const {
  for (const auto& [k, v] : context_) {
    if (k == key) return v;
  }
  return {};
}

std::string Error::code_name() const {
  return code_name_.empty() ? std::string(fedmesh::to_string(code_)) : code_name_;
}

std::string Error::to_string() const {
  std::string out = code_name();
  out += ": ";
  out += message_;
  return out;
}

}  // namespace fedmesh
