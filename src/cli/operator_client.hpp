// A small blocking client for a node's operator API over plain HTTP (loopback), used by
// CLI commands. One request per connection; bounded response size and time.
#pragma once

#include <chrono>
#include <string>

#include "core/error.hpp"

namespace fedmesh::cli {

struct OperatorResponse {
  int status = 0;
  std::string body;
};

// GET/POST url ("http://127.0.0.1:3026" + path). Sends FEDMESH_TOKEN as a bearer token when set.
Result<OperatorResponse> operator_request(const std::string& base_url, const std::string& method,
                                          const std::string& path, const std::string& body = "",
                                          std::chrono::milliseconds timeout = std::chrono::seconds(5));

}  // namespace fedmesh::cli
